use std::sync::Arc;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const BANK: &str = r#"
version: 1
name: acme-bank
language: en-US
languages: [en-US, zh-CN]
settings:
  max_retries: 2
  escalate_to: agent
  timezone: America/New_York
calendars:
  business:
    hours: { mon-fri: "09:00-17:00", sat: "10:00-14:00" }
    holidays: ["2026-12-25"]
intents:
  balance:
    examples: { en-US: ["check my balance", "how much money do I have", "what is my balance"], zh-CN: ["查余额", "我的余额是多少"] }
    dtmf: "1"
  lost_card:
    examples: { en-US: ["I lost my card", "my card was stolen"], zh-CN: ["我的卡丢了"] }
    dtmf: "2"
  questions:
    examples: { en-US: ["I have a question"], zh-CN: ["我有问题"] }
    dtmf: "3"
  agent:
    examples: { en-US: ["talk to a person", "representative", "agent"], zh-CN: ["人工服务"] }
    dtmf: "0"
    global: true
  repeat:
    examples: { en-US: ["say that again", "repeat"], zh-CN: ["再说一遍"] }
    dtmf: "*"
    global: true
faq:
  - q: ["What are your opening hours?", "When are you open?"]
    a: { en-US: "We are open nine to five.", zh-CN: "我们的营业时间是九点到五点。" }
  - q: ["Where is the nearest branch?"]
    a: { en-US: "Our branch is on Main Street.", zh-CN: "我们的分行在主街。" }
start: hours_check
nodes:
  hours_check:
    branch:
      - if: "holiday(business)"
        then: holiday
      - if: "not open(business)"
        then: after_hours
      - else: main
  holiday:
    say: { en-US: "We are closed for the holiday.", zh-CN: "节日休息。" }
    hangup: true
  after_hours:
    say: { en-US: "We are closed. Please leave a message.", zh-CN: "我们已下班，请留言。" }
    voicemail: { mailbox: support, max_length: 120s }
  main:
    say:
      en-US: ["Welcome to Acme Bank. Say check balance, lost card, or agent.", "Say balance or lost card."]
      zh-CN: "欢迎致电Acme银行。"
    listen:
      intents: [balance, lost_card, questions]
      no_input: { en-US: ["Sorry, I didn't hear you.", "Still there?"], zh-CN: "抱歉，我没有听到。" }
      no_match: { en-US: "Sorry, I didn't get that.", zh-CN: "抱歉。" }
    on: { balance: ask_account, lost_card: confirm_block, questions: ask_faq }
  ask_account:
    collect:
      slot: account
      type: digits
      length: 8
      sensitive: true
      prompt: { en-US: "Please key in or say your eight digit account number.", zh-CN: "请输入您的八位账号。" }
      retry: { en-US: "That wasn't eight digits.", zh-CN: "不是八位。" }
    next: lookup
  lookup:
    webhook: { url: "http://127.0.0.1:8080/balance", timeout: 2s, on_error: sorry }
    say: { en-US: "Your balance is {{ webhook.balance | money }} on account {{ slots.account | digits }}.", zh-CN: "您的余额是{{ webhook.balance | money }}。" }
    next: anything_else
  sorry:
    say: { en-US: "The system is not available.", zh-CN: "系统不可用。" }
    next: agent
  confirm_block:
    call: verify
    next: block_card
  block_card:
    confirm: { prompt: { en-US: "Block your card ending {{ slots.card_last4 }}?", zh-CN: "冻结尾号{{ slots.card_last4 }}的卡吗？" } }
    on: { yes: blocked, no: main }
  blocked:
    set: { vars.blocked: true, vars.count: "{{ vars.count + 1 }}" }
    say: { en-US: "Your card is blocked.", zh-CN: "您的卡已冻结。" }
    next: anything_else
  ask_faq:
    faq:
      prompt: { en-US: "What is your question?", zh-CN: "请问您的问题是什么？" }
    on: { answered: anything_else, unanswered: agent }
  anything_else:
    confirm: { prompt: { en-US: "Is there anything else?", zh-CN: "还有其他需要吗？" } }
    on: { yes: main, no: goodbye }
  goodbye:
    hangup: { say: { en-US: "Goodbye.", zh-CN: "再见。" } }
  agent:
    say: { en-US: "Let me get someone to help you.", zh-CN: "正在为您转接人工服务。" }
    enqueue: { queue: support, priority: 1, skills: [cards], context: [account, card_last4] }
