//! Builds a JSGF grammar from a [`Grammar`]: phrases, a slot class, or both.
//!
//! Intent phrases become one alternative each, optionally with a second, weighted branch: any
//! sequence of the phrases' words (`<free> = <word>+`), for callers who do not say an example
//! word for word. (Intent grammars use the phrase bigram of [`super::arpa`] by default, which
//! measured better than either form; see `tests/asr_accuracy.rs`.) Slot classes add their own vocabulary: spoken digits with the
//! slot's length bounds, yes/no with common variants, numbers, amounts, dates and times in
//! words.
//!
//! Words the dictionary does not know are dropped (logged at debug level); a grammar left with
//! no words is an error.

use std::fmt::Write as _;

use super::dict::Dictionary;
use crate::asr::{AsrError, Grammar, SlotClass};

/// Spoken digits.
const DIGITS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
/// Ways of saying yes.
const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yes please",
    "sure",
    "correct",
    "right",
    "that's right",
    "that is correct",
    "of course",
    "absolutely",
    "okay",
];
/// Ways of saying no.
const NO: &[&str] = &[
    "no",
    "nope",
    "no thanks",
    "no thank you",
    "not really",
    "wrong",
    "that's wrong",
    "incorrect",
    "that's not right",
    "negative",
];
/// Cardinal numbers in words.
const NUMBER_WORDS: &[&str] = &[
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "and",
    "point",
    "a",
];
/// Currency words added to numbers.
const CURRENCY_WORDS: &[&str] = &[
    "dollar", "dollars", "cent", "cents", "pound", "pounds", "euro", "euros", "pence", "bucks",
];
/// Date words added to numbers.
const DATE_WORDS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "tomorrow",
    "yesterday",
    "next",
    "this",
    "the",
    "of",
    "on",
    "week",
];
/// Time words added to numbers.
const TIME_WORDS: &[&str] = &[
    "o'clock",
    "a",
    "m",
    "p",
    "noon",
    "midnight",
    "half",
    "past",
    "quarter",
    "to",
    "in",
    "the",
    "morning",
    "afternoon",
    "evening",
    "at",
    "around",
];

/// A grammar ready for `ps_set_jsgf_string`.
#[derive(Debug, Clone, PartialEq)]
pub struct Jsgf {
    /// The grammar text.
    pub text: String,
    /// Every word it uses (each present in the dictionary), sorted and deduplicated.
    pub words: Vec<String>,
}

/// Splits `phrase` into dictionary words: lower case, digits spelled out, punctuation removed.
/// Unknown words are dropped.
pub fn phrase_words(phrase: &str, dict: &Dictionary) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        let w = word.trim_matches('\'');
        if !w.is_empty() {
            if dict.contains(w) {
                out.push(w.to_string());
            } else {
                tracing::debug!(
                    word = w,
                    "word not in the speech dictionary; dropped from the grammar"
                );
            }
        }
        word.clear();
    };
    for c in phrase.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '\'' => word.push(c),
            '\u{2019}' => word.push('\''),
            '0'..='9' => {
                flush(&mut word, &mut out);
                let d = c as usize - '0' as usize;
                if let Some(name) = DIGITS.get(if d == 0 { 0 } else { d + 1 }) {
                    out.push((*name).to_string());
                }
            }
            _ => flush(&mut word, &mut out),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Builds the grammar. `loop_weight` is the weight of the free word loop against 1.0 for the
