//! The typed dial plan: what the loader builds from YAML and the interpreter runs.
//!
//! Every element that a diagnostic can point at carries a [`Span`]. Node targets are resolved to
//! [`NodeId`]s when the plan is loaded, so a [`Plan`] returned by [`crate::load()`] never holds a
//! dangling reference; intent, calendar, flow and slot names stay names and are checked by
//! [`crate::validate()`].

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::calendar::Calendar;
use crate::expr::Expr;
use crate::template::Template;

/// The runtime value of variables, slots and webhook results.
pub use serde_json::Value;

/// A position in a plan file: the file name as given to the loader, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// File name (path as given to the loader, or the name passed to [`crate::load_str`]).
    pub file: Arc<str>,
    /// Line, counting from 1.
    pub line: u32,
    /// Column in characters, counting from 1.
    pub column: u32,
}

impl Span {
    /// A span at `line:column` of `file`.
    pub fn new(file: Arc<str>, line: u32, column: u32) -> Span {
        Span { file, line, column }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A name written in a plan (intent, slot, calendar, queue…) with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The name.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// Index of a node in [`Plan::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// Placeholder for a reference that did not resolve. Only plans that failed to load (seen by
    /// the validator through [`crate::check`]) contain it; [`Plan::node`] returns `None` for it.
    pub const UNRESOLVED: NodeId = NodeId(u32::MAX);

    /// The index into [`Plan::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A reference to a node: `next`, `on` values, `on_error`, `goto`, `escalate_to`, `start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The name as written (`main`, or `flow.node`).
    pub name: String,
    /// The node it resolved to.
    pub node: NodeId,
    /// Where it was written.
    pub span: Span,
}

/// A whole dial plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Plan name (letters, digits, `-`, `_`).
    pub name: String,
    /// Language version (`1`).
    pub version: u32,
    /// Default language (BCP 47 tag).
    pub language: String,
    /// Every language the plan speaks (contains `language`).
    pub languages: Vec<String>,
    /// Dialed numbers routed to this plan.
    pub numbers: Vec<String>,
    /// Plan-wide defaults.
    pub settings: Settings,
    /// Business-hours calendars.
    pub calendars: Vec<Calendar>,
    /// Intents, in declaration order.
    pub intents: Vec<Intent>,
    /// FAQ knowledge base.
    pub faq: Vec<FaqEntry>,
    /// Sub-flows; their nodes live in [`Plan::nodes`] under qualified names `flow.node`.
    pub flows: Vec<Flow>,
    /// The first node.
    pub start: Target,
    /// All nodes: top-level ones by name, flow nodes as `flow.node`.
    pub nodes: Vec<Node>,
    /// Top-level `on:` map: custom global intents to the node they jump to.
    pub global_on: Vec<OnEntry>,
    /// Every file the plan was read from (the main file first, then includes).
    pub files: Vec<PathBuf>,
    /// Where the plan starts (line 1 of the main file).
    pub span: Span,
    pub(crate) node_index: HashMap<String, NodeId>,
    pub(crate) intent_index: HashMap<String, usize>,
}

impl Plan {
    /// The node with this id (`None` for [`NodeId::UNRESOLVED`]).
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index())
    }

    /// The node id for a qualified name (`main`, `verify.ask_dob`).
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_index.get(name).copied()
    }

    /// The node with this qualified name.
    pub fn node_by_name(&self, name: &str) -> Option<&Node> {
        self.node_id(name).and_then(|id| self.node(id))
    }

    /// The intent with this name.
    pub fn intent(&self, name: &str) -> Option<&Intent> {
        self.intent_index
            .get(name)
            .and_then(|&i| self.intents.get(i))
    }

    /// The global intents (active in every listen and collect).
    pub fn global_intents(&self) -> impl Iterator<Item = &Intent> {
        self.intents.iter().filter(|i| i.global)
    }

    /// The calendar with this name.
    pub fn calendar(&self, name: &str) -> Option<&Calendar> {
        self.calendars.iter().find(|c| c.name == name)
    }

    /// The flow with this name.
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.name == name)
    }

    /// The node a custom global intent jumps to (top-level `on:`).
    pub fn global_target(&self, intent: &str) -> Option<&Target> {
        self.global_on
            .iter()
            .find(|e| e.key == intent)
            .map(|e| &e.target)
    }

    /// Converts a UTC time to the plan's local time (`settings.timezone`), for calendars and the
    /// `time`/`weekday`/`date` condition variables.
    pub fn local_time(&self, utc: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
        utc.with_timezone(&self.settings.timezone).naive_local()
    }

    /// Rebuilds the name lookups after `nodes` or `intents` changed.
    pub fn rebuild_indexes(&mut self) {
        self.node_index = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), NodeId(i as u32)))
            .collect();
        self.intent_index = self
            .intents
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
    }
}

