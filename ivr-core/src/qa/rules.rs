//! The rule file: a YAML document with a `rules:` list, read into typed [`Rule`]s with every
//! problem reported at once as `file:line:column: message`.
//!
//! ```yaml
//! rules:
//!   - id: greeting
//!     applies_to: { plan: bank }
//!     kind: required_phrase
//!     phrases: ["welcome to acme bank", "thank you for calling"]
//!     within: { first: 15s }
//!     weight: 2
//!     severity: major
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use sha2::{Digest, Sha256};

use super::result::Severity;

/// A loaded rule set.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
    fingerprint: String,
}

/// One quality rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique name, reported in findings.
    pub id: String,
    /// Which calls the rule is for.
    pub applies_to: AppliesTo,
    /// What it checks.
    pub kind: RuleKind,
    /// Its share of the score (0 or more; default 1).
    pub weight: f64,
    /// How serious breaking it is (default `minor`).
    pub severity: Severity,
    /// Line of the rule in its file.
    pub line: u32,
}

/// The calls a rule is for: every call, unless plans or queues are named (then the call must
/// match one of each list given).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliesTo {
    /// Dial plan names (the CDR's `dial_plan`); empty for any.
    pub plans: Vec<String>,
    /// Queue names (the CDR's `queue`); empty for any.
    pub queues: Vec<String>,
}

impl AppliesTo {
    /// True when a call of `plan` through `queue` is subject to the rule.
    pub fn matches(&self, plan: &str, queue: Option<&str>) -> bool {
        let plan_ok = self.plans.is_empty() || self.plans.iter().any(|p| p == plan);
        let queue_ok =
            self.queues.is_empty() || queue.is_some_and(|q| self.queues.iter().any(|x| x == q));
        plan_ok && queue_ok
    }
}

/// Whose speech a phrase rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The IVR or the agent (the business's side).
    Engine,
    /// The IVR's prompts and synthesized speech.
    Ivr,
    /// The agent.
    Agent,
    /// The caller.
    Caller,
    /// Anyone.
    Any,
}

impl Side {
    const NAMES: [(&'static str, Side); 5] = [
        ("engine", Side::Engine),
        ("ivr", Side::Ivr),
        ("agent", Side::Agent),
        ("caller", Side::Caller),
        ("any", Side::Any),
    ];

    /// True when a turn by `who` belongs to this side.
    pub fn includes(self, who: crate::store::Speaker) -> bool {
        use crate::store::Speaker;
        match self {
            Side::Engine => matches!(who, Speaker::Ivr | Speaker::Agent),
            Side::Ivr => who == Speaker::Ivr,
            Side::Agent => who == Speaker::Agent,
            Side::Caller => who == Speaker::Caller,
            Side::Any => true,
        }
    }

    /// The name used in rule files and messages.
    pub fn as_str(self) -> &'static str {
        Side::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("any", |(n, _)| n)
    }
}

/// Where in the call a required phrase must be said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Anywhere.
    Whole,
    /// In a turn starting within the first this many milliseconds after the answer.
    First(u64),
    /// In a turn starting within the last this many milliseconds before the end.
    Last(u64),
    /// In the side's first this many turns.
    FirstTurns(u32),
    /// In the side's last this many turns.
    LastTurns(u32),
}

