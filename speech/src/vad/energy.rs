//! [`EnergyVad`]: the default detector.
//!
//! Per frame it measures, in one pass over the 160 samples:
//!
//! * the energy of the **low band** `x[n] + x[n-1]` (a two-tap low-pass: voicing, 0–2 kHz) and of
//!   the **high band** `x[n] - x[n-1]` (a two-tap high-pass: frication, 2–4 kHz), in dBov;
//! * the **zero-crossing rate** (sign changes per sample): about 0.5 for white noise, below 0.25
//!   for voiced speech.
//!
//! Each band has its own **noise floor**, in dB, that falls quickly to any quieter frame, follows
//! frames judged non-speech upwards slowly, and barely moves during speech. A frame is speech
//! when it is above an absolute level (`min_level_dbov`) and a band stands out of its floor:
//! the low band by `threshold_db` (2 dB less for a voiced-looking frame: low zero-crossing rate and
//! a dominant low band) or the high band by `threshold_db + 3`.
//!
//! Two safeguards keep the floor honest. The first frame seeds it, so noise present from the
//! start of the stream is learnt at once. And a level that stays within 3 dB for 320 ms while
//! judged speech is not speech (speech moves by syllables, 4–6 per second): the floors are pulled
//! up to it, so a line whose noise steps up recovers in well under a second.
//!
//! The verdict has a **hangover**: after a run of speech frames, the next frames are
//! [`Activity::Hangover`] — 3 frames (60 ms) after a short run, 8 frames (160 ms) after a run
//! of 10 frames or more — so pauses between words do not chop the speech.

use ivr_media::audio::Frame8k;

use super::{dbov, Activity, Vad};

/// Tuning of [`EnergyVad`]. The defaults suit telephone audio at 8 kHz.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// How far (dB) the low band must rise over its noise floor for speech. Default 8 dB.
    pub threshold_db: f32,
    /// Frames quieter than this (dBov) are never speech. Default -60 dBov (G.711 idle noise is
    /// near -70 dBov; quiet telephone speech near -40 dBov).
    pub min_level_dbov: f32,
    /// Hangover after a short speech run, in frames. Default 3 (60 ms).
    pub hangover_short: u8,
    /// Hangover after a run of at least `long_run` frames. Default 8 (160 ms).
    pub hangover_long: u8,
    /// The run length, in frames, that earns the long hangover. Default 10 (200 ms).
    pub long_run: u16,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold_db: 8.0,
            min_level_dbov: -60.0,
            hangover_short: 3,
            hangover_long: 8,
            long_run: 10,
        }
    }
}

/// Noise floors never go below this (dBov), so digital silence does not make the faintest hiss
/// look like speech for long.
const FLOOR_MIN_DBOV: f32 = -80.0;
/// Frames in the stationarity window (320 ms).
const STATIONARY_FRAMES: usize = 16;
/// The level range (dB) under which the window counts as stationary.
const STATIONARY_RANGE_DB: f32 = 3.0;

/// The measurements of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Features {
    /// Whole-band level, dBov.
    level: f32,
    /// Low band `x[n] + x[n-1]`, dBov (of the sum signal, so 6 dB over `level` for a
    /// low-frequency tone).
    low: f32,
    /// High band `x[n] - x[n-1]`, dBov.
    high: f32,
    /// Sign changes per sample, 0..1.
    zcr: f32,
}

/// The default voice activity detector: two-band energy over adaptive noise floors, zero
/// crossings and hangover. See the [module documentation](self) for the method.
#[derive(Debug, Clone)]
pub struct EnergyVad {
    config: VadConfig,
    /// The last sample of the previous frame, for the two-tap filters and the crossings.
    prev_sample: i16,
    /// Whether a frame has seeded the floors.
    seeded: bool,
    floor_low: f32,
    floor_high: f32,
    /// Recent whole-band levels, for the stationarity test.
    recent: [f32; STATIONARY_FRAMES],
    recent_pos: usize,
    recent_len: usize,
    /// Consecutive speech frames so far.
    run: u16,
    /// Hangover frames left.
    hang: u8,
    last: Features,
}

impl Default for EnergyVad {
    fn default() -> Self {
        EnergyVad::new(VadConfig::default())
    }
}

