//! Loading plans: YAML text → [`Plan`], with every problem reported at once and positioned.
//!
//! Files are read only through a [`SourceProvider`]: [`FsProvider`] reads the file system,
//! [`MemoryProvider`] serves files from memory (tests, plans stored elsewhere).
//!
//! Node references are resolved while loading. Inside a flow, a bare name means the flow's own
//! node when it has one, else a top-level node; `flow.node` names a node of any flow.

mod node;
mod reader;
pub(crate) mod yaml;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::calendar::{self, Calendar};
use crate::diagnostics::{did_you_mean, Diagnostics};
use crate::model::*;
use reader::{is_language_tag, is_simple_name, Cx, Fields};
use yaml::{Kind, Y};

/// Where plan files come from: the only I/O of the crate.
pub trait SourceProvider {
    /// Reads a whole file as UTF-8 text.
    fn read(&self, path: &Path) -> Result<String, io::Error>;
}

/// Reads plan files from the file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsProvider;

impl SourceProvider for FsProvider {
    fn read(&self, path: &Path) -> Result<String, io::Error> {
        std::fs::read_to_string(path)
    }
}

/// Serves plan files from memory, by path.
#[derive(Clone, Debug, Default)]
pub struct MemoryProvider {
    files: HashMap<PathBuf, String>,
}

impl MemoryProvider {
    /// No files.
    pub fn new() -> MemoryProvider {
        MemoryProvider::default()
    }

    /// Adds a file (builder style).
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> MemoryProvider {
        self.insert(path, text);
        self
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) {
        self.files.insert(normalize(&path.into()), text.into());
    }
}

impl SourceProvider for MemoryProvider {
    fn read(&self, path: &Path) -> Result<String, io::Error> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
}

/// Removes `.` and folds `..` lexically, so `a/./b/../c` and `a/c` are the same file.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Loads a plan file and its includes. The plan is returned only when there is no error; every
/// problem found is in the `Err`.
pub fn load(path: &Path, provider: &dyn SourceProvider) -> Result<Plan, Diagnostics> {
    match load_partial(path, provider) {
        (Some(plan), diags) if !diags.has_errors() => Ok(plan),
        (_, mut diags) => {
            diags.sort();
            Err(diags)
        }
    }
}

/// Loads a plan from text; `name` is the file name used in positions. Includes are resolved
/// against an empty provider, so a plan with `include:` must be loaded with [`load`].
pub fn load_str(name: &str, text: &str) -> Result<Plan, Diagnostics> {
    load(Path::new(name), &MemoryProvider::new().with(name, text))
}

/// Loads as far as possible: the plan (targets that did not resolve hold
/// [`NodeId::UNRESOLVED`]) when the file could be read and parsed, and every problem found.
pub(crate) fn load_partial(
    path: &Path,
    provider: &dyn SourceProvider,
) -> (Option<Plan>, Diagnostics) {
    let mut b = Builder {
        cx: Cx::default(),
        provider,
        nodes: Vec::new(),
        node_spans: HashMap::new(),
        intents: Vec::new(),
        calendars: Vec::new(),
        faq: Vec::new(),
        flows: Vec::new(),
        files: Vec::new(),
        visiting: Vec::new(),
    };
    let file: Arc<str> = path.display().to_string().into();
    let plan = match provider.read(path) {
        Err(e) => {
            b.cx.error_hint(
                &Span::new(file, 0, 0),
                format!("cannot read the plan: {e}"),
                "check the path",
            );
            None
        }
        Ok(text) => match yaml::parse(&file, &text) {
            Err(d) => {
                b.cx.diags.push(d);
                None
            }
            Ok(root) => {
                b.files.push(path.to_path_buf());
                b.visiting.push(normalize(path));
                b.plan(&root, path)
            }
        },
    };
    (plan, b.cx.diags)
}

const TOP_KEYS: [&str; 14] = [
    "version",
    "name",
    "language",
    "languages",
    "numbers",
    "settings",
    "calendars",
    "intents",
    "faq",
    "include",
    "flows",
    "start",
    "nodes",
    "on",
];

