//! PocketSphinx, the embedded default recogniser (Debian's `libpocketsphinx3`,
//! 0.8+5prealpha, with the `pocketsphinx-en-us` model).
//!
//! # Decoders
//!
//! A decoder (acoustic model, dictionary, searches) costs about 13 ms and 5 MB to create with
//! a small dictionary, against 150 ms and 28 MB with the full 134,000-word CMU dictionary, so:
//!
//! * decoders start with an empty dictionary and get only the words their grammars use, looked
//!   up in one shared in-memory copy of the CMU dictionary ([`dict::Dictionary`]) and added
//!   with `ps_add_word`;
//! * free dictation (a grammar with no phrases and no slot) loads the full dictionary and the
//!   n-gram model into the decoder that serves it, which then stays a "dictation" decoder;
//! * finished streams hand their decoder back to an idle pool; the next stream takes one that
//!   already holds its grammar if there is one. Each decoder keeps up to
//!   [`PocketSphinxConfig::searches_per_decoder`] compiled grammars, named by a hash of the
//!   grammar, and re-points to one with `ps_set_search` per utterance.
//!
//! # Audio
//!
//! Streams take 16 kHz frames: telephone audio upsampled from 8 kHz, as the `en-us` model is a
//! 16 kHz model. Two measurements on telephone-quality speech (espeak-ng through 8 kHz µ-law)
//! shaped this:
//!
//! * Running the front end at 8 kHz instead (`-samprate 8000 -nfft 256`, upper filter moved to
//!   3,500 Hz in `feat.params`) mismatches the model's filter bank: 0 of 6 test phrases right,
//!   against 6 of 6 upsampled.
//! * The model's initial cepstral mean (`-cmninit` in `feat.params`) is that of wideband
//!   speech. Live cepstral-mean normalisation starts from it and adapts slowly, so the first
//!   utterances of a band-limited stream found no path through the grammar (2 of 6 failed).
//!   The engine therefore loads the model through an overlay directory (links to the model
//!   files and a copy of `feat.params` with [`PocketSphinxConfig::cmn_init`], the mean measured
//!   on telephone-band speech), after which all 6 are right from the first utterance.
//! * Telephone audio has digital silence between words and nothing between 4 and 8 kHz, where
//!   the wideband model was trained on recordings with a noise floor: its upper filters and
//!   the silences give log energies far below anything it saw. Each stream therefore adds
//!   white noise at -50 dBFS ([`PocketSphinxConfig::noise_floor_dbfs`], seeded the same way
//!   for every utterance) before the decoder hears the audio, and [`TELEPHONE_CMN`] is measured
//!   with it. Spoken paraphrases: 51 of 56 intents right instead of 49, 242 of 280 in every
//!   test voice instead of 231, and fewer out-of-domain sentences taken for an intent
//!   (docs/BENCHMARKS.md).
//!
//! # Confidence
//!
//! The confidence is the mean posterior probability of the recognised words, each computed by
//! PocketSphinx from the word lattice (`ps_seg_prob`, converted from the decoder's log base):
//! the share of all paths through the lattice that contain that word at that time. With a
//! strict grammar a word has few competitors and its posterior is near 1; with the phrase
//! bigram, a word the audio fits poorly competes with many others and scores low. A result
//! that is not one of the grammar's phrases word for word is multiplied by
//! [`PARAPHRASE_FACTOR`]: the intent matcher can still use it, but it is a reconstruction.

pub mod arpa;
mod decoder;
pub mod dict;
mod fast_ptm;
mod ffi;
pub mod jsgf;

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ivr_media::audio::Frame16k;

use crate::asr::{is_english, AsrError, Grammar, Recognizer, RecognizerStream, Transcript, Word};
use decoder::Decoder;
use dict::Dictionary;

