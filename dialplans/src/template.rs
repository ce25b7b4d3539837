//! Prompt templates: text with `{{ expr | filter(args) }}` placeholders.
//!
//! A placeholder holds an expression (usually a variable path, see [`crate::expr`]) and optional
//! filters: `money`, `digits` (read digit by digit), `date`, `time`, `upper`, `lower`,
//! `default("x")`. Rendering never fails: an expression that cannot be evaluated renders as
//! empty text, and [`Template::try_render`] reports why.

use std::fmt;

use crate::expr::{as_number, as_text, EvalError, Expr, Vars};
use crate::model::{Value, VarPath};

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
}

/// A piece of a template.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A `{{ … }}` placeholder.
    Placeholder(Placeholder),
}

/// A `{{ expr | filter … }}` placeholder.
#[derive(Clone, Debug, PartialEq)]
pub struct Placeholder {
    /// The expression.
    pub expr: Expr,
    /// The filters, applied left to right.
    pub filters: Vec<Filter>,
    /// Character offset of the placeholder's `{{` in the template.
    pub offset: usize,
}

/// A filter applied to a placeholder's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `money`: `$1,234.50` (`1,234.50元` in Chinese).
    Money,
    /// `digits`: `1 2 3 4`, read digit by digit.
    Digits,
    /// `date`: `December 3, 2026` (`2026年12月3日`) from `YYYY-MM-DD`.
    Date,
    /// `time`: `3:30 PM` (`15点30分`) from `HH:MM`.
    Time,
    /// `upper`: upper case.
    Upper,
    /// `lower`: lower case.
    Lower,
    /// `default("x")`: `x` when the value is missing or empty.
    Default(String),
}

/// The filter names, for error messages.
pub const FILTERS: [&str; 7] = [
    "money", "digits", "date", "time", "upper", "lower", "default",
];