/// Plan-wide defaults (`settings:`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long `listen`/`collect` wait for the caller (default 5 s).
    pub no_input: Duration,
    /// Re-prompts after no-input/no-match before escalation (default 2).
    pub max_retries: u32,
    /// Whether speech or a key stops a prompt (default true).
    pub barge_in: bool,
    /// Node for escalation; without it stuck callers hear goodbye and are hung up on.
    pub escalate_to: Option<Target>,
    /// Minimum confidence for an intent match (default 0.45).
    pub intent_threshold: f64,
    /// Between `intent_threshold` and this the engine asks "Did you mean …?" (default 0.65).
    pub confirm_threshold: f64,
    /// Sentiment score at or below which the caller is escalated (default -0.6).
    pub negative_sentiment: f64,
    /// Zone for `time`, `weekday`, `date` and calendars (default UTC).
    pub timezone: chrono_tz::Tz,
    /// Default TTS voice.
    pub voice: Option<String>,
    /// Default speaking rate in words per minute.
    pub rate: Option<u32>,
    /// Answering-machine detection on outbound calls: the plan starts once the verdict
    /// (`call.amd`) is known, and for a machine once its beep has ended (default false).
    pub amd: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            no_input: Duration::from_secs(5),
            max_retries: 2,
            barge_in: true,
            escalate_to: None,
            intent_threshold: 0.45,
            confirm_threshold: 0.65,
            negative_sentiment: -0.6,
            timezone: chrono_tz::Tz::UTC,
            voice: None,
            rate: None,
            amd: false,
        }
    }
}

/// What a caller may want (`intents:`).
#[derive(Clone, Debug)]
pub struct Intent {
    /// Intent name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
    /// Example phrasings, per language.
    pub examples: Vec<Examples>,
    /// Word expansions: a word and the words/phrases that mean the same.
    pub synonyms: Vec<(String, Vec<String>)>,
    /// Keypad shortcut.
    pub dtmf: Option<char>,
    /// Active in every listen and collect.
    pub global: bool,
}

impl Intent {
    /// The examples for `language` (those without a language count for the plan's default).
    pub fn examples_for<'a>(
        &'a self,
        language: &'a str,
        default_language: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.examples
            .iter()
            .filter(move |e| match &e.language {
                Some(l) => l == language,
                None => language == default_language,
            })
            .flat_map(|e| e.phrases.iter().map(String::as_str))
    }
}

/// Example phrasings of an intent in one language.
#[derive(Clone, Debug)]
pub struct Examples {
    /// The language, or `None` for the plan's default language.
    pub language: Option<String>,
    /// The phrasings.
    pub phrases: Vec<String>,
}

/// One question/answer pair of the FAQ knowledge base.
#[derive(Clone, Debug)]
pub struct FaqEntry {
    /// Phrasings of the question.
    pub questions: Vec<String>,
    /// The answer.
    pub answer: Prompt,
    /// Where it is declared.
    pub span: Span,
}

/// A reusable sub-flow (`flows:`).
#[derive(Clone, Debug)]
pub struct Flow {
    /// Flow name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
    /// The flow's first node.
    pub start: Target,
    /// The flow's nodes (named `flow.node` in [`Plan::nodes`]).
    pub nodes: Vec<NodeId>,
}

/// One state of the conversation.
#[derive(Clone, Debug)]
pub struct Node {
    /// Qualified name: `main`, or `flow.node` for a node of a sub-flow.
    pub name: String,
    /// Where it is declared (its key).
    pub span: Span,
    /// The flow it belongs to (`None` at top level).
    pub flow: Option<String>,
    /// Spoken prompt.
    pub say: Option<Prompt>,
    /// Recorded prompt.
    pub play: Option<Play>,
    /// The node's one step.
    pub step: Step,
    /// Where to go after the step.
    pub next: Option<Target>,
    /// Outcome or intent → node.
    pub on: Vec<OnEntry>,
    /// Prompt for the global `help` intent.
    pub help: Option<Prompt>,
}

