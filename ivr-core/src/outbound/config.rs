//! A campaign's configuration: pacing, concurrency, the calling window and the retry rules.
//!
//! The configuration is stored with the campaign as JSON (durations in seconds, times as
//! `"HH:MM"`, days as `["mon", …]`, time zones by IANA name), and the command line builds it
//! from short forms: `--window 09:00-20:00`, `--days mon-fri`, `--retry busy=3x5m`.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike as _, NaiveTime, TimeZone as _, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How a campaign runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignConfig {
    /// The dial plan run on answered calls.
    pub plan: String,
    /// The number shown to the callee.
    pub caller_id: String,
    /// The most calls in progress at once.
    pub max_concurrent: usize,
    /// Call starts per second, evenly spaced (10 means one every 100 ms, never a burst).
    pub calls_per_second: f64,
    /// When contacts may be called, in their own time zone.
    pub window: CallingWindow,
    /// The time zone of contacts that give none.
    #[serde(with = "tz_name")]
    pub default_timezone: Tz,
    /// What to do after each kind of failed attempt.
    pub retry: RetryPolicy,
    /// How many due contacts the scheduler keeps in memory (a page of the store).
    pub buffer: usize,
    /// Agent-assisted (progressive) dialing: the queue the plan hands answered people to. The
    /// dialer then never has more calls in flight than the queue has free agents (less the
    /// callers already waiting there).
    #[serde(default)]
    pub queue: Option<String>,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            plan: String::new(),
            caller_id: String::new(),
            max_concurrent: 20,
            calls_per_second: 10.0,
            window: CallingWindow::default(),
            default_timezone: Tz::UTC,
            retry: RetryPolicy::default(),
            buffer: 500,
            queue: None,
        }
    }
}

impl CampaignConfig {
    /// Every problem at once; empty when the configuration is usable.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if self.plan.trim().is_empty() {
            problems.push(ConfigError::NoPlan);
        }
        if self.max_concurrent == 0 {
            problems.push(ConfigError::NoConcurrency);
        }
        if !(self.calls_per_second.is_finite()
            && self.calls_per_second > 0.0
            && self.calls_per_second <= 10_000.0)
        {
            problems.push(ConfigError::Rate(self.calls_per_second.to_string()));
        }
        if self.window.start >= self.window.end {
            problems.push(ConfigError::Window(format!(
                "{}-{}",
                hhmm::show(self.window.start),
                hhmm::show(self.window.end)
            )));
        }
        if self.window.days.is_empty() {
            problems.push(ConfigError::Days(String::new()));
        }
        if self.buffer == 0 {
            problems.push(ConfigError::Buffer);
        }
        problems
    }
}

/// A problem in a campaign's configuration or in one of its command-line forms.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// No dial plan named.
    #[error("the campaign names no dial plan; give --plan NAME")]
    NoPlan,
    /// `max_concurrent` is 0.
    #[error("at most 0 calls at once would never call anyone; give --concurrent 1 or more")]
    NoConcurrency,
    /// The rate is not a positive number of calls per second (at most 10,000).
    #[error("rate {0:?} is not a number of calls per second between 0 and 10000 (e.g. --rate 10 or --rate 0.5)")]
    Rate(String),
    /// The calling window is not `HH:MM-HH:MM` with the start before the end.
    #[error("calling window {0:?} is not START-END with START before END on the same day (e.g. --window 09:00-20:00)")]
    Window(String),
    /// The days are not a list or range of weekday names.
    #[error("days {0:?} are not weekdays such as mon-fri or mon,wed,sat")]
    Days(String),
    /// A retry rule is not `OUTCOME=NxDELAY[*FACTOR]`.
    #[error("retry rule {rule:?}: {why}; write OUTCOME=ATTEMPTSxDELAY such as busy=3x5m or no_answer=4x30m*2 (outcomes: busy, no_answer, machine, failed, rejected, unknown)")]
    Retry {
        /// The rule as given.
        rule: String,
        /// What is wrong.
        why: String,
    },
    /// The time zone is not an IANA name.
    #[error(
        "time zone {0:?} is unknown; use an IANA name such as Europe/Paris or America/New_York"
    )]
    TimeZone(String),
    /// The buffer is 0.
    #[error("the scheduler's buffer must hold at least one contact")]
    Buffer,
}

