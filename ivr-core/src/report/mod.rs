//! Contact-centre reports from the call store: containment, transfers, abandonment, speed of
//! answer, handle time, service level, callbacks, top intents, knowledge gaps (what callers
//! said that was not understood), where callers hang up in the IVR, QA scores by agent and
//! outbound outcomes.
//!
//! [`aggregate`] is the pure computation over rows ([`ReportRows`]); [`collect`] reads the rows
//! of a period from a [`Store`] and aggregates them; [`Report::to_table`] and
//! [`Report::to_csv`] render the result (it serializes to JSON too). Every figure is defined
//! in `docs/reports.md`.

pub mod cli;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::privacy::redact::{RedactConfig, Redactor};
use crate::store::{
    CallEvent, Callback, Cdr, Direction, HangupSide, Outcome, QaFilter, QaRecord, Speaker, Store,
    StoreError, Turn,
};

/// What to report on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportOptions {
    /// Calls that started at or after this instant.
    pub since_unix_ms: i64,
    /// Calls that started before this instant.
    pub until_unix_ms: i64,
    /// The service-level threshold: agent answers within this wait count as on time.
    pub sla_ms: u64,
    /// How many entries the "top" lists keep.
    pub top: usize,
}

impl ReportOptions {
    /// The default service-level threshold, 20 s.
    pub const DEFAULT_SLA_MS: u64 = 20_000;
    /// The default length of the top lists.
    pub const DEFAULT_TOP: usize = 10;
}

/// The rows a report is computed from (all for calls that started in the period).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportRows {
    /// The calls.
    pub calls: Vec<Cdr>,
    /// Their `no_match` events.
    pub no_match_events: Vec<CallEvent>,
    /// Their caller turns.
    pub caller_turns: Vec<Turn>,
    /// Callbacks whose caller was queued in the period.
    pub callbacks: Vec<Callback>,
    /// Their stored QA results (any rule set; the latest per call counts).
    pub qa: Vec<QaRecord>,
}

/// The figures of a period. Rates are fractions from 0 to 1, `None` when nothing was counted
/// in the denominator; times are milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Start of the period.
    pub since_unix_ms: i64,
    /// End of the period (excluded).
    pub until_unix_ms: i64,
    /// The service-level threshold used.
    pub sla_ms: u64,
    /// Inbound calls that started in the period.
    pub calls: u64,
    /// Of those, calls still in progress (no end recorded).
    pub in_progress: u64,
    /// Inbound calls answered by the engine.
    pub answered: u64,
    /// Answered calls that ended in the IVR without an agent (outcome `contained`).
    pub contained: u64,
    /// `contained / answered`.
    pub containment_rate: Option<f64>,
    /// Answered calls transferred to a queue, agent or number (outcome `transferred`).
    pub transferred: u64,
    /// `transferred / answered`.
    pub transfer_rate: Option<f64>,
    /// Inbound calls that went into a queue.
    pub queued: u64,
    /// Queued calls an agent took.
    pub agent_answered: u64,
    /// Queued calls whose caller hung up before an agent took them.
    pub abandoned: u64,
    /// `abandoned / queued`.
    pub abandonment_rate: Option<f64>,
    /// Mean queue wait of the calls an agent took.
    pub average_speed_of_answer_ms: Option<u64>,
    /// Mean agent talk time of the calls an agent took.
    pub average_handle_time_ms: Option<u64>,
    /// Calls an agent took within `sla_ms` of waiting.
    pub answered_within_sla: u64,
    /// `answered_within_sla / (agent_answered + abandoned)`.
    pub service_level: Option<f64>,
    /// Callbacks requested by callers queued in the period.
    pub callbacks: u64,
    /// `callbacks / queued`.
    pub callback_rate: Option<f64>,
    /// Answered calls by their best intent, most first.
    pub top_intents: Vec<Count>,
    /// What callers said that was not understood (redacted), most first.
    pub top_no_match: Vec<Count>,
    /// Where callers hung up in the IVR, most first.
    pub drop_off: Vec<NodeDropOff>,
    /// Calls with a QA result.
    pub qa_scored: u64,
    /// Mean QA score of those calls.
    pub qa_average: Option<f64>,
    /// QA scores by agent, by agent id.
    pub qa_by_agent: Vec<AgentQa>,
    /// Outbound calls.
    pub outbound: Outbound,
}

/// A name and how often it occurred.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The intent name or the utterance.
    pub name: String,
    /// How many calls (intents) or times (utterances).
    pub count: u64,
}

