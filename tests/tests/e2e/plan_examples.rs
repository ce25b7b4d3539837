//! The example clinic and delivery-notice plans over real SIP: a caller presses RFC 4733 keys
//! when the events log shows the plan waiting for them; the tests check the path, the intents,
//! the webhook the plan called and how the call ended.

use crate::plans::{
    at_node, call_events, engine_with_example, hangup_of, nth_call, path, Backend, Caller, Reply,
};
use crate::secs;

/// The intents recognised on the call, in order.
fn intents(engine: &ivr_tests::Engine, call: &str) -> Vec<String> {
    call_events(engine, call, "intent")
        .iter()
        .filter_map(|e| e.str("name").map(str::to_string))
        .collect()
}

/// One engine serves two callers at once: one cancels an appointment by keys in English, the other chooses Chinese
/// and presses 0 for reception.
#[test]
fn clinic_callers_cancel_in_english_and_reach_reception_in_chinese_by_keys() {
    let backend = Backend::start(Reply::Json(200, r#"{"cancelled": true}"#));
    let (_dir, engine) = engine_with_example("clinic.yaml", backend.port);
    let mut english = Caller::call(&engine, secs(25));
    let en = nth_call(&engine, 0);
    let mut chinese = Caller::call(&engine, secs(25));
    let zh = nth_call(&engine, 1);

    at_node(&engine, &en, "choose_language", 1);
    english.press("1");
    at_node(&engine, &zh, "choose_language", 1);
    chinese.press("2");
    at_node(&engine, &en, "menu", 1);
    english.press("2");
    at_node(&engine, &zh, "menu", 1);
    chinese.press("0");
    at_node(&engine, &en, "ask_reference", 1);
    english.press("482913");
    at_node(&engine, &en, "confirm_cancel", 1);
    english.press("1");
    at_node(&engine, &en, "anything_else", 1);
    english.press("2");

    // English: cancelled through the backend, then goodbye and the engine hangs up.
    assert_eq!(hangup_of(&engine, &en), ("engine".into(), "plan".into()));
    let run = english.finish();
    run.assert_success();
    assert_eq!(run.requests("BYE").count(), 1, "the engine should send BYE");
    let text = || engine.events_text();
    assert_eq!(
        path(&engine, &en),
        [
            "choose_language",
            "use_english",
            "menu",
            "ask_reference",
            "confirm_cancel",
            "cancel",
            "anything_else",
            "goodbye"
        ],
        "{}",
        text()
    );
    assert_eq!(
        intents(&engine, &en),
        ["english", "cancel_appointment"],
        "{}",
        text()
    );
    let slot = engine.wait_event("slot", secs(5), |e| e.str("slot") == Some("reference"));
    assert_eq!(slot.str("value"), Some("482913"), "{}", text());
    let requests = backend.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let body: serde_json::Value = serde_json::from_str(&requests[0]).unwrap();
    assert_eq!(body["slots"]["reference"], "482913", "{body}");
    assert_eq!(body["plan"], "riverside-clinic", "{body}");
    assert_eq!(body["call_id"], en.as_str(), "{body}");
    let hook = engine.wait_event("webhook", secs(5), |e| e.call_id() == en);
    assert_eq!(hook.str("node"), Some("cancel"), "{}", text());
    engine.wait_event("say", secs(5), |e| {
        e.call_id() == en
            && e.str("language") == Some("en-US")
            && e.str("text")
                .is_some_and(|t| t.contains("Your appointment 4 8 2 9 1 3 is cancelled"))
    });
    engine.wait_event("say", secs(5), |e| {
        e.call_id() == en
            && e.str("text") == Some("Thank you for calling Riverside Clinic. Goodbye.")
    });
    let digits = call_events(&engine, &en, "digit");
    let keys: String = digits.iter().filter_map(|d| d.str("digit")).collect();
    assert_eq!(keys, "12482913".to_owned() + "12", "{}", text());
    assert!(
        digits.iter().all(|d| d.str("method") == Some("rfc4733")),
        "{}",
        text()
    );

    // Chinese: 0 is the global `agent` intent: reception gets the call with its context.
    let queued = engine.wait_event("enqueued", secs(10), |e| e.call_id() == zh);
    assert_eq!(queued.str("queue"), Some("reception"), "{}", text());
    let ctx = &queued.0["context"];
    assert_eq!(ctx["reason"], "asked", "{}", text());
    assert_eq!(ctx["language"], "zh-CN", "{}", text());
    assert_eq!(
        ctx["path"],
        serde_json::json!(["choose_language", "use_chinese", "menu", "agent"]),
        "{}",
        text()
    );
    assert_eq!(intents(&engine, &zh), ["chinese", "agent"], "{}", text());
    let esc = engine.wait_event("escalation", secs(5), |e| e.call_id() == zh);
    assert_eq!(esc.str("reason"), Some("asked"), "{}", text());
    engine.wait_event("say", secs(5), |e| {
        e.call_id() == zh
            && e.str("language") == Some("zh-CN")
            && e.str("text") == Some("请稍候，正在为您转接前台。")
    });
    // A queued caller waits until they hang up.
    chinese.hang_up(&zh);
    assert_eq!(hangup_of(&engine, &zh), ("caller".into(), "bye".into()));
    chinese.finish().assert_success();
}

#[test]
fn delivery_notice_callee_confirms_by_key_and_the_engine_hangs_up() {
    let backend = Backend::start(Reply::Json(200, "{}"));
    let (_dir, engine) = engine_with_example("delivery-notice.yaml", backend.port);
    let mut caller = Caller::call(&engine, secs(25));
    let call = nth_call(&engine, 0);

    at_node(&engine, &call, "notice", 1);
    caller.press("1");

    assert_eq!(hangup_of(&engine, &call), ("engine".into(), "plan".into()));
    caller.finish().assert_success();
    let text = engine.events_text();
    assert_eq!(
        path(&engine, &call),
        ["notice", "confirmed", "bye"],
        "{text}"
    );
    assert_eq!(intents(&engine, &call), ["confirm"], "{text}");
    // A call placed without campaign data uses the greeting's defaults.
    engine.wait_event("say", secs(5), |e| {
        e.str("text").is_some_and(|t| {
            t.starts_with("Hello there, this is Swift Couriers. Your parcel from us")
        })
    });
    engine.wait_event("say", secs(5), |e| {
        e.str("text")
            == Some(
                "Thank you. We'll see you soon. If you're not in, the driver will leave a card.",
            )
    });
    assert_eq!(
        engine.events_named("plan")[0].str("plan"),
        Some("swift-delivery-notice")
    );
}

#[test]
fn delivery_notice_callee_with_a_new_address_reaches_a_courier() {
    let backend = Backend::start(Reply::Json(200, "{}"));
    let (_dir, engine) = engine_with_example("delivery-notice.yaml", backend.port);
    let mut caller = Caller::call(&engine, secs(25));
    let call = nth_call(&engine, 0);

    at_node(&engine, &call, "notice", 1);
    caller.press("3");

    let text = || engine.events_text();
    let queued = engine.wait_event("enqueued", secs(10), |e| e.call_id() == call);
    assert_eq!(queued.str("queue"), Some("couriers"), "{}", text());
    assert_eq!(queued.0["priority"], 2, "{}", text());
    let ctx = &queued.0["context"];
    assert_eq!(ctx["reason"], "plan", "{}", text());
    assert_eq!(
        ctx["path"],
        serde_json::json!(["notice", "address_change", "agent"]),
        "{}",
        text()
    );
    assert_eq!(intents(&engine, &call), ["change_address"], "{}", text());
    assert!(
        ctx["transcript"].as_array().is_some_and(|t| t
            .iter()
            .any(|turn| turn["who"] == "caller" && turn["text"] == "3")),
        "the handoff transcript should hold the key: {}",
        text()
    );
    caller.hang_up(&call);
    assert_eq!(hangup_of(&engine, &call), ("caller".into(), "bye".into()));
    caller.finish().assert_success();
}
