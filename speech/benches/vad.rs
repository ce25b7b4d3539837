//! Cost per 20 ms frame of the per-call detectors: `cargo bench -p ivr-speech --bench vad`.
//!
//! Feeds 10 s of espeak-ng speech (8 kHz, with silence around it) through an `Endpointer`, a
//! `BargeIn` (with the prompt playing and its echo on the caller's line) and a
//! `ProsodyTracker`, and prints nanoseconds per frame for each and for the three together.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use ivr_media::audio::Frame8k;
use ivr_speech::sentiment::ProsodyTracker;
use ivr_speech::vad::{BargeIn, Endpointer, EndpointerConfig};

fn speech(text: &str) -> Vec<i16> {
    let dir = std::env::temp_dir().join(format!("ivr-vad-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let raw = dir.join("raw.wav");
    let out = dir.join("8k.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("sox")
            .arg("-D")
            .arg(&raw)
            .args(["-r", "8000", "-b", "16"])
            .arg(&out)
            .args(["pad", "0.5", "0.5"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(ok, "espeak-ng and sox are installed (scripts/setup.sh)");
    let mut r = hound::WavReader::open(&out).expect("wav");
    let s = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let _ = std::fs::remove_dir_all(dir);
    s
}

fn frames(x: &[i16]) -> Vec<Frame8k> {
    x.chunks(160).map(Frame8k::from_slice_padded).collect()
}

/// The best of 30 runs of `f` over `frames` frames, in ns per frame (the best run is the one
/// least disturbed by other processes on the machine).
fn measure(name: &str, frames: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let best = (0..30)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as f64
        })
        .fold(f64::MAX, f64::min);
    let ns = best / frames as f64;
    println!("{name:<40} {ns:>8.0} ns/frame");
    ns
}

fn main() {
    let caller = frames(&speech(
        "I would like to check the balance of my account, and then I want to speak to an \
         agent about a transfer that failed yesterday. This is the third time I call.",
    ));
    let prompt = frames(&speech(
        "Welcome to the bank. For your balance, press one or say balance. For a transfer, \
         press two or say transfer. To speak to an agent, press zero.",
    ));
    // The caller's line: the caller plus the prompt's echo, 15 dB down, 60 ms late.
    let line: Vec<Frame8k> = caller
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut f = *c;
            if let Some(p) = i.checked_sub(3).and_then(|j| prompt.get(j)) {
                for (s, e) in f.samples_mut().iter_mut().zip(p.samples()) {
                    *s = s.saturating_add((f32::from(*e) * 0.178) as i16);
                }
            }
            f
        })
        .collect();
    let n = line.len();
    println!("{} frames ({:.1} s of audio)", n, n as f64 * 0.02);

    let ep = measure("Endpointer::push", n, || {
        let mut ep = Endpointer::new(EndpointerConfig::default());
        for f in &line {
            black_box(ep.push(black_box(f)));
        }
    });
    let bi = measure("BargeIn::push (prompt playing)", n, || {
        let mut b = BargeIn::default();
        for (i, f) in line.iter().enumerate() {
            black_box(b.push(black_box(f), prompt.get(i)));
        }
    });
    let pr = measure("ProsodyTracker::push", n, || {
        let mut t = ProsodyTracker::new();
        for f in &line {
            t.push(black_box(f));
        }
        black_box(t.prosody());
    });
    let all = measure("all three on the same frame", n, || {
        let mut ep = Endpointer::new(EndpointerConfig::default());
        let mut b = BargeIn::default();
        let mut t = ProsodyTracker::new();
        for (i, f) in line.iter().enumerate() {
            black_box(ep.push(black_box(f)));
            black_box(b.push(f, prompt.get(i)));
            t.push(f);
        }
        black_box(t.prosody());
    });
    println!(
        "sum of the parts {:.0} ns/frame; together {all:.0} ns/frame (budget 2000)",
        ep + bi + pr
    );
}
