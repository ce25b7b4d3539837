//! Text-to-speech: requests, the engine trait, and the cache every call goes through.
//!
//! A request is keyed by (text, language, voice, rate). [`CachedSynthesizer::speak`] looks in
//! memory, then on disk (`DIR/<key hash>.wav`, 8 kHz mono), and renders only on a miss: the
//! engine's output is resampled to 8 kHz once and G.711-encoded once, so every call that says the
//! same sentence shares the same bytes. Plans render their fixed prompts at load time
//! ([`CachedSynthesizer::warm`]) so the first caller waits for nothing.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ivr_media::audio::wav::{EncodedPrompt, Prompt};

use crate::espeak::{Espeak, EspeakJob};

/// Why speech could not be produced.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TtsError {
    /// The engine's queue is full; the caller should fall back (e.g. to a recorded prompt).
    #[error("the speech synthesizer is busy")]
    Busy,
    /// The request cannot be rendered (unknown voice, bad text).
    #[error("cannot synthesise: {0}")]
    Request(String),
    /// The engine failed.
    #[error("speech synthesizer failed: {0}")]
    Engine(String),
}

/// What to say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpeakRequest {
    /// The text (UTF-8).
    pub text: String,
    /// BCP 47 language: `en-US`, `en-GB`, `zh-CN`, ...
    pub language: String,
    /// Engine voice overriding the language's default (`en-us+f3`).
    pub voice: Option<String>,
    /// Words per minute.
    pub rate: Option<u32>,
}

impl SpeakRequest {
    /// A request in `language` with the default voice and rate.
    pub fn new(text: impl Into<String>, language: impl Into<String>) -> SpeakRequest {
        SpeakRequest {
            text: text.into(),
            language: language.into(),
            voice: None,
            rate: None,
        }
    }
}

/// Rendered speech, shared by every call that says it.
#[derive(Debug)]
pub struct Speech {
    /// 8 kHz samples.
    pub prompt: Prompt,
    /// The same, G.711-encoded, frame by frame (shared with the calls playing it).
    pub encoded: Arc<EncodedPrompt>,
}

impl Speech {
    fn new(prompt: Prompt) -> Arc<Speech> {
        let encoded = Arc::new(EncodedPrompt::new(&prompt));
        Arc::new(Speech { prompt, encoded })
    }
}

/// A speech engine: renders a request to PCM at its own sample rate.
pub trait Synthesizer: Send + Sync + 'static {
    /// Renders `req`, returning samples and their sample rate.
    fn render(
        &self,
        req: &SpeakRequest,
    ) -> impl std::future::Future<Output = Result<(Vec<i16>, u32), TtsError>> + Send;
}

/// espeak-ng as a [`Synthesizer`].
#[derive(Clone)]
pub struct EspeakSynthesizer {
    espeak: Espeak,
    default_rate: u32,
}

impl EspeakSynthesizer {
    /// Uses the process's espeak-ng thread (started on first use with a queue of `queue`).
    pub fn start(queue: usize) -> Result<EspeakSynthesizer, TtsError> {
        Ok(EspeakSynthesizer {
            espeak: Espeak::shared(queue)?,
            default_rate: 165,
        })
    }

    /// The espeak-ng voice for a BCP 47 language tag.
    pub fn voice_for(language: &str) -> &'static str {
        let l = language.to_ascii_lowercase();
        match l.as_str() {
            "en-gb" => "en-gb",
            l if l.starts_with("zh") || l.starts_with("cmn") => "cmn",
            l if l.starts_with("yue") => "yue",
            _ => "en-us",
        }
    }
}

impl Synthesizer for EspeakSynthesizer {
    async fn render(&self, req: &SpeakRequest) -> Result<(Vec<i16>, u32), TtsError> {
        let job = EspeakJob {
            text: req.text.clone(),
            voice: req
                .voice
                .clone()
                .unwrap_or_else(|| Self::voice_for(&req.language).to_string()),
            rate: req.rate.unwrap_or(self.default_rate),
            pitch: 50,
        };
        let samples = self.espeak.render(job).await?;
        Ok((samples, self.espeak.sample_rate()))
    }
}

/// Cache statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Served from memory.
    pub memory_hits: u64,
    /// Loaded from disk.
    pub disk_hits: u64,
    /// Rendered by the engine.
    pub renders: u64,
}

/// A synthesizer with a memory and disk cache in front.
pub struct CachedSynthesizer<S> {
    engine: S,
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<SpeakRequest, Arc<Speech>>>,
    stats: Mutex<CacheStats>,
}

impl<S: Synthesizer> CachedSynthesizer<S> {
    /// Caches `engine`'s output in memory and, when `dir` is given, on disk.
    pub fn new(engine: S, dir: Option<PathBuf>) -> CachedSynthesizer<S> {
        if let Some(d) = &dir {
            if let Err(e) = std::fs::create_dir_all(d) {
                tracing::warn!(dir = %d.display(), error = %e, "TTS disk cache disabled");
            }
        }
        CachedSynthesizer {
            engine,
            dir,
            memory: Mutex::new(HashMap::new()),
            stats: Mutex::new(CacheStats::default()),
        }
    }

