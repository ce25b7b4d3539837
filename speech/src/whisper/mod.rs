//! Whisper, the accurate (and slower) recogniser: whisper.cpp through the `whisper-rs` crate,
//! behind the `whisper` cargo feature.
//!
//! # Model and streams
//!
//! [`Whisper::open`] first walks the model file in Rust ([`ggml::inspect`]): whisper.cpp's
//! loader trusts its input and can abort the process on a corrupt file, and its own error does
//! not say which file or what is wrong. Only then is the model loaded, once; every stream
//! shares it, and each inference creates its own whisper.cpp state (the per-utterance working
//! memory), so any number of pool workers can decode at once.
//!
//! Whisper is not a streaming recogniser. A stream buffers the utterance the endpointer cut
//! (16 kHz, up to [`WhisperConfig::max_utterance`], 30 s by default — one Whisper window;
//! audio beyond it is dropped) and runs the whole inference in
//! [`RecognizerStream::finish`], which [`AsrPool`](crate::asr::AsrPool) calls on its worker
//! thread. [`RecognizerStream::partial`] always answers `None`. Size the pool so that
//! `workers × threads` is about the number of cores.
//!
//! # Language and bias
//!
//! The language comes from [`WhisperConfig::language`] when set, otherwise from the grammar's
//! BCP 47 tag: its primary subtag (`en-US` → `en`, `zh-CN` and `cmn` → `zh`); `auto` or an
//! empty tag lets Whisper detect it. English-only models (`*.en.bin`) serve English only.
//! The grammar's phrases, joined into one sentence, are given to the decoder as the previous
//! text (Whisper's "initial prompt"): a bias towards their words and spelling, not a
//! constraint — Whisper can still answer anything.
//!
//! # Text
//!
//! Whisper writes cased, punctuated text. Transcripts are lower-cased and punctuation becomes
//! a word break, except apostrophes inside words, and `.`, `:` between digits (`12.50`,
//! `10:30`); a `,` between digits is dropped (`1,000` → `1000`). Numbers stay in digits as
//! Whisper writes them. Words carry whisper.cpp's token-level timestamps; Chinese, written
//! without spaces, comes back as one word per run of characters between punctuation.
//!
//! # Confidence
//!
//! The geometric mean of the probabilities of the text tokens (what the decoder believed of
//! each token it chose), times one minus the model's no-speech probability for the window:
//! clean, in-vocabulary speech scores 0.8–0.95, mumbling and noise much lower; an empty result
//! scores 0.

pub mod ggml;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use ivr_media::audio::Frame16k;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::asr::{AsrError, Grammar, Recognizer, RecognizerStream, Transcript, Word};
pub use ggml::{Hparams, ModelInfo};

/// Samples per second Whisper takes.
const RATE: usize = 16_000;
/// Utterances shorter than this (100 ms) are not decoded: whisper.cpp skips them anyway.
const MIN_SAMPLES: usize = RATE / 10;
/// Prompt text kept from a grammar's phrases, in bytes.
const MAX_PROMPT_BYTES: usize = 1_000;
/// Samples reserved when a stream starts (4 s); the buffer grows to `max_utterance`.
const INITIAL_SAMPLES: usize = 4 * RATE;

/// Where the model is and how inference runs.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// The ggml model file (`ggml-base.bin`, `ggml-small.en.bin`).
    pub model: PathBuf,
    /// The language for every stream (`en`, `zh`, `auto` to detect); `None` takes it from
    /// each grammar's BCP 47 tag.
    pub language: Option<String>,
    /// CPU threads per inference.
    pub threads: usize,
    /// Beam width; 1 decodes greedily (fastest).
    pub beam_size: usize,
    /// Longest utterance kept; audio beyond it is dropped. Whisper decodes 30 s at a time.
    pub max_utterance: Duration,
    /// Whether the grammar's phrases are given to the decoder as a prompt.
    pub prompt_with_phrases: bool,
}

impl WhisperConfig {
    /// The defaults for `model`: language from the grammar, up to 4 threads (the cores
    /// available), greedy decoding, 30 s utterances, phrases as prompt.
    pub fn new(model: impl Into<PathBuf>) -> WhisperConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        WhisperConfig {
            model: model.into(),
            language: None,
            threads: cores.min(4),
            beam_size: 1,
            max_utterance: Duration::from_secs(30),
            prompt_with_phrases: true,
        }
    }
}

/// The Whisper engine: the loaded model, shared by every stream; cheap to clone.
#[derive(Clone)]
pub struct Whisper {
    inner: Arc<Inner>,
}

struct Inner {
    config: WhisperConfig,
    ctx: WhisperContext,
    info: ModelInfo,
    /// Language codes the model has tokens for, in whisper.cpp's order.
    languages: Vec<&'static str>,
    max_samples: usize,
}

