//! A small owned YAML tree with positions, built from `saphyr`'s marked nodes.

use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::diagnostics::Diagnostic;
use crate::model::Span;

/// A YAML node with its position.
#[derive(Clone, Debug)]
pub(crate) struct Y {
    pub span: Span,
    pub kind: Kind,
    /// A quoted scalar: its text starts one column after `span`.
    pub quoted: bool,
}

/// What a node holds.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Y>),
    Map(Vec<(Key, Y)>),
}

/// A mapping key (always read as text).
#[derive(Clone, Debug)]
pub(crate) struct Key {
    pub name: String,
    pub span: Span,
}

impl Y {
    /// A short description of the node's type for error messages.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "a whole number",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "text",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (strings, numbers and booleans).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The span of the text inside a scalar (after a quote).
    pub fn text_span(&self) -> Span {
        let mut s = self.span.clone();
        if self.quoted {
            s.column += 1;
        }
        s
    }
}

/// Parses the first document of a YAML text.
pub(crate) fn parse(file: &Arc<str>, text: &str) -> Result<Y, Diagnostic> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        let span = Span::new(file.clone(), m.line() as u32, m.col() as u32 + 1);
        Diagnostic::error(&span, format!("YAML syntax error: {}", e.info()))
            .hint("check indentation, quotes and `:` after keys")
    })?;
    let chars: Vec<char> = text.chars().collect();
    match docs.into_iter().next() {
        Some(doc) => Ok(convert(file, &chars, doc)),
        None => Ok(Y {
            span: Span::new(file.clone(), 1, 1),
            kind: Kind::Null,
            quoted: false,
        }),
    }
}

fn convert(file: &Arc<str>, chars: &[char], node: MarkedYaml<'_>) -> Y {
    let m = node.span.start;
    let span = Span::new(file.clone(), m.line().max(1) as u32, m.col() as u32 + 1);
    let quoted = matches!(chars.get(m.index()), Some('"' | '\''));
    let kind = match node.data {
        YamlData::Value(s) => match s {
            Scalar::Null => Kind::Null,
            Scalar::Boolean(b) => Kind::Bool(b),
            Scalar::Integer(i) => Kind::Int(i),
            Scalar::FloatingPoint(f) => Kind::Float(f.into_inner()),
            Scalar::String(s) => Kind::Str(s.into_owned()),
        },
        YamlData::Representation(s, _, _) => Kind::Str(s.into_owned()),
        YamlData::Sequence(items) => {
            Kind::Seq(items.into_iter().map(|i| convert(file, chars, i)).collect())
        }
        YamlData::Mapping(map) => Kind::Map(
            map.into_iter()
                .map(|(k, v)| {
                    let k = convert(file, chars, k);
                    let name = k.scalar_text().unwrap_or_default();
                    (Key { name, span: k.span }, convert(file, chars, v))
                })
                .collect(),
        ),
        YamlData::Tagged(_, inner) => return convert(file, chars, *inner),
        YamlData::Alias(_) | YamlData::BadValue => Kind::Null,
    };
    Y { span, kind, quoted }
}