/// Callers hanging up at one dial-plan node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeDropOff {
    /// The node.
    pub node: String,
    /// Answered calls that reached it.
    pub reached: u64,
    /// Contained calls whose caller hung up there (it was the last node).
    pub hangups: u64,
    /// `hangups / reached`.
    pub rate: f64,
}

/// An agent's QA scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentQa {
    /// The agent.
    pub agent_id: String,
    /// Calls scored.
    pub calls: u64,
    /// Mean score.
    pub average_score: f64,
}

/// Outbound calls and how they ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Outbound {
    /// Outbound calls that started in the period.
    pub calls: u64,
    /// Of those, calls the far end answered.
    pub answered: u64,
    /// Calls by hangup cause and disposition, most first.
    pub by_outcome: Vec<OutboundOutcome>,
}

/// Outbound calls with one hangup cause and disposition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboundOutcome {
    /// Why the call ended (`-` when not recorded).
    pub hangup_cause: String,
    /// The wrap-up disposition (`-` when none).
    pub disposition: String,
    /// How many calls.
    pub calls: u64,
}

/// How far after a caller turn's stamp its `no_match` event may come and still be paired.
const NO_MATCH_PAIRING_MS: i64 = 1000;

/// Computes the report of `rows` (pure).
pub fn aggregate(rows: &ReportRows, options: &ReportOptions) -> Report {
    let inbound: Vec<&Cdr> = rows
        .calls
        .iter()
        .filter(|c| c.direction == Direction::Inbound)
        .collect();
    let answered: Vec<&Cdr> = inbound
        .iter()
        .copied()
        .filter(|c| c.answered_at_unix_ms.is_some())
        .collect();
    let count = |it: &mut dyn Iterator<Item = &&Cdr>| it.count() as u64;
    let contained = count(
        &mut answered
            .iter()
            .filter(|c| c.outcome == Some(Outcome::Contained)),
    );
    let transferred = count(
        &mut answered
            .iter()
            .filter(|c| c.outcome == Some(Outcome::Transferred)),
    );
    let queued: Vec<&Cdr> = inbound
        .iter()
        .copied()
        .filter(|c| c.queue.is_some())
        .collect();
    let taken: Vec<&Cdr> = queued
        .iter()
        .copied()
        .filter(|c| c.agent_id.is_some())
        .collect();
    let abandoned = count(
        &mut queued
            .iter()
            .filter(|c| c.agent_id.is_none() && c.hangup_side == Some(HangupSide::Caller)),
    );
    let within = count(&mut taken.iter().filter(|c| c.wait_ms <= options.sla_ms));
    let callbacks = rows.callbacks.len() as u64;

    let mut intents: HashMap<&str, u64> = HashMap::new();
    for c in &answered {
        if let Some(best) = c.intents.first() {
            *intents.entry(best.name.as_str()).or_default() += 1;
        }
    }

    let (qa_scored, qa_average, qa_by_agent) = qa_figures(&rows.qa);
    Report {
        since_unix_ms: options.since_unix_ms,
        until_unix_ms: options.until_unix_ms,
        sla_ms: options.sla_ms,
        calls: inbound.len() as u64,
        in_progress: count(&mut inbound.iter().filter(|c| c.ended_at_unix_ms.is_none())),
        answered: answered.len() as u64,
        contained,
        containment_rate: rate(contained, answered.len() as u64),
        transferred,
        transfer_rate: rate(transferred, answered.len() as u64),
        queued: queued.len() as u64,
        agent_answered: taken.len() as u64,
        abandoned,
        abandonment_rate: rate(abandoned, queued.len() as u64),
        average_speed_of_answer_ms: mean(taken.iter().map(|c| c.wait_ms)),
        average_handle_time_ms: mean(taken.iter().map(|c| c.talk_ms)),
        answered_within_sla: within,
        service_level: rate(within, taken.len() as u64 + abandoned),
        callbacks,
        callback_rate: rate(callbacks, queued.len() as u64),
        top_intents: top(intents, options.top),
        top_no_match: top(no_match_utterances(rows), options.top),
        drop_off: drop_off(&answered),
        qa_scored,
        qa_average,
        qa_by_agent,
        outbound: outbound(&rows.calls),
    }
}

