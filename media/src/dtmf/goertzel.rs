//! In-band DTMF detection with the Goertzel algorithm, and DTMF tone generation.
//!
//! [`InbandDetector`] runs on every inbound 8 kHz frame of a call whose trunk did not negotiate
//! `telephone-event`, so it is built to be cheap: eight Goertzel filters with precomputed
//! coefficients, `f32` arithmetic on the stack, no allocation.
//!
//! ## Analysis
//!
//! Each 20 ms frame yields two 160-sample (20 ms) analysis windows, hopping by 80 samples: the
//! second half of the previous frame joined to the first half of this one, then this frame.
//! 160 samples give a 50 Hz resolution, enough to separate 697 Hz from 770 Hz. A window holds a
//! digit when all of these hold (after ITU-T Q.24 practice):
//!
//! 1. the strongest row tone and the strongest column tone are each above
//!    [`MIN_TONE_LEVEL_DBOV`];
//! 2. twist is within limits: the row tone at most 8 dB above the column tone (normal twist),
//!    the column tone at most 4 dB above the row tone (reverse twist);
//! 3. each is at least 8 dB above every other tone of its group;
//! 4. the two tones carry at least 60 % of the window's energy, which is what keeps speech,
//!    music and noise from triggering.
//!
//! ## Decision
//!
//! A digit is reported once, when three consecutive windows agree on it (40 ms of signal; a
//! 20 ms tone can never satisfy three windows). It is not reported again until three
//! consecutive windows lack it (a gap of about 30–40 ms), so a tone burst is one digit however
//! long it lasts, and "1 pause 1" is two.

use std::time::Instant;

use super::{event_code, DigitEvent, DtmfMethod};
use crate::audio::{Frame8k, Hz8000, SampleRate};

/// The minimum level of each of the two tones, in dBov RMS (about -32 dBm0 for a sine in
/// G.711).
pub const MIN_TONE_LEVEL_DBOV: f32 = -38.0;

const RATE: f32 = Hz8000::HZ as f32;
const WINDOW: usize = Hz8000::FRAME_SAMPLES; // 160
const HOP: usize = WINDOW / 2; // 80

const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Normal twist: the row (low) tone may exceed the column tone by 8 dB.
const MAX_NORMAL_TWIST: f32 = 6.309_573; // 10^(8/10)
/// Reverse twist: the column (high) tone may exceed the row tone by 4 dB.
const MAX_REVERSE_TWIST: f32 = 2.511_886; // 10^(4/10)
/// The winning tone of a group must exceed the others by 8 dB.
const MIN_RELATIVE_PEAK: f32 = 6.309_573;
/// The two tones must carry this share of the window's energy.
const MIN_TONE_SHARE: f32 = 0.6;
/// Consecutive windows that must agree before a digit is reported.
const HITS_TO_REPORT: u32 = 3;
/// Consecutive windows without the reported digit that end its burst.
const MISSES_TO_END: u32 = 3;

/// Energy in a window of a sine at `dbov` RMS level, with samples scaled to -1..1.
fn window_energy_at(dbov: f32) -> f32 {
    10f32.powf(dbov / 10.0) * WINDOW as f32
}

/// The row and column frequencies of a digit.
fn frequencies(digit: char) -> Option<(f32, f32)> {
    let digit = digit.to_ascii_uppercase();
    event_code(digit)?;
    KEYPAD.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|&d| d == digit)
            .map(|c| (ROW_HZ[r], COL_HZ[c]))
    })
}

/// Goertzel filter states and energy after running over one 80-sample half window.
#[derive(Debug, Clone, Copy, Default)]
struct HalfState {
    /// `s[n-1]` of each of the eight filters.
    s1: [f32; 8],
    /// `s[n-2]` of each of the eight filters.
    s2: [f32; 8],
    /// Sum of squared samples.
    energy: f32,
}

