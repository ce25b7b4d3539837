//! Digits spoken as words, as a speech recognizer writes them: "four one one one …",
//! "double four", "四一一一…", "幺三八…". A run counts once it holds at least one word
//! (runs of written digits alone are the written-number scanner's business).

/// English digit words and their values.
const EN_WORDS: [(&[u8], u8); 12] = [
    (b"zero", 0),
    (b"oh", 0),
    (b"one", 1),
    (b"two", 2),
    (b"three", 3),
    (b"four", 4),
    (b"five", 5),
    (b"six", 6),
    (b"seven", 7),
    (b"eight", 8),
    (b"nine", 9),
    (b"niner", 9),
];

/// Chinese digit characters as UTF-8 (`幺` is the spoken "one" of phone and card numbers).
const HAN_DIGITS: [&[u8]; 12] = [
    "零".as_bytes(),
    "〇".as_bytes(),
    "一".as_bytes(),
    "二".as_bytes(),
    "三".as_bytes(),
    "四".as_bytes(),
    "五".as_bytes(),
    "六".as_bytes(),
    "七".as_bytes(),
    "八".as_bytes(),
    "九".as_bytes(),
    "幺".as_bytes(),
];

/// Chinese punctuation that may sit between spoken digits.
const HAN_GAPS: [&[u8]; 2] = ["，".as_bytes(), "、".as_bytes()];

/// Whether an ASCII letter can start a digit word or `double`/`triple` (a quick filter
/// for the scanner, which meets every word of a transcript).
pub(super) fn may_start_word(b: u8) -> bool {
    matches!(
        b.to_ascii_lowercase(),
        b'z' | b'o' | b't' | b'f' | b's' | b'e' | b'n' | b'd'
    )
}

/// Whether `b` can start a Chinese digit character (a quick filter for the scanner).
pub(super) fn may_start_han_digit(b: u8) -> bool {
    matches!(b, 0xE3 | 0xE4 | 0xE5 | 0xE9)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TokenKind {
    /// An English digit word.
    Word,
    /// `double` or `triple` followed by one digit token, counted as one unit.
    Repeat,
    /// A run of ASCII digits.
    Ascii,
    /// One Chinese digit character.
    Han,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    start: usize,
    end: usize,
    digits: usize,
    kind: TokenKind,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The ASCII word (letters only) starting at `j`, if it is bounded by non-word bytes.
fn word_at(b: &[u8], j: usize, limit: usize) -> Option<usize> {
    if j > 0 && b.get(j - 1).copied().is_some_and(is_word_byte) {
        return None;
    }
    let mut k = j;
    while k < limit && b.get(k).is_some_and(u8::is_ascii_alphabetic) {
        k += 1;
    }
    if k == j || b.get(k).copied().is_some_and(is_word_byte) {
        return None;
    }
    Some(k)
}

fn en_digit(word: &[u8]) -> Option<u8> {
    EN_WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|&(_, v)| v)
}

/// Reads one single-unit digit token (word, ASCII run or Han digit) at `j`.
fn unit_at(b: &[u8], j: usize, limit: usize) -> Option<Token> {
    let c = *b.get(j)?;
    if j >= limit {
        return None;
    }
    if c.is_ascii_alphabetic() {
        let end = word_at(b, j, limit)?;
        en_digit(b.get(j..end)?)?;
        return Some(Token {
            start: j,
            end,
            digits: 1,
            kind: TokenKind::Word,
        });
    }
    if c.is_ascii_digit() {
        if j > 0 && b.get(j - 1).copied().is_some_and(is_word_byte) {
            return None;
        }
        let mut k = j;
        while k < limit && b.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        if b.get(k).copied().is_some_and(is_word_byte) {
            return None;
        }
        return Some(Token {
            start: j,
            end: k,
            digits: k - j,
            kind: TokenKind::Ascii,
        });
    }
    if may_start_han_digit(c) {
        let rest = b.get(j..limit)?;
        if HAN_DIGITS.iter().any(|d| rest.starts_with(d)) {
            return Some(Token {
                start: j,
                end: j + 3,
                digits: 1,
                kind: TokenKind::Han,
            });
        }
    }
    None
}

/// Reads one token at `j`: a unit, or `double`/`triple` plus the unit it repeats.
fn token_at(b: &[u8], j: usize, limit: usize) -> Option<Token> {
    if let Some(end) = b
        .get(j)
        .filter(|c| c.is_ascii_alphabetic())
        .and_then(|_| word_at(b, j, limit))
    {
        let word = b.get(j..end)?;
        let times = if word.eq_ignore_ascii_case(b"double") {
            2
        } else if word.eq_ignore_ascii_case(b"triple") {
            3
        } else {
            0
        };
        if times > 0 {
            let next = skip_gap(b, end, limit);
            let unit = unit_at(b, next, limit).filter(|u| u.digits == 1 && next > end)?;
            return Some(Token {
                start: j,
                end: unit.end,
                digits: times,
                kind: TokenKind::Repeat,
            });
        }
    }
    unit_at(b, j, limit)
}

/// Skips at most three bytes of separators (space, comma, dash) or one Chinese comma.
fn skip_gap(b: &[u8], j: usize, limit: usize) -> usize {
    if let Some(rest) = b.get(j..limit) {
        if let Some(g) = HAN_GAPS.iter().find(|g| rest.starts_with(g)) {
            return j + g.len();
        }
    }
    let mut k = j;
    while k < limit && k - j < 3 && matches!(b.get(k), Some(b' ' | b',' | b'-')) {
        k += 1;
    }
    k
}

/// Iterates the tokens of the digit run starting at `start`.
fn tokens(b: &[u8], start: usize, limit: usize) -> impl Iterator<Item = Token> + '_ {
    let mut next = Some(start);
    std::iter::from_fn(move || {
        let j = next?;
        let t = token_at(b, j, limit);
        next = t.map(|t| skip_gap(b, t.end, limit));
        t
    })
}