/// Where the model is and how decoders are tuned.
#[derive(Debug, Clone, PartialEq)]
pub struct PocketSphinxConfig {
    /// Directory holding the acoustic model directory, the dictionary and the language model
    /// (Debian: `/usr/share/pocketsphinx/model/en-us`).
    pub model_dir: PathBuf,
    /// Acoustic model directory, relative to `model_dir` (`en-us`).
    pub acoustic_model: PathBuf,
    /// Pronunciation dictionary, relative to `model_dir` (`cmudict-en-us.dict`).
    pub dictionary: PathBuf,
    /// N-gram language model for dictation, relative to `model_dir` (`en-us.lm.bin`).
    pub language_model: PathBuf,
    /// Initial cepstral mean for live normalisation, replacing the model's `-cmninit` (13
    /// comma-separated values); `None` keeps the model's own (for wideband audio).
    pub cmn_init: Option<String>,
    /// Further replacements of the acoustic model's `feat.params` entries (`("-upperf",
    /// "3800")`), written into the model overlay with `cmn_init`. PocketSphinx reads these
    /// from the model directory after the command line, so they cannot go in `extra_args`.
    pub feat_params: Vec<(String, String)>,
    /// How intent phrases (a grammar with phrases and no slot) become a search.
    pub intent_grammar: IntentGrammar,
    /// Compiled grammars kept per decoder.
    pub searches_per_decoder: usize,
    /// Idle decoders kept for reuse.
    pub max_idle_decoders: usize,
    /// Extra decoder arguments (`("-beam", "1e-60")`), applied last.
    pub extra_args: Vec<(String, String)>,
    /// Score the acoustic model with the engine's SIMD scorer (the library's algorithm, same
    /// results, about twice the streams per core; see `fast_ptm.rs`) when the model is a
    /// phonetically-tied-mixture one, as Debian's `en-us` is.
    pub fast_scoring: bool,
    /// Level of the white noise added to the audio the decoder hears, in dB below full scale
    /// (`None`: none). Telephone audio has digital silence between words and nothing above
    /// 4 kHz, where the wideband model expects a noise floor; a faint floor puts it back
    /// (see the module documentation).
    pub noise_floor_dbfs: Option<f32>,
}

impl Default for PocketSphinxConfig {
    fn default() -> Self {
        PocketSphinxConfig {
            model_dir: PathBuf::from("/usr/share/pocketsphinx/model/en-us"),
            acoustic_model: PathBuf::from("en-us"),
            dictionary: PathBuf::from("cmudict-en-us.dict"),
            language_model: PathBuf::from("en-us.lm.bin"),
            cmn_init: Some(TELEPHONE_CMN.to_string()),
            feat_params: Vec::new(),
            intent_grammar: IntentGrammar::Bigram,
            searches_per_decoder: 32,
            max_idle_decoders: 256,
            extra_args: Vec::new(),
            fast_scoring: true,
            noise_floor_dbfs: Some(NOISE_FLOOR_DBFS),
        }
    }
}

/// The default noise floor: -50 dBFS, an RMS of about 100 in 16-bit samples (see
/// docs/BENCHMARKS.md, "Tuning the recogniser for intents").
pub const NOISE_FLOOR_DBFS: f32 = -50.0;

/// How intent phrases become a search (compared in `tests/asr_accuracy.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntentGrammar {
    /// A JSGF grammar of the whole phrases only.
    Phrases,
    /// A JSGF grammar of the whole phrases or, with `weight` against 1.0, any sequence of their
    /// words.
    PhrasesOrWords {
        /// Weight of the word loop.
        weight: f32,
    },
    /// A bigram language model estimated from the phrases ([`arpa`]); the default.
    Bigram,
}

impl IntentGrammar {
    fn loop_weight(self) -> f32 {
        match self {
            IntentGrammar::PhrasesOrWords { weight } => weight,
            _ => 0.0,
        }
    }
}

/// A grammar compiled for the decoder.
struct Compiled {
    /// JSGF text, or ARPA text for an n-gram search.
    search: CompiledSearch,
    /// The dictionary words it uses.
    words: Vec<String>,
    /// The phrases as word strings, to tell a whole-phrase result from a paraphrase.
    phrases: HashSet<String>,
}

enum CompiledSearch {
    Jsgf(String),
    Arpa(String),
}

/// The cepstral mean of telephone-band speech (8 kHz µ-law upsampled to 16 kHz, with the
/// default noise floor) under the `en-us` front end, measured over 48 utterances in four voices
/// at two speeds by `cargo run -p ivr-speech --release --example telephone_cmn`.
pub const TELEPHONE_CMN: &str =
    "61.48,-4.77,-3.35,17.31,-5.58,-6.98,2.28,-16.61,-1.56,-5.84,-0.77,0.41,-7.36";

/// The same without the noise floor (`noise_floor_dbfs: None`; the example's
/// `--no-noise-floor`).
pub const TELEPHONE_CMN_WITHOUT_NOISE_FLOOR: &str =
    "49.67,24.06,-34.35,45.71,-27.30,-3.34,5.77,-34.14,20.17,-9.15,-2.81,8.48,-14.09";

/// Confidence factor for results that are not a whole phrase of the grammar.
pub const PARAPHRASE_FACTOR: f64 = 0.8;