flows:
  verify:
    start: ask_last4
    nodes:
      ask_last4:
        collect: { slot: card_last4, type: digits, length: 4, prompt: { en-US: "Key in the last four digits of your card.", zh-CN: "请输入卡号后四位。" } }
        next: done
      done:
        return: true
"#;

/// Friday 20 November 2026, 10:00 in New York (open).
fn open_time() -> DateTime<Utc> {
    at("2026-11-20T15:00:00Z")
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn compiled(yaml: &str) -> Arc<CompiledPlan> {
    let plan = crate::load_str("plan.yaml", yaml).unwrap();
    let diags = crate::validate(&plan);
    assert!(!diags.has_errors(), "{diags}");
    CompiledPlan::new(plan)
}

fn bank() -> Arc<CompiledPlan> {
    compiled(BANK)
}

fn session(plan: &Arc<CompiledPlan>) -> Session {
    Session::new(plan.clone(), CallInfo::new("call-1", "+15551230000"))
}

fn said(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn said_text(actions: &[Action]) -> String {
    said(actions).join(" ")
}

fn events<'a>(actions: &'a [Action], name: &str) -> Vec<&'a Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { name: n, data } if n == name => Some(data),
            _ => None,
        })
        .collect()
}

fn speech(text: &str) -> Input {
    Input::Speech {
        text: text.to_owned(),
        confidence: 1.0,
    }
}

fn keys(s: &mut Session, digits: &str, now: DateTime<Utc>) -> Vec<Action> {
    let mut out = Vec::new();
    for d in digits.chars() {
        out.extend(s.handle(Input::Digit(d), now));
    }
    out
}

fn enqueued(actions: &[Action]) -> Option<&Handoff> {
    actions.iter().find_map(|a| match a {
        Action::Enqueue { context, .. } => Some(context),
        _ => None,
    })
}

fn started_at_main() -> (Arc<CompiledPlan>, Session) {
    let plan = bank();
    let mut s = session(&plan);
    let out = s.start(open_time());
    assert!(said_text(&out).contains("Welcome to Acme Bank"));
    assert_eq!(s.current_node(), "main");
    (plan, s)
}

#[test]
fn session_is_send() {
    fn send<T: Send>() {}
    send::<Session>();
    send::<Arc<CompiledPlan>>();
}

#[test]
fn start_says_the_prompt_then_listens() {
    let (_, _) = started_at_main();
    let plan = bank();
    let mut s = session(&plan);
    let out = s.start(open_time());
    let say = out
        .iter()
        .position(|a| matches!(a, Action::Say { .. }))
        .unwrap();
    let listen = out
        .iter()
        .position(|a| matches!(a, Action::Listen { .. }))
        .unwrap();
    assert!(say < listen);
    match &out[listen] {
        Action::Listen {
            mode,
            timeout,
            hints,
            slot,
            sensitive,
        } => {
            assert_eq!(*slot, None, "an intent listen expects no slot");
            assert!(!sensitive);
            assert_eq!(*mode, InputMode::Both);
            assert_eq!(*timeout, std::time::Duration::from_secs(5));
            assert!(hints.iter().any(|h| h == "check my balance"));
        }
        _ => unreachable!(),
    }
    assert_eq!(s.transcript()[0].who, Who::Engine);
}

