//! One call's conversation: the state, node execution and input dispatch.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use crate::model::{InputOptions, Node, NodeId, Prompt, Step};
use crate::template::Template;

use super::compiled::CompiledPlan;
use super::prompts::Builtin;
use super::vars::{mask, mask_value, Scope};
use super::{Action, CallInfo, Handoff, Input, InputMode, Turn, Who};

/// A node entered more than this many times in one call escalates (`loop`).
const LOOP_LIMIT: u32 = 10;
/// Most nodes entered while handling one input; past it the call ends (a plan that passed
/// validation never gets there: the loop guard escalates first).
const MAX_STEPS_PER_INPUT: u32 = 1_000;

/// The recognised intent (`intent.*`).
#[derive(Clone, Debug, PartialEq)]
pub struct IntentMatch {
    /// Intent name.
    pub name: String,
    /// Confidence, 0..1 (1 for a key).
    pub confidence: f32,
    /// What the caller said or keyed.
    pub text: String,
    /// `text`, masked when it was said while a sensitive slot was being collected.
    pub(crate) masked_text: String,
}

/// What the session waits for.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Wait {
    /// Nothing (running, or finished).
    Nothing,
    /// The answer to a webhook of the current node.
    Webhook,
    /// An intent of the current `listen`.
    Listen,
    /// Yes/no to "Did you mean …?".
    ConfirmIntent(IntentMatch),
    /// A slot value; keys pressed so far.
    Collect(String),
    /// Yes/no to the read-back of a collected value.
    CollectConfirm(Value),
    /// Yes/no of a `confirm` step.
    Confirm,
    /// A question for the FAQ.
    FaqQuestion,
    /// Yes/no to "Did that answer your question?".
    FaqConfirm,
}

/// A prompt as it was said, to say it again (`repeat`).
#[derive(Clone, Debug)]
pub(crate) struct Said {
    pub action: Action,
    pub masked: String,
}

/// One call's conversation with a plan. Pure: no I/O, no clock; `Send`.
#[derive(Debug)]
pub struct Session {
    pub(crate) plan: Arc<CompiledPlan>,
    pub(crate) call: CallInfo,
    pub(crate) language: String,
    pub(crate) started: Option<DateTime<Utc>>,
    pub(crate) now: DateTime<Utc>,
    pub(crate) node: NodeId,
    pub(crate) wait: Wait,
    pub(crate) slots: Map<String, Value>,
    /// Names of the sensitive slots.
    pub(crate) sensitive: Vec<String>,
    pub(crate) vars: Map<String, Value>,
    pub(crate) webhook: Map<String, Value>,
    pub(crate) intent: Option<IntentMatch>,
    pub(crate) sentiment: Option<f32>,
    /// Failures at the current node.
    pub(crate) retries: u32,
    /// Times each node was entered.
    entries: Vec<u32>,
    pub(crate) path: Vec<String>,
    /// `call` nodes waiting for their flow to return.
    stack: Vec<NodeId>,
    pub(crate) transcript: Vec<Turn>,
    pub(crate) intents: Vec<(String, f32)>,
    /// The last prompt group said, for `repeat` and `help`.
    pub(crate) last_prompt: Vec<Said>,
    finished: bool,
    /// An escalation happened while handling the current input (a second one hangs up).
    pub(crate) escalating: bool,
    /// Why the caller is being escalated, for the next `enqueue`.
    pub(crate) reason: Option<String>,
    steps: u32,
    /// The answering-machine verdict of an outbound call (`call.amd`), once known.
    pub(crate) amd: Option<String>,
}

