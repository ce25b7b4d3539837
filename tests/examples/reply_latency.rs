//! Reply latency as a caller feels it: from the end of their speech (or their key press) to the
//! first RTP packet of the engine's answer.
//!
//!   cargo build --release -p ivr-core --bin ivr
//!   IVR_BIN=target/release/ivr [END_SILENCE_MS=500] cargo run --release -p ivr-tests --example reply_latency [TURNS]
//!
//! Each turn is one call to the bank plan (`examples/bank.yaml`): the caller says "check my
//! balance" (espeak-ng, 8 kHz µ-law) after the welcome, or presses 1, and the time until the
//! account-number question starts is measured. The engine's own work is that time minus the
//! configured end-of-speech silence (`speech.end_silence`, 500 ms by default; `END_SILENCE_MS`). Prompts are
//! cached (the engine renders the plan's fixed sentences at load time). Prints p50/p95/max.

use std::time::{Duration, Instant};

use ivr_tests::audio::{self, FRAME};
use ivr_tests::codec::G711;
use ivr_tests::{workspace_root, Engine, EngineOptions, Offer, RtpPeer, Sipp};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// One call: waits for the welcome to end, then speaks (or presses 1) and measures.
fn turn(engine: &Engine, speech: Option<&[i16]>) -> Option<Duration> {
    let peer = RtpPeer::bind();
    let sipp = Sipp::new("call_talk", engine.sip_udp)
        .offer(&Offer::new(peer.port()))
        .template("HOLD", "60000")
        .timeout(Duration::from_secs(60))
        .spawn();
    let to = peer.engine_addr(Duration::from_secs(10));
    peer.wait_quiet(Duration::from_millis(600), Duration::from_secs(30));
    let mut peer = peer;
    let before = peer.received().len();
    let end = match speech {
        Some(samples) => {
            // The last voiced sample marks the end of speech; sending is paced in real time.
            let last = samples.iter().rposition(|s| s.unsigned_abs() > 300)?;
            let start = Instant::now();
            peer.send_audio(to, G711::Pcmu, samples);
            start + Duration::from_micros(last as u64 * 125)
        }
        None => {
            let start = Instant::now();
            peer.send_event(to, 101, 1, 5);
            start
        }
    };
    let got = peer.wait_for(Duration::from_secs(10), |r| r.len() > before);
    sipp.kill();
    got.get(before).map(|r| r.at.saturating_duration_since(end))
}

fn main() {
    let turns: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    // `speech.end_silence` for the run (the engine's default is 500 ms).
    let end_silence_ms: u64 = std::env::var("END_SILENCE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace_root().join("examples/bank.yaml")).unwrap();
    std::fs::write(dir.path().join("bank.yaml"), text).unwrap();
    let engine = Engine::start(EngineOptions {
        plans: Some(dir.path().to_path_buf()),
        max_calls: 16,
        extra_toml: format!("[speech]\nend_silence = \"{end_silence_ms}ms\"\n"),
        ..EngineOptions::default()
    });
    let scratch = tempfile::tempdir().unwrap();
    let mut speech = audio::speech_in("check my balance", "en-us", 150, scratch.path());
    speech.extend(audio::silence(1500));
    // Whole frames, so the paced sender ends on the last one.
    speech.truncate(speech.len() / FRAME * FRAME);

    for (label, input) in [("speech", Some(speech.as_slice())), ("dtmf", None)] {
        let mut ms: Vec<f64> = (0..turns)
            .filter_map(|_| turn(&engine, input))
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let own = if label == "speech" {
            end_silence_ms as f64
        } else {
            0.0
        };
        println!(
            "{label}: {} turns, end of input -> first reply packet p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; engine's own work p95 {:.0} ms",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            ms.last().copied().unwrap_or(f64::NAN),
            percentile(&ms, 0.95) - own,
        );
    }
    let recognized = engine.events_named("recognized");
    let mut asr: Vec<f64> = recognized.iter().filter_map(|e| e.f64("asr_ms")).collect();
    asr.sort_by(f64::total_cmp);
    println!(
        "recogniser finish latency: p50 {:.0} ms, p95 {:.0} ms over {} utterances",
        percentile(&asr, 0.5),
        percentile(&asr, 0.95),
        asr.len()
    );
}