/// When contacts may be called: a daily span of local time on some days of the week.
///
/// The span is `[start, end)` on the contact's local clock, in their time zone (daylight
/// saving included); a call is only started inside it (a call started at 19:59 may go on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallingWindow {
    /// The first minute calls may start.
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    /// When calls stop starting.
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
    /// The days of the week calls are made, Monday first.
    #[serde(with = "weekdays")]
    pub days: Vec<Weekday>,
}

impl Default for CallingWindow {
    /// 09:00–20:00, Monday to Saturday.
    fn default() -> Self {
        CallingWindow {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
            ],
        }
    }
}

impl CallingWindow {
    /// The window from `HH:MM-HH:MM` (every day of the default).
    pub fn parse_span(text: &str) -> Result<(NaiveTime, NaiveTime), ConfigError> {
        let bad = || ConfigError::Window(text.to_string());
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let start = hhmm::parse(a.trim()).ok_or_else(bad)?;
        let end = hhmm::parse(b.trim()).ok_or_else(bad)?;
        if start >= end {
            return Err(bad());
        }
        Ok((start, end))
    }

    /// Days from `mon-fri`, `sat,sun`, `mon-wed,fri` or `all`.
    pub fn parse_days(text: &str) -> Result<Vec<Weekday>, ConfigError> {
        let bad = || ConfigError::Days(text.to_string());
        if text.trim().eq_ignore_ascii_case("all") {
            return Ok(ALL_DAYS.to_vec());
        }
        let mut days = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (weekday(a).ok_or_else(bad)?, weekday(b).ok_or_else(bad)?);
                    let mut d = a;
                    loop {
                        days.push(d);
                        if d == b {
                            break;
                        }
                        d = d.succ();
                    }
                }
                None => days.push(weekday(part).ok_or_else(bad)?),
            }
        }
        if days.is_empty() {
            return Err(bad());
        }
        days.sort_by_key(|d| d.num_days_from_monday());
        days.dedup();
        Ok(days)
    }

    /// Whether a call may start at `wall` for a contact in `tz`.
    pub fn is_open(&self, wall: DateTime<Utc>, tz: Tz) -> bool {
        let local = wall.with_timezone(&tz);
        let t = local.time();
        self.days.contains(&local.weekday()) && t >= self.start && t < self.end
    }

    /// The first instant at or after `wall` when the window is open in `tz`; `None` only if
    /// the window has no days.
    pub fn next_open(&self, wall: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if self.is_open(wall, tz) {
            return Some(wall);
        }
        let local = wall.with_timezone(&tz);
        let today = local.date_naive();
        // A week and a day covers every weekday whatever the start.
        for k in 0..8 {
            let day = today.checked_add_days(chrono::Days::new(k))?;
            if !self.days.contains(&day.weekday()) {
                continue;
            }
            let opening = day.and_time(self.start);
            // A start inside a daylight-saving gap opens at the first minute that exists.
            let mut candidate = None;
            for shift in 0..=180 {
                let at = opening + chrono::Duration::minutes(shift);
                if at.time() >= self.end || at.date() != day {
                    break;
                }
                if let Some(t) = tz.from_local_datetime(&at).earliest() {
                    candidate = Some(t.with_timezone(&Utc));
                    break;
                }
            }
            match candidate {
                Some(t) if t > wall => return Some(t),
                _ => {}
            }
        }
        None
    }
}

const ALL_DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_ascii_lowercase();
    ALL_DAYS
        .into_iter()
        .find(|d| t.len() >= 3 && d.to_string().to_ascii_lowercase().starts_with(&t[..3]))
}

/// The outcome classes retry rules are given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryClass {
    /// Busy (also SIP 486 and 600).
    Busy,
    /// No answer before the ring timeout (also SIP 408 and 480).
    NoAnswer,
    /// An answering machine answered.
    Machine,
    /// The call could not be placed.
    Failed,
    /// Refused with another SIP code (not one of `permanent_codes`).
    Rejected,
    /// The engine stopped during the attempt.
    Unknown,
}

