//! Answering-machine detection (AMD) for outbound calls: is the callee a person or a machine?
//!
//! When an outbound call is answered, the engine feeds the callee's first 20 ms frames to an
//! [`Amd`] and gets a [`Verdict`] — [`VerdictKind::Human`], [`VerdictKind::Machine`] or
//! [`VerdictKind::Unknown`] — as soon as the audio settles it, typically 1–2.5 s after the
//! answer. After a machine verdict, the [`BeepDetector`] (also inside the [`Amd`]) tells when the
//! machine's "leave a message after the tone" beep ends, so a message starts right after it.
//!
//! Like the rest of [`crate::vad`], this is sans-IO: no clock (the frame count is the clock,
//! 20 ms per frame), no allocation after construction, about a microsecond per frame
//! (`cargo run -p ivr-speech --release --example amd_accuracy` measures it with the accuracy).
//!
//! # How it decides
//!
//! People answer with a short greeting ("Hello?", "Yes?", "喂?") and then wait for the caller;
//! machines play a long greeting without waiting. Each frame goes through the energy detector
//! ([`EnergyVad`]) and a tone detector; sound is cut into *words* at pauses of at least
//! `between_words_silence`. The rules, checked every frame, first match wins:
//!
//! | rule | verdict | reason |
//! |---|---|---|
//! | a steady tone (one frequency, 300–2500 Hz, ≥ `min_beep`) | Machine | [`Reason::Beep`] |
//! | voiced time of the greeting exceeds `greeting` | Machine | [`Reason::LongGreeting`] |
//! | more than `maximum_words` words | Machine | [`Reason::TooManyWords`] |
//! | words, then `after_greeting_silence` without any | Human | [`Reason::ShortGreetingThenSilence`] |
//! | no word at all within `initial_silence` | `initial_silence_verdict` | [`Reason::InitialSilence`] |
//! | `total_analysis` elapsed | Unknown | [`Reason::Timeout`] |
//!
//! Unlike Asterisk's `app_amd`, a machine is reported the moment its greeting passes the limit
//! (not at the end of the analysis window), and a *word* must be voiced: a run of sound counts
//! only when it lasts `min_word_length` and at least [`MIN_VOICED_FRAMES`] of its frames are
//! periodic (pitch between 80 and 400 Hz). A cough, a click, a breath or a burst of line noise
//! is not periodic, so it neither starts the greeting nor counts as a word; it only delays the
//! human verdict by its own length.
//!
//! **Initial silence gives `Unknown` by default**, not `Machine` as in `app_amd`. Machines start
//! their greeting within a second or two; a callee who stays silent for 2.5 s is more often a
//! person who waits for the caller to speak, or a dead line, than a machine. Treating a live
//! person as a machine (hanging up, or leaving a recorded message) is the costly error — in many
//! jurisdictions such a call counts as abandoned — so the silent case is left to the dial plan
//! (`initial_silence_verdict` makes it `Machine` where that suits).
//!
//! # Tuning
//!
//! * **People taken for machines** (callers who answer with a sentence: "Good morning, Smith &
//!   Co, Anna speaking"): raise `greeting` (2–2.5 s of voice) and `maximum_words` (5–6).
//!   Machines are then recognised later, by the same amount.
//! * **Machines taken for people**: a greeting with a pause longer than
//!   `after_greeting_silence` looks like a person waiting. Raise it to 1 s if the machines
//!   called pause between phrases; people are then recognised 200 ms later.
//! * **Faster human verdicts**: lower `after_greeting_silence`, at the risk of taking a
//!   machine's pause between two phrases for a person waiting; check with the evaluation
//!   example before going under 600 ms.
//! * **Silent answers**: `initial_silence_verdict` says what to do with them (see above);
//!   `initial_silence` how long to wait.
//! * **Noise**: the energy detector follows the noise floor by itself; noise bursts are not
//!   words because they are not periodic. Accuracy holds at 10 dB SNR and falls apart at 5 dB
//!   (`docs/BENCHMARKS.md`).
//!
//! # After the verdict
//!
//! For a machine, keep pushing frames: the [`Amd`] keeps feeding its [`BeepDetector`]
//! ([`Amd::beep`], or [`Amd::into_beep_detector`] to keep only it), which reports
//! [`ToneEvent::End`] when the beep stops — the moment to play a message "after the tone".
//! Machines without a beep are left to the dial plan (a timeout, or an end of speech from
//! [`crate::vad::Endpointer`]).
//!
//! ```
//! use ivr_media::audio::Frame8k;
//! use ivr_speech::amd::{Amd, AmdConfig, Reason, VerdictKind};
//!
//! let mut amd = Amd::new(AmdConfig::default());
//! let mut verdict = None;
//! for _ in 0..500 {
//!     if let Some(v) = amd.push(&Frame8k::silence()) {
//!         verdict = Some(v);
//!         break;
//!     }
//! }
//! let v = verdict.unwrap();
//! assert_eq!((v.kind, v.reason), (VerdictKind::Unknown, Reason::InitialSilence));
//! assert_eq!(v.after.as_millis(), 2500);
//! ```

use std::time::Duration;

use ivr_media::audio::{Frame8k, FRAME_DURATION};
use serde::Deserialize;

use crate::vad::{Activity, EnergyVad, Vad};

/// A run of sound is a word only when at least this many of its frames are voiced.
pub const MIN_VOICED_FRAMES: u32 = 2;