/// The name of the dictation search.
const DICTATION: &str = "dictation";

/// The PocketSphinx engine: configuration, the shared dictionary and the idle decoders.
#[derive(Clone)]
pub struct PocketSphinx {
    inner: Arc<Inner>,
}

struct Inner {
    config: PocketSphinxConfig,
    /// The acoustic model directory decoders load (the overlay when there is one).
    hmm: PathBuf,
    /// Kept for its clean-up on drop.
    #[allow(dead_code)]
    work: WorkDir,
    dict_path: PathBuf,
    lm: PathBuf,
    dict: Dictionary,
    idle: Mutex<Vec<Pooled>>,
    grammars: Mutex<HashMap<u64, Arc<Compiled>>>,
    /// Scratch directory for language model files.
    work_dir: PathBuf,
    lm_files: std::sync::atomic::AtomicU64,
    /// The acoustic model as the SIMD scorer lays it out, shared by the decoders.
    scoring: fast_ptm::SharedModel,
}

/// A decoder with what it has been given so far.
struct Pooled {
    decoder: Decoder,
    /// Words added to its dictionary.
    words: HashSet<String>,
    /// Compiled grammars, least recently used first.
    searches: VecDeque<u64>,
    /// Those of `searches` that are n-gram models.
    lm_searches: HashSet<u64>,
    /// Whether it holds the full dictionary and the dictation model.
    dictation: bool,
}

impl PocketSphinx {
    /// Checks the model files, loads the dictionary and creates one decoder to prove the
    /// model loads. Errors name the missing or unusable path.
    pub fn open(config: PocketSphinxConfig) -> Result<PocketSphinx, AsrError> {
        let missing = |p: &Path| AsrError::ModelMissing {
            path: p.to_path_buf(),
        };
        if !config.model_dir.is_dir() {
            return Err(missing(&config.model_dir));
        }
        let hmm = config.model_dir.join(&config.acoustic_model);
        let dict_path = config.model_dir.join(&config.dictionary);
        let lm = config.model_dir.join(&config.language_model);
        for p in [hmm.join("mdef"), hmm.join("means"), dict_path.clone()] {
            if !p.is_file() {
                return Err(missing(&p));
            }
        }
        let dict = Dictionary::load(&dict_path)?;
        let work = WorkDir::create(&hmm, config.cmn_init.as_deref(), &config.feat_params)?;
        let inner = Arc::new(Inner {
            hmm: work.hmm.clone(),
            work_dir: work.dir.clone(),
            lm_files: std::sync::atomic::AtomicU64::new(0),
            work,
            config,
            dict_path,
            lm,
            dict,
            idle: Mutex::new(Vec::new()),
            grammars: Mutex::new(HashMap::new()),
            scoring: fast_ptm::SharedModel::default(),
        });
        let first = inner.new_decoder().map_err(|e| match e {
            AsrError::Engine(reason) => AsrError::ModelInvalid {
                path: inner.hmm.clone(),
                reason,
            },
            other => other,
        })?;
        inner.give_back(first);
        Ok(PocketSphinx { inner })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PocketSphinxConfig {
        &self.inner.config
    }

    /// Creates `n` more idle decoders now, so the first calls do not pay for them.
    pub fn prewarm(&self, n: usize) -> Result<(), AsrError> {
        for _ in 0..n {
            let d = self.inner.new_decoder()?;
            self.inner.give_back(d);
        }
        Ok(())
    }

    /// Decoders waiting in the idle pool.
    pub fn idle_decoders(&self) -> usize {
        self.inner.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// The shared pronunciation dictionary.
    pub fn dictionary(&self) -> &Dictionary {
        &self.inner.dict
    }

    /// Whether the decoders score the acoustic model with the engine's SIMD scorer (see
    /// [`PocketSphinxConfig::fast_scoring`]) rather than the library's own.
    pub fn simd_scoring(&self) -> bool {
        self.inner.scoring.in_use()
    }

    /// Creates a bare decoder (no grammar), for measuring start-up cost.
    pub fn bench_new_decoder(&self) -> Result<(), AsrError> {
        self.inner.new_decoder().map(drop)
    }
}

impl Inner {
    fn new_decoder(&self) -> Result<Pooled, AsrError> {
        let hmm = self.hmm.to_string_lossy().into_owned();
        // `-remove_noise no`: the spectral noise subtraction estimates its floor from the
        // first frames of each stream, and digital silence there (padding, silence
        // suppression) skews it; without it paraphrase accuracy went from 80.4% to 83.9%.
        let mut args: Vec<(&str, String)> = vec![
            ("-hmm", hmm),
            ("-dict", "/dev/null".into()),
            ("-remove_noise", "no".into()),
        ];
        for (k, v) in &self.config.extra_args {
            args.push((k.as_str(), v.clone()));
        }
        let decoder = Decoder::new(&args, self.config.fast_scoring.then_some(&self.scoring))?;
        Ok(Pooled {
            decoder,
            words: HashSet::new(),
            searches: VecDeque::new(),
            lm_searches: HashSet::new(),
            dictation: false,
        })
    }

    fn give_back(&self, d: Pooled) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.config.max_idle_decoders {
                idle.push(d);
            }
        }
    }