/// Detects DTMF digits in a stream of 8 kHz frames; see the [module docs](self).
///
/// Each 80-sample half frame runs through the eight Goertzel filters once. A 160-sample window
/// is two halves: since the filters are linear, the state after the window is the first half's
/// state carried through 80 zero-input steps (a precomputed 2x2 matrix per filter) plus the
/// second half's state. So each sample is filtered once although every sample belongs to two
/// windows.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    /// `2 cos(2π f / 8000)` for the four rows then the four columns.
    coeffs: [f32; 8],
    /// Per filter, the zero-input state transition over 80 samples: `[[a, b], [c, d]]` maps
    /// `(s1, s2)` to `(a s1 + b s2, c s1 + d s2)`.
    carry: [[f32; 4]; 8],
    /// The second half of the previous frame.
    prev_half: HalfState,
    min_tone_energy: f32,
    run_digit: Option<char>,
    run_len: u32,
    reported: Option<char>,
    since_reported: u32,
}

/// A half window quieter than this (about -65 dBov) is treated as silence without filtering.
const QUIET_HALF_ENERGY: f32 = 3.2e-7 * HOP as f32;

impl InbandDetector {
    /// A detector with the default thresholds.
    pub fn new() -> Self {
        let mut coeffs = [0.0f32; 8];
        let mut carry = [[0.0f32; 4]; 8];
        for ((c, m), f) in coeffs
            .iter_mut()
            .zip(carry.iter_mut())
            .zip(ROW_HZ.iter().chain(&COL_HZ))
        {
            let c64 = 2.0 * (2.0 * std::f64::consts::PI * *f as f64 / RATE as f64).cos();
            *c = c64 as f32;
            // One zero-input step: (s1, s2) -> (c s1 - s2, s1), i.e. [[c, -1], [1, 0]].
            let mut p = [1.0f64, 0.0, 0.0, 1.0];
            for _ in 0..HOP {
                p = [c64 * p[0] - p[2], c64 * p[1] - p[3], p[0], p[1]];
            }
            *m = p.map(|v| v as f32);
        }
        InbandDetector {
            coeffs,
            carry,
            prev_half: HalfState::default(),
            min_tone_energy: window_energy_at(MIN_TONE_LEVEL_DBOV),
            run_digit: None,
            run_len: 0,
            reported: None,
            since_reported: 0,
        }
    }

    /// Analyses one frame; returns a digit when this frame completes its detection.
    pub fn push(&mut self, now: Instant, frame: &Frame8k) -> Option<DigitEvent> {
        let (first, second) = frame.samples().split_at(HOP);
        let first = self.half(first);
        let second = self.half(second);

        let window_a = self.combine(&self.prev_half, &first);
        let window_b = self.combine(&first, &second);
        self.prev_half = second;

        let verdict_a = self.classify(&window_a);
        let mut event = self.decide(verdict_a, now);
        let verdict_b = self.classify(&window_b);
        if let Some(e) = self.decide(verdict_b, now) {
            event = Some(e);
        }
        event
    }

    /// Forgets all history, as at the start of a new stream.
    pub fn reset(&mut self) {
        self.prev_half = HalfState::default();
        self.run_digit = None;
        self.run_len = 0;
        self.reported = None;
        self.since_reported = 0;
    }

    /// Runs the eight filters over one half window, from rest.
    fn half(&self, samples: &[i16]) -> HalfState {
        let mut x = [0.0f32; HOP];
        for (x, &s) in x.iter_mut().zip(samples) {
            *x = s as f32 * (1.0 / 32768.0);
        }
        let energy: f32 = x.iter().map(|v| v * v).sum();
        if energy < QUIET_HALF_ENERGY {
            return HalfState::default();
        }
        let c = self.coeffs;
        let mut s1 = [0.0f32; 8];
        let mut s2 = [0.0f32; 8];
        for &v in &x {
            let mut s0 = [0.0f32; 8];
            for k in 0..8 {
                s0[k] = v + c[k] * s1[k] - s2[k];
            }
            s2 = s1;
            s1 = s0;
        }
        HalfState { s1, s2, energy }
    }

