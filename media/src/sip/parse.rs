//! Parsing SIP messages from bytes (RFC 3261 §7, §18.3).
//!
//! [`parse_message`] reads one message from a datagram (or from one frame cut by
//! [`super::framing::frame`]). [`parse_datagram`] wraps it for a UDP receive path: when a
//! request is malformed but still names its transaction (Via, From, To, Call-ID, CSeq), it hands
//! back a ready-to-send `400` whose reason phrase says what is wrong; when the bytes are garbage,
//! a response, or an ACK, it hands back no reply and the datagram should be dropped silently.
//!
//! Tolerated on input: leading CRLFs (keepalives, RFC 5626 §4.4.1), LF-only line endings,
//! header line folding, compact header names, any header-name case, extra whitespace in the
//! request line, and bytes after the body (discarded, RFC 3261 §18.3).
//!
//! ```
//! use ivr_media::sip::parse::{parse_datagram, Parsed};
//! let bad = b"INVITE sip:bob@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
//!     From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
//!     Call-ID: a1\r\nCSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\nv=0\r\n";
//! match parse_datagram(bad) {
//!     Parsed::Malformed { reply: Some(resp), .. } => {
//!         assert_eq!(resp.status, 400);
//!         assert_eq!(resp.reason, "Body shorter than Content-Length");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use bytes::Bytes;

use super::headers::{content_length, is_token, max_forwards, CSeq, NameAddr, Via};
use super::message::{Headers, Message, Method, Request, Response};
use super::uri::Uri;

/// Largest accepted start line plus headers, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest accepted body, in bytes.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why bytes are not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The header section has not ended yet (no empty line): more bytes are needed on a
    /// stream; on a datagram the message was cut short.
    #[error("incomplete message: the header section has no end")]
    Incomplete,
    /// The input holds nothing but CRLF keepalives.
    #[error("no message, only keepalive line breaks")]
    Empty,
    /// The first line is neither `METHOD uri SIP/2.0` nor `SIP/2.0 code reason`.
    #[error("bad request or status line")]
    BadStartLine,
    /// A header line has no colon, a bad name, control characters, or is a continuation line
    /// with nothing to continue. `line` counts from 1 for the start line.
    #[error("bad header on line {line}")]
    BadHeader {
        /// Line number within the message (the start line is line 1).
        line: usize,
    },
    /// A header RFC 3261 §8.1.1 requires is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header is present but its value does not parse.
    #[error("malformed {0} header")]
    InvalidHeader(&'static str),
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// `Content-Length` is not a number, or several disagree.
    #[error("bad Content-Length")]
    BadContentLength,
    /// `Content-Length` promises more bytes than arrived.
    #[error("body shorter than Content-Length")]
    BodyTruncated,
    /// The start line or a header is not UTF-8.
    #[error("message is not UTF-8")]
    NotUtf8,
    /// The header section or the body exceeds [`MAX_HEAD`] / [`MAX_BODY`].
    #[error("message too large")]
    TooLarge,
    /// A URI does not parse.
    #[error("bad URI")]
    BadUri,
    /// A Via value does not parse.
    #[error("bad Via")]
    BadVia,
    /// A CSeq value does not parse.
    #[error("bad CSeq")]
    BadCSeq,
    /// A From/To/Contact/Route value does not parse.
    #[error("bad name-addr")]
    BadNameAddr,
    /// A stream message has no `Content-Length` (RFC 3261 §18.3 requires it over TCP).
    #[error("missing Content-Length on a stream")]
    MissingContentLength,
}

