//! The SDP session description (RFC 4566): model, parser and writer.
//!
//! The parser is lenient where real equipment is sloppy (blank lines, bare `\n`, unknown line
//! types, attributes it does not know, non-RTP formats) and strict where a wrong guess would
//! send media to the wrong place (`o=`, `c=`, `m=`). It never panics; errors name the line.
//! `Display` writes CRLF-terminated lines in the RFC's order.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Errors from [`SessionDescription::parse`]. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// A line that is not `<letter>=<value>`.
    #[error("line {line}: not an SDP `x=value` line")]
    BadLine {
        /// The line number.
        line: usize,
    },
    /// `v=` other than 0.
    #[error("line {line}: unsupported SDP version")]
    BadVersion {
        /// The line number.
        line: usize,
    },
    /// A malformed `o=` line.
    #[error("line {line}: malformed origin (o=)")]
    BadOrigin {
        /// The line number.
        line: usize,
    },
    /// A malformed `c=` line, or an address that is not an IP literal.
    #[error("line {line}: malformed connection (c=); expected `IN IP4|IP6 <address>`")]
    BadConnection {
        /// The line number.
        line: usize,
    },
    /// A malformed `m=` line.
    #[error("line {line}: malformed media (m=)")]
    BadMedia {
        /// The line number.
        line: usize,
    },
    /// No `o=` line.
    #[error("missing origin (o=) line")]
    MissingOrigin,
}

/// Media direction (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Send and receive (the default).
    #[default]
    SendRecv,
    /// Send only (the peer puts us on hold).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The direction an answer takes to this offered direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction named by an attribute, if it is one.
    pub fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// True if this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True if this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` if none).
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version; incremented on every change.
    pub session_version: u64,
    /// Address type (`IP4` or `IP6`).
    pub address_type: String,
    /// Address of the originator (an IP literal or a host name).
    pub address: String,
}

/// A `c=` line: `IN IP4|IP6 <address>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The address (0.0.0.0 means hold, RFC 2543 style).
    pub addr: IpAddr,
}

impl Connection {
    fn parse(value: &str) -> Option<Connection> {
        let mut parts = value.split_ascii_whitespace();
        let (Some("IN"), Some(kind), Some(addr), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        // Multicast addresses may carry `/ttl[/count]`.
        let addr = IpAddr::from_str(addr.split('/').next().unwrap_or(addr)).ok()?;
        match (kind, addr) {
            ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Some(Connection { addr }),
            _ => None,
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IN {} {}", addr_type(self.addr), self.addr)
    }
}

/// `IP4` or `IP6`.
pub fn addr_type(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// An `a=rtpmap` value: `<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written (compare case-insensitively).
    pub encoding: &'a str,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channels, if given.
    pub channels: Option<u16>,
}

impl<'a> RtpMap<'a> {
    /// Parses an rtpmap attribute value.
    pub fn parse(value: &'a str) -> Option<RtpMap<'a>> {
        let (pt, rest) = value.trim().split_once(' ')?;
        let mut parts = rest.trim().split('/');
        let encoding = parts.next()?;
        let clock_rate = parts.next()?.trim().parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.trim().parse().ok()?),
            None => None,
        };
        Some(RtpMap {
            payload_type: pt.parse().ok()?,
            encoding,
            clock_rate,
            channels,
        })
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: `audio`, `video`, `image`, ...
    pub kind: String,
    /// Transport port; 0 rejects or disables the stream.
    pub port: u16,
    /// The `/<count>` after the port, if any.
    pub port_count: Option<u16>,
    /// Transport protocol: `RTP/AVP`, `RTP/SAVP`, `udptl`, ...
    pub protocol: String,
    /// RTP payload types, in preference order.
    pub formats: Vec<u8>,
    /// Formats that are not payload type numbers (`t38`, `*`), written after `formats`.
    pub other_formats: Vec<String>,
    /// Media title (`i=`).
    pub info: Option<String>,
    /// Media-level connection, overriding the session's.
    pub connection: Option<Connection>,
    /// Bandwidth lines (`b=`), values as written.
    pub bandwidths: Vec<String>,
    /// Attributes in order: `(name, value)`.
    pub attributes: Vec<(String, Option<String>)>,
}

impl MediaDescription {
    /// A media section with no attributes.
    pub fn new(kind: &str, port: u16, protocol: &str, formats: Vec<u8>) -> Self {
        MediaDescription {
            kind: kind.to_owned(),
            port,
            port_count: None,
            protocol: protocol.to_owned(),
            formats,
            other_formats: Vec::new(),
            info: None,
            connection: None,
            bandwidths: Vec::new(),
            attributes: Vec::new(),
        }
    }

    fn parse(value: &str) -> Option<MediaDescription> {
        let mut parts = value.split_ascii_whitespace();
        let kind = parts.next()?;
        let port_spec = parts.next()?;
        let protocol = parts.next()?;
        let (port, port_count) = match port_spec.split_once('/') {
            Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
            None => (port_spec.parse().ok()?, None),
        };
        let mut media = MediaDescription::new(kind, port, protocol, Vec::new());
        media.port_count = port_count;
        for token in parts {
            match token.parse::<u8>() {
                Ok(pt) if pt < 128 => media.formats.push(pt),
                _ => media.other_formats.push(token.to_owned()),
            }
        }
        Some(media)
    }

    /// Adds an attribute.
    pub fn push_attribute(&mut self, name: &str, value: Option<String>) {
        self.attributes.push((name.to_owned(), value));
    }

    /// The value of the first attribute called `name`: `None` if absent, `Some(None)` for a
    /// flag.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        find_attribute(&self.attributes, name)
    }

    /// True if an attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The `a=rtpmap` for payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap<'_>> {
        self.values("rtpmap")
            .filter_map(RtpMap::parse)
            .find(|m| m.payload_type == pt)
    }