/// A syntax error in a template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Character offset of the problem in the template.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses a template.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = source;
        let mut offset = 0; // characters consumed before `rest`
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_owned()));
            }
            let start = offset + rest[..open].chars().count();
            let inner_all = &rest[open + 2..];
            let Some(close) = inner_all.find("}}") else {
                return Err(TemplateError {
                    offset: start,
                    message: "`{{` is not closed: add `}}`".to_owned(),
                });
            };
            let inner = &inner_all[..close];
            segments.push(Segment::Placeholder(parse_placeholder(inner, start)?));
            offset = start + 2 + inner.chars().count() + 2;
            rest = &inner_all[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_owned()));
        }
        Ok(Template {
            source: source.to_owned(),
            segments,
        })
    }

    /// A template of plain text (no placeholders are parsed).
    pub fn literal(text: &str) -> Template {
        Template {
            source: text.to_owned(),
            segments: vec![Segment::Text(text.to_owned())],
        }
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Every variable the template reads.
    pub fn variables(&self) -> impl Iterator<Item = &VarPath> {
        self.segments.iter().flat_map(|s| match s {
            Segment::Placeholder(p) => p.expr.variables(),
            Segment::Text(_) => Vec::new(),
        })
    }

    /// Every placeholder.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(p) => Some(p),
            Segment::Text(_) => None,
        })
    }

    /// Renders in English (see [`Template::render_in`]).
    pub fn render(&self, vars: &dyn Vars) -> String {
        self.render_in(vars, "en-US")
    }

    /// Renders for a language (filters format money, dates and times for it); placeholders that
    /// cannot be evaluated render as empty text.
    pub fn render_in(&self, vars: &dyn Vars, language: &str) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Placeholder(p) => {
                    out.push_str(&p.render(vars, language).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Renders, stopping at the first placeholder that cannot be evaluated.
    pub fn try_render(&self, vars: &dyn Vars, language: &str) -> Result<String, EvalError> {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Placeholder(p) => out.push_str(&p.render(vars, language)?),
            }
        }
        Ok(out)
    }

    /// The value of the template: a template that is exactly one unfiltered `{{ expr }}` keeps the
    /// expression's type (`{{ vars.n + 1 }}` is a number); anything else is the rendered string.
    pub fn evaluate(&self, vars: &dyn Vars) -> Result<Value, EvalError> {
        if let [Segment::Placeholder(p)] = self.segments.as_slice() {
            if p.filters.is_empty() {
                return p.expr.eval(vars);
            }
        }
        self.try_render(vars, "en-US").map(Value::String)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Placeholder {
    fn render(&self, vars: &dyn Vars, language: &str) -> Result<String, EvalError> {
        let mut v = self.expr.eval(vars)?;
        for f in &self.filters {
            v = Value::String(f.apply(&v, language));
        }
        Ok(as_text(&v))
    }
}

impl Filter {
    /// Applies the filter to a value.
    pub fn apply(&self, v: &Value, language: &str) -> String {
        let zh = language.starts_with("zh");
        let text = as_text(v);
        match self {
            Filter::Upper => text.to_uppercase(),
            Filter::Lower => text.to_lowercase(),
            Filter::Default(d) => {
                if text.is_empty() {
                    d.clone()
                } else {
                    text
                }
            }
            Filter::Digits => {
                let mut out = String::new();
                for c in text.chars().filter(|c| !c.is_whitespace()) {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push(c);
                }
                out
            }
            Filter::Money => match as_number(v) {
                Some(n) => {
                    let amount = group_thousands(n.abs());
                    let sign = if n < 0.0 { "-" } else { "" };
                    if zh {
                        format!("{sign}{amount}元")
                    } else {
                        format!("{sign}${amount}")
                    }
                }
                None => text,
            },
            Filter::Date => match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                Ok(d) if zh => d.format("%Y年%-m月%-d日").to_string(),
                Ok(d) => d.format("%B %-d, %Y").to_string(),
                Err(_) => text,
            },
            Filter::Time => {
                let t = chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M")
                    .or_else(|_| chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M:%S"));
                match t {
                    Ok(t) if zh => t.format("%-H点%M分").to_string(),
                    Ok(t) => t.format("%-I:%M %p").to_string(),
                    Err(_) => text,
                }
            }
        }
    }
}

fn group_thousands(n: f64) -> String {
    let fixed = format!("{n:.2}");
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{frac}")
}

/// Splits on `|` outside quotes, returning (char offset, piece).
fn split_pipes(inner: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut quote = None;
    let mut start_byte = 0;
    let mut start_char = 0;
    for (ci, (bi, c)) in inner.char_indices().enumerate() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            (None, '|') => {
                out.push((start_char, &inner[start_byte..bi]));
                start_byte = bi + 1;
                start_char = ci + 1;
            }
            _ => {}
        }
    }
    out.push((start_char, &inner[start_byte..]));
    out
}

fn parse_placeholder(inner: &str, start: usize) -> Result<Placeholder, TemplateError> {
    let base = start + 2;
    let mut pieces = split_pipes(inner).into_iter();
    let (_, expr_text) = pieces.next().unwrap_or((0, ""));
    if expr_text.trim().is_empty() {
        return Err(TemplateError {
            offset: start,
            message: "empty `{{ }}`: put a variable inside, like `{{ slots.account }}`".to_owned(),
        });
    }
    let expr = Expr::parse(expr_text).map_err(|e| TemplateError {
        offset: base + e.offset,
        message: e.message,
    })?;
    let mut filters = Vec::new();
    for (off, piece) in pieces {
        let lead = piece.chars().take_while(|c| c.is_whitespace()).count();
        filters.push(parse_filter(piece.trim(), base + off + lead)?);
    }
    Ok(Placeholder {
        expr,
        filters,
        offset: start,
    })
}

