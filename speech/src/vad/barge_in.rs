//! [`BargeIn`]: the caller talks over the engine's prompt.
//!
//! The caller's line carries, besides the caller, the prompt itself come back: the far end's
//! hybrid or handset returns it attenuated (6–30 dB) and late (up to ~100 ms). Energy alone would
//! take that echo for speech and let the prompt interrupt itself, so the detector models it.
//!
//! For each frame it keeps the level of the frame being played, for the last seven frames
//! (lags 0–6, 0–120 ms), and learns from frames where the caller's line carries only echo:
//!
//! * **delay** — the lag whose played level correlates best (Pearson, on dB, exponentially
//!   weighted over about a second) with the caller's level; trusted from correlation 0.5 on;
//! * **echo gain** — the ratio, in dB, of the caller's level (noise removed) to the played level
//!   at that delay, followed as a high quantile (up quickly, down slowly), starting at -6 dB
//!   (the least loss a hybrid is allowed), so the detector errs towards "echo" until it knows.
//!
//! The **expected echo** of a frame is `gain × (loudest played frame around the delay)` plus the
//! line's noise; around means lags `delay-1 ..= delay+1`, or all seven lags while the delay is
//! unknown, since the echo of one frame straddles two. A frame is **double talk** when the
//! caller's detector says [`Activity::Speech`] and the caller's level exceeds the expected echo
//! by `margin_db`. Learning only uses frames that are not double talk, from the loud parts of the
//! prompt (within 20 dB of its recent peak), and none during double talk or the 300 ms after it,
//! so the quieter frames of real speech do not pass for a louder echo.
//!
//! A **run** of double talk starts with a double-talk frame and lasts while the gaps between
//! double-talk frames stay within `max_gap` frames. Barge-in fires when a run has lasted
//! `min_speech` frames and holds at least `min_share × min_speech` double-talk frames (7 of the
//! first 10 by default): speech has syllables, and some of its quieter frames sink under the
//! echo. For speech that starts cleanly that is
//! `min_speech` frames after its onset. It fires at most once per prompt (a prompt ends when
//! [`BargeIn::push`] is given no playing frame), and never while nothing plays.

use ivr_media::audio::Frame8k;

use super::{dbov, frame_mean_square, Activity, EnergyVad, Vad, VadConfig};

/// Lags of the played signal kept: 0..=6 frames (0–120 ms).
const LAGS: usize = 7;
/// Weight of one frame in the delay statistics (about a second of memory).
const CORR_ALPHA: f32 = 0.05;
/// Updates of the delay statistics before a delay is trusted.
const CORR_MIN_UPDATES: u32 = 25;
/// The correlation from which a delay is trusted.
const CORR_TRUST: f32 = 0.5;
/// Frames after a double-talk frame during which nothing is learnt (300 ms): the quieter frames
/// of real speech must not pass for a louder echo.
const LEARN_HOLD_FRAMES: u32 = 15;

/// Tuning of [`BargeIn`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BargeInConfig {
    /// Frames a run of double talk must last to decide. Default 10 (200 ms), as the
    /// endpointer's minimum speech.
    pub min_speech: u32,
    /// The share of `min_speech` frames of a run that must be double talk, 0..=1. Default 0.7.
    pub min_share: f32,
    /// Frames without double talk tolerated inside a run. Default 4 (80 ms).
    pub max_gap: u32,
    /// How far (dB) the caller must rise above the expected echo. Default 6 dB.
    pub margin_db: f32,
    /// The echo gain assumed before any is learnt, dB. Default -6 dB.
    pub initial_echo_gain_db: f32,
    /// The caller-side voice activity detector's tuning.
    pub vad: VadConfig,
}

impl Default for BargeInConfig {
    fn default() -> Self {
        BargeInConfig {
            min_speech: 10,
            min_share: 0.7,
            max_gap: 4,
            margin_db: 6.0,
            initial_echo_gain_db: -6.0,
            vad: VadConfig::default(),
        }
    }
}

/// Barge-in detection with echo rejection. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct BargeIn {
    config: BargeInConfig,
    vad: EnergyVad,
    /// Mean square of the played frames, index = lag in frames.
    played: [f32; LAGS],
    /// The same in dBov.
    played_db: [f32; LAGS],
    /// The recent peak of the played level, dBov, decaying 2.5 dB/s.
    played_peak_db: f32,
    gain_db: f32,
    /// `gain_db` as a power ratio.
    gain: f32,
    delay: Option<usize>,
    corr_updates: u32,
    mean_caller: f32,
    var_caller: f32,
    mean_played: [f32; LAGS],
    var_played: [f32; LAGS],
    cov: [f32; LAGS],
    /// Frames in the current run of double talk (0: no run).
    span: u32,
    /// Double-talk frames in the current run.
    count: u32,
    /// Frames since the last double-talk frame of the run.
    gap: u32,
    fired: bool,
    /// Frames left before learning resumes after double talk.
    hold: u32,
    last_excess_db: f32,
}

impl Default for BargeIn {
    fn default() -> Self {
        BargeIn::new(BargeInConfig::default())
    }
}