const INCLUDE_KEYS: [&str; 6] = ["intents", "nodes", "flows", "calendars", "faq", "include"];

const SETTINGS_KEYS: [&str; 11] = [
    "no_input",
    "max_retries",
    "barge_in",
    "escalate_to",
    "intent_threshold",
    "confirm_threshold",
    "negative_sentiment",
    "timezone",
    "voice",
    "rate",
    "amd",
];

struct Builder<'p> {
    cx: Cx,
    provider: &'p dyn SourceProvider,
    nodes: Vec<Node>,
    node_spans: HashMap<String, Span>,
    intents: Vec<Intent>,
    calendars: Vec<Calendar>,
    faq: Vec<FaqEntry>,
    flows: Vec<Flow>,
    files: Vec<PathBuf>,
    visiting: Vec<PathBuf>,
}

impl Builder<'_> {
    fn plan(&mut self, root: &Y, path: &Path) -> Option<Plan> {
        let top_span = Span::new(root.span.file.clone(), 1, 1);
        if let Kind::Null = root.kind {
            self.cx.error_hint(
                &top_span,
                "the plan is empty",
                "a plan needs `version`, `name`, `language`, `start` and `nodes`",
            );
            return None;
        }
        let f = self.cx.fields(root, "the plan", &TOP_KEYS)?;
        let cx = &mut self.cx;
        let version = cx
            .required(&f, "version", "the plan")
            .and_then(|y| cx.u32(y, "`version`", u32::MAX));
        if let (Some(v), Some(y)) = (version, f.get("version")) {
            if v != 1 {
                cx.error_hint(
                    &y.span,
                    format!("unsupported version {v}"),
                    "this engine reads `version: 1`",
                );
            }
        }
        let name = cx.required(&f, "name", "the plan").and_then(|y| {
            let n = cx.string(y, "`name`")?;
            if !is_simple_name(&n) {
                cx.error_hint(
                    &y.span,
                    format!(
                        "plan name `{n}` has characters other than letters, digits, `-` and `_`"
                    ),
                    "rename the plan, like `acme-bank`",
                );
            }
            Some(n)
        });
        let language = cx
            .required(&f, "language", "the plan")
            .and_then(|y| language_tag(cx, y));
        let mut languages: Vec<String> = f
            .get("languages")
            .map(|y| {
                cx.list(y)
                    .into_iter()
                    .filter_map(|l| language_tag(cx, l))
                    .collect()
            })
            .unwrap_or_default();
        if let (Some(lang), Some(y)) = (&language, f.get("languages")) {
            if !languages.contains(lang) {
                cx.error_hint(
                    &y.span,
                    format!("`languages` does not include the plan's `language` {lang}"),
                    format!("add {lang} to `languages`"),
                );
            }
        }
        if let Some(lang) = &language {
            if languages.is_empty() {
                languages.push(lang.clone());
            }
        }
        let numbers = f
            .get("numbers")
            .map(|y| cx.strings(y, "dialed number"))
            .unwrap_or_default();
        let settings = f
            .get("settings")
            .map(|y| settings(cx, y))
            .unwrap_or_default();
        let start = cx
            .required(&f, "start", "the plan")
            .and_then(|y| node::target(cx, y, "`start`"));
        let global_on = f
            .get("on")
            .map(|y| node::on_entries(cx, y))
            .unwrap_or_default();
        if f.get("nodes").is_none() {
            self.cx.error_hint(
                &top_span,
                "the plan is missing `nodes`",
                "add `nodes:` with at least the `start` node",
            );
        }
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        self.parts(&f, &dir);

        let mut plan = Plan {
            name: name?,
            version: version?,
            language: language?,
            languages,
            numbers,
            settings,
            calendars: std::mem::take(&mut self.calendars),
            intents: std::mem::take(&mut self.intents),
            faq: std::mem::take(&mut self.faq),
            flows: std::mem::take(&mut self.flows),
            start: start?,
            nodes: std::mem::take(&mut self.nodes),
            global_on,
            files: std::mem::take(&mut self.files),
            span: top_span,
            node_index: HashMap::new(),
            intent_index: HashMap::new(),
        };
        plan.rebuild_indexes();
        self.resolve(&mut plan);
        Some(plan)
    }

    /// Reads the mergeable sections (`intents`, `nodes`, `flows`, `calendars`, `faq`) and follows
    /// `include`.
    fn parts(&mut self, f: &Fields<'_>, dir: &Path) {
        if let Some(y) = f.get("intents") {
            self.intents_of(y);
        }
        if let Some(y) = f.get("calendars") {
            self.calendars_of(y);
        }
        if let Some(y) = f.get("faq") {
            self.faq_of(y, dir);
        }
        if let Some(y) = f.get("nodes") {
            self.nodes_of(y, None);
        }
        if let Some(y) = f.get("flows") {
            self.flows_of(y);
        }
        if let Some(y) = f.get("include") {
            for item in self.cx.list(y) {
                self.include(item, dir);
            }
        }
    }

    /// Reads and parses another file named at `item` (relative to `dir`).
    fn read_file(&mut self, item: &Y, dir: &Path, what: &str) -> Option<(Y, PathBuf)> {
        let rel = self.cx.string(item, what)?;
        let path = normalize(&dir.join(&rel));
        if self.visiting.contains(&path) {
            self.cx.error_hint(
                &item.span,
                format!("`{rel}` includes itself (through {})", self.visiting.len()),
                "remove the circular include",
            );
            return None;
        }
        let text = match self.provider.read(&path) {
            Ok(t) => t,
            Err(e) => {
                self.cx.error_hint(
                    &item.text_span(),
                    format!("cannot read `{}`: {e}", path.display()),
                    "paths are relative to the file that names them",
                );
                return None;
            }
        };
        let file: Arc<str> = path.display().to_string().into();
        match yaml::parse(&file, &text) {
            Ok(y) => {
                self.files.push(path.clone());
                Some((y, path))
            }
            Err(d) => {
                self.cx.diags.push(d);
                None
            }
        }
    }

    fn include(&mut self, item: &Y, dir: &Path) {
        let Some((y, path)) = self.read_file(item, dir, "include path") else {
            return;
        };
        if let Kind::Null = y.kind {
            return;
        }
        let Some(f) = self.cx.fields(&y, "an included file", &INCLUDE_KEYS) else {
            return;
        };
        self.visiting.push(path.clone());
        let sub = path.parent().unwrap_or(Path::new("")).to_path_buf();
        self.parts(&f, &sub);
        self.visiting.pop();
    }

    fn intents_of(&mut self, y: &Y) {
        let Some(entries) = self.cx.map(
            y,
            "`intents`",
            "intents: { balance: { examples: [\"check my balance\"] } }",
        ) else {
            return;
        };
        for (k, v) in entries {
            if let Some(prev) = self.intents.iter().find(|i| i.name == k.name) {
                let first = prev.span.clone();
                self.cx.error_hint(
                    &k.span,
                    format!("intent `{}` is declared twice", k.name),
                    format!("first declared at {first}"),
                );
                continue;
            }
            let mut intent = Intent {
                name: k.name.clone(),
                span: k.span.clone(),
                examples: Vec::new(),
                synonyms: Vec::new(),
                dtmf: None,
                global: false,
            };
            if !is_simple_name(&k.name) {
                self.cx.error_hint(
                    &k.span,
                    format!(
                        "intent name `{}` has characters other than letters, digits, `-` and `_`",
                        k.name
                    ),
                    "rename the intent",
                );
            }
            let what = format!("intent `{}`", k.name);
            if let Some(f) = self
                .cx
                .fields(v, &what, &["examples", "synonyms", "dtmf", "global"])
            {
                let cx = &mut self.cx;
                if let Some(ex) = f.get("examples") {
                    match &ex.kind {
                        Kind::Map(langs) => {
                            for (lk, lv) in langs {
                                if !is_language_tag(&lk.name) {
                                    cx.error_hint(&lk.span, format!("`{}` is not a language tag", lk.name), "use tags like `en-US` or `zh-CN`, or a plain list of examples");
                                    continue;
                                }
                                let phrases = cx.strings(lv, "example");
                                intent.examples.push(Examples {
                                    language: Some(lk.name.clone()),
                                    phrases,
                                });
                            }
                        }
                        _ => {
                            let phrases = cx.strings(ex, "example");
                            intent.examples.push(Examples {
                                language: None,
                                phrases,
                            });
                        }
                    }
                }
                if let Some(syn) = f.get("synonyms") {
                    if let Some(entries) = cx.map(
                        syn,
                        "`synonyms`",
                        "synonyms: { balance: [funds, money left] }",
                    ) {
                        for (sk, sv) in entries {
                            let words = cx.strings(sv, "synonym");
                            intent.synonyms.push((sk.name.clone(), words));
                        }
                    }
                }
                intent.dtmf = f.get("dtmf").and_then(|y| node::dtmf_key(cx, y, "`dtmf`"));
                intent.global = f
                    .get("global")
                    .and_then(|y| cx.bool(y, "`global`"))
                    .unwrap_or(false);
            }
            self.intents.push(intent);
        }
    }

    fn calendars_of(&mut self, y: &Y) {
        let Some(entries) = self.cx.map(
            y,
            "`calendars`",
            "calendars: { business: { hours: { mon-fri: \"09:00-17:00\" } } }",
        ) else {
            return;
        };
        for (k, v) in entries {
            if let Some(prev) = self.calendars.iter().find(|c| c.name == k.name) {
                let first = prev.span.clone();
                self.cx.error_hint(
                    &k.span,
                    format!("calendar `{}` is declared twice", k.name),
                    format!("first declared at {first}"),
                );
                continue;
            }
            let mut cal = Calendar::new(&k.name, k.span.clone());
            let what = format!("calendar `{}`", k.name);
            if let Some(f) = self.cx.fields(v, &what, &["hours", "holidays"]) {
                let cx = &mut self.cx;
                if let Some(h) = f.get("hours") {
                    for (dk, dv) in cx
                        .map(h, "`hours`", "hours: { mon-fri: \"09:00-17:00\" }")
                        .unwrap_or_default()
                    {
                        let days = calendar::parse_days(&dk.name);
                        let ranges = cx
                            .string(dv, "opening hours")
                            .map(|t| calendar::parse_hours(&t));
                        match (days, ranges) {
                            (Err(e), _) => cx.error_hint(&dk.span, e, "day keys look like `mon`, `mon-fri`, `sat,sun` or `daily`"),
                            (_, Some(Err(e))) => cx.error_hint(&dv.text_span(), e, "hours look like \"09:00-17:00\", \"09:00-12:00, 13:00-17:00\" or \"closed\""),
                            (Ok(days), Some(Ok(ranges))) => cal.add_hours(&days, &ranges),
                            _ => {}
                        }
                    }
                }
                if let Some(h) = f.get("holidays") {
                    for item in cx.list(h) {
                        if let Some(t) = cx.string(item, "holiday") {
                            match calendar::parse_date(&t) {
                                Ok(d) => cal.holidays.push(d),
                                Err(e) => cx.error_hint(
                                    &item.text_span(),
                                    e,
                                    "holidays are dates like \"2026-12-25\"",
                                ),
                            }
                        }
                    }
                }
            }
            self.calendars.push(cal);
        }
    }

    fn faq_of(&mut self, y: &Y, dir: &Path) {
        let items: Vec<Y> = match &y.kind {
            Kind::Map(_) => vec![y.clone()],
            _ => self.cx.list(y).into_iter().cloned().collect(),
        };
        for item in &items {
            let Some(f) = self.cx.fields(item, "a `faq` entry", &["q", "a", "file"]) else {
                continue;
            };
            if let Some(file) = f.get("file") {
                if let Some((fy, path)) = self.read_file(file, dir, "faq file") {
                    self.visiting.push(path.clone());
                    let sub = path.parent().unwrap_or(Path::new("")).to_path_buf();
                    self.faq_of(&fy, &sub);
                    self.visiting.pop();
                }
                continue;
            }
            let cx = &mut self.cx;
            let q = cx
                .required(&f, "q", "a `faq` entry")
                .map(|y| cx.strings(y, "question"));
            let a = cx
                .required(&f, "a", "a `faq` entry")
                .and_then(|y| node::prompt(cx, y, "`a`"));
            if let (Some(questions), Some(answer)) = (q, a) {
                self.faq.push(FaqEntry {
                    questions,
                    answer,
                    span: item.span.clone(),
                });
            }
        }
    }

    fn nodes_of(&mut self, y: &Y, flow: Option<&str>) -> Vec<NodeId> {
        let mut ids = Vec::new();
        let Some(entries) = self.cx.map(
            y,
            "`nodes`",
            "nodes: { main: { say: \"Hello\", hangup: true } }",
        ) else {
            return ids;
        };
        for (k, v) in entries {
            if !is_simple_name(&k.name) {
                self.cx.error_hint(
                    &k.span,
                    format!(
                        "node name `{}` has characters other than letters, digits, `-` and `_`",
                        k.name
                    ),
                    "rename the node (`.` is reserved for `flow.node`)",
                );
                continue;
            }
            let name = match flow {
                Some(f) => format!("{f}.{}", k.name),
                None => k.name.clone(),
            };
            if let Some(first) = self.node_spans.get(&name) {
                let hint = format!("first declared at {first}");
                self.cx
                    .error_hint(&k.span, format!("node `{name}` is declared twice"), hint);
                continue;
            }
            self.node_spans.insert(name.clone(), k.span.clone());
            let n = node::node(
                &mut self.cx,
                name,
                k.span.clone(),
                flow.map(str::to_owned),
                v,
            );
            ids.push(NodeId(self.nodes.len() as u32));
            self.nodes.push(n);
        }
        ids
    }

    fn flows_of(&mut self, y: &Y) {
        let Some(entries) = self.cx.map(
            y,
            "`flows`",
            "flows: { verify: { start: ask, nodes: { … } } }",
        ) else {
            return;
        };
        for (k, v) in entries {
            if !is_simple_name(&k.name) {
                self.cx.error_hint(
                    &k.span,
                    format!(
                        "flow name `{}` has characters other than letters, digits, `-` and `_`",
                        k.name
                    ),
                    "rename the flow",
                );
                continue;
            }
            if let Some(prev) = self.flows.iter().find(|f| f.name == k.name) {
                let first = prev.span.clone();
                self.cx.error_hint(
                    &k.span,
                    format!("flow `{}` is declared twice", k.name),
                    format!("first declared at {first}"),
                );
                continue;
            }
            let what = format!("flow `{}`", k.name);
            let Some(f) = self.cx.fields(v, &what, &["start", "nodes"]) else {
                continue;
            };
            let start = self
                .cx
                .required(&f, "start", &what)
                .and_then(|y| node::target(&mut self.cx, y, "`start`"));
            let nodes = match self.cx.required(&f, "nodes", &what) {
                Some(y) => self.nodes_of(y, Some(&k.name)),
                None => Vec::new(),
            };
            if let Some(start) = start {
                self.flows.push(Flow {
                    name: k.name.clone(),
                    span: k.span.clone(),
                    start,
                    nodes,
                });
            }
        }
    }

    /// Resolves every target to a node id, reporting unknown names.
    fn resolve(&mut self, plan: &mut Plan) {
        let index = plan.node_index.clone();
        let top_names: Vec<String> = plan
            .nodes
            .iter()
            .filter(|n| n.flow.is_none())
            .map(|n| n.name.clone())
            .collect();
        let resolve = |cx: &mut Cx, t: &mut Target, flow: Option<&str>| {
            let scoped = flow.map(|f| format!("{f}.{}", t.name));
            let found = scoped
                .as_ref()
                .and_then(|s| index.get(s))
                .or_else(|| index.get(&t.name));
            match found {
                Some(id) => t.node = *id,
                None => {
                    let mut candidates: Vec<&str> = top_names.iter().map(String::as_str).collect();
                    let prefix = flow.map(|f| format!("{f}."));
                    if let Some(p) = &prefix {
                        candidates.extend(index.keys().filter_map(|k| k.strip_prefix(p.as_str())));
                    } else {
                        candidates.extend(index.keys().map(String::as_str));
                    }
                    let hint = match did_you_mean(&t.name, candidates) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => "declare the node under `nodes:` or fix the name".to_owned(),
                    };
                    cx.error_hint(&t.span, format!("unknown node `{}`", t.name), hint);
                }
            }
        };
        resolve(&mut self.cx, &mut plan.start, None);
        if let Some(t) = &mut plan.settings.escalate_to {
            resolve(&mut self.cx, t, None);
        }
        for e in &mut plan.global_on {
            resolve(&mut self.cx, &mut e.target, None);
        }
        for flow in &mut plan.flows {
            let name = flow.name.clone();
            resolve(&mut self.cx, &mut flow.start, Some(&name));
        }
        for node in &mut plan.nodes {
            let flow = node.flow.clone();
            for t in node.targets_mut() {
                resolve(&mut self.cx, t, flow.as_deref());
            }
        }
    }
}