    /// The `a=fmtp` parameters for payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.values("fmtp").find_map(|v| {
            let (p, params) = v.trim().split_once(' ')?;
            (p.parse() == Ok(pt)).then(|| params.trim())
        })
    }

    /// The `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")?.and_then(|v| v.trim().parse().ok())
    }

    /// The direction attribute at media level, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The `a=rtcp` port and optional address (RFC 3605).
    pub fn rtcp(&self) -> Option<(u16, Option<IpAddr>)> {
        let value = self.attribute("rtcp")??;
        let (port, rest) = match value.trim().split_once(' ') {
            Some((p, rest)) => (p, Some(rest)),
            None => (value.trim(), None),
        };
        let port = port.parse().ok()?;
        Some((port, rest.and_then(Connection::parse).map(|c| c.addr)))
    }

    /// True if `a=rtcp-mux` is present (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |(n, _)| n == name)
            .filter_map(|(_, v)| v.as_deref())
    }
}

fn find_attribute<'a>(
    attrs: &'a [(String, Option<String>)],
    name: &str,
) -> Option<Option<&'a str>> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_deref())
}

fn direction_of(attrs: &[(String, Option<String>)]) -> Option<Direction> {
    attrs.iter().find_map(|(n, _)| Direction::from_attribute(n))
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The `o=` line.
    pub origin: Origin,
    /// The `s=` line (`-` if none).
    pub session_name: String,
    /// Session information (`i=`).
    pub info: Option<String>,
    /// Session-level connection, the default for every media section.
    pub connection: Option<Connection>,
    /// Bandwidth lines (`b=`), values as written.
    pub bandwidths: Vec<String>,
    /// Timing lines (`t=`), values as written; `0 0` for a permanent session.
    pub timing: Vec<String>,
    /// Session-level attributes in order: `(name, value)`.
    pub attributes: Vec<(String, Option<String>)>,
    /// The media sections in order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses an SDP body.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut origin = None;
        let mut sdp = SessionDescription {
            origin: Origin {
                username: String::new(),
                session_id: 0,
                session_version: 0,
                address_type: String::new(),
                address: String::new(),
            },
            session_name: "-".to_owned(),
            info: None,
            connection: None,
            bandwidths: Vec::new(),
            timing: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
        };
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            let (kind, value) = match raw.as_bytes() {
                [k, b'=', ..] if k.is_ascii_alphabetic() => (*k, &raw[2..]),
                _ => return Err(SdpError::BadLine { line }),
            };
            let value = value.trim();
            let media = sdp.media.last_mut();
            match (kind, media) {
                (b'v', _) if value != "0" => return Err(SdpError::BadVersion { line }),
                (b'o', _) => {
                    origin = Some(parse_origin(value).ok_or(SdpError::BadOrigin { line })?)
                }
                (b's', _) => sdp.session_name = value.to_owned(),
                (b't', _) => sdp.timing.push(value.to_owned()),
                (b'm', _) => sdp
                    .media
                    .push(MediaDescription::parse(value).ok_or(SdpError::BadMedia { line })?),
                (b'c', media) => {
                    let c = Connection::parse(value).ok_or(SdpError::BadConnection { line })?;
                    match media {
                        Some(m) => m.connection = Some(c),
                        None => sdp.connection = Some(c),
                    }
                }
                (b'i', Some(m)) => m.info = Some(value.to_owned()),
                (b'i', None) => sdp.info = Some(value.to_owned()),
                (b'b', Some(m)) => m.bandwidths.push(value.to_owned()),
                (b'b', None) => sdp.bandwidths.push(value.to_owned()),
                (b'a', media) => {
                    let attr = match value.split_once(':') {
                        Some((n, v)) => (n.trim().to_owned(), Some(v.trim().to_owned())),
                        None => (value.to_owned(), None),
                    };
                    match media {
                        Some(m) => m.attributes.push(attr),
                        None => sdp.attributes.push(attr),
                    }
                }
                // u=, e=, p=, z=, k=, r= and unknown types carry nothing the engine uses.
                _ => {}
            }
        }
        sdp.origin = origin.ok_or(SdpError::MissingOrigin)?;
        if sdp.timing.is_empty() {
            sdp.timing.push("0 0".to_owned());
        }
        Ok(sdp)
    }

    /// The value of the first session-level attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        find_attribute(&self.attributes, name)
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The effective direction of `media`: its own attribute, else the session's, else
    /// sendrecv.
    pub fn media_direction(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| self.direction())
            .unwrap_or_default()
    }

    /// The effective connection of `media`: its own, else the session's.
    pub fn media_connection(&self, media: &MediaDescription) -> Option<Connection> {
        media.connection.or(self.connection)
    }
}

