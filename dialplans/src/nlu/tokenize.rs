//! Tokenisation of normalised text into weighted, hashed terms.
//!
//! * Latin-script words become one token each, lightly stemmed for English (plural `-s`/`-es`/
//!   `-ies`, `-ing`, `-ed`, a final `-e`), so `cards`/`card` and `closing`/`closed`/`close`
//!   meet. Figures `0`–`10` standing alone become their English words (`press 2` = `press two`).
//! * Chinese (Han) runs become every character *and* every pair of adjacent characters
//!   (`查余额` → `查 余 额 查余 余额`): bigrams carry most of the meaning, single characters give
//!   partial credit when a recogniser or caller words things differently.
//! * Stop words (`the`, `my`, `please`, `我`, `的`, `吗`, ...) keep a low weight rather than being
//!   dropped, so "not me" and "是的" still mean something, yet fillers cannot dominate a score.
//!
//! Tokens are identified by a 64-bit hash of their kind and text, so looking a query token up in
//! an index needs no allocation.

use super::normalize::{is_han, normalize};

/// What a token was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A (stemmed) Latin-script word or number.
    Word,
    /// One Han character.
    Han,
    /// Two adjacent Han characters.
    HanBigram,
}

/// One token of a normalised text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Token {
    /// Hash of the kind and the token text; equal texts give equal keys.
    pub key: u64,
    /// What the token was made from.
    pub kind: TokenKind,
    /// Weight in scoring: 1 for content words and bigrams, less for single Han characters and
    /// stop words.
    pub weight: f32,
    /// True for stop words (and Han bigrams with a stop character).
    pub stop: bool,
    /// Byte offset of the token in the normalised text.
    start: u32,
    /// Byte length of the kept part of the text (the stem for words).
    len: u32,
    /// The stem ends with a `y` that is not in the text (`companies` → `company`).
    add_y: bool,
    /// Index into [`NUMBER_WORDS`] when the token is a figure spelled as a word.
    figure: Option<u8>,
}

impl Token {
    /// The token's text (the stem for words), given the normalised text it came from.
    pub fn text(&self, normalized: &str) -> String {
        let mut s = String::new();
        self.push_text(normalized, &mut s);
        s
    }

    fn push_text(&self, normalized: &str, out: &mut String) {
        if let Some(i) = self.figure {
            out.push_str(NUMBER_WORDS[usize::from(i)]);
            return;
        }
        let start = self.start as usize;
        out.push_str(
            normalized
                .get(start..start + self.len as usize)
                .unwrap_or(""),
        );
        if self.add_y {
            out.push('y');
        }
    }

    /// Writes the token's characters into `buf` and returns them, or `None` if the token is
    /// not a word or is longer than `buf`. Used for fuzzy matching without allocation.
    pub fn word_chars<'b>(&self, normalized: &str, buf: &'b mut [char]) -> Option<&'b [char]> {
        if self.kind != TokenKind::Word || self.figure.is_some() {
            return None;
        }
        let start = self.start as usize;
        let stem = normalized.get(start..start + self.len as usize)?;
        let mut n = 0;
        for c in stem.chars().chain(self.add_y.then_some('y')) {
            *buf.get_mut(n)? = c;
            n += 1;
        }
        Some(&buf[..n])
    }
}

/// How to tokenise: chosen from the plan's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenizerOptions {
    /// Apply the light English stemmer to Latin-script words.
    pub stem: bool,
}

impl TokenizerOptions {
    /// Options for a BCP 47 language tag: stemming for English, and for Chinese (whose plans'
    /// Latin words are English); none for other languages.
    pub fn for_language(language: &str) -> TokenizerOptions {
        let l = language.to_ascii_lowercase();
        TokenizerOptions {
            stem: l.starts_with("en") || l.starts_with("zh"),
        }
    }
}

/// Weight of a stop word or stop bigram.
pub const STOP_WEIGHT: f32 = 0.25;
/// Weight of a single Han character (bigrams weigh 1).
pub const HAN_CHAR_WEIGHT: f32 = 0.4;
/// Weight of a single Han stop character.
pub const HAN_STOP_CHAR_WEIGHT: f32 = 0.1;