impl ParseError {
    /// A short phrase for the reason of a `400` answering this error, e.g.
    /// `Missing Call-ID header`. Never contains line breaks.
    pub fn status_reason(&self) -> String {
        match self {
            ParseError::Incomplete => "Incomplete Message".into(),
            ParseError::Empty => "Empty Message".into(),
            ParseError::BadStartLine => "Malformed Request Line".into(),
            ParseError::BadHeader { line } => format!("Malformed Header Line {line}"),
            ParseError::MissingHeader(name) => format!("Missing {name} header"),
            ParseError::InvalidHeader(name) => format!("Malformed {name} header"),
            ParseError::CSeqMismatch => "CSeq Method Mismatch".into(),
            ParseError::BadContentLength => "Malformed Content-Length".into(),
            ParseError::BodyTruncated => "Body shorter than Content-Length".into(),
            ParseError::NotUtf8 => "Invalid UTF-8".into(),
            ParseError::TooLarge => "Message Too Large".into(),
            ParseError::BadUri => "Malformed Request-URI".into(),
            ParseError::BadVia => "Malformed Via header".into(),
            ParseError::BadCSeq => "Malformed CSeq header".into(),
            ParseError::BadNameAddr => "Malformed Address header".into(),
            ParseError::MissingContentLength => "Missing Content-Length header".into(),
        }
    }
}

/// The outcome of [`parse_datagram`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A well-formed request or response.
    Ok(Message),
    /// The bytes are not a usable message.
    Malformed {
        /// A `400 Bad Request` to send back to the top Via (with `received`/`rport` handling
        /// left to the transport), or `None` when the input must be dropped silently: garbage,
        /// keepalives, responses, ACKs, heads over [`MAX_HEAD`], or requests whose top Via is
        /// missing or does not parse (the reply could not be routed).
        reply: Option<Response>,
        /// What is wrong.
        error: ParseError,
    },
}

/// Parses one message from a datagram.
///
/// The body is `Content-Length` bytes (extra bytes are discarded) or, without
/// `Content-Length`, the rest of the datagram. Requests and responses must carry Via, From,
/// To, Call-ID and CSeq; the top Via, From, To, CSeq and Max-Forwards must parse, and a
/// request's CSeq method must equal its method.
pub fn parse_message(data: &[u8]) -> Result<Message, ParseError> {
    let head = parse_head(data);
    let start = head.start?;
    if let Some(e) = head.error {
        return Err(e);
    }
    let body_start = head.body_start.ok_or(ParseError::Incomplete)?;
    let headers = head.headers;
    check_headers(&headers, start.method())?;
    let available = data.get(body_start..).unwrap_or_default();
    let body = match content_length(&headers)? {
        Some(n) if n > MAX_BODY => return Err(ParseError::TooLarge),
        Some(n) => available.get(..n).ok_or(ParseError::BodyTruncated)?,
        None if available.len() > MAX_BODY => return Err(ParseError::TooLarge),
        None => available,
    };
    let body = Bytes::copy_from_slice(body);
    Ok(match start {
        StartLine::Request { method, uri } => Message::Request(Request {
            method,
            uri: uri?,
            headers,
            body,
        }),
        StartLine::Response { status, reason } => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    })
}

/// Parses a datagram and, for a malformed request that still identifies its transaction,
/// builds the `400` to answer it with. See [`Parsed`].
///
/// A reply is built only when the request line parses, the method is not ACK, and the top
/// Via, From, To, Call-ID and CSeq all parse, so the reply is itself well formed and the
/// client can match it to its transaction. A missing To tag is added (derived from Call-ID and
/// branch, so retransmissions get the same one).
pub fn parse_datagram(data: &[u8]) -> Parsed {
    match parse_message(data) {
        Ok(m) => Parsed::Ok(m),
        Err(error) => Parsed::Malformed {
            reply: bad_request_reply(data, &error),
            error,
        },
    }
}

