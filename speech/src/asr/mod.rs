//! Streaming speech recognition: the engine-independent part.
//!
//! * [`Recognizer`] / [`RecognizerStream`] — what an engine implements: open a stream for a
//!   [`Grammar`], push 16 kHz frames, read partial results, finish with a [`Transcript`].
//!   Engines are synchronous and may be slow; nothing calls them from the async reactor.
//! * [`AsrPool`] / [`AsrStream`] — the bounded worker pool the call tasks use: `open` never
//!   blocks and answers [`AsrError::Busy`] at capacity (the dial plan then falls back to the
//!   keypad), `push` takes 8 kHz frames, upsamples them once and hands them over without
//!   allocating, `finish` awaits the final result, and dropping a stream cancels it.
//! * [`transcribe_wav`] — recognise a whole WAV file (any rate, mono or stereo), for
//!   `ivr transcribe` and tests.
//!
//! A grammar with phrases and no slot is intent recognition (the phrases are the intents'
//! examples); a slot class constrains the answer to digits, a yes/no, a number and so on; no
//! phrases and no slot means free dictation.

mod pool;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ivr_media::audio::{resample, Frame16k, Hz16000, SampleRate};

pub use pool::{AsrPool, AsrStream, PoolStats};

/// What a recogniser should listen for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Grammar {
    /// BCP 47 language tag (`en-US`, `en-GB`, `zh-CN`).
    pub language: String,
    /// Phrases to expect (usually the examples of the intents that can match).
    pub phrases: Vec<String>,
    /// The kind of answer expected, if a slot is being collected.
    pub slot: Option<SlotClass>,
}

impl Grammar {
    /// Free dictation in `language`.
    pub fn dictation(language: &str) -> Grammar {
        Grammar {
            language: language.to_string(),
            phrases: Vec::new(),
            slot: None,
        }
    }

    /// Phrases in `language`.
    pub fn phrases<S: AsRef<str>>(language: &str, phrases: &[S]) -> Grammar {
        Grammar {
            language: language.to_string(),
            phrases: phrases.iter().map(|p| p.as_ref().to_string()).collect(),
            slot: None,
        }
    }

    /// A slot of class `slot` in `language`.
    pub fn slot(language: &str, slot: SlotClass) -> Grammar {
        Grammar {
            language: language.to_string(),
            phrases: Vec::new(),
            slot: Some(slot),
        }
    }

    /// Whether this is free dictation (no phrases, no slot).
    pub fn is_dictation(&self) -> bool {
        self.phrases.is_empty() && self.slot.is_none()
    }
}

/// The kind of answer a slot expects (mirrors the dial plan's slot types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotClass {
    /// A string of `min..=max` spoken digits.
    Digits {
        /// Fewest digits.
        min: u32,
        /// Most digits.
        max: u32,
    },
    /// A number in words.
    Number,
    /// An amount of money.
    Currency,
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// Yes or no.
    YesNo,
    /// A telephone number, digit by digit.
    Phone,
}

/// One recognised word with its timing from the start of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word as the dictionary spells it, without pronunciation variant markers.
    pub text: String,
    /// Start, in milliseconds from the first pushed sample.
    pub start_ms: u32,
    /// End, in milliseconds from the first pushed sample.
    pub end_ms: u32,
}

/// A recognition result.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The words, space-separated, lower case; empty when nothing was recognised.
    pub text: String,
    /// Confidence in 0..1 (each engine documents its mapping).
    pub confidence: f32,
    /// The words with timings (may be empty for partial results).
    pub words: Vec<Word>,
    /// Whether this is the final result of the utterance.
    pub is_final: bool,
    /// Engine time from `finish` to this result (zero for partial results).
    pub latency: Duration,
}

impl Transcript {
    /// An empty final result (nothing recognised).
    pub fn empty() -> Transcript {
        Transcript {
            text: String::new(),
            confidence: 0.0,
            words: Vec::new(),
            is_final: true,
            latency: Duration::ZERO,
        }
    }
}