/// Tokenises already-normalised text (see [`super::normalize`]) into `out` (cleared first).
pub fn tokenize_into(normalized: &str, options: TokenizerOptions, out: &mut Vec<Token>) {
    out.clear();
    let mut run_start: Option<usize> = None; // start of the current Latin run
    let mut prev_han: Option<(usize, char)> = None;
    for (i, c) in normalized.char_indices() {
        if is_han(c) {
            if let Some(s) = run_start.take() {
                push_word(normalized, s, i, options, out);
            }
            let stop = HAN_STOP_CHARS.contains(c);
            out.push(Token {
                key: hash_str(
                    TokenKind::Han,
                    normalized.get(i..i + c.len_utf8()).unwrap_or(""),
                ),
                kind: TokenKind::Han,
                weight: if stop {
                    HAN_STOP_CHAR_WEIGHT
                } else {
                    HAN_CHAR_WEIGHT
                },
                stop,
                start: i as u32,
                len: c.len_utf8() as u32,
                add_y: false,
                figure: None,
            });
            if let Some((p, pc)) = prev_han {
                let stop2 = stop || HAN_STOP_CHARS.contains(pc);
                let end = i + c.len_utf8();
                out.push(Token {
                    key: hash_str(TokenKind::HanBigram, normalized.get(p..end).unwrap_or("")),
                    kind: TokenKind::HanBigram,
                    weight: if stop2 { STOP_WEIGHT } else { 1.0 },
                    stop: stop2,
                    start: p as u32,
                    len: (end - p) as u32,
                    add_y: false,
                    figure: None,
                });
            }
            prev_han = Some((i, c));
        } else if c == ' ' {
            if let Some(s) = run_start.take() {
                push_word(normalized, s, i, options, out);
            }
            prev_han = None;
        } else {
            prev_han = None;
            if run_start.is_none() {
                run_start = Some(i);
            }
        }
    }
    if let Some(s) = run_start {
        push_word(normalized, s, normalized.len(), options, out);
    }
}

/// Normalises and tokenises `text`, returning each token's text: for inspection and tests.
pub fn tokens(text: &str, language: &str) -> Vec<String> {
    let normalized = normalize(text);
    let mut toks = Vec::new();
    tokenize_into(
        &normalized,
        TokenizerOptions::for_language(language),
        &mut toks,
    );
    toks.iter().map(|t| t.text(&normalized)).collect()
}

fn push_word(
    text: &str,
    start: usize,
    end: usize,
    options: TokenizerOptions,
    out: &mut Vec<Token>,
) {
    let Some(word) = text.get(start..end) else {
        return;
    };
    let figure = NUMBER_FIGURES
        .iter()
        .position(|f| *f == word)
        .map(|i| i as u8);
    let stop = STOP_WORDS.binary_search(&word).is_ok();
    let (len, add_y) = if options.stem && figure.is_none() {
        stem(word)
    } else {
        (word.len(), false)
    };
    let key = match figure {
        Some(i) => hash_str(TokenKind::Word, NUMBER_WORDS[usize::from(i)]),
        None => {
            let mut h = Fnv::new(TokenKind::Word);
            h.write(word.get(..len).unwrap_or(word).as_bytes());
            if add_y {
                h.write(b"y");
            }
            h.finish()
        }
    };
    out.push(Token {
        key,
        kind: TokenKind::Word,
        weight: if stop { STOP_WEIGHT } else { 1.0 },
        stop,
        start: start as u32,
        len: len as u32,
        add_y,
        figure,
    });
}

/// Light English stemmer: returns the byte length of the stem kept from `word` and whether a
/// `y` is appended. Consistency matters more than linguistics: examples and queries go through
/// the same function.
pub fn stem(word: &str) -> (usize, bool) {
    let b = word.as_bytes();
    let n = b.len();
    if n < 4 || !b.iter().all(u8::is_ascii_lowercase) {
        return (n, false);
    }
    let ends = |s: &str| word.ends_with(s);
    let (mut len, add_y, suffix_removed) = if ends("ies") && n >= 5 {
        (n - 3, true, false)
    } else if ends("sses") {
        (n - 2, false, false)
    } else if ends("ss") || ends("us") || ends("is") {
        (n, false, false)
    } else if ends("xes") || ends("ches") || ends("shes") || ends("zes") {
        (n - 2, false, false)
    } else if ends("s") {
        (n - 1, false, false)
    } else if ends("ied") && n >= 5 {
        (n - 3, true, false)
    } else if ends("ing") && n >= 6 {
        (n - 3, false, true)
    } else if ends("ed") && n >= 5 {
        (n - 2, false, true)
    } else {
        (n, false, false)
    };
    if suffix_removed && len >= 3 {
        let (a, c) = (b[len - 2], b[len - 1]);
        if a == c && !matches!(c, b'l' | b's' | b'z' | b'a' | b'e' | b'i' | b'o' | b'u') {
            len -= 1;
        }
    }
    if !add_y && len > 3 && b[len - 1] == b'e' {
        len -= 1;
    }
    (len, add_y)
}

/// English words for the figures 0–10 (index = value).
const NUMBER_WORDS: [&str; 11] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];
const NUMBER_FIGURES: [&str; 11] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];

/// English stop words, sorted for binary search. Negations (`not`, `no`) and question words
/// other than `what` are deliberately absent: they change what a caller wants.
const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "get", "go", "going", "got", "had", "has", "have",
    "hello", "hey", "hi", "i", "if", "in", "is", "it", "just", "kind", "know", "like", "me",
    "might", "my", "need", "of", "oh", "ok", "okay", "on", "or", "our", "please", "really",
    "should", "so", "some", "thank", "thanks", "that", "the", "there", "this", "to", "uh", "um",
    "us", "want", "was", "we", "well", "what", "will", "with", "would", "yeah", "you", "your",
];

