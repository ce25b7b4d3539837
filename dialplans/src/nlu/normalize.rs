//! Text normalisation shared by the intent matcher and the entity parsers.
//!
//! [`normalize_into`] turns what a caller said (or what a speech recogniser wrote) into a
//! canonical form:
//!
//! * full-width ASCII (`ＡＢＣ１２３`) becomes half-width, the ideographic space a space;
//! * letters are lower-cased;
//! * punctuation becomes a space, except an apostrophe inside a word (kept for contractions),
//!   a `.` between two digits (a decimal point) and a `,` between digits (a thousands separator,
//!   dropped);
//! * runs of whitespace collapse to one space, with none at either end;
//! * English contractions are expanded (`what's` → `what is`, `don't` → `do not`, also the
//!   apostrophe-less spellings recognisers produce, `whats`, `dont`), and any other `'s` is
//!   dropped (`card's` → `card`).
//!
//! Chinese (and any other non-Latin) letters pass through unchanged; the tokenizer splits them.

/// Normalises `text` into a new string. See the module documentation for the rules.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// Normalises `text` into `out` (cleared first), reusing its allocation.
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    let mut word_start = 0usize;
    let mut in_word = false;
    let mut prev: Option<char> = None;
    let mut chars = text.chars().map(to_half_width).peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        if c.is_alphanumeric() {
            if !in_word {
                if !out.is_empty() {
                    out.push(' ');
                }
                word_start = out.len();
                in_word = true;
            }
            // Only letters and digits of the lower case: `İ` lower-cases to `i` plus a
            // combining dot, which would end the word when the text is normalised again.
            for l in c.to_lowercase().filter(|l| l.is_alphanumeric()) {
                out.push(l);
            }
        } else if in_word && is_apostrophe(c) && next.is_some_and(|n| n.is_alphabetic()) {
            out.push('\'');
        } else if in_word
            && (c == '.' || c == ',')
            && prev.is_some_and(|p| p.is_ascii_digit())
            && next.is_some_and(|n| n.is_ascii_digit())
        {
            if c == '.' {
                out.push('.');
            }
        } else if in_word {
            in_word = false;
            expand_word(out, word_start);
        }
        prev = Some(c);
    }
    if in_word {
        expand_word(out, word_start);
    }
    // A contraction that expanded to nothing (a bare "'s") may leave a trailing space.
    while out.ends_with(' ') {
        out.pop();
    }
}

/// Full-width forms (U+FF01..U+FF5E) to ASCII, the ideographic space to a space.
fn to_half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`')
}

/// Contractions written without the apostrophe, as recognisers often spell them.
const BARE_CONTRACTIONS: &[(&str, &str)] = &[
    ("whats", "what is"),
    ("thats", "that is"),
    ("dont", "do not"),
    ("doesnt", "does not"),
    ("didnt", "did not"),
    ("cant", "can not"),
    ("cannot", "can not"),
    ("wont", "will not"),
    ("isnt", "is not"),
    ("arent", "are not"),
    ("wasnt", "was not"),
    ("havent", "have not"),
    ("hasnt", "has not"),
    ("couldnt", "could not"),
    ("shouldnt", "should not"),
    ("wouldnt", "would not"),
    ("im", "i am"),
    ("ive", "i have"),
    ("youre", "you are"),
    ("theyre", "they are"),
    ("wanna", "want to"),
    ("gonna", "going to"),
    ("gotta", "got to"),
];

/// Words whose `'s` means `is` rather than a possessive.
const S_IS: &[&str] = &[
    "what", "it", "that", "there", "here", "he", "she", "who", "where", "how", "when", "why",
];