/// Tuning of the [`Amd`]. Every duration is rounded up to whole 20 ms frames.
///
/// In configuration files durations are written `2.5s`, `800ms` or a bare number of seconds;
/// every field may be left out for its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmdConfig {
    /// No word at all in this long after the answer ends the analysis with
    /// `initial_silence_verdict`. Default 2.5 s.
    #[serde(with = "duration")]
    pub initial_silence: Duration,
    /// The longest human greeting, counting voiced time only (pauses excluded): a greeting
    /// longer than this is a machine's. Default 1.5 s.
    #[serde(with = "duration")]
    pub greeting: Duration,
    /// Silence after the greeting that makes it a human's. Default 800 ms.
    #[serde(with = "duration")]
    pub after_greeting_silence: Duration,
    /// The whole analysis, from the answer; then the verdict is Unknown. Default 5 s.
    #[serde(with = "duration")]
    pub total_analysis: Duration,
    /// The shortest sound that counts as a word. Default 100 ms.
    #[serde(with = "duration")]
    pub min_word_length: Duration,
    /// The pause that separates two words. Default 100 ms.
    #[serde(with = "duration")]
    pub between_words_silence: Duration,
    /// The most words a human greeting has; one more is a machine. Default 3.
    pub maximum_words: u32,
    /// Whether a steady tone (a machine's beep) is a machine verdict. Default true.
    pub beep_detection: bool,
    /// The shortest steady tone that counts as a beep. Default 150 ms.
    #[serde(with = "duration")]
    pub min_beep: Duration,
    /// The verdict when nobody speaks within `initial_silence`. Default
    /// [`VerdictKind::Unknown`]: see the [module documentation](self) for why.
    pub initial_silence_verdict: VerdictKind,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            initial_silence: Duration::from_millis(2500),
            greeting: Duration::from_millis(1500),
            after_greeting_silence: Duration::from_millis(800),
            total_analysis: Duration::from_secs(5),
            min_word_length: Duration::from_millis(100),
            between_words_silence: Duration::from_millis(100),
            maximum_words: 3,
            beep_detection: true,
            min_beep: Duration::from_millis(150),
            initial_silence_verdict: VerdictKind::Unknown,
        }
    }
}

/// What is wrong with an [`AmdConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmdConfigError {
    /// A duration that must be positive is zero.
    #[error("amd.{field} is zero: give it a positive duration such as 500ms")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// The analysis window ends before a rule can decide.
    #[error(
        "amd.total_analysis ({total:?}) is shorter than amd.{field} ({value:?}): \
         raise total_analysis or lower {field}"
    )]
    WindowTooShort {
        /// The field that does not fit in the window.
        field: &'static str,
        /// Its value.
        value: Duration,
        /// `total_analysis`.
        total: Duration,
    },
    /// `maximum_words` is zero, so every greeting would be a machine's.
    #[error("amd.maximum_words is 0: a human greeting has at least one word (default 3)")]
    NoWords,
}

impl AmdConfig {
    /// Checks that the tuning makes sense; [`Amd::new`] accepts any tuning, this is for
    /// configuration loading.
    pub fn validate(&self) -> Result<(), AmdConfigError> {
        for (field, value) in [
            ("initial_silence", self.initial_silence),
            ("greeting", self.greeting),
            ("after_greeting_silence", self.after_greeting_silence),
            ("total_analysis", self.total_analysis),
            ("min_word_length", self.min_word_length),
            ("between_words_silence", self.between_words_silence),
            ("min_beep", self.min_beep),
        ] {
            if value.is_zero() {
                return Err(AmdConfigError::Zero { field });
            }
        }
        for (field, value) in [
            ("initial_silence", self.initial_silence),
            ("greeting", self.greeting),
            ("after_greeting_silence", self.after_greeting_silence),
        ] {
            if value > self.total_analysis {
                return Err(AmdConfigError::WindowTooShort {
                    field,
                    value,
                    total: self.total_analysis,
                });
            }
        }
        if self.maximum_words == 0 {
            return Err(AmdConfigError::NoWords);
        }
        Ok(())
    }
}

/// Human, machine or not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// A person answered.
    Human,
    /// An answering machine or voicemail answered.
    Machine,
    /// The audio did not settle it.
    Unknown,
}

/// The rule that gave a [`Verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A short greeting followed by `after_greeting_silence`: a person waiting for an answer.
    ShortGreetingThenSilence,
    /// The greeting's voiced time passed `greeting`.
    LongGreeting,
    /// More than `maximum_words` words.
    TooManyWords,
    /// No word within `initial_silence`.
    InitialSilence,
    /// A steady tone: a machine's beep.
    Beep,
    /// `total_analysis` passed without another rule deciding.
    Timeout,
}

/// The outcome of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// Human, machine or unknown.
    pub kind: VerdictKind,
    /// The rule that decided.
    pub reason: Reason,
    /// Audio time from the answer (the first frame pushed) to the end of the deciding frame.
    pub after: Duration,
}

/// Frames a duration lasts, rounded up, at least one.
fn frames(d: Duration) -> u32 {
    let ms = d.as_millis();
    let per = FRAME_DURATION.as_millis();
    u32::try_from(ms.div_ceil(per)).unwrap_or(u32::MAX).max(1)
}

/// Audio time of `n` frames.
fn frames_to_duration(n: u64) -> Duration {
    Duration::from_millis(n.saturating_mul(FRAME_DURATION.as_millis() as u64))
}

/// The thresholds of an [`AmdConfig`], in frames.
#[derive(Debug, Clone, Copy)]
struct Limits {
    initial_silence: u32,
    greeting: u32,
    after_greeting_silence: u32,
    total_analysis: u32,
    min_word: u32,
    between_words: u32,
}

