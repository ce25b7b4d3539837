//! Times of day: "3 pm", "3:30 pm", "15:30", "noon", "half past two", "quarter to four",
//! "three thirty", "ten in the morning", "下午三点", "三点半", "上午十点", "十五点三十分".
//! Without am/pm (or 上午/下午) the hour is taken as said: "half past two" is 02:30.

use super::clean;
use super::words::{en_cardinal, en_unit, is_figure, zh_number};

/// `(hour, minute)` in 24-hour time.
pub fn parse(text: &str) -> Option<(u32, u32)> {
    let cleaned = clean(text);
    if cleaned.chars().any(super::super::normalize::is_han) {
        if let Some(t) = parse_zh(&cleaned) {
            return Some(t);
        }
    }
    let toks: Vec<&str> = cleaned.split(' ').filter(|t| !t.is_empty()).collect();
    let meridiem = meridiem(&toks);
    if toks.iter().any(|t| matches!(*t, "noon" | "midday")) {
        return Some((12, 0));
    }
    if toks.contains(&"midnight") {
        return Some((0, 0));
    }
    let (h, m) = relative(&toks).or_else(|| clock(&toks))?;
    apply_meridiem(h, m, meridiem)
}

/// `Some(true)` for pm, `Some(false)` for am.
fn meridiem(toks: &[&str]) -> Option<bool> {
    for (i, &t) in toks.iter().enumerate() {
        let next = toks.get(i + 1).copied();
        match t {
            "pm" | "afternoon" | "evening" | "tonight" => return Some(true),
            "night" if i > 0 && matches!(toks[i - 1], "at" | "the") => return Some(true),
            "am" | "morning" => return Some(false),
            "p" if next == Some("m") => return Some(true),
            "a" if next == Some("m") => return Some(false),
            _ => {}
        }
    }
    None
}

fn apply_meridiem(h: u32, m: u32, pm: Option<bool>) -> Option<(u32, u32)> {
    let h = match pm {
        Some(true) if (1..12).contains(&h) => h + 12,
        Some(false) if h == 12 => 0,
        _ => h,
    };
    (h < 24 && m < 60).then_some((h, m))
}

/// A number of up to two tokens at `toks[i..]`, with the tokens used.
fn small_number(toks: &[&str]) -> Option<(u32, usize)> {
    let (v, n) = en_cardinal(toks)?;
    (v.fract() == 0.0 && (0.0..100.0).contains(&v)).then_some((v as u32, n))
}

/// "half past two", "quarter to four", "ten past five", "twenty five minutes to six".
fn relative(toks: &[&str]) -> Option<(u32, u32)> {
    let pos = toks
        .iter()
        .position(|t| matches!(*t, "past" | "after" | "to" | "before" | "til" | "till"))?;
    let before = &toks[..pos];
    let minutes = match before
        .iter()
        .rev()
        .find(|t| !matches!(**t, "minutes" | "minute" | "a" | "it" | "is" | "at"))
    {
        Some(&"half") => 30,
        Some(&"quarter") => 15,
        _ => {
            let start = before.iter().position(|t| en_cardinal(&[t]).is_some())?;
            small_number(&before[start..])?.0
        }
    };
    let (hour, _) = hour_at(&toks[pos + 1..])?;
    if minutes >= 60 || hour > 24 {
        return None;
    }
    Some(match toks[pos] {
        "past" | "after" => (hour % 24, minutes),
        _ => ((hour + 23) % 24, 60 - minutes),
    })
    .map(|(h, m)| if m == 60 { ((h + 1) % 24, 0) } else { (h, m) })
}

fn hour_at(toks: &[&str]) -> Option<(u32, usize)> {
    let first = toks.first()?;
    if is_figure(first) {
        return first
            .parse::<u32>()
            .ok()
            .filter(|h| *h <= 24)
            .map(|h| (h, 1));
    }
    en_unit(first)
        .filter(|h| *h <= 24)
        .map(|h| (h, 1))
        .or_else(|| small_number(toks).filter(|(h, _)| *h <= 24))
}

/// "15:30", "3 30", "three thirty", "three o'clock", "at nine", "seven oh five".
fn clock(toks: &[&str]) -> Option<(u32, u32)> {
    for (i, &t) in toks.iter().enumerate() {
        if let Some((h, m)) = t.split_once(':') {
            let (h, m) = (h.parse().ok()?, m.parse().ok()?);
            return Some((h, m));
        }
        if t.bytes().all(|b| b.is_ascii_digit()) && (3..=4).contains(&t.len()) {
            // "1530", "930"
            let v: u32 = t.parse().ok()?;
            return Some((v / 100, v % 100));
        }
        let Some((h, n)) = hour_at(&toks[i..]) else {
            continue;
        };
        let rest = &toks[i + n..];
        let m = match rest {
            [m, ..] if is_figure(m) => m.parse().ok().filter(|m: &u32| *m < 60).unwrap_or(0),
            ["oh" | "o", d, ..] => en_unit(d).filter(|d| *d < 10).unwrap_or(0),
            [w, ..] if en_cardinal(&[w]).is_some() && *w != "o" => {
                small_number(rest).map_or(0, |(m, _)| m)
            }
            _ => 0,
        };
        return Some((h, m));
    }
    None
}