fn language_tag(cx: &mut Cx, y: &Y) -> Option<String> {
    let l = cx.string(y, "language")?;
    if !is_language_tag(&l) {
        cx.error_hint(
            &y.span,
            format!("`{l}` is not a language tag"),
            "use a BCP 47 tag like `en-US` or `zh-CN`",
        );
        return None;
    }
    Some(l)
}

fn settings(cx: &mut Cx, y: &Y) -> Settings {
    let mut s = Settings::default();
    let Some(f) = cx.fields(y, "`settings`", &SETTINGS_KEYS) else {
        return s;
    };
    if let Some(d) = f.get("no_input").and_then(|y| cx.duration(y, "`no_input`")) {
        s.no_input = d;
    }
    if let Some(n) = f
        .get("max_retries")
        .and_then(|y| cx.u32(y, "`max_retries`", 20))
    {
        s.max_retries = n;
    }
    if let Some(b) = f.get("barge_in").and_then(|y| cx.bool(y, "`barge_in`")) {
        s.barge_in = b;
    }
    s.escalate_to = f
        .get("escalate_to")
        .and_then(|y| node::target(cx, y, "`escalate_to`"));
    if let Some(n) = f
        .get("intent_threshold")
        .and_then(|y| cx.number(y, "`intent_threshold`", 0.0, 1.0))
    {
        s.intent_threshold = n;
    }
    if let Some(n) = f
        .get("confirm_threshold")
        .and_then(|y| cx.number(y, "`confirm_threshold`", 0.0, 1.0))
    {
        s.confirm_threshold = n;
    }
    if let Some(n) = f
        .get("negative_sentiment")
        .and_then(|y| cx.number(y, "`negative_sentiment`", -1.0, 1.0))
    {
        s.negative_sentiment = n;
    }
    if let Some(y) = f.get("timezone") {
        if let Some(name) = cx.string(y, "`timezone`") {
            match chrono_tz::Tz::from_str(&name) {
                Ok(tz) => s.timezone = tz,
                Err(_) => {
                    let guess =
                        did_you_mean(&name, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()));
                    let hint = match guess {
                        Some(g) => format!("did you mean `{g}`?"),
                        None => "use an IANA zone name like America/New_York or Asia/Shanghai"
                            .to_owned(),
                    };
                    cx.error_hint(&y.span, format!("unknown time zone `{name}`"), hint);
                }
            }
        }
    }
    s.voice = f.get("voice").and_then(|y| cx.string(y, "`voice`"));
    s.rate = f.get("rate").and_then(|y| cx.u32(y, "`rate`", 600));
    if let Some(b) = f.get("amd").and_then(|y| cx.bool(y, "`amd`")) {
        s.amd = b;
    }
    if s.confirm_threshold < s.intent_threshold {
        if let Some(y) = f.get("confirm_threshold") {
            cx.error_hint(
                &y.span,
                "`confirm_threshold` is below `intent_threshold`",
                "the confirm band runs from intent_threshold up to confirm_threshold",
            );
        }
    }
    s
}

#[cfg(test)]
mod tests;
