//! Escalation: handing a stuck or unhappy caller to a person, and the handoff context.

use serde_json::json;

use crate::model::NodeId;

use super::session::{Session, Wait};
use super::{Action, Handoff};

impl Session {
    /// Escalates the caller: to `settings.escalate_to`, or goodbye and hang up when the plan has
    /// none or an escalation already happened while handling this input.
    pub(crate) fn escalate(&mut self, reason: &str, out: &mut Vec<Action>) -> Option<NodeId> {
        self.event(
            out,
            "escalation",
            json!({ "reason": reason, "node": self.current_node() }),
        );
        self.wait = Wait::Nothing;
        let target = self.plan.plan.settings.escalate_to.as_ref().map(|t| t.node);
        match target {
            Some(t) if !self.escalating => {
                self.escalating = true;
                self.reason = Some(reason.to_owned());
                Some(t)
            }
            _ => self.end(out, true),
        }
    }

    pub(crate) fn handoff_with(&self, reason: String, context: Vec<String>) -> Handoff {
        Handoff {
            reason,
            transcript: self.transcript.clone(),
            intents: self.intents.clone(),
            slots: self.masked_slots(),
            context,
            path: self.path.clone(),
            sentiment: self.sentiment,
            language: self.language.clone(),
            duration_ms: self.at_ms(),
        }
    }
}
