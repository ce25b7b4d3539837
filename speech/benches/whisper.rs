//! Whisper costs: `cargo bench -p ivr-speech --features whisper --bench whisper`.
//!
//! With a tiny model of random weights (written here; its decoding is nonsense but runs the
//! whole pipeline): whisper.cpp state creation, inference on 2 s of audio called directly,
//! the same through a one-worker `AsrPool` (the difference is the pool's overhead: hand-over,
//! upsampling, queueing), and the pool round trip of an utterance too short to decode.
//! With `$WHISPER_MODEL` naming a real ggml model: its load time, state creation, and the
//! real-time factor (inference time / audio time) on 2 s and 6 s of telephone speech.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_media::audio::{Frame16k, Frame8k, Upsampler8kTo16k};
use ivr_speech::asr::{AsrPool, Grammar, Recognizer};
use ivr_speech::whisper::ggml::{write_random_model, Hparams};
use ivr_speech::whisper::{Whisper, WhisperConfig};
use whisper_rs::{WhisperContext, WhisperContextParameters};

/// Telephone-quality speech (8 kHz) exactly `seconds` long: espeak-ng, µ-law, padded.
fn speech(text: &str, seconds: f32) -> Vec<i16> {
    let dir = std::env::temp_dir().join(format!("ivr-whisper-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let raw = dir.join("raw.wav");
    let out = dir.join("8k.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("sox")
            .arg("-D")
            .arg(&raw)
            .args(["-r", "8000", "-e", "u-law"])
            .arg(dir.join("ulaw.wav"))
            .status()
            .is_ok_and(|s| s.success())
        && Command::new("sox")
            .arg(dir.join("ulaw.wav"))
            .args(["-e", "signed-integer", "-b", "16"])
            .arg(&out)
            .args(["pad", "0.2", "trim", "0", &seconds.to_string()])
            .status()
            .is_ok_and(|s| s.success());
    assert!(ok, "espeak-ng and sox are installed (scripts/setup.sh)");
    let mut r = hound::WavReader::open(&out).expect("wav");
    let mut s: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    s.resize((seconds * 8000.0) as usize, 0);
    let _ = std::fs::remove_dir_all(dir);
    s
}

fn frames_8k(x: &[i16]) -> Vec<Frame8k> {
    x.chunks(160).map(Frame8k::from_slice_padded).collect()
}

fn frames_16k(x: &[Frame8k]) -> Vec<Frame16k> {
    let mut up = Upsampler8kTo16k::new();
    x.iter().map(|f| up.process(f)).collect()
}

/// Runs `f` `n` times after one warm-up and prints the median and best, in ms.
fn measure(name: &str, n: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{name:<52} median {:>9.3} ms   best {:>9.3} ms",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
    median
}

/// Inference on `frames` called directly on the engine, as a pool worker would.
fn direct(engine: &Whisper, grammar: &Grammar, frames: &[Frame16k]) {
    let mut s = engine.open(grammar).expect("open");
    for f in frames {
        s.push(f).expect("push");
    }
    s.finish().expect("finish");
}

/// The same utterance through the pool, from `open` to the result.
fn pooled(rt: &tokio::runtime::Runtime, pool: &AsrPool, grammar: &Grammar, frames: &[Frame8k]) {
    rt.block_on(async {
        let mut s = pool.open(grammar.clone()).expect("open");
        for f in frames {
            s.push(f).expect("push");
        }
        s.finish().await.expect("finish");
    });
}

fn state_creation(model: &Path, n: usize) -> Duration {
    let ctx = WhisperContext::new_with_params(
        model.to_str().expect("utf-8 path"),
        WhisperContextParameters::default(),
    )
    .expect("load");
    measure("whisper.cpp state creation", n, || {
        drop(ctx.create_state().expect("state"));
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let two = frames_8k(&speech("I would like to check my balance please", 2.0));
    let two_16k = frames_16k(&two);
    let grammar = Grammar::phrases("en-US", &["check my balance", "speak to an agent"]);

    let dir = std::env::temp_dir().join(format!("ivr-whisper-bench-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tiny = dir.join("ggml-tiny-random.bin");
    write_random_model(&tiny, &Hparams::tiny_random(), 1).expect("write model");
    // whisper.cpp logs to stderr until its logs are routed to `tracing` (silent here).
    whisper_rs::install_logging_hooks();
    println!("tiny random model (width 16, one layer each side), 1 thread:");
    let state = state_creation(&tiny, 50);
    let mut config = WhisperConfig::new(&tiny);
    config.threads = 1;
    let engine = Whisper::open(config).expect("open");
    let inference = measure("inference on 2 s, engine called directly", 20, || {
        direct(&engine, &grammar, &two_16k)
    });
    let pool = AsrPool::start(Arc::new(engine.clone()), 1, 4);
    let through_pool = measure("inference on 2 s through a one-worker AsrPool", 20, || {
        pooled(&rt, &pool, &grammar, &two)
    });
    let round_trip = measure(
        "pool round trip, 60 ms utterance (not decoded)",
        200,
        || pooled(&rt, &pool, &grammar, &two[..3]),
    );
    println!(
        "{:<52} {:>9.3} ms (round trip + state creation; inference {:.0} ms direct, {:.0} ms pooled)",
        "pool overhead per utterance",
        (round_trip + state).as_secs_f64() * 1e3,
        inference.as_secs_f64() * 1e3,
        through_pool.as_secs_f64() * 1e3,
    );
    let mut s = engine.open(&grammar).expect("open");
    for f in &two_16k {
        s.push(f).expect("push");
    }
    let t = s.finish().expect("finish");
    println!(
        "the random model heard: {:?} (confidence {:.2})",
        t.text, t.confidence
    );

    let Some(real) = std::env::var_os("WHISPER_MODEL") else {
        println!("set WHISPER_MODEL to a ggml model for real-time factors");
        let _ = std::fs::remove_dir_all(dir);
        return;
    };
    let real = Path::new(&real);
    let six = frames_16k(&frames_8k(&speech(
        "I would like to check the balance of my account and then speak to an agent \
         about a transfer",
        6.0,
    )));
    let threads = WhisperConfig::new(real).threads;
    println!("\n{} ({threads} threads):", real.display());
    let start = Instant::now();
    let engine = Whisper::open(WhisperConfig::new(real)).expect("$WHISPER_MODEL loads");
    println!(
        "{:<52} {:>9.0} ms",
        "load",
        start.elapsed().as_secs_f64() * 1e3
    );
    state_creation(real, 5);
    for (name, frames, seconds) in [("2 s", &two_16k, 2.0), ("6 s", &six, 6.0)] {
        let t = measure(&format!("inference on {name}"), 5, || {
            direct(&engine, &grammar, frames)
        });
        println!(
            "{:<52} {:>9.3}",
            format!("real-time factor, {name}"),
            t.as_secs_f64() / seconds
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
