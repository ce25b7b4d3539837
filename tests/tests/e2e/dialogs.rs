//! Dialog behaviour: CANCEL, hold and unhold, OPTIONS, hang-ups from either side, the demo
//! timeout.

use std::time::Instant;

use ivr_tests::{Engine, EngineOptions, Offer, RtpPeer, Sipp};

use crate::{assert_hangup, ended, ms, secs};

#[test]
fn cancel_before_answer_gets_487_and_a_cancelled_event() {
    let engine = Engine::start(EngineOptions {
        answer_delay: Some(secs(10)),
        ..EngineOptions::default()
    });
    let run = Sipp::new("cancel", engine.sip_udp).run();
    run.assert_success();
    assert!(
        run.responses_to("CANCEL").any(|m| m.status() == Some(200)),
        "no 200 for the CANCEL"
    );
    assert!(
        run.responses_to("INVITE").any(|m| m.status() == Some(487)),
        "no 487 for the INVITE"
    );
    engine.wait_event("cancelled", secs(5), |_| true);
    assert!(
        engine.events_named("answered").is_empty(),
        "a cancelled call was answered:\n{}",
        engine.events_text()
    );
}

#[test]
fn hold_reverses_the_direction_and_stops_rtp_until_unhold() {
    // A 3 s prompt is still playing when the caller holds, 500 ms after ACK.
    let engine = Engine::start(EngineOptions {
        prompt_frames: 150,
        ..EngineOptions::default()
    });
    let peer = RtpPeer::bind();
    let sipp = Sipp::new("call_hold_unhold", engine.sip_udp)
        .offer(&Offer::new(peer.port()))
        .spawn();
    engine.wait_event("hold", secs(5), |_| true);
    let held = Instant::now();
    engine.wait_event("unhold", secs(5), |_| true);
    let resumed = Instant::now();
    let run = sipp.wait();
    run.assert_success();

    let answers: Vec<_> = run
        .responses_to("INVITE")
        .filter(|m| m.status() == Some(200))
        .collect();
    assert_eq!(
        answers.len(),
        3,
        "expected 200s for the INVITE and both re-INVITEs"
    );
    assert_eq!(
        answers[1].sdp_direction(),
        "recvonly",
        "answer to sendonly:\n{}",
        answers[1].text
    );
    assert_eq!(
        answers[2].sdp_direction(),
        "sendrecv",
        "answer to sendrecv:\n{}",
        answers[2].text
    );

    let got = peer.received();
    let before = got.iter().filter(|r| r.at < held).count();
    assert!(
        before >= 10,
        "only {before} packets before hold; was the prompt playing?"
    );
    let during: Vec<_> = got
        .iter()
        .filter(|r| r.at > held + ms(100) && r.at + ms(50) < resumed)
        .collect();
    assert!(
        during.is_empty(),
        "{} RTP packets arrived while the call was on hold (window {:?})",
        during.len(),
        resumed.duration_since(held)
    );
    assert_hangup(&engine, "caller", "bye");
}

#[test]
fn options_gets_200_with_allow() {
    let engine = Engine::start(EngineOptions::default());
    let run = Sipp::new("options", engine.sip_udp).run();
    run.assert_success();
    let ok = run.response(200).expect("a 200");
    let allow = ok.header("Allow").unwrap_or_default().to_ascii_uppercase();
    for m in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"] {
        assert!(allow.contains(m), "Allow lacks {m}: {allow}");
    }
}

#[test]
fn caller_bye_gets_200_and_ends_the_call() {
    let engine = Engine::start(EngineOptions::default());
    let run = Sipp::new("call_bye", engine.sip_udp).pause(ms(200)).run();
    run.assert_success();
    assert!(
        run.responses_to("BYE").any(|m| m.status() == Some(200)),
        "BYE not answered 200"
    );
    assert_hangup(&engine, "caller", "bye");
    ended(&engine);
}

#[test]
fn demo_timeout_makes_the_engine_hang_up() {
    let engine = Engine::start(EngineOptions {
        demo_timeout: secs(2),
        ..EngineOptions::default()
    });
    let peer = RtpPeer::bind();
    let started = Instant::now();
    let run = Sipp::new("call_wait_bye", engine.sip_udp)
        .offer(&Offer::new(peer.port()))
        .run();
    run.assert_success();
    assert!(
        started.elapsed() < secs(6),
        "the BYE came {:?} after the call started",
        started.elapsed()
    );
    assert_hangup(&engine, "engine", "timeout");
    let end = ended(&engine);
    let d = end.u64("duration_ms").unwrap_or(0);
    assert!(
        (1800..=3500).contains(&d),
        "duration_ms {d} for a 2 s timeout: {end}"
    );
}

#[test]
fn a_caller_whose_media_stops_is_hung_up_after_the_rtp_timeout() {
    // The caller's line drops without a BYE: no RTP, no RTCP. The engine must not keep the call
    // (and its ports) forever.
    let engine = Engine::start(EngineOptions {
        demo_timeout: secs(60),
        rtp_timeout: Some(secs(2)),
        ..EngineOptions::default()
    });
    let peer = RtpPeer::bind();
    let started = Instant::now();
    let run = Sipp::new("call_wait_bye", engine.sip_udp)
        .offer(&Offer::new(peer.port()))
        .run();
    run.assert_success();
    assert!(
        started.elapsed() < secs(8),
        "the BYE came {:?} after the call started",
        started.elapsed()
    );
    assert_hangup(&engine, "engine", "rtp_timeout");
}
