//! Conversation tests (`*.tests.yaml`): scripted callers with expectations, run against a plan.
//!
//! ```yaml
//! plan: bank.yaml                      # relative to this file
//! now: "2026-11-20T15:00:00Z"          # the clock for every test (default 2026-01-07T15:00:00Z)
//! caller: "+15551230000"               # default caller.number (default +15550000000)
//! vars: { campaign: spring }           # initial vars.* of every test
//! webhooks:                            # canned answers by URL; `{ error: timeout }` for a failure
//!   "http://127.0.0.1:8080/balance": { balance: 1234.5 }
//! tests:
//!   - name: balance by voice
//!     caller: "+15551230000"           # this test's caller.number
//!     called: "100"                    # call.called: the dialed number
//!     language: en-US                  # optional: the call's language
//!     vars: { name: Maria }            # initial vars.* (merged over the file's)
//!     now: "2026-11-20T23:00:00Z"      # optional: this test's clock
//!     webhooks: { ... }                # optional: override answers for this test
//!     steps:
//!       - expect: { says: "Welcome" }
//!       - caller: "what's my balance"  # speech; "#123" keys; null = silence
//!         expect: { intent: balance, node: ask_account }
//!       - press: "12345678"            # keys
//!       - silence: true
//!       - sentiment: -0.8
//!       - hangup: true                 # the caller hangs up
//!         expect:
//!           says: ["Your balance is $1,234.50"]   # substrings of what was said since the last step
//!           not_says: "sorry"
//!           node: lookup
//!           intent: balance
//!           language: en-US
//!           slots: { account: "12345678" }
//!           vars: { blocked: true }
//!           events: [webhook_error]    # events since the last step
//!           escalation: retries        # an escalation since the last step, with its reason
//!           webhook: "http://127.0.0.1:8080/balance"   # called since the last step
//!           enqueue: { queue: support, reason: retries, context_has: [transcript, path, account] }
//!           hangup: true
//!           transfer: "sip:1001@pbx"
//!           voicemail: support
//!           transcript_not_contains: "12345678"   # never in the record so far
//! ```
//!
//! A URL with no canned answer gets the error `connect`. Every step advances the clock by one
//! second. Expectations are checked against what happened since the previous step, except
//! `node`, `intent`, `language`, `slots` and `vars` (the state now) and `transcript_not_contains`
//! (everything written down since the call started: the transcript, every event, every handoff,
//! and every prompt that is not sensitive — what the engine stores about a call).

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
    /// The default `caller.number`.
    pub caller: String,
    /// Initial `vars.*` of every test.
    pub vars: Map<String, Value>,
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
    /// `call.called`: the dialed number.
    pub called: String,
    /// The call's language (`None`: the plan's).
    pub language: Option<String>,
    /// Initial `vars.*` (the file's, overridden by the test's), as an outbound campaign or the
    /// engine would start the call.
    pub vars: Map<String, Value>,
    /// This test's clock.
    pub now: DateTime<Utc>,
    /// Webhook answers (the file's, overridden by the test's).
    pub webhooks: Webhooks,
    /// The steps.
    pub steps: Vec<Step>,
    /// Where the test is written.
    pub span: Span,
}

/// One step: the caller's inputs (none: only check, e.g. what the start said) and what must
/// have happened after them.
#[derive(Clone, Debug, Default)]
pub struct Step {
    /// The inputs, in order (`press: "123"` is three keys).
    pub inputs: Vec<Input>,
    /// How the step was written, for messages.
    pub label: String,
    /// The expectations.
    pub expect: Expect,
}

