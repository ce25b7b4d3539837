//! `listen` (intents by speech or key, the "Did you mean …?" band), `confirm` (yes/no), global
//! intents, and the failure path shared by every step that waits for the caller.

use serde_json::json;

use crate::model::{Node, NodeId, Step};
use crate::nlu::{parse_slot, Scored, SlotKind};

use super::prompts::{did_you_mean, Builtin};
use super::session::{base_wait, IntentMatch, Session, Wait};
use super::{Action, Input};

impl Session {
    /// Input while a `listen` waits.
    pub(crate) fn on_listen(
        &mut self,
        node: &Node,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        let Step::Listen(l) = &node.step else {
            return None;
        };
        let plan = self.plan.clone();
        let candidates: Vec<&str> = l
            .intents
            .iter()
            .map(|n| n.name.as_str())
            .chain(plan.globals().iter().map(String::as_str))
            .collect();
        let matcher = plan.matcher(&self.language);
        match input {
            Input::Digit(d) => {
                let key = d.to_string();
                self.caller_turn(&key, false);
                match matcher.and_then(|m| m.match_dtmf(&key, Some(&candidates))) {
                    Some(name) => {
                        let m = IntentMatch {
                            name: name.to_owned(),
                            confidence: 1.0,
                            text: key.clone(),
                            masked_text: key,
                        };
                        self.take_intent(node, m, None, out)
                    }
                    None => self.failure(node, "no_match", out),
                }
            }
            Input::Speech { text, .. } => {
                self.caller_turn(&text, false);
                let ranking = matcher.map(|m| m.rank(&text, Some(&candidates)));
                let Some(ranking) = ranking else {
                    return self.failure(node, "no_match", out);
                };
                let settings = &plan.plan.settings;
                let Some(best) = ranking.best.clone() else {
                    return self.failure(node, "no_match", out);
                };
                let conf = f64::from(best.confidence);
                let m = IntentMatch {
                    name: best.intent.clone(),
                    confidence: best.confidence,
                    text: text.clone(),
                    masked_text: text,
                };
                if conf >= settings.confirm_threshold.max(settings.intent_threshold) {
                    self.take_intent(node, m, ranking.runner_up, out)
                } else if conf >= settings.intent_threshold {
                    self.event(
                        out,
                        "did_you_mean",
                        json!({ "node": node.name, "intent": m.name, "confidence": m.confidence }),
                    );
                    let label = self.intent_label(&m.name);
                    let q = did_you_mean(&label, &self.language);
                    self.say_plain(q.clone(), q, out);
                    self.wait = Wait::ConfirmIntent(m);
                    self.listen(node, out);
                    None
                } else {
                    self.event(
                        out,
                        "low_confidence",
                        json!({ "node": node.name, "best": best.intent, "confidence": best.confidence }),
                    );
                    self.failure(node, "no_match", out)
                }
            }
            Input::NoInput => self.failure(node, "no_input", out),
            _ => None,
        }
    }

    /// Input after "Did you mean …?": yes takes the intent, no is a no-match, anything else is
    /// heard as a new answer to the `listen`.
    pub(crate) fn on_confirm_intent(
        &mut self,
        node: &Node,
        m: IntentMatch,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        if input == Input::NoInput {
            return self.failure(node, "no_input", out);
        }
        match self.yes_no(&input) {
            Some(answer) => {
                self.input_turn(&input, false);
                if answer {
                    self.take_intent(node, m, None, out)
                } else {
                    self.failure(node, "no_match", out)
                }
            }
            None => {
                self.wait = Wait::Listen;
                self.on_listen(node, input, out)
            }
        }
    }

    /// Input while a `confirm` step waits: outcomes `yes` and `no`.
    pub(crate) fn on_confirm(
        &mut self,
        node: &Node,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        if input == Input::NoInput {
            return self.failure(node, "no_input", out);
        }
        self.input_turn(&input, false);
        match self.yes_no(&input) {
            Some(answer) => {
                let outcome = if answer { "yes" } else { "no" };
                self.event(
                    out,
                    "confirm",
                    json!({ "node": node.name, "answer": outcome }),
                );
                match node.on_target(outcome) {
                    Some(t) => Some(t.node),
                    None => self.next_of(node, out),
                }
            }
            None => match self.global(&input, false) {
                Some(m) => self.take_intent(node, m, None, out),
                None => self.failure(node, "no_match", out),
            },
        }
    }

    /// A yes/no answer: speech parsed as yes/no, or key 1 (yes) / 2 (no).
    pub(crate) fn yes_no(&self, input: &Input) -> Option<bool> {
        match input {
            Input::Digit('1') => Some(true),
            Input::Digit('2') => Some(false),
            Input::Speech { text, .. } => {
                let today = self.local_now().date();
                parse_slot(SlotKind::YesNo, text, &self.language, today).and_then(|v| v.as_bool())
            }
            _ => None,
        }
    }

    /// Records a key or speech in the transcript.
    pub(crate) fn input_turn(&mut self, input: &Input, sensitive: bool) -> String {
        match input {
            Input::Digit(d) => self.caller_turn(&d.to_string(), sensitive),
            Input::Speech { text, .. } => self.caller_turn(text, sensitive),
            _ => String::new(),
        }
    }