impl Node {
    /// Every node reference the node makes: `next`, `on`, step targets (`goto`, `branch`,
    /// `on_error`).
    pub fn targets(&self) -> Vec<&Target> {
        let mut out: Vec<&Target> = self.next.iter().collect();
        out.extend(self.on.iter().map(|e| &e.target));
        match &self.step {
            Step::Goto(t) => out.push(t),
            Step::Branch(arms, otherwise) => {
                out.extend(arms.iter().map(|a| &a.then));
                out.extend(otherwise);
            }
            Step::Webhook(w) => out.extend(&w.on_error),
            _ => {}
        }
        out
    }

    pub(crate) fn targets_mut(&mut self) -> Vec<&mut Target> {
        let mut out: Vec<&mut Target> = self.next.iter_mut().collect();
        out.extend(self.on.iter_mut().map(|e| &mut e.target));
        match &mut self.step {
            Step::Goto(t) => out.push(t),
            Step::Branch(arms, otherwise) => {
                out.extend(arms.iter_mut().map(|a| &mut a.then));
                out.extend(otherwise);
            }
            Step::Webhook(w) => out.extend(&mut w.on_error),
            _ => {}
        }
        out
    }

    /// Every prompt of the node (say, help, and the step's prompts).
    pub fn prompts(&self) -> Vec<&Prompt> {
        let mut out: Vec<&Prompt> = self.say.iter().chain(&self.help).collect();
        match &self.step {
            Step::Listen(l) => out.extend(l.no_input.iter().chain(&l.no_match)),
            Step::Collect(c) => out.extend(c.prompt.iter().chain(&c.retry)),
            Step::Confirm(c) => out.push(&c.prompt),
            Step::Faq(f) => out.extend(f.prompt.iter().chain(&f.confirm)),
            Step::Voicemail(v) => out.extend(&v.prompt),
            Step::Hangup(p) => out.extend(p),
            _ => {}
        }
        out
    }

    /// The target for an outcome or intent name.
    pub fn on_target(&self, key: &str) -> Option<&Target> {
        self.on.iter().find(|e| e.key == key).map(|e| &e.target)
    }
}

/// One `on:` entry: an outcome (`yes`, `no_input`, `answered`…) or intent name, and a target.
#[derive(Clone, Debug)]
pub struct OnEntry {
    /// The outcome or intent name.
    pub key: String,
    /// Where the key is written.
    pub span: Span,
    /// Where to go.
    pub target: Target,
}

/// The one action a node performs after its prompts.
#[derive(Clone, Debug)]
pub enum Step {
    /// Speak and go to `next`.
    None,
    /// Recognise an intent.
    Listen(Listen),
    /// Fill a slot.
    Collect(Collect),
    /// Ask yes/no; outcomes `yes` and `no`.
    Confirm(Confirm),
    /// Assign variables.
    Set(Vec<Assignment>),
    /// Conditional jump: the first arm whose condition holds, else the `else` target.
    Branch(Vec<BranchArm>, Option<Target>),
    /// Call an HTTP endpoint (runs before the node's prompts).
    Webhook(Webhook),
    /// Answer a question from the FAQ; outcomes `answered` and `unanswered`.
    Faq(FaqStep),
    /// Hand the caller to a call-center queue.
    Enqueue(Enqueue),
    /// Blind-transfer to a SIP URI or number.
    Transfer(Template),
    /// Record a message.
    Voicemail(Voicemail),
    /// Hang up, optionally after a goodbye prompt.
    Hangup(Option<Prompt>),
    /// Jump to a node.
    Goto(Target),
    /// Run a sub-flow, then continue at `next`.
    Call(Named),
    /// Return from a sub-flow.
    Return,
}