    /// An idle decoder suited to `key` (one that has the grammar, else a plain one for
    /// grammars / a dictation one for dictation), or a new one.
    fn take(&self, key: u64, dictation: bool) -> Result<Pooled, AsrError> {
        if let Ok(mut idle) = self.idle.lock() {
            let pick = if dictation {
                idle.iter().rposition(|d| d.dictation)
            } else {
                idle.iter()
                    .rposition(|d| d.searches.contains(&key))
                    .or_else(|| idle.iter().rposition(|d| !d.dictation))
            }
            .or(if idle.is_empty() {
                None
            } else {
                Some(idle.len() - 1)
            });
            if let Some(i) = pick {
                return Ok(idle.swap_remove(i));
            }
        }
        self.new_decoder()
    }

    fn compiled(&self, key: u64, grammar: &Grammar) -> Result<Arc<Compiled>, AsrError> {
        if let Some(j) = self.grammars.lock().ok().and_then(|g| g.get(&key).cloned()) {
            return Ok(j);
        }
        let phrases: Vec<Vec<String>> = grammar
            .phrases
            .iter()
            .map(|p| jsgf::phrase_words(p, &self.dict))
            .filter(|w| !w.is_empty())
            .collect();
        let phrase_set = phrases.iter().map(|p| p.join(" ")).collect();
        let compiled =
            if grammar.slot.is_none() && self.config.intent_grammar == IntentGrammar::Bigram {
                if phrases.is_empty() {
                    return Err(AsrError::EmptyGrammar(
                        "none of the grammar's words is in the pronunciation dictionary".into(),
                    ));
                }
                let extra: Vec<String> = arpa::COMMON_WORDS
                    .iter()
                    .filter(|w| self.dict.contains(w))
                    .map(|w| w.to_string())
                    .collect();
                let mut words: Vec<String> = phrases.iter().flatten().cloned().collect();
                words.extend(extra.iter().cloned());
                words.sort_unstable();
                words.dedup();
                Compiled {
                    search: CompiledSearch::Arpa(arpa::bigram_arpa(&phrases, &extra)),
                    words,
                    phrases: phrase_set,
                }
            } else {
                let j = jsgf::build(
                    grammar,
                    &self.dict,
                    self.config.intent_grammar.loop_weight(),
                )?;
                Compiled {
                    search: CompiledSearch::Jsgf(j.text),
                    words: j.words,
                    phrases: phrase_set,
                }
            };
        let j = Arc::new(compiled);
        if let Ok(mut g) = self.grammars.lock() {
            if g.len() >= 4096 {
                g.clear();
            }
            g.insert(key, j.clone());
        }
        Ok(j)
    }

