//! Conversation tests (`*.tests.yaml`): scripted callers with expectations, run against a plan.
//!
//! ```yaml
//! plan: bank.yaml                      # relative to this file
//! now: "2026-11-20T15:00:00Z"          # the clock for every test (default 2026-01-07T15:00:00Z)
//! webhooks:                            # canned answers by URL; `{ error: timeout }` for a failure
//!   "http://127.0.0.1:8080/balance": { balance: 1234.5 }
//! tests:
//!   - name: balance by voice
//!     caller: "+15551230000"           # caller.number (default +15550000000)
//!     language: en-US                  # optional: the call's language
//!     now: "2026-11-20T23:00:00Z"      # optional: this test's clock
//!     webhooks: { ... }                # optional: override answers for this test
//!     steps:
//!       - expect: { says: "Welcome" }
//!       - caller: "what's my balance"  # speech; "#123" keys; null = silence
//!         expect: { intent: balance, node: ask_account }
//!       - silence: true
//!       - sentiment: -0.8
//!       - caller: "#12345678"
//!         expect:
//!           says: ["Your balance is $1,234.50"]   # substrings of what was said since the last step
//!           not_says: "sorry"
//!           slots: { account: "12345678" }
//!           vars: { blocked: true }
//!           enqueue: { queue: support, context_has: [transcript, path, account] }
//!           hangup: true
//!           transfer: "sip:1001@pbx"
//!           voicemail: support
//! ```
//!
//! A URL with no canned answer gets the error `connect`. Every step advances the clock by one
//! second. Expectations are checked against what happened since the previous step.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::expr::as_text;
use crate::interpreter::{Action, CallInfo, CompiledPlan, Input, Session, Who};
use crate::load::yaml::{self, Kind, Y};
use crate::load::SourceProvider;
use crate::model::Span;

use super::{drive, Webhooks};

const DEFAULT_NOW: &str = "2026-01-07T15:00:00Z";
const DEFAULT_CALLER: &str = "+15550000000";

/// A parsed tests file.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// The plan file, relative to the tests file.
    pub plan: PathBuf,
    /// The clock of every test.
    pub now: DateTime<Utc>,
    /// Canned webhook answers.
    pub webhooks: Webhooks,
    /// The tests.
    pub tests: Vec<TestCase>,
}

/// One scripted conversation.
#[derive(Clone, Debug)]
pub struct TestCase {
    /// Name printed in the report.
    pub name: String,
    /// `caller.number`.
    pub caller: String,
    /// The call's language (`None`: the plan's).
    pub language: Option<String>,
    /// This test's clock.
    pub now: DateTime<Utc>,
    /// Webhook answers (the file's, overridden by the test's).
    pub webhooks: Webhooks,
    /// The steps.
    pub steps: Vec<Step>,
    /// Where the test is written.
    pub span: Span,
}

/// One step: an optional input and what must have happened after it.
#[derive(Clone, Debug, Default)]
pub struct Step {
    /// The input (`None`: only check, e.g. what the start said).
    pub input: Option<Input>,
    /// How the step was written, for messages.
    pub label: String,
    /// The expectations.
    pub expect: Expect,
}

/// What a step expects.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// Each must be a substring of what was said since the last step.
    pub says: Vec<String>,
    /// None may be a substring of what was said since the last step.
    pub not_says: Vec<String>,
    /// The node the call is at.
    pub node: Option<String>,
    /// The last recognised intent.
    pub intent: Option<String>,
    /// Slot values (compared as text).
    pub slots: Vec<(String, Value)>,
    /// Variable values (compared as text).
    pub vars: Vec<(String, Value)>,
    /// An enqueue: the queue (`None`: any) and what the handoff must hold.
    pub enqueue: Option<(Option<String>, Vec<String>)>,
    /// Whether the call hung up.
    pub hangup: Option<bool>,
    /// A transfer to this target.
    pub transfer: Option<String>,
    /// A voicemail to this mailbox.
    pub voicemail: Option<String>,
}

/// The outcome of one test.
#[derive(Clone, Debug)]
pub struct TestResult {
    /// The test's name.
    pub name: String,
    /// Every failed expectation (empty when the test passed), with the transcript.
    pub failures: Vec<String>,
}

impl TestResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The outcome of a tests file.
#[derive(Clone, Debug, Default)]
pub struct TestReport {
    /// One result per test, in file order.
    pub results: Vec<TestResult>,
}

