//! Calendar dates, resolved against `today`: ISO `2026-12-03`, "today", "tomorrow", "the day
//! after tomorrow", "in three days", "Monday", "next Monday", "December 3rd", "3rd of December",
//! "the third of December 1985", "12/03" (month first for en-US, day first elsewhere), "明天",
//! "后天", "下周一", "周五", "12月3日", "十二月三号", "2026年12月3日", "三天后".
//!
//! Rules: a weekday alone or with "this"/"coming" is its next occurrence, today included; "next
//! X" is the first X after today that is not in the current Monday–Sunday week (on a Wednesday,
//! "next Friday" is nine days away, "next Monday" five). "下周X" is X in the following week.
//! A month and day without a year is the next such date, today included.

use chrono::{Datelike, Days, NaiveDate, Weekday};

use super::clean;
use super::words::{en_cardinal, en_ordinal, en_tens, en_unit, is_figure, zh_number};

/// The date in `text`.
pub fn parse(text: &str, language: &str, today: NaiveDate) -> Option<NaiveDate> {
    let cleaned = clean(text);
    if cleaned.chars().any(super::super::normalize::is_han) {
        if let Some(d) = parse_zh(&cleaned, today) {
            return Some(d);
        }
    }
    let toks: Vec<&str> = cleaned.split(' ').filter(|t| !t.is_empty()).collect();
    numeric(&toks, language, today)
        .or_else(|| relative_day(&toks, today))
        .or_else(|| weekday(&toks, today))
        .or_else(|| month_day(&toks, today))
}

/// `2026-12-03`, `12/03`, `12/03/2026`, `3/12/26`.
fn numeric(toks: &[&str], language: &str, today: NaiveDate) -> Option<NaiveDate> {
    for t in toks {
        let parts: Vec<&str> = t.split(['-', '/']).collect();
        if parts.len() < 2
            || !parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let n: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        if n.len() != parts.len() {
            continue;
        }
        if parts[0].len() == 4 && n.len() == 3 {
            return NaiveDate::from_ymd_opt(n[0] as i32, n[1], n[2]);
        }
        let us = language.eq_ignore_ascii_case("en-US")
            || !language.to_ascii_lowercase().starts_with("en");
        let (m, d) = if us { (n[0], n[1]) } else { (n[1], n[0]) };
        return match n.get(2) {
            Some(&y) => NaiveDate::from_ymd_opt(full_year(y, parts[2].len()), m, d),
            None => upcoming(today, m, d),
        };
    }
    None
}

fn full_year(y: u32, digits: usize) -> i32 {
    if digits <= 2 {
        2000 + y as i32
    } else {
        y as i32
    }
}

/// The next `m`/`d` on or after `today`.
fn upcoming(today: NaiveDate, m: u32, d: u32) -> Option<NaiveDate> {
    let this = NaiveDate::from_ymd_opt(today.year(), m, d);
    match this {
        Some(date) if date >= today => Some(date),
        _ => NaiveDate::from_ymd_opt(today.year() + 1, m, d).or(this),
    }
}

fn relative_day(toks: &[&str], today: NaiveDate) -> Option<NaiveDate> {
    let joined = format!(" {} ", toks.join(" "));
    let has = |p: &str| joined.contains(&format!(" {p} "));
    if has("day after tomorrow") {
        return today.checked_add_days(Days::new(2));
    }
    if has("day before yesterday") {
        return today.checked_sub_days(Days::new(2));
    }
    if has("tomorrow") {
        return today.checked_add_days(Days::new(1));
    }
    if has("yesterday") {
        return today.checked_sub_days(Days::new(1));
    }
    if has("today") || has("tonight") {
        return Some(today);
    }
    // "in three days", "two weeks from now"
    for (i, t) in toks.iter().enumerate() {
        let unit = match *t {
            "day" | "days" => 1,
            "week" | "weeks" => 7,
            _ => continue,
        };
        let start = (0..i).find(|&s| en_cardinal(&toks[s..i]).is_some_and(|(_, n)| s + n == i))?;
        let (v, _) = en_cardinal(&toks[start..i])?;
        if v.fract() != 0.0 || !(0.0..1000.0).contains(&v) {
            return None;
        }
        let ago = toks.get(i + 1) == Some(&"ago");
        let days = Days::new(v as u64 * unit);
        return if ago {
            today.checked_sub_days(days)
        } else {
            today.checked_add_days(days)
        };
    }
    None
}

