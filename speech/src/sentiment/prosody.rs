//! [`ProsodyTracker`]: how an utterance was said, accumulated frame by frame.
//!
//! Per frame (cheap enough for every 20 ms frame of every call, no allocation):
//!
//! * **level** — dBov; frames above -55 dBov and within 30 dB of the utterance's loudest frame
//!   are *active* and feed the energy mean and variance;
//! * **pitch** — on active frames, the signal is low-passed (`[1 2 1]/4`) and decimated to 4 kHz,
//!   and the normalised autocorrelation of the last 40 ms is searched over lags of 2.5–16 ms
//!   (62–400 Hz); a peak of 0.6 or more makes the frame *voiced*, its lag (the best
//!   correlation less 0.04 per octave of lag, so a multiple of the period does not win; refined
//!   by a parabola through the peak) its pitch;
//!   a pitch more than a fifth away from the previous one within 60 ms, or outside 0.55–1.8
//!   times the utterance's mean so far, is dropped as a harmonic or a transition;
//! * **syllables** — peaks of the smoothed level that rise 4 dB over the preceding valley and fall
//!   3 dB after; the speaking rate is syllables per second of active speech.

use ivr_media::audio::Frame8k;

use crate::vad::{dbov, frame_mean_square};

/// Samples per frame at 4 kHz.
const HALF: usize = 80;
/// Decimated samples kept: this frame and the previous one (40 ms).
const WINDOW: usize = 2 * HALF;
/// Shortest lag searched at 4 kHz (400 Hz).
const MIN_LAG: usize = 10;
/// Longest lag searched at 4 kHz (62.5 Hz).
const MAX_LAG: usize = 64;
/// Samples correlated per lag.
const SPAN: usize = WINDOW - MAX_LAG;
/// Normalised autocorrelation that makes a frame voiced.
const VOICING: f32 = 0.6;
/// Correlation given up per octave of lag when choosing the period.
const OCTAVE_COST: f32 = 0.04;
/// `OCTAVE_COST × log2(lag / (MIN_LAG / 2))` for each coarse (2 kHz) lag, computed at build
/// time: a table lookup instead of a logarithm per lag per frame.
const COARSE_OCTAVE_COST: [f32; MAX_LAG / 2 + 1] = {
    let mut t = [0f32; MAX_LAG / 2 + 1];
    let mut lag = MIN_LAG / 2;
    while lag <= MAX_LAG / 2 {
        t[lag] = OCTAVE_COST * log2_const(lag as f32 / (MIN_LAG / 2) as f32);
        lag += 1;
    }
    t
};

/// `log2(x)` for `x >= 1` in a `const` context, to about 1e-4: the integer part by halving,
/// the fraction bit by bit by squaring.
const fn log2_const(mut x: f32) -> f32 {
    let mut result = 0.0;
    while x >= 2.0 {
        x /= 2.0;
        result += 1.0;
    }
    let mut bit = 0.5;
    let mut k = 0;
    while k < 14 {
        x *= x;
        if x >= 2.0 {
            x /= 2.0;
            result += bit;
        }
        bit /= 2.0;
        k += 1;
    }
    result
}

/// How an utterance was said. See [`ProsodyTracker`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prosody {
    /// Frames pushed.
    pub frames: u32,
    /// Frames loud enough to be speech.
    pub active_frames: u32,
    /// Active frames with a pitch.
    pub voiced_frames: u32,
    /// Mean level of the active frames, dBov.
    pub energy_mean_dbov: f32,
    /// Standard deviation of the active frames' level, dB.
    pub energy_std_db: f32,
    /// Mean pitch of the voiced frames, Hz (0 without any).
    pub pitch_mean_hz: f32,
    /// Standard deviation of the pitch, Hz.
    pub pitch_std_hz: f32,
    /// Syllable nuclei counted.
    pub syllables: u32,
    /// Syllables per second of active speech.
    pub speaking_rate: f32,
}

/// Reference points of [`Prosody::arousal`].
const CALM_LEVEL_DBOV: f32 = -26.0;
const LEVEL_SPAN_DB: f32 = 12.0;
const CALM_PITCH_STD_HZ: f32 = 20.0;
const PITCH_STD_SPAN_HZ: f32 = 40.0;
const CALM_RATE: f32 = 4.0;
const RATE_SPAN: f32 = 3.0;