    /// Points `d` at the grammar, compiling and adding words as needed.
    fn prepare(&self, d: &mut Pooled, key: u64, grammar: &Grammar) -> Result<(), AsrError> {
        if grammar.is_dictation() {
            if !d.dictation {
                if !self.lm.is_file() {
                    return Err(AsrError::ModelMissing {
                        path: self.lm.clone(),
                    });
                }
                d.decoder.load_dict(&self.dict_path)?;
                d.decoder.set_lm_file(DICTATION, &self.lm)?;
                d.dictation = true;
            }
            return d.decoder.set_search(DICTATION);
        }
        let name = search_name(key);
        if let Some(pos) = d.searches.iter().position(|&k| k == key) {
            d.searches.remove(pos);
        } else {
            let j = self.compiled(key, grammar)?;
            if !d.dictation && j.words.iter().any(|w| !d.words.contains(w)) {
                // Adding a word extends every n-gram search's vocabulary in place, which
                // PocketSphinx's trie models do not support (scoring then reads past the
                // model), so the decoder's phrase models are dropped first and rebuilt when
                // next needed.
                let lm: Vec<u64> = d
                    .searches
                    .iter()
                    .copied()
                    .filter(|k| d.lm_searches.contains(k))
                    .collect();
                for k in lm {
                    d.decoder.unset_search(&search_name(k));
                    d.searches.retain(|&x| x != k);
                    d.lm_searches.remove(&k);
                }
            }
            if !d.dictation {
                for w in &j.words {
                    if d.words.contains(w) {
                        continue;
                    }
                    for (i, phones) in self.dict.pronunciations(w).enumerate() {
                        let entry = if i == 0 {
                            w.clone()
                        } else {
                            format!("{w}({})", i + 1)
                        };
                        d.decoder.add_word(&entry, phones)?;
                    }
                    d.words.insert(w.clone());
                }
            }
            match &j.search {
                CompiledSearch::Jsgf(text) => d.decoder.set_jsgf(&name, text)?,
                CompiledSearch::Arpa(text) => {
                    let n = self
                        .lm_files
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let path = self.work_dir.join(format!("{name}-{n}.arpa"));
                    std::fs::write(&path, text).map_err(|e| {
                        AsrError::Engine(format!("cannot write {}: {e}", path.display()))
                    })?;
                    let loaded = d.decoder.set_lm_file(&name, &path);
                    let _ = std::fs::remove_file(&path);
                    loaded?;
                    d.lm_searches.insert(key);
                }
            }
            while d.searches.len() >= self.config.searches_per_decoder.max(1) {
                if let Some(old) = d.searches.pop_front() {
                    d.decoder.unset_search(&search_name(old));
                    d.lm_searches.remove(&old);
                }
            }
        }
        d.searches.push_back(key);
        d.decoder.set_search(&name)
    }
}

fn search_name(key: u64) -> String {
    format!("g{key:016x}")
}

fn grammar_key(grammar: &Grammar) -> u64 {
    let mut h = DefaultHasher::new();
    grammar.hash(&mut h);
    h.finish()
}

impl Recognizer for PocketSphinx {
    fn name(&self) -> &'static str {
        "pocketsphinx"
    }

    fn check(&self, grammar: &Grammar) -> Result<(), AsrError> {
        if is_english(&grammar.language) {
            Ok(())
        } else {
            Err(AsrError::Unsupported {
                language: grammar.language.clone(),
            })
        }
    }

    fn open(&self, grammar: &Grammar) -> Result<Box<dyn RecognizerStream>, AsrError> {
        self.check(grammar)?;
        let inner = &self.inner;
        let key = grammar_key(grammar);
        let mut d = inner.take(key, grammar.is_dictation())?;
        if let Err(e) = inner.prepare(&mut d, key, grammar) {
            // A failed grammar may leave the searches half-updated; start that decoder afresh.
            d.searches.clear();
            if !matches!(e, AsrError::EmptyGrammar(_)) {
                return Err(e);
            }
            inner.give_back(d);
            return Err(e);
        }
        d.decoder.start_utt()?;
        let phrases = if grammar.slot.is_none() && !grammar.is_dictation() {
            inner.compiled(key, grammar).ok()
        } else {
            None
        };
        Ok(Box::new(PsStream {
            inner: inner.clone(),
            decoder: Some(d),
            in_utterance: true,
            phrases,
            noise: inner.config.noise_floor_dbfs.map(NoiseFloor::new),
        }))
    }
}

/// One utterance on one decoder.
struct PsStream {
    inner: Arc<Inner>,
    decoder: Option<Pooled>,
    in_utterance: bool,
    /// The compiled intent grammar, to tell whole-phrase results from word-loop ones.
    phrases: Option<Arc<Compiled>>,
    /// Noise added to the audio before the decoder hears it.
    noise: Option<NoiseFloor>,
}

/// Faint white noise for the decoder's input (`PocketSphinxConfig::noise_floor_dbfs`), from a
/// generator seeded the same way for every utterance, so the same audio is always heard the
/// same way.
struct NoiseFloor {
    /// Standard deviation in 16-bit sample units.
    sigma: f32,
    /// xorshift64 state.
    state: u64,
}

impl NoiseFloor {
    const SEED: u64 = 0x2545_F491_4F6C_DD1D;

    fn new(dbfs: f32) -> NoiseFloor {
        NoiseFloor {
            sigma: 32768.0 * 10f32.powf(dbfs / 20.0),
            state: Self::SEED,
        }
    }

