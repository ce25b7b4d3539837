//! The answering-machine evaluation set, rendered with real tools at test time: espeak-ng speaks
//! human and machine greetings (English voices en-us, en-gb, en+f3, en+m3 and Mandarin cmn, at
//! 140–190 words per minute), sox resamples them to 8 kHz, trims espeak's own silence and makes
//! the machine's beep (1 kHz or 440 Hz, 0.5 s); every third sample gets white noise at 20 dB SNR;
//! each starts after 0–600 ms of silence (the answer delay) and the whole call goes through
//! 8 kHz µ-law and back with sox. Nothing is cached or committed: files live in a scratch
//! directory removed afterwards.
//!
//! Shared by `tests/amd.rs` and `examples/amd_accuracy.rs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ivr_media::audio::Frame8k;

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Truth {
    /// A person with a short greeting, then waiting.
    Human,
    /// A machine's greeting, then its beep.
    Machine,
}

/// One answered call: the callee's audio from the answer on.
#[derive(Debug, Clone)]
pub struct Sample {
    /// What it is, for reports: voice, speed, noise, text.
    pub name: String,
    /// Who answered.
    pub truth: Truth,
    /// 8 kHz samples.
    pub samples: Vec<i16>,
    /// Where the machine's beep starts, in samples, if there is one.
    pub beep_at: Option<usize>,
}

impl Sample {
    /// The audio as 20 ms frames (the last one padded).
    pub fn frames(&self) -> Vec<Frame8k> {
        frames(&self.samples)
    }
}

/// 8 kHz samples as 20 ms frames, the last one padded.
pub fn frames(samples: &[i16]) -> Vec<Frame8k> {
    samples
        .chunks(160)
        .map(Frame8k::from_slice_padded)
        .collect()
}

const EN_VOICES: [&str; 4] = ["en-us", "en-gb", "en+f3", "en+m3"];
const SPEEDS: [u32; 4] = [140, 155, 170, 190];

const HUMAN_EN: &[&str] = &[
    "Hello?",
    "Hi",
    "Yes?",
    "Hello, who is this?",
    "Hello, speaking.",
    "Yeah?",
];
const HUMAN_CMN: &[&str] = &["喂?", "你好", "喂,你好", "你好,哪位?"];
const MACHINE_EN: &[&str] = &[
    "Hi, you've reached John Smith. I can't take your call right now, please leave a message after the tone.",
    "Hello, you have reached the voicemail of Sarah Jones. Please leave your name and number and I will call you back.",
    "The person you are calling is not available. Please leave a message after the tone.",
    "Hi, this is Mike. Sorry I missed your call. Leave a message and I'll get back to you.",
    "Thank you for calling Acme Dental. Our office is closed. Please leave a message after the beep.",
];
const MACHINE_CMN: &[&str] = &[
    "您好,您拨打的电话暂时无人接听,请在提示音后留言。",
    "你好,我现在不方便接电话,请留言,我会尽快回复你。",
    "您好,这里是王先生的语音信箱,请在嘀声后留下您的姓名和电话。",
];
const CMN_SPEEDS: [u32; 3] = [140, 170, 190];

/// A scratch directory, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh directory under the system temp directory.
    pub fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "ivr-amd-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).expect("create scratch dir");
        Scratch(d)
    }

    /// A path inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command, panicking with its stderr if it fails (test set-up only).
pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (espeak-ng and sox are needed): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads a mono 8 kHz 16-bit WAV file.
pub fn read_wav(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).expect("open wav");
    assert_eq!(r.spec().sample_rate, 8000, "{path:?}");
    assert_eq!(r.spec().channels, 1, "{path:?}");
    r.samples::<i16>().map(|s| s.expect("sample")).collect()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        w.write_sample(s).expect("write wav");
    }
    w.finalize().expect("finish wav");
}

/// `text` spoken by espeak-ng, resampled to 8 kHz by sox with espeak's leading and trailing
/// silence trimmed.
pub fn speak(dir: &Scratch, voice: &str, speed: u32, text: &str) -> Vec<i16> {
    let raw = dir.path("raw.wav");
    let out = dir.path("speech.wav");
    run(Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "-w"])
        .arg(&raw)
        .arg(text));
    run(Command::new("sox")
        .arg("-D")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&out)
        .args([
            "silence", "1", "0.005", "-45d", "reverse", "silence", "1", "0.005", "-45d", "reverse",
        ]));
    read_wav(&out)
}

/// A sine tone made by sox: `seconds` long at `hz`, amplitude `volume` of full scale.
pub fn tone(dir: &Scratch, hz: u32, seconds: f32, volume: f32) -> Vec<i16> {
    let out = dir.path("tone.wav");
    run(Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&out)
        .args([
            "synth",
            &seconds.to_string(),
            "sine",
            &hz.to_string(),
            "vol",
            &volume.to_string(),
        ]));
    read_wav(&out)
}

