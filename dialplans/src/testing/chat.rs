//! `ivr chat`: talk to a plan as a caller, in text.
//!
//! Each line typed is one input: words are speech (confidence 1.0), `#123` presses keys 1, 2, 3
//! one after the other, an empty line is silence (the no-input timeout), `/vars` prints the
//! call's variables, `/sentiment -0.8` sends a sentiment score, `/quit` hangs up. The replies are
//! printable lines: `ivr: <said>` for prompts, and indented `[...]` lines for what happened
//! (intents with their scores, webhooks, slots, escalations, the ending).
//!
//! Webhooks are answered from the map given to [`Chat::with_webhooks`]; a URL not in it gets the
//! error `connect`, so authors see the plan's error path (`on_error`, or escalation).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::interpreter::{Action, CallInfo, CompiledPlan, Input, Session};

use super::{drive, Webhooks};

/// A text conversation with a plan; time is passed in by the caller (fixed or real).
#[derive(Debug)]
pub struct Chat {
    session: Session,
    webhooks: Webhooks,
    quit: bool,
}

impl Chat {
    /// A chat as the caller `caller` (`caller.number`).
    pub fn new(plan: Arc<CompiledPlan>, caller: &str) -> Chat {
        Chat {
            session: Session::new(plan, CallInfo::new("chat", caller)),
            webhooks: Webhooks::new(),
            quit: false,
        }
    }

    /// Canned webhook answers by URL (others fail with `connect`).
    pub fn with_webhooks(mut self, webhooks: Webhooks) -> Chat {
        self.webhooks = webhooks;
        self
    }

    /// Starts the call: what the plan says first.
    pub fn start(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let actions = drive(&mut self.session, None, now, &self.webhooks);
        self.lines(&actions)
    }

    /// One typed line (see the module documentation); returns the lines to print.
    pub fn input(&mut self, line: &str, now: DateTime<Utc>) -> Vec<String> {
        let line = line.trim();
        if line == "/vars" {
            let pretty =
                serde_json::to_string_pretty(&self.session.vars_snapshot()).unwrap_or_default();
            return pretty.lines().map(|l| format!("  {l}")).collect();
        }
        if line == "/quit" {
            self.quit = true;
            let actions = self.session.handle(Input::Hangup, now);
            let mut out = self.lines(&actions);
            out.push("  [caller hung up]".to_owned());
            return out;
        }
        if self.session.is_finished() {
            return vec!["  [the call has ended: /quit to leave]".to_owned()];
        }
        let inputs: Vec<Input> = if let Some(score) = line.strip_prefix("/sentiment") {
            match score.trim().parse::<f32>() {
                Ok(s) => vec![Input::Sentiment(s)],
                Err(_) => return vec!["  [usage: /sentiment -0.8]".to_owned()],
            }
        } else if line.is_empty() {
            vec![Input::NoInput]
        } else if let Some(keys) = line.strip_prefix('#').filter(|k| !k.is_empty()) {
            keys.chars()
                .filter(|c| !c.is_whitespace())
                .map(Input::Digit)
                .collect()
        } else if line.starts_with('/') {
            return vec!["  [commands: /vars, /sentiment <score>, /quit]".to_owned()];
        } else {
            vec![Input::Speech {
                text: line.to_owned(),
                confidence: 1.0,
            }]
        };
        let mut actions = Vec::new();
        for input in inputs {
            actions.extend(drive(&mut self.session, Some(input), now, &self.webhooks));
        }
        self.lines(&actions)
    }

    /// Whether the call has ended or the user typed `/quit`.
    pub fn is_finished(&self) -> bool {
        self.quit || self.session.is_finished()
    }

    /// The session, for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn lines(&self, actions: &[Action]) -> Vec<String> {
        actions.iter().filter_map(line).collect()
    }
}

/// The printable line of an action (`None` for those not shown: listens, node entries…).
fn line(a: &Action) -> Option<String> {
    Some(match a {
        Action::Say { text, .. } => format!("ivr: {text}"),
        Action::Play { file, looped, .. } => format!(
            "ivr: [play {}{}]",
            file.display(),
            if *looped { " (loop)" } else { "" }
        ),
        Action::Listen { .. } => return None,
        Action::Webhook { url, method, .. } => {
            let m = match method {
                crate::model::Method::Get => "GET",
                crate::model::Method::Post => "POST",
            };
            format!("  [webhook {m} {url}]")
        }
        Action::Enqueue {
            queue,
            priority,
            context,
            ..
        } => format!(
            "  [enqueue {queue} priority {priority} reason {} — {} turns, path {}]",
            context.reason,
            context.transcript.len(),
            context.path.join(" → ")
        ),
        Action::Transfer { target } => format!("  [transfer {target}]"),
        Action::Voicemail {
            mailbox,
            max_length,
        } => format!("  [voicemail {mailbox}, up to {}s]", max_length.as_secs()),
        Action::Hangup => "  [hangup]".to_owned(),
        Action::Event { name, data } => return event_line(name, data),
    })
}

fn event_line(name: &str, d: &Value) -> Option<String> {
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let f = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
    Some(match name {
        "intent" => {
            let mut l = format!(
                "  [node {}] intent {} {:.2}",
                s("node"),
                s("name"),
                f(d.get("confidence"))
            );
            if let Some(r) = d.get("runner_up").filter(|r| !r.is_null()) {
                let rn = r.get("name").and_then(Value::as_str).unwrap_or("");
                l.push_str(&format!(" (runner-up {rn} {:.2})", f(r.get("confidence"))));
            }
            l
        }
        "did_you_mean" => format!(
            "  [node {}] unsure: {} {:.2}",
            s("node"),
            s("intent"),
            f(d.get("confidence"))
        ),
        "low_confidence" => format!(
            "  [node {}] no match (best {} {:.2})",
            s("node"),
            s("best"),
            f(d.get("confidence"))
        ),
        "no_input" | "no_match" => format!(
            "  [node {}] {name} ({} so far)",
            s("node"),
            d.get("retries").and_then(Value::as_u64).unwrap_or(0)
        ),
        "slot" => format!(
            "  [slot {} = {}]",
            s("slot"),
            d.get("value").map(crate::expr::as_text).unwrap_or_default()
        ),
        "escalation" => format!("  [escalation: {} at {}]", s("reason"), s("node")),
        "webhook_answer" => match d.get("error") {
            Some(e) => format!("  [webhook answer: error {}]", crate::expr::as_text(e)),
            None => format!(
                "  [webhook answer: {}]",
                d.get("body").unwrap_or(&Value::Null)
            ),
        },
        "webhook_error" => format!("  [webhook error {} → on_error or escalation]", s("error")),
        "faq" => format!(
            "  [node {}] faq {:?} {:.2}",
            s("node"),
            d.get("question").and_then(Value::as_str).unwrap_or(""),
            f(d.get("confidence"))
        ),
        "condition_error" | "dead_end" | "runaway" | "loop" | "sentiment" => {
            format!("  [{name} {d}]")
        }
        _ => return None,
    })
}
