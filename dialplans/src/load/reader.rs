//! Typed reads from the YAML tree that record every problem instead of stopping at the first.

use std::time::Duration;

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use crate::load::yaml::{Key, Kind, Y};
use crate::model::{Named, Span};
use crate::template::Template;

/// Collects diagnostics while reading.
#[derive(Default)]
pub(crate) struct Cx {
    pub diags: Diagnostics,
}

/// The entries of a mapping whose keys were checked against the allowed ones.
pub(crate) struct Fields<'a> {
    pub entries: &'a [(Key, Y)],
    pub span: &'a Span,
}

impl<'a> Fields<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Y> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    pub fn key(&self, key: &str) -> Option<&'a Key> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, _)| k)
    }
}

/// Formats a list of accepted values: "`a`, `b` or `c`".
pub(crate) fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// Whether a name is letters, digits, `-` and `_` only.
pub(crate) fn is_simple_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Whether a text looks like a BCP 47 language tag (`en`, `en-US`, `zh-Hans-CN`).
pub(crate) fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl Cx {
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message));
    }

    pub fn error_hint(&mut self, span: &Span, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message).hint(hint));
    }

    /// A mapping whose keys must be among `allowed`; unknown keys are errors with a hint.
    pub fn fields<'a>(&mut self, y: &'a Y, what: &str, allowed: &[&str]) -> Option<Fields<'a>> {
        let Kind::Map(entries) = &y.kind else {
            self.error_hint(
                &y.span,
                format!("{what} must be a mapping, not {}", y.describe()),
                format!(
                    "write it as `key: value` lines; keys are {}",
                    one_of(allowed)
                ),
            );
            return None;
        };
        for (k, _) in entries {
            if !allowed.contains(&k.name.as_str()) {
                self.unknown_key(k, what, allowed);
            }
        }
        Some(Fields {
            entries,
            span: &y.span,
        })
    }

    pub fn unknown_key(&mut self, k: &Key, what: &str, allowed: &[&str]) {
        let hint = match did_you_mean(&k.name, allowed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("{what} accepts {}", one_of(allowed)),
        };
        self.error_hint(&k.span, format!("unknown key `{}` in {what}", k.name), hint);
    }

    /// A mapping with free-form keys.
    pub fn map<'a>(&mut self, y: &'a Y, what: &str, example: &str) -> Option<&'a [(Key, Y)]> {
        match &y.kind {
            Kind::Map(entries) => Some(entries),
            Kind::Null => Some(&[]),
            _ => {
                self.error_hint(
                    &y.span,
                    format!("{what} must be a mapping, not {}", y.describe()),
                    format!("for example `{example}`"),
                );
                None
            }
        }
    }

    /// A list (a single item counts as a one-item list).
    pub fn list<'a>(&mut self, y: &'a Y) -> Vec<&'a Y> {
        match &y.kind {
            Kind::Seq(items) => items.iter().collect(),
            Kind::Null => Vec::new(),
            _ => vec![y],
        }
    }

    pub fn required<'a>(&mut self, f: &Fields<'a>, key: &str, what: &str) -> Option<&'a Y> {
        let v = f.get(key);
        if v.is_none() {
            self.error_hint(
                f.span,
                format!("{what} is missing `{key}`"),
                format!("add `{key}:`"),
            );
        }
        v
    }

    pub fn string(&mut self, y: &Y, what: &str) -> Option<String> {
        match &y.kind {
            Kind::Str(_) | Kind::Int(_) | Kind::Float(_) => y.scalar_text(),
            _ => {
                self.error_hint(
                    &y.span,
                    format!("{what} must be text, not {}", y.describe()),
                    "write a single value, quoted if it contains `:` or `#`",
                );
                None
            }
        }
    }

    pub fn named(&mut self, y: &Y, what: &str) -> Option<Named> {
        let name = self.string(y, what)?;
        if name.trim().is_empty() {
            self.error(&y.span, format!("{what} is empty"));
            return None;
        }
        Some(Named {
            name,
            span: y.text_span(),
        })
    }

    pub fn names(&mut self, y: &Y, what: &str) -> Vec<Named> {
        self.list(y)
            .into_iter()
            .filter_map(|i| self.named(i, what))
            .collect()
    }

    pub fn strings(&mut self, y: &Y, what: &str) -> Vec<String> {
        self.list(y)
            .into_iter()
            .filter_map(|i| self.string(i, what))
            .collect()
    }

    pub fn bool(&mut self, y: &Y, what: &str) -> Option<bool> {
        match y.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.error_hint(
                    &y.span,
                    format!("{what} must be `true` or `false`, not {}", y.describe()),
                    "write true or false",
                );
                None
            }
        }
    }

    pub fn int(&mut self, y: &Y, what: &str, min: i64, max: i64) -> Option<i64> {
        match y.kind {
            Kind::Int(i) if (min..=max).contains(&i) => Some(i),
            Kind::Int(i) => {
                self.error_hint(
                    &y.span,
                    format!("{what} is {i}, out of range"),
                    format!("use a whole number from {min} to {max}"),
                );
                None
            }
            _ => {
                self.error_hint(
                    &y.span,
                    format!("{what} must be a whole number, not {}", y.describe()),
                    format!("use a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    pub fn u32(&mut self, y: &Y, what: &str, max: u32) -> Option<u32> {
        self.int(y, what, 0, i64::from(max)).map(|i| i as u32)
    }

    pub fn number(&mut self, y: &Y, what: &str, min: f64, max: f64) -> Option<f64> {
        let n = match y.kind {
            Kind::Int(i) => i as f64,
            Kind::Float(f) => f,
            _ => {
                self.error_hint(
                    &y.span,
                    format!("{what} must be a number, not {}", y.describe()),
                    format!("use a number from {min} to {max}"),
                );
                return None;
            }
        };
        if !(min..=max).contains(&n) {
            self.error_hint(
                &y.span,
                format!("{what} is {n}, out of range"),
                format!("use a number from {min} to {max}"),
            );
            return None;
        }
        Some(n)
    }

    pub fn choice(&mut self, y: &Y, what: &str, values: &[&str]) -> Option<String> {
        let s = self.string(y, what)?;
        if values.contains(&s.as_str()) {
            return Some(s);
        }
        let mut hint = format!("use {}", one_of(values));
        if let Some(m) = did_you_mean(&s, values.iter().copied()) {
            hint = format!("did you mean `{m}`? ({hint})");
        }
        self.error_hint(&y.span, format!("`{s}` is not a valid {what}"), hint);
        None
    }

    /// A duration: `500ms`, `5s`, `1.5s`, `2m`, `1h`.
    pub fn duration(&mut self, y: &Y, what: &str) -> Option<Duration> {
        let hint = "write a number with a unit: 500ms, 5s, 2m or 1h";
        let text = match &y.kind {
            Kind::Str(s) => s.trim().to_owned(),
            Kind::Int(_) | Kind::Float(_) => {
                self.error_hint(&y.span, format!("{what} has no unit"), hint);
                return None;
            }
            _ => {
                self.error_hint(
                    &y.span,
                    format!("{what} must be a duration, not {}", y.describe()),
                    hint,
                );
                return None;
            }
        };
        match parse_duration(&text) {
            Some(d) => Some(d),
            None => {
                self.error_hint(&y.span, format!("`{text}` is not a duration"), hint);
                None
            }
        }
    }

    /// A template from a scalar, with syntax errors placed at the offending character.
    pub fn template(&mut self, y: &Y, what: &str) -> Option<Template> {
        let text = self.string(y, what)?;
        match Template::parse(&text) {
            Ok(t) => Some(t),
            Err(e) => {
                let mut span = y.text_span();
                let before: String = text.chars().take(e.offset).collect();
                if !before.contains('\n') {
                    span.column += e.offset as u32;
                }
                self.error_hint(
                    &span,
                    format!("bad template in {what}: {}", e.message),
                    "placeholders look like `{{ slots.account | digits }}`",
                );
                None
            }
        }
    }
}

/// Parses `500ms`, `5s`, `1.5s`, `2m`, `1h`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn language_tags() {
        assert!(is_language_tag("en-US"));
        assert!(is_language_tag("zh-CN"));
        assert!(is_language_tag("zh-Hans-CN"));
        assert!(!is_language_tag("english"));
        assert!(!is_language_tag("text"));
        assert!(!is_language_tag("e"));
    }
}
