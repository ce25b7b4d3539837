//! Typed views of the headers the core needs (RFC 3261 §20): [`Via`], [`NameAddr`] (From, To,
//! Contact, Route, Record-Route), [`CSeq`], plus readers for `Content-Length`, `Max-Forwards`
//! and `Expires`.
//!
//! Each type parses one header *value* (after [`super::message::split_commas`] for list
//! headers) and writes it back with [`fmt::Display`]. Parameters keep their order and the
//! spelling they arrived with; lookups ignore case.

use std::fmt;

use super::message::{Headers, Method};
use super::parse::ParseError;
use super::uri::{find_param, set_param, split_host_port, write_host, Uri};

/// A `;name[=value]` parameter list.
pub type Params = Vec<(String, Option<String>)>;

/// One `Via` value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=z9hG4bK...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport in upper case: `UDP`, `TCP`, `TLS`, `WS`, ...
    pub transport: String,
    /// The sent-by host (IPv6 without brackets).
    pub host: String,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// Parameters in order (`branch`, `received`, `rport`, ...).
    pub params: Params,
}

impl Via {
    /// A `SIP/2.0/{transport}` Via with a branch parameter.
    pub fn new(transport: &str, host: &str, port: Option<u16>, branch: &str) -> Via {
        Via {
            transport: transport.to_ascii_uppercase(),
            host: host.to_string(),
            port,
            params: vec![("branch".to_string(), Some(branch.to_string()))],
        }
    }

    /// Parses one Via value. Whitespace around the `/` separators (`SIP / 2.0 / UDP`), around
    /// the port colon and around parameters is accepted.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        let mut cur = Cursor::new(s);
        cur.skip_ws();
        let name = cur.token();
        cur.skip_ws();
        if !name.eq_ignore_ascii_case("SIP") || !cur.eat('/') {
            return Err(ParseError::BadVia);
        }
        cur.skip_ws();
        let version = cur.token();
        cur.skip_ws();
        if version != "2.0" || !cur.eat('/') {
            return Err(ParseError::BadVia);
        }
        cur.skip_ws();
        let transport = cur.token();
        if transport.is_empty() || !cur.skip_ws() {
            return Err(ParseError::BadVia);
        }
        let sent_by_end = cur.rest().find(';').unwrap_or(cur.rest().len());
        let sent_by: String = cur.rest()[..sent_by_end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let (host, port) = split_host_port(&sent_by).map_err(|_| ParseError::BadVia)?;
        let params = parse_params(&cur.rest()[sent_by_end..]).ok_or(ParseError::BadVia)?;
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// The parameter called `name` (case-insensitive); `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// The `received` parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }

    /// The `rport` parameter (RFC 3581): `None` when absent, `Some(None)` when present without
    /// a (valid) value, as a client sends it.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// Sets (or adds) a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        set_param(&mut self.params, name, value);
    }

    /// `host` or `host:port`, IPv6 in brackets.
    pub fn sent_by(&self) -> String {
        let mut out = String::with_capacity(self.host.len() + 6);
        write_host(&mut out, &self.host);
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(&p.to_string());
        }
        out
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by())?;
        write_params(f, &self.params)
    }
}

/// A name-addr or addr-spec with header parameters (RFC 3261 §20.10, §20.20, §20.39): the
/// value of From, To, Contact, Route and Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped (`"Bob"` becomes `Bob`).
    pub display: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address (`tag`, `expires`, `q`, ...).
    pub params: Params,
}

