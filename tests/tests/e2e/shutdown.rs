//! SIGTERM: a drain that refuses new calls and lets active ones finish; a second SIGTERM hangs up
//! every call at once. The engine exits 0 either way.

use std::time::Instant;

use ivr_tests::{Engine, EngineOptions, Offer, RtpPeer, Sipp};

use crate::{assert_hangup, ms, secs};

/// A new INVITE during the drain gets 503 with Retry-After (the scenario checks both).
fn assert_new_call_refused(engine: &Engine) {
    let run = Sipp::new("invite_unavailable", engine.sip_udp).run();
    run.assert_success();
}

#[test]
fn sigterm_refuses_new_calls_and_lets_the_active_call_finish() {
    // The 4 s prompt is still playing after the SIGTERM.
    let mut engine = Engine::start(EngineOptions {
        prompt_frames: 200,
        ..EngineOptions::default()
    });
    let peer = RtpPeer::bind();
    let active = Sipp::new("call_bye", engine.sip_udp)
        .offer(&Offer::new(peer.port()))
        .pause(ms(3000))
        .spawn();
    engine.wait_event("answered", secs(5), |_| true);
    peer.engine_addr(secs(5));
    engine.sigterm();
    let signalled = Instant::now();
    assert_new_call_refused(&engine);
    let after = peer.wait_for(secs(2), |r| r.iter().any(|p| p.at > signalled + ms(100)));
    assert!(
        after.iter().any(|p| p.at > signalled + ms(100)),
        "RTP stopped at the SIGTERM"
    );
    assert!(
        engine.is_running(),
        "the engine quit with a call still active"
    );

    active.wait().assert_success();
    assert_hangup(&engine, "caller", "bye");
    let status = engine.wait_exit(secs(5));
    assert_eq!(status.code(), Some(0), "exit status after the drain");
    assert_eq!(
        engine.events_named("answered").len(),
        1,
        "{}",
        engine.events_text()
    );
}

#[test]
fn second_sigterm_hangs_up_every_call_at_once() {
    let mut engine = Engine::start(EngineOptions::default());
    let calls = Sipp::new("call_wait_bye", engine.sip_udp).calls(2).spawn();
    engine.wait_events("answered", 2, secs(5));
    engine.sigterm();
    // Once a new call is refused the drain has begun; then the second signal.
    assert_new_call_refused(&engine);
    engine.sigterm();
    let signalled = Instant::now();
    let hangups = engine.wait_events("hangup", 2, secs(5));
    assert!(
        signalled.elapsed() < secs(3),
        "the BYEs took {:?}",
        signalled.elapsed()
    );
    for h in &hangups {
        assert_eq!(
            (h.str("by"), h.str("cause")),
            (Some("engine"), Some("drain")),
            "{h}"
        );
    }
    let run = calls.wait();
    run.assert_success();
    assert_eq!(
        run.requests("BYE").count(),
        2,
        "each call should get one BYE"
    );
    let status = engine.wait_exit(secs(5));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after the second SIGTERM"
    );
}
