//! DTMF: RFC 4733 telephone-events, in-band Goertzel detection and SIP INFO bodies.
//!
//! A caller's key press reaches the engine in one of three ways, depending on the trunk:
//!
//! * [`rfc4733`] — as `telephone-event` RTP packets ([`Rfc4733Receiver`]); the engine sends
//!   digits the same way ([`Rfc4733Sender`]).
//! * [`goertzel`] — as the dual tone itself inside the G.711 audio ([`InbandDetector`]), for
//!   trunks that did not negotiate `telephone-event`; [`generate_tone`] makes such tones.
//! * [`info`] — as a SIP INFO request with an `application/dtmf-relay` or `application/dtmf`
//!   body ([`parse_info`]).
//!
//! All three produce the same [`DigitEvent`], reported once per key press.

use std::time::Instant;

pub mod goertzel;
pub mod info;
pub mod rfc4733;

pub use goertzel::{generate_tone, InbandDetector};
pub use info::{format_dtmf_relay, parse_info};
pub use rfc4733::{Rfc4733Receiver, Rfc4733Sender};

/// How a digit reached the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfMethod {
    /// RTP `telephone-event` packets (RFC 4733).
    Rfc4733,
    /// Tones in the audio, found by the Goertzel detector.
    Inband,
    /// A SIP INFO request.
    SipInfo,
}

/// One key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitEvent {
    /// `0`–`9`, `*`, `#` or `A`–`D`.
    pub digit: char,
    /// How it arrived.
    pub method: DtmfMethod,
    /// How long the key had been held when the digit was reported, in milliseconds. Digits
    /// are reported as early as possible, so this is often shorter than the whole press (and
    /// `0` for an RFC 4733 start packet).
    pub duration_ms: u32,
    /// When it was detected: the `now` passed with the input that completed it.
    pub at: Instant,
}

/// The sixteen DTMF digits in RFC 4733 event-code order (codes 0–15).
const DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The RFC 4733 event code of a DTMF digit (`0`–`9` → 0–9, `*` → 10, `#` → 11, `A`–`D` →
/// 12–15; lower-case `a`–`d` are accepted).
pub fn event_code(digit: char) -> Option<u8> {
    let digit = digit.to_ascii_uppercase();
    DIGITS.iter().position(|&d| d == digit).map(|i| i as u8)
}

/// The DTMF digit for an RFC 4733 event code, if it is 0–15.
pub fn digit_for_code(code: u8) -> Option<char> {
    DIGITS.get(code as usize).copied()
}

/// Whether `c` is a DTMF digit (upper-case `A`–`D` only).
pub fn is_digit(c: char) -> bool {
    DIGITS.contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_round_trip_for_all_sixteen_digits() {
        for code in 0..16u8 {
            let d = digit_for_code(code).unwrap();
            assert_eq!(event_code(d), Some(code));
            assert!(is_digit(d));
        }
        assert_eq!(event_code('*'), Some(10));
        assert_eq!(event_code('#'), Some(11));
        assert_eq!(event_code('a'), Some(12));
        assert_eq!(event_code('E'), None);
        assert_eq!(digit_for_code(16), None);
        assert_eq!(digit_for_code(255), None);
    }
}