#[test]
fn speech_intent_goes_to_its_on_target() {
    let (_, mut s) = started_at_main();
    let out = s.handle(speech("what is my balance"), open_time());
    assert_eq!(s.current_node(), "ask_account");
    assert_eq!(s.intent().unwrap().name, "balance");
    let ev = events(&out, "intent");
    assert_eq!(ev[0]["name"], "balance");
    assert!(said_text(&out).contains("eight digit account number"));
}

#[test]
fn dtmf_key_selects_the_intent() {
    let (_, mut s) = started_at_main();
    s.handle(Input::Digit('2'), open_time());
    assert_eq!(s.current_node(), "verify.ask_last4");
}

#[test]
fn escalates_after_max_retries_plus_one_failures_with_the_handoff() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    let out = s.handle(speech("banana"), now + chrono::Duration::seconds(3));
    assert!(said_text(&out).contains("Sorry, I didn't get that."));
    // The node's prompt is said again, with its second-attempt text.
    assert!(said_text(&out).contains("Say balance or lost card."));
    let out = s.handle(Input::NoInput, now + chrono::Duration::seconds(9));
    assert!(said_text(&out).contains("Still there?"), "{out:?}");
    assert!(enqueued(&out).is_none());
    let out = s.handle(speech("banana"), now + chrono::Duration::seconds(15));
    let h = enqueued(&out).expect("enqueued");
    assert_eq!(h.reason, "retries");
    assert_eq!(h.path, vec!["hours_check", "main", "agent"]);
    assert!(h
        .transcript
        .iter()
        .any(|t| t.who == Who::Caller && t.text == "banana"));
    assert!(h.transcript.iter().any(|t| t.at_ms == 15_000));
    assert_eq!(h.context, vec!["account", "card_last4"]);
    assert_eq!(events(&out, "escalation")[0]["reason"], "retries");
    assert!(s.is_finished());
    assert!(s.handle(speech("hello"), now).is_empty());
}

#[test]
fn global_agent_escalates_from_any_node() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    s.handle(Input::Digit('1'), now);
    assert_eq!(s.current_node(), "ask_account");
    let out = s.handle(speech("representative"), now);
    let h = enqueued(&out).expect("enqueued");
    assert_eq!(h.reason, "asked");
    assert_eq!(h.intents.last().unwrap().0, "agent");

    // And by its key from a listen.
    let (_, mut s) = started_at_main();
    let out = s.handle(Input::Digit('0'), now);
    assert_eq!(enqueued(&out).unwrap().reason, "asked");
}

#[test]
fn repeat_says_the_last_prompt_again_and_waits() {
    let (_, mut s) = started_at_main();
    let out = s.handle(Input::Digit('*'), open_time());
    assert!(said_text(&out).contains("Welcome to Acme Bank"));
    assert!(matches!(out.last(), Some(Action::Listen { .. })));
    assert_eq!(s.current_node(), "main");
}

#[test]
fn negative_sentiment_escalates() {
    let (_, mut s) = started_at_main();
    assert!(s.handle(Input::Sentiment(-0.2), open_time()).is_empty());
    let out = s.handle(Input::Sentiment(-0.8), open_time());
    let h = enqueued(&out).expect("enqueued");
    assert_eq!(h.reason, "sentiment");
    assert_eq!(h.sentiment, Some(-0.8));
}

#[test]
fn loop_guard_escalates_a_node_entered_more_than_ten_times() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    // main → lost card → verify → block_card → no → main, again and again.
    let mut reason = None;
    for _ in 0..12 {
        let mut out = s.handle(Input::Digit('2'), now);
        out.extend(keys(&mut s, "1234", now));
        out.extend(s.handle(speech("no"), now));
        if let Some(h) = enqueued(&out) {
            reason = Some(h.reason.clone());
            assert!(!events(&out, "loop").is_empty());
            break;
        }
    }
    assert_eq!(reason.as_deref(), Some("loop"));
}