impl Limits {
    fn new(c: &AmdConfig) -> Self {
        Limits {
            initial_silence: frames(c.initial_silence),
            greeting: frames(c.greeting),
            after_greeting_silence: frames(c.after_greeting_silence),
            total_analysis: frames(c.total_analysis),
            min_word: frames(c.min_word_length),
            between_words: frames(c.between_words_silence),
        }
    }
}

/// A run of sound not yet separated from the next by `between_words_silence`.
#[derive(Debug, Clone, Copy, Default)]
struct Segment {
    /// Sound frames in it.
    sound: u32,
    /// Voiced frames among them.
    voiced: u32,
    /// Non-sound frames since its last sound frame.
    gap: u32,
    /// Whether it has been counted as a word.
    word: bool,
}

/// The answering-machine detector for one call. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Amd {
    config: AmdConfig,
    limits: Limits,
    vad: EnergyVad,
    voicing: Voicing,
    beep: BeepDetector,
    /// Frames pushed so far.
    frames: u64,
    /// The current run of sound, if any.
    segment: Option<Segment>,
    /// Words counted.
    words: u32,
    /// Voiced time of the greeting so far: sound frames of confirmed words.
    voice: u32,
    /// Frames since the last sound frame of a word (sound of unconfirmed runs does not count).
    silence: u32,
    verdict: Option<Verdict>,
}

impl Amd {
    /// A detector for a call just answered.
    pub fn new(config: AmdConfig) -> Self {
        // The energy detector seeds its noise floor from the first frame, so line noise present
        // from the answer is learnt at once. A greeting that starts on the very first frame is
        // found anyway: the floor falls to the first pause between syllables within a frame or
        // two.
        let vad = EnergyVad::default();
        Amd {
            limits: Limits::new(&config),
            vad,
            voicing: Voicing::default(),
            beep: BeepDetector::new(config.min_beep),
            frames: 0,
            segment: None,
            words: 0,
            voice: 0,
            silence: 0,
            verdict: None,
            config,
        }
    }

    /// The tuning in use.
    pub fn config(&self) -> &AmdConfig {
        &self.config
    }

    /// Feeds the next 20 ms frame of the callee's audio; returns the verdict on the frame that
    /// decides it, and `None` before and after.
    ///
    /// Frames pushed after the verdict still go to the [`BeepDetector`] (see [`Amd::beep`]).
    pub fn push(&mut self, frame: &Frame8k) -> Option<Verdict> {
        self.frames += 1;
        let tone = self.beep.push(frame);
        if self.verdict.is_some() {
            return None;
        }
        let activity = self.vad.push(frame);
        let tone_sound = self.beep.in_tone();
        let sound = activity == Activity::Speech || tone_sound;
        let voiced = sound && (tone_sound || self.voicing.voiced(frame));
        self.voicing.remember(frame);

        let decision = self.step(sound, voiced, tone);
        if let Some((kind, reason)) = decision {
            let verdict = Verdict {
                kind,
                reason,
                after: frames_to_duration(self.frames),
            };
            self.verdict = Some(verdict);
            return Some(verdict);
        }
        None
    }

    /// Applies the rules to one frame's measurements.
    fn step(
        &mut self,
        sound: bool,
        voiced: bool,
        tone: Option<ToneEvent>,
    ) -> Option<(VerdictKind, Reason)> {
        let l = self.limits;
        if self.config.beep_detection && matches!(tone, Some(ToneEvent::Start { .. })) {
            return Some((VerdictKind::Machine, Reason::Beep));
        }
        if sound {
            let seg = self.segment.get_or_insert_with(Segment::default);
            seg.sound += 1;
            seg.voiced += u32::from(voiced);
            seg.gap = 0;
            if !seg.word && seg.sound >= l.min_word && seg.voiced >= MIN_VOICED_FRAMES {
                seg.word = true;
                self.words += 1;
                // The word's earlier frames count too.
                self.voice += seg.sound;
                self.silence = 0;
            } else if seg.word {
                self.voice += 1;
                self.silence = 0;
            }
        } else {
            self.silence = self.silence.saturating_add(1);
            if let Some(seg) = &mut self.segment {
                seg.gap += 1;
                if seg.gap >= l.between_words {
                    self.segment = None;
                }
            }
        }

        if self.voice > l.greeting {
            return Some((VerdictKind::Machine, Reason::LongGreeting));
        }
        if self.words > self.config.maximum_words {
            return Some((VerdictKind::Machine, Reason::TooManyWords));
        }
        // A run of sound still growing into a word holds the human verdict back.
        let pending = self.segment.is_some_and(|s| !s.word && s.gap == 0);
        if self.words > 0 && self.silence >= l.after_greeting_silence && !pending {
            return Some((VerdictKind::Human, Reason::ShortGreetingThenSilence));
        }
        if self.words == 0 && self.frames >= u64::from(l.initial_silence) && !pending {
            return Some((self.config.initial_silence_verdict, Reason::InitialSilence));
        }
        if self.frames >= u64::from(l.total_analysis) {
            return Some((VerdictKind::Unknown, Reason::Timeout));
        }
        None
    }

    /// The verdict, once given.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// Words counted so far.
    pub fn words(&self) -> u32 {
        self.words
    }

    /// Voiced time of the greeting so far (the sound frames of its words).
    pub fn greeting_voiced(&self) -> Duration {
        frames_to_duration(u64::from(self.voice))
    }

