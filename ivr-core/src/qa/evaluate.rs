//! The evaluator: a call's record, transcript and events against the rules, with no I/O.

use std::collections::HashMap;

use super::result::{Finding, QaResult, Severity};
use super::rules::{Rule, RuleKind, Rules, Side, Window};
use super::text::{contains_phrase, normalize};
use super::timeline::{base_ms, overlap, union_length, Timeline};
use crate::store::{CallEvent, Cdr, Speaker, Turn};

/// Scores one call: every rule whose `applies_to` matches is checked; see [`QaResult::score`].
pub fn evaluate(rules: &Rules, cdr: &Cdr, turns: &[Turn], events: &[CallEvent]) -> QaResult {
    let call = Call::new(cdr, turns, events);
    let mut findings = Vec::new();
    let mut total = 0.0;
    let mut lost = 0.0;
    let mut failed = false;
    for rule in rules.rules() {
        if !rule
            .applies_to
            .matches(&cdr.dial_plan, cdr.queue.as_deref())
        {
            continue;
        }
        total += rule.weight;
        let found = check(rule, &call);
        if !found.is_empty() {
            lost += rule.weight;
            failed |= rule.severity == Severity::Critical;
            findings.extend(found.into_iter().map(|(message, at)| Finding {
                rule_id: rule.id.clone(),
                severity: rule.severity,
                message,
                at: at.map(|t| u64::try_from(t).unwrap_or(0)),
            }));
        }
    }
    let score = if failed {
        0
    } else if total <= 0.0 {
        100
    } else {
        (100.0 * (total - lost) / total).round().clamp(0.0, 100.0) as u8
    };
    QaResult {
        call_id: cdr.call_id.clone(),
        score,
        findings,
        rules_fingerprint: rules.fingerprint().to_string(),
    }
}

/// What the checks read, computed once per call.
struct Call<'a> {
    cdr: &'a Cdr,
    turns: &'a [Turn],
    /// Each turn's normalized text, by index.
    texts: Vec<String>,
    events: &'a [CallEvent],
    timeline: Timeline,
    base: i64,
}