/// Rewrites the word that starts at `start` (the tail of `out`) if it is a contraction.
fn expand_word(out: &mut String, start: usize) {
    let Some(word) = out.get(start..) else {
        return;
    };
    let replacement: Option<String> = if let Some(pos) = word.find('\'') {
        let (head, tail) = word.split_at(pos);
        let tail = &tail[1..];
        match (head, tail) {
            ("can", "t") => Some("can not".into()),
            ("won", "t") => Some("will not".into()),
            ("shan", "t") => Some("shall not".into()),
            ("ain", "t") => Some("is not".into()),
            ("let", "s") => Some("let us".into()),
            ("y", "all") => Some("you all".into()),
            (h, "s") if S_IS.contains(&h) => Some(format!("{h} is")),
            (h, "s") => Some(h.to_string()),
            (h, "re") => Some(format!("{h} are")),
            (h, "ve") => Some(format!("{h} have")),
            (h, "ll") => Some(format!("{h} will")),
            (h, "d") => Some(format!("{h} would")),
            (h, "m") => Some(format!("{h} am")),
            (h, "t") if h.ends_with('n') && h.len() > 1 => {
                Some(format!("{} not", &h[..h.len() - 1]))
            }
            _ => Some(word.replace('\'', "")),
        }
    } else {
        BARE_CONTRACTIONS
            .iter()
            .find(|(bare, _)| *bare == word)
            .map(|(_, full)| (*full).to_string())
    };
    if let Some(r) = replacement {
        out.truncate(start);
        out.push_str(&r);
        if r.is_empty() && out.ends_with(' ') {
            out.pop();
        }
    }
}

/// True for characters in the CJK Unified Ideographs blocks (and their extensions and
/// compatibility forms), which the tokenizer splits into characters and bigrams.
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0x3007)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_capital_i_with_a_dot_lower_cases_to_a_plain_i_once_and_for_all() {
        assert_eq!(normalize("İstanbul"), "istanbul");
        assert_eq!(normalize(&normalize("İ")), normalize("İ"));
    }
    use super::*;

    #[test]
    fn lower_cases_and_strips_punctuation() {
        assert_eq!(
            normalize("Check my BALANCE, please!"),
            "check my balance please"
        );
    }

    #[test]
    fn collapses_whitespace_and_trims() {
        assert_eq!(normalize("  lost \t\n  card  "), "lost card");
    }

    #[test]
    fn converts_full_width_to_half_width() {
        assert_eq!(normalize("ＡＢＣ　１２３！"), "abc 123");
        assert_eq!(normalize("我要查余额。"), "我要查余额");
        assert_eq!(normalize("你好，我想预约！"), "你好 我想预约");
    }

    #[test]
    fn expands_contractions() {
        assert_eq!(normalize("What's my balance?"), "what is my balance");
        assert_eq!(normalize("I don't know"), "i do not know");
        assert_eq!(normalize("I can't log in"), "i can not log in");
        assert_eq!(normalize("I won't"), "i will not");
        assert_eq!(
            normalize("I'm calling, I've lost it"),
            "i am calling i have lost it"
        );
        assert_eq!(
            normalize("we're you'll they'd"),
            "we are you will they would"
        );
        assert_eq!(normalize("let's go"), "let us go");
    }

    #[test]
    fn expands_contractions_with_curly_apostrophes_and_without_apostrophes() {
        assert_eq!(normalize("What\u{2019}s up"), "what is up");
        assert_eq!(normalize("whats my balance"), "what is my balance");
        assert_eq!(normalize("i dont want it"), "i do not want it");
        assert_eq!(normalize("im lost"), "i am lost");
    }

    #[test]
    fn drops_possessive_s() {
        assert_eq!(normalize("my wife's card"), "my wife card");
    }

    #[test]
    fn keeps_decimal_points_and_drops_thousands_separators() {
        assert_eq!(normalize("send 1,234.50 now."), "send 1234.50 now");
        assert_eq!(normalize("end. 3"), "end 3");
    }

    #[test]
    fn splits_hyphenated_words() {
        assert_eq!(normalize("twenty-one"), "twenty one");
    }

    #[test]
    fn keeps_mixed_chinese_and_english() {
        assert_eq!(normalize("我要找Agent，谢谢"), "我要找agent 谢谢");
    }

    #[test]
    fn empty_and_punctuation_only_inputs_become_empty() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("?!... ,"), "");
        assert_eq!(normalize("'s"), "s");
    }

    #[test]
    fn recognises_han_characters() {
        assert!(is_han('中'));
        assert!(is_han('〇'));
        assert!(!is_han('a'));
        assert!(!is_han('，'));
    }

    proptest::proptest! {
        #[test]
        fn normalising_twice_changes_nothing(text in "\\PC{0,60}") {
            let once = normalize(&text);
            proptest::prop_assert_eq!(normalize(&once), once);
        }
    }
}