/// What a rule checks, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    /// One of `phrases` must be said by `speaker` within `window`.
    RequiredPhrase {
        /// Accepted phrasings (matched without case or punctuation, on word boundaries).
        phrases: Vec<String>,
        /// Who must say it (default `engine`).
        speaker: Side,
        /// Where (default the whole call).
        window: Window,
    },
    /// None of `phrases` may be said by `speaker`.
    ForbiddenPhrase {
        /// The phrases.
        phrases: Vec<String>,
        /// Whose speech is checked (default `any`).
        speaker: Side,
    },
    /// No gap between turns may be longer than `max_ms` (time on hold or waiting in a queue
    /// does not count).
    MaxSilence {
        /// Longest allowed gap.
        max_ms: u64,
    },
    /// The caller may be on hold for at most `max_ms` in total.
    MaxHold {
        /// Most time on hold.
        max_ms: u64,
    },
    /// `speaker` may talk over the caller for at most `max_ratio` of the speech time.
    TalkOver {
        /// Largest share of the speech time with both talking, 0 to 1.
        max_ratio: f64,
        /// Who must not talk over the caller (default `engine`).
        speaker: Side,
    },
    /// The caller's last measured sentiment must not be below `below`.
    NegativeSentimentAtEnd {
        /// Threshold, from -1 (angry) to 1 (happy).
        below: f64,
    },
    /// No dial-plan node may be visited more than `max_visits` times.
    IvrLoop {
        /// Most visits per node.
        max_visits: u32,
    },
    /// At most `max` no-match events (unrecognised answers); with `count_no_input`, silences
    /// count too.
    NoMatchCount {
        /// Most no-matches.
        max: u32,
        /// Whether `no_input` events count.
        count_no_input: bool,
    },
}

impl RuleKind {
    /// Every kind's name, as written in rule files.
    pub const NAMES: [&'static str; 8] = [
        "required_phrase",
        "forbidden_phrase",
        "max_silence",
        "max_hold",
        "talk_over",
        "negative_sentiment_at_end",
        "ivr_loop",
        "no_match_count",
    ];

    /// The kind's name.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::RequiredPhrase { .. } => "required_phrase",
            RuleKind::ForbiddenPhrase { .. } => "forbidden_phrase",
            RuleKind::MaxSilence { .. } => "max_silence",
            RuleKind::MaxHold { .. } => "max_hold",
            RuleKind::TalkOver { .. } => "talk_over",
            RuleKind::NegativeSentimentAtEnd { .. } => "negative_sentiment_at_end",
            RuleKind::IvrLoop { .. } => "ivr_loop",
            RuleKind::NoMatchCount { .. } => "no_match_count",
        }
    }
}

/// A problem in a rule file, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file (as given to the loader).
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found in a rule file, one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Why a rule file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("cannot read the QA rule file {path}: {source}; check the --rules path")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file has problems (all listed).
    #[error("the QA rule file has {} problem(s):\n{problems}", problems.0.len())]
    Invalid {
        /// Each problem with its position.
        problems: Problems,
    },
}

impl Rules {
    /// Reads and checks the rule file at `path`.
    pub fn load(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Rules::parse(&path.display().to_string(), &text)
    }

    /// Checks a rule file's text; `file` names it in problems.
    pub fn parse(file: &str, text: &str) -> Result<Rules, RulesError> {
        let mut cx = Cx {
            file: file.to_string(),
            problems: Vec::new(),
        };
        let rules = match parse_yaml(text) {
            Ok(root) => cx.rules(&root),
            Err((line, column, message)) => {
                cx.problem_at(line, column, format!("YAML syntax error: {message}; check indentation, quotes and `:` after keys"));
                Vec::new()
            }
        };
        if !cx.problems.is_empty() {
            return Err(RulesError::Invalid {
                problems: Problems(cx.problems),
            });
        }
        let digest = Sha256::digest(text.as_bytes());
        let fingerprint = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Ok(Rules { rules, fingerprint })
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// 16 hex digits identifying the rule file's content: results scored with different rule
    /// files have different fingerprints.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

// ---- a YAML tree with positions ----

/// A YAML node with its line and column (from 1).
#[derive(Clone, Debug)]
struct Node {
    line: u32,
    column: u32,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn describe(&self) -> &'static str {
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

    fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }
}

fn parse_yaml(text: &str) -> Result<Node, (u32, u32, String)> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        (m.line() as u32, m.col() as u32 + 1, e.info().to_string())
    })?;
    Ok(match docs.into_iter().next() {
        Some(doc) => convert(doc),
        None => Node {
            line: 1,
            column: 1,
            kind: Kind::Null,
        },
    })
}