/// whole phrases (0 leaves the loop out).
pub fn build(grammar: &Grammar, dict: &Dictionary, loop_weight: f32) -> Result<Jsgf, AsrError> {
    let mut words: Vec<String> = Vec::new();
    let mut phrases: Vec<Vec<String>> = Vec::new();
    for p in &grammar.phrases {
        let w = phrase_words(p, dict);
        if !w.is_empty() && !phrases.contains(&w) {
            words.extend(w.iter().cloned());
            phrases.push(w);
        }
    }
    let mut rules = String::new();
    let mut branches: Vec<(f32, &str)> = Vec::new();

    if let Some(slot) = grammar.slot {
        if slot_rules(slot, dict, &mut rules, &mut words) {
            branches.push((1.0, "<slot>"));
        }
    }
    if !phrases.is_empty() {
        rules.push_str("<phrase> = ");
        for (i, p) in phrases.iter().enumerate() {
            if i > 0 {
                rules.push_str(" | ");
            }
            let _ = write!(rules, "({})", p.join(" "));
        }
        rules.push_str(";\n");
        branches.push((1.0, "<phrase>"));
        if loop_weight > 0.0 && grammar.slot.is_none() {
            let mut vocab: Vec<&str> = phrases.iter().flatten().map(String::as_str).collect();
            vocab.sort_unstable();
            vocab.dedup();
            let _ = writeln!(rules, "<word> = {};", vocab.join(" | "));
            rules.push_str("<free> = <word>+;\n");
            branches.push((loop_weight, "<free>"));
        }
    }
    if branches.is_empty() {
        return Err(AsrError::EmptyGrammar(
            "none of the grammar's words is in the pronunciation dictionary".into(),
        ));
    }
    let mut text = String::from("#JSGF V1.0;\ngrammar ivr;\npublic <utterance> = ");
    for (i, (weight, rule)) in branches.iter().enumerate() {
        if i > 0 {
            text.push_str(" | ");
        }
        if branches.len() > 1 {
            let _ = write!(text, "/{weight}/ ");
        }
        text.push_str(rule);
    }
    text.push_str(";\n");
    text.push_str(&rules);
    words.sort_unstable();
    words.dedup();
    Ok(Jsgf { text, words })
}