    /// A global intent in a key or speech (outside `listen`, where globals are ranked with the
    /// node's intents). `masked`: the text is masked in `intent.text`.
    pub(crate) fn global(&self, input: &Input, masked: bool) -> Option<IntentMatch> {
        let plan = self.plan.clone();
        let globals: Vec<&str> = plan.globals().iter().map(String::as_str).collect();
        if globals.is_empty() {
            return None;
        }
        let matcher = plan.matcher(&self.language)?;
        let mask = |t: &str| {
            if masked {
                super::vars::mask(t)
            } else {
                t.to_owned()
            }
        };
        match input {
            Input::Digit(d) => {
                let key = d.to_string();
                let name = matcher.match_dtmf(&key, Some(&globals))?;
                Some(IntentMatch {
                    name: name.to_owned(),
                    confidence: 1.0,
                    masked_text: mask(&key),
                    text: key,
                })
            }
            Input::Speech { text, .. } => {
                let threshold = plan.plan.settings.confirm_threshold as f32;
                let ranking = matcher.rank(text, Some(&globals));
                let best = ranking.accepted(threshold)?;
                Some(IntentMatch {
                    name: best.intent.clone(),
                    confidence: best.confidence,
                    masked_text: mask(text),
                    text: text.clone(),
                })
            }
            _ => None,
        }
    }

    /// An intent was recognised: the node's `on` entry, a built-in global (`agent`, `repeat`,
    /// `help`, `goodbye`), a custom global's top-level `on` entry, or the node's `next`.
    pub(crate) fn take_intent(
        &mut self,
        node: &Node,
        m: IntentMatch,
        runner_up: Option<Scored>,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        self.intents.push((m.name.clone(), m.confidence));
        self.event(
            out,
            "intent",
            json!({
                "node": node.name,
                "name": m.name,
                "confidence": m.confidence,
                "runner_up": runner_up.map(|r| json!({ "name": r.intent, "confidence": r.confidence })),
            }),
        );
        let name = m.name.clone();
        self.intent = Some(m);
        self.wait = Wait::Nothing;
        if let Some(t) = node.on_target(&name) {
            return Some(t.node);
        }
        let plan = self.plan.clone();
        let global = plan.plan.intent(&name).is_some_and(|i| i.global);
        if !global {
            return self.next_of(node, out);
        }
        match name.as_str() {
            "agent" => self.escalate("asked", out),
            "goodbye" => self.end(out, true),
            "repeat" => {
                self.repeat(node, out);
                None
            }
            "help" => {
                match &node.help {
                    Some(h) => {
                        let saved = std::mem::take(&mut self.last_prompt);
                        self.say(h, 0, plan.plan.settings.barge_in, out);
                        self.last_prompt = saved;
                    }
                    None => self.resay_last(out),
                }
                self.wait = base_wait(&node.step);
                self.listen(node, out);
                None
            }
            other => match plan.plan.global_target(other) {
                Some(t) => Some(t.node),
                None => self.failure(node, "no_match", out),
            },
        }
    }

    /// Says the last prompt again and waits again.
    fn repeat(&mut self, node: &Node, out: &mut Vec<Action>) {
        self.resay_last(out);
        self.wait = base_wait(&node.step);
        self.listen(node, out);
    }

    fn resay_last(&mut self, out: &mut Vec<Action>) {
        let last = self.last_prompt.clone();
        for s in last {
            self.turn(super::Who::Engine, s.masked.clone());
            out.push(s.action);
        }
    }

    /// A no-input or no-match: the n-th failure prompt and the node's prompt again, or — after
    /// `max_retries` failures — escalation. A `listen` may take over with `on: { no_input: …,
    /// no_match: … }`.
    pub(crate) fn failure(
        &mut self,
        node: &Node,
        kind: &str,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        self.retries += 1;
        self.event(
            out,
            kind,
            json!({ "node": node.name, "retries": self.retries }),
        );
        self.wait = Wait::Nothing;
        if matches!(node.step, Step::Listen(_)) {
            if let Some(t) = node.on_target(kind) {
                return Some(t.node);
            }
        }
        if self.retries > self.max_retries(node) {
            if matches!(node.step, Step::Faq(_)) {
                if let Some(t) = node.on_target("unanswered") {
                    return Some(t.node);
                }
            }
            return self.escalate("retries", out);
        }
        let no_input = kind == "no_input";
        let (prompt, fallback) = match &node.step {
            Step::Listen(l) if no_input => (l.no_input.as_ref(), Builtin::NoInput),
            Step::Listen(l) => (l.no_match.as_ref(), Builtin::NoMatch),
            Step::Collect(c) if !no_input => (c.retry.as_ref(), Builtin::NoMatch),
            Step::Faq(_) if !no_input => (None, Builtin::NoAnswer),
            _ if no_input => (None, Builtin::NoInput),
            _ => (None, Builtin::NoMatch),
        };
        self.say_failure(node, prompt, fallback, out);
        self.node_prompt(node, self.retries as usize, out);
        self.wait = base_wait(&node.step);
        self.listen(node, out);
        None
    }

    /// How "Did you mean …?" names an intent: its first example in the call's language, else
    /// its name with spaces.
    fn intent_label(&self, name: &str) -> String {
        let plan = &self.plan.plan;
        plan.intent(name)
            .and_then(|i| i.examples_for(&self.language, &plan.language).next())
            .map_or_else(|| name.replace('_', " "), str::to_owned)
    }
}