/// A cough-like burst made by sox: noise of `colour` (`pinknoise`, `brownnoise`,
/// `whitenoise`) with a fast attack and a decay, `seconds` long; the same every run (`-R`).
pub fn burst(dir: &Scratch, colour: &str, seconds: f32) -> Vec<i16> {
    let out = dir.path("burst.wav");
    run(Command::new("sox")
        .args(["-R", "-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&out)
        .args([
            "synth",
            &seconds.to_string(),
            colour,
            "fade",
            "q",
            "0.01",
            &seconds.to_string(),
            &(seconds * 0.7).to_string(),
            "vol",
            "0.5",
        ]));
    read_wav(&out)
}

/// `samples` through sox to 8 kHz µ-law and back, as a telephone line carries them.
pub fn telephone(dir: &Scratch, samples: &[i16]) -> Vec<i16> {
    let lin = dir.path("line.wav");
    let ulaw = dir.path("line-ulaw.wav");
    let back = dir.path("line-back.wav");
    write_wav(&lin, samples);
    run(Command::new("sox")
        .arg(&lin)
        .args(["-e", "u-law", "-b", "8"])
        .arg(&ulaw));
    run(Command::new("sox")
        .arg(&ulaw)
        .args(["-e", "signed-integer", "-b", "16"])
        .arg(&back));
    read_wav(&back)
}

/// RMS of the samples louder than the µ-law idle noise.
pub fn active_rms(samples: &[i16]) -> f64 {
    let (sum, n) = samples
        .iter()
        .filter(|s| s.unsigned_abs() > 64)
        .fold((0f64, 0usize), |(a, n), &s| {
            (a + f64::from(s).powi(2), n + 1)
        });
    (sum / n.max(1) as f64).sqrt()
}

/// Adds deterministic white noise at `rms` to every sample.
pub fn add_noise(samples: &mut [i16], rms: f64, seed: u64) {
    let mut state = seed | 1;
    for s in samples.iter_mut() {
        let mut acc = 0.0;
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            acc += (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        }
        let n = acc / (4.0f64 / 12.0).sqrt() * rms;
        *s = (f64::from(*s) + n).clamp(-32768.0, 32767.0) as i16;
    }
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 8]
}

/// The spoken items of the set: (truth, voice, speed, text).
fn items() -> Vec<(Truth, &'static str, u32, &'static str)> {
    let mut v = Vec::new();
    for (t, text) in HUMAN_EN.iter().enumerate() {
        for (i, voice) in EN_VOICES.iter().enumerate() {
            v.push((Truth::Human, *voice, SPEEDS[(t + i) % 4], *text));
        }
    }
    for text in HUMAN_CMN {
        for speed in CMN_SPEEDS {
            v.push((Truth::Human, "cmn", speed, *text));
        }
    }
    for (t, text) in MACHINE_EN.iter().enumerate() {
        for (i, voice) in EN_VOICES.iter().enumerate() {
            v.push((Truth::Machine, *voice, SPEEDS[(t + i) % 4], *text));
        }
    }
    for text in MACHINE_CMN {
        for speed in CMN_SPEEDS {
            v.push((Truth::Machine, "cmn", speed, *text));
        }
    }
    v
}

/// Renders the whole evaluation set (65 calls: 36 human, 29 machine).
///
/// Each call: 0–600 ms of answer delay, the greeting, then for a person 3 s of silence (they
/// wait for the caller) and for a machine 300 ms, its beep (0.5 s, 1 kHz or 440 Hz) and 2 s of
/// silence; every third call has white noise 20 dB below the speech over all of it; all of it
/// through µ-law.
pub fn evaluation_set() -> Vec<Sample> {
    render(None)
}

/// The same calls, every one with white noise `snr_db` below the speech (a stress test).
pub fn noisy_evaluation_set(snr_db: f64) -> Vec<Sample> {
    render(Some(snr_db))
}

fn render(all_noisy: Option<f64>) -> Vec<Sample> {
    let dir = Scratch::new("set");
    let mut out = Vec::new();
    for (i, (truth, voice, speed, text)) in items().into_iter().enumerate() {
        let delay_ms = (i * 137) % 601;
        let speech = speak(&dir, voice, speed, text);
        let mut samples = silence(delay_ms);
        samples.extend_from_slice(&speech);
        let mut beep_at = None;
        let mut beep_hz = 0;
        match truth {
            Truth::Human => samples.extend(silence(3000)),
            Truth::Machine => {
                samples.extend(silence(300));
                beep_hz = if i % 2 == 0 { 1000 } else { 440 };
                beep_at = Some(samples.len());
                samples.extend(tone(&dir, beep_hz, 0.5, 0.3));
                samples.extend(silence(2000));
            }
        }
        let snr_db = all_noisy.or((i % 3 == 0).then_some(20.0));
        if let Some(snr) = snr_db {
            let rms = active_rms(&speech) / 10f64.powf(snr / 20.0);
            add_noise(&mut samples, rms, i as u64 * 7919 + 1);
        }
        let samples = telephone(&dir, &samples);
        let mut name = format!("{voice} {speed} wpm, delay {delay_ms} ms");
        if let Some(snr) = snr_db {
            name.push_str(&format!(", {snr} dB SNR"));
        }
        if beep_hz > 0 {
            name.push_str(&format!(", beep {beep_hz} Hz"));
        }
        name.push_str(&format!(": {text}"));
        out.push(Sample {
            name,
            truth,
            samples,
            beep_at,
        });
    }
    out
}
