//! Quality inspection: every call scored against rules written in YAML.
//!
//! A rule file (see `docs/qa.md` and `examples/qa/rules.yaml`) lists rules, each with an `id`, the
//! calls it `applies_to` (dial plans, queues), a `kind` with its parameters, a `weight` and a
//! `severity`. Eight kinds: `required_phrase`, `forbidden_phrase`, `max_silence`, `max_hold`,
//! `talk_over`, `negative_sentiment_at_end`, `ivr_loop`, `no_match_count`.
//!
//! * [`Rules`] loads and checks a file, reporting every problem as `file:line:column`.
//! * [`evaluate`] is the pure evaluator: a call's record ([`Cdr`]), transcript ([`Turn`]s) and
//!   events ([`CallEvent`]s) in, a [`QaResult`] (score 0–100 and findings) out.
//! * [`Inspector`] holds a rule set for the engine to call at the end of each call.
//! * [`run`] re-scores the stored history and saves the results (`ivr qa run`).
//! * [`agent_leg`] transcribes the agent's side of a bridged call from its recording, so that
//!   rules about the agent have words to read; the live inspector ([`live`]) scores such calls
//!   once the agent's turns are stored.
//!
//! Scoring: a rule that applies to the call and finds something loses its weight once (however
//! many findings it has); the score is the share of the applicable weight kept, rounded. A
//! finding of a `critical` rule makes the score 0. A call no rule applies to scores 100.
//!
//! ```
//! use ivr_core::qa::{Inspector, Rules};
//! # use ivr_core::store::{CallStart, Cdr, Direction};
//! let rules = Rules::parse("qa.yaml", r#"
//! rules:
//!   - id: not_understood
//!     kind: no_match_count
//!     max: 2
//! "#).unwrap();
//! let inspector = Inspector::new(rules);
//! # let cdr = Cdr::started(CallStart { call_id: "c-1".into(), direction: Direction::Inbound,
//! #     from_number: String::new(), to_number: String::new(), trunk: String::new(),
//! #     started_at_unix_ms: 0, dial_plan: "bank".into(), dial_plan_version: "1".into() });
//! let result = inspector.inspect(&cdr, &[], &[]);
//! assert_eq!(result.score, 100);
//! ```

mod evaluate;
mod result;
mod rules;
mod text;
mod timeline;

pub mod agent_leg;
pub mod cli;
pub mod live;

pub use evaluate::evaluate;
pub use result::{Finding, QaResult, Severity};
pub(crate) use rules::parse_duration_ms;
pub use rules::{AppliesTo, Problem, Problems, Rule, RuleKind, Rules, RulesError, Side, Window};

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{CallEvent, Cdr, CdrCursor, CdrFilter, Store, StoreError, Turn};

/// A rule set ready to score calls as they end.
#[derive(Clone, Debug)]
pub struct Inspector {
    rules: Rules,
}

impl Inspector {
    /// An inspector applying `rules`.
    pub fn new(rules: Rules) -> Inspector {
        Inspector { rules }
    }

    /// The rules applied.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Scores a finished call (pure: no I/O, no clock).
    pub fn inspect(&self, cdr: &Cdr, turns: &[Turn], events: &[CallEvent]) -> QaResult {
        evaluate(&self.rules, cdr, turns, events)
    }
}

/// What a re-scoring run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// The rule set's fingerprint.
    pub rules_fingerprint: String,
    /// Calls scored.
    pub calls: u64,
    /// Mean score; `None` when no call was scored.
    pub average_score: Option<f64>,
    /// Calls with no finding.
    pub clean_calls: u64,
    /// Findings per rule, in rule-file order (rules that found nothing included, with 0).
    pub by_rule: Vec<RuleCount>,
    /// Calls per worst severity found (`info`, `minor`, `major`, `critical`).
    pub by_severity: BTreeMap<&'static str, u64>,
    /// The lowest-scoring calls, lowest first (at most 10).
    pub lowest: Vec<CallScore>,
}

