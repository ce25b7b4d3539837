//! DTMF in SIP INFO bodies.
//!
//! Two body formats are in use:
//!
//! * `application/dtmf-relay` (Cisco, most SBCs and PBXs):
//!   ```text
//!   Signal=5
//!   Duration=160
//!   ```
//!   Keys are case-insensitive, spaces may surround the `=`, lines end in CRLF or LF, and some
//!   devices send the event code (`Signal=11` for `#`) instead of the character.
//! * `application/dtmf`: the body is the digit itself (`5`, `#`) or its event code.
//!
//! Parsing never panics and returns `None` for anything it does not understand.

use super::{digit_for_code, event_code, is_digit};

/// Extracts the digit and, when present, its duration in milliseconds from a SIP INFO body.
///
/// `content_type` is the Content-Type header value; parameters after `;` and letter case are
/// ignored. Returns `None` for other content types or bodies without a valid digit.
pub fn parse_info(content_type: &str, body: &[u8]) -> Option<(char, Option<u32>)> {
    let media_type = content_type.split(';').next()?.trim();
    let body = std::str::from_utf8(body).ok()?;
    if media_type.eq_ignore_ascii_case("application/dtmf-relay")
        || media_type.eq_ignore_ascii_case("application/x-dtmf-relay")
    {
        parse_dtmf_relay(body)
    } else if media_type.eq_ignore_ascii_case("application/dtmf")
        || media_type.eq_ignore_ascii_case("application/x-dtmf")
    {
        parse_signal(body.trim()).map(|d| (d, None))
    } else {
        None
    }
}

/// The `application/dtmf-relay` body for sending `digit`, or `None` if it is not a DTMF digit.
pub fn format_dtmf_relay(digit: char, duration_ms: u32) -> Option<String> {
    let digit = digit.to_ascii_uppercase();
    event_code(digit)?;
    Some(format!("Signal={digit}\r\nDuration={duration_ms}\r\n"))
}

fn parse_dtmf_relay(body: &str) -> Option<(char, Option<u32>)> {
    let mut digit = None;
    let mut duration = None;
    for line in body.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if key.eq_ignore_ascii_case("signal") {
            digit = parse_signal(value);
        } else if key.eq_ignore_ascii_case("duration") {
            duration = value.parse::<u32>().ok();
        }
    }
    digit.map(|d| (d, duration))
}

/// A digit written as itself (`5`, `*`, `b`) or as its event code (`10`, `11`).
fn parse_signal(value: &str) -> Option<char> {
    let mut chars = value.chars();
    let first = chars.next()?;
    if chars.next().is_none() {
        let d = first.to_ascii_uppercase();
        return is_digit(d).then_some(d);
    }
    value.parse::<u8>().ok().and_then(digit_for_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_dtmf_relay_with_duration() {
        assert_eq!(
            parse_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some(('5', Some(160)))
        );
    }

    #[test]
    fn tolerates_spaces_case_bare_newlines_and_parameters() {
        assert_eq!(
            parse_info(
                "Application/DTMF-Relay; charset=utf-8",
                b"signal= *\nDURATION = 250\n"
            ),
            Some(('*', Some(250)))
        );
        assert_eq!(
            parse_info("application/dtmf-relay", b"Signal=#"),
            Some(('#', None))
        );
        assert_eq!(
            parse_info("application/dtmf-relay", b"Signal=d\r\nDuration=x\r\n"),
            Some(('D', None))
        );
    }

    #[test]
    fn accepts_event_codes_as_signals() {
        assert_eq!(
            parse_info("application/dtmf-relay", b"Signal=11\r\nDuration=100\r\n"),
            Some(('#', Some(100)))
        );
        assert_eq!(parse_info("application/dtmf", b"10"), Some(('*', None)));
        assert_eq!(parse_info("application/dtmf-relay", b"Signal=16\r\n"), None);
    }

    #[test]
    fn parses_application_dtmf() {
        assert_eq!(parse_info("application/dtmf", b"5"), Some(('5', None)));
        assert_eq!(parse_info("application/dtmf", b" #\r\n"), Some(('#', None)));
        assert_eq!(parse_info("application/dtmf", b"55"), None);
        assert_eq!(parse_info("application/dtmf", b""), None);
    }

    #[test]
    fn rejects_other_content_types_and_bad_bodies() {
        assert_eq!(parse_info("application/sdp", b"Signal=5"), None);
        assert_eq!(parse_info("", b"Signal=5"), None);
        assert_eq!(parse_info("application/dtmf-relay", b"Duration=160"), None);
        assert_eq!(parse_info("application/dtmf-relay", b"Signal=E"), None);
        assert_eq!(parse_info("application/dtmf-relay", b"\xff\xfe"), None);
    }

    #[test]
    fn formatted_bodies_parse_back() {
        for d in "0123456789*#ABCD".chars() {
            let body = format_dtmf_relay(d, 120).unwrap();
            assert_eq!(
                parse_info("application/dtmf-relay", body.as_bytes()),
                Some((d, Some(120)))
            );
        }
        assert_eq!(format_dtmf_relay('x', 100), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(ct in ".{0,40}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_info(&ct, &body);
            let _ = parse_info("application/dtmf-relay", &body);
            let _ = parse_info("application/dtmf", &body);
        }

        #[test]
        fn relay_bodies_round_trip(code in 0u8..16, dur in any::<u32>()) {
            let d = digit_for_code(code).unwrap();
            let body = format_dtmf_relay(d, dur).unwrap();
            prop_assert_eq!(parse_info("application/dtmf-relay", body.as_bytes()), Some((d, Some(dur))));
        }
    }
}
