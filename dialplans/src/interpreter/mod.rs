//! The dial-plan interpreter: one [`Session`] per call, a pure state machine.
//!
//! The engine feeds [`Input`]s (a key, a recognition result, a no-input timeout, a webhook's
//! answer, a sentiment score, the caller hanging up) together with the current time, and gets
//! [`Action`]s back (say, play, listen, call a webhook, enqueue, transfer, voicemail, hang up,
//! and [`Action::Event`]s for the call log). The session does no I/O and reads no clock.
//!
//! ```text
//!            start(now)
//!                │
//!                ▼
//!   ┌──────► enter node ──(webhook)──► Waiting(Webhook) ──WebhookResult──┐
//!   │            │                                                       │
//!   │            ▼                                                       │
//!   │      say / play ◄──────────────────────────────────────────────────┘
//!   │            │
//!   │            ▼
//!   │   step: listen/collect/confirm/faq ──► Waiting(caller) ──input──► match?
//!   │            │ set/branch/goto/call/return          │ no (n ≤ max_retries): retry prompt
//!   │            │                                      │ no (n > max_retries): escalate
//!   └──── next / on ◄───────────────────────────────────┘ yes
//!                │
//!   enqueue/transfer/voicemail/hangup ──► Finished (only Event after this)
//! ```
//!
//! Escalation ([`Handoff::reason`]): `retries` (a waiting step failed `max_retries + 1` times),
//! `asked` (the global `agent` intent), `sentiment` (a score at or below
//! `settings.negative_sentiment`), `loop` (a node entered more than ten times), `webhook` (a
//! webhook failed and the node has no `on_error`); an `enqueue` reached by the plan itself says
//! `plan`. Without `settings.escalate_to` the caller hears goodbye and is hung up on.
//!
//! Sensitive slots (`collect: { sensitive: true }`) are spoken with `Say { sensitive: true }` and
//! masked (`****5678`) in every [`Turn`], [`Action::Event`] and [`Handoff`].
//!
//! ```
//! use ivr_dialplans::interpreter::{Action, CallInfo, CompiledPlan, Input, Session};
//!
//! let plan = ivr_dialplans::load_str("p.yaml", r#"
//! version: 1
//! name: p
//! language: en-US
//! intents:
//!   hours: { examples: ["when are you open"], dtmf: "1" }
//! start: main
//! nodes:
//!   main:
//!     say: "Hello."
//!     listen: { intents: [hours] }
//!     on: { hours: bye }
//!   bye:
//!     hangup: { say: "We are open nine to five. Goodbye." }
//! "#).unwrap();
//! let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").unwrap().to_utc();
//! let mut session = Session::new(CompiledPlan::new(plan), CallInfo::new("c1", "+15551230000"));
//! let actions = session.start(now);
//! assert!(matches!(&actions[1], Action::Say { text, .. } if text == "Hello."));
//! let actions = session.handle(Input::Digit('1'), now);
//! assert!(matches!(actions.last(), Some(Action::Hangup)));
//! assert!(session.is_finished());
//! ```

mod collect;
mod compiled;
mod escalation;
mod faq;
mod listen;
mod prompts;
mod session;
mod vars;
mod webhook;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::model::{InputMode, Method, SlotType};
pub use compiled::{CompiledPlan, StaticPrompt};
pub use session::{IntentMatch, Session};
pub use vars::mask;

/// What the engine knows about a call when it starts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallInfo {
    /// The call's id (for `call.id` and webhooks).
    pub call_id: String,
    /// The caller: a number, or the user part of the From URI (`caller.number`).
    pub caller: String,
    /// The dialed number (user part of the To URI).
    pub called: String,
    /// Initial `vars.*` (an outbound campaign's data, …). `vars.language` set to one of the plan's
    /// languages selects the call's language; `vars.caller_name` fills `caller.name`.
    pub vars: Map<String, Value>,
}

impl CallInfo {
    /// A call with an id and a caller, nothing else.
    pub fn new(call_id: &str, caller: &str) -> CallInfo {
        CallInfo {
            call_id: call_id.to_owned(),
            caller: caller.to_owned(),
            ..CallInfo::default()
        }
    }
}

