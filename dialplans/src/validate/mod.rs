//! Checks on a loaded plan: references, reachability, dead ends, loops, DTMF clashes, template
//! variables, webhook URLs and missing translations.
//!
//! [`validate`] never stops at the first problem. Node references are already resolved by the
//! loader (which reports unknown nodes); everything else that names something is checked here.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use crate::expr::Expr;
use crate::load::{self, FsProvider, SourceProvider};
use crate::model::*;
use crate::template::{Filter, Template};

/// Global intents with built-in behaviour.
pub const BUILTIN_GLOBALS: [&str; 4] = ["agent", "repeat", "help", "goodbye"];

/// Loads and validates a plan: every problem from both.
pub fn check(path: &Path, provider: &dyn SourceProvider) -> Diagnostics {
    let (plan, mut diags) = load::load_partial(path, provider);
    if let Some(plan) = plan {
        diags.extend(validate(&plan));
    }
    diags.sort();
    diags
}

/// Checks plan files from the file system (what `ivr check` runs). The flag is false when a file
/// could not be read at all (exit code 2), true when every file was checked (exit 0 or 1).
pub fn check_paths(paths: &[PathBuf]) -> (Diagnostics, bool) {
    let mut all = Diagnostics::new();
    let mut could_run = true;
    for p in paths {
        if let Err(e) = FsProvider.read(p) {
            could_run = false;
            all.push(
                Diagnostic::error(
                    &Span::new(p.display().to_string().into(), 0, 0),
                    format!("cannot read the plan: {e}"),
                )
                .hint("check the path"),
            );
            continue;
        }
        all.extend(check(p, &FsProvider));
    }
    all.sort();
    (all, could_run)
}

/// Loads a plan and validates it: the plan when there is no error, with its warnings; every
/// problem otherwise. What the engine uses before running a plan.
pub fn compile(
    path: &Path,
    provider: &dyn SourceProvider,
) -> Result<(Plan, Diagnostics), Diagnostics> {
    let plan = load::load(path, provider)?;
    let mut diags = validate(&plan);
    diags.sort();
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((plan, diags))
    }
}

/// Validates a loaded plan.
pub fn validate(plan: &Plan) -> Diagnostics {
    let mut v = Validator {
        plan,
        diags: Diagnostics::new(),
        graph: Graph::build(plan),
    };
    v.settings();
    v.intents();
    v.global_on();
    for node in &plan.nodes {
        v.node(node);
    }
    v.reachability();
    v.termination();
    v.variables();
    v.languages();
    v.diags
}

struct Validator<'a> {
    plan: &'a Plan,
    diags: Diagnostics,
    graph: Graph,
}

/// The control-flow graph of a plan: node → nodes it may go to next.
struct Graph {
    succ: Vec<Vec<usize>>,
    /// Nodes where the call may end (terminal steps, or escalation without `escalate_to`).
    exits: Vec<bool>,
}

fn resolved(t: &Target) -> Option<usize> {
    (t.node != NodeId::UNRESOLVED).then_some(t.node.index())
}

