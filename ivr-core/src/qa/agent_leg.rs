//! The agent's side of a bridged call, transcribed from the call's recording so that quality
//! rules about the agent (`speaker: agent`) have words to read.
//!
//! ```text
//!  recording (stereo 8 kHz WAV: caller left, engine/agent right; sealed or plain)
//!    └─▶ right channel, from the agent's answer to the end
//!          └─▶ Endpointer (energy VAD): utterances
//!                └─▶ each recognised as free dictation on the speech pool
//!                      └─▶ redacted ─▶ `Speaker::Agent` turns, timed from the call's answer
//! ```
//!
//! The right channel carries the engine's prompts until an agent answers and the agent's voice
//! (as received, before any re-encoding) while bridged; only the part from the first
//! `agent_connected` event on is read. Hold audio played while the agent holds the caller is on
//! the same channel and may come out as words.
//!
//! Recognition runs on the shared [`AsrPool`] one utterance at a time, fed at about five times
//! real time so that live callers keep their share of the recognisers.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ivr_media::audio::Frame8k;
use ivr_speech::asr::{AsrError, AsrPool, Grammar};
use ivr_speech::vad::{EndpointEvent, Endpointer, EndpointerConfig};

use crate::privacy::crypt::Keyring;
use crate::privacy::recording::RecordingError;
use crate::privacy::redact::{RedactConfig, Redactor};
use crate::store::{CallEvent, Cdr, Speaker, Turn};

/// Samples per 20 ms frame at 8 kHz.
const FRAME: usize = 160;
/// Samples per millisecond at 8 kHz.
const PER_MS: usize = 8;
/// Audio kept before an utterance's onset and after its last speech frame (200 ms each).
const MARGIN_FRAMES: usize = 10;
/// Frames handed to the pool in one burst (one second of audio)...
const BURST_FRAMES: usize = 50;
/// ...then a pause: about five times real time.
const BURST_PAUSE: Duration = Duration::from_millis(200);
/// How long to wait before retrying when the pool is at capacity.
const BUSY_PAUSE: Duration = Duration::from_millis(100);
/// Give up on an utterance after this many refusals in a row (about 30 s at capacity).
const BUSY_TRIES: u32 = 300;

/// Why the agent's side could not be transcribed. Every variant names the recording.
#[derive(Debug, thiserror::Error)]
pub enum AgentLegError {
    /// The recording could not be read or decrypted.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The recording is sealed and no keyring is configured to open it.
    #[error("{} is encrypted and no recording key is configured ([privacy] keys)", path.display())]
    NoKey {
        /// The recording.
        path: PathBuf,
    },
    /// The recording is not the engine's stereo 8 kHz 16-bit WAV.
    #[error("{} is not a stereo 8 kHz 16-bit WAV recording: {reason}", path.display())]
    Format {
        /// The recording.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Speech recognition failed (or stayed at capacity).
    #[error("transcribing the agent's side of {}: {source}", path.display())]
    Asr {
        /// The recording.
        path: PathBuf,
        /// The recogniser's error.
        #[source]
        source: AsrError,
    },
}

/// One recognised utterance of the agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Utterance {
    /// Start, in milliseconds from the start of the audio given.
    pub start_ms: u64,
    /// End, in milliseconds from the start of the audio given.
    pub end_ms: u64,
    /// The words, lower case, not yet redacted (never empty).
    pub text: String,
}

/// Transcribes the agent's side of recorded calls; cheap to clone.
#[derive(Clone)]
pub struct AgentTranscriber {
    pool: AsrPool,
    keyring: Option<Arc<Keyring>>,
    language: String,
    redactor: Arc<Redactor>,
}

impl std::fmt::Debug for AgentTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentTranscriber")
            .field("engine", &self.pool.engine_name())
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

impl AgentTranscriber {
    /// Recognises `language` on `pool`, opening sealed recordings with `keyring`, masking what
    /// the default [`RedactConfig`] masks.
    pub fn new(pool: AsrPool, keyring: Option<Arc<Keyring>>, language: &str) -> AgentTranscriber {
        AgentTranscriber {
            pool,
            keyring,
            language: language.to_string(),
            redactor: Arc::new(Redactor::new(RedactConfig::default())),
        }
    }

    /// Masks what `config` masks in the stored turns instead (the engine's stored-record
    /// redaction: `[privacy] store_unredacted`).
    pub fn with_redaction(mut self, config: RedactConfig) -> AgentTranscriber {
        self.redactor = Arc::new(Redactor::new(config));
        self
    }