impl<'a> Call<'a> {
    fn new(cdr: &'a Cdr, turns: &'a [Turn], events: &'a [CallEvent]) -> Call<'a> {
        Call {
            cdr,
            turns,
            texts: turns.iter().map(|t| normalize(&t.text)).collect(),
            events,
            timeline: Timeline::build(cdr, turns, events),
            base: base_ms(cdr),
        }
    }

    fn rel(&self, e: &CallEvent) -> i64 {
        (e.at_unix_ms - self.base).max(0)
    }

    /// Indices of the turns spoken by `side`.
    fn turns_of(&self, side: Side) -> Vec<usize> {
        (0..self.turns.len())
            .filter(|&i| self.turns.get(i).is_some_and(|t| side.includes(t.who)))
            .collect()
    }
}

/// Findings of one rule as (message, ms from the answer).
fn check(rule: &Rule, call: &Call<'_>) -> Vec<(String, Option<i64>)> {
    match &rule.kind {
        RuleKind::RequiredPhrase {
            phrases,
            speaker,
            window,
        } => required_phrase(call, phrases, *speaker, *window),
        RuleKind::ForbiddenPhrase { phrases, speaker } => forbidden_phrase(call, phrases, *speaker),
        RuleKind::MaxSilence { max_ms } => max_silence(call, *max_ms),
        RuleKind::MaxHold { max_ms } => max_hold(call, *max_ms),
        RuleKind::TalkOver { max_ratio, speaker } => talk_over(call, *max_ratio, *speaker),
        RuleKind::NegativeSentimentAtEnd { below } => negative_sentiment_at_end(call, *below),
        RuleKind::IvrLoop { max_visits } => ivr_loop(call, *max_visits),
        RuleKind::NoMatchCount {
            max,
            count_no_input,
        } => no_match_count(call, *max, *count_no_input),
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Engine => "the IVR or agent",
        Side::Ivr => "the IVR",
        Side::Agent => "the agent",
        Side::Caller => "the caller",
        Side::Any => "anyone",
    }
}

fn quoted(phrases: &[String]) -> String {
    phrases
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn required_phrase(
    call: &Call<'_>,
    phrases: &[String],
    side: Side,
    window: Window,
) -> Vec<(String, Option<i64>)> {
    let wanted: Vec<String> = phrases.iter().map(|p| normalize(p)).collect();
    let mut candidates = call.turns_of(side);
    let at = |i: &usize| call.turns.get(*i).map_or(0, |t| t.at_ms);
    let (kept, where_) = match window {
        Window::Whole => (candidates, String::new()),
        Window::First(ms) => {
            candidates.retain(|i| at(i) <= ms);
            (candidates, format!(" within the first {}", seconds(ms)))
        }
        Window::Last(ms) => {
            let from = call.timeline.end - i64::try_from(ms).unwrap_or(i64::MAX);
            candidates.retain(|i| i64::try_from(at(i)).unwrap_or(i64::MAX) >= from);
            (candidates, format!(" in the last {}", seconds(ms)))
        }
        Window::FirstTurns(n) => {
            candidates.truncate(n as usize);
            (candidates, format!(" in its first {n} turn(s)"))
        }
        Window::LastTurns(n) => {
            let skip = candidates.len().saturating_sub(n as usize);
            (
                candidates.split_off(skip),
                format!(" in its last {n} turn(s)"),
            )
        }
    };
    let found = kept.iter().any(|&i| {
        call.texts
            .get(i)
            .is_some_and(|t| wanted.iter().any(|p| contains_phrase(t, p)))
    });
    if found {
        return Vec::new();
    }
    vec![(
        format!(
            "{} never said {}{where_}",
            side_name(side),
            if phrases.len() == 1 {
                quoted(phrases)
            } else {
                format!("any of {}", quoted(phrases))
            }
        ),
        None,
    )]
}

fn forbidden_phrase(call: &Call<'_>, phrases: &[String], side: Side) -> Vec<(String, Option<i64>)> {
    let banned: Vec<String> = phrases.iter().map(|p| normalize(p)).collect();
    let mut out = Vec::new();
    for i in call.turns_of(side) {
        let (Some(turn), Some(text)) = (call.turns.get(i), call.texts.get(i)) else {
            continue;
        };
        if let Some(p) = banned
            .iter()
            .zip(phrases)
            .find(|(n, _)| contains_phrase(text, n))
            .map(|(_, p)| p)
        {
            out.push((
                format!(
                    "{} said the forbidden phrase \"{p}\"",
                    speaker_name(turn.who)
                ),
                Some(i64::try_from(turn.at_ms).unwrap_or(i64::MAX)),
            ));
        }
    }
    out
}

fn speaker_name(who: Speaker) -> &'static str {
    match who {
        Speaker::Caller => "the caller",
        Speaker::Ivr => "the IVR",
        Speaker::Agent => "the agent",
        Speaker::Supervisor => "a supervisor",
    }
}

fn max_silence(call: &Call<'_>, max_ms: u64) -> Vec<(String, Option<i64>)> {
    let t = &call.timeline;
    let excluded: Vec<(i64, i64)> = t.holds.iter().chain(&t.queue_waits).copied().collect();
    let mut longest: Option<(i64, i64)> = None; // (length, at)
    let mut speech = t.speech.iter();
    let Some(first) = speech.next() else {
        return Vec::new();
    };
    let mut end = first.end;
    for s in speech {
        if s.start > end {
            let silent = (s.start - end) - overlap((end, s.start), &excluded);
            if longest.is_none_or(|(l, _)| silent > l) {
                longest = Some((silent, end));
            }
        }
        end = end.max(s.end);
    }
    match longest {
        Some((length, at)) if length > i64::try_from(max_ms).unwrap_or(i64::MAX) => vec![(
            format!(
                "{} of silence at {} (at most {})",
                seconds(u64::try_from(length).unwrap_or(0)),
                clock(at),
                seconds(max_ms)
            ),
            Some(at),
        )],
        _ => Vec::new(),
    }
}

fn max_hold(call: &Call<'_>, max_ms: u64) -> Vec<(String, Option<i64>)> {
    let holds = &call.timeline.holds;
    let total: i64 = holds.iter().map(|(s, e)| (e - s).max(0)).sum();
    if total <= i64::try_from(max_ms).unwrap_or(i64::MAX) {
        return Vec::new();
    }
    vec![(
        format!(
            "on hold {} in total over {} hold(s) (at most {})",
            seconds(u64::try_from(total).unwrap_or(0)),
            holds.len(),
            seconds(max_ms)
        ),
        holds.first().map(|h| h.0.max(0)),
    )]
}

fn talk_over(call: &Call<'_>, max_ratio: f64, side: Side) -> Vec<(String, Option<i64>)> {
    let speech = &call.timeline.speech;
    let spans = |f: &dyn Fn(Speaker) -> bool| -> Vec<(i64, i64)> {
        speech
            .iter()
            .filter(|s| f(s.who))
            .map(|s| (s.start, s.end))
            .collect()
    };
    let caller = spans(&|w| w == Speaker::Caller);
    let other = spans(&|w| w != Speaker::Caller && side.includes(w));
    let all = spans(&|_| true);
    let talk = union_length(&all);
    if talk <= 0 {
        return Vec::new();
    }
    let mut both = 0;
    let mut first = None;
    for &c in &caller {
        let o = overlap(c, &other);
        if o > 0 && first.is_none() {
            first = other
                .iter()
                .filter(|&&(s, e)| s < c.1 && c.0 < e)
                .map(|&(s, _)| s.max(c.0))
                .min();
        }
        both += o;
    }
    let ratio = both as f64 / talk as f64;
    if ratio <= max_ratio {
        return Vec::new();
    }
    vec![(
        format!(
            "{} talked over the caller for {:.0}% of the speech time (at most {:.0}%)",
            side_name(side),
            ratio * 100.0,
            max_ratio * 100.0
        ),
        first,
    )]
}

fn negative_sentiment_at_end(call: &Call<'_>, below: f64) -> Vec<(String, Option<i64>)> {
    let last = call
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let score = match e.name.as_str() {
                "recognized" => e.data.get("sentiment")?.as_f64()?,
                "sentiment" => e.data.get("score")?.as_f64()?,
                _ => return None,
            };
            Some(((e.at_unix_ms, i), score, call.rel(e)))
        })
        .max_by_key(|(order, _, _)| *order);
    match last {
        Some((_, score, at)) if score < below => vec![(
            format!("the caller's last sentiment was {score:.2} (below {below:.2})"),
            Some(at),
        )],
        _ => Vec::new(),
    }
}