impl fmt::Display for RetryClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetryClass::Busy => "busy",
            RetryClass::NoAnswer => "no_answer",
            RetryClass::Machine => "machine",
            RetryClass::Failed => "failed",
            RetryClass::Rejected => "rejected",
            RetryClass::Unknown => "unknown",
        })
    }
}

impl RetryClass {
    fn parse(text: &str) -> Option<RetryClass> {
        Some(
            match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "busy" => RetryClass::Busy,
                "no_answer" | "noanswer" => RetryClass::NoAnswer,
                "machine" => RetryClass::Machine,
                "failed" => RetryClass::Failed,
                "rejected" => RetryClass::Rejected,
                "unknown" => RetryClass::Unknown,
                _ => return None,
            },
        )
    }
}

/// When to call again after one kind of outcome.
///
/// A contact whose latest attempt (its `n`th) ended this way is called again if
/// `n < max_attempts`, after `backoff × factor^(n-1)`, at the next opening of its calling
/// window from then.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryRule {
    /// Attempts in all, the first included (1 never retries).
    pub max_attempts: u32,
    /// The wait before the next attempt.
    #[serde(with = "secs")]
    pub backoff: Duration,
    /// Each later wait is this many times the previous one (1 keeps it fixed).
    pub factor: f64,
}

impl RetryRule {
    /// A rule of `max_attempts` attempts `backoff` apart.
    pub fn fixed(max_attempts: u32, backoff: Duration) -> RetryRule {
        RetryRule {
            max_attempts,
            backoff,
            factor: 1.0,
        }
    }

    /// The wait after attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let secs = self.backoff.as_secs_f64() * factor.powi(exp as i32);
        // Capped at a year: a longer wait is a configuration mistake, not a schedule.
        Duration::from_secs_f64(secs.min(365.0 * 86_400.0))
    }

    /// `OUTCOME=ATTEMPTSxDELAY[*FACTOR]`, e.g. `busy=3x5m`, `no_answer=4x30m*2`, `unknown=1x0s`.
    pub fn parse(text: &str) -> Result<(RetryClass, RetryRule), ConfigError> {
        let bad = |why: &str| ConfigError::Retry {
            rule: text.to_string(),
            why: why.to_string(),
        };
        let (class, rule) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let class = RetryClass::parse(class).ok_or_else(|| bad("unknown outcome"))?;
        let (attempts, rest) = rule
            .split_once(['x', 'X'])
            .ok_or_else(|| bad("no `x` between attempts and delay"))?;
        let max_attempts: u32 = attempts
            .trim()
            .parse()
            .map_err(|_| bad("attempts is not a whole number"))?;
        if max_attempts == 0 {
            return Err(bad("attempts must be at least 1"));
        }
        let (delay, factor) = match rest.split_once('*') {
            Some((d, f)) => (
                d,
                f.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 1.0)
                    .ok_or_else(|| bad("factor is not a number of at least 1"))?,
            ),
            None => (rest, 1.0),
        };
        let backoff = humantime::parse_duration(delay.trim())
            .map_err(|_| bad("delay is not a duration such as 90s, 5m or 2h"))?;
        Ok((
            class,
            RetryRule {
                max_attempts,
                backoff,
                factor,
            },
        ))
    }
}

/// The retry rule of every outcome class, and the SIP codes never retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// After busy.
    pub busy: RetryRule,
    /// After no answer.
    pub no_answer: RetryRule,
    /// After an answering machine.
    pub machine: RetryRule,
    /// After a failure to place the call.
    pub failed: RetryRule,
    /// After a refusal with a SIP code not in `permanent_codes`.
    pub rejected: RetryRule,
    /// After an attempt interrupted by a restart. One attempt by default: the callee may
    /// have answered, so nobody is called again unless configured.
    pub unknown: RetryRule,
    /// SIP codes that end the contact at once (the number does not exist or refuses).
    pub permanent_codes: Vec<u16>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(60 * m);
        RetryPolicy {
            busy: RetryRule::fixed(3, min(5)),
            no_answer: RetryRule::fixed(3, min(30)),
            machine: RetryRule::fixed(2, min(120)),
            failed: RetryRule::fixed(3, min(10)),
            rejected: RetryRule::fixed(2, min(30)),
            unknown: RetryRule::fixed(1, min(30)),
            permanent_codes: vec![404, 410, 484, 485, 603, 604, 607, 608],
        }
    }
}