impl Prosody {
    /// How agitated the voice sounds, 0 (calm) to 1:
    ///
    /// ```text
    /// arousal = 0.4·clamp01((energy_mean_dbov + 26) / 12)   loud: -26 dBov is nominal speech
    ///         + 0.4·clamp01((pitch_std_hz - 20) / 40)      a pitch that moves a lot
    ///         + 0.2·clamp01((speaking_rate - 4) / 3)       fast: 4 syllables/s is calm
    /// ```
    ///
    /// 0 for less than 200 ms of active speech, which says too little.
    pub fn arousal(&self) -> f32 {
        if self.active_frames < 10 {
            return 0.0;
        }
        let level = ((self.energy_mean_dbov - CALM_LEVEL_DBOV) / LEVEL_SPAN_DB).clamp(0.0, 1.0);
        let pitch = if self.voiced_frames >= 5 {
            ((self.pitch_std_hz - CALM_PITCH_STD_HZ) / PITCH_STD_SPAN_HZ).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let rate = ((self.speaking_rate - CALM_RATE) / RATE_SPAN).clamp(0.0, 1.0);
        0.4 * level + 0.4 * pitch + 0.2 * rate
    }
}

/// Accumulates [`Prosody`] over the frames of one utterance. Push the utterance's frames (for
/// example from `SpeechStart`, pre-roll first, to `SpeechEnd`), read [`ProsodyTracker::prosody`],
/// then [`ProsodyTracker::reset`] for the next one.
#[derive(Debug, Clone)]
pub struct ProsodyTracker {
    frames: u32,
    active: u32,
    peak_db: f32,
    level_sum: f64,
    level_sq_sum: f64,
    voiced: u32,
    pitch_sum: f64,
    pitch_sq_sum: f64,
    /// Decimated signal: the previous frame then this one.
    decimated: [f32; WINDOW],
    /// The last input sample of the previous frame, for the low-pass.
    prev_sample: f32,
    /// The last pitch counted, Hz, and frames since.
    last_pitch: f32,
    since_pitch: u8,
    /// Smoothed level, for syllables.
    envelope: f32,
    rising: bool,
    valley: f32,
    crest: f32,
    syllables: u32,
}

impl Default for ProsodyTracker {
    fn default() -> Self {
        ProsodyTracker::new()
    }
}

impl ProsodyTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        ProsodyTracker {
            frames: 0,
            active: 0,
            peak_db: crate::vad::FLOOR_DBOV,
            level_sum: 0.0,
            level_sq_sum: 0.0,
            voiced: 0,
            pitch_sum: 0.0,
            pitch_sq_sum: 0.0,
            decimated: [0.0; WINDOW],
            prev_sample: 0.0,
            last_pitch: 0.0,
            since_pitch: u8::MAX,
            envelope: crate::vad::FLOOR_DBOV,
            rising: false,
            valley: crate::vad::FLOOR_DBOV,
            crest: crate::vad::FLOOR_DBOV,
            syllables: 0,
        }
    }

    /// Adds the next frame of the utterance.
    pub fn push(&mut self, frame: &Frame8k) {
        self.frames += 1;
        let level = dbov(frame_mean_square(frame));
        self.peak_db = self.peak_db.max(level);
        let active = level > -55.0 && level > self.peak_db - 30.0;

        self.decimate(frame);
        if active {
            self.active += 1;
            self.level_sum += f64::from(level);
            self.level_sq_sum += f64::from(level) * f64::from(level);
            let mean = (self.pitch_sum / f64::from(self.voiced.max(1))) as f32;
            let pitch = self.pitch().filter(|&hz| {
                // A jump of more than a fifth from the last pitch within 60 ms, or a pitch far
                // from the utterance's mean, is a harmonic or a transition, not intonation.
                (self.since_pitch > 3
                    || (hz > self.last_pitch * 0.7 && hz < self.last_pitch * 1.45))
                    && (self.voiced < 5 || (hz > mean * 0.55 && hz < mean * 1.8))
            });
            self.since_pitch = self.since_pitch.saturating_add(1);
            if let Some(hz) = pitch {
                self.last_pitch = hz;
                self.since_pitch = 0;
                self.voiced += 1;
                self.pitch_sum += f64::from(hz);
                self.pitch_sq_sum += f64::from(hz) * f64::from(hz);
            }
        }
        self.syllable(level, active);
    }

    /// Shifts the window and appends this frame low-passed and decimated to 4 kHz.
    fn decimate(&mut self, frame: &Frame8k) {
        self.decimated.copy_within(HALF.., 0);
        let s = frame.samples();
        let mut prev = self.prev_sample;
        for (k, out) in self.decimated[HALF..].iter_mut().enumerate() {
            let a = f32::from(s.get(2 * k).copied().unwrap_or(0));
            let b = f32::from(s.get(2 * k + 1).copied().unwrap_or(0));
            *out = 0.25 * prev + 0.5 * a + 0.25 * b;
            prev = b;
        }
        self.prev_sample = prev;
    }

    /// The pitch of the window in Hz, if it is voiced: a coarse search at 2 kHz over the whole
    /// range, then a fine one at 4 kHz around the coarse lag.
    fn pitch(&self) -> Option<f32> {
        let x = &self.decimated;
        let mut coarse = [0f32; WINDOW / 2];
        for (c, pair) in coarse.iter_mut().zip(x.chunks_exact(2)) {
            *c = 0.5 * (pair[0] + pair[1]);
        }
        let (min2, max2) = (MIN_LAG / 2, MAX_LAG / 2);
        let span2 = WINDOW / 2 - max2;
        let head = &coarse[..span2];
        let e0 = dot(head, head);
        if e0 <= 0.0 {
            return None;
        }
        // The best lag by correlation less an octave cost (as Praat does), so a multiple of the
        // period, which correlates almost as well, does not win over the period itself.
        let mut best = (0usize, f32::MIN);
        let mut el = dot(&coarse[min2..min2 + span2], &coarse[min2..min2 + span2]);
        for lag in min2..=max2 {
            if lag > min2 {
                let out = coarse[lag - 1];
                let inn = coarse[lag + span2 - 1];
                el = (el - out * out + inn * inn).max(0.0);
            }
            let c = dot(head, &coarse[lag..lag + span2]);
            let r = if el > 0.0 { c / (e0 * el).sqrt() } else { 0.0 };
            let strength = r - COARSE_OCTAVE_COST.get(lag).copied().unwrap_or(0.0);
            if strength > best.1 {
                best = (lag, strength);
            }
        }

        // Fine search at 4 kHz around 2L, and around L too: at 2 kHz a high pitch falls between
        // two lags and its double period can win the coarse search.
        let head = &x[..SPAN];
        let e0 = dot(head, head);
        let (lag, shift, peak) = fine_peak(x, head, e0, 2 * best.0)?;
        let (lag, shift) = match fine_peak(x, head, e0, best.0) {
            Some((half, half_shift, half_peak)) if half_peak >= peak - OCTAVE_COST => {
                (half, half_shift)
            }
            _ => (lag, shift),
        };
        Some(4000.0 / (lag as f32 + shift))
    }

    fn syllable(&mut self, level: f32, active: bool) {
        self.envelope = 0.5 * self.envelope + 0.5 * level;
        let e = self.envelope;
        if self.rising {
            if e > self.crest {
                self.crest = e;
            } else if e < self.crest - 3.0 {
                self.syllables += 1;
                self.rising = false;
                self.valley = e;
            }
        } else if e < self.valley {
            self.valley = e;
        } else if active && e > self.valley + 4.0 {
            self.rising = true;
            self.crest = e;
        }
    }

    /// What has been accumulated so far.
    pub fn prosody(&self) -> Prosody {
        let active = f64::from(self.active.max(1));
        let level_mean = self.level_sum / active;
        let level_var = (self.level_sq_sum / active - level_mean * level_mean).max(0.0);
        let voiced = f64::from(self.voiced.max(1));
        let pitch_mean = self.pitch_sum / voiced;
        let pitch_var = (self.pitch_sq_sum / voiced - pitch_mean * pitch_mean).max(0.0);
        // A nucleus still rising at the end counts.
        let syllables = self.syllables + u32::from(self.rising);
        let seconds = self.active as f32 * 0.02;
        Prosody {
            frames: self.frames,
            active_frames: self.active,
            voiced_frames: self.voiced,
            energy_mean_dbov: if self.active > 0 {
                level_mean as f32
            } else {
                crate::vad::FLOOR_DBOV
            },
            energy_std_db: level_var.sqrt() as f32,
            pitch_mean_hz: pitch_mean as f32,
            pitch_std_hz: pitch_var.sqrt() as f32,
            syllables,
            speaking_rate: if seconds > 0.0 {
                syllables as f32 / seconds
            } else {
                0.0
            },
        }
    }

    /// Empties the tracker for the next utterance.
    pub fn reset(&mut self) {
        *self = ProsodyTracker::new();
    }
}