    /// Frames pushed so far.
    pub fn frames_pushed(&self) -> u64 {
        self.frames
    }

    /// The beep detector, fed with every frame pushed, before and after the verdict: after a
    /// machine verdict, wait for [`BeepDetector::beep_ended`] to start the message.
    pub fn beep(&self) -> &BeepDetector {
        &self.beep
    }

    /// Whether a beep has been heard (it may still be sounding).
    pub fn beep_detected(&self) -> bool {
        self.beep.beeps() > 0
    }

    /// The beep detector alone, to keep listening for the tone without the rest.
    pub fn into_beep_detector(self) -> BeepDetector {
        self.beep
    }
}

/// Frames of pitch period the voicing test looks back: the previous frame, decimated.
const VOICING_HISTORY: usize = 80;
const _: () = assert!(LAG_MAX < VOICING_HISTORY);
/// Pitch lags searched, in samples at 4 kHz: 10 (400 Hz) to 50 (80 Hz), plus one on each side
/// to tell a peak.
const LAG_MIN: usize = 10;
const LAG_MAX: usize = 50;
/// Normalised autocorrelation at the best lag above which a frame is voiced.
const VOICING_THRESHOLD: f32 = 0.6;

/// A periodicity test: normalised autocorrelation over the pitch lags, on the signal decimated
/// to 4 kHz and band-passed (`d[n] = x[2n] + x[2n+1]`, then `d[n] - d[n-2]`: zeros at 0 and
/// 2 kHz, peak at 1 kHz), with the previous frame as history. The band-pass whitens low-pass
/// noise (coughs, breath, rumble: pink or brown, strongly correlated over short lags) and drops
/// the hiss above 2 kHz, while the harmonics of a voice, in the formants between 300 Hz and
/// 2 kHz, keep their period.
#[derive(Debug, Clone)]
struct Voicing {
    /// The previous frame, decimated and differenced (80 samples at 4 kHz).
    history: [f32; VOICING_HISTORY],
    /// The last two decimated samples before the band-pass, for the next frame's first ones.
    last: [f32; 2],
}

impl Default for Voicing {
    fn default() -> Self {
        Voicing {
            history: [0.0; VOICING_HISTORY],
            last: [0.0; 2],
        }
    }
}

impl Voicing {
    /// `frame` decimated and band-passed into `out`; returns its last two decimated samples.
    fn decimate(frame: &Frame8k, prev: [f32; 2], out: &mut [f32; VOICING_HISTORY]) -> [f32; 2] {
        let [mut p2, mut p1] = prev;
        for (o, pair) in out.iter_mut().zip(frame.samples().chunks_exact(2)) {
            let d = f32::from(pair[0]) + f32::from(pair[1]);
            *o = d - p2;
            p2 = p1;
            p1 = d;
        }
        [p2, p1]
    }

    /// Whether `frame` is periodic with a pitch between 80 and 400 Hz.
    fn voiced(&self, frame: &Frame8k) -> bool {
        let mut buf = [0f32; 2 * VOICING_HISTORY];
        let (old, cur) = buf.split_at_mut(VOICING_HISTORY);
        old.copy_from_slice(&self.history);
        let mut decimated = [0f32; VOICING_HISTORY];
        Self::decimate(frame, self.last, &mut decimated);
        cur.copy_from_slice(&decimated);
        let x = &buf[VOICING_HISTORY..];
        let energy: f32 = x.iter().map(|v| v * v).sum();
        if energy <= 0.0 {
            return false;
        }
        // The best local peak of the normalised autocorrelation over the pitch lags. A peak
        // (higher than both neighbours) is what periodicity looks like; low-pass noise (a
        // cough, breath, rumble) has a correlation that only decays with the lag, its maximum
        // at the shortest lag, and no peak.
        let mut best = 0f32;
        let (mut before, mut here) = (f32::MIN, f32::MIN);
        for lag in LAG_MIN - 1..=LAG_MAX + 1 {
            let y = &buf[VOICING_HISTORY - lag..2 * VOICING_HISTORY - lag];
            let (mut xy, mut yy) = (0f32, 0f32);
            for (a, b) in x.iter().zip(y) {
                xy += a * b;
                yy += b * b;
            }
            let r = if yy > 0.0 {
                xy / (energy * yy).sqrt()
            } else {
                0.0
            };
            if lag > LAG_MIN && here > before && here >= r {
                best = best.max(here);
            }
            before = here;
            here = r;
        }
        best >= VOICING_THRESHOLD
    }

    fn remember(&mut self, frame: &Frame8k) {
        self.last = Self::decimate(frame, self.last, &mut self.history);
    }
}

/// What the [`BeepDetector`] reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToneEvent {
    /// A steady tone has lasted `min_beep`.
    Start {
        /// Its frequency, Hz.
        frequency_hz: f32,
        /// Audio time from the first frame pushed to the tone's first frame.
        at: Duration,
    },
    /// The tone stopped: the moment to start speaking or recording after "the tone".
    End {
        /// Its frequency, Hz.
        frequency_hz: f32,
        /// Audio time from the first frame pushed to the end of the tone's last frame.
        at: Duration,
        /// How long it lasted.
        duration: Duration,
    },
}

