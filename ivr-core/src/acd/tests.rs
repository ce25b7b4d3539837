//! Scenario tests of the router on virtual time, and a property test over random inputs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::{any, prop_assert, prop_oneof, proptest, ProptestConfig, Strategy as Gen};

use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn q(name: &str) -> QueueName {
    QueueName::from(name)
}

fn ag(name: &str) -> AgentId {
    AgentId::from(name)
}

/// The router plus a virtual clock and everything it emitted.
struct Harness {
    acd: Acd<String>,
    t0: Instant,
    now: Instant,
    actions: Vec<Action<String>>,
    events: Vec<Event>,
}

impl Harness {
    fn new(queues: Vec<(&str, QueueConfig)>) -> Self {
        Self::with(AcdConfig {
            queues: queues.into_iter().map(|(n, c)| (q(n), c)).collect(),
            ..AcdConfig::default()
        })
    }

    fn with(config: AcdConfig) -> Self {
        let t0 = Instant::now();
        Harness {
            acd: Acd::new(config).expect("valid configuration"),
            t0,
            now: t0,
            actions: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(a) = self.acd.poll_action() {
            self.actions.push(a);
        }
        while let Some(e) = self.acd.poll_event() {
            self.events.push(e);
        }
        self.acd.check_invariants(self.now);
    }

    /// Moves the clock to `t0 + s`, firing every timer on the way at its deadline.
    fn at(&mut self, s: u64) {
        self.advance_to(self.t0 + secs(s));
    }

    fn advance_to(&mut self, t: Instant) {
        while let Some(d) = self.acd.poll_timeout() {
            if d > t {
                break;
            }
            self.now = self.now.max(d);
            self.acd.handle_timeout(self.now);
            self.drain();
        }
        self.now = self.now.max(t);
        self.drain();
    }

    fn take_actions(&mut self) -> Vec<Action<String>> {
        self.drain();
        std::mem::take(&mut self.actions)
    }

    fn take_events(&mut self) -> Vec<Event> {
        self.drain();
        std::mem::take(&mut self.events)
    }

    /// The offers emitted since the last take, as (call, agent).
    fn offers(&mut self) -> Vec<(u64, String)> {
        self.take_actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Offer { call, agent, .. } => Some((call.0, agent.0)),
                _ => None,
            })
            .collect()
    }

    fn login(&mut self, id: &str, queues: &[&str], skills: &[(&str, u8)]) {
        self.acd
            .login(
                AgentProfile {
                    id: ag(id),
                    skills: skills.iter().map(|(s, l)| (Skill::from(*s), *l)).collect(),
                    queues: queues.iter().map(|n| q(n)).collect(),
                },
                self.now,
            )
            .expect("login");
        self.drain();
    }

    fn enqueue(&mut self, call: u64, queue: &str, priority: i32, skills: Vec<SkillRequirement>) {
        self.acd
            .enqueue(
                Enqueue {
                    call: CallId(call),
                    queue: q(queue),
                    priority,
                    skills,
                    context: format!("ctx-{call}"),
                },
                self.now,
            )
            .expect("enqueue");
        self.drain();
    }

    fn answer(&mut self, call: u64, agent: &str) {
        self.acd
            .handle_offer_answered(CallId(call), &ag(agent), self.now)
            .expect("answer");
        self.drain();
    }

    fn end(&mut self, call: u64) {
        self.acd
            .handle_call_ended(CallId(call), self.now)
            .expect("call ends");
        self.drain();
    }

    fn state(&self, agent: &str) -> AgentStateKind {
        self.acd
            .agent_stats(&ag(agent), self.now)
            .expect("known agent")
            .state
    }
}

fn cfg(strategy: Strategy) -> QueueConfig {
    QueueConfig {
        strategy,
        ring_timeout: secs(10),
        wrap_up: secs(5),
        ..QueueConfig::default()
    }
}

/// Serves call `call` by `agent` completely: answer, hang up, finish wrap-up.
fn serve(h: &mut Harness, call: u64, agent: &str) {
    h.answer(call, agent);
    h.end(call);
    h.acd
        .complete_wrap_up(&ag(agent), None, h.now)
        .expect("wrap-up completes");
    h.drain();
}

#[test]
fn longest_idle_offers_the_agent_free_the_longest() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.at(1);
    h.login("bob", &["s"], &[]);
    h.at(2);
    h.login("cat", &["s"], &[]);
    h.at(3);
    h.enqueue(1, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(1, "ann".to_string())]);
    h.enqueue(2, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(2, "bob".to_string())]);
    serve(&mut h, 1, "ann");
    h.at(4);
    // cat has been idle since t=2, ann only since t=3.
    h.enqueue(3, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(3, "cat".to_string())]);
    h.enqueue(4, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(4, "ann".to_string())]);
}

#[test]
fn round_robin_takes_turns_in_registration_order() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::RoundRobin))]);
    for a in ["ann", "bob", "cat"] {
        h.login(a, &["s"], &[]);
    }
    let mut got = Vec::new();
    for call in 1..=6 {
        h.enqueue(call, "s", 0, vec![]);
        let offers = h.offers();
        assert_eq!(offers.len(), 1);
        let agent = offers[0].1.clone();
        serve(&mut h, call, &agent);
        got.push(agent);
    }
    assert_eq!(got, ["ann", "bob", "cat", "ann", "bob", "cat"]);
}

