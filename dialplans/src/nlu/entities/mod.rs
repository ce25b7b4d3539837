//! Slot values for `collect`: what a caller said or keyed, turned into a typed JSON value.
//!
//! | kind | value | accepts (English and Chinese) |
//! |---|---|---|
//! | [`SlotKind::Digits`] | `"427"` | "four two seven", "four hundred twenty seven", "double five", "oh", "四二七", "幺", keys `427#` |
//! | [`SlotKind::Number`] | `1205`, `3.5` | "one thousand two hundred and five", "3.5", "三点五", "一千零五", "两万" |
//! | [`SlotKind::Currency`] | `{"amount": 50.2, "currency": "USD"}` | "fifty dollars and twenty cents", "$1,234.50", "€20", "五十元", "五十块" |
//! | [`SlotKind::Date`] | `"2026-12-03"` | ISO, "tomorrow", "next Monday", "December 3rd", "12/03", "明天", "下周一", "12月3日" |
//! | [`SlotKind::Time`] | `"15:30"` | "3 pm", "3:30 pm", "15:30", "noon", "half past two", "下午三点", "三点半" |
//! | [`SlotKind::YesNo`] | `true` / `false` | "yes", "yeah", "that's right", "nope", "not really", "是的", "对", "不是" |
//! | [`SlotKind::Phone`] | `"+15550100"` | 7–15 digits with an optional `+`, spoken ("plus one five five ...") or keyed |
//!
//! Parsers return `None` when the text holds no value of the kind, or an ambiguous one ("yes
//! no", "maybe"). Dates are resolved against the `today` passed in; nothing reads a clock.

mod currency;
mod date;
mod digits;
mod number;
mod phone;
mod time;
mod words;
mod yes_no;

use chrono::NaiveDate;
use serde_json::Value;

/// The type of a slot, as written in `collect: { type: ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// A string of digits (account numbers, PINs, menu choices).
    Digits,
    /// An integer or decimal number.
    Number,
    /// An amount of money with its currency.
    Currency,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A time of day, `HH:MM` (24-hour).
    Time,
    /// A yes/no answer.
    YesNo,
    /// A telephone number: 7–15 digits with an optional leading `+`.
    Phone,
}

impl SlotKind {
    /// The kind named in a dial plan (`digits`, `number`, `currency`, `date`, `time`, `yes_no`,
    /// `phone`).
    pub fn from_name(name: &str) -> Option<SlotKind> {
        Some(match name {
            "digits" => SlotKind::Digits,
            "number" => SlotKind::Number,
            "currency" => SlotKind::Currency,
            "date" => SlotKind::Date,
            "time" => SlotKind::Time,
            "yes_no" => SlotKind::YesNo,
            "phone" => SlotKind::Phone,
            _ => return None,
        })
    }
}

/// Parses a slot value of `kind` from what the caller said or keyed, in `language` (a BCP 47
/// tag; it decides `12/03` order and the default currency), with relative dates resolved
/// against `today`.
pub fn parse_slot(kind: SlotKind, text: &str, language: &str, today: NaiveDate) -> Option<Value> {
    match kind {
        SlotKind::Digits => digits::parse(text).map(Value::String),
        SlotKind::Number => number::parse(text).map(number::to_json),
        SlotKind::Currency => currency::parse(text, language).map(|(amount, code)| {
            serde_json::json!({ "amount": number::to_json((amount * 100.0).round() / 100.0), "currency": code })
        }),
        SlotKind::Date => date::parse(text, language, today).map(|d| Value::String(d.format("%Y-%m-%d").to_string())),
        SlotKind::Time => time::parse(text).map(|(h, m)| Value::String(format!("{h:02}:{m:02}"))),
        SlotKind::YesNo => yes_no::parse(text).map(Value::Bool),
        SlotKind::Phone => phone::parse(text).map(Value::String),
    }
}

/// The digits in a spoken or keyed answer ("four two seven", "四二七", "#427" → `"427"`).
pub fn extract_digits(text: &str) -> Option<String> {
    digits::parse(text)
}

