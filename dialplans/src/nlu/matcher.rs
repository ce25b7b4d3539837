//! The intent matcher: ranks a caller's words against every intent's examples and returns
//! calibrated confidences.
//!
//! # Scoring
//!
//! Every example is a small document. At construction each is normalised and tokenised (see
//! [`super::tokenize`]), synonyms are applied by adding variants of the examples that contain the
//! canonical phrase, and an inverted index maps each term to the examples and intents holding it.
//!
//! *IDF is counted over intents, not examples*: a word that appears in all eight examples of
//! `balance` and nowhere else is the most telling word there is, and document-level IDF would
//! call it common. With `N` intents and `df` of them using a term,
//! `idf = ln(1 + (N - df + 0.5) / (df + 0.5))`. A query word the plan never uses gets the IDF of
//! a word used by exactly one intent.
//!
//! For a query with terms `t` of weight `w` (1 for words and bigrams, less for stop words and
//! single Han characters; 0.8/0.6 for a fuzzy match at one/two edits):
//!
//! * `ex(d) = BM25(q, d) / BM25(q, q)` — each example's BM25 score (k1 = 1.2, b = 0.5, weighted
//!   lengths) divided by the score the query would get against itself, capped at 1: "how much of
//!   what was said does this example explain";
//! * `bag(i) = Σ w·idf over query terms used anywhere in intent i / Σ w·idf over all query
//!   terms` — the same question asked of the intent's whole vocabulary, which rewards examples
//!   that agree and paraphrases mixing words from several examples;
//! * `raw(i) = 0.6 · max over i's examples of ex(d) + 0.4 · bag(i)`, in 0..1; intents are ranked
//!   by `raw`.
//!
//! The intent's name (`lost_card` → "lost card") counts as one more example.
//!
//! # Calibration
//!
//! `confidence = raw₁^0.75 · (0.7 + 0.3 · margin) · floor`, where
//!
//! * `raw₁^0.75` lifts partial matches: a paraphrase that explains half of what was said
//!   (raw 0.5) is usually right, and gets 0.59 before the margin;
//! * `margin = (raw₁ − raw₂) / raw₁` against the runner-up among the candidates (1 when there is
//!   none): two intents explaining the words equally well take 30% off, which moves a typical
//!   ambiguous utterance from above `confirm_threshold` (0.65) into the band down to
//!   `intent_threshold` (0.45), where the engine asks "Did you mean …?";
//! * `floor = min(1, matched information / (0.6 · idf of a one-intent word))` — an utterance made
//!   only of fillers ("um, what is it") carries too little information to be trusted even when
//!   all of it matches.
//!
//! Out-of-domain speech scores low because its content words are unknown: they count fully in
//! the query's self-score but match nothing ("what's the weather" explains at most its stop
//! words). The constants were chosen on the accuracy fixtures (`tests/intent_accuracy.rs`) so
//! that the default `intent_threshold` of 0.45 accepts about nine in ten paraphrases and rejects
//! over nine in ten out-of-domain utterances; plans with very few or very terse examples score
//! paraphrases lower.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::fuzzy::{
    allowed_edits, for_each_delete, osa_distance, MAX_FUZZY_CHARS, MIN_FUZZY_CHARS,
};
use super::normalize::normalize_into;
use super::tokenize::{tokenize_into, Token, TokenKind, TokenizerOptions};

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation (examples are short, so only half of it).
const B: f32 = 0.5;
/// Share of the best single example in an intent's raw score; the rest is the intent's bag score.
const EXAMPLE_SHARE: f32 = 0.6;
/// Share of the margin over the runner-up in the confidence.
const MARGIN_SHARE: f32 = 0.3;
/// Exponent applied to the raw score: lifts partial paraphrase matches (raw 0.5 → 0.59) more
/// than the stray stop-word matches of out-of-domain speech, which stay far lower.
const RAW_EXPONENT: f32 = 0.75;
/// Matched information (Σ w·idf) below this many one-intent-word IDFs scales confidence down.
const INFO_FLOOR: f32 = 0.6;
/// Weight factor of a fuzzy match at one and two edits.
const FUZZY_FACTOR: [f32; 3] = [1.0, 0.8, 0.6];
/// IDF of a stop word the plan never uses, as a share of a one-intent word's IDF: fillers
/// ("hi", "yeah", "please") say little, whether or not the examples contain them.
const UNKNOWN_STOP_IDF: f32 = 0.3;
/// How many scored intents a [`Ranking`] keeps in `all`.
const TOP_N: usize = 5;