impl BargeIn {
    /// A detector with the given tuning.
    pub fn new(config: BargeInConfig) -> Self {
        BargeIn {
            config,
            vad: EnergyVad::new(config.vad),
            played: [0.0; LAGS],
            played_db: [super::FLOOR_DBOV; LAGS],
            played_peak_db: super::FLOOR_DBOV,
            gain_db: config.initial_echo_gain_db,
            gain: 10f32.powf(config.initial_echo_gain_db / 10.0),
            delay: None,
            corr_updates: 0,
            mean_caller: 0.0,
            var_caller: 0.0,
            mean_played: [0.0; LAGS],
            var_played: [0.0; LAGS],
            cov: [0.0; LAGS],
            span: 0,
            count: 0,
            gap: 0,
            fired: false,
            hold: 0,
            last_excess_db: 0.0,
        }
    }

    /// Feeds the caller's next frame and the frame the engine plays at the same time (`None`
    /// when nothing plays). True on the frame where the caller is found to talk over the prompt.
    pub fn push(&mut self, caller: &Frame8k, playing: Option<&Frame8k>) -> bool {
        let caller_ms = frame_mean_square(caller);
        let caller_db = dbov(caller_ms);
        let activity = self.vad.push(caller);

        let played_ms = playing.map_or(0.0, frame_mean_square);
        self.played.copy_within(0..LAGS - 1, 1);
        self.played_db.copy_within(0..LAGS - 1, 1);
        self.played[0] = played_ms;
        self.played_db[0] = dbov(played_ms);
        self.played_peak_db = self.played_db[0].max(self.played_peak_db - 0.05);

        if playing.is_none() {
            self.span = 0;
            self.count = 0;
            self.gap = 0;
            self.fired = false;
            self.last_excess_db = 0.0;
            return false;
        }

        let (lo, hi) = match self.delay {
            Some(d) => (d.saturating_sub(1), (d + 1).min(LAGS - 1)),
            None => (0, LAGS - 1),
        };
        let envelope_ms = self.played[lo..=hi].iter().fold(0.0f32, |m, &v| m.max(v));
        let envelope_db = dbov(envelope_ms);
        let noise_ms = self.vad.noise_floor_mean_square();
        let expected_ms = self.gain * envelope_ms + noise_ms;
        let excess_db = caller_db - dbov(expected_ms);
        self.last_excess_db = excess_db;
        let double_talk = activity == Activity::Speech && excess_db >= self.config.margin_db;

        if double_talk {
            self.hold = LEARN_HOLD_FRAMES;
        } else if self.hold > 0 {
            self.hold -= 1;
        } else if envelope_db > -55.0 && envelope_db > self.played_peak_db - 20.0 {
            self.learn(caller_ms, caller_db, noise_ms, envelope_db);
        }

        if double_talk {
            self.span += 1;
            self.count += 1;
            self.gap = 0;
        } else if self.span > 0 {
            self.span += 1;
            self.gap += 1;
            if self.gap > self.config.max_gap {
                self.span = 0;
                self.count = 0;
                self.gap = 0;
            }
        }
        if !self.fired
            && self.span >= self.config.min_speech
            && self.count as f32 >= self.config.min_share * self.config.min_speech as f32
        {
            self.fired = true;
            return true;
        }
        false
    }

    /// Learns the echo gain and delay from a frame judged to carry no caller speech.
    fn learn(&mut self, caller_ms: f32, caller_db: f32, noise_ms: f32, envelope_db: f32) {
        let noise_db = dbov(noise_ms);
        let measurable = caller_db > noise_db + 6.0;
        let ratio_db = if measurable {
            dbov(caller_ms - noise_ms) - envelope_db
        } else {
            // The echo, if any, is buried in the noise: only an upper bound is known.
            noise_db - envelope_db
        };
        if ratio_db > self.gain_db {
            if measurable {
                self.gain_db += 0.3 * (ratio_db - self.gain_db);
            }
        } else {
            self.gain_db += 0.02 * (ratio_db - self.gain_db);
        }
        self.gain_db = self.gain_db.clamp(-70.0, 0.0);
        self.gain = 10f32.powf(self.gain_db / 10.0);

        if !measurable {
            return;
        }
        let a = CORR_ALPHA;
        let x = caller_db;
        self.mean_caller += a * (x - self.mean_caller);
        let dx = x - self.mean_caller;
        self.var_caller += a * (dx * dx - self.var_caller);
        let mut best = (0usize, f32::MIN);
        for k in 0..LAGS {
            let y = self.played_db[k];
            self.mean_played[k] += a * (y - self.mean_played[k]);
            let dy = y - self.mean_played[k];
            self.var_played[k] += a * (dy * dy - self.var_played[k]);
            self.cov[k] += a * (dx * dy - self.cov[k]);
            let denom = (self.var_caller * self.var_played[k]).sqrt();
            let rho = if denom > 1e-6 {
                self.cov[k] / denom
            } else {
                0.0
            };
            if rho > best.1 {
                best = (k, rho);
            }
        }
        self.corr_updates = self.corr_updates.saturating_add(1);
        if self.corr_updates >= CORR_MIN_UPDATES {
            self.delay = (best.1 >= CORR_TRUST).then_some(best.0);
        }
    }