impl Graph {
    fn build(plan: &Plan) -> Graph {
        let n = plan.nodes.len();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut exits = vec![false; n];
        let escalate = plan.settings.escalate_to.as_ref().and_then(resolved);
        let globals: Vec<usize> = plan
            .global_on
            .iter()
            .filter_map(|e| resolved(&e.target))
            .collect();
        // Flow returns continue at the `next` of every node that calls the flow.
        let mut returns_to: HashMap<&str, Vec<usize>> = HashMap::new();
        for node in &plan.nodes {
            if let (Step::Call(f), Some(next)) = (&node.step, &node.next) {
                returns_to
                    .entry(f.name.as_str())
                    .or_default()
                    .extend(resolved(next));
            }
        }
        for (i, node) in plan.nodes.iter().enumerate() {
            let s = &mut succ[i];
            match &node.step {
                Step::Goto(t) => s.extend(resolved(t)),
                Step::Call(f) => match plan.flow(&f.name) {
                    Some(flow) => s.extend(resolved(&flow.start)),
                    // Reported as an unknown flow; go on at `next` to avoid follow-on errors.
                    None => s.extend(node.next.as_ref().and_then(resolved)),
                },
                Step::Return => {
                    let back = node.flow.as_deref().and_then(|f| returns_to.get(f));
                    s.extend(back.into_iter().flatten());
                }
                step if step.is_terminal() => exits[i] = true,
                _ => s.extend(node.targets().into_iter().filter_map(resolved)),
            }
            if node.step.waits_for_caller() {
                match escalate {
                    Some(e) => s.push(e),
                    None => exits[i] = true,
                }
                s.extend(&globals);
            }
            if let Step::Webhook(w) = &node.step {
                if w.on_error.is_none() {
                    match escalate {
                        Some(e) => s.push(e),
                        None => exits[i] = true,
                    }
                }
            }
            s.sort_unstable();
            s.dedup();
        }
        Graph { succ, exits }
    }

    /// Nodes reachable from `roots` (roots included).
    fn reach(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut seen = vec![false; self.succ.len()];
        let mut stack: Vec<usize> = roots.into_iter().collect();
        while let Some(n) = stack.pop() {
            if n < seen.len() && !seen[n] {
                seen[n] = true;
                stack.extend(&self.succ[n]);
            }
        }
        seen
    }

    /// Strongly connected components (iterative Tarjan).
    fn components(&self) -> Vec<Vec<usize>> {
        let n = self.succ.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut out = Vec::new();
        let mut next_index = 0;
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            let mut work = vec![(root, 0usize)];
            while let Some(&mut (v, ref mut edge)) = work.last_mut() {
                if *edge == 0 && index[v] == usize::MAX {
                    index[v] = next_index;
                    low[v] = next_index;
                    next_index += 1;
                    stack.push(v);
                    on_stack[v] = true;
                }
                if let Some(&w) = self.succ[v].get(*edge) {
                    *edge += 1;
                    if index[w] == usize::MAX {
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(comp);
                }
            }
        }
        out
    }
}

fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    otherwise: &str,
) -> String {
    match did_you_mean(word, candidates) {
        Some(m) => format!("did you mean `{m}`?"),
        None => otherwise.to_owned(),
    }
}