/// What happened on the call, fed to [`Session::handle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// One key, as pressed (`0-9 * # A-D`); the engine sends each key at once.
    Digit(char),
    /// A final recognition result (or typed text in `ivr chat`).
    Speech {
        /// What was recognised.
        text: String,
        /// The recogniser's confidence, 0..1.
        confidence: f32,
    },
    /// The timer armed by the last [`Action::Listen`] expired.
    NoInput,
    /// The answer to the last [`Action::Webhook`]: the JSON body, or the error kind (`timeout`,
    /// `connect`, `status`, `bad_body`).
    WebhookResult(Result<Value, String>),
    /// The speech layer's sentiment score for the last turn, -1..1. Produces no `Listen`: it is
    /// not caller input, and only acts when it escalates.
    Sentiment(f32),
    /// The caller hung up: the session finishes and answers with one final `Event`.
    Hangup,
}

/// What the engine should do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Speak a text.
    Say {
        /// The text, rendered (sensitive values included: never log it when `sensitive`).
        text: String,
        /// BCP 47 tag of the text.
        language: String,
        /// TTS voice.
        voice: Option<String>,
        /// Speaking rate in words per minute.
        rate: Option<u32>,
        /// Whether the caller may interrupt it.
        barge_in: bool,
        /// The text holds a sensitive slot: speak it, do not log or store it.
        sensitive: bool,
    },
    /// Play a recorded prompt.
    Play {
        /// The WAV file (relative paths resolved against the plan file's folder).
        file: PathBuf,
        /// Repeat until the next prompt or step.
        looped: bool,
        /// Whether the caller may interrupt it.
        barge_in: bool,
    },
    /// Wait for the caller: the engine arms a `timeout` timer that starts when queued prompts
    /// have finished playing; any input cancels it; expiry sends [`Input::NoInput`].
    Listen {
        /// Which input counts.
        mode: InputMode,
        /// Silence before [`Input::NoInput`].
        timeout: Duration,
        /// Phrases for a speech grammar: the examples of the intents that can match here.
        hints: Vec<String>,
        /// What kind of answer is expected, for a speech grammar: the slot type of a `collect`,
        /// [`SlotType::YesNo`] for confirmations, `None` for intents.
        slot: Option<SlotType>,
        /// The answer is a sensitive slot: recognise it, but never log, store or record it.
        sensitive: bool,
    },
    /// Call an HTTP endpoint; the engine answers with [`Input::WebhookResult`].
    Webhook {
        /// The URL.
        url: String,
        /// POST or GET.
        method: Method,
        /// Per-attempt timeout.
        timeout: Duration,
        /// Extra attempts after a timeout or 5xx.
        retries: u32,
        /// The JSON body (`{call_id, plan, caller: {number}, slots, vars, intent}`).
        body: Value,
    },
    /// Hand the caller to a call-center queue (the session is finished).
    Enqueue {
        /// Queue name.
        queue: String,
        /// Priority (higher first).
        priority: i64,
        /// Skills an agent needs.
        skills: Vec<String>,
        /// What the agent sees.
        context: Handoff,
    },
    /// Blind-transfer the call (the session is finished).
    Transfer {
        /// SIP URI or number.
        target: String,
    },
    /// Record a message (the session is finished).
    Voicemail {
        /// Mailbox name.
        mailbox: String,
        /// Longest recording.
        max_length: Duration,
    },
    /// Hang up (the session is finished).
    Hangup,
    /// For the call's event log: `node`, `intent`, `no_input`, `no_match`, `slot` (masked when
    /// sensitive), `escalation`, `webhook`, `webhook_error`, `faq`, `caller_hangup`, ….
    Event {
        /// Event name.
        name: String,
        /// Event details.
        data: Value,
    },
}

/// Everything said and done so far: what an agent needs so the caller never repeats themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// Why the caller is handed over: `asked`, `retries`, `sentiment`, `loop`, `webhook`, `plan`.
    pub reason: String,
    /// The conversation so far (sensitive values masked).
    pub transcript: Vec<Turn>,
    /// Every intent recognised, with its confidence, in order.
    pub intents: Vec<(String, f32)>,
    /// The slots (sensitive ones masked).
    pub slots: Map<String, Value>,
    /// The slots the `enqueue` step asked to show first (`context: [...]`).
    pub context: Vec<String>,
    /// The nodes entered, in order.
    pub path: Vec<String>,
    /// The last sentiment score.
    pub sentiment: Option<f32>,
    /// The call's language.
    pub language: String,
    /// Time since the call started, in milliseconds.
    pub duration_ms: u64,
}

/// One line of the transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Who spoke.
    pub who: Who,
    /// What was said or keyed (sensitive values masked).
    pub text: String,
    /// The node the call was in.
    pub node: String,
    /// Milliseconds since the call started.
    pub at_ms: u64,
}

/// The speaker of a [`Turn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Who {
    /// The caller (speech or keys).
    Caller,
    /// The engine (prompts).
    Engine,
}