#[test]
fn fewest_calls_prefers_the_agent_who_answered_least() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::FewestCalls))]);
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    serve(&mut h, 1, "ann");
    h.enqueue(2, "s", 0, vec![]);
    serve(&mut h, 2, "ann");
    h.at(10);
    h.login("bob", &["s"], &[]);
    h.enqueue(3, "s", 0, vec![]);
    serve(&mut h, 3, "bob");
    h.at(20);
    h.take_actions();
    // ann: 2 answered and idle longer; bob: 1 answered, so bob gets it.
    h.enqueue(4, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(4, "bob".to_string())]);
}

#[test]
fn skills_based_filters_by_required_skills_then_best_level_then_longest_idle() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::SkillsBased))]);
    h.login("ann", &["s"], &[("billing", 5)]);
    h.at(1);
    h.login("bob", &["s"], &[("billing", 9), ("spanish", 3)]);
    h.at(2);
    h.login("cat", &["s"], &[("billing", 9), ("spanish", 8)]);
    h.at(3);
    h.login("dan", &["s"], &[("spanish", 10)]);
    h.at(4);
    // Only bob and cat have billing 9; bob has been idle longer.
    h.enqueue(1, "s", 0, vec![SkillRequirement::any("billing")]);
    assert_eq!(h.offers(), vec![(1, "bob".to_string())]);
    // Needs billing and spanish ≥ 5: only cat qualifies (dan lacks billing).
    h.enqueue(
        2,
        "s",
        0,
        vec![
            SkillRequirement::any("billing"),
            SkillRequirement::at_least("spanish", 5),
        ],
    );
    assert_eq!(h.offers(), vec![(2, "cat".to_string())]);
    // Billing at level 6 or better: nobody free (ann has 5), so the call waits.
    h.enqueue(3, "s", 0, vec![SkillRequirement::at_least("billing", 6)]);
    assert_eq!(h.offers(), vec![]);
    // No skills: longest idle among the free (ann since 0, dan since 3).
    h.enqueue(4, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(4, "ann".to_string())]);
    // When bob frees up he takes call 3, which waited for his level.
    serve(&mut h, 1, "bob");
    assert_eq!(h.offers(), vec![(3, "bob".to_string())]);
}

#[test]
fn ring_all_rings_every_free_agent_and_cancels_the_others_on_answer() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::RingAll))]);
    for a in ["ann", "bob", "cat"] {
        h.login(a, &["s"], &[]);
    }
    h.enqueue(1, "s", 0, vec![]);
    let mut offered: Vec<String> = h.offers().into_iter().map(|(_, a)| a).collect();
    offered.sort();
    assert_eq!(offered, ["ann", "bob", "cat"]);
    h.answer(1, "bob");
    let mut cancelled: Vec<String> = h
        .take_actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::CancelOffer { agent, .. } => Some(agent.0),
            _ => None,
        })
        .collect();
    cancelled.sort();
    assert_eq!(cancelled, ["ann", "cat"]);
    assert_eq!(h.state("ann"), AgentStateKind::Available);
    assert_eq!(h.state("bob"), AgentStateKind::OnCall);
}

#[test]
fn higher_priority_is_served_first_then_first_come_first_served() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.enqueue(1, "s", 0, vec![]);
    h.at(1);
    h.enqueue(2, "s", 5, vec![]);
    h.at(2);
    h.enqueue(3, "s", 0, vec![]);
    h.at(3);
    h.enqueue(4, "s", 5, vec![]);
    h.login("ann", &["s"], &[]);
    let mut order = Vec::new();
    for _ in 0..4 {
        let offers = h.offers();
        assert_eq!(offers.len(), 1);
        order.push(offers[0].0);
        serve(&mut h, offers[0].0, "ann");
    }
    assert_eq!(order, [2, 4, 1, 3]);
}

#[test]
fn ring_no_answer_moves_the_call_to_the_next_agent() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.at(1);
    h.login("bob", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(1, "ann".to_string())]);
    h.acd
        .handle_offer_ringing(CallId(1), &ag("ann"), h.now)
        .expect("ringing");
    assert_eq!(h.state("ann"), AgentStateKind::Ringing);
    h.at(10);
    assert_eq!(h.offers(), vec![], "not before the ring timeout (t=1+10)");
    h.at(11);
    let actions = h.take_actions();
    assert!(actions.contains(&Action::CancelOffer {
        call: CallId(1),
        agent: ag("ann")
    }));
    assert!(actions.iter().any(
        |a| matches!(a, Action::Offer { call, agent, .. } if call.0 == 1 && agent.0 == "bob")
    ));
    let ann = h.acd.agent_stats(&ag("ann"), h.now).expect("ann");
    assert_eq!(
        (ann.state, ann.consecutive_misses),
        (AgentStateKind::Available, 1)
    );
}

#[test]
fn an_agent_missing_n_offers_in_a_row_is_paused_with_a_visible_reason() {
    let mut h = Harness::with(AcdConfig {
        queues: vec![(q("s"), cfg(Strategy::LongestIdle))],
        max_consecutive_misses: 2,
        ..AcdConfig::default()
    });
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.enqueue(2, "s", 0, vec![]);
    h.take_actions();
    h.at(10); // call 1 times out, ann gets call 2 (she is never offered call 1 again)
    assert_eq!(h.offers(), vec![(2, "ann".to_string())]);
    h.at(20);
    let ann = h.acd.agent_stats(&ag("ann"), h.now).expect("ann");
    assert_eq!(ann.state, AgentStateKind::Paused);
    assert!(ann
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("ring-no-answer")));
    assert!(h
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::AgentAutoPaused { agent, .. } if agent.0 == "ann")));
    // Unpausing resets the count; a new agent takes the waiting calls.
    h.login("bob", &["s"], &[]);
    assert_eq!(h.offers(), vec![(1, "bob".to_string())]);
    h.acd
        .set_state(&ag("ann"), Presence::Available, h.now)
        .expect("unpause");
    h.drain();
    assert_eq!(h.state("ann"), AgentStateKind::Available);
}