/// Chinese characters that are mostly function words in caller speech.
const HAN_STOP_CHARS: &str =
    "的了吗呢吧啊呀嘛我你您他她它们是在有要想请一个这那就也都还和把被给能可以么嗯哦哈";

/// FNV-1a, 64 bit, seeded with the token kind.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new(kind: TokenKind) -> Fnv {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(&[kind as u8 + 1]);
        h
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn write_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.write(c.encode_utf8(&mut buf).as_bytes());
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// The key of a token of `kind` whose text is `s`.
pub fn hash_str(kind: TokenKind, s: &str) -> u64 {
    let mut h = Fnv::new(kind);
    h.write(s.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn english_words_are_stemmed_consistently() {
        assert_eq!(tokens("cards", "en-US"), ["card"]);
        assert_eq!(tokens("card", "en-US"), ["card"]);
        assert_eq!(
            tokens("closing closed close", "en-US"),
            ["clos", "clos", "clos"]
        );
        assert_eq!(
            tokens("stopped stopping stop", "en-US"),
            ["stop", "stop", "stop"]
        );
        assert_eq!(tokens("companies company", "en-US"), ["company", "company"]);
        assert_eq!(
            tokens("calling called call", "en-US"),
            ["call", "call", "call"]
        );
        assert_eq!(tokens("addresses address", "en-US"), ["address", "address"]);
        assert_eq!(tokens("hours boxes", "en-US"), ["hour", "box"]);
    }

    #[test]
    fn short_words_and_non_english_plans_are_not_stemmed() {
        assert_eq!(
            tokens("is was yes bus", "en-US"),
            ["is", "was", "yes", "bus"]
        );
        assert_eq!(tokens("cards", "fr-FR"), ["cards"]);
    }

    #[test]
    fn contractions_expand_before_tokenising() {
        assert_eq!(
            tokens("What's the time?", "en-US"),
            ["what", "is", "the", "tim"]
        );
    }

    #[test]
    fn small_figures_become_words() {
        assert_eq!(tokens("press 2", "en-US"), ["press", "two"]);
        assert_eq!(tokens("press two", "en-US"), ["press", "two"]);
        assert_eq!(tokens("room 42", "en-US"), ["room", "42"]);
    }

    #[test]
    fn chinese_becomes_characters_and_bigrams() {
        assert_eq!(
            tokens("查余额", "zh-CN"),
            ["查", "余", "查余", "额", "余额"]
        );
    }

    #[test]
    fn chinese_bigrams_do_not_cross_punctuation_or_latin_words() {
        assert_eq!(
            tokens("你好，再见", "zh-CN"),
            ["你", "好", "你好", "再", "见", "再见"]
        );
        assert_eq!(
            tokens("找agent谢谢", "zh-CN"),
            ["找", "agent", "谢", "谢", "谢谢"]
        );
    }

    #[test]
    fn mixed_text_keeps_both_scripts() {
        assert_eq!(
            tokens("VIP客户 cards", "zh-CN"),
            ["vip", "客", "户", "客户", "card"]
        );
    }

    #[test]
    fn stop_words_weigh_less() {
        let n = normalize("please check my balance");
        let mut t = Vec::new();
        tokenize_into(&n, TokenizerOptions::for_language("en-US"), &mut t);
        let w: Vec<f32> = t.iter().map(|t| t.weight).collect();
        assert_eq!(w, [STOP_WEIGHT, 1.0, STOP_WEIGHT, 1.0]);
        let n = normalize("我的余额");
        tokenize_into(&n, TokenizerOptions::for_language("zh-CN"), &mut t);
        assert!(
            t[0].stop && t[1].stop && t[2].stop,
            "我, 的 and 我的 are stop tokens"
        );
        assert!(t[4].stop, "的余 has a stop character");
        assert!(!t[3].stop && !t[6].stop, "余 and 余额 are content");
    }

    #[test]
    fn equal_texts_get_equal_keys_and_kinds_differ() {
        let a = hash_str(TokenKind::Word, "card");
        let n = normalize("cards");
        let mut t = Vec::new();
        tokenize_into(&n, TokenizerOptions::for_language("en-US"), &mut t);
        assert_eq!(t[0].key, a);
        assert_ne!(
            hash_str(TokenKind::Han, "余"),
            hash_str(TokenKind::HanBigram, "余")
        );
    }

    #[test]
    fn word_chars_gives_the_stem_for_fuzzy_matching() {
        let n = normalize("companies");
        let mut t = Vec::new();
        tokenize_into(&n, TokenizerOptions::for_language("en-US"), &mut t);
        let mut buf = ['\0'; 32];
        let chars: String = t[0].word_chars(&n, &mut buf).unwrap().iter().collect();
        assert_eq!(chars, "company");
    }

    #[test]
    fn empty_text_has_no_tokens() {
        assert!(tokens("", "en-US").is_empty());
        assert!(tokens(" ,.!", "zh-CN").is_empty());
    }
}
