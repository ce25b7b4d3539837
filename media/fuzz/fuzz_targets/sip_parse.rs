//! Datagram parsing and stream framing of arbitrary bytes: no panic, and whatever parses
//! re-encodes to a fixed point.
#![no_main]

use ivr_media::sip::framing::frame;
use ivr_media::sip::{parse_datagram, parse_message, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Parsed::Ok(m) = parse_datagram(data) {
        let once = m.encode();
        let again = parse_message(&once).expect("an encoded message parses");
        assert_eq!(again.encode(), once, "encoding is a fixed point");
    }
    if let Ok(Some(n)) = frame(data) {
        let _ = parse_message(&data[..n]);
    }
});