#[test]
fn an_answer_resets_the_miss_count() {
    let mut h = Harness::with(AcdConfig {
        queues: vec![(q("s"), cfg(Strategy::LongestIdle))],
        max_consecutive_misses: 2,
        ..AcdConfig::default()
    });
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.enqueue(2, "s", 0, vec![]);
    h.enqueue(3, "s", 0, vec![]);
    h.at(10); // missed call 1, offered call 2
    h.take_actions();
    h.answer(2, "ann");
    h.end(2);
    h.acd
        .complete_wrap_up(&ag("ann"), None, h.now)
        .expect("done");
    h.drain();
    assert_eq!(h.offers(), vec![(3, "ann".to_string())]);
    h.at(20); // one miss since the answer: not paused
    assert_eq!(h.state("ann"), AgentStateKind::Available);
}

#[test]
fn a_rejected_offer_goes_to_the_next_agent_and_never_back() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(1, "ann".to_string())]);
    h.acd
        .handle_offer_rejected(CallId(1), &ag("ann"), h.now)
        .expect("reject");
    h.drain();
    assert_eq!(h.offers(), vec![], "ann declined call 1");
    assert_eq!(h.state("ann"), AgentStateKind::Available);
    h.login("bob", &["s"], &[]);
    assert_eq!(h.offers(), vec![(1, "bob".to_string())]);
    let err = h.acd.handle_offer_rejected(CallId(1), &ag("ann"), h.now);
    assert!(matches!(err, Err(AcdError::NoSuchOffer { .. })));
}

#[test]
fn wrap_up_ends_by_its_timer() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.answer(1, "ann");
    h.at(60);
    h.end(1);
    assert_eq!(h.state("ann"), AgentStateKind::WrapUp);
    h.take_actions();
    h.enqueue(2, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![], "no offer during wrap-up");
    h.at(64);
    assert_eq!(h.state("ann"), AgentStateKind::WrapUp);
    h.at(65);
    assert_eq!(h.state("ann"), AgentStateKind::Reserved);
    assert_eq!(h.offers(), vec![(2, "ann".to_string())]);
    assert!(h.take_events().contains(&Event::WrapUpEnded {
        agent: ag("ann"),
        disposition: None,
        by_timer: true
    }));
    let stats = h.acd.queue_stats(&q("s"), h.now).expect("queue");
    assert_eq!(
        stats.average_handle_time,
        secs(65),
        "talk 60 s + wrap-up 5 s"
    );
}

#[test]
fn wrap_up_can_be_completed_early_with_a_disposition() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.answer(1, "ann");
    h.end(1);
    h.at(2);
    h.acd
        .complete_wrap_up(&ag("ann"), Some("resolved".into()), h.now)
        .expect("complete");
    assert_eq!(h.state("ann"), AgentStateKind::Available);
    assert!(h.take_events().contains(&Event::WrapUpEnded {
        agent: ag("ann"),
        disposition: Some("resolved".into()),
        by_timer: false
    }));
    assert_eq!(h.acd.poll_timeout(), None, "the wrap-up timer is gone");
}

#[test]
fn a_call_overflows_to_the_next_queue_after_waiting() {
    let mut first = cfg(Strategy::LongestIdle);
    first.overflow = Some(Overflow {
        after: secs(30),
        to: q("backup"),
    });
    let mut h = Harness::new(vec![
        ("first", first),
        ("backup", cfg(Strategy::LongestIdle)),
    ]);
    h.login("bob", &["backup"], &[]);
    h.enqueue(1, "first", 0, vec![]);
    assert_eq!(h.offers(), vec![]);
    h.at(29);
    assert_eq!(h.offers(), vec![]);
    h.at(30);
    assert!(h.take_events().contains(&Event::Overflowed {
        call: CallId(1),
        from: q("first"),
        to: q("backup")
    }));
    // The overflow's offer came with it (taken above with the events' drain).
    h.answer(1, "bob");
    let first = h.acd.queue_stats(&q("first"), h.now).expect("first");
    assert_eq!((first.overflowed, first.waiting), (1, 0));
}

#[test]
fn max_wait_sends_the_call_to_the_fallback() {
    let mut c = cfg(Strategy::LongestIdle);
    c.max_wait = Some(secs(120));
    let mut h = Harness::new(vec![("s", c)]);
    h.enqueue(1, "s", 0, vec![]);
    h.at(119);
    assert!(h.take_actions().is_empty());
    h.at(120);
    assert_eq!(
        h.take_actions(),
        vec![Action::Fallback {
            call: CallId(1),
            queue: q("s"),
            reason: FallbackReason::MaxWait
        }]
    );
    assert_eq!(
        h.acd.queue_stats(&q("s"), h.now).map(|s| s.waiting),
        Some(0)
    );
}

#[test]
fn a_full_queue_sends_new_calls_to_the_fallback() {
    let mut c = cfg(Strategy::LongestIdle);
    c.max_length = Some(2);
    let mut h = Harness::new(vec![("s", c)]);
    h.enqueue(1, "s", 0, vec![]);
    h.enqueue(2, "s", 0, vec![]);
    assert!(h.take_actions().is_empty());
    h.enqueue(3, "s", 0, vec![]);
    assert_eq!(
        h.take_actions(),
        vec![Action::Fallback {
            call: CallId(3),
            queue: q("s"),
            reason: FallbackReason::Full
        }]
    );
}