/// Appends `<slot> = ...;` (and helper rules) for `slot`; false if the dictionary knows none
/// of the slot's words.
fn slot_rules(
    slot: SlotClass,
    dict: &Dictionary,
    rules: &mut String,
    words: &mut Vec<String>,
) -> bool {
    let alternatives = |list: &[&str], words: &mut Vec<String>| -> String {
        let mut alts = Vec::new();
        for item in list {
            let w = phrase_words(item, dict);
            if !w.is_empty() {
                let joined = w.join(" ");
                if !alts.contains(&joined) {
                    alts.push(joined);
                }
                words.extend(w);
            }
        }
        alts.iter()
            .map(|a| format!("({a})"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    match slot {
        SlotClass::Digits { min, max } => {
            let digits = alternatives(DIGITS, words);
            if digits.is_empty() {
                return false;
            }
            let _ = writeln!(rules, "<digit> = {digits};");
            digit_sequence(min, max, "", rules);
        }
        SlotClass::Phone => {
            let digits = alternatives(DIGITS, words);
            if digits.is_empty() {
                return false;
            }
            let _ = writeln!(rules, "<digit> = {digits};");
            let lead = alternatives(&["plus"], words);
            if lead.is_empty() {
                digit_sequence(7, 15, "", rules);
            } else {
                let _ = writeln!(rules, "<lead> = {lead};");
                digit_sequence(7, 15, " [<lead>]", rules);
            }
        }
        SlotClass::YesNo => {
            let mut both: Vec<&str> = YES.to_vec();
            both.extend_from_slice(NO);
            let alts = alternatives(&both, words);
            if alts.is_empty() {
                return false;
            }
            let _ = writeln!(rules, "<slot> = {alts};");
        }
        SlotClass::Number | SlotClass::Currency | SlotClass::Date | SlotClass::Time => {
            let mut vocab: Vec<&str> = NUMBER_WORDS.to_vec();
            vocab.extend_from_slice(match slot {
                SlotClass::Currency => CURRENCY_WORDS,
                SlotClass::Date => DATE_WORDS,
                SlotClass::Time => TIME_WORDS,
                _ => &[],
            });
            vocab.sort_unstable();
            vocab.dedup();
            let alts = alternatives(&vocab, words);
            if alts.is_empty() {
                return false;
            }
            let _ = writeln!(rules, "<w> = {alts};");
            rules.push_str("<slot> = <w>+;\n");
        }
    }
    true
}

/// `<slot>` as `min` required and `max - min` optional digits (a plain loop past 24 digits).
fn digit_sequence(min: u32, max: u32, prefix: &str, rules: &mut String) {
    let min = min.max(1);
    let max = max.max(min);
    if max > 24 {
        let _ = writeln!(rules, "<slot> ={prefix} <digit>+;");
        return;
    }
    let _ = write!(rules, "<slot> ={prefix}");
    for _ in 0..min {
        rules.push_str(" <digit>");
    }
    for _ in min..max {
        rules.push_str(" [<digit>]");
    }
    rules.push_str(";\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> Dictionary {
        let words = [
            "check", "my", "balance", "what's", "lost", "card", "i", "yes", "no", "yeah", "zero",
            "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "plus",
        ];
        Dictionary::parse(words.iter().map(|w| format!("{w} AH\n")).collect()).unwrap()
    }

    #[test]
    fn phrases_are_lower_cased_spelled_out_and_unknown_words_dropped() {
        let d = dict();
        assert_eq!(
            phrase_words("What’s my BALANCE, 2 frobnicate?", &d),
            ["what's", "my", "balance", "two"]
        );
        assert_eq!(phrase_words("'check'", &d), ["check"]);
    }

    #[test]
    fn intent_grammar_has_whole_phrases_and_a_weighted_word_loop() {
        let g = Grammar::phrases(
            "en-US",
            &["check my balance", "I lost my card", "Check my balance!"],
        );
        let j = build(&g, &dict(), 0.5).unwrap();
        assert!(
            j.text
                .contains("public <utterance> = /1/ <phrase> | /0.5/ <free>;"),
            "{}",
            j.text
        );
        assert!(
            j.text
                .contains("<phrase> = (check my balance) | (i lost my card);"),
            "{}",
            j.text
        );
        assert!(
            j.text
                .contains("<word> = balance | card | check | i | lost | my;"),
            "{}",
            j.text
        );
        assert_eq!(j.words, ["balance", "card", "check", "i", "lost", "my"]);
        let without = build(&g, &dict(), 0.0).unwrap();
        assert!(
            without.text.contains("public <utterance> = <phrase>;"),
            "{}",
            without.text
        );
        assert!(!without.text.contains("<free>"));
    }

    #[test]
    fn digit_slot_bounds_the_number_of_digits() {
        let g = Grammar::slot("en-US", SlotClass::Digits { min: 2, max: 4 });
        let j = build(&g, &dict(), 0.5).unwrap();
        assert!(
            j.text
                .contains("<slot> = <digit> <digit> [<digit>] [<digit>];"),
            "{}",
            j.text
        );
        assert!(j.text.contains("(oh)"));
        assert!(j.words.contains(&"nine".to_string()));
        let long = build(
            &Grammar::slot("en", SlotClass::Digits { min: 0, max: 99 }),
            &dict(),
            0.0,
        )
        .unwrap();
        assert!(long.text.contains("<slot> = <digit>+;"));
    }

    #[test]
    fn yes_no_keeps_only_variants_the_dictionary_knows() {
        let j = build(&Grammar::slot("en-US", SlotClass::YesNo), &dict(), 0.5).unwrap();
        assert!(
            j.text.contains("<slot> = (yes) | (yeah) | (no);"),
            "{}",
            j.text
        );
    }

    #[test]
    fn a_grammar_of_unknown_words_is_an_error() {
        let g = Grammar::phrases("en-US", &["frobnicate the widget"]);
        assert!(matches!(
            build(&g, &dict(), 0.5),
            Err(AsrError::EmptyGrammar(_))
        ));
    }
}
