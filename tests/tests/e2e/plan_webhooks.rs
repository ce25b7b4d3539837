//! A plan's webhook failing during a real call: the backend answers 500, answers with a body that
//! is not JSON, or never answers. Each time the call takes the plan's `on_error` path, the event
//! log says why (`webhook_error` with its kind), and the engine hangs up after the apology.

use ivr_tests::Engine;

use crate::plans::{
    at_node, engine_with, hangup_of, nth_call, path, plan_dir, Backend, Caller, Reply,
};
use crate::secs;

/// A plan that looks the caller up as soon as it answers.
fn plan(port: u16, retries: u32) -> String {
    format!(
        r#"
version: 1
name: lookup
language: en-US
settings: {{ escalate_to: failed }}
start: lookup
nodes:
  lookup:
    webhook: {{ url: "http://127.0.0.1:{port}/lookup", timeout: 1s, retries: {retries}, on_error: failed }}
    say: "Your balance is {{{{ webhook.balance | money }}}}."
    next: bye
  bye:
    hangup: {{ say: "Goodbye." }}
  failed:
    say: "Sorry, our system is not answering."
    next: hang_up
  hang_up:
    hangup: true
"#
    )
}

/// Runs one call against a backend answering with `reply`; returns the engine (for its events)
/// and the call id once the call has ended.
fn call_with_backend(reply: Reply, retries: u32) -> (Engine, String, Backend, tempfile::TempDir) {
    let backend = Backend::start(reply);
    let (dir, plans) = plan_dir("lookup.yaml", &plan(backend.port, retries));
    let engine = engine_with(&plans);
    let caller = Caller::call(&engine, secs(20));
    let call = nth_call(&engine, 0);
    at_node(&engine, &call, "hang_up", 1);
    assert_eq!(hangup_of(&engine, &call), ("engine".into(), "plan".into()));
    caller.finish().assert_success();
    (engine, call, backend, dir)
}

/// Asserts the call failed over with `kind` at `lookup` and took the error path to its end.
fn assert_error_path(engine: &Engine, call: &str, kind: &str) {
    let text = engine.events_text();
    let err = engine.wait_event("webhook_error", secs(5), |e| e.call_id() == call);
    assert_eq!(err.str("error"), Some(kind), "{text}");
    assert_eq!(err.str("node"), Some("lookup"), "{text}");
    assert_eq!(
        path(engine, call),
        ["lookup", "failed", "hang_up"],
        "{text}"
    );
    assert!(
        engine.events_named("webhook").is_empty(),
        "no webhook succeeded: {text}"
    );
    engine.wait_event("say", secs(5), |e| {
        e.str("text") == Some("Sorry, our system is not answering.")
    });
    assert!(
        !text.contains("Your balance"),
        "the success prompt was said: {text}"
    );
}

#[test]
fn webhook_answering_500_is_retried_then_the_call_takes_the_error_path() {
    let (engine, call, backend, _dir) =
        call_with_backend(Reply::Json(500, r#"{"error": "down"}"#), 1);
    assert_error_path(&engine, &call, "status");
    // `retries: 1`: the 500 was tried twice, each time with the call's context.
    let requests = backend.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let body: serde_json::Value = serde_json::from_str(&requests[1]).unwrap();
    assert_eq!(body["call_id"], call.as_str(), "{body}");
    assert_eq!(body["caller"]["number"], "+15551230000", "{body}");
}

#[test]
fn webhook_answering_invalid_json_takes_the_error_path() {
    let (engine, call, backend, _dir) = call_with_backend(Reply::Json(200, "{\"balance\": 12,"), 1);
    assert_error_path(&engine, &call, "bad_body");
    // A body that is not JSON is not retried: the request itself worked.
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn webhook_never_answering_times_out_into_the_error_path() {
    let (engine, call, backend, _dir) = call_with_backend(Reply::Silent, 0);
    assert_error_path(&engine, &call, "timeout");
    assert_eq!(backend.requests().len(), 1);
    // The timeout is the plan's 1 s, measured on the engine's own record of the call.
    let started = engine.wait_event("plan", secs(1), |_| true);
    let failed = engine.wait_event("webhook_error", secs(1), |_| true);
    let waited = (ms_of_day(&failed) - ms_of_day(&started)).rem_euclid(86_400_000);
    assert!(
        (900..5000).contains(&waited),
        "the webhook failed {waited} ms after the call started; expected about 1 s"
    );
}

/// The milliseconds since midnight of an event's `ts` (`2026-11-21T02:41:04.427Z`).
fn ms_of_day(e: &ivr_tests::Event) -> i64 {
    let ts = e.str("ts").expect("every event has a ts");
    let time = ts.split('T').nth(1).expect("an RFC 3339 time");
    let time = time.trim_end_matches('Z');
    let mut parts = time.split(':');
    let mut next = || parts.next().expect("HH:MM:SS.mmm").parse::<f64>().unwrap();
    let (h, m, s) = (next(), next(), next());
    ((h * 3600.0 + m * 60.0 + s) * 1000.0).round() as i64
}