impl Validator<'_> {
    fn error(&mut self, span: &Span, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message).hint(hint));
    }

    fn warning(&mut self, span: &Span, message: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(span, message).hint(hint));
    }

    fn settings(&mut self) {
        if self.plan.settings.escalate_to.is_none() {
            self.warning(
                &self.plan.span,
                "`settings.escalate_to` is not set: stuck callers hear goodbye and are hung up on",
                "set `escalate_to` to a node that enqueues or transfers the caller",
            );
        }
    }

    fn intents(&mut self) {
        let plan = self.plan;
        for intent in &plan.intents {
            let total: usize = intent.examples.iter().map(|e| e.phrases.len()).sum();
            if total == 0 {
                self.warning(
                    &intent.span,
                    format!("intent `{}` has no examples", intent.name),
                    "add `examples:` so callers can say it, not only press a key",
                );
                continue;
            }
            for lang in &plan.languages {
                if intent.examples_for(lang, &plan.language).next().is_none() {
                    self.warning(
                        &intent.span,
                        format!("intent `{}` has no {lang} examples", intent.name),
                        format!("add `examples: {{ {lang}: [...] }}`"),
                    );
                }
            }
        }
    }

    fn global_on(&mut self) {
        let plan = self.plan;
        for e in &plan.global_on {
            match plan.intent(&e.key) {
                None => self.error(
                    &e.span,
                    format!("top-level `on` names unknown intent `{}`", e.key),
                    suggest(
                        &e.key,
                        plan.intents.iter().map(|i| i.name.as_str()),
                        "declare it under `intents:` with `global: true`",
                    ),
                ),
                Some(i) if !i.global => self.error(
                    &e.span,
                    format!(
                        "top-level `on` names intent `{}`, which is not global",
                        e.key
                    ),
                    "add `global: true` to the intent, or map it in a node's `on`",
                ),
                Some(_) => {}
            }
        }
        for i in plan.global_intents() {
            if !BUILTIN_GLOBALS.contains(&i.name.as_str()) && plan.global_target(&i.name).is_none()
            {
                self.error(
                    &i.span,
                    format!("global intent `{}` has no top-level `on` entry", i.name),
                    format!("add `on: {{ {}: some_node }}` at the top level", i.name),
                );
            }
        }
    }

    fn node(&mut self, node: &Node) {
        let plan = self.plan;
        let globals: Vec<&Intent> = plan.global_intents().collect();
        let has_exit = |k: &str| node.on_target(k).is_some() || node.next.is_some();
        let mut allowed_on: Vec<&str> = Vec::new();
        match &node.step {
            Step::Listen(l) => {
                self.listen(node, l, &globals);
                allowed_on.extend(l.intents.iter().map(|n| n.name.as_str()));
                allowed_on.extend(["no_input", "no_match"]);
            }
            Step::Collect(c) => {
                allowed_on.extend(["no_input", "no_match"]);
                if node.next.is_none() {
                    self.error(
                        &c.span,
                        format!(
                            "node `{}` collects `{}` but has no `next`",
                            node.name, c.slot.name
                        ),
                        "add `next:` with the node that uses the value",
                    );
                }
            }
            Step::Confirm(c) => {
                allowed_on.extend(["yes", "no", "no_input", "no_match"]);
                for k in ["yes", "no"] {
                    if !has_exit(k) {
                        self.error(
                            &c.span,
                            format!(
                                "node `{}` asks yes/no but has no `on.{k}` and no `next`",
                                node.name
                            ),
                            "add `on: { yes: …, no: … }`",
                        );
                    }
                }
            }
            Step::Faq(f) => {
                allowed_on.extend(["answered", "unanswered", "no_input", "no_match"]);
                if plan.faq.is_empty() {
                    self.error(
                        &f.span,
                        format!(
                            "node `{}` answers questions but the plan has no `faq:` entries",
                            node.name
                        ),
                        "add a top-level `faq:` list of `q`/`a` pairs",
                    );
                }
                for k in ["answered", "unanswered"] {
                    if !has_exit(k) {
                        self.error(
                            &f.span,
                            format!("node `{}` has no `on.{k}` and no `next`", node.name),
                            "add `on: { answered: …, unanswered: … }`",
                        );
                    }
                }
            }
            Step::Branch(arms, otherwise) => {
                if otherwise.is_none() && node.next.is_none() {
                    let span = arms.last().map_or(&node.span, |a| &a.span);
                    self.error(
                        span,
                        format!(
                            "branch in node `{}` has no `else` and the node has no `next`",
                            node.name
                        ),
                        "add `- else: node` as the last arm",
                    );
                }
                for arm in arms {
                    self.calendars(&arm.condition, &arm.span);
                }
            }
            Step::Webhook(w) => {
                self.webhook(w);
                if node.next.is_none() {
                    self.error(
                        &w.span,
                        format!("node `{}` calls a webhook but has no `next`", node.name),
                        "add `next:`",
                    );
                }
            }
            Step::Call(f) => match plan.flow(&f.name) {
                None => self.error(
                    &f.span,
                    format!("unknown flow `{}`", f.name),
                    suggest(
                        &f.name,
                        plan.flows.iter().map(|f| f.name.as_str()),
                        "declare it under `flows:`",
                    ),
                ),
                Some(_) if node.next.is_none() => self.error(
                    &f.span,
                    format!(
                        "node `{}` calls flow `{}` but has no `next` to continue at",
                        node.name, f.name
                    ),
                    "add `next:`",
                ),
                Some(_) => {}
            },
            Step::Return if node.flow.is_none() => {
                self.error(
                    &node.span,
                    format!("node `{}` returns but is not in a flow", node.name),
                    "use `goto`, or move the node under `flows:`",
                );
            }
            Step::Enqueue(e) => {
                for s in &e.context {
                    self.slot_name(s);
                }
            }
            Step::None if node.next.is_none() && node.on.is_empty() => {
                self.error(
                    &node.span,
                    format!(
                        "node `{}` is a dead end: it has no step and no `next`",
                        node.name
                    ),
                    "add `next:`, or a step like `hangup: true`",
                );
            }
            _ => {}
        }
        if node.step.waits_for_caller() {
            allowed_on.extend(globals.iter().map(|g| g.name.as_str()));
        }
        for e in &node.on {
            if allowed_on.is_empty() {
                self.warning(
                    &e.span,
                    format!(
                        "`on` is ignored in node `{}`: its `{}` step has no outcomes",
                        node.name,
                        node.step.keyword()
                    ),
                    "use `next:` instead",
                );
                break;
            }
            if !allowed_on.contains(&e.key.as_str()) {
                let msg = match &node.step {
                    Step::Listen(_) if plan.intent(&e.key).is_some() => format!(
                        "node `{}` has an `on` entry for intent `{}` but does not listen for it",
                        node.name, e.key
                    ),
                    _ => format!(
                        "`{}` is not an outcome of `{}` in node `{}`",
                        e.key,
                        node.step.keyword(),
                        node.name
                    ),
                };
                self.error(
                    &e.span,
                    msg,
                    suggest(
                        &e.key,
                        allowed_on.iter().copied(),
                        &format!("outcomes here are {}", allowed_on.join(", ")),
                    ),
                );
            }
        }
        if let Step::Listen(l) = &node.step {
            for i in &l.intents {
                if node.on_target(&i.name).is_none()
                    && node.next.is_none()
                    && plan.intent(&i.name).is_some()
                {
                    self.error(
                        &i.span,
                        format!(
                            "intent `{}` is heard in node `{}` but leads nowhere",
                            i.name, node.name
                        ),
                        format!("add `on: {{ {}: some_node }}` or `next:`", i.name),
                    );
                }
            }
        }
    }

    fn listen(&mut self, node: &Node, l: &Listen, globals: &[&Intent]) {
        let plan = self.plan;
        let mut keys: HashMap<char, &str> = HashMap::new();
        for g in globals {
            if let Some(k) = g.dtmf {
                keys.insert(k, &g.name);
            }
        }
        let mut seen = HashSet::new();
        for i in &l.intents {
            if !seen.insert(i.name.as_str()) {
                self.warning(
                    &i.span,
                    format!("intent `{}` is listed twice", i.name),
                    "remove the repeat",
                );
                continue;
            }
            let Some(intent) = plan.intent(&i.name) else {
                self.error(
                    &i.span,
                    format!("unknown intent `{}`", i.name),
                    suggest(
                        &i.name,
                        plan.intents.iter().map(|i| i.name.as_str()),
                        "declare it under `intents:`",
                    ),
                );
                continue;
            };
            if intent.global {
                continue;
            }
            if let Some(k) = intent.dtmf {
                match keys.get(&k) {
                    Some(other) => self.error(
                        &i.span,
                        format!(
                            "key {k} is used by both `{other}` and `{}` in node `{}`",
                            i.name, node.name
                        ),
                        "give each intent in a listen its own `dtmf` key",
                    ),
                    None => {
                        keys.insert(k, &intent.name);
                    }
                }
            }
        }
        if l.intents.is_empty() && globals.is_empty() {
            self.error(
                &l.span,
                format!("node `{}` listens for no intents", node.name),
                "add `intents: [...]`",
            );
        }
    }

    fn webhook(&mut self, w: &Webhook) {
        match url::Url::parse(&w.url) {
            Err(e) => self.error(
                &w.url_span,
                format!("webhook URL `{}` does not parse: {e}", w.url),
                "write a full URL like http://127.0.0.1:8080/balance",
            ),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => self.error(
                &w.url_span,
                format!("webhook URL scheme `{}` is not http or https", u.scheme()),
                "use an http:// or https:// URL",
            ),
            Ok(_) => {}
        }
        for s in w.send.iter().flatten() {
            self.slot_name(s);
        }
    }

    fn slot_name(&mut self, s: &Named) {
        let slots = collected_slots(self.plan);
        if !slots.contains(s.name.as_str()) {
            let hint = suggest(
                &s.name,
                slots.iter().copied(),
                "no `collect` fills this slot",
            );
            self.error(&s.span, format!("unknown slot `{}`", s.name), hint);
        }
    }

    fn calendars(&mut self, e: &Expr, span: &Span) {
        let plan = self.plan;
        for (f, name) in e.calls() {
            if plan.calendar(name).is_none() {
                self.error(
                    span,
                    format!("`{}({name})` names unknown calendar `{name}`", f.name()),
                    suggest(
                        name,
                        plan.calendars.iter().map(|c| c.name.as_str()),
                        "declare it under `calendars:`",
                    ),
                );
            }
        }
    }

    fn reachability(&mut self) {
        let plan = self.plan;
        let mut roots: Vec<usize> = plan
            .start
            .node
            .index()
            .checked_sub(0)
            .into_iter()
            .filter(|&i| i < plan.nodes.len())
            .collect();
        roots.extend(plan.settings.escalate_to.as_ref().and_then(resolved));
        roots.extend(plan.global_on.iter().filter_map(|e| resolved(&e.target)));
        let seen = self.graph.reach(roots);
        for (i, node) in plan.nodes.iter().enumerate() {
            if !seen[i] {
                self.warning(
                    &node.span,
                    format!("node `{}` is unreachable", node.name),
                    "link it with `next`, `on` or `goto`, or remove it",
                );
            }
        }
    }

    fn termination(&mut self) {
        let plan = self.plan;
        let n = plan.nodes.len();
        // Nodes that can reach an exit: reverse reachability from the exits.
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, s) in self.graph.succ.iter().enumerate() {
            for &j in s {
                pred[j].push(i);
            }
        }
        let mut ok = vec![false; n];
        let mut stack: Vec<usize> = (0..n).filter(|&i| self.graph.exits[i]).collect();
        while let Some(i) = stack.pop() {
            if !ok[i] {
                ok[i] = true;
                stack.extend(&pred[i]);
            }
        }
        let mut explained = vec![false; n];
        for comp in self.graph.components() {
            let cyclic = comp.len() > 1
                || comp
                    .first()
                    .is_some_and(|&c| self.graph.succ[c].contains(&c));
            if !cyclic || comp.iter().any(|&c| ok[c]) {
                continue;
            }
            let mut members = comp.clone();
            members.sort_unstable();
            for &m in &members {
                explained[m] = true;
            }
            let names: Vec<&str> = members
                .iter()
                .map(|&m| plan.nodes[m].name.as_str())
                .collect();
            let first = &plan.nodes[members[0]];
            self.error(
                &first.span,
                format!("loop with no exit: {} → {}", names.join(" → "), names[0]),
                "add a `listen`/`collect` (which can escalate), a `branch` out, or a `hangup`",
            );
        }
        for (i, node) in plan.nodes.iter().enumerate() {
            let dead_end =
                matches!(node.step, Step::None) && node.next.is_none() && node.on.is_empty();
            if ok[i]
                || explained[i]
                || dead_end
                || self.graph.succ[i].is_empty() && !matches!(node.step, Step::Return)
            {
                continue;
            }
            self.error(
                &node.span,
                format!(
                    "node `{}` cannot reach a hangup, enqueue, transfer or voicemail",
                    node.name
                ),
                "every path must end the call or hand it to a person",
            );
        }
    }

    fn variables(&mut self) {
        let plan = self.plan;
        let slots = collected_slots(plan);
        let mut vars: HashSet<&str> = HashSet::new();
        for n in &plan.nodes {
            if let Step::Set(assigns) = &n.step {
                for a in assigns {
                    if a.target.root() == Some(Root::Vars) {
                        vars.extend(a.target.key());
                    }
                }
            }
        }
        let webhook_nodes =
            (0..plan.nodes.len()).filter(|&i| matches!(plan.nodes[i].step, Step::Webhook(_)));
        let after_webhook = self.graph.reach(webhook_nodes);
        let mut after_slot: HashMap<&str, Vec<bool>> = HashMap::new();
        for s in &slots {
            let setters = (0..plan.nodes.len()).filter(|&i| match &plan.nodes[i].step {
                Step::Collect(c) => c.slot.name == *s,
                Step::Set(a) => a
                    .iter()
                    .any(|a| a.target.root() == Some(Root::Slots) && a.target.key() == Some(s)),
                _ => false,
            });
            after_slot.insert(s, self.graph.reach(setters));
        }
        let cx = Uses {
            slots: &slots,
            vars: &vars,
            after_webhook: &after_webhook,
            after_slot: &after_slot,
        };
        for (i, node) in plan.nodes.iter().enumerate() {
            let mut uses: Vec<(&VarPath, bool, &Span)> = Vec::new();
            for p in node.prompts() {
                for t in p.templates() {
                    template_uses(t, &p.span, &mut uses);
                }
            }
            match &node.step {
                Step::Branch(arms, _) => {
                    for a in arms {
                        uses.extend(
                            a.condition
                                .variables()
                                .into_iter()
                                .map(|v| (v, false, &a.span)),
                        );
                    }
                }
                Step::Set(assigns) => {
                    for a in assigns {
                        template_uses(&a.value, &a.span, &mut uses);
                    }
                }
                Step::Transfer(t) => template_uses(t, &node.span, &mut uses),
                _ => {}
            }
            for (path, defaulted, span) in uses {
                if let Some((msg, hint)) = cx.problem(path, defaulted, i, node) {
                    self.error(span, msg, hint);
                }
            }
        }
        for entry in &plan.faq {
            let mut uses = Vec::new();
            for t in entry.answer.templates() {
                template_uses(t, &entry.answer.span, &mut uses);
            }
            for (path, _, span) in uses {
                if path.root().is_none() {
                    self.error(span, format!("unknown variable `{path}`"), "variables start with slots., vars., webhook., caller., call., intent. or now.");
                }
            }
        }
    }

    fn languages(&mut self) {
        let plan = self.plan;
        let check = |diags: &mut Diagnostics, p: &Prompt| {
            for lang in &plan.languages {
                if !p.has_language(lang, &plan.language) {
                    diags.push(
                        Diagnostic::error(&p.span, format!("prompt has no {lang} text")).hint(
                            format!(
                                "add `{lang}: \"…\"` (the plan declares `languages: [{}]`)",
                                plan.languages.join(", ")
                            ),
                        ),
                    );
                }
            }
            for v in &p.variants {
                if let Some(l) = &v.language {
                    if !plan.languages.contains(l) {
                        diags.push(
                            Diagnostic::warning(
                                &p.span,
                                format!("prompt has {l} text but {l} is not in `languages`"),
                            )
                            .hint(format!("add {l} to `languages`, or remove the text")),
                        );
                    }
                }
            }
        };
        for node in &plan.nodes {
            for p in node.prompts() {
                check(&mut self.diags, p);
            }
        }
        for e in &plan.faq {
            check(&mut self.diags, &e.answer);
        }
    }
}