fn rate(n: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

fn mean(values: impl Iterator<Item = u64>) -> Option<u64> {
    let (sum, n) = values.fold((0u128, 0u128), |(s, n), v| (s + u128::from(v), n + 1));
    (n > 0).then(|| u64::try_from((sum + n / 2) / n).unwrap_or(u64::MAX))
}

/// The `n` largest counts, ties by name.
fn top<K: AsRef<str>>(counts: HashMap<K, u64>, n: usize) -> Vec<Count> {
    let mut list: Vec<Count> = counts
        .into_iter()
        .map(|(name, count)| Count {
            name: name.as_ref().to_string(),
            count,
        })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    list.truncate(n);
    list
}

/// What the caller said before each `no_match`: the caller turn of the same call and node
/// stamped last before the event (each turn used once), redacted again and lower-cased.
fn no_match_utterances(rows: &ReportRows) -> HashMap<String, u64> {
    let base: HashMap<&str, i64> = rows
        .calls
        .iter()
        .map(|c| {
            (
                c.call_id.as_str(),
                c.answered_at_unix_ms.unwrap_or(c.started_at_unix_ms),
            )
        })
        .collect();
    let mut turns: HashMap<&str, Vec<(&Turn, bool)>> = HashMap::new();
    for t in rows
        .caller_turns
        .iter()
        .filter(|t| t.who == Speaker::Caller)
    {
        turns
            .entry(t.call_id.as_str())
            .or_default()
            .push((t, false));
    }
    let redactor = Redactor::new(RedactConfig::default());
    let mut out: HashMap<String, u64> = HashMap::new();
    for e in rows.no_match_events.iter().filter(|e| e.name == "no_match") {
        let (Some(base), Some(list)) = (
            base.get(e.call_id.as_str()),
            turns.get_mut(e.call_id.as_str()),
        ) else {
            continue;
        };
        let at = e.at_unix_ms - base;
        let node = e.data.get("node").and_then(|n| n.as_str());
        let pick = list
            .iter_mut()
            .filter(|(t, used)| {
                !used
                    && i64::try_from(t.at_ms).unwrap_or(i64::MAX) <= at + NO_MATCH_PAIRING_MS
                    && (node.is_none() || t.node.is_none() || t.node.as_deref() == node)
            })
            .max_by_key(|(t, _)| (t.at_ms, t.seq));
        let Some((turn, used)) = pick else { continue };
        *used = true;
        let text = redactor.redact(&turn.text);
        let text = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if !text.is_empty() {
            *out.entry(text).or_default() += 1;
        }
    }
    out
}

fn drop_off(answered: &[&Cdr]) -> Vec<NodeDropOff> {
    let mut reached: HashMap<&str, u64> = HashMap::new();
    let mut hangups: HashMap<&str, u64> = HashMap::new();
    for c in answered {
        let mut seen = HashSet::new();
        for node in &c.node_path {
            if seen.insert(node.as_str()) {
                *reached.entry(node.as_str()).or_default() += 1;
            }
        }
        let in_ivr =
            c.outcome == Some(Outcome::Contained) && c.hangup_side == Some(HangupSide::Caller);
        if let (true, Some(last)) = (in_ivr, c.node_path.last()) {
            *hangups.entry(last.as_str()).or_default() += 1;
        }
    }
    let mut list: Vec<NodeDropOff> = hangups
        .into_iter()
        .map(|(node, h)| {
            let r = reached.get(node).copied().unwrap_or(h).max(h);
            NodeDropOff {
                node: node.to_string(),
                reached: r,
                hangups: h,
                rate: h as f64 / r as f64,
            }
        })
        .collect();
    list.sort_by(|a, b| b.hangups.cmp(&a.hangups).then_with(|| a.node.cmp(&b.node)));
    list
}

/// (calls scored, mean score, per agent), the latest result per call counting.
fn qa_figures(records: &[QaRecord]) -> (u64, Option<f64>, Vec<AgentQa>) {
    let mut latest: HashMap<&str, &QaRecord> = HashMap::new();
    for r in records {
        let slot = latest.entry(r.result.call_id.as_str()).or_insert(r);
        if r.scored_at_unix_ms > slot.scored_at_unix_ms {
            *slot = r;
        }
    }
    let scores: Vec<f64> = latest.values().map(|r| f64::from(r.result.score)).collect();
    let average = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
    let mut agents: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for r in latest.values() {
        if let Some(agent) = &r.agent_id {
            let e = agents.entry(agent.as_str()).or_default();
            e.0 += 1;
            e.1 += f64::from(r.result.score);
        }
    }
    let by_agent = agents
        .into_iter()
        .map(|(agent, (n, sum))| AgentQa {
            agent_id: agent.to_string(),
            calls: n,
            average_score: sum / n as f64,
        })
        .collect();
    (latest.len() as u64, average, by_agent)
}

fn outbound(calls: &[Cdr]) -> Outbound {
    let out: Vec<&Cdr> = calls
        .iter()
        .filter(|c| c.direction == Direction::Outbound)
        .collect();
    let mut groups: HashMap<(String, String), u64> = HashMap::new();
    for c in &out {
        let key = (
            c.hangup_cause.clone().unwrap_or_else(|| "-".into()),
            c.disposition.clone().unwrap_or_else(|| "-".into()),
        );
        *groups.entry(key).or_default() += 1;
    }
    let mut by_outcome: Vec<OutboundOutcome> = groups
        .into_iter()
        .map(|((hangup_cause, disposition), calls)| OutboundOutcome {
            hangup_cause,
            disposition,
            calls,
        })
        .collect();
    by_outcome.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| (&a.hangup_cause, &a.disposition).cmp(&(&b.hangup_cause, &b.disposition)))
    });
    Outbound {
        calls: out.len() as u64,
        answered: out
            .iter()
            .filter(|c| c.answered_at_unix_ms.is_some())
            .count() as u64,
        by_outcome,
    }
}