#[test]
fn a_closed_queue_sends_new_calls_to_the_fallback_until_reopened() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.acd.set_queue_open(&q("s"), false).expect("close");
    h.enqueue(1, "s", 0, vec![]);
    assert_eq!(
        h.take_actions(),
        vec![Action::Fallback {
            call: CallId(1),
            queue: q("s"),
            reason: FallbackReason::Closed
        }]
    );
    h.acd.set_queue_open(&q("s"), true).expect("open");
    h.enqueue(2, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(2, "ann".to_string())]);
}

#[test]
fn a_callback_keeps_its_place_in_line() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    for call in 1..=3 {
        h.enqueue(call, "s", 0, vec![]);
        h.at(call);
    }
    h.acd
        .convert_to_callback(CallId(2), "+15550100".into(), h.now)
        .expect("convert");
    assert!(matches!(
        h.acd.convert_to_callback(CallId(2), "x".into(), h.now),
        Err(AcdError::NotWaiting(_))
    ));
    let stats = h.acd.queue_stats(&q("s"), h.now).expect("queue");
    assert_eq!((stats.waiting, stats.callbacks), (2, 1));
    h.login("ann", &["s"], &[]);
    assert_eq!(h.offers(), vec![(1, "ann".to_string())]);
    serve(&mut h, 1, "ann");
    let actions = h.take_actions();
    assert_eq!(
        actions,
        vec![Action::PlaceCallback {
            call: CallId(2),
            agent: ag("ann"),
            queue: q("s"),
            number: "+15550100".into(),
            context: "ctx-2".into()
        }]
    );
    serve(&mut h, 2, "ann");
    assert_eq!(h.offers(), vec![(3, "ann".to_string())]);
}

#[test]
fn placing_a_callback_may_take_the_callback_timeout_before_it_counts_as_a_miss() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.enqueue(1, "s", 0, vec![]);
    h.acd
        .convert_to_callback(CallId(1), "+15550100".into(), h.now)
        .expect("convert");
    h.login("ann", &["s"], &[]);
    assert!(matches!(
        h.take_actions().as_slice(),
        [Action::PlaceCallback { .. }]
    ));
    // Past the ring timeout (10 s) the caller may still be ringing: ann stays reserved.
    h.at(30);
    assert!(h.take_actions().is_empty());
    assert_eq!(h.state("ann"), AgentStateKind::Reserved);
    // Past ring timeout + callback timeout (45 s) it is a miss like any other.
    h.at(56);
    assert!(matches!(
        h.take_actions().as_slice(),
        [Action::CancelOffer { .. }, ..]
    ));
}

#[test]
fn a_direct_transfer_rings_the_named_agent_first_then_the_queue() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.at(1);
    h.login("carol", &["s"], &[]);
    h.at(2);
    h.login("bob", &["s"], &[]);
    h.enqueue(1, "s", 3, vec![]);
    assert_eq!(h.offers(), vec![(1, "ann".to_string())]);
    h.answer(1, "ann");
    // Carol has been idle longer, yet the call goes to bob because ann named him.
    h.acd
        .transfer_to_agent(CallId(1), &ag("bob"), h.now)
        .expect("bob is available");
    assert_eq!(h.offers(), vec![(1, "bob".to_string())]);
    assert_eq!(h.state("ann"), AgentStateKind::WrapUp);
    assert_eq!(h.state("carol"), AgentStateKind::Available);
    // Bob lets it ring out: the call waits in the queue and carol gets it.
    h.at(13);
    let offers: Vec<_> = h
        .take_actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Offer { call, agent, .. } => Some((call.0, agent.0)),
            _ => None,
        })
        .collect();
    assert_eq!(offers, vec![(1, "carol".to_string())]);
}

#[test]
fn a_direct_transfer_needs_an_available_agent_other_than_oneself() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.answer(1, "ann");
    h.acd
        .set_state(&ag("bob"), crate::acd::Presence::Available, h.now)
        .expect_err("bob never logged in");
    for (to, why) in [("ann", "oneself"), ("zed", "unknown")] {
        let e = h
            .acd
            .transfer_to_agent(CallId(1), &ag(to), h.now)
            .expect_err(why);
        assert!(
            matches!(
                e,
                AcdError::AgentNotAvailable { .. } | AcdError::UnknownAgent(_)
            ),
            "{e}"
        );
    }
    h.login("bob", &["s"], &[]);
    h.acd
        .set_state(
            &ag("bob"),
            crate::acd::Presence::Paused("lunch".into()),
            h.now,
        )
        .expect("pause");
    let e = h
        .acd
        .transfer_to_agent(CallId(1), &ag("bob"), h.now)
        .expect_err("bob is paused");
    assert!(e.to_string().contains("not available"), "{e}");
    assert_eq!(h.state("ann"), AgentStateKind::OnCall, "nothing changed");
}