    /// The speech for `req`, rendering it only if neither cache has it.
    pub async fn speak(&self, req: &SpeakRequest) -> Result<Arc<Speech>, TtsError> {
        if let Some(hit) = self.memory.lock().ok().and_then(|m| m.get(req).cloned()) {
            self.count(|s| s.memory_hits += 1);
            return Ok(hit);
        }
        if let Some(path) = self.disk_path(req) {
            if let Ok(prompt) = Prompt::load(&path) {
                let speech = Speech::new(prompt);
                self.remember(req, &speech);
                self.count(|s| s.disk_hits += 1);
                return Ok(speech);
            }
        }
        let (samples, rate) = self.engine.render(req).await?;
        if samples.is_empty() {
            return Err(TtsError::Request(format!(
                "nothing to say for {:?}",
                req.text
            )));
        }
        // Resampled to 8 kHz once, here.
        let prompt = Prompt::from_samples(samples, rate);
        if let Some(path) = self.disk_path(req) {
            if let Err(e) = write_wav(&path, prompt.samples()) {
                tracing::debug!(path = %path.display(), error = %e, "TTS disk cache write failed");
            }
        }
        let speech = Speech::new(prompt);
        self.remember(req, &speech);
        self.count(|s| s.renders += 1);
        Ok(speech)
    }

    /// Renders every request now (at plan load), so calls find them cached. Returns the failures.
    pub async fn warm(
        &self,
        reqs: impl IntoIterator<Item = SpeakRequest>,
    ) -> Vec<(SpeakRequest, TtsError)> {
        let mut failed = Vec::new();
        for req in reqs {
            if let Err(e) = self.speak(&req).await {
                failed.push((req, e));
            }
        }
        failed
    }

    /// Counters so far.
    pub fn stats(&self) -> CacheStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    fn remember(&self, req: &SpeakRequest, speech: &Arc<Speech>) {
        if let Ok(mut m) = self.memory.lock() {
            m.insert(req.clone(), speech.clone());
        }
    }

    fn count(&self, f: impl FnOnce(&mut CacheStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    fn disk_path(&self, req: &SpeakRequest) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{}.wav", key_hash(req))))
    }
}

/// A stable 128-bit hex digest of a request (two differently salted SipHash-1-3 runs).
fn key_hash(req: &SpeakRequest) -> String {
    let mut out = String::with_capacity(32);
    for salt in [0x5eed_u64, 0xc0ffee] {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        req.hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn write_wav(path: &Path, samples: &[i16]) -> std::io::Result<()> {
    // Write to a temporary name and rename, so a crash never leaves a truncated cache entry.
    let tmp = path.with_extension("wav.tmp");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&tmp, spec).map_err(std::io::Error::other)?;
    for s in samples {
        w.write_sample(*s).map_err(std::io::Error::other)?;
    }
    w.finalize().map_err(std::io::Error::other)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake engine for the cache's own tests: a tone whose length follows the text.
    struct Tone;

    impl Synthesizer for Tone {
        async fn render(&self, req: &SpeakRequest) -> Result<(Vec<i16>, u32), TtsError> {
            if req.text == "fail" {
                return Err(TtsError::Engine("boom".into()));
            }
            Ok((
                (0..req.text.len() * 160)
                    .map(|i| ((i % 16) as i16 - 8) * 1000)
                    .collect(),
                16000,
            ))
        }
    }

    #[tokio::test]
    async fn renders_once_then_serves_from_memory_then_from_disk() {
        let dir = std::env::temp_dir().join(format!("ivr-tts-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = CachedSynthesizer::new(Tone, Some(dir.clone()));
        let req = SpeakRequest::new("hello", "en-US");
        let a = cache.speak(&req).await.unwrap();
        let b = cache.speak(&req).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            a.prompt.samples().len(),
            5 * 160 / 2,
            "16 kHz resampled to 8 kHz"
        );
        assert_eq!(
            cache.stats(),
            CacheStats {
                memory_hits: 1,
                disk_hits: 0,
                renders: 1
            }
        );
        let fresh = CachedSynthesizer::new(Tone, Some(dir.clone()));
        let c = fresh.speak(&req).await.unwrap();
        assert_eq!(c.prompt.samples(), a.prompt.samples());
        assert_eq!(fresh.stats().disk_hits, 1);
        let other = SpeakRequest {
            rate: Some(200),
            ..req.clone()
        };
        fresh.speak(&other).await.unwrap();
        assert_eq!(
            fresh.stats().renders,
            1,
            "a different rate is a different entry"
        );
        assert_eq!(
            fresh
                .speak(&SpeakRequest::new("fail", "en-US"))
                .await
                .unwrap_err(),
            TtsError::Engine("boom".into())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn languages_map_to_espeak_voices() {
        assert_eq!(EspeakSynthesizer::voice_for("en-US"), "en-us");
        assert_eq!(EspeakSynthesizer::voice_for("en-GB"), "en-gb");
        assert_eq!(EspeakSynthesizer::voice_for("zh-CN"), "cmn");
    }
}
