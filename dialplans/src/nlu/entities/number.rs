//! Numbers: integers and decimals in words or figures ("one thousand two hundred and five",
//! "3.5", "minus two", "三点五", "一千零五", "两万").

use serde_json::Value;

use super::clean;
use super::words::{
    en_cardinal, en_unit, is_en_number_word, is_figure, is_zh_number_char, zh_number,
};

/// The first number in `text`.
pub fn parse(text: &str) -> Option<f64> {
    let cleaned = clean(text);
    let toks: Vec<&str> = cleaned.split(' ').filter(|t| !t.is_empty()).collect();
    first_number(&toks)
        .map(|(v, _, _)| v)
        .filter(|v| v.is_finite())
}

/// The first number in `toks`: its value, the index of its first token and the number of
/// tokens it spans.
pub(crate) fn first_number(toks: &[&str]) -> Option<(f64, usize, usize)> {
    for (i, &w) in toks.iter().enumerate() {
        let negative = i > 0 && matches!(toks[i - 1], "minus" | "negative");
        let sign = if negative { -1.0 } else { 1.0 };
        if w.chars().any(super::super::normalize::is_han) {
            if let Some(v) = zh_run(w) {
                return Some((v, i, 1));
            }
            continue;
        }
        let starts = is_figure(w)
            || (is_en_number_word(w) && w != "o" && w != "oh")
            || ((w == "a" || w == "an")
                && toks
                    .get(i + 1)
                    .is_some_and(|n| matches!(*n, "hundred" | "thousand" | "million")));
        if !starts {
            continue;
        }
        let (v, n) = en_cardinal(&toks[i..])?;
        // "four two seven": a string of single digits reads as one number.
        let single = |t: &str| en_unit(t).is_some_and(|u| u < 10) || (t.len() == 1 && is_figure(t));
        if n == 1 && single(w) && toks.get(i + 1).is_some_and(|t| single(t)) {
            let run: Vec<&str> = toks[i..]
                .iter()
                .copied()
                .take_while(|t| single(t))
                .collect();
            let digits: String = run
                .iter()
                .filter_map(|t| {
                    if is_figure(t) {
                        t.chars().next()
                    } else {
                        en_unit(t).and_then(|u| char::from_digit(u, 10))
                    }
                })
                .collect();
            return digits.parse::<f64>().ok().map(|v| (sign * v, i, run.len()));
        }
        return Some((sign * v, i, n));
    }
    None
}

/// The first Chinese (or figure) number inside a Han token.
fn zh_run(w: &str) -> Option<f64> {
    let mut run = String::new();
    for c in w.chars() {
        if is_zh_number_char(c) {
            run.push(c);
        } else if !run.is_empty() {
            break;
        }
    }
    let run = run.trim_end_matches('点');
    if run.is_empty() {
        return None;
    }
    zh_number(run)
}

/// A number as JSON: an integer when it has no fraction, else a float.
pub fn to_json(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn p(s: &str) -> Option<f64> {
        parse(s)
    }

    #[test]
    fn english_words() {
        assert_eq!(p("one thousand two hundred and five"), Some(1205.0));
        assert_eq!(p("twenty one"), Some(21.0));
        assert_eq!(p("a hundred"), Some(100.0));
        assert_eq!(p("three point five"), Some(3.5));
        assert_eq!(p("minus two"), Some(-2.0));
        assert_eq!(p("I'd like twelve please"), Some(12.0));
        assert_eq!(p("four two seven"), Some(427.0));
        assert_eq!(p("two million"), Some(2_000_000.0));
        assert_eq!(p(&format!("one {}", "hundred ".repeat(400))), None);
    }

    #[test]
    fn figures() {
        assert_eq!(p("3.5"), Some(3.5));
        assert_eq!(p("1,234"), Some(1234.0));
        assert_eq!(p("about 42 of them"), Some(42.0));
        assert_eq!(p("5 thousand"), Some(5000.0));
    }

    #[test]
    fn chinese() {
        assert_eq!(p("三点五"), Some(3.5));
        assert_eq!(p("一千零五"), Some(1005.0));
        assert_eq!(p("两万"), Some(20000.0));
        assert_eq!(p("我要十二个"), Some(12.0));
        assert_eq!(p("四百二十七"), Some(427.0));
        assert_eq!(p("１２"), Some(12.0));
    }

    #[test]
    fn no_number_is_none() {
        assert_eq!(p("none"), None);
        assert_eq!(p("你好"), None);
        assert_eq!(p(""), None);
    }
}