    /// The agent's turns of a finished call: its recording at `recording` (plain or sealed) is
    /// read from the first `agent_connected` event in `events` on; the turns are numbered from
    /// `first_seq` and timed from the call's answer.
    pub async fn call_turns(
        &self,
        cdr: &Cdr,
        events: &[CallEvent],
        recording: &Path,
        first_seq: u32,
    ) -> Result<Vec<Turn>, AgentLegError> {
        let path = recording.to_path_buf();
        let keyring = self.keyring.clone();
        let channel = tokio::task::spawn_blocking(move || read_agent_channel(&path, keyring))
            .await
            .map_err(|e| AgentLegError::Format {
                path: recording.to_path_buf(),
                reason: format!("the reader failed: {e}"),
            })??;
        let (from_ms, offset_ms) = timing(cdr, events, (channel.len() / PER_MS) as u64);
        let from = usize::try_from(from_ms)
            .unwrap_or(usize::MAX)
            .saturating_mul(PER_MS)
            .min(channel.len());
        let said = self
            .transcribe(channel.get(from..).unwrap_or_default())
            .await
            .map_err(|source| AgentLegError::Asr {
                path: recording.to_path_buf(),
                source,
            })?;
        let offset = offset_ms.saturating_add(i64::try_from(from_ms).unwrap_or(i64::MAX));
        Ok(agent_turns(
            &cdr.call_id,
            first_seq,
            offset,
            &said,
            &self.redactor,
        ))
    }

    /// The utterances in `samples` (8 kHz mono), recognised one after the other.
    pub async fn transcribe(&self, samples: &[i16]) -> Result<Vec<Utterance>, AsrError> {
        let mut out = Vec::new();
        for span in utterances(samples) {
            let audio = samples
                .get(span.start * FRAME..(span.end * FRAME).min(samples.len()))
                .unwrap_or_default();
            let text = self.recognise(audio).await?;
            if text.is_empty() {
                continue;
            }
            out.push(Utterance {
                start_ms: (span.start * FRAME / PER_MS) as u64,
                end_ms: (span.end * FRAME / PER_MS) as u64,
                text,
            });
        }
        Ok(out)
    }

