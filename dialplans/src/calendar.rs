//! Business-hours calendars: weekly opening hours plus holidays.
//!
//! ```yaml
//! calendars:
//!   business:
//!     hours: { mon-fri: "09:00-17:00", sat: "10:00-12:00, 13:00-14:00", sun: closed }
//!     holidays: ["2026-12-25"]
//! ```
//!
//! Day keys are `mon`…`sun`, ranges `mon-fri` (wrapping: `fri-mon`), lists `mon,wed`, and
//! `daily`. Hours are `HH:MM-HH:MM` ranges separated by commas (`24:00` is midnight at the end of
//! the day; a range ending before it starts runs past midnight into the next day), or `closed`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Weekday};

use crate::model::Span;

/// A named business-hours calendar.
#[derive(Clone, Debug)]
pub struct Calendar {
    /// Calendar name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
    /// Opening intervals per weekday, Monday first, in minutes since midnight (`start < end`,
    /// `end <= 1440`).
    pub hours: [Vec<(u16, u16)>; 7],
    /// Days the calendar is closed all day.
    pub holidays: Vec<NaiveDate>,
}

impl Calendar {
    /// A calendar that is never open.
    pub fn new(name: &str, span: Span) -> Calendar {
        Calendar {
            name: name.to_owned(),
            span,
            hours: Default::default(),
            holidays: Vec::new(),
        }
    }

    /// Whether the calendar is open at a local time (in the plan's zone, see
    /// [`crate::Plan::local_time`]).
    pub fn is_open(&self, local: NaiveDateTime) -> bool {
        if self.is_holiday(local.date()) {
            return false;
        }
        let day = local.weekday().num_days_from_monday() as usize;
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.hours
            .get(day)
            .is_some_and(|ranges| ranges.iter().any(|&(s, e)| s <= minute && minute < e))
    }

    /// Whether a date is one of the holidays.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// Adds opening hours for some days (`days` from [`parse_days`], `ranges` from
    /// [`parse_hours`]); ranges past midnight continue on the next day.
    pub fn add_hours(&mut self, days: &[Weekday], ranges: &[(u16, u16)]) {
        for day in days {
            let d = day.num_days_from_monday() as usize;
            for &(start, end) in ranges {
                if end > start {
                    self.hours[d].push((start, end));
                } else {
                    self.hours[d].push((start, 1440));
                    if end > 0 {
                        self.hours[(d + 1) % 7].push((0, end));
                    }
                }
            }
        }
    }
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn day(name: &str) -> Result<Weekday, String> {
    let n = name.trim().to_ascii_lowercase();
    DAYS.iter()
        .find(|(d, _)| n == *d || (n.len() > 3 && d.starts_with(&n[..3]) && full_day(d) == n))
        .map(|(_, w)| *w)
        .ok_or_else(|| {
            format!(
                "`{}` is not a day; use mon, tue, wed, thu, fri, sat or sun",
                name.trim()
            )
        })
}

fn full_day(d: &str) -> &'static str {
    match d {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

/// Parses a day key: `mon`, `mon-fri`, `sat,sun`, `daily`.
pub fn parse_days(key: &str) -> Result<Vec<Weekday>, String> {
    let key = key.trim();
    if key.eq_ignore_ascii_case("daily") || key.eq_ignore_ascii_case("every day") {
        return Ok(DAYS.iter().map(|(_, d)| *d).collect());
    }
    let mut out = Vec::new();
    for part in key.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (mut d, end) = (day(a)?, day(b)?);
                out.push(d);
                while d != end {
                    d = d.succ();
                    out.push(d);
                }
            }
            None => out.push(day(part)?),
        }
    }
    Ok(out)
}

fn minutes(t: &str) -> Result<u16, String> {
    let bad = || {
        format!(
            "`{}` is not a time; write HH:MM, like 09:00 or 17:30",
            t.trim()
        )
    };
    let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Parses opening hours: `"09:00-17:00"`, `"09:00-12:00, 13:00-17:00"`, `"closed"`.
pub fn parse_hours(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|r| {
            let (a, b) = r.split_once('-').ok_or_else(|| {
                format!(
                    "`{}` is not an hours range; write HH:MM-HH:MM, like 09:00-17:00",
                    r.trim()
                )
            })?;
            let (s, e) = (minutes(a)?, minutes(b)?);
            if s == e {
                return Err(format!("`{}` is an empty range", r.trim()));
            }
            Ok((s, e))
        })
        .collect()
}

/// Parses a holiday date `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        format!(
            "`{}` is not a date; write YYYY-MM-DD, like 2026-12-25",
            text.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn business() -> Calendar {
        let mut c = Calendar::new("business", Span::new("t".into(), 1, 1));
        c.add_hours(
            &parse_days("mon-fri").unwrap(),
            &parse_hours("09:00-17:00").unwrap(),
        );
        c.add_hours(
            &parse_days("sat").unwrap(),
            &parse_hours("10:00-12:00, 13:00-14:00").unwrap(),
        );
        c.holidays.push(parse_date("2026-12-25").unwrap());
        c
    }

    #[test]
    fn open_within_weekday_hours_and_closed_outside() {
        let c = business();
        assert!(c.is_open(at("2026-12-21 09:00"))); // Monday
        assert!(c.is_open(at("2026-12-21 16:59")));
        assert!(!c.is_open(at("2026-12-21 17:00")));
        assert!(!c.is_open(at("2026-12-21 08:59")));
        assert!(c.is_open(at("2026-12-26 13:30"))); // Saturday
        assert!(!c.is_open(at("2026-12-26 12:30")));
        assert!(!c.is_open(at("2026-12-27 11:00"))); // Sunday
    }

    #[test]
    fn holidays_are_closed_all_day() {
        let c = business();
        assert!(!c.is_open(at("2026-12-25 10:00"))); // a Friday
        assert!(c.is_holiday(at("2026-12-25 10:00").date()));
    }

    #[test]
    fn overnight_ranges_continue_next_day_and_wrap_sunday_to_monday() {
        let mut c = Calendar::new("night", Span::new("t".into(), 1, 1));
        c.add_hours(
            &parse_days("sun").unwrap(),
            &parse_hours("22:00-02:00").unwrap(),
        );
        assert!(c.is_open(at("2026-12-27 23:00"))); // Sunday
        assert!(c.is_open(at("2026-12-28 01:59"))); // Monday
        assert!(!c.is_open(at("2026-12-28 02:00")));
    }

    #[test]
    fn day_keys_parse_ranges_lists_and_daily() {
        assert_eq!(parse_days("fri-mon").unwrap().len(), 4);
        assert_eq!(
            parse_days("sat, sun").unwrap(),
            vec![Weekday::Sat, Weekday::Sun]
        );
        assert_eq!(parse_days("daily").unwrap().len(), 7);
        assert_eq!(parse_days("Monday").unwrap(), vec![Weekday::Mon]);
        assert!(parse_days("funday").unwrap_err().contains("use mon, tue"));
    }

    #[test]
    fn bad_hours_say_the_accepted_form() {
        assert!(parse_hours("9-5").unwrap_err().contains("HH:MM"));
        assert!(parse_hours("09:00-25:00").is_err());
        assert!(parse_hours("09:00-09:00").is_err());
        assert_eq!(parse_hours("00:00-24:00").unwrap(), vec![(0, 1440)]);
        assert_eq!(parse_hours("closed").unwrap(), vec![]);
        assert!(parse_date("2026-13-01").is_err());
    }
}
