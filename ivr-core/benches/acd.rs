//! ACD routing cost: time per routing decision with 10,000 agents and 1,000 waiting calls.
//!
//! `cargo bench -p ivr-core --bench acd` builds a center of 10 queues (5 `skills_based`, 5
//! `longest_idle`) and 10,000 agents, each in two queues with two language skills; 1,000
//! callers wait for a skill nobody has, so every line is long. Then, many times over, a caller
//! needing a language at some level arrives (decision: pick an agent from the indexes), the
//! agent answers, hangs up and completes wrap-up (decision: the free agent looks through the
//! waiting lines of its queues for a call it can take). It prints p50/p99/max per decision.
//! Virtual time: the router never reads a clock; only the measurement does.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ivr_core::acd::{
    Acd, AcdConfig, Action, AgentProfile, CallId, Enqueue, QueueConfig, QueueName, Skill,
    SkillRequirement, Strategy,
};

const AGENTS: usize = 10_000;
const WAITING: u64 = 1_000;
const QUEUES: usize = 10;
const ROUNDS: usize = 20_000;
const LANGS: [&str; 4] = ["en", "es", "fr", "de"];

fn queue(i: usize) -> QueueName {
    QueueName(format!("q{i}"))
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<28} n={:<6} p50={:>7.2} µs  p99={:>7.2} µs  max={:>8.2} µs",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
}

fn main() {
    let queues = (0..QUEUES)
        .map(|i| {
            let strategy = if i < QUEUES / 2 {
                Strategy::SkillsBased
            } else {
                Strategy::LongestIdle
            };
            (
                queue(i),
                QueueConfig {
                    strategy,
                    announce_interval: Some(Duration::from_secs(30)),
                    ..QueueConfig::default()
                },
            )
        })
        .collect();
    let mut acd: Acd<u64> = Acd::new(AcdConfig {
        queues,
        ..AcdConfig::default()
    })
    .expect("valid configuration");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut now = Instant::now();
    let tick = Duration::from_millis(10);

    let setup = Instant::now();
    for i in 0..AGENTS {
        let a = rng.below(LANGS.len());
        let b = (a + 1 + rng.below(LANGS.len() - 1)) % LANGS.len();
        let q1 = rng.below(QUEUES);
        let q2 = rng.below(QUEUES);
        acd.login(
            AgentProfile {
                id: format!("agent{i}").as_str().into(),
                skills: vec![
                    (Skill::from(LANGS[a]), 1 + rng.below(10) as u8),
                    (Skill::from(LANGS[b]), 1 + rng.below(10) as u8),
                ],
                queues: vec![queue(q1), queue(q2)],
            },
            now,
        )
        .expect("login");
        now += Duration::from_micros(100);
    }
    for c in 0..WAITING {
        acd.enqueue(
            Enqueue {
                call: CallId(c),
                queue: queue(c as usize % QUEUES),
                priority: (c % 3) as i32,
                skills: vec![SkillRequirement::any("klingon")],
                context: c,
            },
            now,
        )
        .expect("enqueue");
    }
    while acd.poll_action().is_some() {}
    while acd.poll_event().is_some() {}
    println!(
        "setup: {AGENTS} agents, {WAITING} waiting calls in {QUEUES} queues ({:.0} ms)",
        setup.elapsed().as_secs_f64() * 1e3
    );

    let mut arrive = Vec::with_capacity(ROUNDS);
    let mut free = Vec::with_capacity(ROUNDS);
    let mut other = Vec::with_capacity(ROUNDS * 2);
    for next_call in WAITING..WAITING + ROUNDS as u64 {
        now += tick;
        let call = CallId(next_call);
        let req = Enqueue {
            call,
            queue: queue(rng.below(QUEUES)),
            priority: rng.below(3) as i32,
            skills: vec![SkillRequirement::at_least(
                LANGS[rng.below(LANGS.len())],
                1 + rng.below(8) as u8,
            )],
            context: next_call,
        };
        let t = Instant::now();
        acd.enqueue(req, now).expect("enqueue");
        arrive.push(t.elapsed());
        let mut agent = None;
        while let Some(a) = acd.poll_action() {
            if let Action::Offer { agent: id, .. } = a {
                agent = Some(id);
            }
        }
        while acd.poll_event().is_some() {}
        let Some(agent) = agent else {
            // Nobody free with that skill: the caller gives up.
            acd.handle_abandon(call, now).expect("abandon");
            continue;
        };
        let t = Instant::now();
        acd.handle_offer_answered(call, &agent, now)
            .expect("answer");
        acd.handle_call_ended(call, now).expect("end");
        other.push(t.elapsed());
        let t = Instant::now();
        acd.complete_wrap_up(&agent, None, now).expect("wrap-up");
        free.push(t.elapsed());
        while acd.poll_action().is_some() {}
        while acd.poll_event().is_some() {}
        if let Some(d) = acd.poll_timeout().filter(|d| *d <= now) {
            acd.handle_timeout(black_box(d));
        }
    }
    report("call arrives (pick agent)", arrive);
    report("agent frees (pick call)", free);
    report("answer + hang up", other);
    let stats = acd.snapshot(now);
    let waiting: usize = stats.queues.iter().map(|q| q.waiting).sum();
    println!("waiting at the end: {waiting}");
}
