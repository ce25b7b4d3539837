//! Digit strings: "four two seven", "four hundred twenty seven", "double five", "oh", "四二七",
//! "四百二十七", "幺" (1), "两" (2), mixed "4 two 7", and keys "427#".

use super::clean;
use super::words::{
    en_cardinal, en_scale, en_tens, en_unit, is_zh_number_char, zh_digit, zh_number, zh_unit,
};

/// The digits in `text`, in order; words that are not numbers are skipped ("my number is ...").
pub fn parse(text: &str) -> Option<String> {
    let cleaned = clean(text);
    let toks: Vec<&str> = cleaned.split(' ').filter(|t| !t.is_empty()).collect();
    let mut out = String::new();
    let mut i = 0;
    while let Some(&w) = toks.get(i) {
        i += 1;
        if w.chars().any(super::super::normalize::is_han) {
            push_zh(w, &mut out);
        } else if w
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-' | b'/'))
        {
            out.extend(w.chars().filter(char::is_ascii_digit));
        } else if w == "double" || w == "triple" {
            let times = if w == "double" { 2 } else { 3 };
            if let Some(d) = toks.get(i).and_then(|n| single_digit(n)) {
                for _ in 0..times {
                    out.push(d);
                }
                i += 1;
            }
        } else if let Some((v, n)) = en_cardinal(&toks[i - 1..])
            .filter(|(_, n)| toks[i - 1..i - 1 + n].iter().any(|t| en_scale(t).is_some()))
        {
            if v.fract() == 0.0 && (0.0..1e15).contains(&v) {
                out.push_str(&format!("{}", v as u64));
            }
            i += n - 1;
        } else if let Some(u) = en_unit(w) {
            out.push_str(&u.to_string());
        } else if let Some(t) = en_tens(w) {
            match toks
                .get(i)
                .and_then(|n| en_unit(n))
                .filter(|u| (1..10).contains(u))
            {
                Some(u) => {
                    out.push_str(&(t + u).to_string());
                    i += 1;
                }
                None => out.push_str(&t.to_string()),
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A single digit written as a figure or a word (`oh` and `o` included).
fn single_digit(w: &str) -> Option<char> {
    if w.len() == 1 && w.as_bytes()[0].is_ascii_digit() {
        return w.chars().next();
    }
    en_unit(w)
        .filter(|u| *u < 10)
        .and_then(|u| char::from_digit(u, 10))
}

/// Digits in a Han token: runs with unit characters (十百千万) read as numbers, others digit by
/// digit.
fn push_zh(w: &str, out: &mut String) {
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().any(|c| zh_unit(c).is_some()) {
            if let Some(v) = zh_number(run).filter(|v| v.fract() == 0.0 && (0.0..1e15).contains(v))
            {
                out.push_str(&format!("{}", v as u64));
            }
        } else {
            out.extend(
                run.chars()
                    .filter_map(zh_digit)
                    .filter_map(|d| char::from_digit(d, 10)),
            );
        }
        run.clear();
    };
    for c in w.chars() {
        if is_zh_number_char(c) && c != '点' && c != '负' {
            run.push(c);
        } else {
            flush(&mut run, out);
        }
    }
    flush(&mut run, out);
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn p(s: &str) -> Option<String> {
        parse(s)
    }

    #[test]
    fn spoken_english_digits() {
        assert_eq!(p("four two seven").as_deref(), Some("427"));
        assert_eq!(p("oh four one").as_deref(), Some("041"));
        assert_eq!(p("zero zero seven").as_deref(), Some("007"));
        assert_eq!(p("double five one").as_deref(), Some("551"));
        assert_eq!(p("triple nine").as_deref(), Some("999"));
        assert_eq!(
            p("my account number is one two three four").as_deref(),
            Some("1234")
        );
    }

    #[test]
    fn spoken_english_numbers_become_digits() {
        assert_eq!(p("four hundred twenty seven").as_deref(), Some("427"));
        assert_eq!(p("twenty one").as_deref(), Some("21"));
        assert_eq!(p("nineteen eighty five").as_deref(), Some("1985"));
        assert_eq!(
            p("five five five twelve thirty four").as_deref(),
            Some("5551234")
        );
        assert_eq!(p("two thousand and five").as_deref(), Some("2005"));
    }

    #[test]
    fn keys_and_mixed_input() {
        assert_eq!(p("427").as_deref(), Some("427"));
        assert_eq!(p("#427").as_deref(), Some("427"));
        assert_eq!(p("427#").as_deref(), Some("427"));
        assert_eq!(p("4 two 7").as_deref(), Some("427"));
        assert_eq!(p("555-0100").as_deref(), Some("5550100"));
    }

    #[test]
    fn chinese_digits() {
        assert_eq!(p("四二七").as_deref(), Some("427"));
        assert_eq!(p("幺二三").as_deref(), Some("123"));
        assert_eq!(p("两两零").as_deref(), Some("220"));
        assert_eq!(p("四百二十七").as_deref(), Some("427"));
        assert_eq!(p("我的账号是四二七").as_deref(), Some("427"));
        assert_eq!(p("账号427").as_deref(), Some("427"));
        assert_eq!(p("〇一").as_deref(), Some("01"));
    }

    #[test]
    fn no_digits_is_none() {
        assert_eq!(p("I don't know"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("你好"), None);
        assert_eq!(p("#"), None);
    }
}
