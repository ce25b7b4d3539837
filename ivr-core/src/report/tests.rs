use serde_json::json;

use super::*;
use crate::qa::{Finding, QaResult, Severity};
use crate::store::{CallStart, CallbackStatus, IntentScore};

const T: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn options() -> ReportOptions {
    ReportOptions {
        since_unix_ms: T,
        until_unix_ms: T + DAY,
        sla_ms: 20_000,
        top: 10,
    }
}

/// A finished, answered inbound call of the `bank` plan, `n` minutes into the period.
fn call(id: &str, n: i64) -> Cdr {
    let mut c = Cdr::started(CallStart {
        call_id: id.into(),
        direction: Direction::Inbound,
        from_number: "+15550100".into(),
        to_number: "+15550199".into(),
        trunk: "main".into(),
        started_at_unix_ms: T + n * 60_000,
        dial_plan: "bank".into(),
        dial_plan_version: "1".into(),
    });
    c.answered_at_unix_ms = Some(c.started_at_unix_ms + 1_000);
    c.ended_at_unix_ms = Some(c.started_at_unix_ms + 50_000);
    c.outcome = Some(Outcome::Contained);
    c.hangup_side = Some(HangupSide::System);
    c.hangup_cause = Some("normal_clearing".into());
    c.node_path = vec!["main".into()];
    c
}

fn path(nodes: &[&str]) -> Vec<String> {
    nodes.iter().map(|n| n.to_string()).collect()
}

fn intents(names: &[&str]) -> Vec<IntentScore> {
    names
        .iter()
        .map(|n| IntentScore {
            name: n.to_string(),
            score: 0.9,
        })
        .collect()
}

fn queued(mut c: Cdr, queue: &str, agent: Option<&str>, wait_s: u64, talk_s: u64) -> Cdr {
    c.outcome = Some(Outcome::Transferred);
    c.queue = Some(queue.into());
    c.agent_id = agent.map(Into::into);
    c.wait_ms = wait_s * 1000;
    c.talk_ms = talk_s * 1000;
    c
}

/// Eleven calls in the period: nine inbound (one in progress, one never answered), two
/// outbound.
fn calls() -> Vec<Cdr> {
    let mut c1 = call("c1", 1);
    c1.node_path = path(&["main", "balance"]);
    c1.intents = intents(&["balance"]);
    c1.hangup_side = Some(HangupSide::Caller);

    let mut c2 = call("c2", 2);
    c2.node_path = path(&["main", "balance", "goodbye"]);
    c2.intents = intents(&["balance"]);

    let mut c3 = queued(call("c3", 3), "cards", Some("a-1"), 10, 120);
    c3.node_path = path(&["main", "card_lost"]);
    c3.intents = intents(&["card_lost"]);

    let mut c4 = queued(call("c4", 4), "cards", Some("a-2"), 30, 200);
    c4.node_path = path(&["main", "card_lost"]);
    c4.intents = intents(&["card_lost", "balance"]);

    let mut c5 = queued(call("c5", 5), "cards", None, 45, 0);
    c5.node_path = path(&["main", "card_lost"]);
    c5.intents = intents(&["card_lost"]);
    c5.hangup_side = Some(HangupSide::Caller);

    let mut c6 = queued(call("c6", 6), "loans", Some("a-1"), 20, 100);
    c6.node_path = path(&["main", "loans"]);
    c6.intents = intents(&["loan"]);

    let mut c7 = call("c7", 7);
    c7.hangup_side = Some(HangupSide::Caller);

    let mut c8 = call("c8", 8);
    c8.answered_at_unix_ms = None;
    c8.outcome = Some(Outcome::Unanswered);
    c8.node_path.clear();
    c8.hangup_side = Some(HangupSide::Caller);

    let mut c9 = call("c9", 9);
    c9.ended_at_unix_ms = None;
    c9.outcome = None;
    c9.hangup_side = None;
    c9.hangup_cause = None;

    let mut c10 = call("c10", 10);
    c10.direction = Direction::Outbound;
    c10.disposition = Some("sale".into());

    let mut c11 = call("c11", 11);
    c11.direction = Direction::Outbound;
    c11.answered_at_unix_ms = None;
    c11.outcome = Some(Outcome::Unanswered);
    c11.hangup_cause = Some("busy".into());

    vec![c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11]
}