/// The end of a spoken digit run starting at `start` with a word or Han digit and holding
/// at least `min_digits` digits; `None` otherwise. Written digits may follow the first word
/// ("four 1 1 1 …"); a run never starts with them, so the visible tail of a masked written
/// number is not joined to the words after it.
pub(super) fn spoken_at(b: &[u8], start: usize, limit: usize, min_digits: usize) -> Option<usize> {
    let mut digits = 0;
    let mut end = start;
    for (n, t) in tokens(b, start, limit).enumerate() {
        if n == 0 && t.kind == TokenKind::Ascii {
            return None;
        }
        digits += t.digits;
        end = t.end;
    }
    (digits >= min_digits.max(1)).then_some(end)
}

/// Writes `span` (a run found by [`spoken_at`]) with every token masked as `*` except
/// the trailing tokens that hold the last `keep` digits; separators stay as spoken.
pub(super) fn mask(span: &str, keep: usize, out: &mut String) {
    let b = span.as_bytes();
    let total: usize = tokens(b, 0, b.len()).map(|t| t.digits).sum();
    let mut seen = 0;
    let mut copied = 0;
    for t in tokens(b, 0, b.len()) {
        out.push_str(span.get(copied..t.start).unwrap_or(""));
        if total - seen <= keep {
            out.push_str(span.get(t.start..t.end).unwrap_or(""));
        } else if t.kind == TokenKind::Ascii {
            out.extend(std::iter::repeat_n('*', t.end - t.start));
        } else if t.kind == TokenKind::Repeat {
            out.push_str("* *");
        } else {
            out.push('*');
        }
        seen += t.digits;
        copied = t.end;
    }
    out.push_str(span.get(copied..).unwrap_or(""));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Option<&str> {
        spoken_at(s.as_bytes(), 0, s.len(), 8).map(|e| &s[..e])
    }

    #[test]
    fn eight_english_digit_words_form_a_run_and_seven_do_not() {
        assert_eq!(
            run("four one one one one one one one please"),
            Some("four one one one one one one one")
        );
        assert_eq!(run("four one one one one one one please"), None);
    }

    #[test]
    fn double_and_triple_count_their_repeats() {
        // 2 + 3 + 1 + 1 + 1 = 8 digits.
        assert_eq!(
            run("double four, triple one, two three five"),
            Some("double four, triple one, two three five")
        );
        // "double" with nothing to repeat ends the run before it.
        assert_eq!(
            run("one two three four five six seven eight double trouble"),
            Some("one two three four five six seven eight")
        );
    }

    #[test]
    fn chinese_digits_with_yao_form_a_run() {
        let s = "幺三八一二三四五六七八号";
        assert_eq!(run(s), Some("幺三八一二三四五六七八"));
        assert_eq!(run("一二三四五六七"), None);
    }

    #[test]
    fn words_inside_longer_words_are_not_digits() {
        assert_eq!(run("someone one one one one one one one"), None);
        assert_eq!(run("fourteen one one one one one one one"), None);
    }

    #[test]
    fn mask_keeps_the_tokens_of_the_last_four_digits() {
        let mut out = String::new();
        mask(
            "four one one one one one one one two three four five",
            4,
            &mut out,
        );
        assert_eq!(out, "* * * * * * * * two three four five");
        out.clear();
        mask("四一一一一一一一一二三四", 4, &mut out);
        assert_eq!(out, "********一二三四");
    }
}
