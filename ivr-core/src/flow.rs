//! Runs a dial plan inside a call: turns the interpreter's actions into audio, timers and
//! requests, and the call's events into the interpreter's inputs.
//!
//! ```text
//!  caller keys ──▶ Input::Digit ─┐                  ┌─▶ Say ──▶ TTS (off the call task) ──▶ playout queue
//!  no-input timer ▶ Input::NoInput ├─▶ Session ─────┼─▶ Play ──▶ playout queue
//!  webhook answer ▶ Input::WebhookResult            ├─▶ Listen ─▶ no-input timer (counts ticks once prompts end)
//!                                                   ├─▶ Webhook ─▶ HTTP (off the call task)
//!                                                   ├─▶ Enqueue / Transfer / Voicemail / Hangup ─▶ after prompts end
//!                                                   └─▶ Event ──▶ events.jsonl
//! ```
//!
//! The interpreter is pure; this driver owns the timing. A timer counts media ticks, so there is
//! no timer per call. Synthesis and webhooks run in their own tasks and answer through the call's
//! command channel, so a slow backend never stalls the call's audio. If synthesis fails (engine
//! busy or broken), the sentence is skipped and logged; the keypad still works.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ivr_dialplans::interpreter::{Action, CallInfo, Input, Session};
use ivr_media::audio::wav::EncodedPrompt;
use ivr_speech::tts::{CachedSynthesizer, EspeakSynthesizer, SpeakRequest};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::call::CallEvent;
use crate::clock::FRAME;
use crate::events::EventLog;
use crate::plans::LoadedPlan;
use crate::playout::Playout;
use crate::webhook::{self, WebhookClient, WebhookRequest};

/// The engine's text-to-speech.
pub type Tts = CachedSynthesizer<EspeakSynthesizer>;

/// What the plan asked to happen once the prompts have been played.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Hang up.
    Hangup,
    /// Blind transfer to a SIP URI.
    Transfer(String),
    /// Record a message.
    Voicemail {
        /// The mailbox.
        mailbox: String,
        /// Longest message.
        max_length: Duration,
    },
    /// Wait in a queue, hearing hold audio.
    Queue(String),
}

/// What the call should do after a step of the flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Keep going.
    Continue,
    /// The prompts are done and the plan ended the conversation this way.
    End(Ending),
}

/// Services a flow needs, shared by every call.
#[derive(Clone)]
pub struct FlowServices {
    /// Text-to-speech.
    pub tts: Arc<Tts>,
    /// Webhook HTTP client.
    pub webhooks: WebhookClient,
    /// Hold audio for queued callers.
    pub hold: Option<Arc<EncodedPrompt>>,
}

/// One call's conversation.
pub struct Flow {
    session: Session,
    plan: Arc<LoadedPlan>,
    services: FlowServices,
    tx: mpsc::UnboundedSender<CallEvent>,
    call_id: String,
    /// Ticks left before no-input, counting only while nothing plays.
    listen: Option<u64>,
    ending: Option<Ending>,
}

impl Flow {
    /// A conversation for `call_id` from `caller` to `called` on `plan`; results of background
    /// work come back on `tx`.
    pub fn new(
        plan: Arc<LoadedPlan>,
        services: FlowServices,
        tx: mpsc::UnboundedSender<CallEvent>,
        call_id: &str,
        caller: &str,
        called: &str,
    ) -> Flow {
        let info = CallInfo {
            call_id: call_id.into(),
            caller: caller.into(),
            called: called.into(),
            ..CallInfo::default()
        };
        let session = Session::new(plan.compiled.clone(), info);
        Flow {
            session,
            plan,
            services,
            tx,
            call_id: call_id.into(),
            listen: None,
            ending: None,
        }
    }

    /// Starts the conversation (after the caller's ACK).
    pub fn start(&mut self, playout: &mut Playout, events: &EventLog) {
        events.emit(
            &self.call_id,
            "plan",
            json!({
                "plan": self.plan.name(),
                "version": self.plan.version(),
                "fingerprint": self.plan.fingerprint,
            }),
        );
        let actions = self.session.start(Utc::now());
        self.apply(actions, playout, events);
    }

    /// A key from the caller.
    pub fn digit(&mut self, digit: char, playout: &mut Playout, events: &EventLog) {
        self.input(Input::Digit(digit), playout, events);
    }

    /// Speech the recognizer finalised.
    pub fn speech(
        &mut self,
        text: String,
        confidence: f32,
        playout: &mut Playout,
        events: &EventLog,
    ) {
        self.input(Input::Speech { text, confidence }, playout, events);
    }