/// A stream's language: a code whisper.cpp knows, or detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Fixed(&'static str),
    Detect,
}

impl Whisper {
    /// Checks the model file (it exists, is readable, is a complete ggml Whisper model) and
    /// loads it. Errors name the path: [`AsrError::ModelMissing`] or
    /// [`AsrError::ModelInvalid`] with the reason.
    pub fn open(config: WhisperConfig) -> Result<Whisper, AsrError> {
        let info = ggml::inspect(&config.model)?;
        install_log_hooks();
        let invalid = |reason: String| AsrError::ModelInvalid {
            path: config.model.clone(),
            reason,
        };
        let path = config
            .model
            .to_str()
            .ok_or_else(|| invalid("the path is not valid UTF-8; rename the file".into()))?;
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let ctx = WhisperContext::new_with_params(path, params)
            .map_err(|e| invalid(format!("whisper.cpp could not load it ({e})")))?;
        let languages = if info.hparams.is_multilingual() {
            (0..=whisper_rs::get_lang_max_id())
                .map_while(whisper_rs::get_lang_str)
                .take(info.hparams.languages())
                .collect()
        } else {
            vec!["en"]
        };
        let max_samples = (config.max_utterance.as_millis() as usize)
            .saturating_mul(RATE / 1000)
            .max(MIN_SAMPLES);
        tracing::info!(
            model = %config.model.display(),
            size = info.hparams.size_name(),
            languages = languages.len(),
            "whisper model loaded"
        );
        Ok(Whisper {
            inner: Arc::new(Inner {
                config,
                ctx,
                info,
                languages,
                max_samples,
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &WhisperConfig {
        &self.inner.config
    }

    /// What the model file holds.
    pub fn model(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// The Whisper language code used for `grammar` (`en`, `zh`), or `auto` when Whisper
    /// detects it; [`AsrError::Unsupported`] when the model has no such language.
    pub fn language_for(&self, grammar: &Grammar) -> Result<&'static str, AsrError> {
        Ok(match self.inner.language(grammar)? {
            Language::Fixed(code) => code,
            Language::Detect => "auto",
        })
    }
}

impl Inner {
    fn language(&self, grammar: &Grammar) -> Result<Language, AsrError> {
        let tag = self.config.language.as_deref().unwrap_or(&grammar.language);
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let unsupported = || AsrError::Unsupported {
            language: tag.to_string(),
        };
        let code = match primary.as_str() {
            "" | "auto" if self.languages.len() > 1 => return Ok(Language::Detect),
            "" | "auto" => "en",
            "cmn" => "zh",
            other => other,
        };
        self.languages
            .iter()
            .find(|&&l| l == code)
            .map(|&l| Language::Fixed(l))
            .ok_or_else(unsupported)
    }

    /// The grammar's phrases as prompt tokens (the first `n_text_ctx / 2 - 1`, which is all
    /// whisper.cpp keeps).
    fn prompt(&self, grammar: &Grammar) -> Vec<i32> {
        if !self.config.prompt_with_phrases || grammar.phrases.is_empty() {
            return Vec::new();
        }
        let mut text = String::new();
        for phrase in &grammar.phrases {
            let phrase = phrase.trim();
            if phrase.is_empty() {
                continue;
            }
            if text.len() + phrase.len() + 2 > MAX_PROMPT_BYTES {
                break;
            }
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.extend(phrase.chars().filter(|&c| c != '\0'));
        }
        if text.is_empty() {
            return Vec::new();
        }
        text.push('.');
        match self.ctx.tokenize(&text, text.len() + 8) {
            Ok(mut tokens) => {
                tokens.truncate((self.info.hparams.n_text_ctx / 2 - 1).max(0) as usize);
                tokens
            }
            Err(e) => {
                tracing::debug!(error = %e, "whisper cannot tokenize the grammar prompt; decoding without it");
                Vec::new()
            }
        }
    }
}

impl Recognizer for Whisper {
    fn name(&self) -> &'static str {
        "whisper"
    }

    fn open(&self, grammar: &Grammar) -> Result<Box<dyn RecognizerStream>, AsrError> {
        let language = self.inner.language(grammar)?;
        Ok(Box::new(WhisperStream {
            prompt: self.inner.prompt(grammar),
            inner: self.inner.clone(),
            language,
            samples: Vec::with_capacity(INITIAL_SAMPLES.min(self.inner.max_samples)),
            dropped: 0,
        }))
    }

    fn check(&self, grammar: &Grammar) -> Result<(), AsrError> {
        self.inner.language(grammar).map(|_| ())
    }
}

/// One utterance: its samples, language and prompt.
struct WhisperStream {
    inner: Arc<Inner>,
    language: Language,
    prompt: Vec<i32>,
    samples: Vec<f32>,
    /// Samples dropped past `max_utterance`.
    dropped: usize,
}

impl RecognizerStream for WhisperStream {
    fn push(&mut self, frame: &Frame16k) -> Result<(), AsrError> {
        let room = self.inner.max_samples.saturating_sub(self.samples.len());
        let s = frame.samples();
        let keep = s.len().min(room);
        self.samples
            .extend(s.iter().take(keep).map(|&v| f32::from(v) / 32768.0));
        self.dropped += s.len() - keep;
        Ok(())
    }

    fn partial(&mut self) -> Option<Transcript> {
        None
    }

    fn finish(&mut self) -> Result<Transcript, AsrError> {
        let started = Instant::now();
        if self.dropped > 0 {
            tracing::debug!(
                dropped_ms = self.dropped / (RATE / 1000),
                "utterance longer than the whisper limit; its end was not decoded"
            );
        }
        if self.samples.len() < MIN_SAMPLES {
            return Ok(Transcript {
                latency: started.elapsed(),
                ..Transcript::empty()
            });
        }
        let inner = &self.inner;
        let mut state = inner
            .ctx
            .create_state()
            .map_err(|e| AsrError::Engine(format!("cannot create a whisper state: {e}")))?;
        // The template's prompt lifetime narrows to this stream's tokens (`FullParams` is covariant).
        let mut params: FullParams<'static, '_> = template(self.language, inner.config.beam_size);
        params.set_n_threads(inner.config.threads.clamp(1, 64) as i32);
        params.set_tokens(&self.prompt);
        state
            .full(params, &self.samples)
            .map_err(|e| AsrError::Engine(format!("whisper inference failed: {e}")))?;

        let eot = inner.ctx.token_eot();
        let mut tokens = Vec::new();
        let mut no_speech = 0.0f32;
        for segment in state.as_iter() {
            no_speech = no_speech.max(segment.no_speech_probability());
            for i in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(i) else {
                    continue;
                };
                if token.token_id() >= eot {
                    continue;
                }
                let data = token.token_data();
                tokens.push(Token {
                    bytes: token.to_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
                    p: data.p,
                    t0: data.t0,
                    t1: data.t1,
                });
            }
        }
        let mut transcript = assemble(&tokens, no_speech);
        transcript.latency = started.elapsed();
        Ok(transcript)
    }
}

/// A decoded text token.
struct Token {
    bytes: Vec<u8>,
    p: f32,
    /// Start and end in 10 ms units.
    t0: i64,
    t1: i64,
}

/// Builds the transcript from text tokens: words at leading spaces, normalised text,
/// confidence as documented in the module.
fn assemble(tokens: &[Token], no_speech: f32) -> Transcript {
    let mut words = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let (mut start, mut end) = (0i64, 0i64);
    let mut flush = |bytes: &mut Vec<u8>, start: i64, end: i64| {
        let text = normalise(&String::from_utf8_lossy(bytes));
        for w in text.split_whitespace() {
            words.push(Word {
                text: w.to_string(),
                start_ms: centis_to_ms(start),
                end_ms: centis_to_ms(end.max(start)),
            });
        }
        bytes.clear();
    };
    for t in tokens {
        if t.bytes.first() == Some(&b' ') && !pending.is_empty() {
            flush(&mut pending, start, end);
        }
        if pending.is_empty() {
            start = t.t0;
        }
        pending.extend_from_slice(&t.bytes);
        end = t.t1;
    }
    flush(&mut pending, start, end);
    if words.is_empty() {
        return Transcript::empty();
    }
    let logs: Vec<f32> = tokens.iter().map(|t| t.p.clamp(1e-6, 1.0).ln()).collect();
    let mean = logs.iter().sum::<f32>() / logs.len().max(1) as f32;
    let confidence = (mean.exp() * (1.0 - no_speech.clamp(0.0, 1.0))).clamp(0.0, 1.0);
    Transcript {
        text: words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        confidence: if confidence.is_finite() {
            confidence
        } else {
            0.0
        },
        words,
        is_final: true,
        latency: Duration::ZERO,
    }
}

fn centis_to_ms(t: i64) -> u32 {
    u32::try_from(t.max(0).saturating_mul(10)).unwrap_or(u32::MAX)
}

/// Lower case; punctuation becomes a space except as the module documents.
fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let digits =
            prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit());
        let letters =
            prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric);
        match c {
            '\'' | '’' if letters => out.push('\''),
            '.' | ':' if digits => out.push(c),
            ',' if digits => {}
            '$' | '%' | '€' | '£' | '¥' => out.push(c),
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Routes whisper.cpp's and ggml's logs to `tracing`, once per process.
fn install_log_hooks() {
    static HOOKS: Once = Once::new();
    HOOKS.call_once(whisper_rs::install_logging_hooks);
}

/// Most decoding templates kept per worker thread.
const MAX_TEMPLATES: usize = 64;

thread_local! {
    /// Decoding parameters by (language, beam), per worker thread. whisper-rs leaks the C
    /// string of each `set_language` call, so each language is set once per thread and the
    /// parameters cloned for every utterance.
    static TEMPLATES: RefCell<Vec<(Language, usize, FullParams<'static, 'static>)>> =
        const { RefCell::new(Vec::new()) };
}

/// Decoding parameters for `language` and `beam`: one segment, no carried context, no
/// console output, token timestamps for the words.
fn template(language: Language, beam: usize) -> FullParams<'static, 'static> {
    TEMPLATES.with(|cell| {
        let mut templates = cell.borrow_mut();
        if let Some((_, _, p)) = templates
            .iter()
            .find(|(l, b, _)| *l == language && *b == beam)
        {
            return p.clone();
        }
        let strategy = if beam > 1 {
            SamplingStrategy::BeamSearch {
                beam_size: beam.min(16) as i32,
                patience: -1.0,
            }
        } else {
            SamplingStrategy::Greedy { best_of: 1 }
        };
        let mut p = FullParams::new(strategy);
        p.set_language(match language {
            Language::Fixed(code) => Some(code),
            Language::Detect => Some("auto"),
        });
        p.set_translate(false);
        p.set_no_context(true);
        p.set_single_segment(true);
        p.set_token_timestamps(true);
        p.set_suppress_nst(true);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        if templates.len() < MAX_TEMPLATES {
            templates.push((language, beam, p.clone()));
        }
        p
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str, p: f32, t0: i64, t1: i64) -> Token {
        Token {
            bytes: text.as_bytes().to_vec(),
            p,
            t0,
            t1,
        }
    }

    #[test]
    fn punctuation_breaks_words_but_numbers_and_contractions_survive() {
        assert_eq!(
            normalise("Check my balance, please."),
            "check my balance please"
        );
        assert_eq!(
            normalise("I'd like $1,000.50 at 10:30"),
            "i'd like $1000.50 at 10:30"
        );
        assert_eq!(normalise("你好，我要查余额。"), "你好 我要查余额");
        assert_eq!(normalise("  Yes!  "), "yes");
        assert_eq!(normalise("'quoted'"), "quoted");
    }

    #[test]
    fn tokens_join_into_words_at_leading_spaces_with_their_timings() {
        let t = assemble(
            &[
                token(" Check", 0.9, 10, 40),
                token(" my", 0.9, 40, 50),
                token(" bal", 0.9, 50, 70),
                token("ance.", 0.9, 70, 95),
            ],
            0.0,
        );
        assert_eq!(t.text, "check my balance");
        assert_eq!(t.words.len(), 3);
        assert_eq!((t.words[2].start_ms, t.words[2].end_ms), (500, 950));
        assert!(t.is_final);
    }

    #[test]
    fn multibyte_characters_split_across_tokens_are_rejoined() {
        let yu = "余".as_bytes();
        let t = assemble(
            &[
                Token {
                    bytes: [b"\xe6\x9f\xa5".as_slice(), &yu[..1]].concat(),
                    p: 0.8,
                    t0: 0,
                    t1: 10,
                },
                Token {
                    bytes: yu[1..].to_vec(),
                    p: 0.8,
                    t0: 10,
                    t1: 20,
                },
            ],
            0.0,
        );
        assert_eq!(t.text, "查余");
    }

    #[test]
    fn confidence_is_the_geometric_mean_scaled_by_speech_probability() {
        let t = assemble(&[token(" yes", 0.9, 0, 10), token(" no", 0.4, 10, 20)], 0.0);
        assert!((t.confidence - 0.6).abs() < 1e-4, "{}", t.confidence);
        let t = assemble(&[token(" yes", 0.9, 0, 10), token(" no", 0.4, 10, 20)], 0.5);
        assert!((t.confidence - 0.3).abs() < 1e-4, "{}", t.confidence);
        let t = assemble(&[token(" yes", 0.0, 0, 10)], 0.0);
        assert!(t.confidence >= 0.0 && t.confidence < 1e-3);
    }

    #[test]
    fn only_punctuation_is_an_empty_result_with_zero_confidence() {
        let t = assemble(&[token(" ...", 0.9, 0, 10)], 0.0);
        assert_eq!(t, Transcript::empty());
        assert_eq!(assemble(&[], 0.0), Transcript::empty());
    }
}