fn caller_turn(call_id: &str, seq: u32, text: &str, node: &str, at_ms: u64) -> Turn {
    Turn {
        call_id: call_id.into(),
        seq,
        who: Speaker::Caller,
        text: text.into(),
        node: Some(node.into()),
        at_ms,
    }
}

fn caller_turns() -> Vec<Turn> {
    vec![
        // Not redacted by the writer here, to prove the report masks it anyway.
        caller_turn(
            "c1",
            1,
            "my card number is 4111 1111 1111 1111",
            "balance",
            5_000,
        ),
        caller_turn("c1", 3, "balance please", "main", 9_000),
        caller_turn("c7", 1, "Uh, WHAT?", "main", 3_000),
        caller_turn("c7", 3, "blah   blah", "main", 8_000),
        caller_turn("c7", 5, "uh, what?", "main", 12_000),
    ]
}

/// A `no_match` `ms` after the answer of call `n` (answered at minute `n` + 1 s).
fn no_match(call_id: &str, n: i64, ms: i64, node: &str) -> CallEvent {
    CallEvent {
        call_id: call_id.into(),
        at_unix_ms: T + n * 60_000 + 1_000 + ms,
        name: "no_match".into(),
        data: json!({"node": node, "retries": 1}),
    }
}

fn no_match_events() -> Vec<CallEvent> {
    vec![
        no_match("c1", 1, 5_100, "balance"),
        no_match("c7", 7, 3_100, "main"),
        no_match("c7", 7, 8_050, "main"),
        no_match("c7", 7, 12_010, "main"),
        // A keypad timeout with nothing said before it in this node.
        no_match("c2", 2, 4_000, "main"),
    ]
}

fn callback(id: &str, at: i64) -> Callback {
    Callback {
        id: id.into(),
        queue: "cards".into(),
        number: "+15550100".into(),
        priority: 0,
        enqueued_at_unix_ms: at,
        context: json!({}),
        status: CallbackStatus::Pending,
    }
}

fn qa(call_id: &str, score: u8, rules: &str, scored_at: i64, agent: Option<&str>) -> QaRecord {
    QaRecord {
        result: QaResult {
            call_id: call_id.into(),
            score,
            findings: if score < 100 {
                vec![Finding {
                    rule_id: "greeting".into(),
                    severity: Severity::Major,
                    message: "the IVR or agent never said \"welcome\"".into(),
                    at: None,
                }]
            } else {
                Vec::new()
            },
            rules_fingerprint: rules.into(),
        },
        scored_at_unix_ms: scored_at,
        agent_id: agent.map(Into::into),
        started_at_unix_ms: None,
    }
}

fn qa_records() -> Vec<QaRecord> {
    vec![
        qa("c3", 80, "f1", T + DAY, Some("a-1")),
        // Rescored later with other rules: this one counts.
        qa("c3", 90, "f2", T + 2 * DAY, Some("a-1")),
        qa("c6", 70, "f1", T + DAY, Some("a-1")),
        qa("c4", 100, "f1", T + DAY, Some("a-2")),
        qa("c1", 60, "f1", T + DAY, None),
    ]
}

fn rows() -> ReportRows {
    ReportRows {
        calls: calls(),
        no_match_events: no_match_events(),
        caller_turns: caller_turns(),
        callbacks: vec![callback("cb1", T + 5 * 60_000)],
        qa: qa_records(),
    }
}

fn count(name: &str, count: u64) -> Count {
    Count {
        name: name.into(),
        count,
    }
}

