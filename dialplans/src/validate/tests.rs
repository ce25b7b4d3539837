use super::*;
use crate::load::{load_str, MemoryProvider};

const BANK: &str = include_str!("../../tests/plans/bank.yaml");

/// Every problem of a plan text, as `line:column: message — hint` (file name dropped).
fn problems(text: &str) -> Vec<String> {
    let provider = MemoryProvider::new().with("p.yaml", text);
    check(Path::new("p.yaml"), &provider)
        .iter()
        .map(|d| {
            let sev = if d.severity == crate::Severity::Warning {
                "warning: "
            } else {
                ""
            };
            format!("{}:{}: {sev}{}", d.line, d.column, d.message)
        })
        .collect()
}

const HEAD: &str =
    "version: 1\nname: t\nlanguage: en-US\nsettings: { escalate_to: agent }\nstart: a\n";
const AGENT: &str = "  agent:\n    enqueue: support\n";

fn plan(nodes: &str) -> String {
    format!("{HEAD}nodes:\n{nodes}{AGENT}")
}

#[test]
fn bank_example_is_clean() {
    let p = load_str("bank.yaml", BANK).unwrap();
    let d = validate(&p);
    assert!(d.is_empty(), "{}", d.render_human());
}

#[test]
fn clean_minimal_plan_has_no_problems() {
    assert_eq!(
        problems(&plan("  a:\n    say: hi\n    next: agent\n")),
        Vec::<String>::new()
    );
}

#[test]
fn missing_escalate_to_is_a_warning() {
    let text = "version: 1\nname: t\nlanguage: en-US\nstart: a\nnodes:\n  a:\n    hangup: true\n";
    assert_eq!(problems(text), ["1:1: warning: `settings.escalate_to` is not set: stuck callers hear goodbye and are hung up on"]);
}

#[test]
fn unknown_escalate_to_is_an_error() {
    let text = "version: 1\nname: t\nlanguage: en-US\nsettings: { escalate_to: agnet }\nstart: a\nnodes:\n  a:\n    hangup: true\n  agent:\n    enqueue: support\n";
    assert_eq!(
        problems(text),
        [
            "4:26: unknown node `agnet`",
            "9:3: warning: node `agent` is unreachable"
        ]
    );
}

#[test]
fn unreachable_node_is_a_warning() {
    let text = plan("  a:\n    goto: agent\n  lonely:\n    hangup: true\n");
    assert_eq!(
        problems(&text),
        ["9:3: warning: node `lonely` is unreachable"]
    );
}

#[test]
fn node_without_step_or_next_is_a_dead_end() {
    let text = plan("  a:\n    say: hi\n");
    assert_eq!(
        problems(&text),
        ["7:3: node `a` is a dead end: it has no step and no `next`"]
    );
}

#[test]
fn loop_without_exit_is_reported_once_with_its_members() {
    let text = plan("  a:\n    say: hi\n    next: b\n  b:\n    set: { vars.x: 1 }\n    next: a\n");
    assert_eq!(problems(&text), ["7:3: loop with no exit: a → b → a"]);
}

#[test]
fn loop_through_a_listen_can_escalate_and_is_fine() {
    let text = format!(
        "{HEAD}intents:\n  again: {{ examples: [again] }}\nnodes:\n  a:\n    listen: {{ intents: [again] }}\n    on: {{ again: b }}\n  b:\n    goto: a\n{AGENT}"
    );
    assert_eq!(problems(&text), Vec::<String>::new());
}

#[test]
fn node_that_cannot_reach_an_ending_is_an_error() {
    let text = plan("  a:\n    goto: b\n  b:\n    goto: c\n  c:\n    goto: b\n");
    let p = problems(&text);
    assert_eq!(
        p[0],
        "7:3: node `a` cannot reach a hangup, enqueue, transfer or voicemail"
    );
    assert_eq!(p[1], "9:3: loop with no exit: b → c → b");
}

#[test]
fn unknown_intent_in_listen_suggests_a_name() {
    let text = format!(
        "{HEAD}intents:\n  balance: {{ examples: [balance] }}\nnodes:\n  a:\n    listen: {{ intents: [balanse] }}\n    next: agent\n{AGENT}"
    );
    assert_eq!(problems(&text), ["10:25: unknown intent `balanse`"]);
}

#[test]
fn intent_without_examples_is_a_warning() {
    let text = format!(
        "{HEAD}intents:\n  one: {{ dtmf: \"1\" }}\nnodes:\n  a:\n    listen: {{ intents: [one] }}\n    on: {{ one: agent }}\n{AGENT}"
    );
    assert_eq!(
        problems(&text),
        ["7:3: warning: intent `one` has no examples"]
    );
}