    /// The learnt echo delay, in frames (20 ms each), once trusted.
    pub fn echo_delay_frames(&self) -> Option<usize> {
        self.delay
    }

    /// The learnt echo gain, dB (negative: the echo is quieter than the prompt).
    pub fn echo_gain_db(&self) -> f32 {
        self.gain_db
    }

    /// How far the last caller frame rose above the expected echo and noise, dB (0 when nothing
    /// was playing).
    pub fn excess_db(&self) -> f32 {
        self.last_excess_db
    }

    /// The caller-side detector.
    pub fn vad(&self) -> &EnergyVad {
        &self.vad
    }

    /// Forgets everything, the echo path included, as for a new call.
    pub fn reset(&mut self) {
        *self = BargeIn::new(self.config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u32);

    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            self.0
        }
        fn sample(&mut self, amp: f32) -> f32 {
            (self.next() % 20001) as f32 / 10000.0 * amp - amp
        }
    }

    /// A prompt-like signal: noise whose loudness follows a 4 Hz syllable rhythm with pauses.
    fn prompt(samples: usize, rng: &mut Rng) -> Vec<f32> {
        (0..samples)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let env = (2.0 * std::f32::consts::PI * 4.0 * t).sin().max(0.0);
                let phrase = if (t % 1.5) < 1.2 { 1.0 } else { 0.0 };
                rng.sample(6000.0) * env * phrase
            })
            .collect()
    }

    fn frames(x: &[f32]) -> Vec<Frame8k> {
        x.chunks(160)
            .map(|c| {
                let v: Vec<i16> = c
                    .iter()
                    .map(|&s| s.clamp(-32768.0, 32767.0) as i16)
                    .collect();
                Frame8k::from_slice_padded(&v)
            })
            .collect()
    }

    /// The prompt delayed by `delay` samples and scaled by `gain_db`, plus faint noise.
    fn echo(p: &[f32], delay: usize, gain_db: f32, rng: &mut Rng) -> Vec<f32> {
        let g = 10f32.powf(gain_db / 20.0);
        (0..p.len())
            .map(|i| i.checked_sub(delay).map_or(0.0, |j| p[j] * g) + rng.sample(20.0))
            .collect()
    }

    #[test]
    fn an_echo_of_the_prompt_never_fires_and_its_delay_is_learnt() {
        for (delay_ms, gain_db) in [(40, -10.0), (60, -15.0), (80, -20.0), (100, -12.0)] {
            let mut rng = Rng(99);
            let p = prompt(8000 * 6, &mut rng);
            let c = echo(&p, delay_ms * 8, gain_db, &mut rng);
            let mut b = BargeIn::default();
            for (cf, pf) in frames(&c).iter().zip(frames(&p).iter()) {
                assert!(
                    !b.push(cf, Some(pf)),
                    "fired on echo {delay_ms} ms {gain_db} dB"
                );
            }
            let d = b.echo_delay_frames().expect("delay learnt");
            assert!(
                (d as i32 * 20 - delay_ms as i32).abs() <= 20,
                "delay {d} frames for {delay_ms} ms"
            );
            assert!(
                (b.echo_gain_db() - gain_db).abs() < 5.0,
                "gain {} for {gain_db}",
                b.echo_gain_db()
            );
        }
    }

    #[test]
    fn speech_over_the_echo_fires_once_min_speech_frames_after_onset() {
        let mut rng = Rng(5);
        let p = prompt(8000 * 5, &mut rng);
        let mut c = echo(&p, 480, -12.0, &mut rng);
        // A caller "talks" from 3 s on: a 200 Hz buzz with a syllable rhythm, as loud as the
        // prompt.
        let onset = 8000 * 3;
        for (i, s) in c.iter_mut().enumerate().skip(onset) {
            let t = i as f32 / 8000.0;
            let syllables = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 5.0 * t).cos();
            *s += 5000.0 * syllables * (2.0 * std::f32::consts::PI * 200.0 * t).sin();
        }
        let mut b = BargeIn::default();
        let fired: Vec<usize> = frames(&c)
            .iter()
            .zip(frames(&p).iter())
            .enumerate()
            .filter_map(|(i, (cf, pf))| b.push(cf, Some(pf)).then_some(i))
            .collect();
        let onset_frame = onset / 160;
        // The tenth frame of speech is onset + 9; the syllable dips may cost up to 40 ms more.
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!(
            (onset_frame + 9..=onset_frame + 11).contains(&fired[0]),
            "{fired:?}"
        );
    }

    #[test]
    fn nothing_fires_when_nothing_plays() {
        let mut b = BargeIn::default();
        let mut rng = Rng(8);
        let loud = frames(&prompt(8000 * 2, &mut rng));
        assert!(loud.iter().all(|f| !b.push(f, None)));
    }
}
