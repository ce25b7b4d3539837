//! SIP messages (RFC 3261 §7): requests, responses and their header list.
//!
//! Header names are stored in their canonical long form (`v` becomes `Via`), so lookups are
//! case-insensitive and compact forms are transparent. Values are kept as text exactly as they
//! arrived (trimmed); typed views (`Via`, `NameAddr`, `CSeq`, ...) live in [`super::headers`].

use std::fmt;

use bytes::Bytes;

use super::headers::{CSeq, NameAddr, Via};
use super::parse::ParseError;
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

impl Message {
    /// Serialises the message; see [`Request::encode_into`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the serialised message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.encode_into(out),
            Message::Response(r) => r.encode_into(out),
        }
    }

    /// The Call-ID, if present.
    pub fn call_id(&self) -> Option<&str> {
        self.headers().get("Call-ID")
    }

    /// The parsed CSeq.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        cseq(self.headers())
    }

    /// The parsed top (first) Via.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        top_via(self.headers())
    }

    /// The parsed From.
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        name_addr(self.headers(), "From")
    }

    /// The parsed To.
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        name_addr(self.headers(), "To")
    }
}

impl Request {
    /// A request with the given method and URI, no headers and an empty body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Serialises the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the serialised request to `out`: the request line, the header lines in order
    /// (long names), a `Content-Length` equal to the body length (written in place of the first
    /// existing one, or last; others are dropped), an empty line and the body. Line breaks in
    /// header values are replaced by spaces so a value can never start a new header.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put(out, self.method.as_str());
        out.push(b' ');
        put(out, &self.uri.to_string());
        out.extend_from_slice(b" SIP/2.0\r\n");
        encode_rest(&self.headers, &self.body, out);
    }

    /// The Call-ID, if present.
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get("Call-ID")
    }

    /// The parsed CSeq.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        cseq(&self.headers)
    }

    /// The parsed top (first) Via.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        top_via(&self.headers)
    }

    /// The parsed From.
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        name_addr(&self.headers, "From")
    }

    /// The parsed To.
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        name_addr(&self.headers, "To")
    }

    /// A response to this request built per RFC 3261 §8.2.6: every Via (in order), From, To,
    /// Call-ID and CSeq copied, the usual reason phrase for `status`, an empty body. No To tag
    /// is added and no Record-Route is copied; the caller does both where a dialog needs them.
    pub fn response(&self, status: u16) -> Response {
        let mut headers = Headers::new();
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for v in self.headers.get_all(name) {
                headers.push(name, v);
            }
        }
        Response {
            status,
            reason: reason_phrase(status).to_string(),
            headers,
            body: Bytes::new(),
        }
    }
}

impl Response {
    /// Serialises the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the serialised response to `out`; see [`Request::encode_into`].
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"SIP/2.0 ");
        put(out, &self.status.to_string());
        out.push(b' ');
        put_value(out, &self.reason);
        out.extend_from_slice(b"\r\n");
        encode_rest(&self.headers, &self.body, out);
    }

    /// The Call-ID, if present.
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get("Call-ID")
    }

    /// The parsed CSeq.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        cseq(&self.headers)
    }

    /// The parsed top (first) Via.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        top_via(&self.headers)
    }

    /// The parsed From.
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        name_addr(&self.headers, "From")
    }

    /// The parsed To.
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        name_addr(&self.headers, "To")
    }
}

fn cseq(headers: &Headers) -> Result<CSeq, ParseError> {
    CSeq::parse(
        headers
            .get("CSeq")
            .ok_or(ParseError::MissingHeader("CSeq"))?,
    )
}

fn top_via(headers: &Headers) -> Result<Via, ParseError> {
    Via::parse(
        headers
            .values("Via")
            .next()
            .ok_or(ParseError::MissingHeader("Via"))?,
    )
}

fn name_addr(headers: &Headers, name: &'static str) -> Result<NameAddr, ParseError> {
    NameAddr::parse(headers.get(name).ok_or(ParseError::MissingHeader(name))?)
}