#[test]
fn same_dtmf_key_twice_in_a_listen_including_globals() {
    let text = format!(
        "{HEAD}intents:\n  one: {{ examples: [one], dtmf: \"0\" }}\n  two: {{ examples: [two], dtmf: \"1\" }}\n  three: {{ examples: [three], dtmf: \"1\" }}\n  agent: {{ examples: [agent], dtmf: \"0\", global: true }}\nnodes:\n  a:\n    listen: {{ intents: [one, two, three] }}\n    next: agent\n{AGENT}"
    );
    assert_eq!(
        problems(&text),
        [
            "13:25: key 0 is used by both `agent` and `one` in node `a`",
            "13:35: key 1 is used by both `two` and `three` in node `a`"
        ]
    );
}

#[test]
fn on_entry_for_an_intent_the_listen_does_not_hear() {
    let text = format!(
        "{HEAD}intents:\n  one: {{ examples: [one] }}\n  two: {{ examples: [two] }}\nnodes:\n  a:\n    listen: {{ intents: [one] }}\n    on: {{ one: agent, two: agent }}\n{AGENT}"
    );
    assert_eq!(
        problems(&text),
        ["12:23: node `a` has an `on` entry for intent `two` but does not listen for it"]
    );
}

#[test]
fn slot_never_collected_and_unknown_roots_in_templates() {
    let text = plan(
        "  a:\n    say: \"{{ slots.acount }} {{ user.name }} {{ vars.n }}\"\n    next: agent\n",
    );
    assert_eq!(
        problems(&text),
        [
            "8:10: `vars.n` is never set",
            "8:10: slot `acount` is never collected",
            "8:10: unknown variable `user.name`"
        ]
    );
}

#[test]
fn slot_used_before_it_is_collected() {
    let text = plan(
        "  a:\n    say: \"{{ slots.pin }}\"\n    next: b\n  b:\n    collect: { slot: pin, type: digits }\n    next: agent\n",
    );
    assert_eq!(
        problems(&text),
        ["8:10: slot `pin` is never collected on any path to node `a`"]
    );
    let ok = plan("  a:\n    say: \"{{ slots.pin | default(\\\"none\\\") }}\"\n    next: b\n  b:\n    collect: { slot: pin, type: digits }\n    next: agent\n");
    assert_eq!(problems(&ok), Vec::<String>::new());
}

#[test]
fn webhook_value_used_where_no_webhook_runs() {
    let text = plan(
        "  a:\n    say: \"{{ webhook.balance }}\"\n    next: b\n  b:\n    webhook: { url: \"http://x/y\" }\n    say: \"{{ webhook.balance }}\"\n    next: agent\n",
    );
    assert_eq!(
        problems(&text),
        ["8:10: `webhook.balance` is used in node `a` but no webhook runs on any path to it"]
    );
}

#[test]
fn webhook_urls_must_parse_and_be_http() {
    let text = plan(
        "  a:\n    webhook: { url: \"ftp://x/y\" }\n    next: b\n  b:\n    webhook: { url: \"not a url\" }\n    next: agent\n",
    );
    assert_eq!(
        problems(&text),
        [
            "8:22: webhook URL scheme `ftp` is not http or https",
            "11:22: webhook URL `not a url` does not parse: relative URL without a base"
        ]
    );
}

#[test]
fn prompt_missing_a_declared_language() {
    let text = "version: 1\nname: t\nlanguage: en-US\nlanguages: [en-US, zh-CN]\nsettings: { escalate_to: a }\nstart: a\nnodes:\n  a:\n    say: { en-US: Hello }\n    hangup: true\n";
    assert_eq!(problems(text), ["9:10: prompt has no zh-CN text"]);
}

#[test]
fn unknown_calendar_flow_and_slot_references() {
    let text = plan(
        "  a:\n    branch:\n      - if: \"open(busines)\"\n        then: b\n      - else: b\n  b:\n    call: verfy\n    next: c\n  c:\n    enqueue: { queue: q, context: [acount] }\n",
    );
    assert_eq!(
        problems(&text),
        [
            "9:14: `open(busines)` names unknown calendar `busines`",
            "13:11: unknown flow `verfy`",
            "16:36: unknown slot `acount`",
        ]
    );
}

#[test]
fn global_intent_needs_a_top_level_on_entry() {
    let text = format!(
        "{HEAD}intents:\n  billing: {{ examples: [billing], global: true }}\nnodes:\n  a:\n    listen: {{ intents: [] }}\n    next: agent\n{AGENT}"
    );
    assert_eq!(
        problems(&text),
        ["7:3: global intent `billing` has no top-level `on` entry"]
    );
}

#[test]
fn check_paths_reports_unreadable_files_as_could_not_run() {
    let (d, could_run) = check_paths(&[PathBuf::from("/nonexistent/plan.yaml")]);
    assert!(!could_run);
    assert_eq!(d.len(), 1);
}