/// How often one rule found something.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleCount {
    /// The rule.
    pub rule_id: String,
    /// Its severity.
    pub severity: Severity,
    /// Calls it found something in.
    pub calls: u64,
}

/// A call and its score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallScore {
    /// The call.
    pub call_id: String,
    /// Its score.
    pub score: u8,
}

/// How many of the lowest-scoring calls a summary lists.
const LOWEST: usize = 10;

impl RunSummary {
    /// An empty summary for `rules`.
    pub fn new(rules: &Rules) -> RunSummary {
        RunSummary {
            rules_fingerprint: rules.fingerprint().to_string(),
            by_rule: rules
                .rules()
                .iter()
                .map(|r| RuleCount {
                    rule_id: r.id.clone(),
                    severity: r.severity,
                    calls: 0,
                })
                .collect(),
            ..RunSummary::default()
        }
    }

    /// Counts one result.
    pub fn add(&mut self, result: &QaResult) {
        let n = self.calls as f64;
        let mean = self.average_score.unwrap_or(0.0);
        self.average_score = Some((mean * n + f64::from(result.score)) / (n + 1.0));
        self.calls += 1;
        match result.worst() {
            None => self.clean_calls += 1,
            Some(s) => *self.by_severity.entry(s.as_str()).or_default() += 1,
        }
        for rule in &mut self.by_rule {
            if result.findings.iter().any(|f| f.rule_id == rule.rule_id) {
                rule.calls += 1;
            }
        }
        let entry = CallScore {
            call_id: result.call_id.clone(),
            score: result.score,
        };
        let at = self
            .lowest
            .partition_point(|c| (c.score, &c.call_id) <= (entry.score, &entry.call_id));
        if at < LOWEST {
            self.lowest.insert(at, entry);
            self.lowest.truncate(LOWEST);
        }
    }
}