/// Slots filled anywhere: by a `collect`, or by `set: { slots.X: … }`.
fn collected_slots(plan: &Plan) -> HashSet<&str> {
    let mut out = HashSet::new();
    for n in &plan.nodes {
        match &n.step {
            Step::Collect(c) => {
                out.insert(c.slot.name.as_str());
            }
            Step::Set(assigns) => {
                for a in assigns {
                    if a.target.root() == Some(Root::Slots) {
                        out.extend(a.target.key());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn template_uses<'a>(
    t: &'a Template,
    span: &'a Span,
    out: &mut Vec<(&'a VarPath, bool, &'a Span)>,
) {
    for p in t.placeholders() {
        let defaulted = p.filters.iter().any(|f| matches!(f, Filter::Default(_)));
        out.extend(p.expr.variables().into_iter().map(|v| (v, defaulted, span)));
    }
}

struct Uses<'a> {
    slots: &'a HashSet<&'a str>,
    vars: &'a HashSet<&'a str>,
    after_webhook: &'a [bool],
    after_slot: &'a HashMap<&'a str, Vec<bool>>,
}

const ROOTS: &str = "variables start with slots., vars., webhook., caller., call., intent. or now., or are sentiment, time, weekday, date, language, retries";

impl Uses<'_> {
    /// What is wrong with reading `path` in node `i`, if anything.
    fn problem(
        &self,
        path: &VarPath,
        defaulted: bool,
        i: usize,
        node: &Node,
    ) -> Option<(String, String)> {
        let Some(root) = path.root() else {
            let roots = Root::ALL.iter().map(|(n, _)| *n);
            return Some((
                format!("unknown variable `{path}`"),
                suggest(path.root_name(), roots, ROOTS),
            ));
        };
        let key = path.key();
        let fields: &[&str] = match root {
            Root::Caller => &["number", "name"],
            Root::Call => &["id", "called", "amd"],
            Root::Intent => &["name", "confidence", "text"],
            Root::Now => &["time", "date", "weekday"],
            Root::Sentiment
            | Root::Time
            | Root::Weekday
            | Root::Date
            | Root::Language
            | Root::Retries => &[],
            Root::Slots | Root::Vars | Root::Webhook => {
                if key.is_none() {
                    return Some((
                        format!("`{path}` needs a name after the dot"),
                        format!("write `{path}.name`"),
                    ));
                }
                &[]
            }
        };
        match root {
            Root::Caller | Root::Call | Root::Intent | Root::Now
                if !key.is_some_and(|k| fields.contains(&k)) || path.segments().len() > 2 =>
            {
                return Some((
                    format!("unknown variable `{path}`"),
                    format!("`{}` has {}", path.root_name(), fields.join(", ")),
                ));
            }
            Root::Sentiment
            | Root::Time
            | Root::Weekday
            | Root::Date
            | Root::Language
            | Root::Retries
                if key.is_some() =>
            {
                return Some((
                    format!("`{}` has no fields", path.root_name()),
                    format!("write `{}`", path.root_name()),
                ));
            }
            _ => {}
        }
        if defaulted {
            return None;
        }
        match (root, key) {
            (Root::Slots, Some(k)) if !self.slots.contains(k) => Some((
                format!("slot `{k}` is never collected"),
                suggest(k, self.slots.iter().copied(), "add a `collect` with this slot, or `| default(\"…\")`"),
            )),
            (Root::Slots, Some(k)) if !self.after_slot.get(k).is_some_and(|r| r[i]) => Some((
                format!("slot `{k}` is never collected on any path to node `{}`", node.name),
                "collect it before this node, or add `| default(\"…\")`".to_owned(),
            )),
            (Root::Vars, Some(k)) if !self.vars.contains(k) => Some((
                format!("`vars.{k}` is never set"),
                suggest(k, self.vars.iter().copied(), "set it with `set: { vars.NAME: … }`, or add `| default(\"…\")`"),
            )),
            (Root::Webhook, Some(_)) if !self.after_webhook[i] => Some((
                format!("`{path}` is used in node `{}` but no webhook runs on any path to it", node.name),
                "add a `webhook` step before this node (a webhook runs before its own node's `say`)".to_owned(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