fn put(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// Writes a header value or reason phrase with CR and LF replaced by spaces.
fn put_value(out: &mut Vec<u8>, s: &str) {
    let start = out.len();
    put(out, s);
    for b in &mut out[start..] {
        if matches!(*b, b'\r' | b'\n') {
            *b = b' ';
        }
    }
}

/// Header lines, the computed Content-Length, the empty line and the body.
fn encode_rest(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    let mut wrote_length = false;
    for h in headers.iter() {
        if h.name == *"Content-Length" {
            if !wrote_length {
                write_content_length(out, body.len());
                wrote_length = true;
            }
            continue;
        }
        put(out, h.name.as_str());
        out.extend_from_slice(b": ");
        put_value(out, &h.value);
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        write_content_length(out, body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn write_content_length(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(b"Content-Length: ");
    put(out, &len.to_string());
    out.extend_from_slice(b"\r\n");
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

    fn invite() -> Request {
        let mut r = Request::new(Method::Invite, Uri::parse("sip:bob@biloxi.com").unwrap());
        r.headers.push(
            "Via",
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
        );
        r.headers.push(
            "Via",
            "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2",
        );
        r.headers.push("Max-Forwards", "70");
        r.headers.push("To", "Bob <sip:bob@biloxi.com>");
        r.headers
            .push("f", "Alice <sip:alice@atlanta.com>;tag=1928301774");
        r.headers.push("Call-ID", "a84b4c76e66710@pc33.atlanta.com");
        r.headers.push("CSeq", "314159 INVITE");
        r.headers.push("Content-Length", "999");
        r.headers.push("Content-Type", "application/sdp");
        r.body = Bytes::from_static(b"v=0\r\n");
        r
    }

    #[test]
    fn encode_writes_long_names_and_the_real_content_length_in_place() {
        let text = String::from_utf8(invite().encode()).unwrap();
        assert_eq!(
            text,
            "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
             Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n\
             Max-Forwards: 70\r\n\
             To: Bob <sip:bob@biloxi.com>\r\n\
             From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
             Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
             CSeq: 314159 INVITE\r\n\
             Content-Length: 5\r\n\
             Content-Type: application/sdp\r\n\
             \r\n\
             v=0\r\n"
        );
    }

    #[test]
    fn encode_appends_content_length_when_absent_and_neutralises_line_breaks() {
        let mut r = Response::new_for_test();
        r.headers.push("Subject", "a\r\nVia: injected");
        r.reason = "OK\r\nX: y".into();
        let text = String::from_utf8(r.encode()).unwrap();
        assert_eq!(
            text,
            "SIP/2.0 200 OK  X: y\r\nSubject: a  Via: injected\r\nContent-Length: 0\r\n\r\n"
        );
    }

    impl Response {
        fn new_for_test() -> Response {
            Response {
                status: 200,
                reason: "OK".into(),
                headers: Headers::new(),
                body: Bytes::new(),
            }
        }
    }

    #[test]
    fn response_copies_via_from_to_call_id_cseq_and_nothing_else() {
        let req = invite();
        let resp = req.response(486);
        assert_eq!((resp.status, resp.reason.as_str()), (486, "Busy Here"));
        let names: Vec<_> = resp.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Via", "Via", "From", "To", "Call-ID", "CSeq"]);
        assert_eq!(resp.headers.values("Via").count(), 3);
        assert!(resp.body.is_empty());
        assert_eq!(resp.to().unwrap().tag(), None);
        assert_eq!(resp.cseq().unwrap(), req.cseq().unwrap());
        assert_eq!(resp.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(resp.from().unwrap().tag(), Some("1928301774"));
        assert_eq!(resp.call_id(), Some("a84b4c76e66710@pc33.atlanta.com"));
    }

    #[test]
    fn encoded_request_parses_back_equal() {
        let req = invite();
        let parsed = super::super::parse::parse_message(&req.encode()).unwrap();
        let Message::Request(back) = parsed else {
            panic!("not a request")
        };
        assert_eq!(back.method, req.method);
        assert_eq!(back.uri, req.uri);
        assert_eq!(back.body, req.body);
        assert_eq!(back.headers.get("Content-Length"), Some("5"));
        assert_eq!(back.headers.get("From"), req.headers.get("From"));
    }
}