    /// The state after `a` then `b`.
    fn combine(&self, a: &HalfState, b: &HalfState) -> HalfState {
        let mut out = HalfState {
            energy: a.energy + b.energy,
            ..HalfState::default()
        };
        for k in 0..8 {
            let [m00, m01, m10, m11] = self.carry[k];
            out.s1[k] = m00 * a.s1[k] + m01 * a.s2[k] + b.s1[k];
            out.s2[k] = m10 * a.s1[k] + m11 * a.s2[k] + b.s2[k];
        }
        out
    }

    /// Updates the burst state with one window's verdict.
    fn decide(&mut self, window: Option<char>, now: Instant) -> Option<DigitEvent> {
        if window.is_some() && window == self.run_digit {
            self.run_len += 1;
        } else {
            self.run_digit = window;
            self.run_len = u32::from(window.is_some());
        }
        if window.is_some() && window == self.reported {
            self.since_reported = 0;
        } else {
            self.since_reported += 1;
            if self.since_reported >= MISSES_TO_END {
                self.reported = None;
            }
        }
        let digit = window?;
        if self.run_len >= HITS_TO_REPORT && self.reported != Some(digit) {
            self.reported = Some(digit);
            self.since_reported = 0;
            return Some(DigitEvent {
                digit,
                method: DtmfMethod::Inband,
                // Windows of 20 ms hopping by 10 ms.
                duration_ms: 20 + 10 * (self.run_len - 1),
                at: now,
            });
        }
        None
    }

    /// The digit present in one 160-sample window, if any.
    fn classify(&self, w: &HalfState) -> Option<char> {
        if w.energy < 2.0 * self.min_tone_energy {
            return None;
        }
        // Energy of the sinusoid at each frequency: 2|X|² / N.
        let mut tone = [0.0f32; 8];
        for (k, t) in tone.iter_mut().enumerate() {
            let (s1, s2) = (w.s1[k], w.s2[k]);
            let power = s1 * s1 + s2 * s2 - self.coeffs[k] * s1 * s2;
            *t = 2.0 * power / WINDOW as f32;
        }

        let (rows, cols) = tone.split_at(4);
        let (r, row) = strongest(rows);
        let (c, col) = strongest(cols);
        if row < self.min_tone_energy || col < self.min_tone_energy {
            return None;
        }
        if row > col * MAX_NORMAL_TWIST || col > row * MAX_REVERSE_TWIST {
            return None;
        }
        let others_quiet = |group: &[f32], peak_index: usize, peak: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, &e)| i == peak_index || e * MIN_RELATIVE_PEAK <= peak)
        };
        if !others_quiet(rows, r, row) || !others_quiet(cols, c, col) {
            return None;
        }
        if row + col < MIN_TONE_SHARE * w.energy {
            return None;
        }
        Some(KEYPAD[r][c])
    }
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

/// The index and value of the largest of four energies.
fn strongest(group: &[f32]) -> (usize, f32) {
    let mut best = (0, group[0]);
    for (i, &e) in group.iter().enumerate().skip(1) {
        if e > best.1 {
            best = (i, e);
        }
    }
    best
}