fn weekday_of(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

fn weekday(toks: &[&str], today: NaiveDate) -> Option<NaiveDate> {
    let (i, wd) = toks
        .iter()
        .enumerate()
        .find_map(|(i, t)| weekday_of(t).map(|w| (i, w)))?;
    let next =
        toks[..i].contains(&"next") || toks[i + 1..].windows(2).any(|w| w == ["next", "week"]);
    let ahead =
        (7 + wd.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64) % 7;
    if !next {
        return today.checked_add_days(Days::new(ahead as u64));
    }
    // First occurrence after today that lies beyond the current week.
    let mut days = if ahead == 0 { 7 } else { ahead };
    let to_week_end = 6 - today.weekday().num_days_from_monday() as i64;
    if days <= to_week_end {
        days += 7;
    }
    today.checked_add_days(Days::new(days as u64))
}

fn month_of(w: &str) -> Option<u32> {
    Some(match w {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sep" | "sept" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

/// A day of the month at `toks[0..]`: "3", "3 rd", "third", "twenty third", "twenty three".
fn day_at(toks: &[&str]) -> Option<(u32, usize)> {
    let first = *toks.first()?;
    if is_figure(first) {
        let d: u32 = first.parse().ok()?;
        let n = if toks
            .get(1)
            .is_some_and(|s| matches!(*s, "st" | "nd" | "rd" | "th"))
        {
            2
        } else {
            1
        };
        return (1..=31).contains(&d).then_some((d, n));
    }
    if let Some(d) = en_ordinal(first) {
        return Some((d, 1));
    }
    if let Some(t) = en_tens(first) {
        if let Some(u) = toks
            .get(1)
            .and_then(|s| en_ordinal(s).or_else(|| en_unit(s)))
            .filter(|u| (1..10).contains(u))
        {
            return (t + u <= 31).then_some((t + u, 2));
        }
        return (t <= 30).then_some((t, 1));
    }
    en_unit(first)
        .filter(|d| (1..=19).contains(d) && first != "o" && first != "oh")
        .map(|d| (d, 1))
}

/// A year after a date: "2026", "nineteen eighty five", "two thousand and five", "twenty twenty six".
fn year_at(toks: &[&str]) -> Option<i32> {
    let toks: &[&str] = match toks.first() {
        Some(&"of") | Some(&"in") => &toks[1..],
        _ => toks,
    };
    let first = *toks.first()?;
    if is_figure(first) && first.len() == 4 {
        return first.parse().ok();
    }
    if let Some((v, n)) = en_cardinal(toks) {
        if v >= 1000.0 && v.fract() == 0.0 {
            return Some(v as i32);
        }
        // "nineteen eighty five": two two-digit halves.
        if (10.0..100.0).contains(&v) {
            if let Some((w, _)) = en_cardinal(&toks[n..]) {
                if (0.0..100.0).contains(&w) {
                    return Some((v * 100.0 + w) as i32);
                }
            }
        }
    }
    None
}

fn month_day(toks: &[&str], today: NaiveDate) -> Option<NaiveDate> {
    let (mi, m) = toks
        .iter()
        .enumerate()
        .find_map(|(i, t)| month_of(t).map(|m| (i, m)))?;
    // "december 3rd", "december the third"
    let after = &toks[mi + 1..];
    let after_day = if after.first() == Some(&"the") {
        &after[1..]
    } else {
        after
    };
    let (d, rest) = if let Some((d, n)) = day_at(after_day) {
        (d, &after_day[n..])
    } else {
        // "3rd of december", "the third of december"
        let mut end = mi;
        if end > 0 && toks[end - 1] == "of" {
            end -= 1;
        }
        let start = (0..end)
            .rev()
            .find(|&s| day_at(&toks[s..end]).is_some_and(|(_, n)| s + n == end))?;
        (day_at(&toks[start..end])?.0, after)
    };
    match year_at(rest) {
        Some(y) => NaiveDate::from_ymd_opt(y, m, d),
        None => upcoming(today, m, d),
    }
}

/// Chinese dates.
fn parse_zh(cleaned: &str, today: NaiveDate) -> Option<NaiveDate> {
    let s: String = cleaned.chars().filter(|c| *c != ' ').collect();
    const DAYS: &[(&str, i64)] = &[
        ("大后天", 3),
        ("后天", 2),
        ("明天", 1),
        ("明日", 1),
        ("今天", 0),
        ("今日", 0),
        ("大前天", -3),
        ("前天", -2),
        ("昨天", -1),
    ];
    if let Some((_, k)) = DAYS.iter().find(|(w, _)| s.contains(w)) {
        return add(today, *k);
    }
    // N天后 / N天以后 / N个星期后
    if let Some(pos) = s.find("天后").or_else(|| s.find("天以后")) {
        let n = trailing_number(&s[..pos])?;
        return add(today, n as i64);
    }
    // 周X / 星期X / 礼拜X, with 下 / 下下 / 这 / 本
    for key in ["星期", "礼拜", "周"] {
        if let Some(pos) = s.find(key) {
            let after = s[pos + key.len()..].chars().next()?;
            let wd = match after {
                '一' | '1' => 0,
                '二' | '2' => 1,
                '三' | '3' => 2,
                '四' | '4' => 3,
                '五' | '5' => 4,
                '六' | '6' => 5,
                '日' | '天' | '七' | '7' => 6,
                _ => continue,
            };
            let before = &s[..pos];
            let weeks = if before.ends_with("下下") || before.ends_with("下下个") {
                2
            } else if before.ends_with('下') || before.ends_with("下个") {
                1
            } else {
                0
            };
            let today_wd = today.weekday().num_days_from_monday() as i64;
            if weeks == 0 {
                return add(today, (7 + wd - today_wd) % 7);
            }
            return add(today, 7 * weeks + wd - today_wd);
        }
    }
    // (YYYY年)M月D日/号
    let month_pos = s.find('月')?;
    let day_end = s[month_pos..].find(['日', '号']).map(|p| p + month_pos)?;
    let m = trailing_number(&s[..month_pos])? as u32;
    let d = number(&s[month_pos + '月'.len_utf8()..day_end])? as u32;
    let year = s.find('年').and_then(|y| {
        let digits: String = s[..y]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || super::words::zh_digit(*c).is_some())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let v = number(&digits)?;
        Some(if digits.chars().count() == 2 {
            2000 + v as i32
        } else {
            v as i32
        })
    });
    let m_in_range = (1..=12).contains(&m);
    if !m_in_range {
        return None;
    }
    match year {
        Some(y) => NaiveDate::from_ymd_opt(y, m, d),
        None => upcoming(today, m, d),
    }
}

fn add(today: NaiveDate, days: i64) -> Option<NaiveDate> {
    if days >= 0 {
        today.checked_add_days(Days::new(days as u64))
    } else {
        today.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

fn is_num(c: char) -> bool {
    c.is_ascii_digit() || super::words::zh_digit(c).is_some() || c == '十'
}

fn trailing_number(s: &str) -> Option<f64> {
    let run: String = s
        .chars()
        .rev()
        .take_while(|c| is_num(*c))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    number(&run)
}

fn number(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let v = if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()?
    } else {
        zh_number(s)?
    };
    (v.fract() == 0.0 && v >= 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wednesday 18 March 2026.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 18).unwrap()
    }

    fn p(s: &str) -> Option<String> {
        parse(s, "en-US", today()).map(|d| d.to_string())
    }

    fn zh(s: &str) -> Option<String> {
        parse(s, "zh-CN", today()).map(|d| d.to_string())
    }

    #[test]
    fn iso_and_numeric_dates() {
        assert_eq!(p("2026-12-03").as_deref(), Some("2026-12-03"));
        assert_eq!(p("12/03").as_deref(), Some("2026-12-03"));
        assert_eq!(
            parse("12/03", "en-GB", today())
                .map(|d| d.to_string())
                .as_deref(),
            Some("2027-03-12")
        );
        assert_eq!(p("12/03/2027").as_deref(), Some("2027-12-03"));
        assert_eq!(p("1/2/26").as_deref(), Some("2026-01-02"));
        assert_eq!(p("2026-02-30"), None);
    }

    #[test]
    fn relative_days() {
        assert_eq!(p("today").as_deref(), Some("2026-03-18"));
        assert_eq!(p("tomorrow please").as_deref(), Some("2026-03-19"));
        assert_eq!(p("the day after tomorrow").as_deref(), Some("2026-03-20"));
        assert_eq!(p("yesterday").as_deref(), Some("2026-03-17"));
        assert_eq!(p("in three days").as_deref(), Some("2026-03-21"));
        assert_eq!(p("two weeks from now").as_deref(), Some("2026-04-01"));
    }

    #[test]
    fn weekdays() {
        assert_eq!(p("Friday").as_deref(), Some("2026-03-20"));
        assert_eq!(p("this friday").as_deref(), Some("2026-03-20"));
        assert_eq!(p("wednesday").as_deref(), Some("2026-03-18"));
        assert_eq!(p("next Monday").as_deref(), Some("2026-03-23"));
        assert_eq!(p("next Friday").as_deref(), Some("2026-03-27"));
        assert_eq!(p("monday next week").as_deref(), Some("2026-03-23"));
    }

    #[test]
    fn month_names() {
        assert_eq!(p("December 3rd").as_deref(), Some("2026-12-03"));
        assert_eq!(p("3rd of December").as_deref(), Some("2026-12-03"));
        assert_eq!(p("the third of december").as_deref(), Some("2026-12-03"));
        assert_eq!(
            p("december the twenty first").as_deref(),
            Some("2026-12-21")
        );
        assert_eq!(p("Jan 5").as_deref(), Some("2027-01-05"));
        assert_eq!(p("march 18").as_deref(), Some("2026-03-18"));
        assert_eq!(
            p("december third nineteen eighty five").as_deref(),
            Some("1985-12-03")
        );
        assert_eq!(p("May 4 2030").as_deref(), Some("2030-05-04"));
        assert_eq!(p("february thirtieth"), None);
    }

    #[test]
    fn chinese_dates() {
        assert_eq!(zh("明天").as_deref(), Some("2026-03-19"));
        assert_eq!(zh("后天下午").as_deref(), Some("2026-03-20"));
        assert_eq!(zh("大后天").as_deref(), Some("2026-03-21"));
        assert_eq!(zh("今天").as_deref(), Some("2026-03-18"));
        assert_eq!(zh("下周一").as_deref(), Some("2026-03-23"));
        assert_eq!(zh("下星期五").as_deref(), Some("2026-03-27"));
        assert_eq!(zh("周五").as_deref(), Some("2026-03-20"));
        assert_eq!(zh("礼拜天").as_deref(), Some("2026-03-22"));
        assert_eq!(zh("12月3日").as_deref(), Some("2026-12-03"));
        assert_eq!(zh("十二月三号").as_deref(), Some("2026-12-03"));
        assert_eq!(zh("2027年1月5日").as_deref(), Some("2027-01-05"));
        assert_eq!(zh("三天后").as_deref(), Some("2026-03-21"));
    }

    #[test]
    fn not_a_date_is_none() {
        assert_eq!(p("whenever"), None);
        assert_eq!(zh("你好"), None);
        assert_eq!(p(""), None);
    }
}