/// The lowest level of a tone frame, dBov.
const TONE_MIN_DBOV: f32 = -45.0;
/// The frequency range of beeps, Hz.
const TONE_MIN_HZ: f32 = 300.0;
const TONE_MAX_HZ: f32 = 2500.0;
/// The smallest share of the frame's power at the tone's frequency (Goertzel), for a tone frame.
const TONE_MIN_SHARE: f32 = 0.6;
/// The largest difference between a frame's frequency and the tone's mean so far, relative
/// (the per-frame estimate wanders by about 1 % over a 20 ms window).
const TONE_MAX_DRIFT: f32 = 0.04;
/// How far either side of the estimated frequency the Goertzel filters refine it, Hz.
const REFINE_HZ: f32 = 20.0;
/// The largest level change within one tone, dB.
const TONE_MAX_LEVEL_DRIFT_DB: f32 = 3.0;

/// A steady single-frequency tone (an answering machine's beep), any frequency from 300 to
/// 2500 Hz, at least `min_beep` long.
///
/// Per frame: the autocorrelations at lags 1 and 2 give the frequency of the strongest sinusoid
/// (unbiased by white noise), three Goertzel filters around it refine it and measure the share
/// of the frame's power it holds (at least 60 %). Consecutive tone frames within 4 % of their mean
/// frequency and 3 dB of the first's level make a tone; [`ToneEvent::Start`] is reported once it has
/// lasted `min_beep`, [`ToneEvent::End`] on the first frame without it. Estimating the
/// frequency first covers every beep — 425, 440, 480, 850, 1000, 1400 Hz … — with one filter
/// instead of a bank. Under a microsecond per frame, no allocation.
#[derive(Debug, Clone)]
pub struct BeepDetector {
    min_frames: u32,
    frames: u64,
    /// The current run of tone frames: first frame number, frequency, level, length.
    run: Option<ToneRun>,
    beeps: u32,
}

#[derive(Debug, Clone, Copy)]
struct ToneRun {
    first: u64,
    frequency_hz: f32,
    level_dbov: f32,
    frames: u32,
}

impl BeepDetector {
    /// A detector for tones of at least `min_beep` (150 ms is usual).
    pub fn new(min_beep: Duration) -> Self {
        BeepDetector {
            min_frames: frames(min_beep),
            frames: 0,
            run: None,
            beeps: 0,
        }
    }

    /// Feeds the next frame; reports a tone's start (once it lasted `min_beep`) and its end.
    pub fn push(&mut self, frame: &Frame8k) -> Option<ToneEvent> {
        let index = self.frames;
        self.frames += 1;
        let tone = tone_frame(frame);
        match (self.run, tone) {
            (Some(mut run), Some((hz, level)))
                if (hz - run.frequency_hz).abs() <= TONE_MAX_DRIFT * run.frequency_hz
                    && (level - run.level_dbov).abs() <= TONE_MAX_LEVEL_DRIFT_DB =>
            {
                run.frames += 1;
                run.frequency_hz += (hz - run.frequency_hz) / run.frames as f32;
                self.run = Some(run);
                if run.frames == self.min_frames {
                    self.beeps += 1;
                    return Some(ToneEvent::Start {
                        frequency_hz: run.frequency_hz,
                        at: frames_to_duration(run.first),
                    });
                }
                None
            }
            (run, tone) => {
                self.run = tone.map(|(hz, level)| ToneRun {
                    first: index,
                    frequency_hz: hz,
                    level_dbov: level,
                    frames: 1,
                });
                if self.min_frames == 1 && tone.is_some() {
                    self.beeps += 1;
                }
                match run {
                    Some(r) if r.frames >= self.min_frames => Some(ToneEvent::End {
                        frequency_hz: r.frequency_hz,
                        at: frames_to_duration(index),
                        duration: frames_to_duration(u64::from(r.frames)),
                    }),
                    _ => None,
                }
            }
        }
    }

    /// Whether a tone of `min_beep` or more is sounding now.
    pub fn in_tone(&self) -> bool {
        self.run.is_some_and(|r| r.frames >= self.min_frames)
    }

    /// Tones of `min_beep` or more heard so far.
    pub fn beeps(&self) -> u32 {
        self.beeps
    }

    /// Whether a tone was heard and has ended: the moment to speak "after the tone".
    pub fn beep_ended(&self) -> bool {
        self.beeps > 0 && !self.in_tone()
    }
}

