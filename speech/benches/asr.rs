//! Speech recognition figures: decoder start-up cost, real-time factor in grammar mode, the
//! number of streams one core keeps up with, and the latency of `finish`.
//!
//! `cargo bench -p ivr-speech --bench asr`

#[path = "../tests/asr_audio/mod.rs"]
mod asr_audio;

use std::sync::Arc;
use std::time::{Duration, Instant};

use asr_audio::{bank_grammars, frames_16k, frames_8k, telephone, GB_140, GB_170, US_140, US_170};
use ivr_speech::asr::{AsrPool, Recognizer};
use ivr_speech::pocketsphinx::{PocketSphinx, PocketSphinxConfig};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

const UTTERANCES: &[&str] = &[
    "I want to check my account balance",
    "someone stole my credit card",
    "can I speak to a representative",
    "what time does the branch open on saturday",
    "I forgot my pin number",
    "please transfer money to my savings",
];

fn main() {
    let t = Instant::now();
    let mut config = PocketSphinxConfig::default();
    if let Ok(args) = std::env::var("IVR_ASR_ARGS") {
        let parts: Vec<&str> = args.split_whitespace().collect();
        config.extra_args = parts
            .chunks(2)
            .map(|c| (c[0].to_string(), c[1].to_string()))
            .collect();
        println!("decoder arguments: {args}");
    }
    if std::env::var("IVR_ASR_FAST").as_deref() == Ok("0") {
        config.fast_scoring = false;
        println!("the library's own acoustic scorer");
    }
    let engine = PocketSphinx::open(config).expect("model installed");
    println!(
        "engine open (dictionary index + first decoder): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        engine.bench_new_decoder().unwrap();
    }
    println!(
        "decoder init: {:.1} ms each",
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let before = rss_kb();
    engine.prewarm(n).unwrap();
    println!(
        "decoder memory: {:.1} MB each (RSS growth over {n} idle decoders)",
        (rss_kb() - before) as f64 / 1024.0 / n as f64
    );

    let (intents, digits) = bank_grammars();
    let mut audio = Vec::new();
    for (i, u) in UTTERANCES.iter().enumerate() {
        let voice = [US_140, US_170, GB_140, GB_170][i % 4];
        audio.push((intents.clone(), telephone(u, voice)));
        audio.push((digits.clone(), telephone("four two seven one nine", voice)));
    }
    // Warm the grammars into the decoders.
    for (g, a) in &audio {
        let mut s = engine.open(g).unwrap();
        for f in frames_16k(a) {
            s.push(&f).unwrap();
        }
        s.finish().unwrap();
    }

    let mut audio_s = 0.0;
    let mut busy = Duration::ZERO;
    let mut finish = Vec::new();
    for _ in 0..3 {
        for (g, a) in &audio {
            let frames = frames_16k(a);
            audio_s += frames.len() as f64 * 0.02;
            let t = Instant::now();
            let mut s = engine.open(g).unwrap();
            for f in &frames {
                s.push(f).unwrap();
            }
            let tf = Instant::now();
            let r = s.finish().unwrap();
            finish.push(tf.elapsed());
            drop(s);
            busy += t.elapsed();
            std::hint::black_box(r);
        }
    }
    let rtf = busy.as_secs_f64() / audio_s;
    finish.sort();
    println!("grammar mode (bank intents bigram + 4-8 digit JSGF), {audio_s:.0} s of audio:");
    println!(
        "  real-time factor: {rtf:.3} (one core keeps up with {:.0} streams)",
        1.0 / rtf
    );
    println!(
        "  finish latency: median {:.1} ms, max {:.1} ms",
        finish[finish.len() / 2].as_secs_f64() * 1e3,
        finish[finish.len() - 1].as_secs_f64() * 1e3
    );

    // Through the pool: one worker (one core), S streams fed one frame each every 20 ms, as
    // RTP delivers them. The worker keeps up when no frame is dropped (each stream buffers two
    // seconds) and the results arrive soon after the audio ends.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = AsrPool::start(Arc::new(engine.clone()), 1, 256);
    engine.prewarm(100).unwrap();
    for streams in [10usize, 15, 20, 30, 50] {
        let (g, a) = &audio[0];
        let frames = frames_8k(a);
        let dropped_before = pool.stats().dropped_frames;
        let (ok, tail) = rt.block_on(async {
            let mut open = Vec::new();
            for _ in 0..streams {
                open.push(pool.open(g.clone()).unwrap());
            }
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for f in &frames {
                tick.tick().await;
                for s in open.iter_mut() {
                    let _ = s.push(f);
                }
            }
            let end = Instant::now();
            let mut ok = 0;
            for s in open {
                if s.finish().await.is_ok() {
                    ok += 1;
                }
            }
            (ok, end.elapsed())
        });
        let dropped = pool.stats().dropped_frames - dropped_before;
        println!(
            "  pool, 1 worker, {streams} live streams: {} ({ok} results, {dropped} frames dropped, last result {:.0} ms after the audio ended)",
            if dropped == 0 && tail < Duration::from_millis(500) { "keeps up" } else { "falls behind" },
            tail.as_secs_f64() * 1e3
        );
    }
}