impl Session {
    /// A session for one call; nothing happens until [`Session::start`].
    pub fn new(plan: Arc<CompiledPlan>, call: CallInfo) -> Session {
        let p = &plan.plan;
        let language = call
            .vars
            .get("language")
            .and_then(Value::as_str)
            .filter(|l| p.languages.iter().any(|x| x == l))
            .map_or_else(|| p.language.clone(), str::to_owned);
        let vars = call.vars.clone();
        let start = p.start.node;
        let entries = vec![0; p.nodes.len()];
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        Session {
            plan,
            call,
            language,
            started: None,
            now: epoch,
            node: start,
            wait: Wait::Nothing,
            slots: Map::new(),
            sensitive: Vec::new(),
            vars,
            webhook: Map::new(),
            intent: None,
            sentiment: None,
            retries: 0,
            entries,
            path: Vec::new(),
            stack: Vec::new(),
            transcript: Vec::new(),
            intents: Vec::new(),
            last_prompt: Vec::new(),
            finished: false,
            escalating: false,
            reason: None,
            steps: 0,
            amd: None,
        }
    }

    /// Sets `call.amd`, the answering-machine verdict of an outbound call (`human`, `machine`
    /// or `unknown`); the engine knows it before [`Session::start`].
    pub fn set_amd(&mut self, verdict: &str) {
        self.amd = Some(verdict.to_owned());
    }

    /// Starts the call at the plan's `start` node.
    pub fn start(&mut self, now: DateTime<Utc>) -> Vec<Action> {
        let mut out = Vec::new();
        if self.started.is_some() || self.finished {
            return out;
        }
        self.started = Some(now);
        self.begin(now);
        let start = self.plan.plan.start.node;
        self.run(Some(start), &mut out);
        out
    }