fn ivr_loop(call: &Call<'_>, max_visits: u32) -> Vec<(String, Option<i64>)> {
    let node_events: Vec<(&str, i64)> = call
        .events
        .iter()
        .filter(|e| e.name == "node")
        .filter_map(|e| Some((e.data.get("node")?.as_str()?, call.rel(e))))
        .collect();
    let path: Vec<&str> = if call.cdr.node_path.is_empty() {
        node_events.iter().map(|(n, _)| *n).collect()
    } else {
        call.cdr.node_path.iter().map(String::as_str).collect()
    };
    let mut counts: Vec<(&str, u32)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for node in path {
        match index.get(node) {
            Some(&i) => {
                if let Some(c) = counts.get_mut(i) {
                    c.1 += 1;
                }
            }
            None => {
                index.insert(node, counts.len());
                counts.push((node, 1));
            }
        }
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > max_visits)
        .map(|(node, n)| {
            let at = node_events
                .iter()
                .filter(|(x, _)| *x == node)
                .nth(max_visits as usize)
                .map(|(_, t)| *t);
            (
                format!("node `{node}` was visited {n} times (at most {max_visits})"),
                at,
            )
        })
        .collect()
}

fn no_match_count(call: &Call<'_>, max: u32, count_no_input: bool) -> Vec<(String, Option<i64>)> {
    let misses: Vec<i64> = call
        .events
        .iter()
        .filter(|e| e.name == "no_match" || (count_no_input && e.name == "no_input"))
        .map(|e| call.rel(e))
        .collect();
    if misses.len() <= max as usize {
        return Vec::new();
    }
    let what = if count_no_input {
        "answers were not understood or not given"
    } else {
        "answers were not understood"
    };
    vec![(
        format!("{} {what} (at most {max})", misses.len()),
        misses.get(max as usize).copied(),
    )]
}