/// The best lag of the 4 kHz window `x` within ±2 of `centre` (its parabola-refined shift and
/// correlation), if voiced and inside the range.
fn fine_peak(x: &[f32; WINDOW], head: &[f32], e0: f32, centre: usize) -> Option<(usize, f32, f32)> {
    let lo = centre.saturating_sub(3).max(MIN_LAG);
    let hi = (centre + 3).min(MAX_LAG);
    if lo > hi {
        return None;
    }
    let mut r = [0f32; 7];
    let mut fine = (0usize, f32::MIN);
    for (slot, lag) in r.iter_mut().zip(lo..=hi) {
        let tail = x.get(lag..lag + SPAN)?;
        let el = dot(tail, tail);
        *slot = if el > 0.0 {
            dot(head, tail) / (e0 * el).sqrt()
        } else {
            0.0
        };
        if *slot > fine.1 {
            fine = (lag, *slot);
        }
    }
    let (lag, peak) = fine;
    if peak < VOICING || lag == MIN_LAG || lag == MAX_LAG || lag == lo || lag == hi {
        // Unvoiced, or the peak lies at the edge of what was searched.
        return None;
    }
    let i = lag - lo;
    let (a, c) = (r[i - 1], r[i + 1]);
    let denom = a - 2.0 * peak + c;
    let shift = if denom < 0.0 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    Some((lag, shift, peak))
}