#[test]
fn collect_digits_by_keys_waits_key_by_key_and_masks_the_value() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    let out = s.handle(Input::Digit('1'), now);
    // The listen tells the speech layer to expect eight digits.
    assert!(
        out.iter().any(|a| matches!(
            a,
            Action::Listen {
                slot: Some(SlotType::Digits { min: 8, max: 8, .. }),
                sensitive: true,
                ..
            }
        )),
        "{out:?}"
    );
    for d in "1234567".chars() {
        let out = s.handle(Input::Digit(d), now);
        assert!(matches!(out.as_slice(), [Action::Listen { .. }]), "{out:?}");
    }
    let out = s.handle(Input::Digit('8'), now);
    assert_eq!(s.slot("account"), Some(&json!("12345678")));
    assert!(matches!(out.last(), Some(Action::Webhook { .. })));
    // The slot event is masked.
    assert_eq!(events(&out, "slot")[0]["value"], "****5678");
    // The webhook body leaves out the sensitive slot.
    let body = out
        .iter()
        .find_map(|a| match a {
            Action::Webhook { body, .. } => Some(body.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(body["slots"], json!({}));
    assert_eq!(body["caller"]["number"], "+15551230000");
    assert_eq!(body["plan"], "acme-bank");
    assert_eq!(body["intent"]["name"], "balance");
    // The transcript holds the masked keys.
    assert!(s
        .transcript()
        .iter()
        .any(|t| t.who == Who::Caller && t.text == "****5678"));
    assert!(!serde_json::to_string(&s.transcript())
        .unwrap()
        .contains("12345678"));
}

#[test]
fn collect_digits_by_spoken_words() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    s.handle(Input::Digit('1'), now);
    s.handle(speech("one two three four five six seven eight"), now);
    assert_eq!(s.slot("account"), Some(&json!("12345678")));
    assert_eq!(s.current_node(), "lookup");
}

#[test]
fn collect_terminator_ends_a_variable_length_entry() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
settings: { escalate_to: bye }
start: ask
nodes:
  ask:
    collect: { slot: pin, type: digits, length: { min: 4, max: 12 }, terminator: "*", prompt: "Enter your number." }
    next: done
  done:
    say: "Got {{ slots.pin | digits }}."
    next: bye
  bye:
    hangup: true
"#,
    );
    let mut s = session(&plan);
    let now = open_time();
    s.start(now);
    keys(&mut s, "12", now);
    // Too short: a no-match retry.
    let out = s.handle(Input::Digit('*'), now);
    assert_eq!(events(&out, "no_match").len(), 1);
    assert!(said_text(&out).contains("Sorry, I didn't get that."));
    let out = keys(&mut s, "123456*", now);
    assert!(said_text(&out).contains("Got 1 2 3 4 5 6."));
    assert!(s.is_finished());
}

#[test]
fn collect_silence_after_some_keys_completes_the_entry() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
start: ask
nodes:
  ask:
    collect: { slot: n, type: digits, length: { min: 2, max: 6 } }
    next: bye
  bye:
    hangup: { say: "Bye {{ slots.n }}." }
"#,
    );
    let mut s = session(&plan);
    let now = open_time();
    s.start(now);
    keys(&mut s, "427", now);
    let out = s.handle(Input::NoInput, now);
    assert_eq!(said(&out), vec!["Bye 427."]);
}

#[test]
fn collect_confirm_reads_back_masked_in_the_transcript() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
settings: { escalate_to: bye }
start: ask
nodes:
  ask:
    collect: { slot: card, type: digits, length: 6, sensitive: true, confirm: true, prompt: "Card number?" }
    next: bye
  bye:
    hangup: { say: "Thanks." }