/// An intent as the matcher sees it: a name, example utterances in one language, optional
/// synonyms and an optional keypad shortcut.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntentSpec {
    /// The intent's name, as used in `listen: { intents: [...] }` and `on:`.
    pub name: String,
    /// Example utterances.
    pub examples: Vec<String>,
    /// `(canonical, alternatives)`: each alternative phrase means the canonical one in this
    /// intent's examples (`("balance", ["funds", "money left"])`).
    pub synonyms: Vec<(String, Vec<String>)>,
    /// Keypad shortcut (`"1"`, `"0"`, `"*9"`).
    pub dtmf: Option<String>,
}

/// One intent's score for an utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The intent's name.
    pub intent: String,
    /// Calibrated confidence in 0..1, comparable against `intent_threshold`.
    pub confidence: f32,
    /// The ranking score in 0..1 before calibration (see the module documentation).
    pub raw: f32,
}

/// The result of ranking an utterance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ranking {
    /// The highest-ranked intent, if any candidate matched anything at all.
    pub best: Option<Scored>,
    /// The second-highest intent.
    pub runner_up: Option<Scored>,
    /// The top intents, best first (at most five).
    pub all: Vec<Scored>,
}

impl Ranking {
    /// The best intent if its confidence reaches `threshold`.
    pub fn accepted(&self, threshold: f32) -> Option<&Scored> {
        self.best.as_ref().filter(|s| s.confidence >= threshold)
    }
}

/// Reusable buffers for [`Matcher::rank_with`]; one per thread is enough, and [`Matcher::rank`]
/// keeps one in a thread-local.
#[derive(Debug, Default)]
pub struct Scratch {
    text: String,
    tokens: Vec<Token>,
    generation: u32,
    term_stamp: Vec<u32>,
    term_slot: Vec<u32>,
    query: Vec<(u32, f32, f32)>,
    fuzzy_stamp: Vec<u32>,
    fuzzy_found: Vec<(u32, usize)>,
    doc_stamp: Vec<u32>,
    doc_score: Vec<f32>,
    docs_touched: Vec<u32>,
    intent_stamp: Vec<u32>,
    intent_bag: Vec<f32>,
    intent_ex: Vec<f32>,
    intents_touched: Vec<u32>,
    allowed: Vec<u32>,
    ranked: Vec<(u32, f32, f32)>,
}

impl Scratch {
    /// Empty buffers; they grow to fit the matchers they are used with.
    pub fn new() -> Scratch {
        Scratch::default()
    }

    fn prepare(&mut self, m: &Matcher) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: clear every stamp so none can look current.
            for v in [
                &mut self.term_stamp,
                &mut self.fuzzy_stamp,
                &mut self.doc_stamp,
                &mut self.intent_stamp,
                &mut self.allowed,
            ] {
                v.iter_mut().for_each(|s| *s = 0);
            }
            self.generation = 1;
        }
        grow(&mut self.term_stamp, m.terms.len(), 0);
        grow(&mut self.term_slot, m.terms.len(), 0);
        grow(&mut self.fuzzy_stamp, m.terms.len(), 0);
        grow(&mut self.doc_stamp, m.docs.len(), 0);
        grow(&mut self.doc_score, m.docs.len(), 0.0);
        grow(&mut self.intent_stamp, m.intents.len(), 0);
        grow(&mut self.intent_bag, m.intents.len(), 0.0);
        grow(&mut self.intent_ex, m.intents.len(), 0.0);
        grow(&mut self.allowed, m.intents.len(), 0);
        self.query.clear();
        self.docs_touched.clear();
        self.intents_touched.clear();
        self.ranked.clear();
    }
}

