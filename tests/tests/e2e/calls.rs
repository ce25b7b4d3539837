//! An answered call: what the caller hears and what the engine counts.

use ivr_tests::codec::G711;
use ivr_tests::{Engine, EngineOptions, Offer, RtpPeer, Sipp, Transport};

use crate::{assert_hangup, assert_prompt_stream, ended, ms, secs};

/// A 440 Hz tone, the caller's side of the conversation.
fn caller_audio(frames: usize) -> Vec<i16> {
    (0..frames * 160)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 8000.0) as i16)
        .collect()
}

/// Places one call offering `offer` from `peer`, sends one second of audio to the engine's RTP
/// address once its first packet arrives, lets SIPp hang up after `pause`, and returns the run
/// and the number of packets sent.
fn call(
    engine: &Engine,
    peer: &mut RtpPeer,
    offer: Offer,
    codec: G711,
    transport: Transport,
) -> (ivr_tests::SippRun, usize) {
    let target = if transport == Transport::Tcp {
        engine.sip_tcp
    } else {
        engine.sip_udp
    };
    let sipp = Sipp::new("call_bye", target)
        .transport(transport)
        .offer(&offer)
        .pause(ms(2500))
        .spawn();
    let engine_rtp = peer.engine_addr(secs(5));
    let sent = peer.send_audio(engine_rtp, codec, &caller_audio(50));
    let run = sipp.wait();
    run.assert_success();
    let ok = run
        .responses_to("INVITE")
        .find(|m| m.status() == Some(200))
        .expect("a 200 to the INVITE");
    assert_eq!(
        ok.sdp_audio_port(),
        Some(engine_rtp.port()),
        "the engine's RTP comes from a port other than its SDP's:\n{}",
        ok.text
    );
    (run, sent)
}

#[test]
fn answered_call_plays_the_prompt_exactly_and_counts_the_callers_rtp() {
    let engine = Engine::start(EngineOptions::default());
    let mut peer = RtpPeer::bind();
    let offer = Offer::new(peer.port());
    let (run, sent) = call(&engine, &mut peer, offer, G711::Pcmu, Transport::Udp);

    let ok = run
        .responses_to("INVITE")
        .find(|m| m.status() == Some(200))
        .expect("a 200 to the INVITE");
    let fmts = ok.sdp_audio_formats();
    assert_eq!(
        fmts.first(),
        Some(&0),
        "the answer should pick the caller's first codec, PCMU:\n{}",
        ok.text
    );
    assert!(
        fmts.contains(&101),
        "the answer should keep telephone-event at 101:\n{}",
        ok.text
    );
    assert!(
        run.responses_to("INVITE").any(|m| m.status() == Some(180)),
        "no 180 Ringing before the 200"
    );

    let got = peer.wait_quiet(ms(300), secs(5));
    assert_prompt_stream(&got, engine.prompt(), G711::Pcmu);

    let answered = engine.wait_event("answered", secs(5), |_| true);
    assert_eq!(answered.str("codec"), Some("PCMU"), "{answered}");
    assert_eq!(answered.u64("telephone_event_pt"), Some(101), "{answered}");
    assert_hangup(&engine, "caller", "bye");
    let end = ended(&engine);
    assert_eq!(
        end.u64("rtp_rx"),
        Some(sent as u64),
        "rtp_rx should be the {sent} packets sent: {end}"
    );
    assert_eq!(end.u64("rtp_lost"), Some(0), "{end}");
    assert_eq!(
        end.u64("rtp_tx"),
        Some((engine.prompt().len() / 160) as u64),
        "{end}"
    );
    let call_id = &run.call_ids()[0];
    for e in engine.events() {
        assert_eq!(e.call_id(), call_id, "an event for another call: {e}");
    }
    let incoming = engine.wait_event("incoming", secs(1), |_| true);
    assert!(
        incoming
            .str("from")
            .is_some_and(|f| f.contains("+15551230000")),
        "from is logged in full: {incoming}"
    );
}

#[test]
fn caller_preferring_pcma_gets_the_prompt_in_a_law() {
    let engine = Engine::start(EngineOptions::default());
    let mut peer = RtpPeer::bind();
    let offer = Offer::new(peer.port()).codecs(&[(8, "PCMA/8000"), (0, "PCMU/8000")]);
    let (_run, sent) = call(&engine, &mut peer, offer, G711::Pcma, Transport::Udp);
    assert_prompt_stream(
        &peer.wait_quiet(ms(300), secs(5)),
        engine.prompt(),
        G711::Pcma,
    );
    let answered = engine.wait_event("answered", secs(5), |_| true);
    assert_eq!(answered.str("codec"), Some("PCMA"), "{answered}");
    let end = ended(&engine);
    assert_eq!(end.u64("rtp_rx"), Some(sent as u64), "{end}");
}

#[test]
fn call_over_tcp_gets_the_prompt() {
    let engine = Engine::start(EngineOptions::default());
    let mut peer = RtpPeer::bind();
    let offer = Offer::new(peer.port());
    let (run, _) = call(&engine, &mut peer, offer, G711::Pcmu, Transport::Tcp);
    assert!(
        run.messages
            .iter()
            .all(|m| m.header("Via").is_some_and(|v| v.contains("TCP"))),
        "a message was not over TCP"
    );
    assert_prompt_stream(
        &peer.wait_quiet(ms(300), secs(5)),
        engine.prompt(),
        G711::Pcmu,
    );
    assert_hangup(&engine, "caller", "bye");
}