"#,
    );
    let mut s = session(&plan);
    let now = open_time();
    s.start(now);
    let out = keys(&mut s, "123456", now);
    let say = out
        .iter()
        .find_map(|a| match a {
            Action::Say {
                text, sensitive, ..
            } => Some((text.clone(), *sensitive)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        say,
        ("You said 1 2 3 4 5 6. Is that right?".to_owned(), true)
    );
    assert!(s
        .transcript()
        .iter()
        .any(|t| t.text == "You said * * 3 4 5 6. Is that right?"));
    // "no" asks again; "yes" stores.
    let out = s.handle(speech("no"), now);
    assert!(said_text(&out).contains("Card number?"));
    keys(&mut s, "654321", now);
    s.handle(speech("yes"), now);
    assert_eq!(s.slot("card"), Some(&json!("654321")));
    assert!(s.is_finished());
    let all = serde_json::to_string(&s.handoff()).unwrap();
    assert!(!all.contains("654321") && !all.contains("123456"), "{all}");
}

#[test]
fn sensitive_values_are_masked_in_prompts_turns_events_and_handoff() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    s.handle(Input::Digit('1'), now);
    keys(&mut s, "12345678", now);
    let out = s.handle(Input::WebhookResult(Ok(json!({ "balance": 1234.5 }))), now);
    let say = out
        .iter()
        .find_map(|a| match a {
            Action::Say {
                text, sensitive, ..
            } => Some((text.clone(), *sensitive)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        say,
        (
            "Your balance is $1,234.50 on account 1 2 3 4 5 6 7 8.".to_owned(),
            true
        )
    );
    for a in &out {
        if let Action::Event { data, .. } = a {
            assert!(!data.to_string().contains("12345678"));
        }
    }
    let h = s.handoff();
    assert_eq!(h.slots["account"], "****5678");
    let text = serde_json::to_string(&h).unwrap();
    assert!(
        !text.contains("12345678") && !text.contains("1 2 3 4 5 6 7 8"),
        "{text}"
    );
    assert_eq!(s.vars_snapshot()["slots"]["account"], "****5678");
}

#[test]
fn webhook_runs_before_the_prompt_and_its_result_fills_templates() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    s.handle(Input::Digit('1'), now);
    let out = keys(&mut s, "12345678", now);
    assert!(said(&out).is_empty());
    let out = s.handle(Input::WebhookResult(Ok(json!({ "balance": 1234.5 }))), now);
    assert!(said_text(&out).contains("$1,234.50"));
    assert_eq!(s.current_node(), "anything_else");
    assert_eq!(s.vars_snapshot()["webhook"]["balance"], 1234.5);
}

#[test]
fn webhook_error_goes_to_on_error() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    s.handle(Input::Digit('1'), now);
    keys(&mut s, "12345678", now);
    let out = s.handle(Input::WebhookResult(Err("timeout".to_owned())), now);
    assert_eq!(events(&out, "webhook_error")[0]["error"], "timeout");
    assert!(said_text(&out).contains("The system is not available."));
    assert_eq!(enqueued(&out).unwrap().reason, "plan");
}

#[test]
fn webhook_error_without_on_error_escalates_and_a_non_object_body_is_an_error() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
settings: { escalate_to: agent }
start: look
nodes:
  look:
    webhook: { url: "http://x/y", method: GET }
    say: "ok {{ webhook.a }}"
    next: agent
  agent:
    enqueue: support
"#,
    );
    let mut s = session(&plan);
    let now = open_time();
    let out = s.start(now);
    assert!(matches!(
        out.last(),
        Some(Action::Webhook {
            method: Method::Get,
            body: Value::Null,
            ..
        })
    ));
    let out = s.handle(Input::WebhookResult(Ok(json!([1, 2]))), now);
    assert_eq!(events(&out, "webhook_error")[0]["error"], "bad_body");
    assert_eq!(enqueued(&out).unwrap().reason, "webhook");
}

#[test]
fn webhook_send_lists_slots_even_sensitive_ones() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
start: ask
nodes:
  ask:
    collect: { slot: pin, type: digits, length: 4, sensitive: true }
    next: look
  look:
    webhook: { url: "http://x/y", send: [pin], on_error: bye }
    next: bye
  bye:
    hangup: true