impl EnergyVad {
    /// A detector with the given tuning.
    pub fn new(config: VadConfig) -> Self {
        EnergyVad {
            config,
            prev_sample: 0,
            seeded: false,
            floor_low: FLOOR_MIN_DBOV,
            floor_high: FLOOR_MIN_DBOV,
            recent: [0.0; STATIONARY_FRAMES],
            recent_pos: 0,
            recent_len: 0,
            run: 0,
            hang: 0,
            last: Features::default(),
        }
    }

    /// The tuning in use.
    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// The estimated whole-band noise level, dBov.
    pub fn noise_floor_dbov(&self) -> f32 {
        dbov(self.noise_floor_mean_square())
    }

    /// The estimated whole-band noise power, as a mean square of samples.
    pub(crate) fn noise_floor_mean_square(&self) -> f32 {
        // E[(x+p)²] + E[(x-p)²] = 2E[x²] + 2E[p²] = 4E[x²]: the two bands add up to four times
        // the whole-band power.
        let low = super::mean_square(self.floor_low);
        let high = super::mean_square(self.floor_high);
        (low + high) / 4.0
    }

    /// The whole-band level of the last frame pushed, dBov.
    pub fn level_dbov(&self) -> f32 {
        self.last.level
    }

    /// How far the last frame rose above the noise floor, dB (the larger of the two bands).
    pub fn snr_db(&self) -> f32 {
        (self.last.low - self.floor_low).max(self.last.high - self.floor_high)
    }

    fn measure(&mut self, frame: &Frame8k) -> Features {
        let samples = frame.samples();
        // The frame as f32, preceded by the previous frame's last sample.
        let mut buf = [0f32; 161];
        buf[0] = f32::from(self.prev_sample);
        for (b, &s) in buf[1..].iter_mut().zip(samples) {
            *b = f32::from(s);
        }
        let (mut e, mut lo, mut hi) = ([0f32; 8], [0f32; 8], [0f32; 8]);
        for (cur, prev) in buf[1..].chunks_exact(8).zip(buf[..160].chunks_exact(8)) {
            for i in 0..8 {
                let (x, p) = (cur[i], prev[i]);
                e[i] += x * x;
                lo[i] += (x + p) * (x + p);
                hi[i] += (x - p) * (x - p);
            }
        }
        // A sign change between neighbours: the sign bit of `x ^ p`.
        let first = samples.first().copied().unwrap_or(0);
        let mut crossings = u32::from((first ^ self.prev_sample) < 0);
        for w in samples.windows(2) {
            crossings += u32::from((w[0] ^ w[1]) < 0);
        }
        self.prev_sample = samples.last().copied().unwrap_or(0);
        let n = samples.len() as f32;
        let sum = |a: [f32; 8]| a.iter().sum::<f32>() / n;
        Features {
            level: dbov(sum(e)),
            low: dbov(sum(lo)),
            high: dbov(sum(hi)),
            zcr: crossings as f32 / n,
        }
    }

    /// Whether the last [`STATIONARY_FRAMES`] levels stayed within [`STATIONARY_RANGE_DB`].
    fn stationary(&self) -> bool {
        if self.recent_len < STATIONARY_FRAMES {
            return false;
        }
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for &v in &self.recent {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        hi - lo < STATIONARY_RANGE_DB
    }

    fn update_floor(floor: &mut f32, x: f32, active: bool, stationary: bool) {
        let rate = if x < *floor {
            0.25
        } else if stationary {
            0.15
        } else if !active {
            0.03
        } else {
            0.001
        };
        *floor = (*floor + rate * (x - *floor)).max(FLOOR_MIN_DBOV);
    }
}

impl Vad for EnergyVad {
    fn push(&mut self, frame: &Frame8k) -> Activity {
        let f = self.measure(frame);
        self.last = f;
        if !self.seeded {
            self.seeded = true;
            self.floor_low = f.low.max(FLOOR_MIN_DBOV);
            self.floor_high = f.high.max(FLOOR_MIN_DBOV);
        }
        self.recent[self.recent_pos] = f.level;
        self.recent_pos = (self.recent_pos + 1) % STATIONARY_FRAMES;
        self.recent_len = (self.recent_len + 1).min(STATIONARY_FRAMES);

        let c = &self.config;
        let snr_low = f.low - self.floor_low;
        let snr_high = f.high - self.floor_high;
        let voiced = f.zcr < 0.25 && f.low > f.high;
        let low_threshold = if voiced {
            c.threshold_db - 2.0
        } else {
            c.threshold_db
        };
        let mut active = f.level >= c.min_level_dbov
            && (snr_low >= low_threshold || snr_high >= c.threshold_db + 3.0);

        let stationary = active && self.stationary();
        if stationary {
            active = false;
        }
        Self::update_floor(&mut self.floor_low, f.low, active, stationary);
        Self::update_floor(&mut self.floor_high, f.high, active, stationary);

        if active {
            self.run = self.run.saturating_add(1);
            self.hang = if self.run >= c.long_run {
                c.hangover_long
            } else {
                c.hangover_short.max(self.hang)
            };
            Activity::Speech
        } else {
            self.run = 0;
            if self.hang > 0 {
                self.hang -= 1;
                Activity::Hangover
            } else {
                Activity::Silence
            }
        }
    }

