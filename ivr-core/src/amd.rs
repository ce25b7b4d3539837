//! Answering-machine detection on answered outbound calls: the plan starts once it is known who
//! answered.
//!
//! A dial plan asks for it with `settings: { amd: true }`. When such a plan runs on an
//! outbound call, the call's [`Flow`](crate::flow::Flow) holds a [`Screening`]: from the answer
//! on, each 20 ms frame of the callee goes to an [`ivr_speech::amd::Amd`] while the callee
//! hears nothing. The verdict becomes `call.amd` (`human`, `machine` or `unknown`) and the
//! event `amd`; then the plan starts, so its first node can branch on it. For a machine the
//! plan waits further for the end of the greeting's beep (at most `beep_timeout`), so a
//! message it says or leaves starts "after the tone".
//!
//! ```text
//!   answer ──▶ Listening ──verdict human/unknown──────────────────────────▶ Ready (plan starts)
//!                 │
//!                 └──verdict machine──▶ AwaitingBeep ──beep ended / timeout──▶ Ready
//! ```
//!
//! The tuning is global, in `ivr.toml` (like Asterisk's `amd.conf`):
//!
//! ```toml
//! [amd]
//! greeting = "1.5s"              # any field of ivr_speech::amd::AmdConfig
//! after_greeting_silence = "800ms"
//! beep_timeout = "10s"           # the longest wait for a machine's beep; 0: do not wait
//! ```
//!
//! [`Screening`] is sans-IO: frames in, a verdict and a readiness out; the frame count is its
//! clock. No allocation per frame.

use std::time::Duration;

use ivr_media::audio::{Frame8k, FRAME_DURATION};
use ivr_speech::amd::{Amd, AmdConfig, BeepDetector, Reason, ToneEvent, Verdict, VerdictKind};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

/// `[amd]` in `ivr.toml`: the detector's tuning and how long to wait for a machine's beep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmdSettings {
    /// The detector's thresholds (every field of [`AmdConfig`], each optional).
    pub detector: AmdConfig,
    /// After a machine verdict, the longest wait for the end of its beep before the plan
    /// starts anyway (a machine without a beep). Zero: the plan starts at the verdict.
    /// Default 10 s.
    pub beep_timeout: Duration,
}

/// The longest `beep_timeout` accepted.
const MAX_BEEP_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for AmdSettings {
    fn default() -> Self {
        AmdSettings {
            detector: AmdConfig::default(),
            beep_timeout: Duration::from_secs(10),
        }
    }
}

impl<'de> Deserialize<'de> for AmdSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = Map::<String, Value>::deserialize(d)?;
        let mut settings = AmdSettings::default();
        if let Some(v) = table.remove("beep_timeout") {
            settings.beep_timeout = match v {
                Value::Number(n) => n
                    .as_f64()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        D::Error::custom("amd.beep_timeout: give seconds or e.g. 10s")
                    })?,
                Value::String(s) => crate::config::parse_duration(&s)
                    .map_err(|e| D::Error::custom(format!("amd.beep_timeout: {e}")))?,
                _ => {
                    return Err(D::Error::custom(
                        "amd.beep_timeout: give a duration such as 10s",
                    ))
                }
            };
        }
        settings.detector = AmdConfig::deserialize(Value::Object(table))
            .map_err(|e| D::Error::custom(format!("[amd]: {e}")))?;
        Ok(settings)
    }
}

impl AmdSettings {
    /// What is wrong with the settings, one line each (empty when they are usable).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Err(e) = self.detector.validate() {
            p.push(format!("[amd]: {e}"));
        }
        if self.beep_timeout > MAX_BEEP_TIMEOUT {
            p.push(format!(
                "amd.beep_timeout ({:?}) is over {}s: the callee would hear silence that long",
                self.beep_timeout,
                MAX_BEEP_TIMEOUT.as_secs()
            ));
        }
        p
    }
}

