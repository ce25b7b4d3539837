use std::path::Path;

use super::*;
use crate::load::MemoryProvider;
use crate::testing::Chat;

const PLAN: &str = r#"
version: 1
name: acme-bank
language: en-US
settings: { escalate_to: agent, timezone: America/New_York }
calendars:
  business:
    hours: { mon-fri: "09:00-17:00" }
intents:
  balance: { examples: ["check my balance", "how much money do I have", "what's my balance"], dtmf: "1" }
  agent: { examples: ["talk to a person", "representative"], dtmf: "0", global: true }
start: hours
nodes:
  hours:
    branch:
      - if: "not open(business)"
        then: closed
      - else: main
  closed:
    voicemail: support
  main:
    say: "Welcome to Acme Bank. Say check balance or agent."
    listen: { intents: [balance] }
    on: { balance: ask_account }
  ask_account:
    collect: { slot: account, type: digits, length: 8, sensitive: true, prompt: "Please key in your account number." }
    next: lookup
  lookup:
    webhook: { url: "http://127.0.0.1:8080/balance", on_error: agent }
    say: "Your balance is {{ webhook.balance | money }}."
    next: bye
  bye:
    hangup: { say: "Goodbye." }
  agent:
    say: "Let me get someone to help you."
    enqueue: { queue: support, priority: 1 }
"#;

const TESTS: &str = r##"
plan: bank.yaml
now: "2026-11-20T15:00:00Z"
webhooks:
  "http://127.0.0.1:8080/balance": { balance: 1234.5 }
tests:
  - name: balance by voice
    caller: "+15551230000"
    steps:
      - expect: { says: "Welcome to Acme Bank" }
      - caller: "what's my balance"
        expect: { intent: balance, node: ask_account }
      - caller: "#12345678"
        expect: { says: ["Your balance is $1,234.50", "Goodbye."], slots: { account: "12345678" }, hangup: true }
  - name: stuck caller reaches a person
    steps:
      - caller: "banana"
        expect: { not_says: "Let me get someone" }
      - silence: true
      - caller: null
        expect: { enqueue: { queue: support, context_has: [transcript, path] }, says: "Let me get someone" }
  - name: webhook failure goes to a person
    webhooks:
      "http://127.0.0.1:8080/balance": { error: timeout }
    steps:
      - caller: "#1"
      - caller: "#12345678"
        expect: { enqueue: support }
  - name: after hours goes to voicemail
    now: "2026-11-20T23:30:00Z"
    steps:
      - expect: { voicemail: support }
"##;

fn provider(tests: &str) -> MemoryProvider {
    MemoryProvider::new()
        .with("plans/bank.yaml", PLAN)
        .with("plans/bank.tests.yaml", tests)
}

#[test]
fn runner_passes_a_good_tests_file() {
    let report = run_file(Path::new("plans/bank.tests.yaml"), &provider(TESTS)).unwrap();
    assert!(report.all_passed(), "{report}");
    assert_eq!(report.summary(), "4 passed, 0 failed");
    assert!(report.to_string().starts_with("ok   balance by voice"));
}

#[test]
fn runner_reports_what_was_expected_and_what_happened() {
    let tests = TESTS
        .replace(
            "intent: balance, node: ask_account",
            "intent: agent, node: lookup",
        )
        .replace(
            "slots: { account: \"12345678\" }",
            "slots: { account: \"999\" }",
        );
    let report = run_file(Path::new("plans/bank.tests.yaml"), &provider(&tests)).unwrap();
    assert_eq!(report.summary(), "3 passed, 1 failed");
    let text = report.to_string();
    assert!(text.contains("FAIL balance by voice"), "{text}");
    assert!(
        text.contains("expected intent `agent`, got `balance`"),
        "{text}"
    );
    assert!(
        text.contains("expected node `lookup`, got `ask_account`"),
        "{text}"
    );
    assert!(text.contains("caller: what's my balance"), "{text}");
}

#[test]
fn runner_masks_sensitive_input_in_failure_transcripts() {
    let tests = TESTS.replace("Goodbye.\"]", "Farewell.\"]");
    let report = run_file(Path::new("plans/bank.tests.yaml"), &provider(&tests)).unwrap();
    let text = report.to_string();
    assert!(text.contains("expected to hear \"Farewell.\""), "{text}");
    assert!(text.contains("caller: ****5678"), "{text}");
}

