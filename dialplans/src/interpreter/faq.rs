//! `faq`: answer a question from the plan's knowledge base, then ask whether it helped
//! (outcomes `answered` and `unanswered`).

use serde_json::json;

use crate::model::{Node, NodeId, Step};

use super::prompts::Builtin;
use super::session::{Session, Wait};
use super::{Action, Input};

impl Session {
    /// Input while a `faq` step waits for a question.
    pub(crate) fn on_faq_question(
        &mut self,
        node: &Node,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        let Step::Faq(f) = &node.step else {
            return None;
        };
        if input == Input::NoInput {
            return self.failure(node, "no_input", out);
        }
        self.input_turn(&input, false);
        let plan = self.plan.clone();
        let threshold = f.threshold.unwrap_or(plan.plan.settings.intent_threshold) as f32;
        let found = match &input {
            Input::Speech { text, .. } => plan
                .faq_matcher(&self.language)
                .map(|m| m.rank(text, None))
                .and_then(|r| r.accepted(threshold).cloned()),
            _ => None,
        };
        let entry = found.as_ref().and_then(|s| {
            let i: usize = s.intent.strip_prefix("faq")?.parse().ok()?;
            Some((i, plan.plan.faq.get(i)?, s.confidence))
        });
        match entry {
            Some((index, e, confidence)) => {
                self.event(
                    out,
                    "faq",
                    json!({ "node": node.name, "entry": index, "question": e.questions.first(), "confidence": confidence }),
                );
                let barge_in = plan.plan.settings.barge_in;
                self.last_prompt.clear();
                self.say(&e.answer, 0, barge_in, out);
                match &f.confirm {
                    Some(p) => self.say(p, 0, barge_in, out),
                    None => self.say_builtin(Builtin::Answered, out),
                }
                self.wait = Wait::FaqConfirm;
                self.listen(node, out);
                None
            }
            None => match self.global(&input, false) {
                Some(m) => self.take_intent(node, m, None, out),
                None => self.failure(node, "no_match", out),
            },
        }
    }

    /// Input after "Did that answer your question?": yes → `answered`, no → `unanswered`,
    /// anything else is heard as another question.
    pub(crate) fn on_faq_confirm(
        &mut self,
        node: &Node,
        input: Input,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        if input == Input::NoInput {
            return self.failure(node, "no_input", out);
        }
        match self.yes_no(&input) {
            Some(answer) => {
                self.input_turn(&input, false);
                let outcome = if answer { "answered" } else { "unanswered" };
                self.event(
                    out,
                    "faq_outcome",
                    json!({ "node": node.name, "outcome": outcome }),
                );
                match node.on_target(outcome) {
                    Some(t) => Some(t.node),
                    None => self.next_of(node, out),
                }
            }
            None => {
                self.wait = Wait::FaqQuestion;
                self.on_faq_question(node, input, out)
            }
        }
    }
}