impl RetryPolicy {
    /// The rule for `class`.
    pub fn rule(&self, class: RetryClass) -> &RetryRule {
        match class {
            RetryClass::Busy => &self.busy,
            RetryClass::NoAnswer => &self.no_answer,
            RetryClass::Machine => &self.machine,
            RetryClass::Failed => &self.failed,
            RetryClass::Rejected => &self.rejected,
            RetryClass::Unknown => &self.unknown,
        }
    }

    /// Replaces the rule for `class`.
    pub fn set(&mut self, class: RetryClass, rule: RetryRule) {
        match class {
            RetryClass::Busy => self.busy = rule,
            RetryClass::NoAnswer => self.no_answer = rule,
            RetryClass::Machine => self.machine = rule,
            RetryClass::Failed => self.failed = rule,
            RetryClass::Rejected => self.rejected = rule,
            RetryClass::Unknown => self.unknown = rule,
        }
    }
}

/// The rate from `--rate`: calls per second, or `N/m`, `N/h` for slower campaigns.
pub fn parse_rate(text: &str) -> Result<f64, ConfigError> {
    let bad = || ConfigError::Rate(text.to_string());
    let (n, per) = match text.trim().split_once('/') {
        Some((n, unit)) => (
            n,
            match unit.trim() {
                "s" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                _ => return Err(bad()),
            },
        ),
        None => (text, 1.0),
    };
    let rate = n.trim().parse::<f64>().map_err(|_| bad())? / per;
    if rate.is_finite() && rate > 0.0 && rate <= 10_000.0 {
        Ok(rate)
    } else {
        Err(bad())
    }
}

/// A time zone by IANA name.
pub fn parse_timezone(text: &str) -> Result<Tz, ConfigError> {
    text.trim()
        .parse::<Tz>()
        .map_err(|_| ConfigError::TimeZone(text.to_string()))
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize as _, Deserializer, Serializer};

    use chrono::Timelike as _;

    pub(super) fn parse(text: &str) -> Option<NaiveTime> {
        let (h, m) = text.split_once(':')?;
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        if h == 24 && m == 0 {
            // 24:00 is the end of the day; the last representable minute stands for it.
            return NaiveTime::from_hms_opt(23, 59, 59);
        }
        NaiveTime::from_hms_opt(h, m, 0)
    }

    pub(super) fn show(t: NaiveTime) -> String {
        format!("{:02}:{:02}", t.hour(), t.minute())
    }

    pub(super) fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&show(*t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not HH:MM")))
    }
}

mod weekdays {
    use chrono::Weekday;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(days.iter().map(|d| d.to_string().to_ascii_lowercase()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| {
                super::weekday(n)
                    .ok_or_else(|| serde::de::Error::custom(format!("{n:?} is not a weekday")))
            })
            .collect()
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| serde::de::Error::custom(format!("{name:?} is not an IANA time zone")))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Timelike as _;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_same_utc_instant_is_inside_the_window_in_shanghai_and_outside_in_new_york() {
        let w = CallingWindow {
            days: ALL_DAYS.to_vec(),
            ..CallingWindow::default()
        };
        // 02:00 UTC on a Wednesday: 10:00 in Shanghai, 22:00 (Tuesday) in New York.
        let t = utc("2024-03-06T02:00:00Z");
        assert!(w.is_open(t, chrono_tz::Asia::Shanghai));
        assert!(!w.is_open(t, chrono_tz::America::New_York));
        assert_eq!(w.next_open(t, chrono_tz::Asia::Shanghai), Some(t));
        // New York opens at 09:00 EST on Wednesday = 14:00 UTC.
        assert_eq!(
            w.next_open(t, chrono_tz::America::New_York),
            Some(utc("2024-03-06T14:00:00Z"))
        );
    }