#[test]
fn runner_positions_errors_in_the_tests_file() {
    let tests = TESTS.replace("  - name: balance by voice", "  - nme: balance by voice");
    let err = run_file(Path::new("plans/bank.tests.yaml"), &provider(&tests)).unwrap_err();
    let first = err.iter().next().unwrap().to_string();
    assert!(
        first.starts_with("plans/bank.tests.yaml:7:5: unknown key `nme` in a test"),
        "{first}"
    );
}

#[test]
fn runner_reports_plan_problems() {
    let p = MemoryProvider::new()
        .with("bank.yaml", PLAN.replace("next: bye", "next: byee"))
        .with("t.yaml", TESTS);
    let err = run_file(Path::new("t.yaml"), &p).unwrap_err();
    assert!(err.to_string().contains("byee"), "{err}");
}

#[test]
fn chat_prints_prompts_intents_webhooks_and_the_enqueue() {
    let plan = crate::interpreter::CompiledPlan::new(crate::load_str("bank.yaml", PLAN).unwrap());
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")
        .unwrap()
        .to_utc();
    let mut chat = Chat::new(plan, "+15551230000");
    let lines = chat.start(now);
    assert_eq!(
        lines,
        vec!["ivr: Welcome to Acme Bank. Say check balance or agent."]
    );
    let lines = chat.input("what's my balance", now);
    assert!(
        lines[0].starts_with("  [node main] intent balance "),
        "{lines:?}"
    );
    assert_eq!(lines[1], "ivr: Please key in your account number.");
    // No canned answer: the webhook fails with `connect` and the plan's error path runs.
    let lines = chat.input("#12345678", now);
    assert!(
        lines.contains(&"  [slot account = ****5678]".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"  [webhook POST http://127.0.0.1:8080/balance]".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"  [webhook answer: error connect]".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  [enqueue support priority 1 reason plan")),
        "{lines:?}"
    );
    assert!(chat.is_finished());
    let vars = chat.input("/vars", now).join("\n");
    assert!(
        vars.contains("****5678") && !vars.contains("12345678"),
        "{vars}"
    );
}

#[test]
fn chat_empty_line_is_silence_and_quit_hangs_up() {
    let plan = crate::interpreter::CompiledPlan::new(crate::load_str("bank.yaml", PLAN).unwrap());
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")
        .unwrap()
        .to_utc();
    let mut webhooks = crate::testing::Webhooks::new();
    webhooks.insert(
        "http://127.0.0.1:8080/balance".into(),
        Ok(serde_json::json!({ "balance": 3 })),
    );
    let mut chat = Chat::new(plan, "+1").with_webhooks(webhooks);
    chat.start(now);
    let lines = chat.input("", now);
    assert!(
        lines.iter().any(|l| l.contains("no_input (1 so far)")),
        "{lines:?}"
    );
    let lines = chat.input("/quit", now);
    assert_eq!(lines.last().unwrap(), "  [caller hung up]");
    assert!(chat.is_finished());
}

/// A plan that greets the callee by name from `vars`, and asks for a PIN it may or may not
/// keep sensitive.
fn greeting_plan(sensitive: bool) -> String {
    format!(
        r#"
version: 1
name: notice
language: en-US
settings: {{ escalate_to: agent }}
intents:
  ok: {{ examples: ["yes"], dtmf: "1" }}
start: hello
nodes:
  hello:
    say: "Hello {{{{ vars.name | default(\"there\") }}}}, your parcel comes {{{{ vars.window | default(\"today\") }}}}."
    listen: {{ intents: [ok] }}
    on: {{ ok: pin }}
  pin:
    collect: {{ slot: pin, type: digits, length: 6, sensitive: {sensitive}, prompt: "Your PIN?" }}
    next: check
  check:
    webhook: {{ url: "http://127.0.0.1:9/check", on_error: agent }}
    say: "Thank you."
    next: bye
  bye:
    hangup: true
  agent:
    enqueue: {{ queue: couriers, context: [pin] }}
"#
    )
}

fn run_text(plan: &str, tests: &str) -> TestReport {
    let p = MemoryProvider::new()
        .with("p/plan.yaml", plan)
        .with("p/plan.tests.yaml", tests);
    run_file(Path::new("p/plan.tests.yaml"), &p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn tests_start_calls_with_the_files_and_their_own_variables() {
    let tests = r##"
plan: plan.yaml
vars: { window: "tomorrow" }
tests:
  - name: with a name
    vars: { name: Maria }
    steps:
      - expect: { says: "Hello Maria, your parcel comes tomorrow.", vars: { name: Maria } }
  - name: the test's value wins
    vars: { window: "on Friday" }
    steps:
      - expect: { says: "Hello there, your parcel comes on Friday." }
"##;
    let report = run_text(&greeting_plan(true), tests);
    assert!(report.all_passed(), "{report}");
    let failing = tests.replace("Hello Maria", "Hello Ana");
    let report = run_text(&greeting_plan(true), &failing);
    assert_eq!(report.summary(), "1 passed, 1 failed", "{report}");
}

#[test]
fn transcript_not_contains_passes_when_a_sensitive_value_is_masked_everywhere() {
    let tests = r##"
plan: plan.yaml
tests:
  - name: the pin stays masked
    steps:
      - press: "1"
      - press: "482913"
        expect:
          slots: { pin: "482913" }
          webhook: "http://127.0.0.1:9/check"
          events: [slot, webhook_error]
          enqueue: { queue: couriers, reason: plan, context_has: [pin] }
          transcript_not_contains: ["482913", "48291"]
"##;
    let report = run_text(&greeting_plan(true), tests);
    assert!(report.all_passed(), "{report}");
}

#[test]
fn transcript_not_contains_names_where_a_leaked_value_is_written() {
    let tests = r##"
plan: plan.yaml
tests:
  - name: the pin leaks
    steps:
      - press: "1"
      - press: "482913"
        expect: { transcript_not_contains: "482913" }
"##;
    let report = run_text(&greeting_plan(false), tests);
    let text = report.to_string();
    assert_eq!(report.summary(), "0 passed, 1 failed", "{text}");
    assert!(
        text.contains("\"482913\" is written down in"),
        "the failure should say where the value is written: {text}"
    );
}

#[test]
fn expectations_on_escalation_reason_events_and_language() {
    let tests = r##"
plan: plan.yaml
tests:
  - name: three wrong keys escalate for retries
    language: en-US
    steps:
      - press: "9"
        expect: { events: [no_match], language: en-US }
      - press: "9"
      - press: "9"
        expect:
          escalation: retries
          enqueue: { queue: couriers, reason: retries, context_has: [transcript, path] }
  - name: wrong reason is reported
    steps:
      - press: "999"
        expect: { escalation: asked }
  - name: a missing event is reported with those seen
    steps:
      - press: "1"
        expect: { events: [webhook] }
"##;
    let report = run_text(&greeting_plan(true), tests);
    let text = report.to_string();
    assert_eq!(report.summary(), "1 passed, 2 failed", "{text}");
    assert!(
        text.contains("expected an escalation for `asked`, got `retries`"),
        "{text}"
    );
    assert!(
        text.contains("expected the event `webhook`, got [intent, node"),
        "{text}"
    );
}

#[test]
fn the_caller_hanging_up_ends_the_call_and_later_steps_fail() {
    let tests = r##"
plan: plan.yaml
tests:
  - name: hang up at the greeting
    steps:
      - hangup: true
        expect: { events: [caller_hangup] }
      - press: "1"
"##;
    let report = run_text(&greeting_plan(true), tests);
    let text = report.to_string();
    assert!(
        text.contains("step 2 (keys 1): the call had already ended"),
        "{text}"
    );
}

#[test]
fn steps_with_two_inputs_or_bad_keys_are_positioned_errors() {
    let tests = r##"
plan: plan.yaml
tests:
  - name: two inputs
    steps:
      - press: "1"
        caller: "yes"
      - press: "1x"
"##;
    let p = MemoryProvider::new()
        .with("p/plan.yaml", greeting_plan(true))
        .with("p/plan.tests.yaml", tests);
    let err = run_file(Path::new("p/plan.tests.yaml"), &p)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("p/plan.tests.yaml:7:9: error: a step has one input, but this one has `press` and `caller`"),
        "{err}"
    );
    assert!(err.contains("`x` is not a key"), "{err}");
}