/// `Σ a[i]·b[i]` over the shorter of the two, in eight lanes so it vectorises.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pulse train at `hz` (a crude voiced sound) at `amp`.
    fn voiced(hz: f32, amp: f32, start: usize) -> Frame8k {
        let mut f = Frame8k::silence();
        for (i, s) in f.samples_mut().iter_mut().enumerate() {
            let t = (start + i) as f32 / 8000.0;
            let phase = (t * hz).fract();
            *s = (amp * (-phase * 8.0).exp() * (2.0 * std::f32::consts::PI * 3.0 * phase).sin())
                as i16;
        }
        f
    }

    #[test]
    fn pitch_of_a_pulse_train_is_found_across_the_range() {
        for hz in [80.0, 120.0, 200.0, 310.0] {
            let mut t = ProsodyTracker::new();
            for k in 0..20 {
                t.push(&voiced(hz, 8000.0, k * 160));
            }
            let p = t.prosody();
            assert!(p.voiced_frames >= 18, "{hz}: {p:?}");
            assert!((p.pitch_mean_hz - hz).abs() < hz * 0.03, "{hz}: {p:?}");
            assert!(p.pitch_std_hz < 5.0, "{hz}: {p:?}");
        }
    }

    #[test]
    fn the_octave_cost_table_matches_log2() {
        for (lag, &cost) in COARSE_OCTAVE_COST.iter().enumerate().skip(MIN_LAG / 2) {
            let want = OCTAVE_COST * (lag as f32 / (MIN_LAG / 2) as f32).log2();
            assert!((cost - want).abs() < 1e-4, "{lag}");
        }
    }

    #[test]
    fn silence_has_no_prosody_and_no_arousal() {
        let mut t = ProsodyTracker::new();
        for _ in 0..50 {
            t.push(&Frame8k::silence());
        }
        let p = t.prosody();
        assert_eq!((p.active_frames, p.voiced_frames, p.syllables), (0, 0, 0));
        assert_eq!(p.arousal(), 0.0);
    }

    #[test]
    fn syllables_are_counted_from_level_peaks() {
        let mut t = ProsodyTracker::new();
        // Five 100 ms "syllables" separated by 100 ms pauses.
        for k in 0..50 {
            let amp = if (k / 5) % 2 == 0 { 8000.0 } else { 300.0 };
            t.push(&voiced(150.0, amp, k * 160));
        }
        let p = t.prosody();
        assert_eq!(p.syllables, 5, "{p:?}");
    }

    #[test]
    fn louder_and_more_varied_pitch_raises_arousal() {
        let mut calm = ProsodyTracker::new();
        let mut agitated = ProsodyTracker::new();
        for k in 0..50 {
            calm.push(&voiced(120.0 + (k % 5) as f32, 1500.0, k * 160));
            let hz = 180.0 + 80.0 * ((k as f32) * 0.7).sin();
            agitated.push(&voiced(hz, 30000.0, k * 160));
        }
        let (c, a) = (calm.prosody().arousal(), agitated.prosody().arousal());
        assert!(
            a > c + 0.3,
            "calm {c} {:?} agitated {a} {:?}",
            calm.prosody(),
            agitated.prosody()
        );
    }
}
