//! Test audio made at test time with `sox` and `espeak-ng`, into temporary files (nothing large
//! is committed). Everything is 8 kHz mono 16-bit, the rate the engine's G.711 calls carry.

use std::path::Path;
use std::process::{Command, Stdio};

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

fn run(tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{tool}` ({e}); install it (scripts/setup.sh does)")
        });
    assert!(
        out.status.success(),
        "`{tool} {}` failed: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn s16(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

const RAW_OUT: [&str; 10] = [
    "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw",
];

/// Writes a prompt WAV (8 kHz mono 16-bit): a linear sweep 300–3400 Hz at half scale lasting
/// `frames` × 20 ms. Returns its samples.
pub fn sweep_prompt(path: &Path, frames: usize) -> Vec<i16> {
    let secs = format!("{:.3}", frames as f64 * 0.02);
    let p = path.to_str().expect("temporary paths are UTF-8");
    run(
        "sox",
        &[
            "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", p, "synth", &secs, "sine",
            "300-3400", "vol", "0.5",
        ],
    );
    let samples = read_wav(path);
    assert_eq!(
        samples.len(),
        frames * FRAME,
        "sox made a prompt of an unexpected length"
    );
    samples
}

/// Reads a WAV the way the engine does (`ivr_media::audio::Prompt`: mono, 8 kHz).
pub fn read_wav(path: &Path) -> Vec<i16> {
    let prompt = ivr_media::audio::Prompt::load(path).unwrap_or_else(|e| panic!("{e}"));
    prompt.samples().to_vec()
}

/// The DTMF frequency pair of a key.
pub fn dtmf_pair(digit: char) -> (u32, u32) {
    let rows = [697, 770, 852, 941];
    let cols = [1209, 1336, 1477, 1633];
    let keys = ["123A", "456B", "789C", "*0#D"];
    for (r, line) in keys.iter().enumerate() {
        if let Some(c) = line.find(digit) {
            return (rows[r], cols[c]);
        }
    }
    panic!("`{digit}` is not a DTMF key");
}

/// In-band DTMF for `digits`: each key a `tone_ms` dual tone (each sine at a quarter of full
/// scale, about -9 dBm0) made by sox, preceded and followed by `gap_ms` of silence.
pub fn dtmf_tones(digits: &str, tone_ms: u32, gap_ms: u32) -> Vec<i16> {
    let gap = vec![0i16; (gap_ms * 8) as usize];
    let mut out = gap.clone();
    let secs = format!("{:.3}", f64::from(tone_ms) / 1000.0);
    for d in digits.chars() {
        let (lo, hi) = dtmf_pair(d);
        let (lo, hi) = (lo.to_string(), hi.to_string());
        let mut args = vec!["-n"];
        args.extend(RAW_OUT);
        // Two channels, one sine each, mixed down to mono at half gain each, then halved again.
        args.extend([
            "-", "synth", &secs, "sine", &lo, "sine", &hi, "remix", "-", "vol", "0.5",
        ]);
        out.extend(s16(&run("sox", &args)));
        out.extend_from_slice(&gap);
    }
    out
}

/// Speech from espeak-ng, resampled by sox to 8 kHz and normalised to -3 dBFS peak.
pub fn speech(text: &str, dir: &Path) -> Vec<i16> {
    let wav = dir.join("speech.wav");
    let w = wav.to_str().expect("temporary paths are UTF-8");
    run("espeak-ng", &["-w", w, text]);
    let mut args = vec![w];
    args.extend(RAW_OUT);
    args.extend(["-", "gain", "-n", "-3"]);
    s16(&run("sox", &args))
}

/// Speech from espeak-ng in `voice` (e.g. `en-us`, `en-gb`) at `wpm` words per minute, at
/// 8 kHz, normalised to -3 dBFS peak.
pub fn speech_in(text: &str, voice: &str, wpm: u32, dir: &Path) -> Vec<i16> {
    let wav = dir.join(format!("speech-{voice}-{wpm}.wav"));
    let w = wav.to_str().expect("temporary paths are UTF-8");
    let rate = wpm.to_string();
    run("espeak-ng", &["-v", voice, "-s", &rate, "-w", w, text]);
    let mut args = vec![w];
    args.extend(RAW_OUT);
    args.extend(["-", "gain", "-n", "-3"]);
    s16(&run("sox", &args))
}

/// `ms` milliseconds of digital silence.
pub fn silence(ms: u32) -> Vec<i16> {
    vec![0; (ms * 8) as usize]
}

/// `samples` with white noise added `snr_db` below their RMS (the noise is deterministic for a
/// given `seed`).
pub fn with_noise(samples: &[i16], snr_db: f64, seed: u64) -> Vec<i16> {
    let voiced: Vec<f64> = samples
        .iter()
        .map(|&s| f64::from(s))
        .filter(|s| s.abs() > 64.0)
        .collect();
    let rms = if voiced.is_empty() {
        0.0
    } else {
        (voiced.iter().map(|s| s * s).sum::<f64>() / voiced.len() as f64).sqrt()
    };
    let noise_rms = rms / 10f64.powf(snr_db / 20.0);
    // xorshift64*: uniform in [-1, 1) has RMS 1/sqrt(3).
    let mut x = seed | 1;
    let scale = noise_rms * 3f64.sqrt();
    samples
        .iter()
        .map(|&s| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            (f64::from(s) + (r * 2.0 - 1.0) * scale).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Pearson correlation of two equally long signals (0 when either is silent).
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mean = |x: &[i16]| x[..n].iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (f64::from(a[i]) - ma, f64::from(b[i]) - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}