/// Reads the rows of the period from `store` and aggregates them.
pub async fn collect(store: &Store, options: &ReportOptions) -> Result<Report, StoreError> {
    let (from, to) = (options.since_unix_ms, options.until_unix_ms);
    let rows = ReportRows {
        calls: store.calls_between(from, to).await?,
        no_match_events: store.events_named_between("no_match", from, to).await?,
        caller_turns: store.turns_between(Speaker::Caller, from, to).await?,
        callbacks: store.callbacks_between(from, to).await?,
        qa: store
            .qa_results(&QaFilter {
                from_unix_ms: Some(from),
                to_unix_ms: Some(to),
                ..QaFilter::default()
            })
            .await?,
    };
    Ok(aggregate(&rows, options))
}

// ---- dates ----

/// Why a date given on the command line cannot be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the date {text:?}: give YYYY-MM-DD (UTC midnight), an RFC 3339 time \
     (2024-05-01T09:00:00+08:00), `now`, or a span back from now (90m, 24h, 7d)"
)]
pub struct DateError {
    /// What was given.
    pub text: String,
}

/// The instant `text` names, in Unix ms: `YYYY-MM-DD` (midnight UTC), RFC 3339, `now`, or a
/// span back from `now_unix_ms` (`30m`, `24h`, `7d`).
pub fn parse_instant(text: &str, now_unix_ms: i64) -> Result<i64, DateError> {
    let t = text.trim();
    let err = || DateError {
        text: text.to_string(),
    };
    if t == "now" {
        return Ok(now_unix_ms);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let midnight = d.and_hms_opt(0, 0, 0).ok_or_else(err)?;
        return Ok(midnight.and_utc().timestamp_millis());
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    let back = match t.strip_suffix('d') {
        Some(days) => days.parse::<u32>().ok().map(|d| i64::from(d) * 86_400_000),
        None => crate::qa::parse_duration_ms(t).and_then(|ms| i64::try_from(ms).ok()),
    };
    back.map(|ms| now_unix_ms - ms).ok_or_else(err)
}

// ---- rendering ----

/// `42.5%`, or `-` when there is nothing to count.
fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// `12.3 s`, or `-`.
fn secs(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "-".to_string(),
        |ms| format!("{:.1} s", ms as f64 / 1000.0),
    )
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.4}"))
}

impl Report {
    /// The summary figures as (name, value for tables, value for CSV).
    fn figures(&self) -> Vec<(&'static str, String, String)> {
        let n = |v: u64| (v.to_string(), v.to_string());
        let r = |v: Option<f64>| (percent(v), opt(v));
        let t = |v: Option<u64>| (secs(v), v.map(|v| v.to_string()).unwrap_or_default());
        let rows = [
            ("calls", n(self.calls)),
            ("in progress", n(self.in_progress)),
            ("answered", n(self.answered)),
            ("contained", n(self.contained)),
            ("containment rate", r(self.containment_rate)),
            ("transferred", n(self.transferred)),
            ("transfer rate", r(self.transfer_rate)),
            ("queued", n(self.queued)),
            ("agent answered", n(self.agent_answered)),
            ("abandoned", n(self.abandoned)),
            ("abandonment rate", r(self.abandonment_rate)),
            (
                "average speed of answer",
                t(self.average_speed_of_answer_ms),
            ),
            ("average handle time", t(self.average_handle_time_ms)),
            ("answered within sla", n(self.answered_within_sla)),
            ("service level", r(self.service_level)),
            ("callbacks", n(self.callbacks)),
            ("callback rate", r(self.callback_rate)),
            ("qa scored", n(self.qa_scored)),
            (
                "qa average",
                (
                    self.qa_average
                        .map_or_else(|| "-".into(), |v| format!("{v:.1}")),
                    opt(self.qa_average),
                ),
            ),
            ("outbound calls", n(self.outbound.calls)),
            ("outbound answered", n(self.outbound.answered)),
        ];
        rows.into_iter().map(|(k, (a, b))| (k, a, b)).collect()
    }