    /// Adds the noise to `samples`, saturating.
    fn add(&mut self, samples: &mut [i16]) {
        // The sum of four uniform values in [-0.5, 0.5) has variance 4/12: close to Gaussian.
        let scale = self.sigma / (4.0f32 / 12.0).sqrt();
        for s in samples {
            let mut acc = 0.0f32;
            for _ in 0..4 {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                acc += (self.state >> 40) as f32 / (1u32 << 24) as f32 - 0.5;
            }
            *s = (*s as f32 + acc * scale).clamp(-32768.0, 32767.0) as i16;
        }
    }
}

impl RecognizerStream for PsStream {
    fn push(&mut self, frame: &Frame16k) -> Result<(), AsrError> {
        let d = self.decoder.as_mut().ok_or(AsrError::Closed)?;
        if !self.in_utterance {
            return Err(AsrError::Closed);
        }
        match &mut self.noise {
            Some(noise) => {
                let mut noisy = *frame;
                noise.add(noisy.samples_mut());
                d.decoder.process(noisy.samples())
            }
            None => d.decoder.process(frame.samples()),
        }
    }

    fn partial(&mut self) -> Option<Transcript> {
        let d = self.decoder.as_mut()?;
        if !self.in_utterance {
            return None;
        }
        let (hyp, _) = d.decoder.hyp()?;
        let text = clean_text(&hyp);
        if text.is_empty() {
            return None;
        }
        Some(Transcript {
            text,
            confidence: 0.0,
            words: Vec::new(),
            is_final: false,
            latency: Duration::ZERO,
        })
    }

    fn finish(&mut self) -> Result<Transcript, AsrError> {
        let started = Instant::now();
        let d = self.decoder.as_mut().ok_or(AsrError::Closed)?;
        if !self.in_utterance {
            return Err(AsrError::Closed);
        }
        self.in_utterance = false;
        d.decoder.end_utt()?;
        let Some((hyp, score)) = d.decoder.hyp() else {
            let mut t = Transcript::empty();
            t.latency = started.elapsed();
            return Ok(t);
        };
        let text = clean_text(&hyp);
        const FRAME_MS: u32 = 10;
        let mut words = Vec::new();
        let mut posterior_sum = 0.0;
        for s in d.decoder.segments() {
            if is_filler(&s.word) {
                continue;
            }
            posterior_sum += d.decoder.exp(s.prob).clamp(0.0, 1.0);
            words.push(Word {
                text: base_word(&s.word).to_string(),
                start_ms: (s.start_frame.max(0) as u32) * FRAME_MS,
                end_ms: ((s.end_frame + 1).max(0) as u32) * FRAME_MS,
            });
        }
        let _ = score;
        let confidence = if text.is_empty() || words.is_empty() {
            0.0
        } else {
            let mean = posterior_sum / words.len() as f64;
            let whole_phrase = self
                .phrases
                .as_ref()
                .map(|j| j.phrases.contains(&text))
                .unwrap_or(true);
            (mean * if whole_phrase { 1.0 } else { PARAPHRASE_FACTOR }) as f32
        };
        Ok(Transcript {
            text,
            confidence,
            words,
            is_final: true,
            latency: started.elapsed(),
        })
    }
}

impl Drop for PsStream {
    fn drop(&mut self) {
        if let Some(mut d) = self.decoder.take() {
            if self.in_utterance && d.decoder.end_utt().is_err() {
                return;
            }
            self.inner.give_back(d);
        }
    }
}

/// A scratch directory for the engine (language model files on their way into a decoder),
/// holding the acoustic model overlay when the initial cepstral mean is replaced: links to the
/// model's files and a `feat.params` with the new `-cmninit`. Removed when the engine is dropped.
struct WorkDir {
    dir: PathBuf,
    /// The acoustic model directory decoders load.
    hmm: PathBuf,
    /// `LOCK_FILE`, locked while the engine lives (the lock goes with the process, however it
    /// ends), so other engines can tell a folder in use from a forgotten one.
    _lock: std::fs::File,
}