/// The report of [`rows`], worked out by hand.
fn expected() -> Report {
    Report {
        since_unix_ms: T,
        until_unix_ms: T + DAY,
        sla_ms: 20_000,
        calls: 9,
        in_progress: 1,
        answered: 8,
        contained: 3,
        containment_rate: Some(0.375),
        transferred: 4,
        transfer_rate: Some(0.5),
        queued: 4,
        agent_answered: 3,
        abandoned: 1,
        abandonment_rate: Some(0.25),
        average_speed_of_answer_ms: Some(20_000),
        average_handle_time_ms: Some(140_000),
        answered_within_sla: 2,
        service_level: Some(0.5),
        callbacks: 1,
        callback_rate: Some(0.25),
        top_intents: vec![count("card_lost", 3), count("balance", 2), count("loan", 1)],
        top_no_match: vec![
            count("uh, what?", 2),
            count("blah blah", 1),
            count("my card number is **** **** **** 1111", 1),
        ],
        drop_off: vec![
            NodeDropOff {
                node: "balance".into(),
                reached: 2,
                hangups: 1,
                rate: 0.5,
            },
            NodeDropOff {
                node: "main".into(),
                reached: 8,
                hangups: 1,
                rate: 0.125,
            },
        ],
        qa_scored: 4,
        qa_average: Some(80.0),
        qa_by_agent: vec![
            AgentQa {
                agent_id: "a-1".into(),
                calls: 2,
                average_score: 80.0,
            },
            AgentQa {
                agent_id: "a-2".into(),
                calls: 1,
                average_score: 100.0,
            },
        ],
        outbound: Outbound {
            calls: 2,
            answered: 1,
            by_outcome: vec![
                OutboundOutcome {
                    hangup_cause: "busy".into(),
                    disposition: "-".into(),
                    calls: 1,
                },
                OutboundOutcome {
                    hangup_cause: "normal_clearing".into(),
                    disposition: "sale".into(),
                    calls: 1,
                },
            ],
        },
    }
}

#[test]
fn the_figures_of_eleven_calls_match_the_hand_count() {
    assert_eq!(aggregate(&rows(), &options()), expected());
}

#[test]
fn the_service_level_threshold_moves_answers_in_and_out() {
    let mut o = options();
    o.sla_ms = 9_999;
    let r = aggregate(&rows(), &o);
    assert_eq!(r.answered_within_sla, 0);
    assert_eq!(r.service_level, Some(0.0));
    o.sla_ms = 30_000;
    let r = aggregate(&rows(), &o);
    assert_eq!(r.answered_within_sla, 3);
    assert_eq!(r.service_level, Some(0.75));
}

#[test]
fn an_empty_period_has_no_rates() {
    let r = aggregate(&ReportRows::default(), &options());
    assert_eq!(r.calls, 0);
    assert_eq!(r.containment_rate, None);
    assert_eq!(r.average_speed_of_answer_ms, None);
    assert_eq!(r.service_level, None);
    assert_eq!(r.qa_average, None);
    assert!(has_line(&r.to_table(), "containment rate -"));
}

#[test]
fn top_lists_are_cut_to_the_asked_length() {
    let mut o = options();
    o.top = 1;
    let r = aggregate(&rows(), &o);
    assert_eq!(r.top_intents, [count("card_lost", 3)]);
    assert_eq!(r.top_no_match, [count("uh, what?", 2)]);
}

#[test]
fn csv_has_one_row_per_figure_and_quotes_commas() {
    let csv = aggregate(&rows(), &options()).to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "section,item,metric,value");
    assert!(lines.contains(&"summary,,calls,9"), "{csv}");
    assert!(lines.contains(&"summary,,containment_rate,0.3750"), "{csv}");
    assert!(
        lines.contains(&"summary,,average_speed_of_answer,20000"),
        "{csv}"
    );
    assert!(
        lines.contains(&"top_no_match,\"uh, what?\",times,2"),
        "{csv}"
    );
    assert!(lines.contains(&"drop_off,main,rate,0.1250"), "{csv}");
    assert!(
        lines.contains(&"qa_by_agent,a-1,average_score,80.0000"),
        "{csv}"
    );
    assert!(
        lines.contains(&"outbound,normal_clearing/sale,calls,1"),
        "{csv}"
    );
}

#[test]
fn the_table_shows_rates_as_percentages_and_times_in_seconds() {
    let table = aggregate(&rows(), &options()).to_table();
    for line in [
        "containment rate 37.5%",
        "average handle time 140.0 s",
        "card_lost 3",
        "balance 2 1 50.0%",
        "uh, what? 2",
        "a-1 2 80.0",
        "normal_clearing sale 1",
    ] {
        assert!(has_line(&table, line), "{line:?} in\n{table}");
    }
}

