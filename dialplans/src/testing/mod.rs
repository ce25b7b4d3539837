//! Running plans without a phone: the conversation-test runner of `ivr test` ([`run_file`]) and
//! the text chat of `ivr chat` ([`Chat`]).
//!
//! Both drive an [`interpreter::Session`](crate::interpreter::Session) directly and answer its
//! webhooks from canned answers by URL, so nothing leaves the process.

mod chat;
mod runner;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::interpreter::{Action, Input, Session};

pub use chat::Chat;
pub use runner::{
    parse_tests, run, run_file, Expect, ExpectEnqueue, Step, TestCase, TestFile, TestReport,
    TestResult,
};

/// Canned webhook answers by URL: a JSON body, or an error kind (`timeout`, `connect`,
/// `status`, `bad_body`).
pub type Webhooks = HashMap<String, Result<Value, String>>;

/// Most webhooks answered while handling one input (a plan that calls webhooks in a loop stops
/// here; the loop guard normally escalates long before).
const MAX_WEBHOOKS_PER_INPUT: usize = 50;

/// Feeds one input (or starts the call when `input` is `None`), then answers every webhook the
/// session asks for from `webhooks` (a URL not in the map gets the error `connect`). Returns every
/// action, the webhook answers included as `Event { name: "webhook_answer" }`.
pub(crate) fn drive(
    session: &mut Session,
    input: Option<Input>,
    now: DateTime<Utc>,
    webhooks: &Webhooks,
) -> Vec<Action> {
    let mut out = match input {
        Some(i) => session.handle(i, now),
        None => session.start(now),
    };
    let mut from = 0;
    for _ in 0..MAX_WEBHOOKS_PER_INPUT {
        let url = out[from..].iter().find_map(|a| match a {
            Action::Webhook { url, .. } => Some(url.clone()),
            _ => None,
        });
        let Some(url) = url else { break };
        let answer = webhooks
            .get(&url)
            .cloned()
            .unwrap_or_else(|| Err("connect".to_owned()));
        out.push(Action::Event {
            name: "webhook_answer".to_owned(),
            data: match &answer {
                Ok(v) => serde_json::json!({ "url": url, "body": v }),
                Err(e) => serde_json::json!({ "url": url, "error": e }),
            },
        });
        from = out.len();
        let more = session.handle(Input::WebhookResult(answer), now);
        out.extend(more);
    }
    out
}
