//! SIP messages (RFC 3261 §7): requests, responses and their header list.
//!
//! Header names are stored in their canonical long form (`v` becomes `Via`), so lookups are
//! case-insensitive and compact forms are transparent. Values are kept as text exactly as they
//! arrived (trimmed); typed views (`Via`, `NameAddr`, `CSeq`, ...) live in [`super::headers`].

use std::fmt;

use bytes::Bytes;

use super::uri::Uri;

/// A SIP request method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// Starts a session.
    Invite,
    /// Confirms a final response to INVITE.
    Ack,
    /// Ends a session.
    Bye,
    /// Cancels a pending INVITE.
    Cancel,
    /// Capability query, used by trunks as a keepalive.
    Options,
    /// Mid-dialog information (DTMF relay).
    Info,
    /// Binds a contact to an address of record.
    Register,
    /// Provisional response acknowledgement (RFC 3262).
    Prack,
    /// Session update without a new INVITE (RFC 3311).
    Update,
    /// Transfer request (RFC 3515).
    Refer,
    /// Event notification (RFC 6665).
    Notify,
    /// Event subscription (RFC 6665).
    Subscribe,
    /// Instant message (RFC 3428).
    Message,
    /// Any other token.
    Other(String),
}

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Other(s) => s,
        }
    }

    /// Parses a method token (case-sensitive, as RFC 3261 requires).
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            other => Method::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header name in canonical form.
///
/// Well-known names (and their compact forms, RFC 3261 §7.3.3) are normalised to the usual
/// capitalisation; unknown names keep the spelling they arrived with and compare
/// case-insensitively.
#[derive(Debug, Clone)]
pub struct HeaderName(String);

impl HeaderName {
    /// Canonicalises `name`: compact forms are expanded, known names get their usual spelling.
    pub fn new(name: &str) -> HeaderName {
        HeaderName(canonical_name(name).map_or_else(|| name.to_string(), str::to_string))
    }

    /// The canonical spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for HeaderName {}

impl PartialEq<str> for HeaderName {
    fn eq(&self, other: &str) -> bool {
        match canonical_name(other) {
            Some(c) => self.0.eq_ignore_ascii_case(c),
            None => self.0.eq_ignore_ascii_case(other),
        }
    }
}

const KNOWN: &[(&str, Option<&str>)] = &[
    ("Accept", None),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Alert-Info", None),
    ("Allow", None),
    ("Allow-Events", Some("u")),
    ("Authorization", None),
    ("Call-ID", Some("i")),
    ("Contact", Some("m")),
    ("Content-Disposition", None),
    ("Content-Encoding", Some("e")),
    ("Content-Length", Some("l")),
    ("Content-Type", Some("c")),
    ("CSeq", None),
    ("Date", None),
    ("Event", Some("o")),
    ("Expires", None),
    ("From", Some("f")),
    ("Max-Forwards", None),
    ("Min-Expires", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Proxy-Require", None),
    ("Reason", None),
    ("Record-Route", None),
    ("Refer-To", Some("r")),
    ("Referred-By", Some("b")),
    ("Require", None),
    ("Retry-After", None),
    ("Route", None),
    ("Server", None),
    ("Session-Expires", Some("x")),
    ("Subject", Some("s")),
    ("Supported", Some("k")),
    ("Timestamp", None),
    ("To", Some("t")),
    ("Unsupported", None),
    ("User-Agent", None),
    ("Via", Some("v")),
    ("Warning", None),
    ("WWW-Authenticate", None),
];

/// The canonical spelling of a known header name or compact form, `None` for unknown names.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    KNOWN.iter().find_map(|(long, short)| {
        if long.eq_ignore_ascii_case(name) || short.is_some_and(|s| s.eq_ignore_ascii_case(name)) {
            Some(*long)
        } else {
            None
        }
    })
}

/// One header line. Multi-value headers (`Via: a, b`) may arrive as one line or several; use
/// [`Headers::values`] to see each comma-separated value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Canonical name.
    pub name: HeaderName,
    /// Value, trimmed, with line folding removed.
    pub value: String,
}

/// The ordered header list of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// The value of the first header called `name` (any case, compact forms accepted).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name == *name)
            .map(|h| h.value.as_str())
    }

    /// Every header line called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name == *name)
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated value of the headers called `name`, in order, respecting quoted
    /// strings and `<...>` so that `"Doe, John" <sip:j@x>` stays one value.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name).flat_map(split_commas)
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: HeaderName::new(name),
            value: value.into(),
        });
    }

    /// Replaces every header called `name` with one line carrying `value` (kept at the position
    /// of the first one, or appended).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|h| h.name == *name) {
            Some(i) => {
                self.0[i].value = value;
                let mut j = i + 1;
                while j < self.0.len() {
                    if self.0[j].name == *name {
                        self.0.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => self.push(name, value),
        }
    }

    /// Removes every header called `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| h.name != *name);
    }

    /// Inserts a header line before all others (used for a proxy's `Via`).
    pub fn prepend(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(
            0,
            Header {
                name: HeaderName::new(name),
                value: value.into(),
            },
        );
    }

    /// All header lines in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Splits a header value at top-level commas (outside quotes and angle brackets), trimming each
/// piece and skipping empty ones.
pub fn split_commas(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut angle, mut escaped) = (0usize, false, false, false);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// Header lines.
    pub headers: Headers,
    /// Body bytes (length given by `Content-Length`).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100 to 699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header lines.
    pub headers: Headers,
    /// Body bytes.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Header lines of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}

/// The usual reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_is_case_insensitive_and_understands_compact_forms() {
        let mut h = Headers::new();
        h.push("v", "SIP/2.0/UDP a;branch=z9hG4bK1");
        h.push("call-id", "abc");
        h.push("X-Custom", "1");
        assert_eq!(h.get("Via"), Some("SIP/2.0/UDP a;branch=z9hG4bK1"));
        assert_eq!(h.get("VIA"), Some("SIP/2.0/UDP a;branch=z9hG4bK1"));
        assert_eq!(h.get("i"), Some("abc"));
        assert_eq!(h.get("Call-ID"), Some("abc"));
        assert_eq!(h.get("x-custom"), Some("1"));
        assert_eq!(h.iter().next().unwrap().name.as_str(), "Via");
    }

    #[test]
    fn comma_split_respects_quotes_and_angle_brackets() {
        let v: Vec<_> = split_commas(r#""Doe, John" <sip:j@x;a=b,c>;tag=1, <sip:k@y>"#).collect();
        assert_eq!(v, vec![r#""Doe, John" <sip:j@x;a=b,c>;tag=1"#, "<sip:k@y>"]);
    }

    #[test]
    fn set_replaces_all_and_keeps_position() {
        let mut h = Headers::new();
        h.push("A", "1");
        h.push("Via", "x");
        h.push("X-B", "2");
        h.push("v", "y");
        h.set("via", "z");
        let names: Vec<_> = h
            .iter()
            .map(|h| (h.name.as_str().to_string(), h.value.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("A".into(), "1".into()),
                ("Via".into(), "z".into()),
                ("X-B".into(), "2".into())
            ]
        );
    }
}