/// True when `text` has a line that reads `words` (spaces between cells collapsed).
fn has_line(text: &str, words: &str) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == words)
}

#[test]
fn dates_take_days_times_and_spans_back() {
    assert_eq!(parse_instant("2023-11-14", 0).unwrap(), 1_699_920_000_000);
    assert_eq!(
        parse_instant("2023-11-14T22:13:20Z", 0).unwrap(),
        1_700_000_000_000
    );
    assert_eq!(
        parse_instant("2023-11-15T06:13:20+08:00", 0).unwrap(),
        1_700_000_000_000
    );
    assert_eq!(parse_instant("7d", T).unwrap(), T - 7 * DAY);
    assert_eq!(parse_instant("90m", T).unwrap(), T - 90 * 60_000);
    assert_eq!(parse_instant("now", T).unwrap(), T);
    let err = parse_instant("last tuesday", T).unwrap_err();
    assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
}

/// The same rows written to a real SQLite file give the same report; rows outside the period
/// are left out.
#[tokio::test]
async fn the_report_from_a_sqlite_store_matches_the_hand_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("ivr.db").to_str().unwrap())
        .await
        .unwrap();
    for c in calls() {
        store.finish_call(&c).await.unwrap();
    }
    // Outside the period: before it, and after it.
    let mut early = queued(call("old", 0), "cards", None, 5, 0);
    early.started_at_unix_ms = T - 1;
    early.hangup_side = Some(HangupSide::Caller);
    store.finish_call(&early).await.unwrap();
    let mut late = call("late", 0);
    late.started_at_unix_ms = T + DAY;
    store.finish_call(&late).await.unwrap();
    store
        .append_event(&CallEvent {
            call_id: "old".into(),
            at_unix_ms: T,
            name: "no_match".into(),
            data: json!({"node": "main"}),
        })
        .await
        .unwrap();
    store
        .append_turn(&caller_turn("old", 0, "outside", "main", 0))
        .await
        .unwrap();

    for t in caller_turns() {
        store.append_turn(&t).await.unwrap();
    }
    // An IVR turn is not read as the caller's.
    store
        .append_turn(&Turn {
            who: Speaker::Ivr,
            ..caller_turn("c7", 2, "Sorry?", "main", 8_040)
        })
        .await
        .unwrap();
    for e in no_match_events() {
        store.append_event(&e).await.unwrap();
    }
    store
        .append_event(&CallEvent {
            call_id: "c7".into(),
            at_unix_ms: T,
            name: "node".into(),
            data: json!({"node": "main"}),
        })
        .await
        .unwrap();
    store
        .save_callback(&callback("cb1", T + 5 * 60_000))
        .await
        .unwrap();
    store.save_callback(&callback("cb0", T - 1)).await.unwrap();
    for r in qa_records() {
        store
            .save_qa_result(&r.result, r.scored_at_unix_ms)
            .await
            .unwrap();
    }
    store
        .save_qa_result(&qa("old", 0, "f1", T, None).result, T)
        .await
        .unwrap();

    let report = collect(&store, &options()).await.unwrap();
    assert_eq!(report, expected());

    // The stored QA results read back with their call's agent and start.
    let c3 = store
        .qa_results(&QaFilter {
            call_id: Some("c3".into()),
            ..QaFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(c3.len(), 2);
    assert_eq!(c3[0].result, qa_records()[1].result);
    assert_eq!(c3[0].agent_id.as_deref(), Some("a-1"));
    assert_eq!(c3[0].started_at_unix_ms, Some(T + 3 * 60_000));
    let low = store
        .qa_results(&QaFilter {
            below_score: Some(75),
            rules_fingerprint: Some("f1".into()),
            from_unix_ms: Some(T),
            ..QaFilter::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = low.iter().map(|r| r.result.call_id.as_str()).collect();
    assert_eq!(ids, ["c6", "c1"]);
    store.close().await;
}
