//! Real test audio for the recognition tests: espeak-ng speech passed through a telephone
//! channel with sox (8 kHz µ-law and back), optionally with white noise at a given SNR.
//! Rendered files are cached under the system temp directory, keyed by their parameters.
#![allow(dead_code)]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::process::Command;

use ivr_dialplans::nlu::fixtures::BANK_EN;
use ivr_media::audio::{Frame16k, Frame8k, Upsampler8kTo16k};
use ivr_speech::asr::{Grammar, SlotClass};

/// The grammars of the benchmark and the scorer comparison: the bank menu's intents (from
/// their examples) and a 4–8 digit slot.
pub fn bank_grammars() -> (Grammar, Grammar) {
    let phrases: Vec<&str> = BANK_EN
        .iter()
        .flat_map(|i| i.examples.iter().copied())
        .collect();
    (
        Grammar::phrases("en-US", &phrases),
        Grammar::slot("en-US", SlotClass::Digits { min: 4, max: 8 }),
    )
}

/// How an utterance is spoken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Voice {
    /// espeak-ng voice (`en-us`, `en-gb`).
    pub name: &'static str,
    /// Words per minute.
    pub speed: u32,
    /// Signal-to-noise ratio of added white noise in dB, if any.
    pub snr_db: Option<f32>,
}

/// The voices the tests use.
pub const US_140: Voice = Voice {
    name: "en-us",
    speed: 140,
    snr_db: None,
};
pub const US_170: Voice = Voice {
    name: "en-us",
    speed: 170,
    snr_db: None,
};
pub const GB_140: Voice = Voice {
    name: "en-gb",
    speed: 140,
    snr_db: None,
};
pub const GB_170: Voice = Voice {
    name: "en-gb",
    speed: 170,
    snr_db: None,
};
pub const US_NOISY: Voice = Voice {
    name: "en-us",
    speed: 150,
    snr_db: Some(20.0),
};

fn cache_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("ivr-asr-test-audio");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs a command, panicking with its stderr if it fails (test set-up only).
fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Telephone-quality 8 kHz samples of `text` spoken by `voice`, with 200 ms of silence (or
/// noise) before and after.
pub fn telephone(text: &str, voice: Voice) -> Vec<i16> {
    let mut h = DefaultHasher::new();
    (text, voice.name, voice.speed).hash(&mut h);
    let key = format!("{:016x}", h.finish());
    let dir = cache_dir();
    let tel = dir.join(format!("{key}-tel.wav"));
    if !tel.exists() {
        let unique = format!(
            "{key}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let raw = dir.join(format!("{unique}-raw.wav"));
        let ulaw = dir.join(format!("{unique}-ulaw.wav"));
        let tmp = dir.join(format!("{unique}-tel.wav"));
        run(Command::new("espeak-ng")
            .args(["-v", voice.name, "-s", &voice.speed.to_string(), "-w"])
            .arg(&raw)
            .arg(text));
        run(Command::new("sox")
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-e", "u-law"])
            .arg(&ulaw));
        run(Command::new("sox")
            .arg(&ulaw)
            .args(["-e", "signed-integer", "-b", "16"])
            .arg(&tmp));
        std::fs::rename(&tmp, &tel).expect("rename");
        let _ = std::fs::remove_file(raw);
        let _ = std::fs::remove_file(ulaw);
    }
    let mut reader = hound::WavReader::open(&tel).expect("read telephone wav");
    assert_eq!(reader.spec().sample_rate, 8000);
    let speech: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let mut samples = vec![0i16; 1600];
    samples.extend_from_slice(&speech);
    samples.extend(std::iter::repeat_n(0, 1600));
    if let Some(snr) = voice.snr_db {
        add_noise(
            &mut samples,
            &speech,
            snr,
            key.len() as u64 ^ speech.len() as u64,
        );
    }
    samples
}

/// Adds white noise `snr_db` below the RMS level of `speech` (its non-silent samples).
fn add_noise(samples: &mut [i16], speech: &[i16], snr_db: f32, seed: u64) {
    let active: Vec<f64> = speech
        .iter()
        .filter(|s| s.unsigned_abs() > 64)
        .map(|&s| s as f64)
        .collect();
    let rms = (active.iter().map(|s| s * s).sum::<f64>() / active.len().max(1) as f64).sqrt();
    let noise_rms = rms / 10f64.powf(snr_db as f64 / 20.0);
    let mut state = seed | 1;
    for s in samples.iter_mut() {
        // Sum of 4 uniform values: close to Gaussian with variance 4/12 per unit range.
        let mut acc = 0.0;
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            acc += (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        }
        let n = acc / (4.0f64 / 12.0).sqrt() * noise_rms;
        *s = (*s as f64 + n).clamp(-32768.0, 32767.0) as i16;
    }
}

/// 8 kHz samples as 20 ms frames (the last one padded).
pub fn frames_8k(samples: &[i16]) -> Vec<Frame8k> {
    samples
        .chunks(160)
        .map(Frame8k::from_slice_padded)
        .collect()
}

/// 8 kHz samples upsampled to 16 kHz frames as the pool does it.
pub fn frames_16k(samples: &[i16]) -> Vec<Frame16k> {
    let mut up = Upsampler8kTo16k::new();
    frames_8k(samples).iter().map(|f| up.process(f)).collect()
}