#[test]
fn callbacks_survive_a_restart_in_their_order() {
    let queues = || vec![("s", cfg(Strategy::LongestIdle))];
    let mut h = Harness::new(queues());
    for call in 1..=3 {
        h.enqueue(call, "s", 0, vec![]);
        h.acd
            .convert_to_callback(CallId(call), format!("+1555010{call}"), h.now)
            .expect("convert");
        h.at(call * 10);
    }
    let saved = h.acd.export_callbacks(h.now);
    let json = serde_json::to_string(&saved).expect("serialize");
    let restored: Vec<CallbackRecord<String>> = serde_json::from_str(&json).expect("parse");
    assert_eq!(restored.len(), 3);
    assert_eq!(restored[0].waited_ms, 30_000);

    let mut h2 = Harness::new(queues());
    h2.enqueue(9, "s", 0, vec![]); // a live caller arriving after the restart
    assert!(h2.acd.import_callbacks(restored.clone(), h2.now).is_empty());
    let again = h2.acd.import_callbacks(restored, h2.now);
    assert!(matches!(again[0].1, AcdError::DuplicateCall(CallId(1))));
    h2.login("ann", &["s"], &[]);
    let mut order = Vec::new();
    for _ in 0..4 {
        let next = h2
            .take_actions()
            .into_iter()
            .find_map(|a| match a {
                Action::PlaceCallback { call, .. } | Action::Offer { call, .. } => Some(call.0),
                _ => None,
            })
            .expect("something offered");
        order.push(next);
        serve(&mut h2, next, "ann");
    }
    assert_eq!(order, [1, 2, 3, 9]);
}

#[test]
fn longest_idle_shares_twenty_callers_fairly_among_five_agents() {
    let mut c = cfg(Strategy::LongestIdle);
    c.wrap_up = secs(10);
    let mut h = Harness::new(vec![("s", c)]);
    let agents = ["a1", "a2", "a3", "a4", "a5"];
    for a in agents {
        h.login(a, &["s"], &[]);
    }
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut ends: Vec<(u64, u64)> = Vec::new(); // (end time, call)
                                                // A caller every 40 s; talk times vary from 30 s to 170 s.
    for call in 0..20u64 {
        let arrive = call * 40;
        ends.sort();
        while let Some(&(t, c)) = ends.first() {
            if t > arrive {
                break;
            }
            h.at(t);
            h.end(c);
            ends.remove(0);
        }
        h.at(arrive);
        h.enqueue(call, "s", 0, vec![]);
        let offers = h.offers();
        assert_eq!(offers.len(), 1, "an agent is always free for call {call}");
        let (_, agent) = offers[0].clone();
        h.answer(call, &agent);
        *counts.entry(agent).or_default() += 1;
        ends.push((arrive + 30 + (call * 37) % 141, call));
    }
    for a in agents {
        let n = counts.get(a).copied().unwrap_or(0);
        assert!((3..=5).contains(&n), "{a} took {n} calls: {counts:?}");
    }
}

#[test]
fn invalid_transitions_are_refused_with_a_typed_error() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    let invalid = |r: Result<(), AcdError>, from, to| match r {
        Err(AcdError::InvalidTransition { from: f, to: t, .. }) => {
            assert_eq!((f, t), (from, to));
        }
        other => panic!("expected an invalid transition, got {other:?}"),
    };
    use AgentStateKind::*;
    invalid(
        h.acd.complete_wrap_up(&ag("ann"), None, h.now),
        Available,
        Available,
    );
    invalid(
        h.acd.set_state(&ag("ann"), Presence::Available, h.now),
        Available,
        Available,
    );
    let again = AgentProfile {
        id: ag("ann"),
        skills: vec![],
        queues: vec![q("s")],
    };
    invalid(h.acd.login(again, h.now), Available, Available);
    h.enqueue(1, "s", 0, vec![]);
    invalid(
        h.acd
            .set_state(&ag("ann"), Presence::Paused("lunch".into()), h.now),
        Reserved,
        Paused,
    );
    h.answer(1, "ann");
    invalid(h.acd.logout(&ag("ann"), h.now), OnCall, LoggedOut);
    invalid(
        h.acd.complete_wrap_up(&ag("ann"), None, h.now),
        OnCall,
        Available,
    );
    h.end(1);
    h.acd
        .logout(&ag("ann"), h.now)
        .expect("logout from wrap-up");
    invalid(h.acd.logout(&ag("ann"), h.now), LoggedOut, LoggedOut);
    invalid(
        h.acd
            .set_state(&ag("ann"), Presence::Paused("x".into()), h.now),
        LoggedOut,
        Paused,
    );
    assert!(matches!(
        h.acd.set_state(&ag("nobody"), Presence::Available, h.now),
        Err(AcdError::UnknownAgent(_))
    ));
    assert!(matches!(
        h.acd.handle_offer_answered(CallId(7), &ag("ann"), h.now),
        Err(AcdError::NoSuchOffer { .. })
    ));
    let bad_level = AgentProfile {
        id: ag("bob"),
        skills: vec![(Skill::from("x"), 11)],
        queues: vec![q("s")],
    };
    assert!(matches!(
        h.acd.login(bad_level, h.now),
        Err(AcdError::SkillLevelOutOfRange { level: 11, .. })
    ));
    let unknown_queue = Enqueue {
        call: CallId(2),
        queue: q("nope"),
        priority: 0,
        skills: vec![],
        context: String::new(),
    };
    assert!(matches!(
        h.acd.enqueue(unknown_queue, h.now),
        Err(AcdError::UnknownQueue(_))
    ));
}