"#,
    );
    let mut s = session(&plan);
    let now = open_time();
    s.start(now);
    let out = keys(&mut s, "4321", now);
    let body = out
        .iter()
        .find_map(|a| match a {
            Action::Webhook { body, .. } => Some(body.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(body["slots"], json!({ "pin": "4321" }));
    assert_eq!(s.handoff().slots["pin"], "****");
}

#[test]
fn branch_on_calendar_and_holiday_with_the_plan_timezone() {
    let plan = bank();
    // Friday 10:00 New York: open.
    let mut s = session(&plan);
    s.start(at("2026-11-20T15:00:00Z"));
    assert_eq!(s.current_node(), "main");
    // Friday 18:00 New York (23:00 UTC): closed → voicemail.
    let mut s = session(&plan);
    let out = s.start(at("2026-11-20T23:00:00Z"));
    assert!(matches!(out.last(), Some(Action::Voicemail { mailbox, .. }) if mailbox == "support"));
    // 02:00 UTC on Saturday is still Friday 21:00 in New York: closed.
    let mut s = session(&plan);
    s.start(at("2026-11-21T02:00:00Z"));
    assert!(s.is_finished());
    // Christmas at noon: holiday.
    let mut s = session(&plan);
    let out = s.start(at("2026-12-25T17:00:00Z"));
    assert!(said_text(&out).contains("holiday"));
}

#[test]
fn branch_on_time_of_day_weekday_and_caller() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
settings: { timezone: Asia/Shanghai }
start: b
nodes:
  b:
    branch:
      - if: "caller.number starts_with '+86' and time >= '09:00' and weekday == 'fri'"
        then: cn
      - else: other
  cn:
    hangup: { say: "cn {{ date }} {{ time }}" }
  other:
    hangup: { say: "other" }
"#,
    );
    let mut s = Session::new(plan.clone(), CallInfo::new("c", "+8613800000000"));
    // 02:00 UTC Friday = 10:00 Friday in Shanghai.
    let out = s.start(at("2026-11-20T02:00:00Z"));
    assert_eq!(said(&out), vec!["cn 2026-11-20 10:00"]);
    let mut s = Session::new(plan, CallInfo::new("c", "+8613800000000"));
    // 23:00 UTC Thursday = 07:00 Friday in Shanghai: before nine.
    let out = s.start(at("2026-11-19T23:00:00Z"));
    assert_eq!(said(&out), vec!["other"]);
}

#[test]
fn flow_call_and_return_continue_at_the_callers_next() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    s.handle(speech("I lost my card"), now);
    assert_eq!(s.current_node(), "verify.ask_last4");
    let out = keys(&mut s, "4321", now);
    assert_eq!(s.current_node(), "block_card");
    assert!(said_text(&out).contains("Block your card ending 4321?"));
    let out = s.handle(speech("yes"), now);
    assert!(said_text(&out).contains("Your card is blocked."));
    assert_eq!(s.var("blocked"), Some(&json!(true)));
    assert_eq!(s.var("count"), Some(&json!(1)));
}

#[test]
fn confirm_band_asks_did_you_mean() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
settings: { intent_threshold: 0.1, confirm_threshold: 0.99, escalate_to: agent }
intents:
  balance: { examples: ["check my balance"] }
  agent: { examples: ["talk to a person"], global: true }
start: main
nodes:
  main:
    say: "Hi."
    listen: { intents: [balance] }
    on: { balance: done }
  done:
    hangup: { say: "Balance." }
  agent:
    enqueue: support
"#,
    );
    let now = open_time();
    let mut s = session(&plan);
    s.start(now);
    let out = s.handle(speech("balance please"), now);
    assert_eq!(said(&out), vec!["Did you mean check my balance?"]);
    assert_eq!(events(&out, "did_you_mean").len(), 1);
    let out = s.handle(speech("yes"), now);
    assert_eq!(said(&out), vec!["Balance."]);

    // "no" is a no-match: the prompt again.
    let mut s = session(&plan);
    s.start(now);
    s.handle(speech("balance please"), now);
    let out = s.handle(speech("no"), now);
    assert_eq!(events(&out, "no_match").len(), 1);
    assert!(said_text(&out).contains("Hi."));
}