/// An expected `enqueue`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpectEnqueue {
    /// The queue (`None`: any).
    pub queue: Option<String>,
    /// The handoff's reason (`asked`, `retries`, `sentiment`, `loop`, `webhook`, `plan`).
    pub reason: Option<String>,
    /// Fields the handoff must hold non-empty, or slots it must hold.
    pub context_has: Vec<String>,
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
    /// The call's language.
    pub language: Option<String>,
    /// Slot values (compared as text).
    pub slots: Vec<(String, Value)>,
    /// Variable values (compared as text).
    pub vars: Vec<(String, Value)>,
    /// Events (by name) that must have happened since the last step.
    pub events: Vec<String>,
    /// An escalation since the last step, with this reason.
    pub escalation: Option<String>,
    /// A webhook to this URL was called since the last step.
    pub webhook: Option<String>,
    /// An enqueue since the last step.
    pub enqueue: Option<ExpectEnqueue>,
    /// Whether the call hung up.
    pub hangup: Option<bool>,
    /// A transfer to this target.
    pub transfer: Option<String>,
    /// A voicemail to this mailbox.
    pub voicemail: Option<String>,
    /// Texts that must appear nowhere in what was written down about the call so far: the
    /// transcript, the events, the handoffs and the prompts that are not sensitive.
    pub transcript_not_contains: Vec<String>,
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
    call.called = test.called.clone();
    call.vars = test.vars.clone();
    if let Some(l) = &test.language {
        call.vars
            .insert("language".into(), Value::String(l.clone()));
    }
    let mut session = Session::new(plan.clone(), call);
    let mut now = test.now;
    let mut actions = drive(&mut session, None, now, &test.webhooks);
    // Everything the engine would write down about the call, for `transcript_not_contains`.
    let mut record = Record::default();
    record.add(&actions);
    let mut failures = Vec::new();
    for (i, step) in test.steps.iter().enumerate() {
        if !step.inputs.is_empty() {
            now += chrono::Duration::seconds(1);
            if session.is_finished() {
                failures.push(format!(
                    "step {} ({}): the call had already ended",
                    i + 1,
                    step.label
                ));
                break;
            }
            actions.clear();
            for input in &step.inputs {
                actions.extend(drive(
                    &mut session,
                    Some(input.clone()),
                    now,
                    &test.webhooks,
                ));
            }
            record.add(&actions);
        }
        let problems = check(&step.expect, &session, &actions, &record);
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

/// What the engine writes down about a call: every event (the engine logs prompts as `say`
/// events, sensitive ones as `[sensitive]`) and every handoff. Webhook requests are left out:
/// they go to the plan's own backend, sensitive slots included when `send` lists them.
#[derive(Default)]
struct Record {
    lines: Vec<String>,
}

impl Record {
    fn add(&mut self, actions: &[Action]) {
        for a in actions {
            match a {
                Action::Say {
                    text, sensitive, ..
                } if !sensitive => self.lines.push(format!("say {text}")),
                Action::Say { .. } => self.lines.push("say [sensitive]".to_owned()),
                // The runner's own note of the canned answer, not something the engine stores.
                Action::Event { name, .. } if name == "webhook_answer" => {}
                Action::Event { name, data } => self.lines.push(format!("{name} {data}")),
                Action::Enqueue { queue, context, .. } => self.lines.push(format!(
                    "enqueue {queue} {}",
                    serde_json::to_string(context).unwrap_or_default()
                )),
                Action::Transfer { target } => self.lines.push(format!("transfer {target}")),
                Action::Voicemail { mailbox, .. } => {
                    self.lines.push(format!("voicemail {mailbox}"))
                }
                Action::Play { .. }
                | Action::Listen { .. }
                | Action::Webhook { .. }
                | Action::Hangup => {}
            }
        }
    }

    /// Where `needle` is written down (the transcript, a handoff or an event), if anywhere.
    fn find(&self, session: &Session, needle: &str) -> Option<String> {
        if let Some(t) = session
            .transcript()
            .iter()
            .find(|t| t.text.contains(needle))
        {
            return Some(format!("the transcript: {:?}", t.text));
        }
        let handoff = serde_json::to_string(&session.handoff()).unwrap_or_default();
        if handoff.contains(needle) {
            return Some("the handoff context".to_owned());
        }
        self.lines
            .iter()
            .find(|l| l.contains(needle))
            .map(|l| format!("the event {l}"))
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

fn events<'a>(actions: &'a [Action]) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
    actions.iter().filter_map(|a| match a {
        Action::Event { name, data } if name != "webhook_answer" => Some((name.as_str(), data)),
        _ => None,
    })
}

fn check(e: &Expect, s: &Session, actions: &[Action], record: &Record) -> Vec<String> {
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
    if let Some(language) = &e.language {
        if s.language() != language {
            out.push(format!(
                "expected language `{language}`, got `{}`",
                s.language()
            ));
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
    for name in &e.events {
        if !events(actions).any(|(n, _)| n == name) {
            let seen: Vec<&str> = events(actions).map(|(n, _)| n).collect();
            out.push(format!(
                "expected the event `{name}`, got [{}]",
                seen.join(", ")
            ));
        }
    }
    if let Some(reason) = &e.escalation {
        let got: Vec<&str> = events(actions)
            .filter(|(n, _)| *n == "escalation")
            .map(|(_, d)| d.get("reason").and_then(Value::as_str).unwrap_or(""))
            .collect();
        if !got.contains(&reason.as_str()) {
            out.push(match got.first() {
                Some(other) => format!("expected an escalation for `{reason}`, got `{other}`"),
                None => format!("expected an escalation for `{reason}`, got none"),
            });
        }
    }
    if let Some(url) = &e.webhook {
        let called: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Webhook { url, .. } => Some(url.as_str()),
                _ => None,
            })
            .collect();
        if !called.contains(&url.as_str()) {
            out.push(format!("expected a webhook to {url}, got {called:?}"));
        }
    }
    if let Some(want) = &e.enqueue {
        check_enqueue(want, actions, &mut out);
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
    for needle in &e.transcript_not_contains {
        if let Some(place) = record.find(s, needle) {
            out.push(format!("{needle:?} is written down in {place}"));
        }
    }
    out
}

fn check_enqueue(want: &ExpectEnqueue, actions: &[Action], out: &mut Vec<String>) {
    let found = actions.iter().find_map(|a| match a {
        Action::Enqueue { queue, context, .. } => Some((queue, context)),
        _ => None,
    });
    let Some((q, ctx)) = found else {
        out.push("expected an enqueue, got none".to_owned());
        return;
    };
    if let Some(queue) = want.queue.as_ref().filter(|w| *w != q) {
        out.push(format!("expected enqueue to `{queue}`, got `{q}`"));
    }
    if let Some(reason) = want.reason.as_ref().filter(|r| **r != ctx.reason) {
        out.push(format!(
            "expected the handoff reason `{reason}`, got `{}`",
            ctx.reason
        ));
    }
    let ctx_json = serde_json::to_value(ctx).unwrap_or(Value::Null);
    for field in &want.context_has {
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

    fn vars(&mut self, y: &Y, into: &mut Map<String, Value>) {
        match &y.kind {
            Kind::Map(entries) => {
                for (k, v) in entries {
                    into.insert(k.name.clone(), to_json(v));
                }
            }
            _ => self.error(
                y,
                format!("`vars` must be a mapping, not {}", y.describe()),
                "write `vars: { name: Maria, window: \"9 to 11 AM\" }`",
            ),
        }
    }

    fn file(&mut self, root: &Y) -> Option<TestFile> {
        let entries = self.map(
            root,
            "the tests file",
            &["plan", "now", "caller", "vars", "webhooks", "tests"],
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
        let caller = get("caller")
            .and_then(|y| self.string(y, "`caller`"))
            .unwrap_or_else(|| DEFAULT_CALLER.to_owned());
        let mut vars = Map::new();
        if let Some(y) = get("vars") {
            self.vars(y, &mut vars);
        }
        let mut webhooks = Webhooks::new();
        if let Some(y) = get("webhooks") {
            self.webhooks(y, &mut webhooks);
        }
        let mut file = TestFile {
            plan: PathBuf::new(),
            now,
            caller,
            vars,
            webhooks,
            tests: Vec::new(),
        };
        match get("tests").map(|y| (y, &y.kind)) {
            Some((_, Kind::Seq(items))) => {
                for item in items {
                    if let Some(t) = self.test(item, &file) {
                        file.tests.push(t);
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
        file.plan = plan?;
        Some(file)
    }

    fn test(&mut self, y: &Y, file: &TestFile) -> Option<TestCase> {
        let entries = self.map(
            y,
            "a test",
            &[
                "name", "caller", "called", "language", "vars", "now", "webhooks", "steps",
            ],
        )?;
        let mut t = TestCase {
            name: String::new(),
            caller: file.caller.clone(),
            called: String::new(),
            language: None,
            vars: file.vars.clone(),
            now: file.now,
            webhooks: file.webhooks.clone(),
            steps: Vec::new(),
            span: y.span.clone(),
        };
        for (k, v) in entries {
            match k.name.as_str() {
                "name" => t.name = self.string(v, "`name`").unwrap_or_default(),
                "caller" => t.caller = self.string(v, "`caller`").unwrap_or_default(),
                "called" => t.called = self.string(v, "`called`").unwrap_or_default(),
                "language" => t.language = self.string(v, "`language`"),
                "vars" => self.vars(v, &mut t.vars),
                "now" => t.now = self.time(v).unwrap_or(file.now),
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
        let entries = self.map(
            y,
            "a step",
            &[
                "caller",
                "press",
                "silence",
                "sentiment",
                "hangup",
                "expect",
            ],
        )?;
        let mut step = Step::default();
        let mut input_key: Option<&str> = None;
        for (k, v) in entries {
            let name = k.name.as_str();
            if matches!(
                name,
                "caller" | "press" | "silence" | "sentiment" | "hangup"
            ) {
                if let Some(first) = input_key {
                    self.diags.push(
                        Diagnostic::error(
                            &k.span,
                            format!(
                                "a step has one input, but this one has `{first}` and `{name}`"
                            ),
                        )
                        .hint("split it into two steps"),
                    );
                }
                input_key = Some(name);
            }
            match name {
                "caller" => {
                    step.inputs = match &v.kind {
                        Kind::Null => vec![Input::NoInput],
                        _ => {
                            let text = self.string(v, "`caller`").unwrap_or_default();
                            match text.strip_prefix('#').filter(|k| !k.is_empty()) {
                                Some(keys) => self.keys(v, keys),
                                None => vec![Input::Speech {
                                    text,
                                    confidence: 1.0,
                                }],
                            }
                        }
                    };
                }
                "press" => {
                    let keys = self.string(v, "`press`").unwrap_or_default();
                    step.inputs = self.keys(v, &keys);
                }
                "silence" | "hangup" => match &v.kind {
                    Kind::Bool(true) => {
                        step.inputs = vec![if name == "silence" {
                            Input::NoInput
                        } else {
                            Input::Hangup
                        }]
                    }
                    _ => self.error(
                        v,
                        format!("`{name}` takes `true`"),
                        "write `silence: true` (or leave the step out)",
                    ),
                },
                "sentiment" => match &v.kind {
                    Kind::Int(i) => step.inputs = vec![Input::Sentiment(*i as f32)],
                    Kind::Float(f) => step.inputs = vec![Input::Sentiment(*f as f32)],
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
        step.label = match (input_key, step.inputs.first()) {
            (None, _) => "start".to_owned(),
            (Some("press"), _) | (_, Some(Input::Digit(_))) => {
                let keys: String = step
                    .inputs
                    .iter()
                    .filter_map(|i| match i {
                        Input::Digit(d) => Some(*d),
                        _ => None,
                    })
                    .collect();
                format!("keys {keys}")
            }
            (_, Some(Input::Speech { text, .. })) => format!("caller: {text:?}"),
            (_, Some(Input::NoInput)) => "silence".to_owned(),
            (_, Some(Input::Sentiment(s))) => format!("sentiment: {s}"),
            (_, Some(Input::Hangup)) => "caller hangs up".to_owned(),
            (Some(k), _) => k.to_owned(),
        };
        Some(step)
    }

    /// Keys to press: `0-9 * # A-D`, spaces ignored.
    fn keys(&mut self, y: &Y, keys: &str) -> Vec<Input> {
        let keys: Vec<char> = keys.chars().filter(|c| !c.is_whitespace()).collect();
        if keys.is_empty() {
            self.error(
                y,
                "no keys to press",
                "write the keys, like `press: \"123#\"`",
            );
        }
        match keys
            .iter()
            .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'))
        {
            Some(bad) => {
                self.error(
                    y,
                    format!("`{bad}` is not a key"),
                    "keys are 0-9, *, # and A-D",
                );
                Vec::new()
            }
            None => keys.into_iter().map(Input::Digit).collect(),
        }
    }

    fn expect(&mut self, y: &Y) -> Option<Expect> {
        let allowed = [
            "says",
            "not_says",
            "node",
            "intent",
            "language",
            "slots",
            "vars",
            "events",
            "escalation",
            "webhook",
            "enqueue",
            "hangup",
            "transfer",
            "voicemail",
            "transcript_not_contains",
        ];
        let entries = self.map(y, "`expect`", &allowed)?;
        let mut e = Expect::default();
        for (k, v) in entries {
            match k.name.as_str() {
                "says" => e.says = self.strings(v, "`says`"),
                "not_says" => e.not_says = self.strings(v, "`not_says`"),
                "node" => e.node = self.string(v, "`node`"),
                "intent" => e.intent = self.string(v, "`intent`"),
                "language" => e.language = self.string(v, "`language`"),
                "events" => e.events = self.strings(v, "`events`"),
                "escalation" => e.escalation = self.string(v, "`escalation`"),
                "webhook" => e.webhook = self.string(v, "`webhook`"),
                "transcript_not_contains" => {
                    e.transcript_not_contains = self.strings(v, "`transcript_not_contains`")
                }
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
                        Kind::Bool(true) => Some(ExpectEnqueue::default()),
                        Kind::Map(_) => {
                            let m = self
                                .map(v, "`enqueue`", &["queue", "reason", "context_has"])
                                .unwrap_or(&[]);
                            let mut want = ExpectEnqueue::default();
                            for (k, v) in m {
                                match k.name.as_str() {
                                    "queue" => want.queue = self.string(v, "`queue`"),
                                    "reason" => want.reason = self.string(v, "`reason`"),
                                    "context_has" => {
                                        want.context_has = self.strings(v, "`context_has`")
                                    }
                                    _ => {}
                                }
                            }
                            Some(want)
                        }
                        _ => self.string(v, "`enqueue`").map(|q| ExpectEnqueue {
                            queue: Some(q),
                            ..ExpectEnqueue::default()
                        }),
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
