//! Hot reload of dial plans while calls are up: the plans folder changes under a running engine.
//! A changed plan is picked up (by the file watcher, or at once on SIGHUP) and answers new calls;
//! a call in progress finishes on the version it started with; a broken plan is rejected with
//! its problems in the log, and the version in service keeps serving.

use ivr_tests::Engine;

use crate::plans::{
    at_node, call_events, engine_with, hangup_of, nth_call, path, plain_log, plan_dir, sighup,
    wait_log, write_atomically, Caller,
};
use crate::secs;

/// Version `v` of a plan whose node names and prompts carry the version.
fn plan(v: u32) -> String {
    format!(
        r#"
version: 1
name: reloadable
language: en-US
settings: {{ escalate_to: bye_v{v}, no_input: 30s }}
intents:
  go: {{ examples: ["go on"], dtmf: "1" }}
start: hello_v{v}
nodes:
  hello_v{v}:
    say: "This is version {v}."
    listen: {{ intents: [go] }}
    on: {{ go: bye_v{v} }}
  bye_v{v}:
    hangup: {{ say: "Goodbye from version {v}." }}
"#
    )
}

/// The plan's fingerprint on a call's `plan` event.
fn fingerprint(engine: &Engine, call: &str) -> String {
    call_events(engine, call, "plan")[0]
        .str("fingerprint")
        .expect("the plan event has a fingerprint")
        .to_string()
}

/// Presses 1 on a call waiting at `hello_v{v}` and checks it ends at `bye_v{v}`.
fn finish_on_version(engine: &Engine, caller: &mut Caller, call: &str, v: u32) {
    caller.press("1");
    assert_eq!(hangup_of(engine, call), ("engine".into(), "plan".into()));
    assert_eq!(
        path(engine, call),
        [format!("hello_v{v}"), format!("bye_v{v}")],
        "{}",
        engine.events_text()
    );
    engine.wait_event("say", secs(5), |e| {
        e.call_id() == call && e.str("text") == Some(&*format!("Goodbye from version {v}."))
    });
}

#[test]
fn a_changed_plan_answers_new_calls_while_the_call_in_progress_keeps_its_version() {
    let (_dir, plans) = plan_dir("reloadable.yaml", &plan(1));
    let engine = engine_with(&plans);
    let mut first = Caller::call(&engine, secs(25));
    let a = nth_call(&engine, 0);
    at_node(&engine, &a, "hello_v1", 1);

    // The file changes while the first call waits at version 1's menu; the watcher reloads it.
    write_atomically(&plans.join("reloadable.yaml"), &plan(2));
    let log = wait_log(&engine, "dial plan loaded plan=reloadable ", 2);
    assert!(
        log.contains("a dial plan file changed; reloading"),
        "the reload should come from the file watcher:\n{log}"
    );

    // A new call, while the first is still up, gets version 2.
    let mut second = Caller::call(&engine, secs(25));
    let b = nth_call(&engine, 1);
    at_node(&engine, &b, "hello_v2", 1);
    assert_ne!(
        fingerprint(&engine, &a),
        fingerprint(&engine, &b),
        "the two versions should have different fingerprints"
    );

    // The first call goes on through version 1's nodes, the second through version 2's.
    finish_on_version(&engine, &mut first, &a, 1);
    finish_on_version(&engine, &mut second, &b, 2);
    first.finish().assert_success();
    second.finish().assert_success();
}

#[test]
fn a_broken_plan_is_rejected_and_the_running_version_serves_until_sighup_loads_a_good_one() {
    let (_dir, plans) = plan_dir("reloadable.yaml", &plan(1));
    let engine = engine_with(&plans);
    let mut first = Caller::call(&engine, secs(25));
    let a = nth_call(&engine, 0);
    at_node(&engine, &a, "hello_v1", 1);

    // A broken version: a target that does not exist.
    let broken = plan(2).replace("on: { go: bye_v2 }", "on: { go: byee }");
    write_atomically(&plans.join("reloadable.yaml"), &broken);
    let log = wait_log(&engine, "dial plan rejected; the running version stays", 1);
    assert!(
        log.contains("reloadable.yaml:13:") && log.contains("unknown node `byee`"),
        "the rejection should name the file, the line and the problem:\n{log}"
    );

    // New calls still get version 1.
    let mut second = Caller::call(&engine, secs(25));
    let b = nth_call(&engine, 1);
    at_node(&engine, &b, "hello_v1", 1);
    assert_eq!(fingerprint(&engine, &a), fingerprint(&engine, &b));
    finish_on_version(&engine, &mut second, &b, 1);
    second.finish().assert_success();

    // A good version and SIGHUP: loaded at once, not at the watcher's next look.
    write_atomically(&plans.join("reloadable.yaml"), &plan(3));
    sighup(&engine);
    let log = wait_log(&engine, "dial plan loaded plan=reloadable ", 2);
    assert!(log.contains("SIGHUP: reloading dial plans"), "{log}");
    let mut third = Caller::call(&engine, secs(25));
    let c = nth_call(&engine, 2);
    at_node(&engine, &c, "hello_v3", 1);
    finish_on_version(&engine, &mut third, &c, 3);
    third.finish().assert_success();

    // The first call, up through all of it, still ends on version 1.
    finish_on_version(&engine, &mut first, &a, 1);
    first.finish().assert_success();
    assert!(
        plain_log(&engine).matches("dial plan rejected").count() >= 1,
        "{}",
        engine.events_text()
    );
}
