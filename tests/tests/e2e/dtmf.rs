//! Digits: RFC 4733 events, in-band tones and SIP INFO, each reported exactly once; none from
//! speech or plain audio.

use std::path::PathBuf;

use ivr_tests::codec::G711;
use ivr_tests::{audio, Engine, EngineOptions, Offer, RtpPeer, Sipp};

use crate::{assert_hangup, digits, ended, ms, secs};

/// SIPp's bundled pcaps (`$SIPP_PCAPS`, else `/usr/share/sip-tester`).
fn pcap(name: &str) -> String {
    let dir = std::env::var_os("SIPP_PCAPS")
        .map_or_else(|| PathBuf::from("/usr/share/sip-tester"), PathBuf::from);
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is missing: install sip-tester (scripts/setup.sh does) or set SIPP_PCAPS",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

/// Plays SIPp's RFC 4733 pcap for `digit` (payload type 101, as offered) after ACK.
fn rfc4733_pcap_digit(digit: &str, file: &str) {
    let engine = Engine::start(EngineOptions {
        demo_timeout: secs(8),
        ..EngineOptions::default()
    });
    let hash = digit == "#";
    // After '#' the engine hangs up; otherwise the caller does, 800 ms after the 140 ms pcap.
    let scenario = if hash {
        "call_pcap_wait_bye"
    } else {
        "call_pcap_bye"
    };
    let run = Sipp::new(scenario, engine.sip_udp)
        .template("PCAP", &pcap(file))
        .pause(ms(800))
        .run();
    run.assert_success();
    ended(&engine);
    assert_eq!(
        digits(&engine),
        vec![(digit.to_string(), "rfc4733".to_string())],
        "expected exactly one `{digit}` by rfc4733; events:\n{}",
        engine.events_text()
    );
    if hash {
        assert_eq!(
            run.requests("BYE").count(),
            1,
            "the engine should hang up once after '#'"
        );
        assert_hangup(&engine, "engine", "hash");
    } else {
        assert_hangup(&engine, "caller", "bye");
    }
}

macro_rules! rfc4733_pcap {
    ($($name:ident: $digit:literal from $file:literal;)*) => {$(
        #[test]
        fn $name() {
            rfc4733_pcap_digit($digit, $file);
        }
    )*};
}

rfc4733_pcap! {
    rfc4733_digit_0_is_reported_once: "0" from "dtmf_2833_0.pcap";
    rfc4733_digit_1_is_reported_once: "1" from "dtmf_2833_1.pcap";
    rfc4733_digit_2_is_reported_once: "2" from "dtmf_2833_2.pcap";
    rfc4733_digit_3_is_reported_once: "3" from "dtmf_2833_3.pcap";
    rfc4733_digit_4_is_reported_once: "4" from "dtmf_2833_4.pcap";
    rfc4733_digit_5_is_reported_once: "5" from "dtmf_2833_5.pcap";
    rfc4733_digit_6_is_reported_once: "6" from "dtmf_2833_6.pcap";
    rfc4733_digit_7_is_reported_once: "7" from "dtmf_2833_7.pcap";
    rfc4733_digit_8_is_reported_once: "8" from "dtmf_2833_8.pcap";
    rfc4733_digit_9_is_reported_once: "9" from "dtmf_2833_9.pcap";
    rfc4733_star_is_reported_once: "*" from "dtmf_2833_star.pcap";
    rfc4733_hash_is_reported_once_and_the_engine_hangs_up: "#" from "dtmf_2833_pound.pcap";
}

#[test]
fn pcma_speech_from_a_pcap_yields_no_digits() {
    let engine = Engine::start(EngineOptions::default());
    // PCMA only and no telephone-event: the in-band detector listens to the 30 ms speech packets.
    let sipp = Sipp::new("call_pcap_bye", engine.sip_udp)
        .template("PCAP", &pcap("g711a.pcap"))
        .pause(ms(2500));
    let offer = Offer::new(sipp.media_port())
        .codecs(&[(8, "PCMA/8000")])
        .telephone_event(None);
    let run = sipp.offer(&offer).run();
    run.assert_success();
    let answered = engine.wait_event("answered", secs(5), |_| true);
    assert_eq!(answered.str("codec"), Some("PCMA"), "{answered}");
    let end = ended(&engine);
    assert!(
        end.u64("rtp_rx").is_some_and(|n| n >= 50),
        "the pcap's RTP was not counted: {end}"
    );
    assert_eq!(
        digits(&engine),
        vec![],
        "digits from speech; events:\n{}",
        engine.events_text()
    );
}

#[test]
fn inband_tones_are_reported_in_order_once_each() {
    let engine = Engine::start(EngineOptions {
        demo_timeout: secs(8),
        ..EngineOptions::default()
    });
    let mut peer = RtpPeer::bind();
    // No telephone-event offered: the engine must listen for tones.
    let sipp = Sipp::new("call_wait_bye", engine.sip_udp)
        .offer(&Offer::pcmu_only(peer.port()))
        .spawn();
    let to = peer.engine_addr(secs(5));
    peer.send_audio(to, G711::Pcmu, &audio::dtmf_tones("159#", 100, 100));
    let run = sipp.wait();
    run.assert_success();
    ended(&engine);
    let inband = |d: &str| (d.to_string(), "inband".to_string());
    assert_eq!(
        digits(&engine),
        vec![inband("1"), inband("5"), inband("9"), inband("#")],
        "events:\n{}",
        engine.events_text()
    );
    assert_hangup(&engine, "engine", "hash");
}

#[test]
fn speech_with_spoken_numbers_yields_no_inband_digits() {
    let engine = Engine::start(EngineOptions::default());
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let speech = audio::speech(
        "please transfer me to the billing department, my number is four five six",
        dir.path(),
    );
    let speech_ms = (speech.len() / 8) as u64;
    let mut peer = RtpPeer::bind();
    let sipp = Sipp::new("call_bye", engine.sip_udp)
        .offer(&Offer::pcmu_only(peer.port()))
        .pause(ms(speech_ms + 1500))
        .spawn();
    let to = peer.engine_addr(secs(5));
    let sent = peer.send_audio(to, G711::Pcmu, &speech);
    sipp.wait().assert_success();
    let end = ended(&engine);
    assert_eq!(end.u64("rtp_rx"), Some(sent as u64), "{end}");
    assert_eq!(
        digits(&engine),
        vec![],
        "digits detected in speech; events:\n{}",
        engine.events_text()
    );
}

#[test]
fn sip_info_digit_is_answered_200_and_reported() {
    let engine = Engine::start(EngineOptions::default());
    let run = Sipp::new("call_info_bye", engine.sip_udp)
        .key("digit", "7")
        .pause(ms(300))
        .run();
    run.assert_success();
    assert!(
        run.responses_to("INFO").any(|m| m.status() == Some(200)),
        "INFO not answered 200"
    );
    ended(&engine);
    assert_eq!(
        digits(&engine),
        vec![("7".to_string(), "sip_info".to_string())],
        "events:\n{}",
        engine.events_text()
    );
}