#[test]
fn faq_answers_and_asks_whether_it_helped() {
    let (_, mut s) = started_at_main();
    let now = open_time();
    let out = s.handle(Input::Digit('3'), now);
    assert!(said_text(&out).contains("What is your question?"));
    let out = s.handle(speech("when are you open"), now);
    assert_eq!(
        said(&out),
        vec![
            "We are open nine to five.",
            "Did that answer your question?"
        ]
    );
    s.handle(speech("yes"), now);
    assert_eq!(s.current_node(), "anything_else");

    // Unanswered goes to its target.
    let (_, mut s) = started_at_main();
    s.handle(Input::Digit('3'), now);
    s.handle(speech("where is the nearest branch"), now);
    let out = s.handle(speech("no"), now);
    assert_eq!(enqueued(&out).unwrap().reason, "plan");
}

#[test]
fn chinese_call_matches_and_formats_money_in_chinese() {
    let plan = bank();
    let mut call = CallInfo::new("c", "+8613800000000");
    call.vars.insert("language".into(), json!("zh-CN"));
    let mut s = Session::new(plan, call);
    let now = open_time();
    let out = s.start(now);
    assert_eq!(s.language(), "zh-CN");
    assert!(said_text(&out).contains("欢迎致电"));
    s.handle(speech("查余额"), now);
    assert_eq!(s.current_node(), "ask_account");
    s.handle(speech("一二三四五六七八"), now);
    assert_eq!(s.slot("account"), Some(&json!("12345678")));
    let out = s.handle(Input::WebhookResult(Ok(json!({ "balance": 1234.5 }))), now);
    assert!(said_text(&out).contains("1,234.50元"), "{out:?}");
}

#[test]
fn missing_escalate_to_says_goodbye_and_hangs_up() {
    let plan = compiled(
        r#"
version: 1
name: t
language: en-US
settings: { max_retries: 0 }
intents:
  one: { examples: ["one"] }
start: main
nodes:
  main:
    listen: { intents: [one] }
    on: { one: bye }
  bye:
    hangup: true
"#,
    );
    let mut s = session(&plan);
    s.start(open_time());
    let out = s.handle(Input::NoInput, open_time());
    assert_eq!(said(&out), vec!["Goodbye."]);
    assert_eq!(out.last(), Some(&Action::Hangup));
    assert!(s.is_finished());
}

#[test]
fn caller_hangup_finishes_with_one_event() {
    let (_, mut s) = started_at_main();
    let out = s.handle(Input::Hangup, open_time());
    assert!(matches!(out.as_slice(), [Action::Event { name, .. }] if name == "caller_hangup"));
    assert!(s.is_finished());
    assert!(s.handle(Input::NoInput, open_time()).is_empty());
}

#[test]
fn static_prompts_list_text_without_variables() {
    let plan = bank();
    let prompts = plan.static_prompts();
    assert!(prompts
        .iter()
        .any(|p| p.text == "Let me get someone to help you." && p.language == "en-US"));
    assert!(prompts
        .iter()
        .any(|p| p.text == "正在为您转接人工服务。" && p.language == "zh-CN"));
    assert!(prompts.iter().any(|p| p.text == "Goodbye."));
    assert!(!prompts.iter().any(|p| p.text.contains("{{")));
}

#[test]
fn mask_keeps_the_last_four_characters() {
    assert_eq!(mask("12345678"), "****5678");
    assert_eq!(mask("1234"), "****");
    assert_eq!(mask(""), "");
}