impl Step {
    /// The YAML key of the step (`"listen"`, …; `"none"` for [`Step::None`]).
    pub fn keyword(&self) -> &'static str {
        match self {
            Step::None => "none",
            Step::Listen(_) => "listen",
            Step::Collect(_) => "collect",
            Step::Confirm(_) => "confirm",
            Step::Set(_) => "set",
            Step::Branch(..) => "branch",
            Step::Webhook(_) => "webhook",
            Step::Faq(_) => "faq",
            Step::Enqueue(_) => "enqueue",
            Step::Transfer(_) => "transfer",
            Step::Voicemail(_) => "voicemail",
            Step::Hangup(_) => "hangup",
            Step::Goto(_) => "goto",
            Step::Call(_) => "call",
            Step::Return => "return",
        }
    }

    /// Whether the call leaves the plan here (hangup, enqueue, transfer, voicemail).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Step::Hangup(_) | Step::Enqueue(_) | Step::Transfer(_) | Step::Voicemail(_)
        )
    }

    /// Whether the step waits for the caller (and so can escalate after retries).
    pub fn waits_for_caller(&self) -> bool {
        matches!(
            self,
            Step::Listen(_) | Step::Collect(_) | Step::Confirm(_) | Step::Faq(_)
        )
    }
}

/// What the caller may use to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InputMode {
    /// Speech only.
    Speech,
    /// Keypad only.
    Dtmf,
    /// Either (default).
    #[default]
    Both,
}

/// Options shared by the steps that wait for the caller; `None` means the plan setting.
#[derive(Clone, Debug, Default)]
pub struct InputOptions {
    /// Speech, keys or both.
    pub mode: InputMode,
    /// Overrides `settings.no_input`.
    pub timeout: Option<Duration>,
    /// Overrides `settings.max_retries`.
    pub max_retries: Option<u32>,
    /// Overrides `settings.barge_in`.
    pub barge_in: Option<bool>,
}

/// `listen:` — recognise one of some intents (plus all global intents).
#[derive(Clone, Debug)]
pub struct Listen {
    /// The intents listened for (globals come on top).
    pub intents: Vec<Named>,
    /// Mode, timeout, retries, barge-in.
    pub input: InputOptions,
    /// Per-failure prompts after silence.
    pub no_input: Option<Prompt>,
    /// Per-failure prompts after an unrecognised reply.
    pub no_match: Option<Prompt>,
    /// Where the step is written.
    pub span: Span,
}

/// `collect:` — fill a typed slot.
#[derive(Clone, Debug)]
pub struct Collect {
    /// Slot name (`slots.NAME`).
    pub slot: Named,
    /// What the slot holds.
    pub slot_type: SlotType,
    /// Masked in logs, transcripts, events and screen pops.
    pub sensitive: bool,
    /// The question (said after the node's `say`).
    pub prompt: Option<Prompt>,
    /// Per-failure prompts after an invalid answer.
    pub retry: Option<Prompt>,
    /// Read the value back and ask yes/no.
    pub confirm: bool,
    /// Mode, timeout, retries, barge-in.
    pub input: InputOptions,
    /// Where the step is written.
    pub span: Span,
}

/// The type of a collected slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotType {
    /// A digit string of `min..=max` digits; `terminator` ends keypad entry early.
    Digits {
        /// Fewest digits.
        min: u32,
        /// Most digits.
        max: u32,
        /// Key ending entry early (`#` unless set).
        terminator: Option<char>,
    },
    /// An integer or decimal.
    Number,
    /// An amount with an optional currency.
    Currency,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// A time of day (`HH:MM`).
    Time,
    /// Yes or no (a boolean).
    YesNo,
    /// 7–15 digits with an optional `+`.
    Phone,
}

impl SlotType {
    /// The YAML name of the type.
    pub fn keyword(&self) -> &'static str {
        match self {
            SlotType::Digits { .. } => "digits",
            SlotType::Number => "number",
            SlotType::Currency => "currency",
            SlotType::Date => "date",
            SlotType::Time => "time",
            SlotType::YesNo => "yes_no",
            SlotType::Phone => "phone",
        }
    }
}

/// `confirm:` — a yes/no question; outcomes `yes` and `no`.
#[derive(Clone, Debug)]
pub struct Confirm {
    /// The question.
    pub prompt: Prompt,
    /// Mode, timeout, retries, barge-in.
    pub input: InputOptions,
    /// Where the step is written.
    pub span: Span,
}

/// One `set:` assignment.
#[derive(Clone, Debug)]
pub struct Assignment {
    /// The variable set (`vars.x`; `slots.x` is allowed too).
    pub target: VarPath,
    /// The value; a template that is a single `{{ expr }}` keeps the expression's type.
    pub value: Template,
    /// Where the assignment is written.
    pub span: Span,
}

