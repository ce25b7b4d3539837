//! Conditions and computed values: the expression language of `branch` conditions and `{{ }}`
//! templates.
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "starts_with" | "contains") sum)?
//! sum     := product (("+" | "-") product)*
//! product := unary (("*" | "/") unary)*
//! unary   := "-" unary | primary
//! primary := number | 'string' | "string" | true | false | null | "[" (expr ("," expr)*)? "]"
//!          | "(" expr ")" | open(name) | holiday(name) | path
//! ```
//!
//! Missing variables are `null`. Comparisons treat a string that reads as a number as that number
//! (slots arrive as strings), so `slots.amount > 1000` works on `"1500"`.

use std::fmt;

use crate::model::{Value, VarPath};

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal: number, string, boolean or null.
    Literal(Value),
    /// A variable.
    Var(VarPath),
    /// `[a, b, c]`.
    List(Vec<Expr>),
    /// `not x`.
    Not(Box<Expr>),
    /// `-x`.
    Neg(Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `open(calendar)` or `holiday(calendar)`.
    Call(Func, String),
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in` (list membership, or substring of a string)
    In,
    /// `starts_with`
    StartsWith,
    /// `contains` (substring, or list membership)
    Contains,
    /// `+` (numbers add; otherwise strings concatenate)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// Built-in functions of a calendar name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `open(calendar)`: within opening hours and not a holiday, now.
    Open,
    /// `holiday(calendar)`: today is one of the calendar's holidays.
    Holiday,
}

impl Func {
    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Func::Open => "open",
            Func::Holiday => "holiday",
        }
    }
}

/// Where an expression's variables and calendar functions come from.
pub trait Vars {
    /// The value of a variable, `None` when unset.
    fn var(&self, path: &VarPath) -> Option<Value>;

    /// Evaluates `open(calendar)` / `holiday(calendar)`. The default knows no calendars.
    fn call(&self, func: Func, calendar: &str) -> Result<bool, EvalError> {
        let _ = func;
        Err(EvalError::UnknownCalendar(calendar.to_owned()))
    }
}

impl<F: Fn(&VarPath) -> Option<Value>> Vars for F {
    fn var(&self, path: &VarPath) -> Option<Value> {
        self(path)
    }
}

/// A syntax error in an expression.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Offset of the problem in characters from the start of the expression.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// An expression that cannot be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An arithmetic operand is not a number.
    #[error("`{op}` needs numbers, got {left} and {right}")]
    NotNumbers {
        /// The operator.
        op: &'static str,
        /// Type of the left operand.
        left: &'static str,
        /// Type of the right operand.
        right: &'static str,
    },
    /// Division by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// `open()`/`holiday()` named a calendar the plan does not have.
    #[error("unknown calendar `{0}`")]
    UnknownCalendar(String),
}

impl Expr {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let tokens = lex(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end: text.chars().count(),
        };
        let e = p.or()?;
        match p.peek() {
            None => Ok(e),
            Some(t) => Err(ParseError {
                offset: t.offset,
                message: format!("unexpected `{}` after the end of the expression", t.kind),
            }),
        }
    }

    /// Evaluates the expression.
    pub fn eval(&self, vars: &dyn Vars) -> Result<Value, EvalError> {
        Ok(match self {
            Expr::Literal(v) => v.clone(),
            Expr::Var(p) => vars.var(p).unwrap_or(Value::Null),
            Expr::List(items) => Value::Array(
                items
                    .iter()
                    .map(|e| e.eval(vars))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(e) => Value::Bool(!truthy(&e.eval(vars)?)),
            Expr::Neg(e) => {
                let v = e.eval(vars)?;
                match as_number(&v) {
                    Some(n) => number(-n),
                    None => {
                        return Err(EvalError::NotNumbers {
                            op: "-",
                            left: "nothing",
                            right: type_name(&v),
                        })
                    }
                }
            }
            Expr::Call(f, cal) => Value::Bool(vars.call(*f, cal)?),
            Expr::Binary(BinOp::And, a, b) => {
                Value::Bool(truthy(&a.eval(vars)?) && truthy(&b.eval(vars)?))
            }
            Expr::Binary(BinOp::Or, a, b) => {
                Value::Bool(truthy(&a.eval(vars)?) || truthy(&b.eval(vars)?))
            }
            Expr::Binary(op, a, b) => binary(*op, &a.eval(vars)?, &b.eval(vars)?)?,
        })
    }

    /// Evaluates as a condition (truthiness of the value).
    pub fn holds(&self, vars: &dyn Vars) -> Result<bool, EvalError> {
        self.eval(vars).map(|v| truthy(&v))
    }

    /// Every variable the expression reads.
    pub fn variables(&self) -> Vec<&VarPath> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Var(p) = e {
                out.push(p);
            }
        });
        out
    }

    /// Every `open()`/`holiday()` call with its calendar name.
    pub fn calls(&self) -> Vec<(Func, &str)> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Call(f, c) = e {
                out.push((*f, c.as_str()));
            }
        });
        out
    }

    fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::List(items) => items.iter().for_each(|e| e.walk(f)),
            Expr::Not(e) | Expr::Neg(e) => e.walk(f),
            Expr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Literal(_) | Expr::Var(_) | Expr::Call(..) => {}
        }
    }
}

/// Truthiness: null, false, 0, "" and [] are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A value as a number: numbers, and strings that read as numbers.
pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A value as display text (strings without quotes; null as empty).
pub fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A JSON number from an f64: an integer when it is whole.
pub fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) if !matches!((a, b), (Value::String(_), Value::String(_))) => x == y,
        _ => match (a, b) {
            (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
                s == if *x { "true" } else { "false" }
            }
            _ => false,
        },
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::Array(items) => items.iter().any(|i| loose_eq(i, needle)),
        Value::String(s) => s.contains(&as_text(needle)),
        Value::Object(o) => o.contains_key(&as_text(needle)),
        _ => false,
    }
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    use std::cmp::Ordering::*;
    let ord = || compare(a, b);
    Ok(match op {
        BinOp::Eq => Value::Bool(loose_eq(a, b)),
        BinOp::Ne => Value::Bool(!loose_eq(a, b)),
        BinOp::Lt => Value::Bool(ord() == Some(Less)),
        BinOp::Le => Value::Bool(matches!(ord(), Some(Less | Equal))),
        BinOp::Gt => Value::Bool(ord() == Some(Greater)),
        BinOp::Ge => Value::Bool(matches!(ord(), Some(Greater | Equal))),
        BinOp::In => Value::Bool(contains(b, a)),
        BinOp::Contains => Value::Bool(contains(a, b)),
        BinOp::StartsWith => Value::Bool(as_text(a).starts_with(&as_text(b))),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
            // A missing value counts as 0 next to a number (`vars.attempts + 1` on the first
            // visit).
            let num = |v: &Value, other: &Value| match v {
                Value::Null if as_number(other).is_some() => Some(0.0),
                _ => as_number(v),
            };
            let (x, y) = match (num(a, b), num(b, a)) {
                (Some(x), Some(y)) => (x, y),
                _ if op == BinOp::Add => {
                    return Ok(Value::String(as_text(a) + &as_text(b)));
                }
                _ => {
                    return Err(EvalError::NotNumbers {
                        op: op_symbol(op),
                        left: type_name(a),
                        right: type_name(b),
                    })
                }
            };
            match op {
                BinOp::Add => number(x + y),
                BinOp::Sub => number(x - y),
                BinOp::Mul => number(x * y),
                _ if y == 0.0 => return Err(EvalError::DivisionByZero),
                _ => number(x / y),
            }
        }
        BinOp::And | BinOp::Or => Value::Bool(match op {
            BinOp::And => truthy(a) && truthy(b),
            _ => truthy(a) || truthy(b),
        }),
    })
}

fn op_symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        _ => "?",
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Number(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Number(n) => write!(f, "{n}"),
            Kind::Str(s) => write!(f, "'{s}'"),
            Kind::Ident(s) => f.write_str(s),
            Kind::Op(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    offset: usize,
}

const OPS: [&str; 16] = [
    "==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", "+", "-", "*", "/", "!",
];

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ParseError {
                            offset: start,
                            message: format!("string not closed: add the closing {c}"),
                        })
                    }
                    Some('\\') if chars.get(i + 1).is_some() => {
                        s.push(chars[i + 1]); // bound checked by the guard
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token {
                kind: Kind::Str(s),
                offset: start,
            });
        } else if c.is_ascii_digit() {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.' || *c == '_')
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let n = s.parse::<f64>().map_err(|_| ParseError {
                offset: start,
                message: format!("`{s}` is not a number"),
            })?;
            out.push(Token {
                kind: Kind::Number(n),
                offset: start,
            });
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.' || *c == '-')
            {
                // A `-` continues a name only when a letter follows (`escalate-to`), so
                // `a-1` still subtracts.
                if chars[i] == '-' && !chars.get(i + 1).is_some_and(|c| c.is_alphabetic()) {
                    break;
                }
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push(Token {
                kind: Kind::Ident(s),
                offset: start,
            });
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            match OPS.iter().find(|op| rest.starts_with(**op)) {
                Some(op) => {
                    out.push(Token {
                        kind: Kind::Op(op),
                        offset: i,
                    });
                    i += op.len();
                }
                None => {
                    return Err(ParseError {
                        offset: i,
                        message: format!("unexpected character `{c}`"),
                    })
                }
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn at_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: Kind::Ident(s), .. }) if s == w)
    }

    fn at_op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: Kind::Op(s), .. }) if *s == o)
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.end, |t| t.offset)
    }

    fn expect_op(&mut self, o: &str) -> Result<(), ParseError> {
        if self.at_op(o) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected `{o}`")))
        }
    }

    fn error(&self, what: &str) -> ParseError {
        let found = self
            .peek()
            .map_or("the end".to_owned(), |t| format!("`{}`", t.kind));
        ParseError {
            offset: self.offset(),
            message: format!("{what}, found {found}"),
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.and()?;
        while self.at_word("or") {
            self.pos += 1;
            e = Expr::Binary(BinOp::Or, Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.not()?;
        while self.at_word("and") {
            self.pos += 1;
            e = Expr::Binary(BinOp::And, Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.at_word("not") || self.at_op("!") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ParseError> {
        let left = self.sum()?;
        let op = match self.peek().map(|t| &t.kind) {
            Some(Kind::Op("==")) => BinOp::Eq,
            Some(Kind::Op("!=")) => BinOp::Ne,
            Some(Kind::Op("<")) => BinOp::Lt,
            Some(Kind::Op("<=")) => BinOp::Le,
            Some(Kind::Op(">")) => BinOp::Gt,
            Some(Kind::Op(">=")) => BinOp::Ge,
            Some(Kind::Ident(w)) if w == "in" => BinOp::In,
            Some(Kind::Ident(w)) if w == "starts_with" => BinOp::StartsWith,
            Some(Kind::Ident(w)) if w == "contains" => BinOp::Contains,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.sum()?;
        Ok(Expr::Binary(op, Box::new(left), Box::new(right)))
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.product()?;
        loop {
            let op = if self.at_op("+") {
                BinOp::Add
            } else if self.at_op("-") {
                BinOp::Sub
            } else {
                return Ok(e);
            };
            self.pos += 1;
            e = Expr::Binary(op, Box::new(e), Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.unary()?;
        loop {
            let op = if self.at_op("*") {
                BinOp::Mul
            } else if self.at_op("/") {
                BinOp::Div
            } else {
                return Ok(e);
            };
            self.pos += 1;
            e = Expr::Binary(op, Box::new(e), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.at_op("-") {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.error("expected a value"));
        };
        self.pos += 1;
        match tok.kind {
            Kind::Number(n) => Ok(Expr::Literal(number(n))),
            Kind::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Kind::Op("(") => {
                let e = self.or()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Kind::Op("[") => {
                let mut items = Vec::new();
                if !self.at_op("]") {
                    loop {
                        items.push(self.or()?);
                        if self.at_op(",") {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect_op("]")?;
                Ok(Expr::List(items))
            }
            Kind::Ident(w) => match w.as_str() {
                "true" => Ok(Expr::Literal(Value::Bool(true))),
                "false" => Ok(Expr::Literal(Value::Bool(false))),
                "null" => Ok(Expr::Literal(Value::Null)),
                "and" | "or" | "not" | "in" | "starts_with" | "contains" => {
                    self.pos -= 1;
                    Err(self.error("expected a value"))
                }
                "open" | "holiday" if self.at_op("(") => {
                    let func = if w == "open" {
                        Func::Open
                    } else {
                        Func::Holiday
                    };
                    self.pos += 1;
                    let name = match self.peek().map(|t| t.kind.clone()) {
                        Some(Kind::Ident(n)) | Some(Kind::Str(n)) => n,
                        _ => return Err(self.error("expected a calendar name")),
                    };
                    self.pos += 1;
                    self.expect_op(")")?;
                    Ok(Expr::Call(func, name))
                }
                _ => match VarPath::parse(&w) {
                    Some(p) => Ok(Expr::Var(p)),
                    None => Err(ParseError {
                        offset: tok.offset,
                        message: format!("`{w}` is not a variable name"),
                    }),
                },
            },
            Kind::Op(_) => {
                self.pos -= 1;
                Err(self.error("expected a value"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(path: &VarPath) -> Option<Value> {
        match path.to_string().as_str() {
            "slots.amount" => Some(json!("1500")),
            "webhook.tier" => Some(json!("gold")),
            "caller.number" => Some(json!("+8613800000000")),
            "vars.attempts" => Some(json!(2)),
            _ => None,
        }
    }

    fn eval(s: &str) -> Value {
        Expr::parse(s).unwrap().eval(&vars).unwrap()
    }

    #[test]
    fn documented_conditions_evaluate() {
        assert_eq!(
            eval("slots.amount > 1000 and webhook.tier == 'gold'"),
            json!(true)
        );
        assert_eq!(eval("caller.number starts_with '+86'"), json!(true));
        assert_eq!(eval("webhook.tier in ['silver', \"gold\"]"), json!(true));
        assert_eq!(eval("not (slots.amount <= 1500)"), json!(false));
        assert_eq!(eval("webhook.tier contains 'ol' or false"), json!(true));
    }

    #[test]
    fn arithmetic_keeps_integers_and_treats_missing_as_null() {
        assert_eq!(eval("vars.attempts + 1"), json!(3));
        assert_eq!(eval("vars.missing == null"), json!(true));
        assert_eq!(eval("2 * 3 - 1 / 2"), json!(5.5));
        assert_eq!(eval("-vars.attempts"), json!(-2));
        assert_eq!(eval("'a' + 1"), json!("a1"));
    }

    #[test]
    fn division_by_zero_is_an_error() {
        let e = Expr::parse("1 / 0").unwrap();
        assert_eq!(e.eval(&vars), Err(EvalError::DivisionByZero));
    }

    #[test]
    fn calendar_functions_parse_and_default_to_unknown() {
        let e = Expr::parse("not open(business)").unwrap();
        assert_eq!(e.calls(), vec![(Func::Open, "business")]);
        assert_eq!(
            e.eval(&vars),
            Err(EvalError::UnknownCalendar("business".into()))
        );
    }

    #[test]
    fn syntax_errors_point_at_the_offending_token() {
        let e = Expr::parse("slots.a > ").unwrap_err();
        assert_eq!(e.offset, 10);
        assert_eq!(e.message, "expected a value, found the end");
        let e = Expr::parse("a == 'x").unwrap_err();
        assert_eq!(e.offset, 5);
        let e = Expr::parse("a b").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(Expr::parse("(a").is_err());
        assert!(Expr::parse("a $ b").is_err());
    }

    #[test]
    fn variables_lists_every_path_read() {
        let e = Expr::parse("slots.a > 1 and vars.b in [webhook.c]").unwrap();
        let names: Vec<String> = e.variables().iter().map(|p| p.to_string()).collect();
        assert_eq!(names, ["slots.a", "vars.b", "webhook.c"]);
    }
}