fn arb_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        prop::sample::select(vec!['0', '1', '2', '3', '4', '5', '9', '*', '#', 'A'])
            .prop_map(Input::Digit),
        prop::sample::select(vec![
            "check my balance",
            "I lost my card",
            "yes",
            "no",
            "banana",
            "representative",
            "one two three four",
            "when are you open",
            "",
            "查余额",
        ])
        .prop_map(speech),
        "\\PC{0,20}".prop_map(|t| speech(&t)),
        Just(Input::NoInput),
        (-1.0f32..1.0).prop_map(Input::Sentiment),
        Just(Input::WebhookResult(Ok(json!({ "balance": 10 })))),
        Just(Input::WebhookResult(Err("timeout".to_owned()))),
        Just(Input::WebhookResult(Ok(json!("x")))),
    ]
}

fn is_terminal(a: &Action) -> bool {
    matches!(
        a,
        Action::Hangup
            | Action::Enqueue { .. }
            | Action::Transfer { .. }
            | Action::Voicemail { .. }
    )
}

proptest! {
    #[test]
    fn random_inputs_never_panic_and_finished_sessions_stay_silent(
        inputs in prop::collection::vec(arb_input(), 0..60),
        hour in 0u32..24,
    ) {
        let plan = bank();
        let mut s = session(&plan);
        let now = at("2026-11-20T00:00:00Z") + chrono::Duration::hours(i64::from(hour));
        let mut out = s.start(now);
        let mut before = false;
        for input in inputs {
            let finished = s.is_finished();
            let terminal = out.iter().filter(|a| is_terminal(a)).count();
            // Exactly one ending action, in the batch that finished the session.
            prop_assert!(terminal <= 1);
            if terminal == 1 {
                prop_assert!(!before && finished);
            }
            if before {
                prop_assert!(out.is_empty());
            }
            before = finished;
            out = s.handle(input, now);
        }
    }

    #[test]
    fn silence_always_ends_the_call(prefix in prop::collection::vec(arb_input(), 0..20)) {
        let plan = bank();
        let mut s = session(&plan);
        let now = open_time();
        s.start(now);
        for input in prefix {
            s.handle(input, now);
        }
        // No caller is trapped: silence alone reaches an ending within a bounded number of turns.
        let mut n = 0;
        while !s.is_finished() {
            let out = s.handle(Input::NoInput, now);
            // A webhook wait is answered by the engine, not by silence.
            if out.iter().any(|a| matches!(a, Action::Webhook { .. })) || s.vars_snapshot()["node"] == "lookup" {
                s.handle(Input::WebhookResult(Err("timeout".to_owned())), now);
            }
            n += 1;
            prop_assert!(n <= 40, "still at {} after {} no-inputs", s.current_node(), n);
        }
    }
}

const SCREENED: &str = r#"
version: 1
name: reminder
language: en-US
settings:
  amd: true
start: screen
nodes:
  screen:
    branch:
      - if: "call.amd == 'machine'"
        then: message
      - if: "call.amd == 'human'"
        then: person
      - else: unsure
  message:
    say: "This is a reminder for {{ call.called }}."
    hangup: true
  person:
    say: "Hello, this is your reminder."
    hangup: true
  unsure:
    say: "Hello? {{ call.amd | default('none') }}"
    hangup: true
"#;

#[test]
fn call_amd_is_the_verdict_the_engine_set_and_the_plan_branches_on_it() {
    let plan = compiled(SCREENED);
    assert!(plan.plan.settings.amd);
    let mut s = session(&plan);
    s.set_amd("machine");
    assert!(said_text(&s.start(open_time())).starts_with("This is a reminder"));
    let mut s = session(&plan);
    s.set_amd("human");
    assert_eq!(
        said_text(&s.start(open_time())),
        "Hello, this is your reminder."
    );
    // Without a verdict (an inbound call, or detection off) `call.amd` is null.
    let mut s = session(&plan);
    assert_eq!(said_text(&s.start(open_time())), "Hello? none");
}

#[test]
fn amd_is_off_unless_the_plan_asks_and_must_be_a_boolean() {
    assert!(!bank().plan.settings.amd);
    let bad = SCREENED.replace("amd: true", "amd: sometimes");
    assert!(crate::load_str("plan.yaml", &bad).is_err());
}