#[test]
fn announcements_come_at_the_interval_with_estimates_from_handle_time_and_staffing() {
    let mut c = cfg(Strategy::LongestIdle);
    c.announce_interval = Some(secs(30));
    c.default_handle_time = secs(120);
    let mut h = Harness::new(vec![("s", c)]);
    h.login("ann", &["s"], &[]);
    h.login("bob", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.enqueue(2, "s", 0, vec![]);
    h.answer(1, "ann");
    h.answer(2, "bob");
    h.take_actions();
    for call in 3..=5 {
        h.enqueue(call, "s", 0, vec![]);
    }
    let announces = |actions: Vec<Action<String>>| -> Vec<(u64, usize, Option<Duration>)> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Announce {
                    call,
                    position,
                    estimated_wait,
                } => Some((call.0, position, estimated_wait)),
                _ => None,
            })
            .collect()
    };
    // On entry: position p waits p × 120 s ÷ 2 agents.
    assert_eq!(
        announces(h.take_actions()),
        vec![
            (3, 1, Some(secs(60))),
            (4, 2, Some(secs(120))),
            (5, 3, Some(secs(180)))
        ]
    );
    h.at(29);
    assert!(announces(h.take_actions()).is_empty());
    h.at(30);
    assert_eq!(announces(h.take_actions()).len(), 3);
    // ann's call took 40 s talk + 5 s wrap-up; the average moves to 45 s… once it ends.
    h.at(40);
    h.end(1);
    h.at(45); // wrap-up over: ann takes call 3
    assert_eq!(h.offers(), vec![(3, "ann".to_string())]);
    h.answer(3, "ann");
    h.at(60);
    assert_eq!(
        announces(h.take_actions()),
        vec![(4, 1, Some(secs(23))), (5, 2, Some(secs(45)))],
        "ceil(1 × 45 ÷ 2) and 2 × 45 ÷ 2"
    );
    h.at(90);
    assert_eq!(announces(h.take_actions()).len(), 2);
}

#[test]
fn estimated_wait_is_unknown_without_staff() {
    assert_eq!(estimated_wait(3, secs(100), 0), None);
    assert_eq!(estimated_wait(3, secs(100), 4), Some(secs(75)));
}

#[test]
fn logout_releases_an_offer_to_the_next_agent() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.at(1);
    h.login("bob", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    assert_eq!(h.offers(), vec![(1, "ann".to_string())]);
    h.acd.logout(&ag("ann"), h.now).expect("logout");
    let actions = h.take_actions();
    assert!(actions.contains(&Action::CancelOffer {
        call: CallId(1),
        agent: ag("ann")
    }));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Offer { agent, .. } if agent.0 == "bob")));
    assert_eq!(h.state("ann"), AgentStateKind::LoggedOut);
}

#[test]
fn a_disconnected_agent_on_a_call_is_logged_out_when_it_ends() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.answer(1, "ann");
    h.acd.disconnect(&ag("ann"), h.now).expect("disconnect");
    assert_eq!(h.state("ann"), AgentStateKind::OnCall);
    h.end(1);
    assert_eq!(h.state("ann"), AgentStateKind::LoggedOut);
    assert_eq!(h.acd.poll_timeout(), None);
}

#[test]
fn an_abandon_during_an_offer_cancels_it_and_counts_in_the_stats() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.login("ann", &["s"], &[]);
    h.enqueue(1, "s", 0, vec![]);
    h.take_actions();
    h.acd.handle_abandon(CallId(1), h.now).expect("abandon");
    assert_eq!(
        h.take_actions(),
        vec![Action::CancelOffer {
            call: CallId(1),
            agent: ag("ann")
        }]
    );
    assert!(h.take_events().contains(&Event::CallEnded {
        call: CallId(1),
        queue: q("s"),
        outcome: CallOutcome::Abandoned
    }));
    assert_eq!(h.state("ann"), AgentStateKind::Available);
    assert!(matches!(
        h.acd.handle_abandon(CallId(1), h.now),
        Err(AcdError::UnknownCall(_))
    ));
}

#[test]
fn wallboard_figures_follow_service_level_speed_of_answer_and_abandonment() {
    let mut c = cfg(Strategy::LongestIdle);
    c.service_level_threshold = secs(20);
    c.ring_timeout = secs(60);
    let mut h = Harness::new(vec![("s", c)]);
    h.enqueue(1, "s", 0, vec![]);
    h.enqueue(2, "s", 0, vec![]);
    h.enqueue(3, "s", 0, vec![]);
    h.enqueue(4, "s", 0, vec![]);
    h.at(5);
    h.acd
        .handle_abandon(CallId(4), h.now)
        .expect("short abandon");
    h.at(10);
    h.login("ann", &["s"], &[]);
    h.answer(1, "ann"); // waited 10 s
    h.login("bob", &["s"], &[]);
    h.at(30);
    h.answer(2, "bob"); // waited 30 s
    h.at(40);
    let stats = h.acd.queue_stats(&q("s"), h.now).expect("queue");
    assert_eq!(stats.waiting, 1);
    assert_eq!(stats.longest_wait, secs(40));
    h.acd
        .handle_abandon(CallId(3), h.now)
        .expect("late abandon");
    h.drain();
    let stats = h.acd.queue_stats(&q("s"), h.now).expect("queue");
    // In SL: 1 of (2 answered + 1 abandoned after 20 s).
    assert_eq!(stats.service_level, Some(1.0 / 3.0));
    assert_eq!(stats.average_speed_of_answer, Some(secs(20)));
    assert_eq!(stats.abandonment_rate, Some(0.5));
    assert_eq!((stats.handled, stats.abandoned, stats.waiting), (2, 2, 0));
    let snap = h.acd.snapshot(h.now);
    assert_eq!(snap.queues, vec![stats]);
    let ann = snap.agents.iter().find(|a| a.id.0 == "ann").expect("ann");
    assert_eq!(
        (ann.state, ann.time_in_state, ann.call),
        (AgentStateKind::OnCall, secs(30), Some(CallId(1)))
    );
}

