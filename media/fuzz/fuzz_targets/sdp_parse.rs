//! SDP parsing and offer/answer on arbitrary text: no panic, and an answer to any offer that
//! negotiates parses again.
#![no_main]

use ivr_media::sdp::{self, Codec, LocalMedia, SessionDescription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(offer) = SessionDescription::parse(text) else { return };
    let local = LocalMedia {
        addr: std::net::IpAddr::from([127, 0, 0, 1]),
        port: 20000,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        telephone_event: true,
        session_id: 1,
        session_version: 1,
    };
    if let Ok(negotiated) = sdp::negotiate(&offer, &local) {
        let answer = sdp::answer(&offer, &local, &negotiated).to_string();
        SessionDescription::parse(&answer).expect("our own answer must parse");
    }
});