    /// Handles one input; returns what to do, in order. After the session is finished, returns
    /// nothing.
    pub fn handle(&mut self, input: Input, now: DateTime<Utc>) -> Vec<Action> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if self.started.is_none() {
            out = self.start(now);
            if self.finished {
                return out;
            }
        }
        self.begin(now);
        let next = self.dispatch(input, &mut out);
        self.run(next, &mut out);
        out
    }

    /// Whether the call has left the plan (hangup, enqueue, transfer, voicemail, or the caller
    /// hung up).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The handoff context as of now (reason `plan` unless an escalation is under way).
    pub fn handoff(&self) -> Handoff {
        let reason = self.reason.clone().unwrap_or_else(|| "plan".to_owned());
        self.handoff_with(reason, Vec::new())
    }

    /// The node the call is at (its qualified name).
    pub fn current_node(&self) -> &str {
        self.plan
            .plan
            .node(self.node)
            .map_or("", |n| n.name.as_str())
    }

    /// Slots (sensitive ones masked), vars, webhook results, intent, node and language — for
    /// `ivr chat`.
    pub fn vars_snapshot(&self) -> Value {
        json!({
            "node": self.current_node(),
            "language": self.language,
            "slots": self.masked_slots(),
            "vars": self.vars,
            "webhook": self.webhook,
            "intent": self.intent.as_ref().map(|i| json!({
                "name": i.name, "confidence": i.confidence, "text": i.masked_text,
            })),
            "sentiment": self.sentiment,
            "retries": self.retries,
        })
    }

    /// The call's language.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The last recognised intent.
    pub fn intent(&self) -> Option<&IntentMatch> {
        self.intent.as_ref()
    }

    /// A slot's value, unmasked (`None` when not collected).
    pub fn slot(&self, name: &str) -> Option<&Value> {
        self.slots.get(name)
    }

    /// A variable's value (`vars.NAME`).
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    /// Whether `slot` holds a sensitive value (masked everywhere).
    pub fn is_sensitive(&self, slot: &str) -> bool {
        self.sensitive.iter().any(|n| n == slot)
    }

    /// The transcript so far (sensitive values masked).
    pub fn transcript(&self) -> &[Turn] {
        &self.transcript
    }

    // ---- running nodes ----

    fn begin(&mut self, now: DateTime<Utc>) {
        self.now = now;
        self.escalating = false;
        self.steps = 0;
    }

    pub(crate) fn local_now(&self) -> NaiveDateTime {
        self.plan.plan.local_time(self.now)
    }

    pub(crate) fn at_ms(&self) -> u64 {
        let start = self.started.unwrap_or(self.now);
        u64::try_from((self.now - start).num_milliseconds()).unwrap_or(0)
    }

    pub(crate) fn masked_slots(&self) -> Map<String, Value> {
        self.slots
            .iter()
            .map(|(k, v)| {
                let v = if self.sensitive.contains(k) {
                    mask_value(v)
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// Enters nodes until one waits or the call ends.
    fn run(&mut self, mut next: Option<NodeId>, out: &mut Vec<Action>) {
        while let Some(id) = next {
            if self.finished {
                return;
            }
            next = self.enter(id, out);
        }
    }

    fn enter(&mut self, id: NodeId, out: &mut Vec<Action>) -> Option<NodeId> {
        self.steps += 1;
        if self.steps > MAX_STEPS_PER_INPUT {
            self.event(out, "runaway", json!({ "node": self.current_node() }));
            return self.end(out, false);
        }
        let plan = self.plan.clone();
        let Some(node) = plan.plan.node(id) else {
            self.event(out, "dead_end", json!({ "node": self.current_node() }));
            return self.end(out, true);
        };
        self.wait = Wait::Nothing;
        let count = match self.entries.get_mut(id.index()) {
            Some(c) => {
                *c += 1;
                *c
            }
            None => 0,
        };
        if count > LOOP_LIMIT {
            self.event(out, "loop", json!({ "node": node.name, "entries": count }));
            return self.escalate("loop", out);
        }
        self.node = id;
        self.retries = 0;
        self.path.push(node.name.clone());
        self.event(out, "node", json!({ "node": node.name }));
        if let Step::Webhook(w) = &node.step {
            return self.start_webhook(w, out);
        }
        self.node_prompt(node, 0, out);
        self.step(node, out)
    }

    /// Says the node's prompts for an attempt: `say`, `play`, then the step's own prompt.
    pub(crate) fn node_prompt(&mut self, node: &Node, attempt: usize, out: &mut Vec<Action>) {
        self.last_prompt.clear();
        let barge_in = self.barge_in(node);
        if let Some(p) = &node.say {
            self.say(p, attempt, barge_in, out);
        }
        if let Some(p) = &node.play {
            let base = self
                .plan
                .plan
                .files
                .first()
                .and_then(|f| f.parent())
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            out.push(Action::Play {
                file: base.join(&p.file),
                looped: p.looped,
                barge_in,
            });
        }
        let step_prompt = match &node.step {
            Step::Collect(c) => c.prompt.as_ref(),
            Step::Confirm(c) => Some(&c.prompt),
            Step::Faq(f) => f.prompt.as_ref(),
            _ => None,
        };
        if let Some(p) = step_prompt {
            self.say(p, attempt, barge_in, out);
        }
    }

    /// Runs the node's step (its prompts are said).
    fn step(&mut self, node: &Node, out: &mut Vec<Action>) -> Option<NodeId> {
        match &node.step {
            Step::None | Step::Webhook(_) => self.next_of(node, out),
            Step::Listen(_) | Step::Collect(_) | Step::Confirm(_) | Step::Faq(_) => {
                self.wait = base_wait(&node.step);
                self.listen(node, out);
                None
            }
            Step::Set(assignments) => {
                for a in assignments {
                    let v = a.value.evaluate(&self.scope(false)).unwrap_or(Value::Null);
                    let is_var = a.target.root_name() != "slots";
                    let map = if is_var {
                        &mut self.vars
                    } else {
                        &mut self.slots
                    };
                    if let Some(k) = a.target.key() {
                        map.insert(k.to_owned(), v.clone());
                        if is_var {
                            // What the call decided (an outbound campaign records it).
                            let name = k.to_owned();
                            self.event(out, "var", json!({ "name": name, "value": v }));
                        }
                    }
                }
                if let Some(l) = self.vars.get("language").and_then(Value::as_str) {
                    if l != self.language && self.plan.plan.languages.iter().any(|x| x == l) {
                        self.language = l.to_owned();
                    }
                }
                self.next_of(node, out)
            }
            Step::Branch(arms, otherwise) => {
                for arm in arms {
                    match arm.condition.holds(&self.scope(false)) {
                        Ok(true) => return Some(arm.then.node),
                        Ok(false) => {}
                        Err(e) => self.event(
                            out,
                            "condition_error",
                            json!({ "node": node.name, "if": arm.source, "error": e.to_string() }),
                        ),
                    }
                }
                match otherwise {
                    Some(t) => Some(t.node),
                    None => self.next_of(node, out),
                }
            }
            Step::Enqueue(e) => {
                let reason = self.reason.take().unwrap_or_else(|| "plan".to_owned());
                let context = e.context.iter().map(|n| n.name.clone()).collect();
                let handoff = self.handoff_with(reason, context);
                out.push(Action::Enqueue {
                    queue: e.queue.name.clone(),
                    priority: i64::from(e.priority),
                    skills: e.skills.clone(),
                    context: handoff,
                });
                self.finished = true;
                None
            }
            Step::Transfer(t) => {
                let target = t.render_in(&self.scope(false), &self.language.clone());
                out.push(Action::Transfer { target });
                self.finished = true;
                None
            }
            Step::Voicemail(v) => {
                if let Some(p) = &v.prompt {
                    let barge_in = self.barge_in(node);
                    self.say(p, 0, barge_in, out);
                }
                out.push(Action::Voicemail {
                    mailbox: v.mailbox.clone(),
                    max_length: v.max_length,
                });
                self.finished = true;
                None
            }
            Step::Hangup(p) => {
                if let Some(p) = p {
                    let barge_in = self.barge_in(node);
                    self.say(p, 0, barge_in, out);
                }
                out.push(Action::Hangup);
                self.finished = true;
                None
            }
            Step::Goto(t) => Some(t.node),
            Step::Call(flow) => match self.plan.plan.flow(&flow.name) {
                Some(f) => {
                    self.stack.push(node_id(&self.plan, node));
                    Some(f.start.node)
                }
                None => {
                    self.event(out, "unknown_flow", json!({ "flow": flow.name }));
                    self.next_of(node, out)
                }
            },
            Step::Return => match self.stack.pop() {
                Some(caller) => {
                    let plan = self.plan.clone();
                    match plan.plan.node(caller) {
                        Some(c) => self.next_of(c, out),
                        None => self.end(out, true),
                    }
                }
                None => self.next_of(node, out),
            },
        }
    }

    /// Goes to the node's `next`; a node without one ends the call.
    pub(crate) fn next_of(&mut self, node: &Node, out: &mut Vec<Action>) -> Option<NodeId> {
        match &node.next {
            Some(t) => Some(t.node),
            None => {
                self.event(out, "dead_end", json!({ "node": node.name }));
                self.end(out, true)
            }
        }
    }

    /// Ends the call: optionally says goodbye, then hangs up.
    pub(crate) fn end(&mut self, out: &mut Vec<Action>, goodbye: bool) -> Option<NodeId> {
        if goodbye {
            self.say_builtin(Builtin::Goodbye, out);
        }
        out.push(Action::Hangup);
        self.finished = true;
        self.wait = Wait::Nothing;
        None
    }

    // ---- inputs ----

    fn dispatch(&mut self, input: Input, out: &mut Vec<Action>) -> Option<NodeId> {
        match input {
            Input::Hangup => {
                self.event(out, "caller_hangup", json!({ "node": self.current_node() }));
                self.finished = true;
                self.wait = Wait::Nothing;
                None
            }
            Input::Sentiment(score) => {
                if !score.is_finite() {
                    return None;
                }
                self.sentiment = Some(score);
                if f64::from(score) <= self.plan.plan.settings.negative_sentiment {
                    self.event(out, "sentiment", json!({ "score": score }));
                    self.wait = Wait::Nothing;
                    self.escalate("sentiment", out)
                } else {
                    None
                }
            }
            Input::WebhookResult(result) => {
                if self.wait == Wait::Webhook {
                    self.webhook_result(result, out)
                } else {
                    None
                }
            }
            Input::Digit(_) | Input::Speech { .. } | Input::NoInput => {
                let plan = self.plan.clone();
                let node = plan.plan.node(self.node)?;
                match self.wait.clone() {
                    Wait::Nothing | Wait::Webhook => None,
                    Wait::Listen => self.on_listen(node, input, out),
                    Wait::ConfirmIntent(m) => self.on_confirm_intent(node, m, input, out),
                    Wait::Confirm => self.on_confirm(node, input, out),
                    Wait::Collect(keys) => self.on_collect(node, keys, input, out),
                    Wait::CollectConfirm(v) => self.on_collect_confirm(node, v, input, out),
                    Wait::FaqQuestion => self.on_faq_question(node, input, out),
                    Wait::FaqConfirm => self.on_faq_confirm(node, input, out),
                }
            }
        }
    }

    // ---- shared helpers for the steps ----

    pub(crate) fn scope(&self, masked: bool) -> Scope<'_> {
        Scope {
            session: self,
            masked,
        }
    }

    pub(crate) fn input_options(node: &Node) -> Option<&InputOptions> {
        match &node.step {
            Step::Listen(l) => Some(&l.input),
            Step::Collect(c) => Some(&c.input),
            Step::Confirm(c) => Some(&c.input),
            Step::Faq(f) => Some(&f.input),
            _ => None,
        }
    }

    fn barge_in(&self, node: &Node) -> bool {
        Session::input_options(node)
            .and_then(|o| o.barge_in)
            .unwrap_or(self.plan.plan.settings.barge_in)
    }

    pub(crate) fn max_retries(&self, node: &Node) -> u32 {
        Session::input_options(node)
            .and_then(|o| o.max_retries)
            .unwrap_or(self.plan.plan.settings.max_retries)
    }

    /// Emits the `Listen` for the current node's waiting step.
    pub(crate) fn listen(&mut self, node: &Node, out: &mut Vec<Action>) {
        let opts = Session::input_options(node);
        let mode = opts.map_or(InputMode::Both, |o| o.mode);
        let timeout = opts
            .and_then(|o| o.timeout)
            .unwrap_or(self.plan.plan.settings.no_input);
        let confirming = matches!(
            self.wait,
            Wait::ConfirmIntent(_) | Wait::CollectConfirm(_) | Wait::FaqConfirm
        );
        let (hints, slot) = self.plan.speech_hints(node, &self.language, confirming);
        let sensitive = matches!(&node.step, Step::Collect(c) if c.sensitive);
        out.push(Action::Listen {
            mode,
            timeout,
            hints,
            slot,
            sensitive,
        });
    }

    /// Says a prompt (rendered; masked in the transcript) and remembers it for `repeat`.
    pub(crate) fn say(
        &mut self,
        prompt: &Prompt,
        attempt: usize,
        barge_in: bool,
        out: &mut Vec<Action>,
    ) {
        let plan = self.plan.clone();
        let p = &plan.plan;
        let Some(variant) = prompt.variant(&self.language, &p.language) else {
            return;
        };
        let Some(template) = variant
            .attempts
            .get(attempt)
            .or_else(|| variant.attempts.last())
        else {
            return;
        };
        let language = variant
            .language
            .clone()
            .unwrap_or_else(|| p.language.clone());
        let voice = variant.voice.clone().or_else(|| p.settings.voice.clone());
        let rate = variant.rate.or(p.settings.rate);
        self.say_template(template, language, voice, rate, barge_in, out);
    }

    fn say_template(
        &mut self,
        template: &Template,
        language: String,
        voice: Option<String>,
        rate: Option<u32>,
        barge_in: bool,
        out: &mut Vec<Action>,
    ) {
        let text = template.render_in(&self.scope(false), &language);
        let masked = template.render_in(&self.scope(true), &language);
        self.say_text(text, masked, language, voice, rate, barge_in, out);
    }

    /// Says a text; `masked` is what the transcript keeps.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn say_text(
        &mut self,
        text: String,
        masked: String,
        language: String,
        voice: Option<String>,
        rate: Option<u32>,
        barge_in: bool,
        out: &mut Vec<Action>,
    ) {
        if text.trim().is_empty() {
            return;
        }
        let sensitive = text != masked;
        self.turn(Who::Engine, masked.clone());
        let action = Action::Say {
            text,
            language,
            voice,
            rate,
            barge_in,
            sensitive,
        };
        self.last_prompt.push(Said {
            action: action.clone(),
            masked,
        });
        out.push(action);
    }

    /// Says plain text in the call's language with the plan's voice.
    pub(crate) fn say_plain(&mut self, text: String, masked: String, out: &mut Vec<Action>) {
        let p = &self.plan.plan;
        let (voice, rate, barge_in) = (
            p.settings.voice.clone(),
            p.settings.rate,
            p.settings.barge_in,
        );
        let language = self.language.clone();
        self.say_text(text, masked, language, voice, rate, barge_in, out);
    }

    pub(crate) fn say_builtin(&mut self, b: Builtin, out: &mut Vec<Action>) {
        let t = b.text(&self.language).to_owned();
        self.say_plain(t.clone(), t, out);
    }

    /// Says a failure prompt from the plan (the `attempt`-th) or the built-in one.
    pub(crate) fn say_failure(
        &mut self,
        node: &Node,
        prompt: Option<&Prompt>,
        fallback: Builtin,
        out: &mut Vec<Action>,
    ) {
        let attempt = self.retries.saturating_sub(1) as usize;
        match prompt {
            Some(p) => {
                let barge_in = self.barge_in(node);
                self.say(p, attempt, barge_in, out);
            }
            None => self.say_builtin(fallback, out),
        }
    }

    pub(crate) fn turn(&mut self, who: Who, text: String) {
        let node = self.current_node().to_owned();
        let at_ms = self.at_ms();
        self.transcript.push(Turn {
            who,
            text,
            node,
            at_ms,
        });
    }

    /// Records what the caller said or keyed (masked when the current step is sensitive).
    pub(crate) fn caller_turn(&mut self, text: &str, sensitive: bool) -> String {
        let t = if sensitive {
            mask(text)
        } else {
            text.to_owned()
        };
        self.turn(Who::Caller, t.clone());
        t
    }

    pub(crate) fn event(&mut self, out: &mut Vec<Action>, name: &str, data: Value) {
        out.push(Action::Event {
            name: name.to_owned(),
            data,
        });
    }

    /// Records an accepted value of a slot.
    pub(crate) fn store_slot(
        &mut self,
        name: &str,
        value: Value,
        sensitive: bool,
        out: &mut Vec<Action>,
    ) {
        if sensitive && !self.sensitive.iter().any(|n| n == name) {
            self.sensitive.push(name.to_owned());
        }
        let shown = if sensitive {
            mask_value(&value)
        } else {
            value.clone()
        };
        self.slots.insert(name.to_owned(), value);
        let node = self.current_node().to_owned();
        self.event(
            out,
            "slot",
            json!({ "node": node, "slot": name, "value": shown }),
        );
    }
}

/// The waiting state a step starts in.
pub(crate) fn base_wait(step: &Step) -> Wait {
    match step {
        Step::Listen(_) => Wait::Listen,
        Step::Collect(_) => Wait::Collect(String::new()),
        Step::Confirm(_) => Wait::Confirm,
        Step::Faq(_) => Wait::FaqQuestion,
        _ => Wait::Nothing,
    }
}

fn node_id(plan: &CompiledPlan, node: &Node) -> NodeId {
    plan.plan.node_id(&node.name).unwrap_or(NodeId::UNRESOLVED)
}