/// The frequency (Hz) and level (dBov) of `frame` if it is a pure tone.
fn tone_frame(frame: &Frame8k) -> Option<(f32, f32)> {
    let x = frame.samples();
    let n = x.len() as f32;
    // Autocorrelations at lags 0, 1, 2, per sample.
    let (mut r0, mut r1, mut r2) = (0f32, 0f32, 0f32);
    for w in x.windows(3) {
        let (a, b, c) = (f32::from(w[0]), f32::from(w[1]), f32::from(w[2]));
        r0 += c * c;
        r1 += c * b;
        r2 += c * a;
    }
    let m = (x.len() - 2) as f32;
    let (r0, r1, r2) = (r0 / m, r1 / m, r2 / m);
    let level = crate::vad::dbov(r0);
    if level < TONE_MIN_DBOV {
        return None;
    }
    // A sinusoid of power P and angular frequency ω has r1 = P·cos ω and r2 = P·cos 2ω =
    // 2·r1²/P − P, whatever white noise rides on it (noise only adds to r0). Solving for P gives
    // an unbiased cos ω, where a fit through r0 would drift with the noise.
    let p = (-r2 + (r2 * r2 + 8.0 * r1 * r1).sqrt()) / 2.0;
    if p <= 0.0 {
        return None;
    }
    let omega = (r1 / p).clamp(-1.0, 1.0).acos();
    let hz = omega * 8000.0 / std::f32::consts::TAU;
    if !(TONE_MIN_HZ..=TONE_MAX_HZ).contains(&hz) {
        return None;
    }
    // Goertzel filters at that frequency and REFINE_HZ either side: the estimate wanders by a
    // few per cent in noise, so a parabola through the three powers places the peak, and its
    // height is the tone's power, taken as a share of the frame's. Speech fits the two-lag model
    // too (as a low-pass signal), but spreads its power over many frequencies.
    let mut coeff = [0f32; 3];
    for (c, k) in coeff.iter_mut().zip([-1.0f32, 0.0, 1.0]) {
        *c = 2.0 * (std::f32::consts::TAU * (hz + k * REFINE_HZ) / 8000.0).cos();
    }
    let (mut s1, mut s2) = ([0f32; 3], [0f32; 3]);
    let mut energy = 0f32;
    for &v in x {
        let v = f32::from(v);
        energy += v * v;
        for j in 0..3 {
            let s0 = v + coeff[j] * s1[j] - s2[j];
            s2[j] = s1[j];
            s1[j] = s0;
        }
    }
    let mut power = [0f32; 3];
    for j in 0..3 {
        power[j] = s1[j] * s1[j] + s2[j] * s2[j] - coeff[j] * s1[j] * s2[j];
    }
    let [left, mid, right] = power;
    let curvature = left - 2.0 * mid + right;
    let (offset, peak) = if curvature < 0.0 {
        let d = (0.5 * (left - right) / curvature).clamp(-1.0, 1.0);
        (d, mid - 0.25 * (left - right) * d)
    } else {
        (0.0, mid)
    };
    // A sinusoid of energy E over N samples gives power N·E/2.
    let share = peak * 2.0 / (n * energy.max(1.0));
    (share >= TONE_MIN_SHARE).then_some((hz + offset * REFINE_HZ, level))
}

