//! Accuracy and speed of answering-machine detection on the evaluation set (65 calls rendered
//! with espeak-ng and sox: see `tests/amd_audio/mod.rs`).
//!
//! ```text
//! cargo run -p ivr-speech --release --example amd_accuracy          # the figures
//! cargo run -p ivr-speech --release --example amd_accuracy -- -v    # and every call's verdict
//! cargo run -p ivr-speech --release --example amd_accuracy -- --snr 10  # every call noisy
//! ```

#[path = "../tests/amd_audio/mod.rs"]
mod amd_audio;

use std::hint::black_box;
use std::time::{Duration, Instant};

use amd_audio::{evaluation_set, noisy_evaluation_set, Truth};
use ivr_speech::amd::{Amd, AmdConfig, Verdict, VerdictKind};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    let snr: Option<f64> = args
        .iter()
        .position(|a| a == "--snr")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--snr takes a number of dB"));
    let started = Instant::now();
    let set = match snr {
        Some(db) => noisy_evaluation_set(db),
        None => evaluation_set(),
    };
    let rendered = started.elapsed();
    let config = AmdConfig::default();

    // Rows: truth (human, machine); columns: verdict (human, machine, unknown).
    let mut confusion = [[0usize; 3]; 2];
    let mut times = Vec::new();
    let mut by_truth: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut correct = 0;
    let mut beeps_found = 0;
    let mut beeps = 0;
    for sample in &set {
        let frames = sample.frames();
        let mut amd = Amd::new(config);
        let mut verdict: Option<Verdict> = None;
        let mut at_verdict = (0, Duration::ZERO);
        for f in &frames {
            if let Some(v) = amd.push(f) {
                verdict = Some(v);
                at_verdict = (amd.words(), amd.greeting_voiced());
            }
        }
        let v = verdict.expect("the analysis window always ends with a verdict");
        let row = match sample.truth {
            Truth::Human => 0,
            Truth::Machine => 1,
        };
        let col = match v.kind {
            VerdictKind::Human => 0,
            VerdictKind::Machine => 1,
            VerdictKind::Unknown => 2,
        };
        confusion[row][col] += 1;
        let ok = row == col;
        correct += usize::from(ok);
        times.push(v.after);
        by_truth[row].push(v.after);
        if sample.beep_at.is_some() {
            beeps += 1;
            beeps_found += usize::from(amd.beep_detected());
        }
        if verbose || !ok {
            println!(
                "{} {:?}/{:?} after {} ms ({} words, {} ms voiced) — {}",
                if ok { "ok  " } else { "MISS" },
                v.kind,
                v.reason,
                v.after.as_millis(),
                at_verdict.0,
                at_verdict.1.as_millis(),
                sample.name
            );
        }
    }
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let n = set.len();

    // Cost per frame: every call's first 5 s (the analysis window), many times over.
    let analysis: Vec<Vec<_>> = set
        .iter()
        .map(|s| s.frames().into_iter().take(250).collect())
        .collect();
    let total_frames: usize = analysis.iter().map(Vec::len).sum();
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for frames in &analysis {
            let mut amd = Amd::new(config);
            for f in frames {
                black_box(amd.push(black_box(f)));
            }
        }
    }
    let ns_per_frame = t.elapsed().as_nanos() as f64 / (rounds * total_frames) as f64;

    println!();
    println!(
        "{n} calls ({} human, {} machine), rendered in {:.1} s",
        confusion[0].iter().sum::<usize>(),
        confusion[1].iter().sum::<usize>(),
        rendered.as_secs_f64()
    );
    println!(
        "accuracy: {:.1} % ({correct}/{n})",
        100.0 * correct as f64 / n as f64
    );
    println!("confusion (rows: truth; columns: verdict):");
    println!("             human  machine  unknown");
    for (name, row) in ["human  ", "machine"].iter().zip(confusion) {
        println!("  {name}   {:>7}  {:>7}  {:>7}", row[0], row[1], row[2]);
    }
    println!(
        "verdict time from answer: median {} ms, p95 {} ms, max {} ms",
        pct(0.5).as_millis(),
        pct(0.95).as_millis(),
        times.last().copied().unwrap_or(Duration::ZERO).as_millis()
    );
    for (name, mut t) in ["human", "machine"].iter().zip(by_truth) {
        t.sort();
        if let Some(m) = t.get(t.len() / 2) {
            println!("  {name}: median {} ms", m.as_millis());
        }
    }
    println!("machine beeps heard: {beeps_found}/{beeps}");
    println!("cost: {ns_per_frame:.0} ns per 20 ms frame (analysis window, {total_frames} frames × {rounds})");
}
