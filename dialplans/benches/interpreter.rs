//! Interpreter overhead: microseconds per input on a bank-like plan, matching included.
//!
//! `cargo bench -p ivr-dialplans --bench interpreter` runs whole calls (greeting, a spoken
//! intent, eight keyed digits, a webhook, a yes/no confirm, goodbye) and prints the mean time per
//! `Session::handle` call, and per call.

use std::hint::black_box;
use std::time::Instant;

use ivr_dialplans::interpreter::{CallInfo, CompiledPlan, Input, Session};

const PLAN: &str = r#"
version: 1
name: acme-bank
language: en-US
settings: { escalate_to: agent, timezone: America/New_York }
calendars:
  business: { hours: { daily: "00:00-24:00" }, holidays: ["2026-12-25"] }
intents:
  balance:   { examples: ["check my balance", "how much money do I have", "what's my balance", "account balance"], dtmf: "1" }
  lost_card: { examples: ["I lost my card", "my card was stolen", "block my card"], dtmf: "2" }
  transfer:  { examples: ["transfer money", "send money to someone", "move funds"], dtmf: "3" }
  hours:     { examples: ["when are you open", "opening hours"], dtmf: "4" }
  agent:     { examples: ["talk to a person", "representative", "agent"], dtmf: "0", global: true }
  repeat:    { examples: ["say that again", "repeat"], global: true }
start: hours_check
nodes:
  hours_check:
    branch:
      - if: "not open(business) or holiday(business)"
        then: agent
      - else: main
  main:
    say: "Welcome to Acme Bank. Say check balance, lost card, transfer, or agent."
    listen: { intents: [balance, lost_card, transfer, hours] }
    on: { balance: ask_account, lost_card: agent, transfer: agent, hours: agent }
  ask_account:
    collect: { slot: account, type: digits, length: 8, sensitive: true, prompt: "Please key in your eight digit account number." }
    next: lookup
  lookup:
    webhook: { url: "http://127.0.0.1:8080/balance", on_error: agent }
    say: "Your balance on account {{ slots.account | digits }} is {{ webhook.balance | money }}."
    next: count
  count:
    set: { vars.lookups: "{{ vars.lookups + 1 }}" }
    next: anything_else
  anything_else:
    confirm: "Is there anything else?"
    on: { yes: main, no: bye }
  bye:
    hangup: { say: "Goodbye." }
  agent:
    say: "Let me get someone to help you."
    enqueue: { queue: support, priority: 1 }
"#;

fn main() {
    let plan = ivr_dialplans::load_str("bank.yaml", PLAN).expect("plan loads");
    let plan = CompiledPlan::new(plan);
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")
        .expect("valid time")
        .to_utc();
    let mut script: Vec<Input> = vec![Input::Speech {
        text: "what's my balance please".into(),
        confidence: 0.9,
    }];
    script.extend("12345678".chars().map(Input::Digit));
    script.push(Input::WebhookResult(Ok(
        serde_json::json!({ "balance": 1234.5, "tier": "gold" }),
    )));
    script.push(Input::Speech {
        text: "no thanks".into(),
        confidence: 0.9,
    });

    let run = |calls: usize| {
        let mut handled = 0usize;
        for i in 0..calls {
            let mut s = Session::new(
                plan.clone(),
                CallInfo::new(&format!("c{i}"), "+15551230000"),
            );
            black_box(s.start(now));
            for input in &script {
                black_box(s.handle(input.clone(), now));
                handled += 1;
            }
            assert!(s.is_finished(), "the scripted call ends");
        }
        handled
    };
    run(200); // warm-up
    let calls = 5_000;
    let t = Instant::now();
    let handled = run(calls);
    let elapsed = t.elapsed();
    let per_event = elapsed.as_secs_f64() * 1e6 / handled as f64;
    let per_call = elapsed.as_secs_f64() * 1e6 / calls as f64;
    println!(
        "interpreter: {handled} inputs in {calls} calls, {per_event:.2} µs per input, {per_call:.1} µs per call (start included)"
    );
}
