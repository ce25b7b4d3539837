//! Variables as conditions and templates see them, and the masking of sensitive values.

use chrono::{Datelike, Timelike};
use serde_json::{Map, Value};

use crate::expr::{as_text, EvalError, Func, Vars};
use crate::model::{Root, VarPath};

use super::session::Session;

/// Masks all but the last four characters of a sensitive value: `"12345678"` → `"****5678"`.
/// Values of four characters or fewer are masked entirely (a PIN is never shown).
pub fn mask(text: &str) -> String {
    let n = text.chars().count();
    let keep = if n > 4 { 4 } else { 0 };
    text.chars()
        .enumerate()
        .map(|(i, c)| if i < n - keep { '*' } else { c })
        .collect()
}

/// Masks every string and number inside a value.
pub(crate) fn mask_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(mask(s)),
        Value::Number(_) => Value::String(mask(&as_text(v))),
        Value::Bool(_) => Value::String("****".to_owned()),
        Value::Array(a) => Value::Array(a.iter().map(mask_value).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), mask_value(v))).collect())
        }
        Value::Null => Value::Null,
    }
}

/// The session's variables; `masked` replaces sensitive slots by their masked form (for what is
/// written down rather than spoken).
pub(crate) struct Scope<'a> {
    pub session: &'a Session,
    pub masked: bool,
}

impl Vars for Scope<'_> {
    fn var(&self, path: &VarPath) -> Option<Value> {
        let s = self.session;
        let local = s.local_now();
        let key = path.key();
        let nested = |map: &Map<String, Value>| -> Option<Value> {
            let first = map.get(key?)?;
            path.lookup(first, 2).cloned()
        };
        match path.root()? {
            Root::Slots => {
                let name = key?;
                let v = nested(&s.slots)?;
                if self.masked && s.sensitive.iter().any(|n| n == name) {
                    Some(mask_value(&v))
                } else {
                    Some(v)
                }
            }
            Root::Vars => nested(&s.vars),
            Root::Webhook => nested(&s.webhook),
            Root::Caller => match key? {
                "number" => Some(Value::String(s.call.caller.clone())),
                "name" => s.call.vars.get("caller_name").cloned(),
                _ => None,
            },
            Root::Call => match key? {
                "id" => Some(Value::String(s.call.call_id.clone())),
                "called" => Some(Value::String(s.call.called.clone())),
                "amd" => s.amd.clone().map(Value::String),
                _ => None,
            },
            Root::Intent => {
                let i = s.intent.as_ref()?;
                match key? {
                    "name" => Some(Value::String(i.name.clone())),
                    "confidence" => Some(crate::expr::number(f64::from(i.confidence))),
                    "text" => Some(Value::String(if self.masked {
                        i.masked_text.clone()
                    } else {
                        i.text.clone()
                    })),
                    _ => None,
                }
            }
            Root::Now => match key? {
                "time" => Some(Value::String(local.format("%H:%M").to_string())),
                "date" => Some(Value::String(local.format("%Y-%m-%d").to_string())),
                "weekday" => Some(Value::String(weekday(local.weekday()).to_owned())),
                "hour" => Some(Value::from(local.hour())),
                "minute" => Some(Value::from(local.minute())),
                _ => None,
            },
            Root::Sentiment => s.sentiment.map(|f| crate::expr::number(f64::from(f))),
            Root::Time => Some(Value::String(local.format("%H:%M").to_string())),
            Root::Weekday => Some(Value::String(weekday(local.weekday()).to_owned())),
            Root::Date => Some(Value::String(local.format("%Y-%m-%d").to_string())),
            Root::Language => Some(Value::String(s.language.clone())),
            Root::Retries => Some(Value::from(s.retries)),
        }
    }

    fn call(&self, func: Func, calendar: &str) -> Result<bool, EvalError> {
        let plan = &self.session.plan.plan;
        let cal = plan
            .calendar(calendar)
            .ok_or_else(|| EvalError::UnknownCalendar(calendar.to_owned()))?;
        let local = self.session.local_now();
        Ok(match func {
            Func::Open => cal.is_open(local),
            Func::Holiday => cal.is_holiday(local.date()),
        })
    }
}

fn weekday(d: chrono::Weekday) -> &'static str {
    match d {
        chrono::Weekday::Mon => "mon",
        chrono::Weekday::Tue => "tue",
        chrono::Weekday::Wed => "wed",
        chrono::Weekday::Thu => "thu",
        chrono::Weekday::Fri => "fri",
        chrono::Weekday::Sat => "sat",
        chrono::Weekday::Sun => "sun",
    }
}