fn convert(node: MarkedYaml<'_>) -> Node {
    let m = node.span.start;
    let (line, column) = (m.line().max(1) as u32, m.col() as u32 + 1);
    let kind = match node.data {
        YamlData::Value(s) => match s {
            Scalar::Null => Kind::Null,
            Scalar::Boolean(b) => Kind::Bool(b),
            Scalar::Integer(i) => Kind::Int(i),
            Scalar::FloatingPoint(f) => Kind::Float(f.into_inner()),
            Scalar::String(s) => Kind::Str(s.into_owned()),
        },
        YamlData::Representation(s, _, _) => Kind::Str(s.into_owned()),
        YamlData::Sequence(items) => Kind::Seq(items.into_iter().map(convert).collect()),
        YamlData::Mapping(map) => Kind::Map(
            map.into_iter()
                .map(|(k, v)| (convert(k), convert(v)))
                .collect(),
        ),
        YamlData::Tagged(_, inner) => return convert(*inner),
        YamlData::Alias(_) | YamlData::BadValue => Kind::Null,
    };
    Node { line, column, kind }
}

// ---- reading rules ----

struct Cx {
    file: String,
    problems: Vec<Problem>,
}

/// The keys every rule may have, whatever its kind.
const COMMON_KEYS: [&str; 5] = ["id", "applies_to", "kind", "weight", "severity"];

impl Cx {
    fn problem_at(&mut self, line: u32, column: u32, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }

    fn problem(&mut self, at: &Node, message: impl Into<String>) {
        self.problem_at(at.line, at.column, message);
    }

