//! Hostile input never panics the SIP parsers, and each kind of damage gets the right
//! treatment: a `400` when the request still names its transaction, silence otherwise.

use ivr_media::sip::framing::frame;
use ivr_media::sip::parse::{MAX_BODY, MAX_HEAD};
use ivr_media::sip::{parse_datagram, ParseError, Parsed};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
    Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
    Max-Forwards: 70\r\n\
    To: Bob <sip:bob@biloxi.example.com>\r\n\
    From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
    Call-ID: a84b4c76e66710\r\n\
    CSeq: 314159 INVITE\r\n\
    Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
    Content-Type: application/sdp\r\n\
    Content-Length: 31\r\n\
    \r\n\
    v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\n";

/// The outcome kind, for compact assertions.
#[derive(Debug, PartialEq)]
enum Kind {
    Ok,
    Answered400(ParseError),
    Dropped(ParseError),
}

fn kind(data: &[u8]) -> Kind {
    match parse_datagram(data) {
        Parsed::Ok(_) => Kind::Ok,
        Parsed::Malformed {
            reply: Some(r),
            error,
        } => {
            assert_eq!(r.status, 400);
            assert!(!r.reason.contains(['\r', '\n']));
            // The reply must be routable (a valid top Via) and start as a 400 on the wire.
            assert!(r.top_via().is_ok());
            assert!(r.encode().starts_with(b"SIP/2.0 400 "));
            Kind::Answered400(error)
        }
        Parsed::Malformed { reply: None, error } => Kind::Dropped(error),
    }
}

fn head_len() -> usize {
    INVITE.find("\r\n\r\n").unwrap() + 4
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn the_reference_message_is_valid() {
    assert_eq!(kind(INVITE.as_bytes()), Kind::Ok);
    assert_eq!(frame(INVITE.as_bytes()), Ok(Some(INVITE.len())));
}

#[test]
fn truncation_at_every_byte() {
    let data = INVITE.as_bytes();
    let via_line_end = INVITE.find("Max-Forwards:").unwrap();
    for end in 0..data.len() {
        let prefix = &data[..end];
        assert_eq!(frame(prefix), Ok(None), "frame of {end} bytes");
        let k = kind(prefix);
        if end >= head_len() {
            assert_eq!(
                k,
                Kind::Answered400(ParseError::BodyTruncated),
                "{end} bytes"
            );
        } else if end >= via_line_end {
            // The Via arrived, so the reply can be routed: the head is just cut short.
            assert!(matches!(k, Kind::Answered400(_)), "{end} bytes: {k:?}");
        } else {
            assert!(matches!(k, Kind::Dropped(_)), "{end} bytes: {k:?}");
        }
    }
}

#[test]
fn random_bytes_are_dropped() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = rng.below(300);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(matches!(kind(&data), Kind::Dropped(_)));
        let _ = frame(&data);
    }
}

#[test]
fn random_printable_lines_are_dropped() {
    let alphabet = b"INVITESIP/2.0 :;<>@\"\r\n\t,=sip:abc123[]?&\\";
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let len = rng.below(200);
        let data: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let _ = kind(&data);
        let _ = frame(&data);
    }
}

#[test]
fn single_byte_mutations_never_panic() {
    let base = INVITE.as_bytes();
    for i in 0..base.len() {
        for b in [
            0u8, b'\r', b'\n', b' ', b':', b';', b'"', b'<', b'>', 0x80, 0xff,
        ] {
            let mut data = base.to_vec();
            data[i] = b;
            let _ = kind(&data);
            let _ = frame(&data);
        }
    }
}

#[test]
fn huge_header_is_too_large() {
    let big = format!("X-Big: {}\r\n", "a".repeat(MAX_HEAD + 10));
    let data = INVITE.replace("Max-Forwards: 70\r\n", &big);
    // The Via came before the oversized header, so the sender learns why.
    assert_eq!(
        kind(data.as_bytes()),
        Kind::Answered400(ParseError::TooLarge)
    );
    assert_eq!(frame(data.as_bytes()), Err(ParseError::TooLarge));
}

#[test]
fn many_small_headers_under_the_limit_are_fine() {
    let many: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let data = INVITE.replace("Max-Forwards: 70\r\n", &many);
    assert!(data.len() < MAX_HEAD);
    assert_eq!(kind(data.as_bytes()), Kind::Ok);
}

#[test]
fn huge_via_list_is_fine() {
    let vias = vec!["SIP/2.0/UDP h;branch=z9hG4bKx"; 1000].join(", ");
    let data = INVITE.replace(
        "Max-Forwards: 70\r\n",
        &format!("Via: {vias}\r\nMax-Forwards: 70\r\n"),
    );
    assert_eq!(kind(data.as_bytes()), Kind::Ok);
}

#[test]
fn bad_content_length_values() {
    for (value, error) in [
        ("abc", ParseError::BadContentLength),
        ("-1", ParseError::BadContentLength),
        ("1e3", ParseError::BadContentLength),
        ("", ParseError::BadContentLength),
        ("18446744073709551616", ParseError::BadContentLength),
        ("99999999999999999999999", ParseError::BadContentLength),
        ("32", ParseError::BodyTruncated),
        ("4294967296", ParseError::TooLarge),
    ] {
        let data = INVITE.replace("Content-Length: 31", &format!("Content-Length: {value}"));
        assert_eq!(
            kind(data.as_bytes()),
            Kind::Answered400(error.clone()),
            "{value:?}"
        );
    }
    let big = INVITE.replace(
        "Content-Length: 31",
        &format!("Content-Length: {}", MAX_BODY + 1),
    );
    assert_eq!(frame(big.as_bytes()), Err(ParseError::TooLarge));
    let two = INVITE.replace("Content-Length: 31", "Content-Length: 31\r\nl: 30");
    assert_eq!(
        kind(two.as_bytes()),
        Kind::Answered400(ParseError::BadContentLength)
    );
}