    #[test]
    fn next_open_skips_days_outside_the_week_and_follows_daylight_saving() {
        let w = CallingWindow::default(); // Mon–Sat 09:00–20:00
                                          // Saturday 2024-03-09 21:00 in New York (EST) → next is Monday 2024-03-11 09:00 EDT
                                          // (clocks went forward on Sunday the 10th): 13:00 UTC, not 14:00.
        let sat_evening = utc("2024-03-10T02:00:00Z");
        assert_eq!(
            w.next_open(sat_evening, chrono_tz::America::New_York),
            Some(utc("2024-03-11T13:00:00Z"))
        );
        // The end is exclusive.
        let paris_20h = utc("2024-03-06T19:00:00Z");
        assert!(!w.is_open(paris_20h, chrono_tz::Europe::Paris));
        assert!(w.is_open(
            paris_20h - chrono::Duration::minutes(1),
            chrono_tz::Europe::Paris
        ));
    }

    #[test]
    fn a_window_opening_in_a_daylight_saving_gap_opens_at_the_first_real_minute() {
        let w = CallingWindow {
            start: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            end: NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
            days: ALL_DAYS.to_vec(),
        };
        // 2024-03-10 02:30 does not exist in New York; 03:00 EDT = 07:00 UTC.
        let before = utc("2024-03-10T05:00:00Z"); // 00:00 EST
        assert_eq!(
            w.next_open(before, chrono_tz::America::New_York),
            Some(utc("2024-03-10T07:00:00Z"))
        );
    }

    #[test]
    fn retry_rules_parse_from_the_short_form_and_reject_nonsense() {
        let (class, rule) = RetryRule::parse("busy=3x5m").unwrap();
        assert_eq!(class, RetryClass::Busy);
        assert_eq!(rule, RetryRule::fixed(3, Duration::from_secs(300)));
        let (class, rule) = RetryRule::parse("no_answer=4x30m*2").unwrap();
        assert_eq!(class, RetryClass::NoAnswer);
        assert_eq!(rule.delay(1), Duration::from_secs(1800));
        assert_eq!(rule.delay(3), Duration::from_secs(7200));
        for bad in [
            "busy",
            "busy=3",
            "busy=0x5m",
            "busy=3xsoon",
            "later=3x5m",
            "busy=2x5m*0.5",
        ] {
            assert!(
                matches!(RetryRule::parse(bad), Err(ConfigError::Retry { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn windows_days_and_rates_parse_from_the_command_line_forms() {
        let (s, e) = CallingWindow::parse_span("09:00-20:30").unwrap();
        assert_eq!((s.hour(), e.hour(), e.minute()), (9, 20, 30));
        assert!(CallingWindow::parse_span("20:00-09:00").is_err());
        assert!(CallingWindow::parse_span("9-5").is_err());
        assert_eq!(
            CallingWindow::parse_days("mon-wed,sat").unwrap(),
            vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Sat]
        );
        assert_eq!(CallingWindow::parse_days("fri-mon").unwrap().len(), 4);
        assert!(CallingWindow::parse_days("someday").is_err());
        assert_eq!(parse_rate("10").unwrap(), 10.0);
        assert_eq!(parse_rate("30/m").unwrap(), 0.5);
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn the_configuration_round_trips_through_json() {
        let mut config = CampaignConfig {
            plan: "reminder".into(),
            caller_id: "+15550100".into(),
            default_timezone: chrono_tz::Europe::Paris,
            ..CampaignConfig::default()
        };
        config.retry.set(
            RetryClass::Busy,
            RetryRule::fixed(5, Duration::from_secs(90)),
        );
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["window"]["start"], "09:00");
        assert_eq!(json["default_timezone"], "Europe/Paris");
        let back: CampaignConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
        assert!(back.problems().is_empty());
        let broken = CampaignConfig {
            max_concurrent: 0,
            calls_per_second: f64::NAN,
            ..CampaignConfig::default()
        };
        assert_eq!(broken.problems().len(), 3); // no plan, no concurrency, bad rate
    }
}