/// Why recognition failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AsrError {
    /// A model file or directory does not exist.
    #[error("speech model not found: {path} does not exist; install the model (Debian: `apt install pocketsphinx-en-us`) or set the model directory in the config")]
    ModelMissing {
        /// The missing path.
        path: PathBuf,
    },
    /// A model file exists but could not be used.
    #[error("speech model {path} is unusable: {reason}")]
    ModelInvalid {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The engine failed while decoding.
    #[error("speech recognition failed: {0}")]
    Engine(String),
    /// Every stream slot (or the hand-over buffer of a stream) is in use; fall back to DTMF.
    #[error("speech recognition is at capacity; use keypad input instead")]
    Busy,
    /// The stream or the pool has been closed.
    #[error("the speech recognition stream is closed")]
    Closed,
    /// The engine has no model for the grammar's language.
    #[error("no speech recognition model for language `{language}`; use keypad input instead")]
    Unsupported {
        /// The requested language tag.
        language: String,
    },
    /// The grammar has nothing the engine can recognise (every word unknown).
    #[error("the speech grammar is empty: {0}")]
    EmptyGrammar(String),
    /// An audio file could not be read.
    #[error("cannot read audio file {path}: {reason}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A speech recognition engine. Implementations are synchronous; [`AsrPool`] runs them on
/// worker threads.
pub trait Recognizer: Send + Sync + 'static {
    /// A short engine name for logs and metrics (`pocketsphinx`).
    fn name(&self) -> &'static str;

    /// Opens a stream listening for `grammar`. May take time (model or grammar loading).
    fn open(&self, grammar: &Grammar) -> Result<Box<dyn RecognizerStream>, AsrError>;

    /// A cheap check, without loading anything, that the engine can serve `grammar` at all
    /// (for example its language); [`AsrPool::open`] calls it before queueing.
    fn check(&self, grammar: &Grammar) -> Result<(), AsrError> {
        let _ = grammar;
        Ok(())
    }
}

/// One utterance being recognised.
pub trait RecognizerStream: Send {
    /// Feeds 20 ms of 16 kHz audio.
    fn push(&mut self, frame: &Frame16k) -> Result<(), AsrError>;
    /// The best hypothesis so far, if any words were recognised.
    fn partial(&mut self) -> Option<Transcript>;
    /// Ends the utterance and returns the final result.
    fn finish(&mut self) -> Result<Transcript, AsrError>;
}

/// Recognises a whole WAV file (16-bit integer or 32-bit float PCM, any rate, channels mixed
/// down) with `grammar`.
pub fn transcribe_wav(
    engine: &dyn Recognizer,
    path: &Path,
    grammar: &Grammar,
) -> Result<Transcript, AsrError> {
    let samples = read_wav_16k(path)?;
    engine.check(grammar)?;
    let mut stream = engine.open(grammar)?;
    for chunk in samples.chunks(Hz16000::FRAME_SAMPLES) {
        stream.push(&Frame16k::from_slice_padded(chunk))?;
    }
    stream.finish()
}

/// Reads a WAV file as mono 16 kHz samples.
pub fn read_wav_16k(path: &Path) -> Result<Vec<i16>, AsrError> {
    let audio_error = |reason: String| AsrError::Audio {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| audio_error(e.to_string()))?;
    let spec = reader.spec();
    if !(4000..=192_000).contains(&spec.sample_rate) {
        return Err(audio_error(format!(
            "sample rate {} Hz is not supported (4,000 to 192,000 Hz)",
            spec.sample_rate
        )));
    }
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader
            .samples::<i16>()
            .map(|s| s.map(|v| v as f32))
            .collect::<Result<_, _>>(),
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .map(|s| s.map(|v| v * 32767.0))
            .collect::<Result<_, _>>(),
        (format, bits) => {
            return Err(audio_error(format!(
                "{bits}-bit {format:?} samples are not supported; convert to 16-bit PCM (sox in.wav -b 16 out.wav)"
            )))
        }
    }
    .map_err(|e| audio_error(e.to_string()))?;
    let mono: Vec<i16> = interleaved
        .chunks(channels)
        .map(|c| (c.iter().sum::<f32>() / c.len() as f32).clamp(-32768.0, 32767.0) as i16)
        .collect();
    if mono.is_empty() {
        return Err(audio_error("the file has no samples".into()));
    }
    Ok(resample(&mono, spec.sample_rate, Hz16000::HZ))
}

/// Whether `language` (a BCP 47 tag) is English.
pub fn is_english(language: &str) -> bool {
    let primary = language.split(['-', '_']).next().unwrap_or("");
    primary.eq_ignore_ascii_case("en") || language.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_tags_are_recognised_and_others_are_not() {
        assert!(is_english("en-US"));
        assert!(is_english("en_gb"));
        assert!(is_english("EN"));
        assert!(!is_english("zh-CN"));
        assert!(!is_english("fr"));
    }

    #[test]
    fn dictation_is_a_grammar_without_phrases_or_slot() {
        assert!(Grammar::dictation("en-US").is_dictation());
        assert!(!Grammar::phrases("en-US", &["check my balance"]).is_dictation());
        assert!(!Grammar::slot("en-US", SlotClass::YesNo).is_dictation());
    }

    #[test]
    fn a_missing_wav_is_an_error_naming_the_file() {
        let err = read_wav_16k(Path::new("/nonexistent/x.wav")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.wav"), "{err}");
    }
}
