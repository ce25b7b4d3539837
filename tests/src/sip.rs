//! SIP messages as the tests see them: text to look into, and raw datagrams for what SIPp cannot
//! send (requests broken on purpose).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// One SIP message from a trace or a socket.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// True when the test side sent it, false when it came from the engine.
    pub outgoing: bool,
    /// The whole message as text (lossy UTF-8).
    pub text: String,
}

impl SipMessage {
    /// Wraps raw bytes.
    pub fn from_bytes(outgoing: bool, bytes: &[u8]) -> SipMessage {
        SipMessage {
            outgoing,
            text: String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// The start line (`INVITE sip:... SIP/2.0` or `SIP/2.0 200 OK`).
    pub fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or("").trim_end()
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.start_line().strip_prefix("SIP/2.0 ")?;
        rest.split(' ').next()?.parse().ok()
    }

    /// The reason phrase, for a response.
    pub fn reason(&self) -> Option<&str> {
        let rest = self.start_line().strip_prefix("SIP/2.0 ")?;
        Some(rest.split_once(' ').map_or("", |(_, r)| r))
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<&str> {
        if self.status().is_some() {
            return None;
        }
        self.start_line()
            .split(' ')
            .next()
            .filter(|m| !m.is_empty())
    }

    /// The method in CSeq (what a response answers).
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }

    /// The first value of a header, by full or compact name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers(name).next()
    }

    /// Every value of a header, by full or compact name, case-insensitively.
    pub fn headers<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let compact = compact_form(name);
        let name = name.to_string();
        self.head().lines().skip(1).filter_map(move |line| {
            let (n, v) = line.split_once(':')?;
            let n = n.trim();
            let hit =
                n.eq_ignore_ascii_case(&name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c));
            hit.then(|| v.trim())
        })
    }

    /// The header section (start line included).
    pub fn head(&self) -> &str {
        let t = self.text.trim_start_matches(['\r', '\n']);
        t.split_once("\r\n\r\n")
            .or_else(|| t.split_once("\n\n"))
            .map_or(t, |(h, _)| h)
    }

    /// The body (empty when none).
    pub fn body(&self) -> &str {
        let t = self.text.trim_start_matches(['\r', '\n']);
        t.split_once("\r\n\r\n")
            .or_else(|| t.split_once("\n\n"))
            .map_or("", |(_, b)| b)
    }

    /// The SDP audio port (`m=audio PORT ...`), when the body is SDP.
    pub fn sdp_audio_port(&self) -> Option<u16> {
        self.body().lines().find_map(|l| {
            l.trim()
                .strip_prefix("m=audio ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
    }

    /// The SDP media direction attribute (`sendrecv` when none is given, as RFC 3264 says).
    pub fn sdp_direction(&self) -> &str {
        self.body()
            .lines()
            .map(str::trim)
            .find_map(|l| {
                ["sendrecv", "sendonly", "recvonly", "inactive"]
                    .into_iter()
                    .find(|d| l == format!("a={d}"))
            })
            .unwrap_or("sendrecv")
    }

    /// The payload types of the SDP audio line, in order.
    pub fn sdp_audio_formats(&self) -> Vec<u8> {
        self.body()
            .lines()
            .find_map(|l| l.trim().strip_prefix("m=audio "))
            .map(|rest| {
                rest.split_whitespace()
                    .skip(2)
                    .filter_map(|f| f.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn compact_form(name: &str) -> Option<&'static str> {
    let table = [
        ("call-id", "i"),
        ("contact", "m"),
        ("content-length", "l"),
        ("content-type", "c"),
        ("from", "f"),
        ("to", "t"),
        ("via", "v"),
        ("supported", "k"),
        ("subject", "s"),
    ];
    table
        .iter()
        .find(|(full, _)| full.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c)
}

/// A UDP socket on loopback for hand-made SIP datagrams.
pub struct RawSip {
    sock: UdpSocket,
}

impl RawSip {
    /// Binds to `ip:0`.
    pub fn bind(ip: &str) -> RawSip {
        let sock = UdpSocket::bind((ip, 0)).expect("bind a UDP socket on loopback");
        RawSip { sock }
    }

    /// The bound address (for Via and Contact).
    pub fn local_addr(&self) -> SocketAddr {
        self.sock
            .local_addr()
            .expect("local address of a bound socket")
    }

    /// Sends one datagram.
    pub fn send(&self, to: SocketAddr, bytes: &[u8]) {
        self.sock
            .send_to(bytes, to)
            .expect("send a datagram on loopback");
    }

    /// Receives messages until one is a final response (>= 200) or `timeout` passes; returns
    /// everything received.
    pub fn until_final(&self, timeout: Duration) -> Vec<SipMessage> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            self.sock
                .set_read_timeout(Some(left))
                .expect("set a read timeout");
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                break;
            };
            let msg = SipMessage::from_bytes(false, &buf[..n]);
            let done = msg.status().is_some_and(|s| s >= 200);
            got.push(msg);
            if done {
                break;
            }
        }
        got
    }

    /// Drains whatever arrives within `timeout`.
    pub fn drain(&self, timeout: Duration) -> Vec<SipMessage> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            self.sock
                .set_read_timeout(Some(left))
                .expect("set a read timeout");
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                break;
            };
            got.push(SipMessage::from_bytes(false, &buf[..n]));
        }
        got
    }
}

/// A well-formed INVITE with SDP from `local` to `target`, as raw text (CRLF line ends), for
/// tests to break in chosen ways.
pub fn invite_text(local: SocketAddr, target: SocketAddr, call_id: &str, rtp_port: u16) -> String {
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
        ip = local.ip()
    );
    format!(
        "INVITE sip:1000@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:+15551230000@{local}>;tag=raw-{call_id}\r\n\
         To: <sip:1000@{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{local}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\
         \r\n{sdp}",
        len = sdp.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_headers_and_sdp() {
        let m = SipMessage::from_bytes(
            false,
            b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP x\r\nCSeq: 2 INVITE\r\nAllow: INVITE, BYE\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 8 101\r\na=recvonly\r\n",
        );
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.reason(), Some("OK"));
        assert_eq!(m.method(), None);
        assert_eq!(m.header("via"), Some("SIP/2.0/UDP x"));
        assert_eq!(m.cseq_method(), Some("INVITE"));
        assert_eq!(m.sdp_audio_port(), Some(4000));
        assert_eq!(m.sdp_audio_formats(), vec![8, 101]);
        assert_eq!(m.sdp_direction(), "recvonly");
    }
}