fn parse_filter(text: &str, offset: usize) -> Result<Filter, TemplateError> {
    let (name, args) = match text.split_once('(') {
        Some((n, rest)) => {
            let Some(args) = rest.trim_end().strip_suffix(')') else {
                return Err(TemplateError {
                    offset,
                    message: format!("filter `{text}` is missing its closing `)`"),
                });
            };
            (n.trim(), Some(args.trim()))
        }
        None => (text, None),
    };
    let unquote = |a: &str| -> Option<String> {
        let a = a.trim();
        let q = a.chars().next()?;
        (matches!(q, '\'' | '"') && a.len() >= 2 && a.ends_with(q))
            .then(|| a[1..a.len() - 1].to_owned())
    };
    let f = match (name, args) {
        ("money", None) => Filter::Money,
        ("digits", None) => Filter::Digits,
        ("date", None) => Filter::Date,
        ("time", None) => Filter::Time,
        ("upper", None) => Filter::Upper,
        ("lower", None) => Filter::Lower,
        ("default", Some(a)) => match unquote(a) {
            Some(s) => Filter::Default(s),
            None => {
                return Err(TemplateError {
                    offset,
                    message: "`default` takes one quoted text: `default(\"none\")`".to_owned(),
                })
            }
        },
        ("default", None) => {
            return Err(TemplateError {
                offset,
                message: "`default` takes one quoted text: `default(\"none\")`".to_owned(),
            })
        }
        (n, Some(_)) if FILTERS.contains(&n) => {
            return Err(TemplateError {
                offset,
                message: format!("filter `{n}` takes no arguments"),
            })
        }
        (n, _) => {
            return Err(TemplateError {
                offset,
                message: format!("unknown filter `{n}`; filters are {}", FILTERS.join(", ")),
            })
        }
    };
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(path: &VarPath) -> Option<Value> {
        match path.to_string().as_str() {
            "webhook.balance" => Some(json!(1234.5)),
            "slots.account" => Some(json!("12345678")),
            "slots.day" => Some(json!("2026-12-03")),
            "slots.at" => Some(json!("15:30")),
            "vars.n" => Some(json!(1)),
            _ => None,
        }
    }

    #[test]
    fn renders_money_and_digits_in_english_and_chinese() {
        let t = Template::parse("Your balance is {{ webhook.balance | money }}.").unwrap();
        assert_eq!(t.render(&vars), "Your balance is $1,234.50.");
        assert_eq!(t.render_in(&vars, "zh-CN"), "Your balance is 1,234.50元.");
        let t = Template::parse("{{slots.account|digits}}").unwrap();
        assert_eq!(t.render(&vars), "1 2 3 4 5 6 7 8");
    }

    #[test]
    fn renders_dates_times_case_and_defaults() {
        let t = Template::parse("{{ slots.day | date }} at {{ slots.at | time }}").unwrap();
        assert_eq!(t.render(&vars), "December 3, 2026 at 3:30 PM");
        assert_eq!(t.render_in(&vars, "zh-CN"), "2026年12月3日 at 15点30分");
        let t = Template::parse("{{ vars.x | default(\"a|b\") | upper }}").unwrap();
        assert_eq!(t.render(&vars), "A|B");
    }

    #[test]
    fn single_expression_keeps_its_type() {
        let t = Template::parse("{{ vars.n + 1 }}").unwrap();
        assert_eq!(t.evaluate(&vars), Ok(json!(2)));
        let t = Template::parse("n={{ vars.n + 1 }}").unwrap();
        assert_eq!(t.evaluate(&vars), Ok(json!("n=2")));
    }

    #[test]
    fn lists_variables() {
        let t = Template::parse("{{ a.b }} and {{ c.d | money }} {{ 1 + e }}").unwrap();
        let v: Vec<String> = t.variables().map(|p| p.to_string()).collect();
        assert_eq!(v, ["a.b", "c.d", "e"]);
    }

    #[test]
    fn errors_carry_character_offsets() {
        let e = Template::parse("您好 {{ slots.x").unwrap_err();
        assert_eq!(e.offset, 3);
        let e = Template::parse("ab {{ x | cash }}").unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(e.message.starts_with("unknown filter `cash`"));
        let e = Template::parse("{{ }}").unwrap_err();
        assert_eq!(e.offset, 0);
        let e = Template::parse("{{ x > }}").unwrap_err();
        assert_eq!(e.offset, 7);
        assert!(Template::parse("{{ x | upper(1) }}").is_err());
        assert!(Template::parse("{{ x | default }}").is_err());
    }

    #[test]
    fn text_without_placeholders_is_one_segment() {
        let t = Template::parse("Hello").unwrap();
        assert_eq!(t.segments(), &[Segment::Text("Hello".into())]);
        assert_eq!(Template::parse("").unwrap().segments().len(), 0);
    }
}