/// Re-scores every finished call that started at or after `since_unix_ms` (and before
/// `until_unix_ms`, if given) with `rules`, saving each result (scored at `scored_at_unix_ms`)
/// and replacing earlier results of the same rule set.
pub async fn run(
    store: &Store,
    rules: &Rules,
    since_unix_ms: i64,
    until_unix_ms: Option<i64>,
    scored_at_unix_ms: i64,
) -> Result<RunSummary, StoreError> {
    let inspector = Inspector::new(rules.clone());
    let mut summary = RunSummary::new(rules);
    let mut filter = CdrFilter {
        from_unix_ms: Some(since_unix_ms),
        to_unix_ms: until_unix_ms,
        finished_only: true,
        limit: CdrFilter::MAX_LIMIT,
        ..CdrFilter::default()
    };
    loop {
        let page = store.query_calls(&filter).await?;
        let Some(last) = page.last() else { break };
        filter.before = Some(CdrCursor::after(last));
        for cdr in &page {
            let turns = store.transcript(&cdr.call_id).await?;
            let events = store.events(&cdr.call_id).await?;
            let result = inspector.inspect(cdr, &turns, &events);
            store.save_qa_result(&result, scored_at_unix_ms).await?;
            summary.add(&result);
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{CallStart, Direction, QaFilter, Speaker};

    const T: i64 = 1_700_000_000_000;

    fn finished(id: &str, minute: i64) -> Cdr {
        let mut c = Cdr::started(CallStart {
            call_id: id.into(),
            direction: Direction::Inbound,
            from_number: "+15550100".into(),
            to_number: "+15550199".into(),
            trunk: "main".into(),
            started_at_unix_ms: T + minute * 60_000,
            dial_plan: "bank".into(),
            dial_plan_version: "1".into(),
        });
        c.answered_at_unix_ms = Some(c.started_at_unix_ms);
        c.ended_at_unix_ms = Some(c.started_at_unix_ms + 20_000);
        c
    }

    const RULES: &str = "rules:
  - id: greeting
    kind: required_phrase
    phrases: [welcome]
    within: { first_turns: 1 }
  - id: not_understood
    kind: no_match_count
    max: 1
    severity: major
";

    #[tokio::test]
    async fn run_scores_stored_calls_saves_the_results_and_rescoring_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("ivr.db").to_str().unwrap())
            .await
            .unwrap();
        for (id, minute, greeting, misses) in [
            ("good", 1, "Welcome to Acme.", 0),
            ("rude", 2, "Yes?", 0),
            ("lost", 3, "Welcome!", 2),
            ("old", -10, "Yes?", 5),
        ] {
            let cdr = finished(id, minute);
            store.finish_call(&cdr).await.unwrap();
            store
                .append_turn(&Turn {
                    call_id: id.into(),
                    seq: 0,
                    who: Speaker::Ivr,
                    text: greeting.into(),
                    node: None,
                    at_ms: 0,
                })
                .await
                .unwrap();
            for i in 0..misses {
                store
                    .append_event(&CallEvent {
                        call_id: id.into(),
                        at_unix_ms: cdr.started_at_unix_ms + 1_000 * (i + 1),
                        name: "no_match".into(),
                        data: json!({"node": "main"}),
                    })
                    .await
                    .unwrap();
            }
        }
        // Still in progress: not scored.
        store
            .begin_call(&CallStart {
                call_id: "live".into(),
                direction: Direction::Inbound,
                from_number: String::new(),
                to_number: String::new(),
                trunk: String::new(),
                started_at_unix_ms: T + 5 * 60_000,
                dial_plan: "bank".into(),
                dial_plan_version: "1".into(),
            })
            .await
            .unwrap();

        let rules = Rules::parse("qa.yaml", RULES).unwrap();
        let summary = run(&store, &rules, T, None, T + 1).await.unwrap();
        assert_eq!(summary.calls, 3);
        assert_eq!(summary.clean_calls, 1);
        assert_eq!(summary.average_score, Some(200.0 / 3.0));
        let counts: Vec<(&str, u64)> = summary
            .by_rule
            .iter()
            .map(|r| (r.rule_id.as_str(), r.calls))
            .collect();
        assert_eq!(counts, [("greeting", 1), ("not_understood", 1)]);
        assert_eq!(summary.by_severity.get("major"), Some(&1));
        assert_eq!(summary.by_severity.get("minor"), Some(&1));
        let lowest: Vec<(&str, u8)> = summary
            .lowest
            .iter()
            .map(|c| (c.call_id.as_str(), c.score))
            .collect();
        assert_eq!(lowest, [("lost", 50), ("rude", 50), ("good", 100)]);

        let stored = store.qa_results(&QaFilter::default()).await.unwrap();
        assert_eq!(stored.len(), 3);
        let lost = stored.iter().find(|r| r.result.call_id == "lost").unwrap();
        assert_eq!(lost.scored_at_unix_ms, T + 1);
        assert_eq!(
            lost.result.findings[0].message,
            "2 answers were not understood (at most 1)"
        );
        assert_eq!(lost.result.rules_fingerprint, rules.fingerprint());

        // The same rules again: results are replaced, not added.
        run(&store, &rules, T, None, T + 2).await.unwrap();
        let again = store.qa_results(&QaFilter::default()).await.unwrap();
        assert_eq!(again.len(), 3);
        assert!(again.iter().all(|r| r.scored_at_unix_ms == T + 2));
        // Other rules: a second result per call.
        let other = Rules::parse("qa.yaml", &RULES.replace("max: 1", "max: 2")).unwrap();
        let summary = run(&store, &other, T, Some(T + 2 * 60_000), T + 3)
            .await
            .unwrap();
        assert_eq!(summary.calls, 1, "--until leaves out later calls");
        assert_eq!(
            store.qa_results(&QaFilter::default()).await.unwrap().len(),
            4
        );
        store.close().await;
    }

    #[test]
    fn the_example_rule_file_loads() {
        let text = include_str!("../../../examples/qa/rules.yaml");
        let rules = Rules::parse("examples/qa/rules.yaml", text).unwrap();
        let kinds: std::collections::BTreeSet<&str> =
            rules.rules().iter().map(|r| r.kind.name()).collect();
        assert_eq!(
            kinds.len(),
            RuleKind::NAMES.len(),
            "every kind has an example"
        );
    }
}