/// Entity-side normalisation: lower case, half-width, thousands separators dropped, and the
/// symbols entities need (`$ € £ ¥ + : / - . # *`) kept as separate tokens or inside figures;
/// Han runs and Latin runs become separate tokens, as do figures glued to letters
/// (`3pm` → `3 pm`, `3rd` → `3 rd`).
pub(crate) fn clean(text: &str) -> String {
    let chars: Vec<char> = text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            '\u{FFE5}' => '¥',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    let mut out = String::with_capacity(text.len());
    let class = |c: char| -> u8 {
        if super::normalize::is_han(c) {
            1
        } else if c.is_ascii_digit() {
            2
        } else if c.is_alphabetic() {
            3
        } else {
            0
        }
    };
    let mut prev_class = 0u8;
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let digit_both =
            prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit());
        let cl = class(c);
        if cl != 0 {
            if prev_class != 0 && prev_class != cl && !out.ends_with(' ') {
                out.push(' ');
            }
            out.push(c);
            prev_class = cl;
            continue;
        }
        prev_class = 0;
        match c {
            ',' if digit_both => {}
            '.' | ':' | '/' if digit_both => out.push(c),
            '-' if digit_both => out.push(c),
            '$' | '€' | '£' | '¥' | '+' | '#' | '*' => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                out.push(c);
                out.push(' ');
            }
            _ => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
        }
    }
    let collapsed: Vec<&str> = out.split_whitespace().collect();
    collapsed.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_separates_scripts_symbols_and_glued_figures() {
        assert_eq!(clean("3pm"), "3 pm");
        assert_eq!(clean("December 3rd"), "december 3 rd");
        assert_eq!(clean("$1,234.50"), "$ 1234.50");
        assert_eq!(clean("账号是427"), "账号是 427");
        assert_eq!(clean("15:30, ok?"), "15:30 ok");
        assert_eq!(clean("２０２６－１２－０３"), "2026-12-03");
        assert_eq!(clean("twenty-one"), "twenty one");
        assert_eq!(clean("￥50"), "¥ 50");
    }

    #[test]
    fn slot_kinds_have_plan_names() {
        assert_eq!(SlotKind::from_name("yes_no"), Some(SlotKind::YesNo));
        assert_eq!(SlotKind::from_name("colour"), None);
    }

    #[test]
    fn parse_slot_returns_typed_json() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 18).unwrap();
        let p = |k, t| parse_slot(k, t, "en-US", today);
        assert_eq!(
            p(SlotKind::Digits, "four two seven"),
            Some(Value::from("427"))
        );
        assert_eq!(
            p(SlotKind::Number, "three point five"),
            Some(Value::from(3.5))
        );
        assert_eq!(p(SlotKind::Number, "twelve"), Some(Value::from(12)));
        assert_eq!(
            p(SlotKind::Currency, "fifty dollars and twenty cents"),
            Some(serde_json::json!({"amount": 50.2, "currency": "USD"}))
        );
        assert_eq!(
            p(SlotKind::Date, "tomorrow"),
            Some(Value::from("2026-03-19"))
        );
        assert_eq!(p(SlotKind::Time, "3 pm"), Some(Value::from("15:00")));
        assert_eq!(p(SlotKind::YesNo, "yep"), Some(Value::from(true)));
        assert_eq!(p(SlotKind::Phone, "555 0100"), Some(Value::from("5550100")));
        assert_eq!(extract_digits("#427"), Some("427".into()));
    }

    proptest::proptest! {
        #[test]
        fn no_input_makes_a_parser_panic(text in "\\PC{0,40}", lang in "(en-US|en-GB|zh-CN|fr-FR)") {
            let today = NaiveDate::from_ymd_opt(2026, 3, 18).unwrap();
            for kind in [SlotKind::Digits, SlotKind::Number, SlotKind::Currency, SlotKind::Date,
                         SlotKind::Time, SlotKind::YesNo, SlotKind::Phone] {
                let _ = parse_slot(kind, &text, &lang, today);
            }
        }

        #[test]
        fn number_words_and_chinese_numerals_never_panic(text in "[ 一二三四五六七八九十百千万亿零两点负幺元块毛角分月日号周下半刻]{0,16}|((one|two|twenty|hundred|thousand|and|point|a|oh|double|past|to|half|pm|next|monday|december|of|the|3rd|12/03|\\$|,) ){0,10}") {
            let today = NaiveDate::from_ymd_opt(2026, 3, 18).unwrap();
            for kind in [SlotKind::Digits, SlotKind::Number, SlotKind::Currency, SlotKind::Date,
                         SlotKind::Time, SlotKind::YesNo, SlotKind::Phone] {
                let _ = parse_slot(kind, &text, "en-US", today);
                let _ = parse_slot(kind, &text, "zh-CN", today);
            }
        }

        #[test]
        fn keyed_digits_round_trip(digits in "[0-9]{1,20}") {
            proptest::prop_assert_eq!(extract_digits(&digits), Some(digits.clone()));
            proptest::prop_assert_eq!(extract_digits(&format!("#{digits}#")), Some(digits));
        }
    }
}