/// Chinese: optional period word, hour + 点/时, then 半, 一刻/三刻, or minutes (+ 分).
fn parse_zh(cleaned: &str) -> Option<(u32, u32)> {
    let s: String = cleaned.chars().filter(|c| *c != ' ').collect();
    const PERIODS: &[(&str, i8)] = &[
        ("凌晨", 0),
        ("早上", 0),
        ("早晨", 0),
        ("上午", 0),
        ("中午", 2),
        ("下午", 1),
        ("傍晚", 1),
        ("晚上", 1),
        ("夜里", 1),
        ("今晚", 1),
    ];
    let period = PERIODS.iter().find(|(p, _)| s.contains(p)).map(|(_, k)| *k);
    let Some(dian) = s.find(['点', '时']) else {
        return (period == Some(2)).then_some((12, 0));
    };
    let before: String = s[..dian]
        .chars()
        .rev()
        .take_while(|c| is_num(*c))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let hour = number(&before)?;
    let after = &s[dian + '点'.len_utf8()..];
    let minutes = if after.starts_with('半') {
        30
    } else if after.starts_with("一刻") {
        15
    } else if after.starts_with("三刻") {
        45
    } else {
        let digits: String = after.chars().take_while(|c| is_num(*c)).collect();
        if digits.is_empty() {
            0
        } else {
            number(&digits)?
        }
    };
    let hour = match period {
        Some(1) if (1..12).contains(&hour) => hour + 12,
        Some(2) if (1..=3).contains(&hour) => hour + 12,
        Some(0) if hour == 12 => 0,
        _ => hour,
    };
    (hour < 24 && minutes < 60).then_some((hour, minutes))
}

fn is_num(c: char) -> bool {
    c.is_ascii_digit() || super::words::zh_digit(c).is_some() || c == '十'
}

fn number(s: &str) -> Option<u32> {
    let v = if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<f64>().ok()?
    } else {
        zh_number(s)?
    };
    (v.fract() == 0.0 && (0.0..100.0).contains(&v)).then_some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn p(s: &str) -> Option<String> {
        parse(s).map(|(h, m)| format!("{h:02}:{m:02}"))
    }

    #[test]
    fn english_clock_times() {
        assert_eq!(p("3 pm").as_deref(), Some("15:00"));
        assert_eq!(p("3pm").as_deref(), Some("15:00"));
        assert_eq!(p("3:30 pm").as_deref(), Some("15:30"));
        assert_eq!(p("15:30").as_deref(), Some("15:30"));
        assert_eq!(p("12 am").as_deref(), Some("00:00"));
        assert_eq!(p("10 a.m.").as_deref(), Some("10:00"));
        assert_eq!(p("three thirty").as_deref(), Some("03:30"));
        assert_eq!(
            p("three o'clock in the afternoon").as_deref(),
            Some("15:00")
        );
        assert_eq!(p("ten in the morning").as_deref(), Some("10:00"));
        assert_eq!(p("at seven tonight").as_deref(), Some("19:00"));
        assert_eq!(p("seven oh five").as_deref(), Some("07:05"));
        assert_eq!(p("fifteen forty five").as_deref(), Some("15:45"));
    }

    #[test]
    fn english_words_for_times() {
        assert_eq!(p("noon").as_deref(), Some("12:00"));
        assert_eq!(p("midnight").as_deref(), Some("00:00"));
        assert_eq!(p("half past two").as_deref(), Some("02:30"));
        assert_eq!(
            p("half past two in the afternoon").as_deref(),
            Some("14:30")
        );
        assert_eq!(p("quarter past three").as_deref(), Some("03:15"));
        assert_eq!(p("quarter to four").as_deref(), Some("03:45"));
        assert_eq!(p("ten past five pm").as_deref(), Some("17:10"));
        assert_eq!(p("twenty to six").as_deref(), Some("05:40"));
    }

    #[test]
    fn chinese_times() {
        assert_eq!(p("下午三点").as_deref(), Some("15:00"));
        assert_eq!(p("三点半").as_deref(), Some("03:30"));
        assert_eq!(p("上午十点").as_deref(), Some("10:00"));
        assert_eq!(p("晚上八点一刻").as_deref(), Some("20:15"));
        assert_eq!(p("十五点三十分").as_deref(), Some("15:30"));
        assert_eq!(p("中午十二点").as_deref(), Some("12:00"));
        assert_eq!(p("中午一点").as_deref(), Some("13:00"));
        assert_eq!(p("下午两点半").as_deref(), Some("14:30"));
        assert_eq!(p("凌晨十二点").as_deref(), Some("00:00"));
        assert_eq!(p("早上8点").as_deref(), Some("08:00"));
        assert_eq!(p("中午").as_deref(), Some("12:00"));
        assert_eq!(p("三点三刻").as_deref(), Some("03:45"));
    }

    #[test]
    fn not_a_time_is_none() {
        assert_eq!(p("whenever"), None);
        assert_eq!(p("25:00"), None);
        assert_eq!(p("你好"), None);
        assert_eq!(p(""), None);
    }
}