    /// One utterance as free dictation; waits while the pool is at capacity.
    async fn recognise(&self, audio: &[i16]) -> Result<String, AsrError> {
        let mut tries = 0;
        let mut stream = loop {
            match self.pool.open(Grammar::dictation(&self.language)) {
                Ok(s) => break s,
                Err(AsrError::Busy) if tries < BUSY_TRIES => {
                    tries += 1;
                    tokio::time::sleep(BUSY_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        };
        for (i, chunk) in audio.chunks(FRAME).enumerate() {
            let frame = Frame8k::from_slice_padded(chunk);
            let mut tries = 0;
            loop {
                match stream.push(&frame) {
                    Ok(()) => break,
                    // The worker is behind: the frame was not taken; hand it over again.
                    Err(AsrError::Busy) if tries < BUSY_TRIES => {
                        tries += 1;
                        tokio::time::sleep(BUSY_PAUSE).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            if (i + 1) % BURST_FRAMES == 0 {
                tokio::time::sleep(BURST_PAUSE).await;
            }
        }
        Ok(stream.finish().await?.text.trim().to_string())
    }
}

/// Where the agent's audio starts in the recording and how recording time maps to call time:
/// `(from_ms, offset_ms)` where `from_ms` is the agent's first answer in ms from the start of
/// the recording (`recording_ms` long), and a moment `t` ms into the recording is
/// `t + offset_ms` ms from the call's answer.
///
/// The recording ends when the call ends, so its start is the end of the call minus its
/// length (a stall the media clock skipped over shifts only what came before it).
pub fn timing(cdr: &Cdr, events: &[CallEvent], recording_ms: u64) -> (u64, i64) {
    let length = i64::try_from(recording_ms).unwrap_or(i64::MAX);
    let ended = cdr
        .ended_at_unix_ms
        .unwrap_or(cdr.started_at_unix_ms.saturating_add(length));
    let recording_start = ended.saturating_sub(length);
    let base = cdr.answered_at_unix_ms.unwrap_or(cdr.started_at_unix_ms);
    let agent = events
        .iter()
        .filter(|e| e.name == "agent_connected")
        .map(|e| e.at_unix_ms)
        .min()
        .unwrap_or(base);
    let from = agent.saturating_sub(recording_start).clamp(0, length);
    (
        u64::try_from(from).unwrap_or(0),
        recording_start.saturating_sub(base),
    )
}

/// Stretches of speech in `samples` (8 kHz mono) as ranges of 20 ms frames, each with 200 ms
/// of margin either side. The endpointer ends an utterance after 800 ms without speech or at
/// 15 s; speech running to the end of the audio is closed there.
pub fn utterances(samples: &[i16]) -> Vec<Range<usize>> {
    let mut endpointer = Endpointer::new(EndpointerConfig {
        end_silence: 40,
        ..EndpointerConfig::default()
    });
    let frames = samples.len().div_ceil(FRAME);
    let widen = |onset: u64, last: u64| {
        let start = usize::try_from(onset)
            .unwrap_or(usize::MAX)
            .saturating_sub(MARGIN_FRAMES);
        let end = usize::try_from(last)
            .unwrap_or(usize::MAX)
            .saturating_add(1 + MARGIN_FRAMES)
            .min(frames);
        start..end
    };
    let mut spans = Vec::new();
    let mut open: Option<u64> = None;
    for chunk in samples.chunks(FRAME) {
        match endpointer.push(&Frame8k::from_slice_padded(chunk)) {
            Some(EndpointEvent::SpeechStart { onset_frame }) => open = Some(onset_frame),
            Some(EndpointEvent::SpeechEnd {
                onset_frame,
                last_speech_frame,
                ..
            }) => {
                open = None;
                spans.push(widen(onset_frame, last_speech_frame));
            }
            None => {}
        }
    }
    if let Some(onset) = open {
        spans.push(widen(onset, frames.saturating_sub(1) as u64));
    }
    spans
}

/// The agent's utterances as stored turns: redacted, numbered from `first_seq`, timed
/// `offset_ms` after the call's answer (turns that would start before it start at 0).
pub fn agent_turns(
    call_id: &str,
    first_seq: u32,
    offset_ms: i64,
    said: &[Utterance],
    redactor: &Redactor,
) -> Vec<Turn> {
    said.iter()
        .zip(first_seq..)
        .map(|(u, seq)| Turn {
            call_id: call_id.to_string(),
            seq,
            who: Speaker::Agent,
            text: redactor.redact(&u.text).into_owned(),
            node: None,
            at_ms: u64::try_from(
                i64::try_from(u.start_ms)
                    .unwrap_or(i64::MAX)
                    .saturating_add(offset_ms),
            )
            .unwrap_or(0),
        })
        .collect()
}

/// The right (engine and agent) channel of the recording at `path`, decrypted with `keyring`
/// when it is sealed. Blocking.
pub fn read_agent_channel(
    path: &Path,
    keyring: Option<Arc<Keyring>>,
) -> Result<Vec<i16>, AgentLegError> {
    let bytes = match keyring {
        Some(ring) => crate::privacy::recording::open_recording(path, &ring)?,
        None => {
            if crate::privacy::recording::is_sealed(path)? {
                return Err(AgentLegError::NoKey {
                    path: path.to_path_buf(),
                });
            }
            std::fs::read(path).map_err(|source| RecordingError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })?
        }
    };
    right_channel(&bytes, path)
}

/// The right channel of a stereo 8 kHz 16-bit WAV held in `bytes` (read from `path`).
pub fn right_channel(bytes: &[u8], path: &Path) -> Result<Vec<i16>, AgentLegError> {
    let format = |reason: String| AgentLegError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader =
        hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| format(e.to_string()))?;
    let spec = reader.spec();
    if spec.channels != 2
        || spec.sample_rate != 8000
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format(format!(
            "it has {} channel(s) at {} Hz, {}-bit {:?}",
            spec.channels, spec.sample_rate, spec.bits_per_sample, spec.sample_format
        )));
    }
    let mut right = Vec::with_capacity(reader.len() as usize / 2);
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = s.map_err(|e| format(e.to_string()))?;
        if i % 2 == 1 {
            right.push(s);
        }
    }
    Ok(right)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::qa::{Inspector, Rules};
    use crate::store::{CallStart, Direction};

    const T: i64 = 1_700_000_000_000;

    /// `text` spoken by espeak-ng, as 8 kHz mono samples (sox).
    fn speech(dir: &Path, name: &str, text: &str) -> Vec<i16> {
        let wide = dir.join(format!("{name}.22k.wav"));
        let status = Command::new("espeak-ng")
            .args([
                "-v",
                "en-us",
                "-s",
                "160",
                "-w",
                wide.to_str().unwrap(),
                text,
            ])
            .status()
            .expect("espeak-ng is installed");
        assert!(status.success());
        let narrow = dir.join(format!("{name}.wav"));
        let status = Command::new("sox")
            .args([wide.to_str().unwrap(), "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&narrow)
            .status()
            .expect("sox is installed");
        assert!(status.success());
        let mut r = hound::WavReader::open(&narrow).unwrap();
        r.samples::<i16>().map(Result::unwrap).collect()
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * PER_MS]
    }

    /// A stereo 8 kHz recording with `left` and `right` (the shorter padded with silence).
    fn stereo(path: &Path, left: &[i16], right: &[i16]) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..left.len().max(right.len()) {
            w.write_sample(left.get(i).copied().unwrap_or(0)).unwrap();
            w.write_sample(right.get(i).copied().unwrap_or(0)).unwrap();
        }
        w.finalize().unwrap();
    }

    fn pool() -> AsrPool {
        let engine = ivr_speech::pocketsphinx::PocketSphinx::open(
            ivr_speech::pocketsphinx::PocketSphinxConfig::default(),
        )
        .expect("the PocketSphinx model is installed (scripts/setup.sh)");
        AsrPool::start(Arc::new(engine), 1, 4)
    }

    /// A call answered at `T`, bridged to an agent, ended `length_ms` after the answer.
    fn bridged(length_ms: i64) -> Cdr {
        let mut c = Cdr::started(CallStart {
            call_id: "c-1".into(),
            direction: Direction::Inbound,
            from_number: String::new(),
            to_number: String::new(),
            trunk: String::new(),
            started_at_unix_ms: T - 1_000,
            dial_plan: "help-desk".into(),
            dial_plan_version: "1".into(),
        });
        c.answered_at_unix_ms = Some(T);
        c.ended_at_unix_ms = Some(T + length_ms);
        c.agent_id = Some("ann".into());
        c.queue = Some("support".into());
        c
    }

    fn event(name: &str, at_unix_ms: i64) -> CallEvent {
        CallEvent {
            call_id: "c-1".into(),
            at_unix_ms,
            name: name.into(),
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn the_endpointer_cuts_the_channel_into_utterances_with_their_margins() {
        let dir = tempfile::tempdir().unwrap();
        let first = speech(dir.path(), "a", "Good morning, this is Ann.");
        let second = speech(dir.path(), "b", "I can help you with that.");
        let mut audio = silence(1_000);
        audio.extend(&first);
        audio.extend(silence(1_500));
        let second_at = audio.len();
        audio.extend(&second);
        audio.extend(silence(600));

        let spans = utterances(&audio);
        assert_eq!(spans.len(), 2, "{spans:?}");
        let ms = |frame: usize| (frame * FRAME / PER_MS) as i64;
        // espeak-ng leaves a little silence at the start of its files.
        assert!((ms(spans[0].start) - 800).abs() <= 200, "{spans:?}");
        let second_ms = (second_at / PER_MS) as i64;
        assert!(
            (ms(spans[1].start) - (second_ms - 200)).abs() <= 200,
            "{spans:?}"
        );
        assert!(spans[0].end <= spans[1].start, "{spans:?}");
        // Speech running to the end of the audio is closed there.
        let cut = &audio[..second_at + second.len() / 2];
        let spans = utterances(cut);
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[1].end, cut.len().div_ceil(FRAME));
        assert!(utterances(&silence(3_000)).is_empty());
    }

    #[test]
    fn timing_maps_recording_time_to_call_time_from_the_agents_answer() {
        // A 20 s recording of a call that rang 1 s, was answered at T and bridged at T + 8 s.
        let cdr = bridged(19_000);
        let events = [event("agent_connected", T + 8_000)];
        let (from, offset) = timing(&cdr, &events, 20_000);
        assert_eq!(from, 9_000, "the agent answered 9 s into the recording");
        assert_eq!(
            offset, -1_000,
            "the recording started 1 s before the answer"
        );
        // Without the event: from the answer.
        assert_eq!(timing(&cdr, &[], 20_000), (1_000, -1_000));
        // A connection before the recording's start (clock skew) reads it all.
        let early = [event("agent_connected", T - 5_000)];
        assert_eq!(timing(&cdr, &early, 20_000).0, 0);
    }

    #[test]
    fn turns_are_redacted_numbered_after_the_ivr_and_timed_from_the_answer() {
        let said = [
            Utterance {
                start_ms: 500,
                end_ms: 2_000,
                text: "your card number is 4111 1111 1111 1111".into(),
            },
            Utterance {
                start_ms: 3_000,
                end_ms: 4_000,
                text: "anything else".into(),
            },
        ];
        let redactor = Redactor::new(RedactConfig::default());
        let turns = agent_turns("c-1", 4, -1_000, &said, &redactor);
        assert_eq!(turns.len(), 2);
        assert!(turns
            .iter()
            .all(|t| t.who == Speaker::Agent && t.node.is_none()));
        assert_eq!((turns[0].seq, turns[1].seq), (4, 5));
        assert_eq!((turns[0].at_ms, turns[1].at_ms), (0, 2_000));
        assert!(!turns[0].text.contains("4111"), "{}", turns[0].text);
        assert_eq!(turns[1].text, "anything else");
    }

    #[test]
    fn a_recording_that_is_not_stereo_8_khz_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mono.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        w.write_sample(0i16).unwrap();
        w.finalize().unwrap();
        let err = read_agent_channel(&path, None).unwrap_err();
        assert!(matches!(err, AgentLegError::Format { .. }), "{err}");
        assert!(err.to_string().contains("mono.wav"), "{err}");
        let err = read_agent_channel(&dir.path().join("gone.wav"), None).unwrap_err();
        assert!(err.to_string().contains("gone.wav"), "{err}");
    }

    /// The whole path on real audio: a sealed stereo recording whose right channel holds the
    /// IVR's prompt, then (after the agent answered) the agent; the caller talks on the left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_agents_channel_of_a_sealed_recording_becomes_agent_turns_the_rules_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let prompt = speech(dir.path(), "prompt", "Connecting you now.");
        let caller = speech(
            dir.path(),
            "caller",
            "Hello, I have a question about my bill.",
        );
        let agent = speech(dir.path(), "agent", "You are welcome. No problem at all.");
        // Recording: 1 s ringing, prompt at 1 s; agent answers at 4 s, speaks at 5 s.
        let mut right = silence(1_000);
        right.extend(&prompt);
        right.resize(5_000 * PER_MS, 0);
        right.extend(&agent);
        right.extend(silence(1_000));
        let mut left = silence(2_500);
        left.extend(&caller);
        let path = dir.path().join("c-1.wav");
        stereo(&path, &left, &right);
        let length = (left.len().max(right.len()) / PER_MS) as i64;

        let ring = Arc::new(Keyring::new(
            crate::privacy::crypt::KeyId::new("k1").unwrap(),
            &[7u8; 32],
            "test",
        ));
        let sealed = crate::privacy::recording::seal(&path, &ring).unwrap();

        let cdr = bridged(length - 1_000);
        let events = [event("agent_connected", T + 3_000)];
        let transcriber = AgentTranscriber::new(pool(), Some(ring), "en-US");
        let turns = transcriber
            .call_turns(&cdr, &events, &sealed, 3)
            .await
            .unwrap();
        assert!(!turns.is_empty(), "the agent's words were recognised");
        assert!(turns.len() <= 2, "{turns:?}");
        assert!(turns.iter().all(|t| t.who == Speaker::Agent), "{turns:?}");
        assert_eq!(turns[0].seq, 3);
        // Speech starts 5 s into the recording (4 s after the answer), give or take the margin
        // and espeak-ng's leading silence.
        assert!(
            (3_600..=4_400).contains(&turns[0].at_ms),
            "the first agent turn starts {} ms after the answer",
            turns[0].at_ms
        );
        let text: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
        let joined = text.join(" ");
        assert!(joined.contains("no problem at all"), "{joined}");
        assert!(
            !joined.contains("connecting"),
            "the IVR's prompt is not the agent: {joined}"
        );

        // The rules read the agent's words.
        let rules = Rules::parse(
            "qa.yaml",
            r#"
rules:
  - id: closing
    kind: required_phrase
    phrases: ["anything else", "no problem at all", "you are welcome"]
    speaker: agent
    within: { last_turns: 2 }
  - id: casual
    kind: forbidden_phrase
    phrases: ["no problem"]
    speaker: agent
  - id: ivr_closing
    kind: required_phrase
    phrases: ["no problem at all"]
    speaker: ivr
"#,
        )
        .unwrap();
        let result = Inspector::new(rules).inspect(&cdr, &turns, &events);
        let fired: Vec<&str> = result.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(fired, ["casual", "ivr_closing"], "{:?}", result.findings);
        let wrong = AgentTranscriber::new(pool(), None, "en-US")
            .call_turns(&cdr, &events, &sealed, 0)
            .await
            .unwrap_err();
        assert!(matches!(wrong, AgentLegError::NoKey { .. }), "{wrong}");
    }
}