/// How the wait for a machine's beep ended, once the plan may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Human or unknown: the plan starts at the verdict.
    AtVerdict,
    /// A machine's beep ended (audio time from the answer) after lasting `duration`.
    BeepEnded {
        /// When it ended, from the answer.
        at: Duration,
        /// How long it lasted.
        duration: Duration,
    },
    /// No beep ended within `beep_timeout` of the machine verdict (or no wait was asked for).
    NoBeep {
        /// Audio time from the answer.
        at: Duration,
    },
}

#[derive(Debug, Clone)]
enum Phase {
    /// Not answered yet.
    Idle,
    /// The detector hears the callee.
    Listening(Box<Amd>),
    /// A machine: the beep detector listens for the end of the beep.
    AwaitingBeep {
        beep: BeepDetector,
        /// Frames left before giving up.
        left: u32,
    },
    /// The plan may start; `ready` is reported once.
    Done,
}

/// Answering-machine screening of one outbound call, from the answer to the moment the plan
/// may start. Push each 20 ms frame of the callee ([`Screening::push`]), then ask
/// [`Screening::poll_ready`].
#[derive(Debug, Clone)]
pub struct Screening {
    settings: AmdSettings,
    phase: Phase,
    /// Frames pushed since the answer.
    frames: u64,
    verdict: Option<Verdict>,
    ready: Option<Ready>,
}

impl Screening {
    /// Screening with `settings`; it starts listening at [`Screening::begin`].
    pub fn new(settings: &AmdSettings) -> Screening {
        Screening {
            settings: *settings,
            phase: Phase::Idle,
            frames: 0,
            verdict: None,
            ready: None,
        }
    }

    /// The call was answered: the next frame pushed is the first of the callee. Returns false
    /// when screening had already begun.
    pub fn begin(&mut self) -> bool {
        if !matches!(self.phase, Phase::Idle) {
            return false;
        }
        self.phase = Phase::Listening(Box::new(Amd::new(self.settings.detector)));
        true
    }

    /// Whether the callee's frames are wanted (after [`Screening::begin`], until the plan may
    /// start).
    pub fn is_listening(&self) -> bool {
        matches!(self.phase, Phase::Listening(_) | Phase::AwaitingBeep { .. })
    }

    /// The verdict, once given.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// Feeds the callee's next 20 ms frame (silence when none arrived); returns the verdict on
    /// the frame that gives it.
    pub fn push(&mut self, frame: &Frame8k) -> Option<Verdict> {
        match &mut self.phase {
            Phase::Idle | Phase::Done => None,
            Phase::Listening(amd) => {
                self.frames += 1;
                let v = amd.push(frame)?;
                self.verdict = Some(v);
                let wait = frames(self.settings.beep_timeout);
                if v.kind != VerdictKind::Machine {
                    self.finish(Ready::AtVerdict);
                } else if wait == 0 {
                    self.finish(Ready::NoBeep { at: v.after });
                } else {
                    // The beep detector keeps the tone that gave a `Beep` verdict: its end is
                    // reported like any other.
                    let amd = std::mem::replace(&mut self.phase, Phase::Done);
                    if let Phase::Listening(amd) = amd {
                        self.phase = Phase::AwaitingBeep {
                            beep: amd.into_beep_detector(),
                            left: wait,
                        };
                    }
                }
                Some(v)
            }
            Phase::AwaitingBeep { beep, left } => {
                self.frames += 1;
                if let Some(ToneEvent::End { at, duration, .. }) = beep.push(frame) {
                    self.finish(Ready::BeepEnded { at, duration });
                    return None;
                }
                *left = left.saturating_sub(1);
                if *left == 0 {
                    let at = audio_time(self.frames);
                    self.finish(Ready::NoBeep { at });
                }
                None
            }
        }
    }

    fn finish(&mut self, ready: Ready) {
        self.phase = Phase::Done;
        self.ready = Some(ready);
    }

    /// Once after the verdict (and for a machine the beep): the plan may start now.
    pub fn poll_ready(&mut self) -> Option<Ready> {
        self.ready.take()
    }
}

