//! Cutting a byte stream (SIP over TCP or TLS) into messages (RFC 3261 §18.3).
//!
//! On a stream, `Content-Length` is mandatory and says where the body ends. [`frame`] looks at
//! the front of a receive buffer and says how many bytes form the next frame, or that more bytes
//! are needed (the `Incomplete` pattern of mini-redis's `Frame::check`): the caller reads more,
//! appends, and asks again. A frame is either one whole message, for
//! [`super::parse::parse_message`], or a run of CR/LF bytes (an RFC 5626 keepalive, see
//! [`is_keepalive`]).
//!
//! ```
//! use ivr_media::sip::framing::{frame, is_keepalive};
//! use ivr_media::sip::parse_message;
//!
//! let mut buf = b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n".to_vec();
//! let n = frame(&buf).unwrap().unwrap();
//! assert!(is_keepalive(&buf[..n])); // answer with a "\r\n" pong
//! buf.drain(..n);
//! assert_eq!(frame(&buf), Ok(None)); // the head has not ended yet
//! buf.extend_from_slice(b"\r\n");
//! assert_eq!(frame(&buf), Ok(Some(buf.len())));
//! ```

use super::parse::{leading_line_breaks, parse_start_line, ParseError, MAX_BODY, MAX_HEAD};

/// The length of the first complete frame at the front of `buf`.
///
/// * `Ok(Some(n))`: `buf[..n]` is either a keepalive (only CR and LF bytes; it is reported
///   as soon as it is seen, so a ping split across reads gives two frames) or one message
///   whose head ended and whose `Content-Length` bytes of body have all arrived.
/// * `Ok(None)`: more bytes are needed.
/// * `Err`: the stream cannot be resynchronised and the connection should be closed: the first
///   line is not a start line, the head exceeds [`MAX_HEAD`], `Content-Length` is missing
///   ([`ParseError::MissingContentLength`]), malformed, or above [`MAX_BODY`].
pub fn frame(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let keepalive = leading_line_breaks(buf);
    if keepalive > 0 {
        return Ok(Some(keepalive));
    }
    // Reject garbage as soon as the first line is complete.
    if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        let line = buf.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
        parse_start_line(line)?;
    }
    let Some(body_start) = head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if body_start > MAX_HEAD {
        return Err(ParseError::TooLarge);
    }
    let length = stream_content_length(buf.get(..body_start).unwrap_or_default())?;
    if length > MAX_BODY {
        return Err(ParseError::TooLarge);
    }
    let total = body_start + length;
    Ok((buf.len() >= total).then_some(total))
}

/// Whether a frame returned by [`frame`] is a keepalive (CR and LF bytes only) rather than a
/// message.
pub fn is_keepalive(frame: &[u8]) -> bool {
    !frame.is_empty() && frame.iter().all(|b| matches!(b, b'\r' | b'\n'))
}

/// The offset just after the empty line ending the head (CRLF or LF-only), if present within
/// the first [`MAX_HEAD`] + 4 bytes.
fn head_end(buf: &[u8]) -> Option<usize> {
    let window = buf.get(..MAX_HEAD + 4).unwrap_or(buf);
    let mut line_start = 0;
    for (i, &b) in window.iter().enumerate() {
        if b == b'\n' {
            let line = &window[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// Finds `Content-Length` (or its compact form `l`) in a complete head without building the
/// header list. Several headers must agree.
fn stream_content_length(head: &[u8]) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let name = name.trim_ascii_end();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::BadContentLength);
        }
        let n = value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        let n = usize::try_from(n).map_err(|_| ParseError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError::BadContentLength);
        }
        found = Some(n);
    }
    found.ok_or(ParseError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::parse_message;
    use crate::sip::Message;

    const BYE: &[u8] = b"BYE sip:alice@192.0.2.1 SIP/2.0\r\n\
        Via: SIP/2.0/TCP 192.0.2.2;branch=z9hG4bKnashds7\r\n\
        From: <sip:bob@example.com>;tag=1\r\nTo: <sip:alice@example.com>;tag=2\r\n\
        Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Type: text/plain\r\nl: 5\r\n\r\nhello";

    #[test]
    fn every_prefix_of_a_message_is_incomplete_and_the_whole_is_one_frame() {
        for end in 1..BYE.len() {
            assert_eq!(frame(&BYE[..end]), Ok(None), "prefix of {end} bytes");
        }
        assert_eq!(frame(BYE), Ok(Some(BYE.len())));
        assert!(matches!(parse_message(BYE), Ok(Message::Request(_))));
    }

    #[test]
    fn back_to_back_messages_are_cut_apart() {
        let mut stream = BYE.to_vec();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(BYE);
        let mut frames = Vec::new();
        let mut rest = &stream[..];
        while let Some(n) = frame(rest).unwrap() {
            frames.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert!(rest.is_empty());
        assert_eq!(frames, [BYE, b"\r\n\r\n", BYE]);
        assert!(is_keepalive(frames[1]));
        assert!(!is_keepalive(frames[0]));
    }

    #[test]
    fn lf_only_head_is_framed() {
        let msg = b"SIP/2.0 200 OK\nContent-Length: 2\n\nokEXTRA";
        assert_eq!(frame(msg), Ok(Some(msg.len() - 5)));
    }

    #[test]
    fn missing_content_length_on_a_stream_is_an_error() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n";
        assert_eq!(frame(msg), Err(ParseError::MissingContentLength));
    }

    #[test]
    fn bad_or_conflicting_content_length_is_an_error() {
        for msg in [
            &b"SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n"[..],
            b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"SIP/2.0 200 OK\r\nContent-Length: 1\r\nl: 2\r\n\r\n",
        ] {
            assert_eq!(frame(msg), Err(ParseError::BadContentLength));
        }
        let huge = format!("SIP/2.0 200 OK\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert_eq!(frame(huge.as_bytes()), Err(ParseError::TooLarge));
    }

    #[test]
    fn garbage_first_line_is_rejected_without_waiting_for_the_head() {
        assert_eq!(frame(b"GET / HTTP/1.1\r\n"), Err(ParseError::BadStartLine));
        assert_eq!(frame(b"\xff\xfe\n"), Err(ParseError::NotUtf8));
        assert_eq!(frame(b"INVITE sip:a@b SIP/2.0"), Ok(None));
    }

    #[test]
    fn endless_head_is_too_large() {
        let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        while msg.len() <= MAX_HEAD {
            msg.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(frame(&msg), Err(ParseError::TooLarge));
        assert_eq!(frame(&msg[..MAX_HEAD - 100]), Ok(None));
    }
}