/// Generates the dual tone of `digit` at 8 kHz: `duration_ms` long, each of the two tones with
/// peak `amplitude` (the sum saturates at the `i16` range). Returns an empty buffer if `digit`
/// is not a DTMF digit.
pub fn generate_tone(digit: char, duration_ms: u32, amplitude: i16) -> Vec<i16> {
    let Some((row, col)) = frequencies(digit) else {
        return Vec::new();
    };
    let n = (duration_ms as u64 * Hz8000::HZ as u64 / 1000) as usize;
    let (wr, wc) = (
        2.0 * std::f64::consts::PI * row as f64 / Hz8000::HZ as f64,
        2.0 * std::f64::consts::PI * col as f64 / Hz8000::HZ as f64,
    );
    let a = amplitude as f64;
    (0..n)
        .map(|i| {
            let t = i as f64;
            let v = a * ((wr * t).sin() + (wc * t).sin());
            v.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::g711::{self, G711};
    use std::f64::consts::PI as PI64;
    use std::time::Duration;

    const ALL: &str = "123A456B789C*0#D";

    /// Deterministic pseudo-random numbers (xorshift64*), uniform in -1..1.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
            (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }

        /// Roughly Gaussian with unit variance (sum of 12 uniforms scaled).
        fn gaussian(&mut self) -> f64 {
            (0..12).map(|_| self.next()).sum::<f64>() / 2.0
        }
    }

    /// Runs the detector over `signal` (zero-padded to whole frames) and returns the digits.
    fn detect(signal: &[i16]) -> Vec<DigitEvent> {
        let mut det = InbandDetector::new();
        let t0 = Instant::now();
        signal
            .chunks(160)
            .enumerate()
            .filter_map(|(i, chunk)| {
                let frame = Frame8k::from_slice_padded(chunk);
                det.push(t0 + Duration::from_millis(20 * i as u64), &frame)
            })
            .collect()
    }

    fn digits(events: &[DigitEvent]) -> String {
        events.iter().map(|e| e.digit).collect()
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    fn two_tones(f1: f64, a1: f64, f2: f64, a2: f64, ms: usize) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| {
                let t = i as f64 / 8000.0;
                (a1 * (2.0 * PI64 * f1 * t).sin() + a2 * (2.0 * PI64 * f2 * t).sin()) as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn every_digit_at_100_ms_is_detected_exactly_once() {
        for d in ALL.chars() {
            let mut s = silence(60);
            s.extend(generate_tone(d, 100, 8000));
            s.extend(silence(100));
            let events = detect(&s);
            assert_eq!(digits(&events), d.to_string(), "digit {d}");
            assert_eq!(events[0].method, DtmfMethod::Inband);
            assert!(events[0].duration_ms >= 40);
        }
    }

    #[test]
    fn a_dialled_sequence_is_detected_in_order() {
        let mut s = Vec::new();
        for d in "0123456789*#ABCD".chars() {
            s.extend(generate_tone(d, 70, 6000));
            s.extend(silence(60));
        }
        assert_eq!(digits(&detect(&s)), "0123456789*#ABCD");
    }

    #[test]
    fn the_same_digit_after_a_pause_is_two_digits_and_a_long_press_is_one() {
        let mut s = generate_tone('1', 80, 8000);
        s.extend(silence(50));
        s.extend(generate_tone('1', 80, 8000));
        assert_eq!(digits(&detect(&s)), "11");

        let long = generate_tone('5', 2000, 8000);
        assert_eq!(digits(&detect(&long)), "5");
    }

    #[test]
    fn digits_survive_white_noise_at_20_db_snr() {
        let mut noise = Noise(0x1234_5678_9abc_def1);
        for d in ALL.chars() {
            let mut s = silence(40);
            s.extend(generate_tone(d, 100, 6000));
            s.extend(silence(80));
            // Tone RMS is 6000 (two sines of peak 6000); noise 20 dB below.
            let sigma = 600.0;
            let noisy: Vec<i16> = s
                .iter()
                .map(|&x| (x as f64 + sigma * noise.gaussian()) as i16)
                .collect();
            assert_eq!(digits(&detect(&noisy)), d.to_string(), "digit {d}");
        }
    }

    #[test]
    fn digits_survive_g711_companding() {
        for codec in [G711::Pcmu, G711::Pcma] {
            for d in ALL.chars() {
                let pcm = generate_tone(d, 100, 5000);
                let mut bytes = vec![0u8; pcm.len()];
                g711::encode(codec, &pcm, &mut bytes);
                let mut back = vec![0i16; pcm.len()];
                g711::decode(codec, &bytes, &mut back);
                assert_eq!(digits(&detect(&back)), d.to_string(), "{codec:?} {d}");
            }
        }
    }

    #[test]
    fn tones_off_frequency_by_1_5_percent_are_detected() {
        for factor in [0.985, 1.015] {
            let s = two_tones(852.0 * factor, 7000.0, 1477.0 * factor, 7000.0, 100);
            assert_eq!(digits(&detect(&s)), "9", "factor {factor}");
        }
    }

    #[test]
    fn tones_off_frequency_by_5_percent_are_rejected() {
        for factor in [0.95, 1.05] {
            let s = two_tones(852.0 * factor, 7000.0, 1477.0 * factor, 7000.0, 100);
            assert_eq!(digits(&detect(&s)), "", "factor {factor}");
        }
    }

    #[test]
    fn twist_within_limits_is_accepted_and_beyond_is_rejected() {
        let a = 10000.0;
        let db = |x: f64| 10f64.powf(x / 20.0);
        // Normal twist: column weaker than row.
        assert_eq!(
            digits(&detect(&two_tones(770.0, a, 1336.0, a / db(6.0), 100))),
            "5"
        );
        assert_eq!(
            digits(&detect(&two_tones(770.0, a, 1336.0, a / db(10.0), 100))),
            ""
        );
        // Reverse twist: column stronger than row.
        assert_eq!(
            digits(&detect(&two_tones(770.0, a / db(3.0), 1336.0, a, 100))),
            "5"
        );
        assert_eq!(
            digits(&detect(&two_tones(770.0, a / db(6.0), 1336.0, a, 100))),
            ""
        );
    }

    #[test]
    fn a_40_ms_tone_is_detected_and_a_20_ms_tone_is_not_at_any_alignment() {
        for offset in (0..160).step_by(10) {
            let mut s = silence(0);
            s.resize(160 + offset, 0);
            let mut forty = s.clone();
            forty.extend(generate_tone('8', 40, 8000));
            forty.extend(silence(60));
            assert_eq!(digits(&detect(&forty)), "8", "40 ms at offset {offset}");

            let mut twenty = s;
            twenty.extend(generate_tone('8', 20, 8000));
            twenty.extend(silence(60));
            assert_eq!(digits(&detect(&twenty)), "", "20 ms at offset {offset}");
        }
    }

    #[test]
    fn quiet_tones_above_the_threshold_are_detected_and_below_are_not() {
        // Each tone at -30 dBov RMS: peak = 32768 * 10^(-30/20) * sqrt(2).
        let peak = |dbov: f64| (32768.0 * 10f64.powf(dbov / 20.0) * 2f64.sqrt()) as i16;
        assert_eq!(digits(&detect(&generate_tone('0', 100, peak(-30.0)))), "0");
        assert_eq!(digits(&detect(&generate_tone('0', 100, peak(-45.0)))), "");
    }

    #[test]
    fn single_tones_are_not_digits() {
        for f in ROW_HZ.iter().chain(&COL_HZ) {
            let s = two_tones(*f as f64, 12000.0, 0.0, 0.0, 500);
            assert_eq!(digits(&detect(&s)), "", "{f} Hz");
        }
        let dial_tone = two_tones(350.0, 8000.0, 440.0, 8000.0, 1000);
        assert_eq!(digits(&detect(&dial_tone)), "");
    }

    /// A vowel: harmonics of a (possibly gliding) fundamental shaped by three formants.
    fn vowel(f0_start: f64, f0_end: f64, formants: [(f64, f64); 3], ms: usize) -> Vec<i16> {
        let n = ms * 8;
        let mut phases = vec![0.0f64; 40];
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let f0 = f0_start + (f0_end - f0_start) * i as f64 / n as f64;
            let mut v = 0.0;
            for (k, phase) in phases.iter_mut().enumerate() {
                let f = f0 * (k + 1) as f64;
                if f > 3800.0 {
                    break;
                }
                *phase += 2.0 * PI64 * f / 8000.0;
                // Lorentzian formant peaks on a -6 dB/octave source.
                let gain: f64 = formants
                    .iter()
                    .enumerate()
                    .map(|(j, &(fc, bw))| {
                        let level = [1.0, 0.5, 0.25][j];
                        level / (1.0 + ((f - fc) / (bw / 2.0)).powi(2))
                    })
                    .sum::<f64>()
                    / (k + 1) as f64;
                v += gain * phase.sin();
            }
            out.push(v);
        }
        let peak = out.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        out.iter().map(|x| (x / peak * 16000.0) as i16).collect()
    }

    const VOWELS: [[(f64, f64); 3]; 6] = [
        [(730.0, 90.0), (1090.0, 110.0), (2440.0, 170.0)], // /a/
        [(270.0, 60.0), (2290.0, 100.0), (3010.0, 120.0)], // /i/
        [(300.0, 60.0), (870.0, 90.0), (2240.0, 120.0)],   // /u/
        [(530.0, 70.0), (1840.0, 100.0), (2480.0, 150.0)], // /ɛ/
        [(570.0, 80.0), (840.0, 90.0), (2410.0, 160.0)],   // /ɔ/
        [(700.0, 80.0), (1220.0, 90.0), (2600.0, 160.0)],  // /ʌ/, formants on DTMF bins
    ];

    #[test]
    fn steady_vowels_on_a_120_hz_fundamental_produce_no_digits() {
        for formants in VOWELS {
            let s = vowel(120.0, 120.0, formants, 2000);
            assert_eq!(digits(&detect(&s)), "", "{formants:?}");
        }
    }

    #[test]
    fn gliding_vowels_at_many_pitches_produce_no_digits() {
        for (i, formants) in VOWELS.iter().enumerate() {
            for (lo, hi) in [(85.0, 140.0), (140.0, 95.0), (180.0, 260.0), (240.0, 170.0)] {
                let s = vowel(lo, hi, *formants, 1500);
                assert_eq!(digits(&detect(&s)), "", "vowel {i} {lo}->{hi} Hz");
            }
        }
    }

    #[test]
    fn chirps_and_sweeps_produce_no_digits() {
        let sweep = |f_start: f64, f_end: f64, ms: usize| -> Vec<f64> {
            let n = ms * 8;
            let mut phase = 0.0f64;
            (0..n)
                .map(|i| {
                    let f = f_start + (f_end - f_start) * i as f64 / n as f64;
                    phase += 2.0 * PI64 * f / 8000.0;
                    phase.sin()
                })
                .collect()
        };
        let single: Vec<i16> = sweep(300.0, 3400.0, 3000)
            .into_iter()
            .map(|x| (x * 12000.0) as i16)
            .collect();
        assert_eq!(digits(&detect(&single)), "");

        // Pairs of fast chirps crossing both DTMF groups, like formant transitions. (A pair of
        // slow sweeps would hold a valid digit for a while, and rightly be detected.)
        let mut dual = Vec::new();
        for (a0, a1, b0, b1, ms) in [
            (600.0, 1000.0, 1700.0, 1150.0, 150),
            (1000.0, 650.0, 1150.0, 1700.0, 120),
            (300.0, 1200.0, 1100.0, 2400.0, 200),
            (950.0, 680.0, 1650.0, 1200.0, 100),
        ] {
            let a = sweep(a0, a1, ms);
            let b = sweep(b0, b1, ms);
            dual.extend(a.iter().zip(&b).map(|(x, y)| ((x + y) * 8000.0) as i16));
        }
        assert_eq!(digits(&detect(&dual)), "");
    }

    #[test]
    fn white_noise_produces_no_digits() {
        let mut noise = Noise(42);
        for level in [300.0, 3000.0, 12000.0] {
            let s: Vec<i16> = (0..8000 * 5)
                .map(|_| (level * noise.gaussian()).clamp(-32768.0, 32767.0) as i16)
                .collect();
            assert!(rms(&s) > 0.0);
            assert_eq!(digits(&detect(&s)), "", "noise at {level}");
        }
    }

    #[test]
    fn reset_forgets_a_reported_digit() {
        let mut det = InbandDetector::new();
        let t0 = Instant::now();
        let tone = generate_tone('3', 200, 8000);
        let mut got = String::new();
        for (i, chunk) in tone.chunks_exact(160).enumerate() {
            if i == 6 {
                det.reset();
            }
            got.extend(
                det.push(t0, &Frame8k::from_slice(chunk).unwrap())
                    .map(|e| e.digit),
            );
        }
        assert_eq!(got, "33");
    }

    #[test]
    fn combining_half_windows_equals_filtering_the_whole_window() {
        let det = InbandDetector::new();
        let mut noise = Noise(99);
        let x: Vec<i16> = (0..160)
            .map(|i| (3000.0 * noise.gaussian() + 5000.0 * (i as f64 * 0.6).sin()) as i16)
            .collect();
        let combined = det.combine(&det.half(&x[..80]), &det.half(&x[80..]));
        for k in 0..8 {
            let c = det.coeffs[k] as f64;
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for &v in &x {
                let s = v as f64 / 32768.0 + c * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            assert!(
                (combined.s1[k] as f64 - s1).abs() < 1e-3 * (1.0 + s1.abs()),
                "filter {k}"
            );
            assert!(
                (combined.s2[k] as f64 - s2).abs() < 1e-3 * (1.0 + s2.abs()),
                "filter {k}"
            );
        }
    }

    #[test]
    fn generate_tone_has_the_requested_length_and_rejects_non_digits() {
        assert_eq!(generate_tone('5', 100, 1000).len(), 800);
        assert!(generate_tone('x', 100, 1000).is_empty());
        assert_eq!(generate_tone('a', 20, 1000), generate_tone('A', 20, 1000));
        // Full-scale amplitudes saturate rather than wrap.
        let loud = generate_tone('1', 20, i16::MAX);
        assert!(loud.contains(&i16::MAX));
    }

    #[test]
    fn english_speech_from_espeak_produces_no_digits() {
        let Ok(espeak) = which("espeak-ng") else {
            println!("espeak-ng not installed; skipping the synthesized-speech talk-off test");
            return;
        };
        let sentences = [
            "Thank you for calling. Please listen carefully, as our menu options have changed.",
            "For billing questions, press one. For technical support, press two.",
            "Your call is important to us. Please stay on the line and an agent will be with you shortly.",
            "I would like to check the balance of my account and pay my bill today.",
            "Seven hundred seventy, eight hundred fifty two, nine hundred forty one, twelve oh nine.",
        ];
        for (i, text) in sentences.iter().enumerate() {
            for voice in ["en", "en-us+f3"] {
                let tmp =
                    crate::audio::wav::tests::TempPath::new(&format!("espeak-{i}-{voice}.wav"));
                let status = std::process::Command::new(&espeak)
                    .args(["-v", voice, "-w"])
                    .arg(&tmp.0)
                    .arg(text)
                    .status();
                if !matches!(status, Ok(s) if s.success()) {
                    println!("espeak-ng failed for voice {voice}; skipping");
                    continue;
                }
                let prompt = crate::audio::Prompt::load(&tmp.0).unwrap();
                assert!(prompt.len_frames() > 50);
                let mut det = InbandDetector::new();
                let t0 = Instant::now();
                let got: String = prompt
                    .frames()
                    .filter_map(|f| det.push(t0, &f))
                    .map(|e| e.digit)
                    .collect();
                assert_eq!(got, "", "sentence {i} voice {voice}");
            }
        }
    }

    fn which(program: &str) -> Result<std::path::PathBuf, ()> {
        let path = std::env::var_os("PATH").ok_or(())?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
            .ok_or(())
    }

    #[test]
    #[ignore = "timing; run with --release -- --ignored"]
    fn detector_costs_a_few_microseconds_per_frame() {
        let mut noise = Noise(7);
        let frames: Vec<Frame8k> = (0..5000)
            .map(|_| {
                let mut f = Frame8k::silence();
                for s in f.samples_mut() {
                    *s = (3000.0 * noise.gaussian()) as i16;
                }
                f
            })
            .collect();
        let mut det = InbandDetector::new();
        let t0 = Instant::now();
        let start = std::time::Instant::now();
        let mut n = 0;
        for f in &frames {
            n += det.push(t0, f).is_some() as usize;
        }
        let per_frame = start.elapsed() / frames.len() as u32;
        println!("InbandDetector::push: {per_frame:?} per frame ({n} digits)");
    }
}