/// `call.amd` for a verdict.
pub fn verdict_name(kind: VerdictKind) -> &'static str {
    match kind {
        VerdictKind::Human => "human",
        VerdictKind::Machine => "machine",
        VerdictKind::Unknown => "unknown",
    }
}

/// The rule that decided, as events name it.
pub fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::ShortGreetingThenSilence => "short_greeting",
        Reason::LongGreeting => "long_greeting",
        Reason::TooManyWords => "too_many_words",
        Reason::InitialSilence => "initial_silence",
        Reason::Beep => "beep",
        Reason::Timeout => "timeout",
    }
}

/// The `amd` event's data: `{"verdict", "reason", "ms"}` (`ms`: audio time from the answer).
pub fn verdict_event(v: &Verdict) -> Value {
    json!({
        "verdict": verdict_name(v.kind),
        "reason": reason_name(v.reason),
        "ms": millis(v.after),
    })
}

/// The `amd_beep` event's data after a machine verdict: `{"beep": true, "ms", "beep_ms"}`
/// when the beep ended, `{"beep": false, "ms"}` when none did in time; `None` for a person.
pub fn beep_event(r: &Ready) -> Option<Value> {
    match r {
        Ready::AtVerdict => None,
        Ready::BeepEnded { at, duration } => Some(json!({
            "beep": true,
            "ms": millis(*at),
            "beep_ms": millis(*duration),
        })),
        Ready::NoBeep { at } => Some(json!({"beep": false, "ms": millis(*at)})),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whole frames in `d`, rounded up (zero for zero).
fn frames(d: Duration) -> u32 {
    let per = FRAME_DURATION.as_millis();
    u32::try_from(d.as_millis().div_ceil(per)).unwrap_or(u32::MAX)
}

fn audio_time(frames: u64) -> Duration {
    Duration::from_millis(frames.saturating_mul(FRAME_DURATION.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` spoken by espeak-ng (en-us, 160 wpm), turned by sox into 8 kHz 16-bit samples at
    /// -3 dBFS peak.
    fn speak(text: &str) -> Vec<i16> {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("speech.wav");
        let status = std::process::Command::new("espeak-ng")
            .args([
                "-v",
                "en-us",
                "-s",
                "160",
                "-w",
                wav.to_str().unwrap(),
                text,
            ])
            .status()
            .expect("espeak-ng is installed");
        assert!(status.success());
        let out = std::process::Command::new("sox")
            .arg(&wav)
            .args([
                "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-",
            ])
            .args(["gain", "-n", "-3"])
            .output()
            .expect("sox is installed");
        assert!(out.status.success());
        out.stdout
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    /// A sine at `hz`, a quarter of full scale, `ms` long.
    fn tone(hz: f32, ms: usize) -> Vec<i16> {
        (0..ms * 8)
            .map(|n| {
                let phase = std::f32::consts::TAU * hz * n as f32 / 8000.0;
                (phase.sin() * 8192.0) as i16
            })
            .collect()
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    /// Milliseconds up to the last sample louder than -30 dBFS (espeak-ng ends with silence).
    fn sound_ends(audio: &[i16]) -> usize {
        audio
            .iter()
            .rposition(|s| s.unsigned_abs() > 1000)
            .unwrap_or(0)
            / 8
    }

    /// Pads `audio` with silence to a whole number of 20 ms frames.
    fn whole_frames(audio: &mut Vec<i16>) {
        audio.resize(audio.len().div_ceil(160) * 160, 0);
    }

    /// Pushes `audio` then silence, frame by frame, until the plan may start (at most 30 s):
    /// the verdict, the readiness, and the frame count at readiness.
    fn screen(settings: &AmdSettings, audio: &[i16]) -> (Option<Verdict>, Ready, u64) {
        let mut s = Screening::new(settings);
        assert!(!s.is_listening() && s.begin() && !s.begin());
        let mut verdict = None;
        let quiet = Frame8k::silence();
        let mut chunks = audio.chunks(160);
        for n in 1..=1500u64 {
            let frame = chunks.next().map_or(quiet, Frame8k::from_slice_padded);
            if let Some(v) = s.push(&frame) {
                assert!(verdict.is_none(), "one verdict only");
                verdict = Some(v);
                assert_eq!(s.verdict(), Some(v));
            }
            if let Some(r) = s.poll_ready() {
                assert!(!s.is_listening());
                assert_eq!(s.poll_ready(), None, "readiness is reported once");
                assert_eq!(s.push(&frame), None, "frames after readiness do nothing");
                return (verdict, r, n);
            }
            assert!(s.is_listening());
        }
        panic!("never ready; verdict {verdict:?}");
    }

    #[test]
    fn a_person_saying_hello_starts_the_plan_at_the_human_verdict() {
        let mut audio = silence(300);
        audio.extend(speak("Hello?"));
        let spoken = sound_ends(&audio);
        let (v, ready, n) = screen(&AmdSettings::default(), &audio);
        let v = v.expect("a verdict");
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Human, Reason::ShortGreetingThenSilence)
        );
        assert_eq!(ready, Ready::AtVerdict);
        assert_eq!(
            audio_time(n),
            v.after,
            "the plan starts on the deciding frame"
        );
        // 800 ms of silence after the greeting decide, within a few frames.
        assert!(
            v.after.as_millis() as usize >= spoken + 700,
            "{v:?} after {spoken} ms"
        );
        assert!(
            v.after.as_millis() as usize <= spoken + 1000,
            "{v:?} after {spoken} ms"
        );
        assert_eq!(beep_event(&ready), None);
        assert_eq!(
            verdict_event(&v)["verdict"],
            "human",
            "{}",
            verdict_event(&v)
        );
    }

    #[test]
    fn a_machine_greeting_waits_for_the_end_of_its_beep() {
        let mut audio = speak(
            "Hi, you have reached the voicemail of Anna Smith. I cannot take your call right \
             now. Please leave a message after the tone.",
        );
        audio.extend(silence(300));
        whole_frames(&mut audio);
        let beep_start = audio.len() / 8;
        audio.extend(tone(1000.0, 500));
        let beep_end = audio.len() / 8;
        let (v, ready, n) = screen(&AmdSettings::default(), &audio);
        let v = v.expect("a verdict");
        assert_eq!(v.kind, VerdictKind::Machine, "{v:?}");
        assert!(
            v.reason != Reason::Beep,
            "the long greeting decides first: {v:?}"
        );
        assert!((v.after.as_millis() as usize) < beep_start);
        let Ready::BeepEnded { at, duration } = ready else {
            panic!("{ready:?}");
        };
        assert_eq!(
            at.as_millis() as usize,
            beep_end,
            "the end of the beep, to the frame"
        );
        assert!(duration.as_millis().abs_diff(500) <= 40, "{duration:?}");
        // The plan starts on the first frame after the beep.
        assert_eq!(audio_time(n - 1), at);
        let e = beep_event(&ready).unwrap();
        assert_eq!(
            (e["beep"].clone(), e["ms"].clone()),
            (json!(true), json!(beep_end))
        );
    }

    #[test]
    fn a_beep_alone_is_a_machine_and_the_plan_starts_when_it_stops() {
        let mut audio = silence(400);
        audio.extend(tone(440.0, 600));
        let (v, ready, _) = screen(&AmdSettings::default(), &audio);
        let v = v.unwrap();
        assert_eq!((v.kind, v.reason), (VerdictKind::Machine, Reason::Beep));
        assert_eq!(
            ready,
            Ready::BeepEnded {
                at: Duration::from_millis(1000),
                duration: Duration::from_millis(600)
            }
        );
        assert_eq!(reason_name(v.reason), "beep");
    }

    #[test]
    fn a_machine_without_a_beep_starts_the_plan_after_beep_timeout() {
        let audio = speak(
            "Hello, this is the Smith residence. We are not available. Please call again later.",
        );
        let settings = AmdSettings {
            beep_timeout: Duration::from_secs(3),
            ..AmdSettings::default()
        };
        let (v, ready, n) = screen(&settings, &audio);
        let v = v.unwrap();
        assert_eq!(v.kind, VerdictKind::Machine);
        assert_eq!(
            ready,
            Ready::NoBeep {
                at: v.after + Duration::from_secs(3)
            }
        );
        assert_eq!(audio_time(n), v.after + Duration::from_secs(3));
        assert_eq!(beep_event(&ready).unwrap()["beep"], json!(false));

        // beep_timeout = 0: no wait at all.
        let settings = AmdSettings {
            beep_timeout: Duration::ZERO,
            ..AmdSettings::default()
        };
        let (v, ready, _) = screen(&settings, &audio);
        assert_eq!(
            ready,
            Ready::NoBeep {
                at: v.unwrap().after
            }
        );
    }

    #[test]
    fn a_silent_answer_is_unknown_and_the_plan_starts_at_initial_silence() {
        let (v, ready, n) = screen(&AmdSettings::default(), &[]);
        let v = v.unwrap();
        assert_eq!(
            (v.kind, v.reason),
            (VerdictKind::Unknown, Reason::InitialSilence)
        );
        assert_eq!(ready, Ready::AtVerdict);
        assert_eq!(n, 125, "2.5 s of 20 ms frames");
        assert_eq!(
            verdict_event(&v),
            json!({"verdict": "unknown", "reason": "initial_silence", "ms": 2500})
        );
    }

    #[test]
    fn frames_before_begin_are_ignored() {
        let mut s = Screening::new(&AmdSettings::default());
        for _ in 0..500 {
            assert_eq!(s.push(&Frame8k::silence()), None);
        }
        assert_eq!(s.poll_ready(), None);
        assert!(s.begin());
        assert!(s.is_listening());
    }

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        #[serde(default)]
        amd: AmdSettings,
    }

    fn parse(toml: &str) -> Result<AmdSettings, String> {
        toml::from_str::<Wrapper>(toml)
            .map(|w| w.amd)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_read_every_detector_field_and_the_beep_timeout() {
        assert_eq!(parse("").unwrap(), AmdSettings::default());
        let s = parse(
            "[amd]\ngreeting = \"2s\"\nmaximum_words = 5\nbeep_timeout = \"4s\"\n\
             initial_silence_verdict = \"machine\"\n",
        )
        .unwrap();
        assert_eq!(s.detector.greeting, Duration::from_secs(2));
        assert_eq!(s.detector.maximum_words, 5);
        assert_eq!(s.detector.initial_silence_verdict, VerdictKind::Machine);
        assert_eq!(s.beep_timeout, Duration::from_secs(4));
        assert_eq!(
            s.detector.after_greeting_silence,
            AmdConfig::default().after_greeting_silence
        );
        assert!(s.problems().is_empty());
        assert_eq!(
            parse("[amd]\nbeep_timeout = 2.5\n").unwrap().beep_timeout,
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn bad_settings_say_which_key_is_wrong() {
        let e = parse("[amd]\ngreting = \"2s\"\n").unwrap_err();
        assert!(e.contains("greting"), "{e}");
        let e = parse("[amd]\nbeep_timeout = \"soon\"\n").unwrap_err();
        assert!(e.contains("amd.beep_timeout"), "{e}");
        let e = parse("[amd]\nbeep_timeout = -1\n").unwrap_err();
        assert!(e.contains("amd.beep_timeout"), "{e}");
        let s = parse("[amd]\ngreeting = \"9s\"\nbeep_timeout = \"2m\"\n").unwrap();
        let p = s.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("total_analysis"), "{p:?}");
        assert!(p[1].contains("beep_timeout"), "{p:?}");
    }
}