/// One `- if: … then: …` arm of a `branch`.
#[derive(Clone, Debug)]
pub struct BranchArm {
    /// The condition.
    pub condition: Expr,
    /// The condition as written.
    pub source: String,
    /// Where to go when it holds.
    pub then: Target,
    /// Where the condition is written.
    pub span: Span,
}

/// HTTP method of a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    /// POST the call context as JSON (default).
    #[default]
    Post,
    /// GET with no body.
    Get,
}

/// `webhook:` — call an HTTP endpoint and merge its JSON answer under `webhook.*`.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// The endpoint (http or https).
    pub url: String,
    /// Where the URL is written.
    pub url_span: Span,
    /// POST (default) or GET.
    pub method: Method,
    /// Per-attempt timeout (default 5 s).
    pub timeout: Duration,
    /// Extra attempts after a timeout or 5xx (default 0).
    pub retries: u32,
    /// Slots to send (`None`: all non-sensitive slots plus vars).
    pub send: Option<Vec<Named>>,
    /// Where to go on failure (`None`: escalate).
    pub on_error: Option<Target>,
    /// Where the step is written.
    pub span: Span,
}

/// `faq:` step — answer a question from the plan's FAQ; outcomes `answered`, `unanswered`.
#[derive(Clone, Debug)]
pub struct FaqStep {
    /// The question prompt.
    pub prompt: Option<Prompt>,
    /// Minimum match confidence (default `settings.intent_threshold`).
    pub threshold: Option<f64>,
    /// Asked after the answer ("Did that answer your question?").
    pub confirm: Option<Prompt>,
    /// Mode, timeout, retries, barge-in.
    pub input: InputOptions,
    /// Where the step is written.
    pub span: Span,
}

/// `enqueue:` — hand the caller to a call-center queue.
#[derive(Clone, Debug)]
pub struct Enqueue {
    /// Queue name.
    pub queue: Named,
    /// Priority (higher first; default 0).
    pub priority: i32,
    /// Skills an agent needs.
    pub skills: Vec<String>,
    /// Slots to put first in the handoff context.
    pub context: Vec<Named>,
    /// Where the step is written.
    pub span: Span,
}

/// `voicemail:` — record a message.
#[derive(Clone, Debug)]
pub struct Voicemail {
    /// Mailbox name.
    pub mailbox: String,
    /// Said before the tone.
    pub prompt: Option<Prompt>,
    /// Longest recording (default 120 s).
    pub max_length: Duration,
    /// Where the step is written.
    pub span: Span,
}

/// `play:` — a recorded prompt.
#[derive(Clone, Debug)]
pub struct Play {
    /// WAV file, relative to the plan file.
    pub file: String,
    /// Repeat until the next step starts.
    pub looped: bool,
    /// Where it is written.
    pub span: Span,
}

/// A spoken prompt: per-language variants, each with per-attempt texts.
#[derive(Clone, Debug)]
pub struct Prompt {
    /// The variants; a variant without a language is the plan's default language.
    pub variants: Vec<PromptVariant>,
    /// Where the prompt is written.
    pub span: Span,
}

impl Prompt {
    /// The variant for `language`, falling back to the default-language variant.
    pub fn variant(&self, language: &str, default_language: &str) -> Option<&PromptVariant> {
        let exact = self
            .variants
            .iter()
            .find(|v| v.language.as_deref() == Some(language));
        exact
            .or_else(|| {
                (language == default_language)
                    .then(|| self.variants.iter().find(|v| v.language.is_none()))
                    .flatten()
            })
            .or_else(|| {
                self.variants.iter().find(|v| {
                    v.language.is_none() || v.language.as_deref() == Some(default_language)
                })
            })
    }

    /// The template for the `attempt`-th try (0-based; the last one repeats).
    pub fn text(
        &self,
        language: &str,
        default_language: &str,
        attempt: usize,
    ) -> Option<&Template> {
        let v = self.variant(language, default_language)?;
        v.attempts.get(attempt).or_else(|| v.attempts.last())
    }

    /// Every template in every variant.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.variants.iter().flat_map(|v| v.attempts.iter())
    }

    /// Whether a variant exists for `language` (a language-less variant counts for the default).
    pub fn has_language(&self, language: &str, default_language: &str) -> bool {
        self.variants.iter().any(|v| match &v.language {
            Some(l) => l == language,
            None => language == default_language,
        })
    }
}