fn parse_origin(value: &str) -> Option<Origin> {
    let mut parts = value.split_ascii_whitespace();
    let username = parts.next()?.to_owned();
    let session_id = parts.next()?.parse().ok()?;
    let session_version = parts.next()?.parse().ok()?;
    let (Some("IN"), Some(address_type), Some(address), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(Origin {
        username,
        session_id,
        session_version,
        address_type: address_type.to_owned(),
        address: address.to_owned(),
    })
}

fn write_attributes(f: &mut fmt::Formatter<'_>, attrs: &[(String, Option<String>)]) -> fmt::Result {
    for (name, value) in attrs {
        match value {
            Some(v) => write!(f, "a={name}:{v}\r\n")?,
            None => write!(f, "a={name}\r\n")?,
        }
    }
    Ok(())
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} {}\r\n",
            o.username, o.session_id, o.session_version, o.address_type, o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(i) = &self.info {
            write!(f, "i={i}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        for t in &self.timing {
            write!(f, "t={t}\r\n")?;
        }
        if self.timing.is_empty() {
            write!(f, "t=0 0\r\n")?;
        }
        write_attributes(f, &self.attributes)?;
        for m in &self.media {
            write!(f, "m={} {}", m.kind, m.port)?;
            if let Some(n) = m.port_count {
                write!(f, "/{n}")?;
            }
            write!(f, " {}", m.protocol)?;
            for pt in &m.formats {
                write!(f, " {pt}")?;
            }
            for other in &m.other_formats {
                write!(f, " {other}")?;
            }
            write!(f, "\r\n")?;
            if let Some(i) = &m.info {
                write!(f, "i={i}\r\n")?;
            }
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            for b in &m.bandwidths {
                write!(f, "b={b}\r\n")?;
            }
            write_attributes(f, &m.attributes)?;
        }
        Ok(())
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;
    fn from_str(s: &str) -> Result<Self, SdpError> {
        SessionDescription::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const BARESIP: &str = "v=0\r\no=- 1876283937 3123412498 IN IP4 192.168.1.10\r\ns=-\r\n\
        c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 10062 RTP/AVP 96 97 9 0 8 101\r\n\
        b=AS:64\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\n\
        a=rtpmap:97 L16/16000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
        a=rtcp-mux\r\na=sendrecv\r\na=label:1\r\na=ssrc:2147483647 cname:abc\r\na=ptime:20\r\n";

    #[test]
    fn parses_baresip_offer_with_many_codecs_and_rtcp_mux() {
        let sdp = SessionDescription::parse(BARESIP).unwrap();
        assert_eq!(sdp.origin.session_id, 1_876_283_937);
        assert_eq!(
            sdp.connection.unwrap().addr,
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10))
        );
        let m = &sdp.media[0];
        assert_eq!(m.formats, vec![96, 97, 9, 0, 8, 101]);
        assert_eq!(m.rtpmap(96).unwrap().channels, Some(2));
        assert_eq!(m.rtpmap(101).unwrap().encoding, "telephone-event");
        assert_eq!(m.fmtp(101), Some("0-15"));
        assert_eq!(m.fmtp(96), Some("stereo=1;sprop-stereo=1"));
        assert!(m.rtcp_mux());
        assert_eq!(m.ptime(), Some(20));
        assert_eq!(m.direction(), Some(Direction::SendRecv));
        assert_eq!(m.bandwidths, vec!["AS:64"]);
    }

    #[test]
    fn display_writes_crlf_lines_that_parse_back() {
        let sdp = SessionDescription::parse(BARESIP).unwrap();
        let text = sdp.to_string();
        assert!(text.starts_with("v=0\r\no=- 1876283937 3123412498 IN IP4 192.168.1.10\r\n"));
        assert!(text.ends_with("\r\n"));
        assert!(!text.replace("\r\n", "").contains(['\r', '\n']));
        assert_eq!(SessionDescription::parse(&text).unwrap(), sdp);
    }

    #[test]
    fn accepts_bare_newlines_blank_lines_and_unknown_types() {
        let text = "v=0\no=u 1 2 IN IP4 h.example\n\ns=x\nu=http://x\ne=a@b\nt=0 0\n\
                    m=audio 4000 RTP/AVP 0\nc=IN IP6 ::1\na=rtcp:4001 IN IP4 10.0.0.1\n";
        let sdp = SessionDescription::parse(text).unwrap();
        assert_eq!(sdp.origin.address, "h.example");
        let m = &sdp.media[0];
        assert_eq!(m.connection.unwrap().addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            m.rtcp(),
            Some((4001, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))))
        );
    }

    #[test]
    fn media_level_attributes_override_session_level() {
        let text = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n\
                    a=sendonly\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\na=inactive\r\n\
                    c=IN IP4 2.2.2.2\r\n";
        let sdp = SessionDescription::parse(text).unwrap();
        assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::SendOnly);
        assert_eq!(sdp.media_direction(&sdp.media[1]), Direction::Inactive);
        assert_eq!(
            sdp.media_connection(&sdp.media[1]).unwrap().addr,
            IpAddr::V4(Ipv4Addr::new(2, 2, 2, 2))
        );
    }

    #[test]
    fn non_rtp_formats_are_kept_apart() {
        let text = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\nm=image 0 udptl t38\r\n";
        let sdp = SessionDescription::parse(text).unwrap();
        assert!(sdp.media[0].formats.is_empty());
        assert_eq!(sdp.media[0].other_formats, vec!["t38"]);
        assert!(sdp.to_string().contains("m=image 0 udptl t38\r\n"));
    }

    #[test]
    fn errors_name_the_offending_line() {
        let bad = |t: &str| SessionDescription::parse(t).unwrap_err();
        assert_eq!(bad("v=0\r\nnonsense\r\n"), SdpError::BadLine { line: 2 });
        assert_eq!(bad("v=1\r\n"), SdpError::BadVersion { line: 1 });
        assert_eq!(
            bad("v=0\r\no=- x 1 IN IP4 a\r\n"),
            SdpError::BadOrigin { line: 2 }
        );
        assert_eq!(
            bad("v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 host.example\r\n"),
            SdpError::BadConnection { line: 3 }
        );
        assert_eq!(
            bad("v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP6 1.2.3.4\r\n"),
            SdpError::BadConnection { line: 3 }
        );
        assert_eq!(
            bad("v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 99999 RTP/AVP 0\r\n"),
            SdpError::BadMedia { line: 3 }
        );
        assert_eq!(bad("v=0\r\ns=-\r\n"), SdpError::MissingOrigin);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let base = BARESIP.as_bytes();
        // Every prefix, and every single-byte corruption with a few nasty bytes.
        for end in 0..base.len() {
            let _ = SessionDescription::parse(&String::from_utf8_lossy(&base[..end]));
        }
        for i in 0..base.len() {
            for b in [b'\0', b'=', b':', b'/', b' ', b'\n', b'\r', 0xff, b'9'] {
                let mut v = base.to_vec();
                v[i] = b;
                if let Ok(sdp) = SessionDescription::parse(&String::from_utf8_lossy(&v)) {
                    for m in &sdp.media {
                        let _ = (m.rtpmap(0), m.fmtp(101), m.ptime(), m.rtcp(), m.direction());
                    }
                }
            }
        }
        for text in [
            "=",
            "a",
            "a=",
            "m=",
            "m=audio",
            "m=audio 1/",
            "m=audio 1/x RTP/AVP",
            "o=",
            "c=IN",
            "c=IN IP4 1.2.3.4/",
            "a=rtpmap:",
            "a=rtcp:",
            "é=x",
            "\u{feff}v=0",
        ] {
            if let Ok(sdp) = SessionDescription::parse(&format!("o=- 1 1 IN IP4 a\n{text}\n")) {
                for m in &sdp.media {
                    let _ = (m.rtpmap(0), m.fmtp(0), m.ptime(), m.rtcp());
                }
            }
        }
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9][a-zA-Z0-9._-]{0,11}"
    }

    fn media() -> impl Strategy<Value = MediaDescription> {
        (
            prop::sample::select(vec!["audio", "video", "image"]),
            any::<u16>(),
            prop::sample::select(vec!["RTP/AVP", "RTP/SAVP", "RTP/AVPF"]),
            prop::collection::vec(0u8..128, 0..6),
            prop::option::of(any::<[u8; 4]>()),
            prop::collection::vec(
                (
                    token(),
                    prop::option::of("[a-z0-9]([a-zA-Z0-9/ .;=-]{0,20}[a-z0-9])?"),
                ),
                0..5,
            ),
        )
            .prop_map(|(kind, port, proto, formats, conn, attrs)| {
                let mut m = MediaDescription::new(kind, port, proto, formats);
                m.connection = conn.map(|o| Connection {
                    addr: IpAddr::from(o),
                });
                m.attributes = attrs;
                m
            })
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(
            user in token(), id: u64, version: u64, name in "[a-zA-Z0-9][a-zA-Z0-9 ]{0,10}[a-zA-Z0-9]",
            conn in prop::option::of(any::<[u16; 8]>()),
            media in prop::collection::vec(media(), 0..4),
        ) {
            let sdp = SessionDescription {
                origin: Origin { username: user, session_id: id, session_version: version,
                                 address_type: "IP4".into(), address: "10.0.0.1".into() },
                session_name: name,
                info: None,
                connection: conn.map(|s| Connection { addr: IpAddr::from(s) }),
                bandwidths: vec![],
                timing: vec!["0 0".into()],
                attributes: vec![("group".into(), Some("BUNDLE 0".into()))],
                media,
            };
            let parsed = SessionDescription::parse(&sdp.to_string()).unwrap();
            prop_assert_eq!(parsed, sdp);
        }

        #[test]
        fn parse_never_panics(text in "(([a-z]=[ -~]{0,30})?\r?\n){0,12}") {
            let _ = SessionDescription::parse(&text);
        }
    }
}