    /// The entries of a mapping, keys as text; a problem if `node` is not a mapping.
    fn map<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
    ) -> Option<Vec<(&'a str, &'a Node, &'a Node)>> {
        let Kind::Map(entries) = &node.kind else {
            self.problem(
                node,
                format!("{what} must be a mapping, not {}", node.describe()),
            );
            return None;
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match k.text() {
                Some(name) => out.push((name, k, v)),
                None => self.problem(k, format!("keys of {what} must be text")),
            }
        }
        Some(out)
    }

    fn rules(&mut self, root: &Node) -> Vec<Rule> {
        if matches!(root.kind, Kind::Null) {
            self.problem(
                root,
                "the file is empty: write `rules:` followed by a list of rules",
            );
            return Vec::new();
        }
        let Some(top) = self.map(root, "the rule file") else {
            return Vec::new();
        };
        let mut list = None;
        for (name, key, value) in top {
            if name == "rules" {
                list = Some(value);
            } else {
                self.problem(
                    key,
                    format!(
                        "unknown key `{name}` at the top of the rule file: only `rules` is allowed"
                    ),
                );
            }
        }
        let Some(list) = list else {
            self.problem(root, "missing `rules:`: the file must hold a `rules:` list");
            return Vec::new();
        };
        let items: &[Node] = match &list.kind {
            Kind::Seq(items) => items,
            Kind::Null => &[],
            _ => {
                self.problem(
                    list,
                    format!("`rules` must be a list, not {}", list.describe()),
                );
                return Vec::new();
            }
        };
        let mut rules: Vec<Rule> = Vec::new();
        for item in items {
            if let Some(rule) = self.rule(item) {
                if rules.iter().any(|r| r.id == rule.id) {
                    self.problem(
                        item,
                        format!(
                            "rule id `{}` is used twice: give each rule its own id",
                            rule.id
                        ),
                    );
                } else {
                    rules.push(rule);
                }
            }
        }
        rules
    }

    fn rule(&mut self, node: &Node) -> Option<Rule> {
        let entries = self.map(node, "a rule")?;
        let field = |key: &str| {
            entries
                .iter()
                .find(|(n, _, _)| *n == key)
                .map(|(_, _, v)| *v)
        };
        let before = self.problems.len();

        let id = match field("id") {
            Some(v) => self.name(v, "`id`"),
            None => {
                self.problem(
                    node,
                    "a rule needs an `id` (a short name such as `greeting`)",
                );
                None
            }
        };
        let kind_name = match field("kind") {
            Some(v) => {
                let name = self.string(v, "`kind`");
                match name {
                    Some(n) if RuleKind::NAMES.contains(&n.as_str()) => Some(n),
                    Some(n) => {
                        self.problem(
                            v,
                            format!(
                                "unknown rule kind `{n}`: use one of {}",
                                RuleKind::NAMES.join(", ")
                            ),
                        );
                        None
                    }
                    None => None,
                }
            }
            None => {
                self.problem(
                    node,
                    format!(
                        "a rule needs a `kind`: one of {}",
                        RuleKind::NAMES.join(", ")
                    ),
                );
                None
            }
        };
        let weight = match field("weight") {
            Some(v) => self.number(v, "`weight`", 0.0, 1_000_000.0).unwrap_or(1.0),
            None => 1.0,
        };
        let severity = match field("severity") {
            Some(v) => match self.string(v, "`severity`") {
                Some(s) => Severity::parse(&s).unwrap_or_else(|| {
                    self.problem(
                        v,
                        format!("unknown severity `{s}`: use info, minor, major or critical"),
                    );
                    Severity::Minor
                }),
                None => Severity::Minor,
            },
            None => Severity::Minor,
        };
        let applies_to = match field("applies_to") {
            Some(v) => self.applies_to(v),
            None => AppliesTo::default(),
        };

        let kind = kind_name.and_then(|k| self.kind(&k, node, &entries));
        if self.problems.len() > before {
            return None;
        }
        Some(Rule {
            id: id?,
            applies_to,
            kind: kind?,
            weight,
            severity,
            line: node.line,
        })
    }

    fn applies_to(&mut self, node: &Node) -> AppliesTo {
        let mut out = AppliesTo::default();
        let Some(entries) = self.map(node, "`applies_to`") else {
            return out;
        };
        for (name, key, value) in entries {
            match name {
                "plan" => out.plans = self.strings(value, "`applies_to.plan`"),
                "queue" => out.queues = self.strings(value, "`applies_to.queue`"),
                _ => self.problem(
                    key,
                    format!("unknown key `{name}` in `applies_to`: use `plan` and/or `queue`"),
                ),
            }
        }
        out
    }

    fn kind(
        &mut self,
        kind: &str,
        rule: &Node,
        entries: &[(&str, &Node, &Node)],
    ) -> Option<RuleKind> {
        let allowed: &[&str] = match kind {
            "required_phrase" => &["phrases", "speaker", "within"],
            "forbidden_phrase" => &["phrases", "speaker"],
            "max_silence" | "max_hold" => &["max"],
            "talk_over" => &["max_ratio", "speaker"],
            "negative_sentiment_at_end" => &["below"],
            "ivr_loop" => &["max_visits"],
            "no_match_count" => &["max", "count_no_input"],
            _ => &[],
        };
        for (name, key, _) in entries {
            if !COMMON_KEYS.contains(name) && !allowed.contains(name) {
                let hint = if allowed.is_empty() {
                    "it takes no parameters".to_string()
                } else {
                    format!("it takes {}", allowed.join(", "))
                };
                self.problem(key, format!("unknown key `{name}` for kind {kind}: {hint}"));
            }
        }
        let field = |key: &str| {
            entries
                .iter()
                .find(|(n, _, _)| *n == key)
                .map(|(_, _, v)| *v)
        };
        let required = |cx: &mut Cx, key: &str, example: &str| {
            let v = field(key);
            if v.is_none() {
                cx.problem(
                    rule,
                    format!("a {kind} rule needs `{key}` (for example `{key}: {example}`)"),
                );
            }
            v
        };
        let speaker = |cx: &mut Cx, default: Side| match field("speaker") {
            Some(v) => cx.side(v).unwrap_or(default),
            None => default,
        };
        Some(match kind {
            "required_phrase" => {
                let phrases = required(self, "phrases", "[\"thank you for calling\"]");
                let speaker = speaker(self, Side::Engine);
                let window = match field("within") {
                    Some(v) => self.window(v),
                    None => Some(Window::Whole),
                };
                RuleKind::RequiredPhrase {
                    phrases: self.phrases(phrases?)?,
                    speaker,
                    window: window?,
                }
            }
            "forbidden_phrase" => {
                let phrases = required(self, "phrases", "[\"calm down\"]");
                let speaker = speaker(self, Side::Any);
                RuleKind::ForbiddenPhrase {
                    phrases: self.phrases(phrases?)?,
                    speaker,
                }
            }
            "max_silence" => {
                let max = required(self, "max", "10s")?;
                RuleKind::MaxSilence {
                    max_ms: self.duration(max)?,
                }
            }
            "max_hold" => {
                let max = required(self, "max", "2m")?;
                RuleKind::MaxHold {
                    max_ms: self.duration(max)?,
                }
            }
            "talk_over" => {
                let max = required(self, "max_ratio", "0.1");
                let speaker = speaker(self, Side::Engine);
                RuleKind::TalkOver {
                    max_ratio: self.number(max?, "`max_ratio`", 0.0, 1.0)?,
                    speaker,
                }
            }
            "negative_sentiment_at_end" => {
                let below = required(self, "below", "-0.3")?;
                RuleKind::NegativeSentimentAtEnd {
                    below: self.number(below, "`below`", -1.0, 1.0)?,
                }
            }
            "ivr_loop" => {
                let max = required(self, "max_visits", "3")?;
                RuleKind::IvrLoop {
                    max_visits: self.count(max, "`max_visits`")?,
                }
            }
            "no_match_count" => {
                let max = required(self, "max", "2");
                let count_no_input = match field("count_no_input") {
                    Some(v) => self.bool(v, "`count_no_input`"),
                    None => Some(false),
                };
                RuleKind::NoMatchCount {
                    max: self.count(max?, "`max`")?,
                    count_no_input: count_no_input?,
                }
            }
            _ => return None,
        })
    }

    fn window(&mut self, node: &Node) -> Option<Window> {
        let entries = self.map(node, "`within`")?;
        let [(name, key, value)] = entries.as_slice() else {
            self.problem(node, "`within` takes exactly one of first, last, first_turns, last_turns (for example `within: { first: 15s }`)");
            return None;
        };
        Some(match *name {
            "first" => Window::First(self.duration(value)?),
            "last" => Window::Last(self.duration(value)?),
            "first_turns" => Window::FirstTurns(self.count(value, "`within.first_turns`")?),
            "last_turns" => Window::LastTurns(self.count(value, "`within.last_turns`")?),
            other => {
                self.problem(key, format!("unknown window `{other}` in `within`: use first, last, first_turns or last_turns"));
                return None;
            }
        })
    }

    fn side(&mut self, node: &Node) -> Option<Side> {
        let s = self.string(node, "`speaker`")?;
        let found = Side::NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, side)| *side);
        if found.is_none() {
            self.problem(
                node,
                format!(
                    "unknown speaker `{s}`: use engine (IVR or agent), ivr, agent, caller or any"
                ),
            );
        }
        found
    }

    fn phrases(&mut self, node: &Node) -> Option<Vec<String>> {
        let phrases = self.strings(node, "`phrases`");
        if phrases.is_empty() {
            self.problem(node, "`phrases` needs at least one phrase");
            return None;
        }
        if phrases.iter().any(|p| super::text::normalize(p).is_empty()) {
            self.problem(node, "a phrase has no letters or digits: remove it");
            return None;
        }
        Some(phrases)
    }

    fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            self.problem(
                node,
                format!("{what} `{s}` must be letters, digits, `_`, `-` or `.`"),
            );
            return None;
        }
        Some(s)
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            _ => {
                self.problem(
                    node,
                    format!("{what} must be text, not {}", node.describe()),
                );
                None
            }
        }
    }

    /// A text or a list of texts.
    fn strings(&mut self, node: &Node, what: &str) -> Vec<String> {
        match &node.kind {
            Kind::Seq(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            _ => self.string(node, what).into_iter().collect(),
        }
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.problem(
                    node,
                    format!("{what} must be true or false, not {}", node.describe()),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, what: &str, min: f64, max: f64) -> Option<f64> {
        let n = match node.kind {
            Kind::Int(i) => i as f64,
            Kind::Float(f) => f,
            _ => {
                self.problem(
                    node,
                    format!("{what} must be a number, not {}", node.describe()),
                );
                return None;
            }
        };
        if !(n.is_finite() && (min..=max).contains(&n)) {
            self.problem(
                node,
                format!("{what} is {n}: it must be between {min} and {max}"),
            );
            return None;
        }
        Some(n)
    }

    fn count(&mut self, node: &Node, what: &str) -> Option<u32> {
        match node.kind {
            Kind::Int(i) if (0..=i64::from(u32::MAX)).contains(&i) => u32::try_from(i).ok(),
            _ => {
                self.problem(
                    node,
                    format!(
                        "{what} must be a whole number of 0 or more, not {}",
                        node.describe()
                    ),
                );
                None
            }
        }
    }

    /// `500ms`, `15s`, `2m`, `1h`, or a bare number of seconds.
    fn duration(&mut self, node: &Node) -> Option<u64> {
        let ms = match &node.kind {
            Kind::Int(i) if *i >= 0 => u64::try_from(*i).ok().map(|s| s.saturating_mul(1000)),
            Kind::Float(f) if *f >= 0.0 && f.is_finite() => Some((f * 1000.0).round() as u64),
            Kind::Str(s) => parse_duration_ms(s),
            _ => None,
        };
        if ms.is_none() {
            self.problem(node, "a duration must look like 500ms, 15s, 2m or 1h");
        }
        ms
    }
}

/// Milliseconds of `500ms`, `1.5s`, `2m`, `1h`.
pub(crate) fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n * 1000.0,
        "m" | "min" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return None,
    };
    (ms.is_finite() && (0.0..=86_400_000.0 * 366.0).contains(&ms)).then(|| ms.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
rules:
  - id: greeting
    applies_to: { plan: bank, queue: [cards, loans] }
    kind: required_phrase
    phrases: ["welcome to acme bank", "thank you for calling"]
    within: { first: 15s }
    weight: 2
    severity: major
  - id: rude
    kind: forbidden_phrase
    phrases: calm down
    speaker: agent
    severity: critical
  - id: dead_air
    kind: max_silence
    max: 10s
  - id: hold
    kind: max_hold
    max: 2m
  - id: overlap
    kind: talk_over
    max_ratio: 0.15
  - id: unhappy
    kind: negative_sentiment_at_end
    below: -0.3
  - id: loop
    kind: ivr_loop
    max_visits: 3
  - id: not_understood
    kind: no_match_count
    max: 2
    count_no_input: true
"#;

    #[test]
    fn a_rule_file_with_every_kind_loads_with_defaults_filled_in() {
        let rules = Rules::parse("qa.yaml", GOOD).unwrap();
        let r = rules.rules();
        assert_eq!(r.len(), 8);
        assert_eq!(r[0].id, "greeting");
        assert_eq!(r[0].line, 3);
        assert_eq!(r[0].weight, 2.0);
        assert_eq!(r[0].severity, Severity::Major);
        assert_eq!(
            r[0].applies_to,
            AppliesTo {
                plans: vec!["bank".into()],
                queues: vec!["cards".into(), "loans".into()],
            }
        );
        assert_eq!(
            r[0].kind,
            RuleKind::RequiredPhrase {
                phrases: vec![
                    "welcome to acme bank".into(),
                    "thank you for calling".into()
                ],
                speaker: Side::Engine,
                window: Window::First(15_000),
            }
        );
        assert_eq!(
            r[1].kind,
            RuleKind::ForbiddenPhrase {
                phrases: vec!["calm down".into()],
                speaker: Side::Agent,
            }
        );
        assert_eq!(r[1].weight, 1.0);
        assert_eq!(r[2].kind, RuleKind::MaxSilence { max_ms: 10_000 });
        assert_eq!(r[2].severity, Severity::Minor);
        assert_eq!(r[3].kind, RuleKind::MaxHold { max_ms: 120_000 });
        assert_eq!(
            r[7].kind,
            RuleKind::NoMatchCount {
                max: 2,
                count_no_input: true
            }
        );
        assert_eq!(rules.fingerprint().len(), 16);
    }

    #[test]
    fn the_fingerprint_follows_the_content() {
        let a = Rules::parse("a.yaml", GOOD).unwrap();
        let b = Rules::parse("b.yaml", GOOD).unwrap();
        let c = Rules::parse("a.yaml", &GOOD.replace("max: 10s", "max: 12s")).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    fn problems(text: &str) -> Vec<String> {
        match Rules::parse("qa.yaml", text) {
            Err(RulesError::Invalid { problems }) => {
                problems.0.iter().map(ToString::to_string).collect()
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_reported_with_file_line_and_column() {
        let got = problems(
            r#"rules:
  - id: a
    kind: max_silence
    max: soon
  - id: b
    kind: shouting
  - id: a
    kind: ivr_loop
    max_visits: 3
    nodes: [main]
  - kind: max_hold
    max: 1m
  - id: c
    kind: talk_over
    max_ratio: 2
    severity: fatal
"#,
        );
        assert_eq!(
            got,
            [
                "qa.yaml:4:10: a duration must look like 500ms, 15s, 2m or 1h",
                "qa.yaml:6:11: unknown rule kind `shouting`: use one of required_phrase, \
                 forbidden_phrase, max_silence, max_hold, talk_over, negative_sentiment_at_end, \
                 ivr_loop, no_match_count",
                "qa.yaml:10:5: unknown key `nodes` for kind ivr_loop: it takes max_visits",
                "qa.yaml:11:5: a rule needs an `id` (a short name such as `greeting`)",
                "qa.yaml:16:15: unknown severity `fatal`: use info, minor, major or critical",
                "qa.yaml:15:16: `max_ratio` is 2: it must be between 0 and 1",
            ],
            "{got:#?}"
        );
    }

    #[test]
    fn a_duplicate_id_and_a_missing_parameter_are_named() {
        let got = problems(
            "rules:\n  - id: a\n    kind: no_match_count\n    max: 1\n  - id: a\n    kind: no_match_count\n    max: 1\n  - id: b\n    kind: required_phrase\n",
        );
        assert_eq!(
            got,
            [
                "qa.yaml:5:5: rule id `a` is used twice: give each rule its own id",
                "qa.yaml:8:5: a required_phrase rule needs `phrases` (for example \
                 `phrases: [\"thank you for calling\"]`)",
            ]
        );
    }

    #[test]
    fn broken_yaml_and_a_wrong_shape_are_reported_not_panicked() {
        let got = problems("rules:\n  - id: a\n    kind: [unclosed\n");
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("qa.yaml:"), "{got:?}");
        assert!(got[0].contains("YAML syntax error"), "{got:?}");
        assert_eq!(
            problems("- id: a\n"),
            ["qa.yaml:1:1: the rule file must be a mapping, not a list"]
        );
        assert_eq!(
            problems(""),
            ["qa.yaml:1:1: the file is empty: write `rules:` followed by a list of rules"]
        );
        assert_eq!(
            problems("rules:\n  - id: a\n    kind: required_phrase\n    phrases: []\n"),
            ["qa.yaml:4:14: `phrases` needs at least one phrase"]
        );
        assert_eq!(
            problems("rules:\n  - id: a\n    kind: required_phrase\n    phrases: [hi]\n    within: { first: 5s, last: 5s }\n"),
            ["qa.yaml:5:13: `within` takes exactly one of first, last, first_turns, last_turns \
              (for example `within: { first: 15s }`)"]
        );
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = Rules::load(Path::new("/nonexistent/qa.yaml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/qa.yaml"), "{err}");
    }

    #[test]
    fn applies_to_needs_a_match_in_each_list_given() {
        let a = AppliesTo {
            plans: vec!["bank".into()],
            queues: vec![],
        };
        assert!(a.matches("bank", None));
        assert!(!a.matches("clinic", None));
        let b = AppliesTo {
            plans: vec![],
            queues: vec!["cards".into()],
        };
        assert!(b.matches("bank", Some("cards")));
        assert!(!b.matches("bank", None));
        assert!(AppliesTo::default().matches("x", None));
    }

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("1.5s"), Some(1500));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("5"), None);
        assert_eq!(parse_duration_ms("5 parsecs"), None);
    }
}