impl TestReport {
    /// Tests that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Tests that failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Whether every test passed.
    pub fn all_passed(&self) -> bool {
        self.failed() == 0
    }

    /// `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }
}

impl fmt::Display for TestReport {
    /// One line per test (`ok name` / `FAIL name` with the failures indented), then the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            if r.passed() {
                writeln!(f, "ok   {}", r.name)?;
            } else {
                writeln!(f, "FAIL {}", r.name)?;
                for failure in &r.failures {
                    for line in failure.lines() {
                        writeln!(f, "     {line}")?;
                    }
                }
            }
        }
        write!(f, "{}", self.summary())
    }
}

/// Reads a tests file and its plan through `provider`, checks the plan, and runs every test.
/// Problems in the tests file or the plan come back positioned.
pub fn run_file(path: &Path, provider: &dyn SourceProvider) -> Result<TestReport, Diagnostics> {
    let name = path.display().to_string();
    let text = provider.read(path).map_err(|e| {
        let mut d = Diagnostics::new();
        d.push(
            Diagnostic::error(
                &Span::new(name.as_str().into(), 1, 1),
                format!("cannot read the tests: {e}"),
            )
            .hint("check the path"),
        );
        d
    })?;
    let file = parse_tests(&name, &text)?;
    let plan_path = path.parent().unwrap_or(Path::new("")).join(&file.plan);
    let (plan, _warnings) = crate::validate::compile(&plan_path, provider)?;
    Ok(run(&CompiledPlan::new(plan), &file))
}

/// Runs every test of a parsed file against a plan.
pub fn run(plan: &Arc<CompiledPlan>, file: &TestFile) -> TestReport {
    TestReport {
        results: file.tests.iter().map(|t| run_test(plan, t)).collect(),
    }
}