/// `12.4 s`, `2 min 5 s`.
fn seconds(ms: u64) -> String {
    if ms >= 60_000 {
        let s = ms / 1000;
        match s % 60 {
            0 => format!("{} min", s / 60),
            r => format!("{} min {r} s", s / 60),
        }
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// `m:ss` from the answer.
fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{CallStart, Direction};

    const T0: i64 = 1_700_000_000_000;

    const RULES: &str = r#"
rules:
  - id: greeting
    kind: required_phrase
    phrases: ["welcome to acme bank"]
    within: { first: 10s }
    weight: 2
    severity: major
  - id: closing
    kind: required_phrase
    phrases: ["anything else", "goodbye"]
    within: { last_turns: 2 }
  - id: rude
    kind: forbidden_phrase
    phrases: ["calm down", "not my problem"]
    speaker: engine
    weight: 3
    severity: major
  - id: dead_air
    kind: max_silence
    max: 8s
  - id: hold
    kind: max_hold
    max: 1m
  - id: overlap
    kind: talk_over
    max_ratio: 0.2
  - id: unhappy
    kind: negative_sentiment_at_end
    below: -0.3
  - id: loop
    kind: ivr_loop
    max_visits: 2
  - id: not_understood
    kind: no_match_count
    max: 2
  - id: clinic_only
    applies_to: { plan: clinic }
    kind: required_phrase
    phrases: ["this line is recorded"]
    weight: 50
"#;

    fn rules() -> Rules {
        Rules::parse("qa.yaml", RULES).unwrap()
    }

    /// A call without a fault: greeting, balance, closing; a 10 s hold after the talk; one
    /// no-match; `main` visited twice.
    struct Fixture {
        cdr: Cdr,
        turns: Vec<Turn>,
        events: Vec<CallEvent>,
    }

    fn turn(seq: u32, who: Speaker, text: &str, at_ms: u64) -> Turn {
        Turn {
            call_id: "c-1".into(),
            seq,
            who,
            text: text.into(),
            node: Some("main".into()),
            at_ms,
        }
    }

    fn ev(at: i64, name: &str, data: serde_json::Value) -> CallEvent {
        CallEvent {
            call_id: "c-1".into(),
            at_unix_ms: T0 + at,
            name: name.into(),
            data,
        }
    }

    fn recognized(at: i64, spoken: i64, wait: i64, sentiment: f64) -> CallEvent {
        ev(
            at,
            "recognized",
            json!({"text": "x", "spoken_ms": spoken, "wait_ms": wait, "sentiment": sentiment}),
        )
    }

    fn clean() -> Fixture {
        let mut cdr = Cdr::started(CallStart {
            call_id: "c-1".into(),
            direction: Direction::Inbound,
            from_number: "+15550100".into(),
            to_number: "+15550199".into(),
            trunk: "main".into(),
            started_at_unix_ms: T0 - 2_000,
            dial_plan: "bank".into(),
            dial_plan_version: "1".into(),
        });
        cdr.answered_at_unix_ms = Some(T0);
        cdr.ended_at_unix_ms = Some(T0 + 30_000);
        cdr.node_path = vec![
            "main".into(),
            "balance".into(),
            "main".into(),
            "goodbye".into(),
        ];
        let turns = vec![
            // 0 .. 3200 (8 words)
            turn(0, Speaker::Ivr, "Welcome to Acme Bank. How can I help?", 0),
            // 4000 .. 5500 from its recognized event
            turn(1, Speaker::Caller, "check my balance", 6_000),
            // 6200 .. 9800 (9 words)
            turn(
                2,
                Speaker::Ivr,
                "Your balance is 120 dollars. Is there anything else?",
                6_200,
            ),
            // 10800 .. 11600
            turn(3, Speaker::Caller, "no thanks", 12_000),
            // 12100 .. 14100 (5 words)
            turn(4, Speaker::Ivr, "Thank you for calling, goodbye.", 12_100),
        ];
        let events = vec![
            ev(0, "node", json!({"node": "main"})),
            recognized(6_000, 1_500, 500, 0.4),
            ev(6_010, "node", json!({"node": "balance"})),
            ev(9_900, "no_match", json!({"node": "balance", "retries": 1})),
            ev(10_000, "node", json!({"node": "main"})),
            recognized(12_000, 800, 400, 0.2),
            ev(12_050, "node", json!({"node": "goodbye"})),
            ev(15_000, "hold", json!({})),
            ev(25_000, "unhold", json!({})),
        ];
        Fixture { cdr, turns, events }
    }

    fn score(f: &Fixture) -> QaResult {
        evaluate(&rules(), &f.cdr, &f.turns, &f.events)
    }

    fn fired(r: &QaResult) -> Vec<&str> {
        let mut ids: Vec<&str> = r.findings.iter().map(|f| f.rule_id.as_str()).collect();
        ids.dedup();
        ids
    }

    fn only(r: &QaResult, rule: &str) -> Finding {
        assert_eq!(fired(r), [rule], "{:#?}", r.findings);
        r.findings[0].clone()
    }

    #[test]
    fn a_clean_call_breaks_no_rule_and_scores_100() {
        let r = score(&clean());
        assert_eq!(r.findings, []);
        assert_eq!(r.score, 100);
        assert_eq!(r.call_id, "c-1");
        assert_eq!(r.rules_fingerprint, rules().fingerprint());
    }

    #[test]
    fn a_missing_greeting_fires_required_phrase_and_costs_its_weight() {
        let mut f = clean();
        f.turns[0].text = "Hello.".into();
        let r = score(&f);
        let finding = only(&r, "greeting");
        assert_eq!(
            finding.message,
            "the IVR or agent never said \"welcome to acme bank\" within the first 10 s"
        );
        assert_eq!(finding.severity, Severity::Major);
        assert_eq!(finding.at, None);
        // Weights of the rules that apply to a `bank` call: 2+1+3+1+1+1+1+1+1 = 12.
        assert_eq!(r.score, 83); // 10 / 12
    }

    #[test]
    fn a_greeting_said_too_late_does_not_count() {
        let mut f = clean();
        f.turns[0].text = "Hello.".into();
        f.turns[2].text = "Welcome to Acme Bank. Is there anything else?".into();
        f.turns[2].at_ms = 10_200;
        assert_eq!(fired(&score(&f)), ["greeting"]);
    }

    #[test]
    fn a_missing_closing_in_the_last_turns_fires() {
        let mut f = clean();
        f.turns[2].text = "Your balance is 120 dollars.".into();
        f.turns[4].text = "Transferring you now.".into();
        let finding = only(&score(&f), "closing");
        assert_eq!(
            finding.message,
            "the IVR or agent never said any of \"anything else\", \"goodbye\" in its last 2 turn(s)"
        );
    }

    #[test]
    fn a_forbidden_phrase_fires_at_the_turn_that_said_it() {
        let mut f = clean();
        f.turns[2].text = "Please calm down. Is there anything else?".into();
        let r = score(&f);
        let finding = only(&r, "rude");
        assert_eq!(
            finding.message,
            "the IVR said the forbidden phrase \"calm down\""
        );
        assert_eq!(finding.at, Some(6_200));
        assert_eq!(r.score, 75); // 9 / 12
    }

    #[test]
    fn the_caller_saying_a_phrase_forbidden_to_the_engine_is_not_a_finding() {
        let mut f = clean();
        f.turns[3].text = "calm down, it is not my problem".into();
        assert_eq!(score(&f).findings, []);
    }

    #[test]
    fn a_long_silence_fires_max_silence_without_counting_the_hold() {
        let mut f = clean();
        f.turns[4].at_ms = 40_000;
        f.cdr.ended_at_unix_ms = Some(T0 + 50_000);
        // 11.6 s .. 40 s is 28.4 s, of which 10 s on hold.
        let finding = only(&score(&f), "dead_air");
        assert_eq!(finding.message, "18.4 s of silence at 0:11 (at most 8 s)");
        assert_eq!(finding.at, Some(11_600));
    }

    #[test]
    fn a_queue_wait_is_not_silence() {
        let mut f = clean();
        f.turns[4].at_ms = 40_000;
        f.cdr.ended_at_unix_ms = Some(T0 + 50_000);
        f.cdr.wait_ms = 25_000;
        f.events
            .push(ev(11_700, "enqueued", json!({"queue": "cards"})));
        // The 28.4 s gap less the queue wait 11.7 .. 36.7 s (which covers the hold) is 3.4 s.
        assert_eq!(score(&f).findings, []);
        // A shorter wait leaves too long a silence: 28.4 - 20 = 8.4 s.
        f.cdr.wait_ms = 20_000;
        assert_eq!(
            only(&score(&f), "dead_air").message,
            "8.4 s of silence at 0:11 (at most 8 s)"
        );
    }

    #[test]
    fn a_long_hold_fires_max_hold() {
        let mut f = clean();
        f.events.retain(|e| e.name != "unhold");
        f.events.push(ev(90_000, "unhold", json!({})));
        f.cdr.ended_at_unix_ms = Some(T0 + 100_000);
        let finding = only(&score(&f), "hold");
        assert_eq!(
            finding.message,
            "on hold 1 min 15 s in total over 1 hold(s) (at most 1 min)"
        );
        assert_eq!(finding.at, Some(15_000));
    }

    #[test]
    fn a_hold_never_resumed_lasts_until_the_end() {
        let mut f = clean();
        f.events.retain(|e| e.name != "unhold");
        f.cdr.ended_at_unix_ms = Some(T0 + 80_000);
        assert_eq!(fired(&score(&f)), ["hold"]);
    }

    #[test]
    fn speaking_over_the_caller_fires_talk_over() {
        let mut f = clean();
        // The caller's first answer now runs 0 .. 6 s, over the whole greeting (0 .. 3.2 s):
        // 3.2 s of 12.4 s of speech.
        f.events[1] = recognized(6_000, 6_000, 0, 0.4);
        let finding = only(&score(&f), "overlap");
        assert_eq!(
            finding.message,
            "the IVR or agent talked over the caller for 26% of the speech time (at most 20%)"
        );
        assert_eq!(finding.at, Some(0));
    }

    #[test]
    fn a_prompt_cut_by_barge_in_is_not_talk_over() {
        let mut f = clean();
        f.events[1] = recognized(6_000, 6_000, 0, 0.4);
        f.events.push(ev(600, "barge_in", json!({"by": "speech"})));
        assert_eq!(score(&f).findings, []);
    }

    #[test]
    fn an_unhappy_caller_at_the_end_fires_negative_sentiment() {
        let mut f = clean();
        f.events[5] = recognized(12_000, 800, 400, -0.6);
        let finding = only(&score(&f), "unhappy");
        assert_eq!(
            finding.message,
            "the caller's last sentiment was -0.60 (below -0.30)"
        );
        assert_eq!(finding.at, Some(12_000));
    }

    #[test]
    fn an_unhappy_caller_who_ends_happy_is_fine() {
        let mut f = clean();
        f.events[1] = recognized(6_000, 1_500, 500, -0.9);
        assert_eq!(score(&f).findings, []);
    }

    #[test]
    fn a_node_visited_too_often_fires_ivr_loop() {
        let mut f = clean();
        f.cdr.node_path.insert(3, "main".into());
        f.events.push(ev(11_000, "node", json!({"node": "main"})));
        let finding = only(&score(&f), "loop");
        assert_eq!(
            finding.message,
            "node `main` was visited 3 times (at most 2)"
        );
        assert_eq!(finding.at, Some(11_000));
    }

    #[test]
    fn node_events_stand_in_for_a_missing_node_path() {
        let mut f = clean();
        f.cdr.node_path.clear();
        assert_eq!(score(&f).findings, []);
        f.events.push(ev(11_000, "node", json!({"node": "main"})));
        assert_eq!(fired(&score(&f)), ["loop"]);
    }

    #[test]
    fn too_many_no_matches_fire_no_match_count() {
        let mut f = clean();
        f.events.push(ev(
            10_500,
            "no_match",
            json!({"node": "main", "retries": 1}),
        ));
        f.events.push(ev(
            11_000,
            "no_input",
            json!({"node": "main", "retries": 2}),
        ));
        assert_eq!(score(&f).findings, [], "no_input does not count by default");
        f.events.push(ev(
            11_500,
            "no_match",
            json!({"node": "main", "retries": 3}),
        ));
        let finding = only(&score(&f), "not_understood");
        assert_eq!(finding.message, "3 answers were not understood (at most 2)");
        assert_eq!(finding.at, Some(11_500));
    }

    #[test]
    fn a_critical_finding_scores_zero() {
        let rules = Rules::parse(
            "qa.yaml",
            "rules:\n  - id: rude\n    kind: forbidden_phrase\n    phrases: [calm down]\n    \
             severity: critical\n  - id: other\n    kind: max_hold\n    max: 1h\n    weight: 9\n",
        )
        .unwrap();
        let mut f = clean();
        assert_eq!(evaluate(&rules, &f.cdr, &f.turns, &f.events).score, 100);
        f.turns[3].text = "calm down".into();
        let r = evaluate(&rules, &f.cdr, &f.turns, &f.events);
        assert_eq!(r.score, 0);
        assert_eq!(r.worst(), Some(Severity::Critical));
    }

    #[test]
    fn rules_for_other_plans_neither_fire_nor_count() {
        let mut f = clean();
        f.cdr.dial_plan = "clinic".into();
        let r = score(&f);
        // The clinic rule applies now and fails: 50 of 62.
        assert_eq!(fired(&r), ["clinic_only"]);
        assert_eq!(r.score, 19);
        let none = Rules::parse(
            "qa.yaml",
            "rules:\n  - id: x\n    applies_to: { queue: cards }\n    kind: max_hold\n    max: 0s\n",
        )
        .unwrap();
        assert_eq!(evaluate(&none, &f.cdr, &f.turns, &f.events).score, 100);
    }

    #[test]
    fn an_empty_call_is_judged_without_panicking() {
        let f = clean();
        let r = evaluate(
            &rules(),
            &Cdr {
                ended_at_unix_ms: None,
                answered_at_unix_ms: None,
                ..f.cdr
            },
            &[],
            &[],
        );
        // Only the phrase rules can fail without speech.
        assert_eq!(fired(&r), ["greeting", "closing"]);
    }
}