    /// A webhook answered.
    pub fn webhook_done(
        &mut self,
        result: Result<Value, String>,
        playout: &mut Playout,
        events: &EventLog,
    ) {
        self.input(Input::WebhookResult(result), playout, events);
    }

    /// The caller hung up.
    pub fn hangup(&mut self, events: &EventLog) {
        let mut scratch = Playout::default();
        let actions = self.session.handle(Input::Hangup, Utc::now());
        self.apply(actions, &mut scratch, events);
    }

    /// One media tick: counts the no-input timer while nothing plays; reports the ending once
    /// the prompts are done.
    pub fn tick(&mut self, playout: &mut Playout, events: &EventLog) -> Next {
        if !playout.is_idle() {
            return Next::Continue;
        }
        if let Some(left) = &mut self.listen {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.input(Input::NoInput, playout, events);
                return Next::Continue;
            }
        }
        match self.ending.take() {
            Some(Ending::Queue(queue)) => {
                // Hold audio until the caller hangs up (the queue keeps them; nothing else ends it).
                if let Some(hold) = &self.services.hold {
                    playout.push(hold.clone(), true, false);
                }
                Next::End(Ending::Queue(queue))
            }
            Some(end) => Next::End(end),
            None => Next::Continue,
        }
    }

    fn input(&mut self, input: Input, playout: &mut Playout, events: &EventLog) {
        if self.session.is_finished() {
            return;
        }
        self.listen = None;
        let actions = self.session.handle(input, Utc::now());
        self.apply(actions, playout, events);
    }

    fn apply(&mut self, actions: Vec<Action>, playout: &mut Playout, events: &EventLog) {
        for action in actions {
            match action {
                Action::Say {
                    text,
                    language,
                    voice,
                    rate,
                    barge_in,
                    sensitive,
                } => {
                    let shown = if sensitive {
                        "[sensitive]"
                    } else {
                        text.as_str()
                    };
                    debug!(text = %shown, "say");
                    events.emit(
                        &self.call_id,
                        "say",
                        json!({"text": shown, "language": language}),
                    );
                    let token = playout.reserve(barge_in);
                    let tts = self.services.tts.clone();
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let req = SpeakRequest {
                            text,
                            language,
                            voice,
                            rate,
                        };
                        let audio = match tts.speak(&req).await {
                            Ok(s) => Some(s.encoded.clone()),
                            Err(e) => {
                                warn!(error = %e, "speech synthesis failed; sentence skipped");
                                None
                            }
                        };
                        let _ = tx.send(CallEvent::Spoken { token, audio });
                    });
                }
                Action::Play {
                    file,
                    looped,
                    barge_in,
                } => match self.plan.audio.get(&file) {
                    Some(a) => playout.push(a.clone(), looped, barge_in),
                    None => events.emit(
                        &self.call_id,
                        "play_failed",
                        json!({"file": file.display().to_string()}),
                    ),
                },
                Action::Listen { timeout, .. } => {
                    let t = (timeout.as_millis() / FRAME.as_millis()).max(1) as u64;
                    self.listen = Some(t);
                }
                Action::Webhook {
                    url,
                    method,
                    timeout,
                    retries,
                    body,
                } => {
                    let req = WebhookRequest {
                        url,
                        method: match method {
                            ivr_dialplans::Method::Get => webhook::Method::Get,
                            ivr_dialplans::Method::Post => webhook::Method::Post,
                        },
                        timeout,
                        retries,
                        body,
                    };
                    let client = self.services.webhooks.clone();
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let (result, _) = client.call(&req).await;
                        let _ = tx.send(CallEvent::WebhookDone(
                            result.map_err(|e| e.kind().to_string()),
                        ));
                    });
                }
                Action::Enqueue {
                    queue,
                    priority,
                    skills,
                    context,
                } => {
                    events.emit(
                        &self.call_id,
                        "enqueued",
                        json!({"queue": queue, "priority": priority, "skills": skills, "context": context}),
                    );
                    self.ending = Some(Ending::Queue(queue));
                }
                Action::Transfer { target } => self.ending = Some(Ending::Transfer(target)),
                Action::Voicemail {
                    mailbox,
                    max_length,
                } => {
                    self.ending = Some(Ending::Voicemail {
                        mailbox,
                        max_length,
                    })
                }
                Action::Hangup => self.ending = Some(Ending::Hangup),
                Action::Event { name, data } => events.emit(&self.call_id, &name, data),
            }
        }
    }
}

/// Where a voicemail for `mailbox` from `call_id` is written.
pub fn voicemail_path(data: &std::path::Path, mailbox: &str, call_id: &str) -> PathBuf {
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    data.join("voicemail")
        .join(safe(mailbox))
        .join(format!("{}.wav", safe(call_id)))
}