fn grow<T: Copy>(v: &mut Vec<T>, n: usize, fill: T) {
    if v.len() < n {
        v.resize(n, fill);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

#[derive(Debug, Clone)]
struct Intent {
    name: String,
    dtmf: Option<String>,
}

#[derive(Debug, Clone)]
struct Term {
    idf: f32,
    /// Range into `Matcher::postings`.
    postings: (u32, u32),
    /// Range into `Matcher::intent_postings`.
    intents: (u32, u32),
    /// The word's characters, for fuzzy verification (words only).
    chars: Option<Box<[char]>>,
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    /// idf · BM25 term-frequency part for this document.
    score: f32,
}

/// The key is already a hash: use it as is.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// An example while the index is built: its intent, `(term, frequency)` pairs and weighted
/// length.
type DocTerms = (u32, Vec<(u32, f32)>, f32);

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// Ranks utterances against a plan's intents in one language. Built once per plan and
/// language; immutable, `Send + Sync`, and cheap to query from many calls at once.
#[derive(Debug, Clone)]
pub struct Matcher {
    options: TokenizerOptions,
    intents: Vec<Intent>,
    /// Intent of each example document.
    docs: Vec<u32>,
    term_index: KeyMap<u32>,
    terms: Vec<Term>,
    postings: Vec<Posting>,
    intent_postings: Vec<u32>,
    /// Delete-variant hash → range into `delete_terms`.
    deletes: KeyMap<(u32, u32)>,
    delete_terms: Vec<u32>,
    /// IDF of a term used by exactly one intent; also given to unknown query terms.
    idf_one: f32,
    /// BM25 average weighted document length.
    avg_len: f32,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl Matcher {
    /// Builds the index for `intents` in `language` (a BCP 47 tag: `en-US`, `zh-CN`, ...).
    /// Intents listed twice under one name are merged.
    pub fn new(language: &str, intents: &[IntentSpec]) -> Matcher {
        let options = TokenizerOptions::for_language(language);
        let mut merged: Vec<Intent> = Vec::new();
        let mut examples: Vec<Vec<String>> = Vec::new();
        for spec in intents {
            let idx = match merged.iter().position(|i| i.name == spec.name) {
                Some(i) => i,
                None => {
                    merged.push(Intent {
                        name: spec.name.clone(),
                        dtmf: None,
                    });
                    examples.push(Vec::new());
                    merged.len() - 1
                }
            };
            if merged[idx].dtmf.is_none() {
                merged[idx].dtmf = spec.dtmf.clone();
            }
            let normalized: Vec<String> =
                spec.examples.iter().map(|e| super::normalize(e)).collect();
            let mut expanded = normalized.clone();
            for (canonical, alternatives) in &spec.synonyms {
                let canonical = super::normalize(canonical);
                if canonical.is_empty() {
                    continue;
                }
                for ex in &normalized {
                    for alt in alternatives {
                        let alt = super::normalize(alt);
                        if let Some(v) = replace_phrase(ex, &canonical, &alt) {
                            expanded.push(v);
                        }
                    }
                }
            }
            examples[idx].extend(expanded.into_iter().filter(|e| !e.is_empty()));
            // The name itself (`lost_card` → "lost card") is an implicit example.
            let name = super::normalize(&spec.name.replace(['_', '-'], " "));
            if !name.is_empty() && !examples[idx].contains(&name) {
                examples[idx].push(name);
            }
        }

        // Tokenise every example; collect per-term document frequencies.
        let mut term_index: KeyMap<u32> = KeyMap::default();
        let mut term_chars: Vec<Option<Box<[char]>>> = Vec::new();
        let mut doc_terms: Vec<DocTerms> = Vec::new();
        let mut tokens = Vec::new();
        let mut buf = ['\0'; MAX_FUZZY_CHARS];
        for (intent, exs) in examples.iter().enumerate() {
            for ex in exs {
                tokenize_into(ex, options, &mut tokens);
                if tokens.is_empty() {
                    continue;
                }
                let mut tf: Vec<(u32, f32)> = Vec::new();
                let mut len = 0.0;
                for t in &tokens {
                    len += t.weight;
                    let next = term_index.len() as u32;
                    let id = *term_index.entry(t.key).or_insert_with(|| {
                        let chars = t
                            .word_chars(ex, &mut buf)
                            .map(|c| c.to_vec().into_boxed_slice());
                        term_chars.push(chars);
                        next
                    });
                    match tf.iter_mut().find(|(i, _)| *i == id) {
                        Some((_, n)) => *n += 1.0,
                        None => tf.push((id, 1.0)),
                    }
                }
                doc_terms.push((intent as u32, tf, len));
            }
        }

        let n_intents = merged.len().max(1) as f32;
        let idf_of = |df: usize| (1.0 + (n_intents - df as f32 + 0.5) / (df as f32 + 0.5)).ln();
        let mut term_docs: Vec<Vec<(u32, f32)>> = vec![Vec::new(); term_chars.len()];
        let mut term_intents: Vec<Vec<u32>> = vec![Vec::new(); term_chars.len()];
        for (d, (intent, tf, _)) in doc_terms.iter().enumerate() {
            for &(t, n) in tf {
                term_docs[t as usize].push((d as u32, n));
                let ti = &mut term_intents[t as usize];
                if ti.last() != Some(intent) {
                    ti.push(*intent);
                }
            }
        }
        let avg_len = if doc_terms.is_empty() {
            1.0
        } else {
            doc_terms.iter().map(|d| d.2).sum::<f32>() / doc_terms.len() as f32
        };

        let mut terms = Vec::with_capacity(term_chars.len());
        let mut postings = Vec::new();
        let mut intent_postings = Vec::new();
        for (t, chars) in term_chars.into_iter().enumerate() {
            let idf = idf_of(term_intents[t].len());
            let p0 = postings.len() as u32;
            for &(d, tf) in &term_docs[t] {
                let len = doc_terms[d as usize].2;
                let score = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg_len));
                postings.push(Posting { doc: d, score });
            }
            let i0 = intent_postings.len() as u32;
            intent_postings.extend_from_slice(&term_intents[t]);
            terms.push(Term {
                idf,
                postings: (p0, postings.len() as u32),
                intents: (i0, intent_postings.len() as u32),
                chars,
            });
        }

        // Symmetric-delete index over the vocabulary's words.
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        for (t, term) in terms.iter().enumerate() {
            if let Some(chars) = &term.chars {
                if chars.len() >= MIN_FUZZY_CHARS && chars.iter().all(|c| c.is_alphabetic()) {
                    for_each_delete(chars, allowed_edits(chars.len()), |h| {
                        pairs.push((h, t as u32))
                    });
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut deletes: KeyMap<(u32, u32)> = KeyMap::default();
        let mut delete_terms = Vec::with_capacity(pairs.len());
        let mut i = 0;
        while i < pairs.len() {
            let h = pairs[i].0;
            let start = delete_terms.len() as u32;
            while i < pairs.len() && pairs[i].0 == h {
                delete_terms.push(pairs[i].1);
                i += 1;
            }
            deletes.insert(h, (start, delete_terms.len() as u32));
        }

        Matcher {
            options,
            intents: merged,
            docs: doc_terms.iter().map(|d| d.0).collect(),
            term_index,
            terms,
            postings,
            intent_postings,
            deletes,
            delete_terms,
            idf_one: idf_of(1),
            avg_len,
        }
    }

    /// Ranks `text` against the intents (only those named in `candidates`, when given), using a
    /// thread-local [`Scratch`].
    pub fn rank(&self, text: &str, candidates: Option<&[&str]>) -> Ranking {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => self.rank_with(&mut scratch, text, candidates),
            Err(_) => self.rank_with(&mut Scratch::new(), text, candidates),
        })
    }

    /// The intent whose keypad shortcut is `digits` (a trailing `#` is ignored), among
    /// `candidates` when given.
    pub fn match_dtmf(&self, digits: &str, candidates: Option<&[&str]>) -> Option<&str> {
        let digits = digits.trim();
        let digits = digits
            .strip_suffix('#')
            .filter(|d| !d.is_empty())
            .unwrap_or(digits);
        self.intents
            .iter()
            .filter(|i| candidates.is_none_or(|c| c.contains(&i.name.as_str())))
            .find(|i| i.dtmf.as_deref() == Some(digits))
            .map(|i| i.name.as_str())
    }

    /// The names of the intents, in the order they were given.
    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.intents.iter().map(|i| i.name.as_str())
    }

    /// [`Matcher::rank`] with caller-owned buffers.
    pub fn rank_with(&self, s: &mut Scratch, text: &str, candidates: Option<&[&str]>) -> Ranking {
        s.prepare(self);
        let gen = s.generation;
        let mut text_buf = std::mem::take(&mut s.text);
        let mut tokens = std::mem::take(&mut s.tokens);
        normalize_into(text, &mut text_buf);
        tokenize_into(&text_buf, self.options, &mut tokens);

        // Query terms (deduplicated, max weight), and the query's self-information.
        let mut info_all = 0.0f32; // Σ w·idf
        let mut q_len = 0.0f32; // Σ w
        let mut self_idf = 0.0f32; // Σ w·idf over known and unknown terms, for BM25(q, q)
        let mut buf = ['\0'; MAX_FUZZY_CHARS];
        for t in &tokens {
            q_len += t.weight;
            if let Some(&id) = self.term_index.get(&t.key) {
                self.add_query_term(s, id, t.weight, t.weight, gen);
                continue;
            }
            // Unknown term: a fuzzy match stands in for it at a discount; without one it counts
            // at full weight in the query's own information and matches nothing.
            if !t.stop && t.kind == TokenKind::Word {
                if let Some(chars) = t.word_chars(&text_buf, &mut buf) {
                    if chars.len() >= MIN_FUZZY_CHARS && chars.iter().all(|c| c.is_alphabetic()) {
                        self.fuzzy_lookup(s, chars, gen);
                    } else {
                        s.fuzzy_found.clear();
                    }
                    if let Some(best) = s.fuzzy_found.iter().map(|f| f.1).min() {
                        let found = std::mem::take(&mut s.fuzzy_found);
                        for &(id, d) in found.iter().filter(|f| f.1 == best) {
                            let factor = FUZZY_FACTOR[d.min(2)];
                            self.add_query_term(s, id, t.weight * factor, t.weight, gen);
                        }
                        s.fuzzy_found = found;
                        continue;
                    }
                }
            }
            let idf = if t.stop {
                UNKNOWN_STOP_IDF * self.idf_one
            } else {
                self.idf_one
            };
            info_all += t.weight * idf;
            self_idf += t.weight * idf;
        }
        for &(id, _, w_self) in &s.query {
            let idf = self.terms[id as usize].idf;
            info_all += w_self * idf;
            self_idf += w_self * idf;
        }
        let self_bm25 = self_idf * (K1 + 1.0) / (1.0 + K1 * (1.0 - B + B * q_len / self.avg_len));

        // Candidate filter.
        if let Some(c) = candidates {
            for name in c {
                if let Some(i) = self.intents.iter().position(|i| i.name == *name) {
                    s.allowed[i] = gen;
                }
            }
        }
        let allowed = |s: &Scratch, i: u32| candidates.is_none() || s.allowed[i as usize] == gen;

        // Accumulate example BM25 scores and intent bag information.
        for qi in 0..s.query.len() {
            let (id, w, _) = s.query[qi];
            let term = &self.terms[id as usize];
            for p in &self.postings[term.postings.0 as usize..term.postings.1 as usize] {
                let d = p.doc as usize;
                if s.doc_stamp[d] != gen {
                    s.doc_stamp[d] = gen;
                    s.doc_score[d] = 0.0;
                    s.docs_touched.push(p.doc);
                }
                s.doc_score[d] += w * p.score;
            }
            for &i in &self.intent_postings[term.intents.0 as usize..term.intents.1 as usize] {
                let iu = i as usize;
                if s.intent_stamp[iu] != gen {
                    s.intent_stamp[iu] = gen;
                    s.intent_bag[iu] = 0.0;
                    s.intent_ex[iu] = 0.0;
                    s.intents_touched.push(i);
                }
                s.intent_bag[iu] += w * term.idf;
            }
        }
        for &d in &s.docs_touched {
            let i = self.docs[d as usize] as usize;
            let ex = if self_bm25 > 0.0 {
                (s.doc_score[d as usize] / self_bm25).min(1.0)
            } else {
                0.0
            };
            if ex > s.intent_ex[i] {
                s.intent_ex[i] = ex;
            }
        }
        for k in 0..s.intents_touched.len() {
            let i = s.intents_touched[k];
            if !allowed(s, i) {
                continue;
            }
            let iu = i as usize;
            let bag = if info_all > 0.0 {
                (s.intent_bag[iu] / info_all).min(1.0)
            } else {
                0.0
            };
            let raw = EXAMPLE_SHARE * s.intent_ex[iu] + (1.0 - EXAMPLE_SHARE) * bag;
            if raw > 0.0 {
                s.ranked.push((i, raw, s.intent_bag[iu]));
            }
        }
        s.ranked
            .sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

        let floor = INFO_FLOOR * self.idf_one;
        let top = s.ranked.first().map_or(0.0, |r| r.1);
        let second = s.ranked.get(1).map_or(0.0, |r| r.1);
        let all: Vec<Scored> = s
            .ranked
            .iter()
            .take(TOP_N)
            .enumerate()
            .map(|(k, &(i, raw, matched))| {
                let other = if k == 0 { second } else { top };
                let margin = ((raw - other) / raw).clamp(0.0, 1.0);
                let info = if floor > 0.0 {
                    (matched / floor).min(1.0)
                } else {
                    1.0
                };
                let confidence = (raw.powf(RAW_EXPONENT)
                    * ((1.0 - MARGIN_SHARE) + MARGIN_SHARE * margin)
                    * info)
                    .clamp(0.0, 1.0);
                Scored {
                    intent: self.intents[i as usize].name.clone(),
                    confidence,
                    raw,
                }
            })
            .collect();

        s.text = text_buf;
        s.tokens = tokens;
        Ranking {
            best: all.first().cloned(),
            runner_up: all.get(1).cloned(),
            all,
        }
    }

    /// Adds a query term with its matching weight and its weight in the query's own
    /// information; a repeated term keeps the larger of each.
    fn add_query_term(&self, s: &mut Scratch, id: u32, w: f32, w_self: f32, gen: u32) {
        let t = id as usize;
        if s.term_stamp[t] == gen {
            let slot = s.term_slot[t] as usize;
            if let Some(q) = s.query.get_mut(slot) {
                q.1 = q.1.max(w);
                q.2 = q.2.max(w_self);
            }
        } else {
            s.term_stamp[t] = gen;
            s.term_slot[t] = s.query.len() as u32;
            s.query.push((id, w, w_self));
        }
    }

    /// Fills `s.fuzzy_found` with vocabulary words within the allowed edits of `word`.
    fn fuzzy_lookup(&self, s: &mut Scratch, word: &[char], gen: u32) {
        s.fuzzy_found.clear();
        let max = allowed_edits(word.len());
        let Scratch {
            fuzzy_stamp,
            fuzzy_found,
            ..
        } = s;
        for_each_delete(word, max, |h| {
            let Some(&(a, b)) = self.deletes.get(&h) else {
                return;
            };
            for &t in &self.delete_terms[a as usize..b as usize] {
                let tu = t as usize;
                if fuzzy_stamp[tu] == gen {
                    continue;
                }
                fuzzy_stamp[tu] = gen;
                let Some(chars) = &self.terms[tu].chars else {
                    continue;
                };
                let allowed = allowed_edits(word.len().min(chars.len()));
                if let Some(d) = osa_distance(word, chars, allowed) {
                    if d > 0 {
                        fuzzy_found.push((t, d));
                    }
                }
            }
        });
    }
}

/// Replaces `phrase` in `text` with `with`: at word boundaries for Latin phrases, anywhere for
/// Chinese. `None` when `phrase` does not occur.
fn replace_phrase(text: &str, phrase: &str, with: &str) -> Option<String> {
    let han = phrase.chars().any(super::normalize::is_han);
    let mut from = 0;
    while let Some(pos) = text.get(from..)?.find(phrase) {
        let start = from + pos;
        let end = start + phrase.len();
        let before_ok = han || start == 0 || text[..start].ends_with(' ');
        let after_ok = han || end == text.len() || text[end..].starts_with(' ');
        if before_ok && after_ok {
            return Some(format!("{}{}{}", &text[..start], with, &text[end..]));
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, examples: &[&str], dtmf: Option<&str>) -> IntentSpec {
        IntentSpec {
            name: name.into(),
            examples: examples.iter().map(|e| e.to_string()).collect(),
            synonyms: Vec::new(),
            dtmf: dtmf.map(str::to_string),
        }
    }

    fn bank() -> Matcher {
        Matcher::new(
            "en-US",
            &[
                spec(
                    "balance",
                    &[
                        "check my balance",
                        "how much money do I have",
                        "what's my balance",
                    ],
                    Some("1"),
                ),
                spec(
                    "lost_card",
                    &["I lost my card", "my card was stolen", "block my card"],
                    Some("2"),
                ),
                spec(
                    "agent",
                    &["talk to a person", "representative", "speak to an agent"],
                    Some("0"),
                ),
            ],
        )
    }

    #[test]
    fn exact_example_matches_with_high_confidence() {
        let r = bank().rank("check my balance", None);
        let best = r.best.unwrap();
        assert_eq!(best.intent, "balance");
        assert!(best.confidence > 0.8, "{best:?}");
    }

    #[test]
    fn out_of_domain_words_score_low() {
        let m = bank();
        for q in ["banana", "what's the weather like", "um", ""] {
            let c = m.rank(q, None).best.map_or(0.0, |b| b.confidence);
            assert!(c < 0.45, "{q}: {c}");
        }
    }

    #[test]
    fn misspellings_match_fuzzily() {
        let r = bank().rank("chek my ballance", None);
        let best = r.best.unwrap();
        assert_eq!(best.intent, "balance");
        assert!(best.confidence > 0.45, "{best:?}");
    }

    #[test]
    fn candidates_restrict_the_ranking() {
        let r = bank().rank("I lost my card", Some(&["balance", "agent"]));
        assert_ne!(r.best.map(|b| b.intent).as_deref(), Some("lost_card"));
    }

    #[test]
    fn runner_up_and_all_are_sorted() {
        let r = bank().rank("check my card balance", None);
        assert_eq!(r.best.as_ref().unwrap().intent, "balance");
        assert_eq!(r.runner_up.as_ref().unwrap().intent, "lost_card");
        assert!(r.all.windows(2).all(|w| w[0].raw >= w[1].raw));
    }

    #[test]
    fn dtmf_matches_the_shortcut_among_candidates() {
        let m = bank();
        assert_eq!(m.match_dtmf("1", None), Some("balance"));
        assert_eq!(m.match_dtmf("0#", None), Some("agent"));
        assert_eq!(m.match_dtmf("2", Some(&["balance"])), None);
        assert_eq!(m.match_dtmf("9", None), None);
    }

    #[test]
    fn synonyms_expand_the_examples() {
        let mut b = spec("balance", &["check my balance"], None);
        b.synonyms
            .push(("balance".into(), vec!["funds".into(), "money left".into()]));
        let m = Matcher::new("en-US", &[b, spec("agent", &["talk to a person"], None)]);
        let r = m.rank("how much money left", None);
        assert_eq!(r.best.unwrap().intent, "balance");
        let r = m.rank("check my funds", None).best.unwrap();
        assert!(r.confidence > 0.8, "{r:?}");
    }

    #[test]
    fn chinese_paraphrase_matches_by_bigrams() {
        let m = Matcher::new(
            "zh-CN",
            &[
                spec("balance", &["查余额", "我的余额是多少"], None),
                spec("agent", &["转人工", "我要找客服"], None),
            ],
        );
        let r = m.rank("帮我查一下余额", None).best.unwrap();
        assert_eq!(r.intent, "balance");
        assert!(r.confidence > 0.45, "{r:?}");
        let r = m.rank("人工客服", None).best.unwrap();
        assert_eq!(r.intent, "agent");
    }

    #[test]
    fn a_matcher_without_intents_ranks_nothing() {
        let m = Matcher::new("en-US", &[]);
        assert_eq!(m.rank("hello", None), Ranking::default());
    }

    #[test]
    fn matcher_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Matcher>();
    }

    #[test]
    fn phrases_are_replaced_at_word_boundaries() {
        assert_eq!(
            replace_phrase("check my balance", "balance", "funds").as_deref(),
            Some("check my funds")
        );
        assert_eq!(replace_phrase("rebalance", "balance", "funds"), None);
        assert_eq!(
            replace_phrase("查余额", "余额", "钱").as_deref(),
            Some("查钱")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_ranks_without_panicking_and_confidences_stay_in_range(text in "\\PC{0,60}") {
            let r = bank().rank(&text, None);
            for s in &r.all {
                proptest::prop_assert!((0.0..=1.0).contains(&s.confidence), "{s:?}");
                proptest::prop_assert!(s.raw.is_finite() && s.raw >= 0.0);
            }
        }
    }
}