#[test]
fn change_events_are_coalesced_until_polled() {
    let mut h = Harness::new(vec![("s", cfg(Strategy::LongestIdle))]);
    h.acd
        .login(
            AgentProfile {
                id: ag("ann"),
                skills: vec![],
                queues: vec![q("s")],
            },
            h.now,
        )
        .expect("login");
    for call in 1..=3 {
        h.acd
            .enqueue(
                Enqueue {
                    call: CallId(call),
                    queue: q("s"),
                    priority: 0,
                    skills: vec![],
                    context: String::new(),
                },
                h.now,
            )
            .expect("enqueue");
    }
    let events = h.take_events();
    let queue_changes = events
        .iter()
        .filter(|e| matches!(e, Event::QueueChanged(_)))
        .count();
    let agent_changes = events
        .iter()
        .filter(|e| matches!(e, Event::AgentChanged(_)))
        .count();
    assert_eq!((queue_changes, agent_changes), (1, 1));
    h.acd.handle_abandon(CallId(3), h.now).expect("abandon");
    assert!(h.take_events().contains(&Event::QueueChanged(q("s"))));
}

#[test]
fn transfer_moves_a_waiting_call_and_requeues_a_talking_one() {
    let mut h = Harness::new(vec![
        ("a", cfg(Strategy::LongestIdle)),
        ("b", cfg(Strategy::LongestIdle)),
    ]);
    h.login("ann", &["a"], &[]);
    h.enqueue(1, "b", 3, vec![]);
    h.enqueue(2, "a", 0, vec![]);
    h.answer(2, "ann");
    h.acd
        .transfer(CallId(1), &q("a"), h.now)
        .expect("transfer waiting");
    h.acd
        .transfer(CallId(2), &q("b"), h.now)
        .expect("transfer talking");
    h.drain();
    assert_eq!(h.state("ann"), AgentStateKind::WrapUp);
    h.take_actions();
    h.login("bob", &["a", "b"], &[]);
    // Call 1 has priority 3 and waited longer.
    assert_eq!(h.offers(), vec![(1, "bob".to_string())]);
    let b = h.acd.queue_stats(&q("b"), h.now).expect("b");
    assert_eq!(b.waiting, 1, "call 2 waits in b again");
}

#[test]
fn a_configuration_reports_every_problem_at_once() {
    let mut bad = cfg(Strategy::LongestIdle);
    bad.ring_timeout = Duration::ZERO;
    bad.overflow = Some(Overflow {
        after: secs(1),
        to: q("missing"),
    });
    let err = Acd::<()>::new(AcdConfig {
        queues: vec![(q("s"), bad), (q("s"), cfg(Strategy::RingAll))],
        handle_time_window: 0,
        ..AcdConfig::default()
    })
    .expect_err("invalid");
    assert_eq!(err.0.len(), 4, "{err}");
    assert!(err.to_string().contains("missing"));
}

// ----- property test -------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Login(u8),
    Logout(u8),
    Disconnect(u8),
    Pause(u8),
    Unpause(u8),
    Enqueue {
        queue: u8,
        priority: i8,
        skill: Option<u8>,
    },
    Ringing(u8),
    Answer(u8),
    Reject(u8),
    End(u8),
    CompleteWrapUp(u8),
    Abandon(u8),
    Callback(u8),
    Transfer(u8, u8),
    SetOpen(u8, bool),
    Advance(u16),
}

fn op() -> impl Gen<Value = Op> {
    prop_oneof![
        1 => (0..6u8).prop_map(Op::Login),
        1 => (0..6u8).prop_map(Op::Logout),
        1 => (0..6u8).prop_map(Op::Disconnect),
        1 => (0..6u8).prop_map(Op::Pause),
        1 => (0..6u8).prop_map(Op::Unpause),
        3 => (0..4u8, -2..3i8, proptest::option::of(0..3u8))
            .prop_map(|(queue, priority, skill)| Op::Enqueue { queue, priority, skill }),
        1 => (0..6u8).prop_map(Op::Ringing),
        3 => (0..6u8).prop_map(Op::Answer),
        1 => (0..6u8).prop_map(Op::Reject),
        2 => any::<u8>().prop_map(Op::End),
        1 => (0..6u8).prop_map(Op::CompleteWrapUp),
        1 => any::<u8>().prop_map(Op::Abandon),
        1 => any::<u8>().prop_map(Op::Callback),
        1 => (any::<u8>(), 0..4u8).prop_map(|(c, q)| Op::Transfer(c, q)),
        1 => (0..4u8, any::<bool>()).prop_map(|(q, o)| Op::SetOpen(q, o)),
        4 => (0..90u16).prop_map(Op::Advance),
    ]
}

const QUEUES: [&str; 4] = ["idle", "ring", "skills", "robin"];
const SKILLS: [&str; 3] = ["en", "es", "fr"];

fn prop_harness() -> Harness {
    let mut idle = cfg(Strategy::LongestIdle);
    idle.overflow = Some(Overflow {
        after: secs(40),
        to: q("ring"),
    });
    idle.announce_interval = Some(secs(25));
    let mut ring = cfg(Strategy::RingAll);
    ring.max_length = Some(3);
    ring.wrap_up = secs(20);
    let mut skills = cfg(Strategy::SkillsBased);
    skills.max_wait = Some(secs(100));
    skills.ring_timeout = secs(7);
    let mut robin = cfg(Strategy::RoundRobin);
    robin.wrap_up = Duration::ZERO;
    robin.overflow = Some(Overflow {
        after: secs(15),
        to: q("skills"),
    });
    Harness::with(AcdConfig {
        queues: vec![
            (q("idle"), idle),
            (q("ring"), ring),
            (q("skills"), skills),
            (q("robin"), robin),
        ],
        max_consecutive_misses: 2,
        handle_time_window: 5,
    })
}

fn agent_name(i: u8) -> AgentId {
    AgentId(format!("agent{i}"))
}