/// Builds the `400` for a malformed request, or `None` when it must not be answered.
fn bad_request_reply(data: &[u8], error: &ParseError) -> Option<Response> {
    let head = parse_head(data);
    let Ok(StartLine::Request { method, .. }) = head.start else {
        return None;
    };
    if method == Method::Ack {
        return None;
    }
    let h = &head.headers;
    // The top Via routes the reply (RFC 3261 §18.2.2); its branch and the CSeq method let the
    // client match it (§17.1.3). RFC 4475 §3.1.2.18 asks for a 400 even when a mandatory header
    // is missing, so From/To/Call-ID/CSeq are echoed as the client sent them, whatever state
    // they are in (encoding strips line breaks, so nothing can be injected).
    let top_via = h.values("Via").next()?;
    let branch = Via::parse(top_via)
        .ok()?
        .branch()
        .unwrap_or_default()
        .to_string();
    let cseq = h.get("CSeq");
    if cseq
        .and_then(|c| CSeq::parse(c).ok())
        .is_some_and(|c| c.method == Method::Ack)
    {
        return None;
    }
    let call_id = h.get("Call-ID");
    let from = h.get("From");
    let mut resp = Response {
        status: 400,
        reason: error.status_reason(),
        headers: Headers::new(),
        body: Bytes::new(),
    };
    for via in h.get_all("Via") {
        resp.headers.push("Via", via);
    }
    if let Some(from) = from {
        resp.headers.push("From", from);
    }
    if let Some(to) = h.get("To") {
        match NameAddr::parse(to) {
            Ok(mut to_addr) if to_addr.tag().is_none() => {
                to_addr.set_tag(&reply_tag(call_id.unwrap_or_default(), &branch));
                resp.headers.push("To", to_addr.to_string());
            }
            _ => resp.headers.push("To", to),
        }
    }
    if let Some(call_id) = call_id {
        resp.headers.push("Call-ID", call_id);
    }
    if let Some(cseq) = cseq {
        resp.headers.push("CSeq", cseq);
    }
    Some(resp)
}

