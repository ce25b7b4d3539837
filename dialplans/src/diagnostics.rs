//! Problems found in a plan, with positions: what `ivr check` prints.

use std::fmt;
use std::sync::Arc;

use crate::model::Span;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The plan cannot run.
    Error,
    /// The plan runs, but probably not as meant.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem: where, how bad, what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name.
    pub file: Arc<str>,
    /// Line, from 1 (0 when the problem is about the file as a whole).
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at a span.
    pub fn error(span: &Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(span, Severity::Error, message)
    }

    /// A warning at a span.
    pub fn warning(span: &Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(span, Severity::Warning, message)
    }

    fn at(span: &Span, severity: Severity, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: span.file.clone(),
            line: span.line,
            column: span.column,
            severity,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint when there is one.
    pub fn maybe_hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    /// The diagnostic as a JSON object
    /// `{"file","line","column","severity","message","hint"}` (`hint` is null when absent).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": &*self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity.as_str(),
            "message": self.message,
            "hint": self.hint,
        })
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: message — hint`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, " — {h}")?;
        }
        Ok(())
    }
}

/// A list of problems.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// No problems.
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    /// Adds a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// The last problem added.
    pub fn last_mut(&mut self) -> Option<&mut Diagnostic> {
        self.items.last_mut()
    }

    /// Adds all problems of another list.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// The problems, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    /// Sorts by file, line, column, then errors before warnings; drops exact duplicates.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (&a.file, a.line, a.column, a.severity, &a.message)
                .cmp(&(&b.file, b.line, b.column, b.severity, &b.message))
        });
        self.items.dedup();
    }

    /// One line per problem sorted by position (`file:line:column: error: message — hint`), then
    /// a summary line (`2 errors, 1 warning` or `no problems`).
    pub fn render_human(&self) -> String {
        let mut sorted = self.clone();
        sorted.sort();
        let mut out = String::new();
        for d in &sorted.items {
            out.push_str(&format!(
                "{}:{}:{}: {}: {}",
                d.file,
                d.line,
                d.column,
                d.severity.as_str(),
                d.message
            ));
            if let Some(h) = &d.hint {
                out.push_str(" — ");
                out.push_str(h);
            }
            out.push('\n');
        }
        let (e, w) = (sorted.errors(), sorted.warnings());
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        if e == 0 && w == 0 {
            out.push_str("no problems\n");
        } else {
            out.push_str(&format!(
                "{}, {}\n",
                plural(e, "error"),
                plural(w, "warning")
            ));
        }
        out
    }

    /// The problems sorted by position as a JSON array of
    /// `{"file","line","column","severity","message","hint"}`.
    pub fn render_json(&self) -> String {
        let mut sorted = self.clone();
        sorted.sort();
        serde_json::Value::Array(sorted.items.iter().map(Diagnostic::to_json).collect()).to_string()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_human())
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + usize::from(word.chars().count() > 6);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(line: u32, col: u32) -> Span {
        Span::new("bank.yaml".into(), line, col)
    }

    #[test]
    fn display_is_position_message_hint() {
        let d =
            Diagnostic::error(&span(3, 5), "unknown key `lisen`").hint("did you mean `listen`?");
        assert_eq!(
            d.to_string(),
            "bank.yaml:3:5: unknown key `lisen` — did you mean `listen`?"
        );
    }

    #[test]
    fn human_output_is_sorted_with_a_summary() {
        let mut ds = Diagnostics::new();
        ds.push(Diagnostic::warning(&span(9, 1), "b"));
        ds.push(Diagnostic::error(&span(2, 4), "a"));
        assert_eq!(
            ds.render_human(),
            "bank.yaml:2:4: error: a\nbank.yaml:9:1: warning: b\n1 error, 1 warning\n"
        );
        assert_eq!(Diagnostics::new().render_human(), "no problems\n");
    }

    #[test]
    fn json_output_has_the_documented_fields() {
        let mut ds = Diagnostics::new();
        ds.push(Diagnostic::error(&span(2, 4), "a").hint("h"));
        let v: serde_json::Value = serde_json::from_str(&ds.render_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"file": "bank.yaml", "line": 2, "column": 4,
                "severity": "error", "message": "a", "hint": "h"}])
        );
    }

    #[test]
    fn did_you_mean_finds_close_words_only() {
        let keys = ["listen", "collect", "next"];
        assert_eq!(did_you_mean("lisen", keys), Some("listen"));
        assert_eq!(did_you_mean("colect", keys), Some("collect"));
        assert_eq!(did_you_mean("banana", keys), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
