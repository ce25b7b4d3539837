//! Intent matcher throughput on a synthetic plan of 100 intents × 20 examples.
//!
//! `cargo bench -p ivr-dialplans --bench nlu` prints utterances per second on one core.

use std::hint::black_box;
use std::time::Instant;

use ivr_dialplans::nlu::{IntentSpec, Matcher, Scratch};

/// A small deterministic generator (64-bit LCG), so every run ranks the same utterances.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

const FILLERS: &[&str] = &[
    "i", "want", "to", "my", "the", "please", "can", "you", "a", "is", "what", "need",
];
const SYLLABLES: &[&str] = &[
    "ba", "lan", "ce", "car", "do", "mi", "tra", "ns", "fer", "ho", "ur", "sta", "tus", "pe", "ro",
];

fn word(rng: &mut Lcg) -> String {
    (0..2 + rng.next() % 2)
        .map(|_| SYLLABLES[rng.next() % SYLLABLES.len()])
        .collect()
}

fn main() {
    let mut rng = Lcg(42);
    // 100 intents, each with 4 topic words; 20 examples mixing topic words, shared words and
    // fillers.
    let shared: Vec<String> = (0..200).map(|_| word(&mut rng)).collect();
    let mut intents = Vec::new();
    for i in 0..100 {
        let topic: Vec<String> = (0..4).map(|_| word(&mut rng)).collect();
        let examples = (0..20)
            .map(|_| {
                let n = 3 + rng.next() % 5;
                (0..n)
                    .map(|k| match (k + rng.next()) % 3 {
                        0 => topic[rng.next() % topic.len()].clone(),
                        1 => shared[rng.next() % shared.len()].clone(),
                        _ => FILLERS[rng.next() % FILLERS.len()].to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        intents.push(IntentSpec {
            name: format!("intent_{i}"),
            examples,
            synonyms: Vec::new(),
            dtmf: None,
        });
    }
    let t0 = Instant::now();
    let m = Matcher::new("en-US", &intents);
    let build = t0.elapsed();

    // Queries: examples with a word changed (some misspelt), and random word salads.
    let mut queries = Vec::new();
    for q in 0..2_000 {
        let i = &intents[rng.next() % intents.len()];
        let mut words: Vec<String> = i.examples[rng.next() % i.examples.len()]
            .split(' ')
            .map(str::to_string)
            .collect();
        match q % 4 {
            0 => words.push(shared[rng.next() % shared.len()].clone()),
            1 => {
                let k = rng.next() % words.len();
                words[k].push('x'); // a recogniser misspelling
            }
            2 => words = (0..6).map(|_| word(&mut rng)).collect(),
            _ => {}
        }
        queries.push(words.join(" "));
    }

    let mut scratch = Scratch::new();
    for q in &queries {
        black_box(m.rank_with(&mut scratch, q, None));
    }
    let rounds = 25;
    let t0 = Instant::now();
    let mut accepted = 0usize;
    for _ in 0..rounds {
        for q in &queries {
            let r = m.rank_with(&mut scratch, black_box(q), None);
            accepted += usize::from(r.accepted(0.45).is_some());
        }
    }
    let elapsed = t0.elapsed();
    let n = rounds * queries.len();
    println!(
        "nlu: 100 intents x 20 examples (index built in {:.1} ms); {n} utterances in {:.2} s = {:.0} utterances/s on one core ({} accepted)",
        build.as_secs_f64() * 1e3,
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        accepted,
    );
}
