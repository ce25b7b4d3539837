//! `webhook`: the request sent to the engine and the answer merged under `webhook.*`.

use serde_json::{json, Map, Value};

use crate::model::{Method, NodeId, Step, Webhook};

use super::session::{Session, Wait};
use super::Action;

impl Session {
    /// Asks the engine to call the webhook; the node's prompts wait for the answer.
    pub(crate) fn start_webhook(&mut self, w: &Webhook, out: &mut Vec<Action>) -> Option<NodeId> {
        let body = match w.method {
            Method::Get => Value::Null,
            Method::Post => self.webhook_body(w),
        };
        out.push(Action::Webhook {
            url: w.url.clone(),
            method: w.method,
            timeout: w.timeout,
            retries: w.retries,
            body,
        });
        self.wait = Wait::Webhook;
        None
    }

    /// `{call_id, plan, caller: {number}, slots, vars, intent}`: slots are those listed in
    /// `send` (sensitive ones too), or every non-sensitive slot.
    pub(crate) fn webhook_body(&self, w: &Webhook) -> Value {
        let slots: Map<String, Value> = match &w.send {
            Some(names) => names
                .iter()
                .filter_map(|n| Some((n.name.clone(), self.slots.get(&n.name)?.clone())))
                .collect(),
            None => self
                .slots
                .iter()
                .filter(|(k, _)| !self.sensitive.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        json!({
            "call_id": self.call.call_id,
            "plan": self.plan.plan.name,
            "caller": { "number": self.call.caller },
            "slots": slots,
            "vars": self.vars,
            "intent": self.intent.as_ref().map(|i| json!({
                "name": i.name, "confidence": i.confidence, "text": i.masked_text,
            })),
        })
    }

    /// The webhook's answer: merged under `webhook.*`, then the node's prompts and `next`; an
    /// error goes to `on_error`, or escalates.
    pub(crate) fn webhook_result(
        &mut self,
        result: Result<Value, String>,
        out: &mut Vec<Action>,
    ) -> Option<NodeId> {
        self.wait = Wait::Nothing;
        let plan = self.plan.clone();
        let node = plan.plan.node(self.node)?;
        let Step::Webhook(w) = &node.step else {
            return None;
        };
        let result = match result {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err("bad_body".to_owned()),
            Err(e) => Err(e),
        };
        match result {
            Ok(m) => {
                self.event(
                    out,
                    "webhook",
                    json!({ "node": node.name, "url": w.url, "keys": m.keys().collect::<Vec<_>>() }),
                );
                self.webhook.extend(m);
                self.node_prompt(node, 0, out);
                self.next_of(node, out)
            }
            Err(error) => {
                self.event(
                    out,
                    "webhook_error",
                    json!({ "node": node.name, "url": w.url, "error": error }),
                );
                match &w.on_error {
                    Some(t) => Some(t.node),
                    None => self.escalate("webhook", out),
                }
            }
        }
    }
}