fn run_test(plan: &Arc<CompiledPlan>, test: &TestCase) -> TestResult {
    let mut call = CallInfo::new(&format!("test-{}", test.name), &test.caller);
    if let Some(l) = &test.language {
        call.vars
            .insert("language".into(), Value::String(l.clone()));
    }
    let mut session = Session::new(plan.clone(), call);
    let mut now = test.now;
    let mut actions = drive(&mut session, None, now, &test.webhooks);
    let mut failures = Vec::new();
    for (i, step) in test.steps.iter().enumerate() {
        if let Some(input) = &step.input {
            now += chrono::Duration::seconds(1);
            if session.is_finished() {
                failures.push(format!(
                    "step {} ({}): the call had already ended",
                    i + 1,
                    step.label
                ));
                break;
            }
            let inputs: Vec<Input> = match input {
                Input::Speech { text, .. } if text.starts_with('#') && text.len() > 1 => {
                    text.chars().skip(1).map(Input::Digit).collect()
                }
                other => vec![other.clone()],
            };
            actions.clear();
            for input in inputs {
                actions.extend(drive(&mut session, Some(input), now, &test.webhooks));
            }
        }
        let problems = check(&step.expect, &session, &actions);
        if !problems.is_empty() {
            let said = said(&actions);
            failures.push(format!(
                "step {} ({}):\n{}\n  said since the last step: {:?}\n  transcript:\n{}",
                i + 1,
                step.label,
                problems
                    .iter()
                    .map(|p| format!("  {p}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                said,
                transcript(&session)
            ));
            break;
        }
    }
    TestResult {
        name: test.name.clone(),
        failures,
    }
}

fn said(actions: &[Action]) -> String {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn transcript(s: &Session) -> String {
    s.transcript()
        .iter()
        .map(|t| {
            let who = match t.who {
                Who::Caller => "caller",
                Who::Engine => "ivr",
            };
            format!("    [{:>6} ms] {who}: {}", t.at_ms, t.text)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(e: &Expect, s: &Session, actions: &[Action]) -> Vec<String> {
    let mut out = Vec::new();
    let said = said(actions);
    for want in &e.says {
        if !said.contains(want.as_str()) {
            out.push(format!("expected to hear {want:?}"));
        }
    }
    for not in &e.not_says {
        if said.contains(not.as_str()) {
            out.push(format!("expected not to hear {not:?}"));
        }
    }
    if let Some(node) = &e.node {
        if s.current_node() != node {
            out.push(format!(
                "expected node `{node}`, got `{}`",
                s.current_node()
            ));
        }
    }
    if let Some(intent) = &e.intent {
        let got = s.intent().map_or("(none)", |i| i.name.as_str());
        if got != intent {
            out.push(format!("expected intent `{intent}`, got `{got}`"));
        }
    }
    for (name, want) in &e.slots {
        let got = s.slot(name);
        if got.map(as_text) != Some(as_text(want)) {
            out.push(format!(
                "expected slot `{name}` = {want}, got {}",
                got.map_or("(unset)".to_owned(), Value::to_string)
            ));
        }
    }
    for (name, want) in &e.vars {
        let got = s.var(name);
        if got.map(as_text) != Some(as_text(want)) {
            out.push(format!(
                "expected var `{name}` = {want}, got {}",
                got.map_or("(unset)".to_owned(), Value::to_string)
            ));
        }
    }
    if let Some((queue, has)) = &e.enqueue {
        let found = actions.iter().find_map(|a| match a {
            Action::Enqueue { queue, context, .. } => Some((queue, context)),
            _ => None,
        });
        match found {
            None => out.push("expected an enqueue, got none".to_owned()),
            Some((q, ctx)) => {
                if queue.as_ref().is_some_and(|want| want != q) {
                    out.push(format!(
                        "expected enqueue to `{}`, got `{q}`",
                        queue.as_deref().unwrap_or("")
                    ));
                }
                let ctx_json = serde_json::to_value(ctx).unwrap_or(Value::Null);
                for field in has {
                    let present = match ctx_json.get(field.as_str()) {
                        Some(v) => crate::expr::truthy(v),
                        None => ctx.slots.contains_key(field),
                    };
                    if !present {
                        out.push(format!(
                            "expected the handoff to hold `{field}` (a non-empty field or a slot)"
                        ));
                    }
                }
            }
        }
    }
    if let Some(want) = e.hangup {
        let got = actions.iter().any(|a| matches!(a, Action::Hangup));
        if got != want {
            out.push(if want {
                "expected a hangup, got none".to_owned()
            } else {
                "expected no hangup, but the call hung up".to_owned()
            });
        }
    }
    if let Some(want) = &e.transfer {
        let got = actions.iter().find_map(|a| match a {
            Action::Transfer { target } => Some(target.as_str()),
            _ => None,
        });
        if got != Some(want.as_str()) {
            out.push(format!("expected a transfer to `{want}`, got {got:?}"));
        }
    }
    if let Some(want) = &e.voicemail {
        let got = actions.iter().find_map(|a| match a {
            Action::Voicemail { mailbox, .. } => Some(mailbox.as_str()),
            _ => None,
        });
        if got != Some(want.as_str()) {
            out.push(format!("expected voicemail to `{want}`, got {got:?}"));
        }
    }
    out
}

// ---- parsing ----

/// Parses a tests file; `name` is the file name used in positions.
pub fn parse_tests(name: &str, text: &str) -> Result<TestFile, Diagnostics> {
    let file: Arc<str> = name.into();
    let root = yaml::parse(&file, text).map_err(|d| {
        let mut ds = Diagnostics::new();
        ds.push(d);
        ds
    })?;
    let mut p = Parser {
        diags: Diagnostics::new(),
    };
    let result = p.file(&root);
    match result {
        Some(f) if !p.diags.has_errors() => Ok(f),
        _ => {
            p.diags.sort();
            Err(p.diags)
        }
    }
}

struct Parser {
    diags: Diagnostics,
}

fn default_now() -> DateTime<Utc> {
    static NOW: OnceLock<DateTime<Utc>> = OnceLock::new();
    *NOW.get_or_init(|| {
        DateTime::parse_from_rfc3339(DEFAULT_NOW)
            .map(|d| d.to_utc())
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    })
}

impl Parser {
    fn error(&mut self, y: &Y, message: impl Into<String>, hint: &str) {
        self.diags
            .push(Diagnostic::error(&y.span, message).hint(hint.to_owned()));
    }

    fn map<'a>(&mut self, y: &'a Y, what: &str, allowed: &[&str]) -> Option<&'a [(yaml::Key, Y)]> {
        match &y.kind {
            Kind::Map(entries) => {
                for (k, _) in entries {
                    if !allowed.contains(&k.name.as_str()) {
                        let hint = format!("use one of: {}", allowed.join(", "));
                        self.diags.push(
                            Diagnostic::error(
                                &k.span,
                                format!("unknown key `{}` in {what}", k.name),
                            )
                            .hint(hint),
                        );
                    }
                }
                Some(entries)
            }
            _ => {
                self.error(
                    y,
                    format!("{what} must be a mapping, not {}", y.describe()),
                    "write `key: value` lines",
                );
                None
            }
        }
    }

    fn string(&mut self, y: &Y, what: &str) -> Option<String> {
        match &y.kind {
            Kind::Str(_) | Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) => y.scalar_text(),
            _ => {
                self.error(
                    y,
                    format!("{what} must be text, not {}", y.describe()),
                    "quote the value",
                );
                None
            }
        }
    }

    fn strings(&mut self, y: &Y, what: &str) -> Vec<String> {
        match &y.kind {
            Kind::Seq(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            _ => self.string(y, what).into_iter().collect(),
        }
    }

    fn time(&mut self, y: &Y) -> Option<DateTime<Utc>> {
        let text = self.string(y, "`now`")?;
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.to_utc()),
            Err(e) => {
                self.error(
                    y,
                    format!("`now` is not an RFC 3339 time: {e}"),
                    "write it like \"2026-11-20T10:00:00Z\"",
                );
                None
            }
        }
    }

    fn webhooks(&mut self, y: &Y, into: &mut Webhooks) {
        let Some(entries) = (match &y.kind {
            Kind::Map(e) => Some(e),
            _ => {
                self.error(
                    y,
                    "`webhooks` must map URLs to answers",
                    "write `\"http://...\": { key: value }`",
                );
                None
            }
        }) else {
            return;
        };
        for (k, v) in entries {
            let answer = match &v.kind {
                Kind::Map(fields) if fields.len() == 1 && fields[0].0.name == "error" => {
                    Err(fields[0]
                        .1
                        .scalar_text()
                        .unwrap_or_else(|| "connect".to_owned()))
                }
                _ => Ok(to_json(v)),
            };
            into.insert(k.name.clone(), answer);
        }
    }

    fn file(&mut self, root: &Y) -> Option<TestFile> {
        let entries = self.map(
            root,
            "the tests file",
            &["plan", "now", "webhooks", "tests"],
        )?;
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key.name == k)
                .map(|(_, v)| v)
        };
        let plan = match get("plan") {
            Some(y) => self.string(y, "`plan`").map(PathBuf::from),
            None => {
                self.error(
                    root,
                    "the tests file has no `plan`",
                    "add `plan: my-plan.yaml`",
                );
                None
            }
        };
        let now = get("now")
            .and_then(|y| self.time(y))
            .unwrap_or_else(default_now);
        let mut webhooks = Webhooks::new();
        if let Some(y) = get("webhooks") {
            self.webhooks(y, &mut webhooks);
        }
        let mut tests = Vec::new();
        match get("tests").map(|y| (y, &y.kind)) {
            Some((_, Kind::Seq(items))) => {
                for item in items {
                    if let Some(t) = self.test(item, now, &webhooks) {
                        tests.push(t);
                    }
                }
            }
            Some((y, _)) => self.error(y, "`tests` must be a list", "write `- name: ...` items"),
            None => self.error(
                root,
                "the tests file has no `tests`",
                "add `tests:` with `- name: ...` items",
            ),
        }
        Some(TestFile {
            plan: plan?,
            now,
            webhooks,
            tests,
        })
    }

    fn test(&mut self, y: &Y, now: DateTime<Utc>, webhooks: &Webhooks) -> Option<TestCase> {
        let entries = self.map(
            y,
            "a test",
            &["name", "caller", "language", "now", "webhooks", "steps"],
        )?;
        let mut t = TestCase {
            name: String::new(),
            caller: DEFAULT_CALLER.to_owned(),
            language: None,
            now,
            webhooks: webhooks.clone(),
            steps: Vec::new(),
            span: y.span.clone(),
        };
        for (k, v) in entries {
            match k.name.as_str() {
                "name" => t.name = self.string(v, "`name`").unwrap_or_default(),
                "caller" => t.caller = self.string(v, "`caller`").unwrap_or_default(),
                "language" => t.language = self.string(v, "`language`"),
                "now" => t.now = self.time(v).unwrap_or(now),
                "webhooks" => self.webhooks(v, &mut t.webhooks),
                "steps" => match &v.kind {
                    Kind::Seq(items) => {
                        t.steps = items.iter().filter_map(|s| self.step(s)).collect();
                    }
                    _ => self.error(v, "`steps` must be a list", "write `- caller: ...` items"),
                },
                _ => {}
            }
        }
        if t.name.is_empty() {
            t.name = format!("test at line {}", y.span.line);
        }
        Some(t)
    }

    fn step(&mut self, y: &Y) -> Option<Step> {
        let entries = self.map(y, "a step", &["caller", "silence", "sentiment", "expect"])?;
        let mut step = Step::default();
        for (k, v) in entries {
            match k.name.as_str() {
                "caller" => {
                    step.input = Some(match &v.kind {
                        Kind::Null => Input::NoInput,
                        _ => {
                            let text = self.string(v, "`caller`").unwrap_or_default();
                            Input::Speech {
                                text,
                                confidence: 1.0,
                            }
                        }
                    });
                }
                "silence" => step.input = Some(Input::NoInput),
                "sentiment" => match &v.kind {
                    Kind::Int(i) => step.input = Some(Input::Sentiment(*i as f32)),
                    Kind::Float(f) => step.input = Some(Input::Sentiment(*f as f32)),
                    _ => self.error(
                        v,
                        "`sentiment` must be a number",
                        "write a score from -1 to 1",
                    ),
                },
                "expect" => step.expect = self.expect(v).unwrap_or_default(),
                _ => {}
            }
        }
        step.label = match &step.input {
            None => "start".to_owned(),
            Some(Input::Speech { text, .. }) => format!("caller: {text:?}"),
            Some(Input::NoInput) => "silence".to_owned(),
            Some(Input::Sentiment(s)) => format!("sentiment: {s}"),
            Some(other) => format!("{other:?}"),
        };
        Some(step)
    }

    fn expect(&mut self, y: &Y) -> Option<Expect> {
        let allowed = [
            "says",
            "not_says",
            "node",
            "intent",
            "slots",
            "vars",
            "enqueue",
            "hangup",
            "transfer",
            "voicemail",
        ];
        let entries = self.map(y, "`expect`", &allowed)?;
        let mut e = Expect::default();
        for (k, v) in entries {
            match k.name.as_str() {
                "says" => e.says = self.strings(v, "`says`"),
                "not_says" => e.not_says = self.strings(v, "`not_says`"),
                "node" => e.node = self.string(v, "`node`"),
                "intent" => e.intent = self.string(v, "`intent`"),
                "slots" | "vars" => {
                    let pairs: Vec<(String, Value)> = match &v.kind {
                        Kind::Map(m) => m
                            .iter()
                            .map(|(k, v)| (k.name.clone(), to_json(v)))
                            .collect(),
                        _ => {
                            self.error(
                                v,
                                format!("`{}` must be a mapping", k.name),
                                "write `{ name: value }`",
                            );
                            Vec::new()
                        }
                    };
                    if k.name == "slots" {
                        e.slots = pairs;
                    } else {
                        e.vars = pairs;
                    }
                }
                "enqueue" => {
                    e.enqueue = match &v.kind {
                        Kind::Bool(true) => Some((None, Vec::new())),
                        Kind::Map(_) => {
                            let m = self
                                .map(v, "`enqueue`", &["queue", "context_has"])
                                .unwrap_or(&[]);
                            let mut queue = None;
                            let mut has = Vec::new();
                            for (k, v) in m {
                                match k.name.as_str() {
                                    "queue" => queue = self.string(v, "`queue`"),
                                    "context_has" => has = self.strings(v, "`context_has`"),
                                    _ => {}
                                }
                            }
                            Some((queue, has))
                        }
                        _ => self.string(v, "`enqueue`").map(|q| (Some(q), Vec::new())),
                    }
                }
                "hangup" => match &v.kind {
                    Kind::Bool(b) => e.hangup = Some(*b),
                    _ => self.error(v, "`hangup` must be true or false", "write `hangup: true`"),
                },
                "transfer" => e.transfer = self.string(v, "`transfer`"),
                "voicemail" => e.voicemail = self.string(v, "`voicemail`"),
                _ => {}
            }
        }
        Some(e)
    }
}

/// A YAML value as JSON.
fn to_json(y: &Y) -> Value {
    match &y.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(i) => Value::from(*i),
        Kind::Float(f) => crate::expr::number(*f),
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

#[cfg(test)]
mod tests;
