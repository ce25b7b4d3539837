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
    } else if ms % 1000 == 0 {
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