/// Applies one op; returns the call whose queue visit it opened, if any.
fn apply(h: &mut Harness, op: &Op, calls: &[CallId], next_call: &mut u64) -> Option<CallId> {
    let pick = |i: u8| calls.get(i as usize % calls.len().max(1)).copied();
    let now = h.now;
    let acd = &mut h.acd;
    let offered = |acd: &Acd<String>, i: u8| {
        acd.agent_stats(&agent_name(i), now)
            .filter(|s| matches!(s.state, AgentStateKind::Reserved | AgentStateKind::Ringing))
            .and_then(|s| s.call)
    };
    let mut opened = None;
    match op {
        Op::Login(i) => {
            let i = *i;
            let profile = AgentProfile {
                id: agent_name(i),
                skills: vec![
                    (Skill::from(SKILLS[i as usize % 3]), 1 + i % 10),
                    (Skill::from(SKILLS[(i as usize + 1) % 3]), 10 - i % 10),
                ],
                queues: (0..4)
                    .filter(|n| (i + n) % 3 != 0)
                    .map(|n| q(QUEUES[n as usize]))
                    .collect(),
            };
            let _ = acd.login(profile, now);
        }
        Op::Logout(i) => {
            let _ = acd.logout(&agent_name(*i), now);
        }
        Op::Disconnect(i) => {
            let _ = acd.disconnect(&agent_name(*i), now);
        }
        Op::Pause(i) => {
            let _ = acd.set_state(&agent_name(*i), Presence::Paused("break".into()), now);
        }
        Op::Unpause(i) => {
            let _ = acd.set_state(&agent_name(*i), Presence::Available, now);
        }
        Op::Enqueue {
            queue,
            priority,
            skill,
        } => {
            *next_call += 1;
            let call = CallId(*next_call);
            let req = Enqueue {
                call,
                queue: q(QUEUES[*queue as usize]),
                priority: i32::from(*priority),
                skills: skill
                    .map(|s| vec![SkillRequirement::at_least(SKILLS[s as usize], 2)])
                    .unwrap_or_default(),
                context: format!("ctx{call}"),
            };
            if acd.enqueue(req, now).is_ok() {
                opened = Some(call);
            }
        }
        Op::Ringing(i) => {
            if let Some(c) = offered(acd, *i) {
                acd.handle_offer_ringing(c, &agent_name(*i), now)
                    .expect("a real offer rings");
            }
        }
        Op::Answer(i) => {
            if let Some(c) = offered(acd, *i) {
                acd.handle_offer_answered(c, &agent_name(*i), now)
                    .expect("a real offer can be answered");
            }
        }
        Op::Reject(i) => {
            if let Some(c) = offered(acd, *i) {
                acd.handle_offer_rejected(c, &agent_name(*i), now)
                    .expect("a real offer can be rejected");
            }
        }
        Op::End(c) => {
            if let Some(c) = pick(*c) {
                let _ = acd.handle_call_ended(c, now);
            }
        }
        Op::CompleteWrapUp(i) => {
            let _ = acd.complete_wrap_up(&agent_name(*i), Some("done".into()), now);
        }
        Op::Abandon(c) => {
            if let Some(c) = pick(*c) {
                let _ = acd.handle_abandon(c, now);
            }
        }
        Op::Callback(c) => {
            if let Some(c) = pick(*c) {
                let _ = acd.convert_to_callback(c, "+15550199".into(), now);
            }
        }
        Op::Transfer(c, to) => {
            if let Some(c) = pick(*c) {
                let talking = acd.talking.contains_key(&c);
                if acd.transfer(c, &q(QUEUES[*to as usize]), now).is_ok() && talking {
                    opened = Some(c);
                }
            }
        }
        Op::SetOpen(queue, open) => {
            acd.set_queue_open(&q(QUEUES[*queue as usize]), *open)
                .expect("known queue");
        }
        Op::Advance(s) => {
            let t = h.now + secs(u64::from(*s));
            h.advance_to(t);
        }
    }
    opened
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random inputs never leave an agent in Reserved/Ringing/WrapUp past its timer (checked
    /// by `check_invariants` after every step), never lose a call, and end each queue visit
    /// exactly once.
    #[test]
    fn random_inputs_never_strand_agents_or_lose_calls(ops in proptest::collection::vec(op(), 1..120)) {
        let mut h = prop_harness();
        let mut calls: Vec<CallId> = Vec::new();
        let mut open: HashMap<CallId, u32> = HashMap::new();
        let mut next_call = 0u64;
        let settle = |h: &mut Harness, open: &mut HashMap<CallId, u32>| {
            for e in h.take_events() {
                if let Event::CallEnded { call, .. } = e {
                    let n = open.get_mut(&call).expect("an ended call was enqueued");
                    assert_eq!(*n, 1, "call {call} ended twice");
                    *n -= 1;
                }
            }
            for (c, n) in open.iter() {
                assert!(*n <= 1);
                assert_eq!(*n == 1, h.acd.calls.contains_key(c), "call {c} lost or duplicated");
            }
        };
        for o in &ops {
            if let Some(c) = apply(&mut h, o, &calls, &mut next_call) {
                if !calls.contains(&c) {
                    calls.push(c);
                }
                *open.entry(c).or_default() += 1;
            }
            h.drain();
            settle(&mut h, &mut open);
        }
        // Every caller still in line eventually ends: abandon them all.
        for c in calls.clone() {
            let _ = h.acd.handle_abandon(c, h.now);
            h.drain();
        }
        settle(&mut h, &mut open);
        prop_assert!(open.values().all(|n| *n == 0));
        prop_assert!(h.acd.calls.is_empty());
    }
}
