//! The text half of [`score`](super::score): a lexicon of valences, negators, intensifiers and
//! contrast words per language, read once from the tab-separated files next to this one.

use std::collections::HashMap;
use std::sync::OnceLock;

/// What a lexicon term does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Entry {
    /// A word carrying valence, -1..1.
    Valence(f32),
    /// Turns the valence of the next few words around ("not", "不").
    Negator,
    /// Multiplies the valence of the next valence word ("very", "非常").
    Intensifier(f32),
    /// Weighs what follows more than what precedes ("but", "但是").
    Contrast,
}

/// One language's entries.
#[derive(Debug, Default)]
pub(crate) struct Lexicon {
    entries: HashMap<&'static str, Entry>,
    /// The longest term, in chars.
    max_chars: usize,
}

impl Lexicon {
    /// Parses the built-in file `source`. Lines are `term<TAB>value`; `#` starts a comment.
    /// The files are part of the crate and tested, so a malformed line is a build defect; it is
    /// skipped rather than trusted.
    fn parse(source: &'static str) -> Lexicon {
        let mut lex = Lexicon::default();
        for line in source.lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((term, value)) = line.split_once('\t') else {
                continue;
            };
            let entry = match value.trim() {
                "neg" => Entry::Negator,
                "but" => Entry::Contrast,
                v => match v.strip_prefix('*') {
                    Some(k) => match k.parse() {
                        Ok(k) => Entry::Intensifier(k),
                        Err(_) => continue,
                    },
                    None => match v.parse::<f32>() {
                        Ok(x) => Entry::Valence(x.clamp(-1.0, 1.0)),
                        Err(_) => continue,
                    },
                },
            };
            lex.max_chars = lex.max_chars.max(term.chars().count());
            lex.entries.insert(term, entry);
        }
        lex
    }

    pub(crate) fn get(&self, term: &str) -> Option<Entry> {
        self.entries.get(term).copied()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The English lexicon.
pub(crate) fn english() -> &'static Lexicon {
    static LEX: OnceLock<Lexicon> = OnceLock::new();
    LEX.get_or_init(|| Lexicon::parse(include_str!("en.tsv")))
}

/// The Chinese lexicon.
pub(crate) fn chinese() -> &'static Lexicon {
    static LEX: OnceLock<Lexicon> = OnceLock::new();
    LEX.get_or_init(|| Lexicon::parse(include_str!("zh.tsv")))
}