/// Durations written `2.5s`, `800ms` or a bare number of seconds.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        let secs = match Raw::deserialize(d)? {
            Raw::Secs(s) => s,
            Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom)?,
        };
        if !secs.is_finite() || !(0.0..=3600.0).contains(&secs) {
            return Err(serde::de::Error::custom(format!(
                "{secs} s is not a valid duration (0 to 1 h)"
            )));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// Seconds in `500ms`, `2.5s` or `3`.
    fn parse(text: &str) -> Result<f64, String> {
        let t = text.trim();
        let (num, scale) = if let Some(ms) = t.strip_suffix("ms") {
            (ms, 0.001)
        } else if let Some(s) = t.strip_suffix('s') {
            (s, 1.0)
        } else {
            (t, 1.0)
        };
        num.trim()
            .parse::<f64>()
            .map(|v| v * scale)
            .map_err(|_| format!("`{text}` is not a duration: write e.g. 800ms or 2.5s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::f32::consts::TAU;

    const MS: u64 = 20;

    /// A sine at `hz`, amplitude `amp`, frame `index` of a continuous stream.
    fn sine(hz: f32, amp: f32, index: usize) -> Frame8k {
        let mut f = Frame8k::silence();
        for (i, s) in f.samples_mut().iter_mut().enumerate() {
            let t = (index * 160 + i) as f32 / 8000.0;
            *s = (amp * (TAU * hz * t).sin()) as i16;
        }
        f
    }

    /// A speech-like frame: harmonics of a 140 Hz pitch with a falling spectrum, in syllables
    /// (a 4 Hz envelope dipping 20 dB between them, as speech does).
    fn vowel(index: usize) -> Frame8k {
        let mut f = Frame8k::silence();
        for (i, s) in f.samples_mut().iter_mut().enumerate() {
            let t = (index * 160 + i) as f32 / 8000.0;
            let env = 0.1 + 0.9 * (TAU * 2.0 * t).sin().abs();
            let mut v = 0.0;
            for h in 1..=12 {
                let hz = 140.0 * h as f32;
                v += (TAU * hz * t).sin() * 3000.0 / h as f32;
            }
            *s = (v * env) as i16;
        }
        f
    }

    /// Deterministic white noise, amplitude ±`amp`.
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

    /// Runs `frames` through a detector; the verdict and the frame number that gave it.
    fn run(config: AmdConfig, frames: impl IntoIterator<Item = Frame8k>) -> Option<Verdict> {
        let mut amd = Amd::new(config);
        let mut verdict = None;
        for f in frames {
            if let Some(v) = amd.push(&f) {
                assert!(verdict.is_none(), "a second verdict: {v:?}");
                verdict = Some(v);
            }
        }
        verdict
    }

    fn silence(n: usize) -> impl Iterator<Item = Frame8k> {
        std::iter::repeat_n(Frame8k::silence(), n)
    }

    /// `n` vowel frames starting at stream frame `start`.
    fn speech(start: usize, n: usize) -> impl Iterator<Item = Frame8k> {
        (start..start + n).map(vowel)
    }

    #[test]
    fn silence_only_is_unknown_after_the_initial_silence() {
        let v = run(AmdConfig::default(), silence(400)).unwrap();
        assert_eq!(v.kind, VerdictKind::Unknown);
        assert_eq!(v.reason, Reason::InitialSilence);
        assert_eq!(v.after, Duration::from_millis(2500));
    }

    #[test]
    fn initial_silence_can_be_made_a_machine_verdict() {
        let config = AmdConfig {
            initial_silence_verdict: VerdictKind::Machine,
            initial_silence: Duration::from_millis(1990),
            ..AmdConfig::default()
        };
        let v = run(config, silence(400)).unwrap();
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Machine, Reason::InitialSilence)
        );
        // Rounded up to whole frames.
        assert_eq!(v.after, Duration::from_millis(2000));
    }

    #[test]
    fn a_short_greeting_then_silence_is_human_after_the_pause() {
        // 300 ms answer delay, 400 ms "hello", then silence.
        let frames = silence(15).chain(speech(15, 20)).chain(silence(200));
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Human, Reason::ShortGreetingThenSilence)
        );
        // The greeting ends at 700 ms; 800 ms of silence later (the VAD's hangover is part of it).
        assert_eq!(v.after, Duration::from_millis(700 + 800));
    }

    #[test]
    fn a_long_greeting_is_a_machine_as_soon_as_it_passes_the_limit() {
        let frames = silence(10).chain(speech(10, 300));
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Machine, Reason::LongGreeting)
        );
        // 200 ms delay + 1.5 s of voice + the frame that passes it: not the end of the window.
        assert_eq!(v.after, Duration::from_millis(200 + 1500 + MS));
    }

    #[test]
    fn pauses_inside_a_greeting_do_not_count_towards_its_length() {
        // Three 400 ms phrases with 500 ms pauses: 1.2 s of voice over 2.2 s; then silence.
        let frames = speech(0, 20)
            .chain(silence(25))
            .chain(speech(45, 20))
            .chain(silence(25))
            .chain(speech(90, 20))
            .chain(silence(100));
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!(v.kind, VerdictKind::Human, "{v:?}");
    }

    #[test]
    fn more_words_than_the_maximum_is_a_machine_on_the_extra_word() {
        // Short words (160 ms) separated by 240 ms pauses: voice stays far below 1.5 s.
        let mut frames: Vec<Frame8k> = Vec::new();
        for w in 0..6 {
            frames.extend(speech(w * 20, 8));
            frames.extend(silence(12));
        }
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Machine, Reason::TooManyWords)
        );
        // The fourth word starts at 3 × 400 ms and is confirmed after min_word_length (100 ms).
        assert_eq!(v.after, Duration::from_millis(3 * 400 + 100));
    }

    #[test]
    fn a_white_noise_burst_is_not_a_word() {
        let mut rng = 9u32;
        let mut frames: Vec<Frame8k> = silence(25).collect();
        frames.extend((0..15).map(|_| noise(&mut rng, 12000)));
        frames.extend(silence(200));
        let v = run(AmdConfig::default(), frames).unwrap();
        // Not "human" (a word then silence): nobody spoke.
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Unknown, Reason::InitialSilence)
        );
    }

    #[test]
    fn a_click_shorter_than_a_word_is_not_a_word() {
        let frames = silence(25).chain(speech(25, 3)).chain(silence(200));
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!(v.reason, Reason::InitialSilence);
    }

    #[test]
    fn a_noise_burst_after_the_greeting_does_not_make_it_longer_or_restart_the_pause() {
        let mut rng = 5u32;
        let mut frames: Vec<Frame8k> = speech(0, 20).collect();
        frames.extend(silence(10));
        frames.extend((0..10).map(|_| noise(&mut rng, 12000)));
        frames.extend(silence(100));
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!(v.kind, VerdictKind::Human);
        // 400 ms greeting + 800 ms of pause, the 200 ms burst holding the count only while it
        // lasts.
        assert_eq!(v.after, Duration::from_millis(400 + 800 + 200));
    }

    #[test]
    fn steady_noise_alone_is_not_speech() {
        let mut rng = 11u32;
        let frames: Vec<Frame8k> = (0..300).map(|_| noise(&mut rng, 800)).collect();
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!(v.reason, Reason::InitialSilence);
    }

    #[test]
    fn a_tone_at_the_answer_is_a_beep_within_its_minimum_length() {
        let frames = silence(5).chain((5..100).map(|i| sine(1000.0, 8000.0, i)));
        let v = run(AmdConfig::default(), frames).unwrap();
        assert_eq!((v.kind, v.reason), (VerdictKind::Machine, Reason::Beep));
        assert_eq!(v.after, Duration::from_millis(100 + 160));
    }

    #[test]
    fn a_long_tone_without_beep_detection_is_a_long_greeting() {
        let config = AmdConfig {
            beep_detection: false,
            ..AmdConfig::default()
        };
        let frames = (0..200).map(|i| sine(440.0, 8000.0, i));
        let v = run(config, frames).unwrap();
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Machine, Reason::LongGreeting)
        );
    }

    #[test]
    fn words_that_never_settle_time_out_as_unknown() {
        let config = AmdConfig {
            maximum_words: 100,
            greeting: Duration::from_secs(5),
            ..AmdConfig::default()
        };
        let mut frames: Vec<Frame8k> = Vec::new();
        for w in 0..20 {
            frames.extend(speech(w * 20, 10));
            frames.extend(silence(10));
        }
        let v = run(config, frames).unwrap();
        assert_eq!((v.kind, v.reason), (VerdictKind::Unknown, Reason::Timeout));
        assert_eq!(v.after, Duration::from_secs(5));
    }

    #[test]
    fn no_verdict_is_repeated_and_the_beep_is_still_heard_after_it() {
        let mut amd = Amd::new(AmdConfig::default());
        let mut verdicts = 0;
        for f in speech(0, 100) {
            verdicts += usize::from(amd.push(&f).is_some());
        }
        assert_eq!(amd.verdict().map(|v| v.kind), Some(VerdictKind::Machine));
        assert!(!amd.beep_detected());
        for i in 0..25 {
            verdicts += usize::from(amd.push(&sine(440.0, 6000.0, i)).is_some());
        }
        assert!(amd.beep_detected());
        assert!(!amd.beep().beep_ended());
        amd.push(&Frame8k::silence());
        assert!(amd.beep().beep_ended());
        assert_eq!(verdicts, 1);
    }

    #[test]
    fn beeps_from_400_to_2000_hz_are_found_with_their_frequency_and_length() {
        for hz in [400.0, 425.0, 440.0, 480.0, 850.0, 1000.0, 1400.0, 2000.0] {
            let mut det = BeepDetector::new(Duration::from_millis(150));
            let mut events = Vec::new();
            let stream = silence(3)
                .chain((3..28).map(|i| sine(hz, 5000.0, i)))
                .chain(silence(5));
            for f in stream {
                events.extend(det.push(&f));
            }
            let [ToneEvent::Start { frequency_hz, at }, ToneEvent::End {
                at: end, duration, ..
            }] = events[..]
            else {
                panic!("{hz} Hz: {events:?}");
            };
            assert!(
                (frequency_hz - hz).abs() < hz * 0.01,
                "{hz}: {frequency_hz}"
            );
            assert_eq!(at, Duration::from_millis(60));
            assert_eq!(end, Duration::from_millis(560));
            assert_eq!(duration, Duration::from_millis(500));
        }
    }

    #[test]
    fn a_beep_in_white_noise_10_db_down_is_found_at_its_frequency() {
        for hz in [440.0, 1000.0, 1800.0] {
            let mut det = BeepDetector::new(Duration::from_millis(150));
            let mut rng = 77u32;
            let mut start = None;
            for i in 0..25 {
                // Sine RMS 3536; uniform noise ±1936 has RMS 1118: 10 dB below.
                let mut f = sine(hz, 5000.0, i);
                for (s, n) in f
                    .samples_mut()
                    .iter_mut()
                    .zip(noise(&mut rng, 1936).samples())
                {
                    *s = s.saturating_add(*n);
                }
                if let Some(ToneEvent::Start { frequency_hz, .. }) = det.push(&f) {
                    start = Some(frequency_hz);
                }
            }
            let found = start.unwrap_or_else(|| panic!("{hz} Hz not found"));
            assert!((found - hz).abs() < hz * 0.02, "{hz}: {found}");
        }
    }

    #[test]
    fn a_tone_shorter_than_the_minimum_is_not_a_beep() {
        let mut det = BeepDetector::new(Duration::from_millis(150));
        for f in (0..7).map(|i| sine(1000.0, 5000.0, i)).chain(silence(5)) {
            assert_eq!(det.push(&f), None);
        }
        assert_eq!(det.beeps(), 0);
    }

    #[test]
    fn dual_tones_vowels_and_noise_are_not_beeps() {
        let mut det = BeepDetector::new(Duration::from_millis(150));
        let mut rng = 3u32;
        for i in 0..50 {
            // DTMF "1": 697 + 1209 Hz.
            let mut f = sine(697.0, 4000.0, i);
            for (s, t) in f
                .samples_mut()
                .iter_mut()
                .zip(sine(1209.0, 4000.0, i).samples())
            {
                *s = s.saturating_add(*t);
            }
            assert_eq!(det.push(&f), None);
        }
        for f in speech(0, 50) {
            assert_eq!(det.push(&f), None);
        }
        for _ in 0..50 {
            assert_eq!(det.push(&noise(&mut rng, 5000)), None);
        }
        assert_eq!(det.beeps(), 0);
    }

    #[test]
    fn a_tone_gliding_in_frequency_is_not_a_beep() {
        let mut det = BeepDetector::new(Duration::from_millis(150));
        for i in 0..30 {
            let f = sine(600.0 + 40.0 * i as f32, 5000.0, i);
            assert_eq!(det.push(&f), None, "frame {i}");
        }
    }

    #[test]
    fn config_reads_durations_in_ms_and_s_and_keeps_defaults() {
        let c: AmdConfig = serde_json::from_str(
            r#"{"greeting": "2s", "after_greeting_silence": "600ms", "initial_silence": 3.5,
                "maximum_words": 5, "initial_silence_verdict": "machine"}"#,
        )
        .unwrap();
        assert_eq!(c.greeting, Duration::from_secs(2));
        assert_eq!(c.after_greeting_silence, Duration::from_millis(600));
        assert_eq!(c.initial_silence, Duration::from_millis(3500));
        assert_eq!(c.maximum_words, 5);
        assert_eq!(c.initial_silence_verdict, VerdictKind::Machine);
        assert_eq!(c.total_analysis, AmdConfig::default().total_analysis);
        assert!(c.beep_detection);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn config_rejects_bad_durations_and_unknown_fields() {
        for bad in [
            r#"{"greeting": "2 parsecs"}"#,
            r#"{"greeting": -1}"#,
            r#"{"greting": "2s"}"#,
        ] {
            assert!(serde_json::from_str::<AmdConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_names_the_field_to_fix() {
        let zero = AmdConfig {
            min_word_length: Duration::ZERO,
            ..AmdConfig::default()
        };
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("amd.min_word_length"));
        let short = AmdConfig {
            total_analysis: Duration::from_secs(1),
            ..AmdConfig::default()
        };
        let e = short.validate().unwrap_err().to_string();
        assert!(
            e.contains("total_analysis") && e.contains("initial_silence"),
            "{e}"
        );
        let none = AmdConfig {
            maximum_words: 0,
            ..AmdConfig::default()
        };
        assert_eq!(none.validate(), Err(AmdConfigError::NoWords));
    }
}