impl NameAddr {
    /// A name-addr with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// Parses `"Bob" <sip:b@x>;tag=1`, `Bob <sip:b@x>`, `<sip:b@x>` or the bare form
    /// `sip:b@x;tag=1`. In the bare form the parameters after the URI belong to the header,
    /// not the URI (RFC 3261 §20.10).
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let s = s.trim();
        let (display, rest) = if let Some(quoted) = s.strip_prefix('"') {
            let (display, rest) = unquote(quoted).ok_or(ParseError::BadNameAddr)?;
            let rest = rest.trim_start();
            if !rest.starts_with('<') {
                return Err(ParseError::BadNameAddr);
            }
            (Some(display), rest)
        } else if let Some(lt) = s.find('<') {
            let name = s[..lt].trim();
            if name
                .chars()
                .any(|c| matches!(c, '"' | '>' | ';' | ',') || c.is_control())
            {
                return Err(ParseError::BadNameAddr);
            }
            ((!name.is_empty()).then(|| name.to_string()), &s[lt..])
        } else {
            (None, s)
        };
        let (uri, after) = if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(ParseError::BadNameAddr)?;
            (&inner[..gt], &inner[gt + 1..])
        } else {
            let from = rest.find('@').unwrap_or(0);
            let end = rest[from..]
                .find([';', ' ', '\t'])
                .map_or(rest.len(), |i| from + i);
            (&rest[..end], &rest[end..])
        };
        let uri = Uri::parse(uri.trim()).map_err(|_| ParseError::BadNameAddr)?;
        let params = parse_params(after).ok_or(ParseError::BadNameAddr)?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// The parameter called `name` (case-insensitive); `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// Sets (or adds) a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        set_param(&mut self.params, name, value);
    }

    /// The `tag` parameter (dialog identification, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Sets the `tag` parameter, replacing any existing one.
    pub fn set_tag(&mut self, tag: &str) {
        self.set_param("tag", Some(tag.to_string()));
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(display) = &self.display {
            f.write_str("\"")?;
            for c in display.chars() {
                if matches!(c, '"' | '\\') {
                    f.write_str("\\")?;
                }
                // Line breaks would end the header line; they cannot be escaped.
                if c == '\r' || c == '\n' {
                    f.write_str(" ")?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// The `CSeq` header (RFC 3261 §20.16): sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number.
    pub seq: u32,
    /// Method of the request (and of its responses).
    pub method: Method,
}

impl CSeq {
    /// Parses `4711 INVITE`.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let mut parts = s.split_ascii_whitespace();
        let (Some(seq), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::BadCSeq);
        };
        if seq.len() > 10 || !seq.bytes().all(|b| b.is_ascii_digit()) || !is_token(method) {
            return Err(ParseError::BadCSeq);
        }
        let seq = seq.parse().map_err(|_| ParseError::BadCSeq)?;
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// The `Content-Length` value: `None` when absent. Several headers must agree.
pub fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for v in headers.get_all("Content-Length") {
        let n = parse_digits(v).ok_or(ParseError::BadContentLength)?;
        let n = usize::try_from(n).map_err(|_| ParseError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// The `Max-Forwards` value (RFC 3261 §20.22), `None` when absent.
pub fn max_forwards(headers: &Headers) -> Result<Option<u32>, ParseError> {
    number_header(headers, "Max-Forwards")
}

/// The `Expires` value in seconds (RFC 3261 §20.19), `None` when absent.
pub fn expires(headers: &Headers) -> Result<Option<u32>, ParseError> {
    number_header(headers, "Expires")
}

/// Every name-addr of a list header (`Contact`, `Route`, `Record-Route`), in order, across
/// all lines. A `Contact: *` is reported as an error here; check for it first.
pub fn name_addrs(headers: &Headers, name: &str) -> Result<Vec<NameAddr>, ParseError> {
    headers.values(name).map(NameAddr::parse).collect()
}

fn number_header(headers: &Headers, name: &'static str) -> Result<Option<u32>, ParseError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => parse_digits(v)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or(ParseError::InvalidHeader(name)),
    }
}

fn parse_digits(v: &str) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// Whether `s` is a non-empty RFC 3261 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Writes `;name[=value]` for each parameter.
fn write_params(f: &mut fmt::Formatter<'_>, params: &Params) -> fmt::Result {
    for (name, value) in params {
        match value {
            Some(v) => write!(f, ";{name}={v}")?,
            None => write!(f, ";{name}")?,
        }
    }
    Ok(())
}

/// Parses `;a=b ; c ;d="x y"` (whitespace allowed around `;` and `=`). Quoted values keep
/// their quotes so they are written back unchanged. `None` on a syntax error.
pub(crate) fn parse_params(s: &str) -> Option<Params> {
    let mut cur = Cursor::new(s);
    let mut params = Vec::new();
    loop {
        cur.skip_ws();
        if cur.rest().is_empty() {
            return Some(params);
        }
        if !cur.eat(';') {
            return None;
        }
        cur.skip_ws();
        let name = cur.token();
        if name.is_empty() {
            return None;
        }
        cur.skip_ws();
        let value = if cur.eat('=') {
            cur.skip_ws();
            let rest = cur.rest();
            let len = if let Some(quoted) = rest.strip_prefix('"') {
                let (_, after) = unquote(quoted)?;
                rest.len() - after.len()
            } else {
                rest.find(|c: char| c == ';' || c.is_ascii_whitespace() || c == ',' || c == '"')
                    .unwrap_or(rest.len())
            };
            if len == 0 {
                return None;
            }
            let v = cur.take(len);
            Some(v.to_string())
        } else {
            None
        };
        params.push((name.to_string(), value));
    }
}

/// Reads a quoted string whose opening quote has been consumed: returns the unescaped content
/// and the text after the closing quote.
pub(crate) fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// A tiny forward-only reader over a header value.
struct Cursor<'a> {
    s: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s }
    }

    fn rest(&self) -> &'a str {
        self.s
    }

    /// Skips whitespace; reports whether any was skipped.
    fn skip_ws(&mut self) -> bool {
        let before = self.s.len();
        self.s = self.s.trim_start_matches([' ', '\t', '\r', '\n']);
        self.s.len() != before
    }

    fn eat(&mut self, c: char) -> bool {
        match self.s.strip_prefix(c) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    fn token(&mut self) -> &'a str {
        let len = self.s.bytes().take_while(|b| is_token_byte(*b)).count();
        self.take(len)
    }

    /// Takes `len` bytes; `len` is always on a char boundary (ASCII scan or a found index).
    fn take(&mut self, len: usize) -> &'a str {
        let (head, tail) = self.s.split_at(len.min(self.s.len()));
        self.s = tail;
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_parses_branch_received_and_rport() {
        let v = Via::parse(
            "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhds;rport;received=198.51.100.7",
        )
        .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.4");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(v.received(), Some("198.51.100.7"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhds;rport;received=198.51.100.7"
        );
    }

    #[test]
    fn via_accepts_whitespace_around_separators() {
        let v =
            Via::parse("SIP / 2.0 / tcp  pc33.atlanta.com : 5066 ; branch = z9hG4bKx ;rport=1234")
                .unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!((v.host.as_str(), v.port), ("pc33.atlanta.com", Some(5066)));
        assert_eq!(v.branch(), Some("z9hG4bKx"));
        assert_eq!(v.rport(), Some(Some(1234)));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP pc33.atlanta.com:5066;branch=z9hG4bKx;rport=1234"
        );
    }

    #[test]
    fn via_with_ipv6_sent_by() {
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3;received=2001:db8::9:255",
        )
        .unwrap();
        assert_eq!(v.host, "2001:db8::9:1");
        assert_eq!(v.received(), Some("2001:db8::9:255"));
        assert_eq!(v.sent_by(), "[2001:db8::9:1]:5060");
    }

    #[test]
    fn via_set_param_adds_received_and_fills_rport() {
        let mut v = Via::parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport").unwrap();
        v.set_param("received", Some("203.0.113.9".into()));
        v.set_param("rport", Some("40000".into()));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=40000;received=203.0.113.9"
        );
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn via_rejects_garbage() {
        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP ",
            "SIP/3.0/UDP host",
            "HTTP/2.0/UDP host",
            "SIP/2.0 UDP host",
            "SIP/2.0/UDPhost",
            "SIP/2.0/UDP host;",
            "SIP/2.0/UDP host;branch=",
            "SIP/2.0/UDP host:port",
            "SIP/2.0/UDP [::1;branch=x",
        ] {
            assert!(Via::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn name_addr_with_quoted_display_name_and_tag() {
        let n = NameAddr::parse(r#""Bob \"B\" Smith" <sip:bob@biloxi.com>;tag=a6c85cf"#).unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"Bob "B" Smith"#));
        assert_eq!(n.uri.to_string(), "sip:bob@biloxi.com");
        assert_eq!(n.tag(), Some("a6c85cf"));
        assert_eq!(
            n.to_string(),
            r#""Bob \"B\" Smith" <sip:bob@biloxi.com>;tag=a6c85cf"#
        );
    }

    #[test]
    fn name_addr_with_token_display_name() {
        let n = NameAddr::parse("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8").unwrap();
        assert_eq!(n.display.as_deref(), Some("Anonymous"));
        assert_eq!(n.tag(), Some("hyh8"));
    }

    #[test]
    fn bare_addr_spec_params_belong_to_the_header() {
        let n = NameAddr::parse("sip:+12125551212@server.phone2net.com;tag=887s").unwrap();
        assert_eq!(n.display, None);
        assert_eq!(n.uri.to_string(), "sip:+12125551212@server.phone2net.com");
        assert!(n.uri.params.is_empty());
        assert_eq!(n.tag(), Some("887s"));
        assert_eq!(
            n.to_string(),
            "<sip:+12125551212@server.phone2net.com>;tag=887s"
        );
    }

    #[test]
    fn bracketed_uri_params_stay_in_the_uri() {
        let n = NameAddr::parse("<sip:p1.example.com;lr>").unwrap();
        assert_eq!(n.uri.param("lr"), Some(None));
        assert!(n.params.is_empty());
        let n = NameAddr::parse("<sip:alice@pc33.atlanta.com;transport=tcp>;expires=3600;q=0.7")
            .unwrap();
        assert_eq!(n.uri.param("transport"), Some(Some("tcp")));
        assert_eq!(n.param("expires"), Some(Some("3600")));
    }

    #[test]
    fn set_tag_replaces_existing_tag() {
        let mut n = NameAddr::parse("<sip:a@b>").unwrap();
        assert_eq!(n.tag(), None);
        n.set_tag("1");
        n.set_tag("2");
        assert_eq!(n.to_string(), "<sip:a@b>;tag=2");
    }

    #[test]
    fn display_name_line_breaks_cannot_inject_headers() {
        let mut n = NameAddr::new(Uri::sip(Some("a"), "b", None));
        n.display = Some("x\r\nVia: evil".into());
        assert_eq!(n.to_string(), "\"x  Via: evil\" <sip:a@b>");
    }

    #[test]
    fn name_addr_rejects_garbage() {
        for bad in [
            "",
            "\"unterminated <sip:a@b>",
            "\"x\" sip:a@b",
            "<sip:a@b",
            "<>",
            "<sip:a@b>;",
            "a\"b <sip:a@b>",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn cseq_parses_and_displays() {
        let c = CSeq::parse("  314159   INVITE ").unwrap();
        assert_eq!(
            c,
            CSeq {
                seq: 314159,
                method: Method::Invite
            }
        );
        assert_eq!(c.to_string(), "314159 INVITE");
        for bad in [
            "",
            "1",
            "INVITE",
            "x INVITE",
            "1 INVITE extra",
            "99999999999 BYE",
            "1 IN<V",
        ] {
            assert!(CSeq::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn content_length_must_be_digits_and_agree() {
        let mut h = Headers::new();
        assert_eq!(content_length(&h), Ok(None));
        h.push("l", " 12 ");
        assert_eq!(content_length(&h), Ok(Some(12)));
        h.push("Content-Length", "12");
        assert_eq!(content_length(&h), Ok(Some(12)));
        h.push("Content-Length", "13");
        assert_eq!(content_length(&h), Err(ParseError::BadContentLength));
        let mut h = Headers::new();
        h.push("Content-Length", "-1");
        assert_eq!(content_length(&h), Err(ParseError::BadContentLength));
    }

    #[test]
    fn max_forwards_and_expires() {
        let mut h = Headers::new();
        h.push("Max-Forwards", "70");
        h.push("Expires", "x");
        assert_eq!(max_forwards(&h), Ok(Some(70)));
        assert_eq!(expires(&h), Err(ParseError::InvalidHeader("Expires")));
    }

    #[test]
    fn record_route_list_across_lines() {
        let mut h = Headers::new();
        h.push(
            "Record-Route",
            "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
        );
        h.push("Record-Route", "<sip:p0.example.com;lr>");
        let hosts: Vec<_> = name_addrs(&h, "Record-Route")
            .unwrap()
            .into_iter()
            .map(|n| n.uri.host)
            .collect();
        assert_eq!(
            hosts,
            ["p2.example.com", "p1.example.com", "p0.example.com"]
        );
    }
}