/// One unit of text for scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Token {
    /// A lexicon term; `shouted` when written in capitals ("USELESS").
    Term { entry: Entry, shouted: bool },
    /// A word or character the lexicon does not know.
    Other,
    /// Punctuation that ends a clause (and the reach of a negator).
    Break,
    /// An exclamation mark.
    Exclamation,
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Splits `text` into tokens: Latin-script words looked up in the English lexicon (pairs
/// first), Han characters segmented by forward maximum matching against the Chinese lexicon.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let en = english();
    let zh = chinese();
    let chars: Vec<char> = text.chars().collect();
    let mut words: Vec<(String, bool)> = Vec::new();
    let mut tokens = Vec::new();
    let mut i = 0;
    let flush = |words: &mut Vec<(String, bool)>, tokens: &mut Vec<Token>| {
        let mut k = 0;
        while k < words.len() {
            if let Some((next, next_caps)) = words.get(k + 1) {
                let pair = format!("{} {}", words[k].0, next);
                if let Some(entry) = en.get(&pair) {
                    tokens.push(Token::Term {
                        entry,
                        shouted: words[k].1 && *next_caps,
                    });
                    k += 2;
                    continue;
                }
            }
            tokens.push(match en.get(&words[k].0) {
                Some(entry) => Token::Term {
                    entry,
                    shouted: words[k].1,
                },
                None => Token::Other,
            });
            k += 1;
        }
        words.clear();
    };
    while let Some(&c) = chars.get(i) {
        if is_han(c) {
            flush(&mut words, &mut tokens);
            let longest = zh.max_chars.min(chars.len() - i);
            let mut matched = None;
            let mut buf = String::with_capacity(longest * 4);
            for n in (1..=longest).rev() {
                buf.clear();
                buf.extend(&chars[i..i + n]);
                if let Some(entry) = zh.get(&buf) {
                    matched = Some((entry, n));
                    break;
                }
            }
            match matched {
                Some((entry, n)) => {
                    tokens.push(Token::Term {
                        entry,
                        shouted: false,
                    });
                    i += n;
                }
                None => {
                    tokens.push(Token::Other);
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|&c| (c.is_alphanumeric() && !is_han(c)) || c == '\'' || c == '’')
            {
                i += 1;
            }
            let raw: String = chars[start..i]
                .iter()
                .filter(|&&c| c != '\'' && c != '’')
                .collect();
            let letters = raw.chars().filter(|c| c.is_alphabetic()).count();
            let caps = letters >= 2 && raw.chars().all(|c| !c.is_lowercase());
            words.push((raw.to_lowercase(), caps));
        } else {
            i += 1;
            match c {
                '!' | '！' => {
                    flush(&mut words, &mut tokens);
                    tokens.push(Token::Exclamation);
                    tokens.push(Token::Break);
                }
                '.' | ',' | ';' | ':' | '?' | '。' | '，' | '；' | '：' | '？' | '、' | '\n' =>
                {
                    flush(&mut words, &mut tokens);
                    tokens.push(Token::Break);
                }
                _ => {}
            }
        }
    }
    flush(&mut words, &mut tokens);
    tokens
}

/// Tokens after a negator that it still reaches.
const NEGATION_REACH: u32 = 3;
/// What a negator multiplies a valence by: "not good" is bad, but less than "bad".
const NEGATION_FACTOR: f32 = -0.7;
/// Tokens after an intensifier that it still reaches.
const INTENSIFIER_REACH: u32 = 2;
/// Extra weight of a word written in capitals.
const SHOUT_FACTOR: f32 = 1.3;
/// Extra weight per exclamation mark (at most three count).
const EXCLAMATION_STEP: f32 = 0.1;

/// The lexicon score of `tokens`: the sum of the valence words, each negated, intensified or
/// shouted as its neighbours say, weighted 0.5 before a contrast word and 1.5 after it, and
/// raised 10% per exclamation mark (see [`squash`] for the -1..1 score). Also returns how many
/// valence words counted.
pub(crate) fn valence_sum(tokens: &[Token]) -> (f32, u16) {
    // Valence before the last contrast word (already halved), and since it.
    let mut before = 0f32;
    let mut clause = 0f32;
    let mut contrast = false;
    let mut negate = 0u32;
    let mut boost = (1f32, 0u32);
    let mut hits = 0u16;
    let mut exclamations = 0u32;
    for &t in tokens {
        match t {
            Token::Break => {
                negate = 0;
                boost = (1.0, 0);
            }
            Token::Exclamation => exclamations += 1,
            Token::Other => {
                negate = negate.saturating_sub(1);
                boost.1 = boost.1.saturating_sub(1);
            }
            Token::Term { entry, shouted } => match entry {
                Entry::Negator => negate = NEGATION_REACH,
                Entry::Intensifier(k) => {
                    let k = if shouted { k * SHOUT_FACTOR } else { k };
                    boost = (if boost.1 > 0 { boost.0 * k } else { k }, INTENSIFIER_REACH);
                    negate = negate.saturating_sub(1);
                }
                Entry::Contrast => {
                    contrast = true;
                    before = (before + clause) * 0.5;
                    clause = 0.0;
                    negate = 0;
                    boost = (1.0, 0);
                }
                Entry::Valence(v) => {
                    let mut v = v;
                    if boost.1 > 0 {
                        v *= boost.0;
                    }
                    if negate > 0 {
                        v *= NEGATION_FACTOR;
                    }
                    if shouted {
                        v *= SHOUT_FACTOR;
                    }
                    if v != 0.0 {
                        hits = hits.saturating_add(1);
                    }
                    clause += v;
                    negate = negate.saturating_sub(1);
                    boost = (1.0, 0);
                }
            },
        }
    }
    let mut s = before + if contrast { 1.5 * clause } else { clause };
    s *= 1.0 + EXCLAMATION_STEP * exclamations.min(3) as f32;
    (s, hits)
}

/// Maps a valence sum into -1..1: `s / sqrt(s² + 1)`.
pub(crate) fn squash(s: f32) -> f32 {
    s / (s * s + 1.0).sqrt()
}
