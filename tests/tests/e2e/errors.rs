//! Requests the engine refuses, and how.

use ivr_tests::sip::{invite_text, RawSip};
use ivr_tests::{Engine, EngineOptions, Offer, Sipp, SippRun};

use crate::secs;

fn assert_allow_lists_invite(run: &SippRun, status: u16) {
    let r = run
        .response(status)
        .unwrap_or_else(|| panic!("no {status}:\n{}", run.diagnostics()));
    let allow = r
        .header("Allow")
        .unwrap_or_else(|| panic!("{status} without Allow:\n{}", r.text));
    assert!(
        allow.to_ascii_uppercase().contains("INVITE"),
        "Allow: {allow}"
    );
}

#[test]
fn bye_for_an_unknown_dialog_gets_481() {
    let engine = Engine::start(EngineOptions::default());
    Sipp::new("bye_unknown_dialog", engine.sip_udp)
        .run()
        .assert_success();
}

#[test]
fn subscribe_gets_405_with_allow() {
    let engine = Engine::start(EngineOptions::default());
    let run = Sipp::new("unsupported_method", engine.sip_udp)
        .template("METHOD", "SUBSCRIBE")
        .run();
    run.assert_success();
    assert_allow_lists_invite(&run, 405);
}

#[test]
fn message_gets_405_with_allow() {
    let engine = Engine::start(EngineOptions::default());
    let run = Sipp::new("unsupported_method", engine.sip_udp)
        .template("METHOD", "MESSAGE")
        .run();
    run.assert_success();
    assert_allow_lists_invite(&run, 405);
}

/// Sends `text` from a raw socket and returns the final response's status (panics when none
/// comes within 5 s).
fn final_status(engine: &Engine, sock: &RawSip, text: &str) -> u16 {
    sock.send(engine.sip_udp, text.as_bytes());
    let got = sock.until_final(secs(5));
    got.last()
        .and_then(|m| m.status().filter(|&s| s >= 200))
        .unwrap_or_else(|| panic!("no final response to:\n{text}\ngot: {got:#?}"))
}

#[test]
fn invite_with_a_broken_cseq_gets_400() {
    let engine = Engine::start(EngineOptions::default());
    let sock = RawSip::bind("127.0.0.1");
    let text = invite_text(sock.local_addr(), engine.sip_udp, "broken-cseq-1", 40_000)
        .replace("CSeq: 1 INVITE", "CSeq: abc INVITE");
    assert_eq!(final_status(&engine, &sock, &text), 400);
    assert!(
        engine.events_named("answered").is_empty(),
        "{}",
        engine.events_text()
    );
}

#[test]
fn invite_without_call_id_gets_400() {
    let engine = Engine::start(EngineOptions::default());
    let sock = RawSip::bind("127.0.0.1");
    let text = invite_text(sock.local_addr(), engine.sip_udp, "no-call-id-1", 40_000)
        .replace("Call-ID: no-call-id-1\r\n", "");
    assert_eq!(final_status(&engine, &sock, &text), 400);
    assert!(
        engine.events_named("answered").is_empty(),
        "{}",
        engine.events_text()
    );
}

#[test]
fn invite_from_a_source_outside_every_trunk_gets_403() {
    let engine = Engine::start(EngineOptions {
        allow: vec!["127.0.0.2/32".into()],
        ..EngineOptions::default()
    });
    let run = Sipp::new("invite_forbidden", engine.sip_udp).run();
    run.assert_success();
    let rejected = engine.wait_event("rejected", secs(5), |_| true);
    assert_eq!(rejected.u64("status"), Some(403), "{rejected}");
    assert!(
        engine.events_named("answered").is_empty(),
        "{}",
        engine.events_text()
    );
    assert!(
        run.responses_to("INVITE").all(|m| m.status() != Some(180)),
        "rang before refusing"
    );
}

#[test]
fn offer_without_g711_gets_488() {
    let engine = Engine::start(EngineOptions::default());
    let sipp = Sipp::new("invite_not_acceptable", engine.sip_udp);
    let offer = Offer::new(sipp.media_port()).codecs(&[(9, "G722/8000")]);
    sipp.offer(&offer).run().assert_success();
    assert!(
        engine.events_named("answered").is_empty(),
        "{}",
        engine.events_text()
    );
}