impl WorkDir {
    fn create(
        hmm: &Path,
        cmn: Option<&str>,
        feat: &[(String, String)],
    ) -> Result<WorkDir, AsrError> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let temp = std::env::temp_dir();
        remove_forgotten_work_dirs(&temp);
        let dir = temp.join(format!(
            "{WORK_DIR_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let io =
            |e: std::io::Error| AsrError::Engine(format!("cannot prepare {}: {e}", dir.display()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io)?;
        // Locked before it takes its name, so no other engine ever finds it unlocked.
        let pending = dir.join(format!("{LOCK_FILE}.new"));
        let lock = std::fs::File::create(&pending).map_err(io)?;
        lock.lock().map_err(io)?;
        std::fs::rename(&pending, dir.join(LOCK_FILE)).map_err(io)?;
        let mut work = WorkDir {
            dir: dir.clone(),
            hmm: hmm.to_path_buf(),
            _lock: lock,
        };
        if cmn.is_none() && feat.is_empty() {
            return Ok(work);
        }
        let invalid = |path: &Path, reason: String| AsrError::ModelInvalid {
            path: path.to_path_buf(),
            reason,
        };
        let mut replace: Vec<(&str, String)> = Vec::new();
        if let Some(cmn) = cmn {
            let values: Vec<&str> = cmn.split(',').map(str::trim).collect();
            if values.len() != 13 || values.iter().any(|v| v.parse::<f32>().is_err()) {
                return Err(invalid(
                    hmm,
                    format!("cmn_init must be 13 comma-separated numbers, not `{cmn}`"),
                ));
            }
            replace.push(("-cmninit", values.join(",")));
        }
        for (k, v) in feat {
            if !k.starts_with('-') || k.contains(char::is_whitespace) || v.contains('\n') {
                return Err(invalid(
                    hmm,
                    format!("feat.params entry `{k} {v}` must be `-name value` on one line"),
                ));
            }
            replace.retain(|(r, _)| r != k);
            replace.push((k.as_str(), v.clone()));
        }
        let params_path = hmm.join("feat.params");
        let params = std::fs::read_to_string(&params_path)
            .map_err(|e| invalid(&params_path, format!("cannot read: {e}")))?;
        let mut text: String = params
            .lines()
            .filter(|l| {
                let name = l.split_whitespace().next().unwrap_or("");
                !replace.iter().any(|(k, _)| *k == name)
            })
            .flat_map(|l| [l, "\n"])
            .collect();
        for (k, v) in &replace {
            text.push_str(k);
            text.push(' ');
            text.push_str(v);
            text.push('\n');
        }
        let model = dir.join("model");
        std::fs::create_dir_all(&model).map_err(io)?;
        for entry in std::fs::read_dir(hmm).map_err(|e| invalid(hmm, e.to_string()))? {
            let entry = entry.map_err(|e| invalid(hmm, e.to_string()))?;
            let name = entry.file_name();
            if name == "feat.params" {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), model.join(&name)).map_err(io)?;
        }
        std::fs::write(model.join("feat.params"), text).map_err(io)?;
        work.hmm = model;
        Ok(work)
    }
}

/// Work directories are named `ivr-pocketsphinx-PID-N`.
const WORK_DIR_PREFIX: &str = "ivr-pocketsphinx-";

/// The lock file in a work directory.
const LOCK_FILE: &str = ".lock";

/// Removes the work directories no engine holds any more. An engine removes its own when
/// dropped, but a process that is killed, or exits with its engine still in use, cannot; the
/// next engine on the machine tidies up after it. A directory is forgotten when its lock file
/// can be locked: the lock of a running engine holds whatever its process id namespace, and a
/// directory without a lock file is left alone.
fn remove_forgotten_work_dirs(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let forgotten = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(WORK_DIR_PREFIX))
            && std::fs::File::open(entry.path().join(LOCK_FILE))
                .is_ok_and(|f| f.try_lock().is_ok());
        if forgotten {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a decoder word is silence or noise rather than speech.
fn is_filler(word: &str) -> bool {
    word.is_empty() || word.starts_with(['<', '[', '(']) || word.starts_with("++")
}

/// `what's(2)` → `what's`.
fn base_word(word: &str) -> &str {
    match word.find('(') {
        Some(p) if p > 0 && word.ends_with(')') => &word[..p],
        _ => word,
    }
}

/// The hypothesis without fillers and variant markers.
fn clean_text(hyp: &str) -> String {
    let mut out = String::with_capacity(hyp.len());
    for w in hyp.split_whitespace().filter(|w| !is_filler(w)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(base_word(w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypothesis_text_loses_fillers_and_variant_markers() {
        assert_eq!(
            clean_text("<s> what's(2) my <sil> balance [NOISE] </s>"),
            "what's my balance"
        );
        assert_eq!(clean_text(""), "");
    }

    #[test]
    fn the_noise_floor_has_its_level_and_is_the_same_for_every_utterance() {
        let mut a = NoiseFloor::new(-50.0);
        let mut samples = vec![0i16; 16_000];
        a.add(&mut samples);
        let rms = (samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64)
            .sqrt();
        let dbfs = 20.0 * (rms / 32768.0).log10();
        assert!((dbfs + 50.0).abs() < 0.2, "{dbfs:.2} dBFS");
        let mean = samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len() as f64;
        assert!(mean.abs() < 2.0, "mean {mean}");
        // A new utterance hears the same noise; loud samples saturate instead of wrapping.
        let mut again = vec![0i16; 16_000];
        NoiseFloor::new(-50.0).add(&mut again);
        assert_eq!(samples, again);
        let mut loud = vec![i16::MAX; 1000];
        NoiseFloor::new(-50.0).add(&mut loud);
        assert!(loud.iter().all(|&s| s > 32000));
    }

    #[test]
    fn forgotten_work_dirs_are_removed_and_those_in_use_kept() {
        let temp = std::env::temp_dir().join(format!("ivr-ps-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        let forgotten = temp.join(format!("{WORK_DIR_PREFIX}1-0"));
        let in_use = temp.join(format!("{WORK_DIR_PREFIX}2-0"));
        let unlocked = temp.join(format!("{WORK_DIR_PREFIX}3-0"));
        let other = temp.join("ivr-notes");
        for d in [&forgotten, &in_use, &unlocked, &other] {
            std::fs::create_dir_all(d.join("model")).unwrap();
        }
        std::fs::write(forgotten.join(LOCK_FILE), "").unwrap();
        std::fs::write(other.join(LOCK_FILE), "").unwrap();
        // Another open file description holds the lock, as another engine's would.
        let held = std::fs::File::create(in_use.join(LOCK_FILE)).unwrap();
        held.lock().unwrap();
        remove_forgotten_work_dirs(&temp);
        assert!(!forgotten.exists());
        assert!(in_use.exists() && unlocked.exists() && other.exists());
        drop(held);
        remove_forgotten_work_dirs(&temp);
        assert!(!in_use.exists());
        std::fs::remove_dir_all(&temp).unwrap();
    }

    #[test]
    fn a_missing_model_dir_is_an_error_naming_it() {
        let config = PocketSphinxConfig {
            model_dir: PathBuf::from("/nonexistent/model/en-us"),
            ..Default::default()
        };
        let err = PocketSphinx::open(config).err().unwrap();
        assert_eq!(
            err,
            AsrError::ModelMissing {
                path: PathBuf::from("/nonexistent/model/en-us")
            }
        );
        assert!(err.to_string().contains("/nonexistent/model/en-us"));
    }

    #[test]
    fn a_missing_dictionary_is_an_error_naming_the_file() {
        let config = PocketSphinxConfig {
            dictionary: PathBuf::from("no-such.dict"),
            ..Default::default()
        };
        let err = PocketSphinx::open(config).err().unwrap();
        assert!(err.to_string().contains("en-us/no-such.dict"), "{err}");
    }

    #[test]
    fn feature_parameter_overrides_replace_the_models_lines_in_the_overlay() {
        let config = PocketSphinxConfig {
            feat_params: vec![("-upperf".into(), "6000".into())],
            ..Default::default()
        };
        let ps = PocketSphinx::open(config).unwrap();
        let params = std::fs::read_to_string(ps.inner.hmm.join("feat.params")).unwrap();
        let lines: Vec<&str> = params.lines().collect();
        assert!(lines.contains(&"-upperf 6000"), "{params}");
        assert!(!params.contains("-upperf 6800"), "{params}");
        assert!(lines.contains(&"-lowerf 130"), "{params}");
        assert!(
            lines.contains(&format!("-cmninit {TELEPHONE_CMN}").as_str()),
            "{params}"
        );
    }

    #[test]
    fn a_malformed_feature_parameter_is_an_error_naming_it() {
        let config = PocketSphinxConfig {
            feat_params: vec![("upperf".into(), "6000".into())],
            ..Default::default()
        };
        let err = PocketSphinx::open(config).err().unwrap();
        assert!(err.to_string().contains("`upperf 6000`"), "{err}");
    }

    #[test]
    fn mandarin_grammars_are_unsupported() {
        let ps = PocketSphinx::open(PocketSphinxConfig::default()).unwrap();
        let g = Grammar::phrases("zh-CN", &["查余额"]);
        assert_eq!(
            ps.open(&g).err(),
            Some(AsrError::Unsupported {
                language: "zh-CN".into()
            })
        );
    }
}