/// A To tag for a stateless 400, stable for retransmissions of the same request (FNV-1a of
/// Call-ID and branch).
fn reply_tag(call_id: &str, branch: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in call_id.bytes().chain([0]).chain(branch.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Checks the mandatory headers (RFC 3261 §8.1.1) and the ones the core relies on.
fn check_headers(headers: &Headers, method: Option<&Method>) -> Result<(), ParseError> {
    let top_via = headers
        .values("Via")
        .next()
        .ok_or(ParseError::MissingHeader("Via"))?;
    Via::parse(top_via).map_err(|_| ParseError::InvalidHeader("Via"))?;
    for name in ["From", "To"] {
        let v = headers.get(name).ok_or(ParseError::MissingHeader(name))?;
        NameAddr::parse(v).map_err(|_| ParseError::InvalidHeader(name))?;
    }
    match headers.get("Call-ID") {
        None => return Err(ParseError::MissingHeader("Call-ID")),
        Some(v) if !valid_call_id(v) => return Err(ParseError::InvalidHeader("Call-ID")),
        Some(_) => {}
    }
    let cseq = headers
        .get("CSeq")
        .ok_or(ParseError::MissingHeader("CSeq"))?;
    let cseq = CSeq::parse(cseq).map_err(|_| ParseError::InvalidHeader("CSeq"))?;
    if method.is_some_and(|m| *m != cseq.method) {
        return Err(ParseError::CSeqMismatch);
    }
    max_forwards(headers)?;
    Ok(())
}

/// A Call-ID is one non-empty word (RFC 3261 §25.1 `word ["@" word]`, loosely).
fn valid_call_id(v: &str) -> bool {
    !v.is_empty() && !v.contains(|c: char| c.is_ascii_whitespace())
}

/// The first line of a message.
#[derive(Debug)]
pub(crate) enum StartLine {
    /// `METHOD uri SIP/2.0`; the URI error is kept so a 400 can still be built.
    Request {
        method: Method,
        uri: Result<Uri, ParseError>,
    },
    /// `SIP/2.0 code reason`.
    Response { status: u16, reason: String },
}

impl StartLine {
    fn method(&self) -> Option<&Method> {
        match self {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }
}

/// The start line and headers of a message, parsed leniently: bad header lines are skipped and
/// the first problem is remembered, so that a reply can still be built.
#[derive(Debug)]
pub(crate) struct Head {
    /// The start line.
    pub start: Result<StartLine, ParseError>,
    /// The header lines that parsed.
    pub headers: Headers,
    /// The first problem in the header section.
    pub error: Option<ParseError>,
    /// Offset of the body (just after the empty line), `None` if the head never ended.
    pub body_start: Option<usize>,
}

/// Skips the CR and LF bytes a keepalive consists of; returns how many there were.
pub(crate) fn leading_line_breaks(data: &[u8]) -> usize {
    data.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

pub(crate) fn parse_head(data: &[u8]) -> Head {
    let mut head = Head {
        start: Err(ParseError::Incomplete),
        headers: Headers::new(),
        error: None,
        body_start: None,
    };
    let skip = leading_line_breaks(data);
    if skip == data.len() {
        head.start = Err(ParseError::Empty);
        return head;
    }
    let mut pos = skip;
    let mut line_no = 0usize;
    // Header lines collected before folding is resolved: (name, value).
    let mut lines: Vec<(&str, String)> = Vec::new();
    loop {
        let rest = data.get(pos..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            // No line end: the head never finished (an unterminated last line is dropped).
            let e = if pos - skip + rest.len() > MAX_HEAD {
                ParseError::TooLarge
            } else {
                ParseError::Incomplete
            };
            note(&mut head, e);
            break;
        };
        let raw = &rest[..nl];
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        pos += nl + 1;
        line_no += 1;
        if pos - skip > MAX_HEAD {
            note(&mut head, ParseError::TooLarge);
            break;
        }
        if raw.is_empty() {
            head.body_start = Some(pos);
            break;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            if line_no == 1 {
                head.start = Err(ParseError::NotUtf8);
            }
            note(&mut head, ParseError::NotUtf8);
            continue;
        };
        if line_no == 1 {
            head.start = parse_start_line(line);
            continue;
        }
        if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            note(&mut head, ParseError::BadHeader { line: line_no });
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match lines.last_mut() {
                Some((_, value)) => {
                    let more = line.trim();
                    if !more.is_empty() {
                        if !value.is_empty() {
                            value.push(' ');
                        }
                        value.push_str(more);
                    }
                }
                None => note(&mut head, ParseError::BadHeader { line: line_no }),
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if is_token(name.trim_end_matches([' ', '\t'])) => {
                lines.push((name.trim_end_matches([' ', '\t']), value.trim().to_string()));
            }
            _ => note(&mut head, ParseError::BadHeader { line: line_no }),
        }
    }
    for (name, value) in lines {
        head.headers.push(name, value);
    }
    head
}

/// Remembers the first problem of the header section.
fn note(head: &mut Head, e: ParseError) {
    head.error.get_or_insert(e);
}

pub(crate) fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(ParseError::BadStartLine);
    }
    if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        let (version, rest) = line.split_once(' ').ok_or(ParseError::BadStartLine)?;
        let rest = rest.trim_start_matches(' ');
        let code = rest.get(..3).ok_or(ParseError::BadStartLine)?;
        let after = &rest[3..];
        if !version.eq_ignore_ascii_case("SIP/2.0")
            || !code.bytes().all(|b| b.is_ascii_digit())
            || !(after.is_empty() || after.starts_with(' '))
        {
            return Err(ParseError::BadStartLine);
        }
        let status: u16 = code.parse().map_err(|_| ParseError::BadStartLine)?;
        if !(100..=699).contains(&status) {
            return Err(ParseError::BadStartLine);
        }
        return Ok(StartLine::Response {
            status,
            reason: after.trim().to_string(),
        });
    }
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadStartLine);
    };
    if !is_token(method) || !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(ParseError::BadStartLine);
    }
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri: Uri::parse(uri),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: Bob <sip:bob@biloxi.com>\r\n\
        From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
        CSeq: 314159 INVITE\r\n\
        Contact: <sip:alice@pc33.atlanta.com>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\
        \r\n\
        v=0\n";

    fn request(data: &[u8]) -> Request {
        match parse_message(data) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn malformed(data: &[u8]) -> (Option<Response>, ParseError) {
        match parse_datagram(data) {
            Parsed::Malformed { reply, error } => (reply, error),
            Parsed::Ok(m) => panic!("parsed {m:?}"),
        }
    }

    #[test]
    fn parses_rfc3261_invite() {
        let r = request(INVITE.as_bytes());
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri.to_string(), "sip:bob@biloxi.com");
        assert_eq!(
            r.headers.get("call-id"),
            Some("a84b4c76e66710@pc33.atlanta.com")
        );
        assert_eq!(r.headers.len(), 9);
        assert_eq!(&r.body[..], b"v=0\n");
    }

    #[test]
    fn bytes_after_content_length_are_discarded() {
        let mut data = INVITE.as_bytes().to_vec();
        data.extend_from_slice(b"trailing junk");
        assert_eq!(&request(&data).body[..], b"v=0\n");
    }

    #[test]
    fn without_content_length_the_body_is_the_rest_of_the_datagram() {
        let data = INVITE.replace("Content-Length: 4\r\n", "") + "o=x\r\n";
        assert_eq!(&request(data.as_bytes()).body[..], b"v=0\no=x\r\n");
    }

    #[test]
    fn leading_keepalives_and_lf_only_line_endings_are_tolerated() {
        let data = format!("\r\n\r\n{}", INVITE.replace("\r\n", "\n"));
        let r = request(data.as_bytes());
        assert_eq!(r.headers.get("CSeq"), Some("314159 INVITE"));
        assert_eq!(&r.body[..], b"v=0\n");
    }

    #[test]
    fn folded_header_lines_are_joined() {
        let data = INVITE.replace(
            "Max-Forwards: 70\r\n",
            "Subject: I know you're there,\r\n   pick up the phone\r\n\t and talk to me!\r\nMax-Forwards: 70\r\n",
        );
        let r = request(data.as_bytes());
        assert_eq!(
            r.headers.get("Subject"),
            Some("I know you're there, pick up the phone and talk to me!")
        );
    }

    #[test]
    fn status_line_with_and_without_reason() {
        let resp = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
            To: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        match parse_message(resp.as_bytes()) {
            Ok(Message::Response(r)) => assert_eq!((r.status, r.reason.as_str()), (180, "Ringing")),
            other => panic!("{other:?}"),
        }
        let bare = resp.replace("180 Ringing", "183");
        match parse_message(bare.as_bytes()) {
            Ok(Message::Response(r)) => assert_eq!((r.status, r.reason.as_str()), (183, "")),
            other => panic!("{other:?}"),
        }
        for bad in [
            "SIP/2.0 200 O\x00K",
            "SIP/2.0 99 x",
            "SIP/2.0 700 x",
            "SIP/2.0 2000 x",
            "SIP/3.0 200 OK",
            "SIP/2.0  OK",
        ] {
            let data = resp.replace("SIP/2.0 180 Ringing", bad);
            assert_eq!(
                parse_message(data.as_bytes()),
                Err(ParseError::BadStartLine),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_mandatory_header_gets_a_400_naming_it() {
        for name in ["From", "To", "Call-ID", "CSeq"] {
            let data: String = INVITE
                .split_inclusive("\r\n")
                .filter(|l| !l.starts_with(&format!("{name}:")))
                .collect();
            let (reply, error) = malformed(data.as_bytes());
            assert_eq!(error, ParseError::MissingHeader(name));
            // RFC 4475 §3.1.2.18: answer 400, copying what the request did carry.
            let reply = reply.unwrap_or_else(|| panic!("no 400 without {name}"));
            assert_eq!(reply.status, 400);
            assert!(reply.headers.get(name).is_none(), "{name}");
            assert!(reply.headers.get("Via").is_some());
        }
        let data: String = INVITE
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("Via:"))
            .collect();
        assert_eq!(
            malformed(data.as_bytes()),
            (None, ParseError::MissingHeader("Via"))
        );
    }

    #[test]
    fn malformed_but_identifiable_request_gets_a_400_with_headers_copied() {
        let data = INVITE.replace("Max-Forwards: 70", "Max-Forwards: lots");
        let (reply, error) = malformed(data.as_bytes());
        assert_eq!(error, ParseError::InvalidHeader("Max-Forwards"));
        let reply = reply.unwrap();
        assert_eq!(reply.status, 400);
        assert_eq!(reply.reason, "Malformed Max-Forwards header");
        assert_eq!(
            reply.headers.get("Via"),
            Some("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds")
        );
        assert_eq!(
            reply.headers.get("Call-ID"),
            Some("a84b4c76e66710@pc33.atlanta.com")
        );
        assert_eq!(reply.headers.get("CSeq"), Some("314159 INVITE"));
        let to = NameAddr::parse(reply.headers.get("To").unwrap()).unwrap();
        assert!(to.tag().is_some());
        // A retransmission is answered with the same tag.
        assert_eq!(malformed(data.as_bytes()).0.unwrap(), reply);
    }

    #[test]
    fn cseq_method_must_match_request_method() {
        let data = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
        let (reply, error) = malformed(data.as_bytes());
        assert_eq!(error, ParseError::CSeqMismatch);
        assert!(reply.is_some());
    }

    #[test]
    fn bad_request_uri_still_gets_a_400() {
        let data = INVITE.replace("INVITE sip:bob@biloxi.com", "INVITE http://biloxi.com");
        let (reply, error) = malformed(data.as_bytes());
        assert_eq!(error, ParseError::BadUri);
        assert_eq!(reply.unwrap().reason, "Malformed Request-URI");
    }

    #[test]
    fn malformed_ack_and_responses_are_never_answered() {
        let ack = INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("314159 INVITE", "314159 ACK");
        let ack = ack.replace("Content-Length: 4", "Content-Length: 400");
        assert_eq!(malformed(ack.as_bytes()), (None, ParseError::BodyTruncated));
        let resp = INVITE.replace("INVITE sip:bob@biloxi.com SIP/2.0", "SIP/2.0 200 OK");
        let resp = resp.replace("Content-Length: 4", "Content-Length: x");
        assert_eq!(
            malformed(resp.as_bytes()),
            (None, ParseError::BadContentLength)
        );
    }

    #[test]
    fn body_shorter_than_content_length_is_an_error() {
        let data = INVITE.replace("Content-Length: 4", "Content-Length: 5");
        assert_eq!(
            parse_message(data.as_bytes()),
            Err(ParseError::BodyTruncated)
        );
    }

    #[test]
    fn garbage_is_dropped_silently() {
        for data in [
            &b""[..],
            b"\r\n\r\n",
            b"hello",
            b"\x00\x01\x02\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
        ] {
            let (reply, _) = malformed(data);
            assert!(reply.is_none());
        }
        assert_eq!(malformed(b"\r\n\r\n").1, ParseError::Empty);
    }

    #[test]
    fn header_errors_are_reported_with_line_numbers() {
        let data = INVITE.replace("Max-Forwards: 70", "Max-Forwards 70");
        assert_eq!(
            parse_message(data.as_bytes()),
            Err(ParseError::BadHeader { line: 3 })
        );
        let data = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 7\x000");
        assert_eq!(
            parse_message(data.as_bytes()),
            Err(ParseError::BadHeader { line: 3 })
        );
        let data = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 7\u{1}");
        assert_eq!(
            parse_message(data.as_bytes()),
            Err(ParseError::BadHeader { line: 3 })
        );
    }

    #[test]
    fn non_utf8_header_is_an_error() {
        let mut data = INVITE.as_bytes().to_vec();
        let at = INVITE.find("Alice").unwrap();
        data[at] = 0xff;
        assert_eq!(parse_message(&data), Err(ParseError::NotUtf8));
    }

    #[test]
    fn head_without_empty_line_is_incomplete() {
        let data = &INVITE[..INVITE.find("\r\n\r\n").unwrap() + 2];
        let (reply, error) = malformed(data.as_bytes());
        assert_eq!(error, ParseError::Incomplete);
        assert_eq!(reply.unwrap().reason, "Incomplete Message");
    }

    #[test]
    fn oversized_head_is_rejected() {
        let big = format!("X-Big: {}\r\n", "a".repeat(MAX_HEAD));
        let data = INVITE.replace("Max-Forwards: 70\r\n", &big);
        assert_eq!(parse_message(data.as_bytes()), Err(ParseError::TooLarge));
    }
}