/// One language's version of a prompt.
#[derive(Clone, Debug)]
pub struct PromptVariant {
    /// BCP 47 tag, or `None` for the plan's default language.
    pub language: Option<String>,
    /// Texts per attempt (at least one; the last repeats).
    pub attempts: Vec<Template>,
    /// TTS voice.
    pub voice: Option<String>,
    /// Speaking rate in words per minute.
    pub rate: Option<u32>,
}

/// A dotted variable path: `slots.account`, `webhook.balance`, `caller.number`, `time`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarPath {
    segments: Vec<String>,
}

/// The first segment of a variable path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    /// `slots.*`: collected values.
    Slots,
    /// `vars.*`: values set by `set`.
    Vars,
    /// `webhook.*`: the last webhook's JSON answer.
    Webhook,
    /// `caller.number`, `caller.name`.
    Caller,
    /// `call.id`.
    Call,
    /// `intent.name`, `intent.confidence`, `intent.text`.
    Intent,
    /// `now.*` (time, date, weekday in the plan's zone).
    Now,
    /// `sentiment`: the last turn's sentiment score.
    Sentiment,
    /// `time`: `"HH:MM"` in the plan's zone.
    Time,
    /// `weekday`: `mon`…`sun`.
    Weekday,
    /// `date`: `"YYYY-MM-DD"`.
    Date,
    /// `language`: the call's language.
    Language,
    /// `retries`: failures so far at this node.
    Retries,
}

impl Root {
    /// All roots with their names.
    pub const ALL: [(&'static str, Root); 13] = [
        ("slots", Root::Slots),
        ("vars", Root::Vars),
        ("webhook", Root::Webhook),
        ("caller", Root::Caller),
        ("call", Root::Call),
        ("intent", Root::Intent),
        ("now", Root::Now),
        ("sentiment", Root::Sentiment),
        ("time", Root::Time),
        ("weekday", Root::Weekday),
        ("date", Root::Date),
        ("language", Root::Language),
        ("retries", Root::Retries),
    ];

    /// The root with this name.
    pub fn from_name(name: &str) -> Option<Root> {
        Root::ALL.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }
}

impl VarPath {
    /// A path from its segments (at least one).
    pub fn new(segments: Vec<String>) -> VarPath {
        VarPath { segments }
    }

    /// Parses `a.b.c` (segments of letters, digits, `_`, `-`; none empty).
    pub fn parse(text: &str) -> Option<VarPath> {
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        let ok = segments.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        });
        ok.then_some(VarPath { segments })
    }

    /// The segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The first segment as a known root, if it is one.
    pub fn root(&self) -> Option<Root> {
        self.segments.first().and_then(|s| Root::from_name(s))
    }

    /// The first segment.
    pub fn root_name(&self) -> &str {
        self.segments.first().map_or("", String::as_str)
    }

    /// The second segment (`account` in `slots.account`).
    pub fn key(&self) -> Option<&str> {
        self.segments.get(1).map(String::as_str)
    }

    /// Looks the rest of the path (after `skip` segments) up in a JSON value.
    pub fn lookup<'a>(&self, value: &'a Value, skip: usize) -> Option<&'a Value> {
        self.segments
            .iter()
            .skip(skip)
            .try_fold(value, |v, s| match v {
                Value::Object(m) => m.get(s),
                Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            })
    }
}

impl fmt::Display for VarPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone + fmt::Debug>() {}

    #[test]
    fn plan_is_send_sync_clone_debug() {
        assert_send_sync::<Plan>();
    }

    #[test]
    fn var_path_parses_dotted_names_and_rejects_empty_segments() {
        let p = VarPath::parse("webhook.balance.amount").unwrap();
        assert_eq!(p.root(), Some(Root::Webhook));
        assert_eq!(p.key(), Some("balance"));
        assert_eq!(p.to_string(), "webhook.balance.amount");
        assert!(VarPath::parse("a..b").is_none());
        assert!(VarPath::parse("").is_none());
        assert!(VarPath::parse("a b").is_none());
    }

    #[test]
    fn var_path_looks_up_nested_json() {
        let v = serde_json::json!({"balance": {"amount": 12}, "list": [1, 2]});
        let p = VarPath::parse("webhook.balance.amount").unwrap();
        assert_eq!(p.lookup(&v, 1), Some(&serde_json::json!(12)));
        let p = VarPath::parse("webhook.list.1").unwrap();
        assert_eq!(p.lookup(&v, 1), Some(&serde_json::json!(2)));
    }
}