    fn reset(&mut self) {
        *self = EnergyVad::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, amplitude: f32, phase0: usize) -> Frame8k {
        let mut f = Frame8k::silence();
        for (i, s) in f.samples_mut().iter_mut().enumerate() {
            let t = (phase0 + i) as f32 / 8000.0;
            *s = (amplitude * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16;
        }
        f
    }

    /// A deterministic white-ish noise frame (xorshift), amplitude in ±`amp`.
    fn noise(state: &mut u32, amp: i32) -> Frame8k {
        let mut f = Frame8k::silence();
        for s in f.samples_mut() {
            *state ^= *state << 13;
            *state ^= *state >> 17;
            *state ^= *state << 5;
            *s = ((*state % (2 * amp as u32 + 1)) as i32 - amp) as i16;
        }
        f
    }

    #[test]
    fn digital_silence_is_never_speech() {
        let mut vad = EnergyVad::default();
        for _ in 0..100 {
            assert_eq!(vad.push(&Frame8k::silence()), Activity::Silence);
        }
    }

    #[test]
    fn a_tone_burst_over_noise_is_speech_then_hangover_then_silence() {
        let mut vad = EnergyVad::default();
        let mut rng = 1u32;
        for _ in 0..50 {
            assert_eq!(vad.push(&noise(&mut rng, 100)), Activity::Silence);
        }
        // 300 ms of a modulated 200 Hz tone well above the noise.
        let mut verdicts = Vec::new();
        for i in 0..15 {
            let amp = if i % 4 == 0 { 4000.0 } else { 6000.0 };
            let mut f = tone(200.0, amp, i * 160);
            for (s, n) in f
                .samples_mut()
                .iter_mut()
                .zip(noise(&mut rng, 100).samples())
            {
                *s = s.saturating_add(*n);
            }
            verdicts.push(vad.push(&f));
        }
        assert!(
            verdicts.iter().all(|&v| v == Activity::Speech),
            "{verdicts:?}"
        );
        let after: Vec<_> = (0..12).map(|_| vad.push(&noise(&mut rng, 100))).collect();
        assert!(
            after[..8].iter().all(|&v| v == Activity::Hangover),
            "{after:?}"
        );
        assert!(
            after[8..].iter().all(|&v| v == Activity::Silence),
            "{after:?}"
        );
    }

    #[test]
    fn a_step_up_in_steady_noise_is_learnt_within_a_second() {
        let mut vad = EnergyVad::default();
        let mut rng = 7u32;
        for _ in 0..50 {
            vad.push(&noise(&mut rng, 30));
        }
        // 26 dB louder noise from now on.
        let verdicts: Vec<_> = (0..100).map(|_| vad.push(&noise(&mut rng, 600))).collect();
        let last_speech = verdicts.iter().rposition(|&v| v == Activity::Speech);
        assert!(matches!(last_speech, Some(i) if i < 50), "{verdicts:?}");
        assert!(verdicts[60..].iter().all(|&v| v == Activity::Silence));
    }

    #[test]
    fn reset_forgets_the_noise_floor() {
        let mut vad = EnergyVad::default();
        let mut rng = 3u32;
        for _ in 0..20 {
            vad.push(&noise(&mut rng, 2000));
        }
        let loud_floor = vad.noise_floor_dbov();
        vad.reset();
        vad.push(&noise(&mut rng, 20));
        assert!(vad.noise_floor_dbov() < loud_floor - 30.0);
    }
}