#[test]
fn nul_bytes() {
    let in_method = INVITE.replacen("INVITE", "INV\0TE", 1);
    assert_eq!(
        kind(in_method.as_bytes()),
        Kind::Dropped(ParseError::BadStartLine)
    );
    let in_header = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 7\x000");
    assert_eq!(
        kind(in_header.as_bytes()),
        Kind::Answered400(ParseError::BadHeader { line: 3 })
    );
    let in_call_id = INVITE.replace("a84b4c76e66710", "a84b\0c76e66710");
    // Still routable by its Via: answered, echoing the broken Call-ID.
    assert!(matches!(
        kind(in_call_id.as_bytes()),
        Kind::Answered400(ParseError::BadHeader { .. })
    ));
    let in_body = INVITE.replace("v=0", "v\x000");
    assert_eq!(kind(in_body.as_bytes()), Kind::Ok);
}

#[test]
fn non_utf8() {
    let mut data = INVITE.as_bytes().to_vec();
    let at = INVITE.find("Alice").unwrap();
    data[at] = 0xc3; // a lead byte without its continuation, in From
    assert_eq!(kind(&data), Kind::Answered400(ParseError::NotUtf8));
    let mut data = INVITE.as_bytes().to_vec();
    let at = INVITE.find("application").unwrap();
    data[at] = 0xff;
    assert_eq!(kind(&data), Kind::Answered400(ParseError::NotUtf8));
    let mut data = INVITE.as_bytes().to_vec();
    data[1] = 0xff;
    assert_eq!(kind(&data), Kind::Dropped(ParseError::NotUtf8));
    let mut data = INVITE.as_bytes().to_vec();
    let last = data.len() - 3;
    data[last] = 0xff;
    assert_eq!(kind(&data), Kind::Ok, "binary bodies are allowed");
}

#[test]
fn keepalives_and_empty_input_are_dropped() {
    for data in [&b""[..], b"\r\n", b"\r\n\r\n", b"\n\n\n"] {
        assert_eq!(kind(data), Kind::Dropped(ParseError::Empty));
    }
}

#[test]
fn malformed_responses_and_acks_are_never_answered() {
    let resp = INVITE
        .replace(
            "INVITE sip:bob@biloxi.example.com SIP/2.0",
            "SIP/2.0 200 OK",
        )
        .replace("Max-Forwards: 70", "Max-Forwards: x");
    assert_eq!(
        kind(resp.as_bytes()),
        Kind::Dropped(ParseError::InvalidHeader("Max-Forwards"))
    );
    let ack = INVITE
        .replace("INVITE sip", "ACK sip")
        .replace("314159 INVITE", "314159 ACK")
        .replace("Max-Forwards: 70", "Max-Forwards: x");
    assert_eq!(
        kind(ack.as_bytes()),
        Kind::Dropped(ParseError::InvalidHeader("Max-Forwards"))
    );
}

#[test]
fn a_broken_via_is_dropped_and_other_damage_gets_a_400() {
    // A broken Via leaves nowhere to send the answer.
    let data = INVITE.replace("SIP/2.0/UDP pc33", "SIP/2.0/UDP <pc33>");
    assert_eq!(
        kind(data.as_bytes()),
        Kind::Dropped(ParseError::InvalidHeader("Via"))
    );
    // Broken dialog or transaction identifiers are echoed back in a 400 (RFC 4475 §3.1.2.18).
    for (from, to, error) in [
        (
            "CSeq: 314159 INVITE",
            "CSeq: x INVITE",
            ParseError::InvalidHeader("CSeq"),
        ),
        (
            "From: Alice <sip:alice@atlanta.example.com>",
            "From: Alice <sip:alice@",
            ParseError::InvalidHeader("From"),
        ),
        (
            "To: Bob <sip:bob@biloxi.example.com>",
            "To: \"Bob <sip:bob@x>",
            ParseError::InvalidHeader("To"),
        ),
        (
            "Call-ID: a84b4c76e66710",
            "Call-ID: a b",
            ParseError::InvalidHeader("Call-ID"),
        ),
    ] {
        let data = INVITE.replace(from, to);
        assert_eq!(
            kind(data.as_bytes()),
            Kind::Answered400(error.clone()),
            "{to}"
        );
    }
    for (from, to, error) in [
        (
            "INVITE sip:bob@biloxi.example.com",
            "INVITE sip:bob@",
            ParseError::BadUri,
        ),
        (
            "CSeq: 314159 INVITE",
            "CSeq: 314159 BYE",
            ParseError::CSeqMismatch,
        ),
        (
            "Max-Forwards: 70",
            "Max-Forwards: -1",
            ParseError::InvalidHeader("Max-Forwards"),
        ),
        (
            "Content-Type",
            "Content Type",
            ParseError::BadHeader { line: 9 },
        ),
    ] {
        let data = INVITE.replace(from, to);
        assert_eq!(
            kind(data.as_bytes()),
            Kind::Answered400(error.clone()),
            "{to}"
        );
    }
}

#[test]
fn folding_without_a_header_to_continue_is_rejected() {
    let data = INVITE.replace("Via:", " continued\r\nVia:");
    assert_eq!(
        kind(data.as_bytes()),
        Kind::Answered400(ParseError::BadHeader { line: 2 })
    );
}