    /// The report as aligned text tables.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let sla = self.sla_ms as f64 / 1000.0;
        let _ = writeln!(
            out,
            "calls started {} .. {} (service level within {sla} s)\n",
            when(self.since_unix_ms),
            when(self.until_unix_ms)
        );
        for (name, value, _) in self.figures() {
            let _ = writeln!(out, "{name:<26}{value:>12}");
        }
        let mut section = |title: &str, head: &[&str], rows: Vec<Vec<String>>| {
            let _ = writeln!(out, "\n{title}");
            if rows.is_empty() {
                let _ = writeln!(out, "  (none)");
                return;
            }
            let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: Vec<String>| {
                let mut l = String::from(" ");
                for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                    let pad = w.saturating_sub(cell.chars().count());
                    if i == 0 {
                        l += &format!(" {cell}{}", " ".repeat(pad));
                    } else {
                        l += &format!("  {}{cell}", " ".repeat(pad));
                    }
                }
                l.trim_end().to_string()
            };
            let _ = writeln!(
                out,
                "{}",
                line(head.iter().map(|h| h.to_string()).collect())
            );
            for row in rows {
                let _ = writeln!(out, "{}", line(row));
            }
        };
        section(
            "top intents",
            &["intent", "calls"],
            self.top_intents
                .iter()
                .map(|c| vec![c.name.clone(), c.count.to_string()])
                .collect(),
        );
        section(
            "top no-match utterances",
            &["caller said", "times"],
            self.top_no_match
                .iter()
                .map(|c| vec![c.name.clone(), c.count.to_string()])
                .collect(),
        );
        section(
            "drop-off by node",
            &["node", "reached", "hung up", "rate"],
            self.drop_off
                .iter()
                .map(|d| {
                    vec![
                        d.node.clone(),
                        d.reached.to_string(),
                        d.hangups.to_string(),
                        percent(Some(d.rate)),
                    ]
                })
                .collect(),
        );
        section(
            "qa by agent",
            &["agent", "calls", "average"],
            self.qa_by_agent
                .iter()
                .map(|a| {
                    vec![
                        a.agent_id.clone(),
                        a.calls.to_string(),
                        format!("{:.1}", a.average_score),
                    ]
                })
                .collect(),
        );
        section(
            "outbound outcomes",
            &["hangup cause", "disposition", "calls"],
            self.outbound
                .by_outcome
                .iter()
                .map(|o| {
                    vec![
                        o.hangup_cause.clone(),
                        o.disposition.clone(),
                        o.calls.to_string(),
                    ]
                })
                .collect(),
        );
        out
    }

    /// The report as CSV with the columns `section,item,metric,value`: one row per figure
    /// (section `summary`, empty item) and per list entry. Rates are fractions, times ms.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,item,metric,value\n");
        let mut row = |section: &str, item: &str, metric: &str, value: String| {
            let _ = writeln!(out, "{section},{},{metric},{value}", csv_field(item));
        };
        for (name, _, value) in self.figures() {
            row("summary", "", &name.replace(' ', "_"), value);
        }
        row("summary", "", "sla_ms", self.sla_ms.to_string());
        for c in &self.top_intents {
            row("top_intents", &c.name, "calls", c.count.to_string());
        }
        for c in &self.top_no_match {
            row("top_no_match", &c.name, "times", c.count.to_string());
        }
        for d in &self.drop_off {
            row("drop_off", &d.node, "reached", d.reached.to_string());
            row("drop_off", &d.node, "hangups", d.hangups.to_string());
            row("drop_off", &d.node, "rate", format!("{:.4}", d.rate));
        }
        for a in &self.qa_by_agent {
            row("qa_by_agent", &a.agent_id, "calls", a.calls.to_string());
            row(
                "qa_by_agent",
                &a.agent_id,
                "average_score",
                format!("{:.4}", a.average_score),
            );
        }
        for o in &self.outbound.by_outcome {
            let item = format!("{}/{}", o.hangup_cause, o.disposition);
            row("outbound", &item, "calls", o.calls.to_string());
        }
        out
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// RFC 3339 UTC, to the second.
fn when(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms).map_or_else(
        || unix_ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests;
