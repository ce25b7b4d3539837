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
use ivr_dialplans::interpreter::{Action, CallInfo, Input, InputMode, Session};
use ivr_media::audio::wav::EncodedPrompt;
use ivr_media::audio::Frame8k;
use ivr_speech::asr::{AsrError, AsrPool, Transcript};
use ivr_speech::sentiment::Prosody;
use ivr_speech::tts::{CachedSynthesizer, EspeakSynthesizer, SpeakRequest};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::call::CallEvent;
use crate::clock::FRAME;
use crate::config::SpeechConfig;
use crate::events::EventLog;
use crate::hearing::{self, Heard, Hearing};
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
    /// Speech recognition (`None`: callers use the keypad).
    pub asr: Option<AsrPool>,
    /// Voice activity and barge-in settings.
    pub speech: Arc<SpeechConfig>,
    /// What the stored call record masks (`[privacy] store_unredacted` turns all but card
    /// numbers off; screen pops and events are masked whatever it says).
    pub stored: crate::privacy::redact::RedactConfig,
}

/// A finished utterance, as the call task hands it back to the flow.
#[derive(Debug)]
pub struct Recognized {
    /// The recogniser's answer.
    pub result: Result<Transcript, AsrError>,
    /// How it was said.
    pub prosody: Prosody,
    /// The answer is a sensitive slot.
    pub sensitive: bool,
    /// The call's language.
    pub language: String,
    /// Length of the utterance.
    pub spoken: Duration,
    /// When the caller stopped speaking (the endpointer's decision).
    pub ended_at: std::time::Instant,
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
    hearing: Hearing,
    /// The keypad fallback was announced (once per call).
    fallback_said: bool,
    /// The plan waits for a sensitive answer: keys are not logged.
    sensitive_input: bool,
    /// How the plan ended the conversation, for the call record.
    ended_as: Option<Ending>,
    /// Calling and called numbers.
    caller: String,
    called: String,
    /// What the plan's `enqueue` asked for: priority, skills and the handoff.
    queued: Option<(i32, Vec<String>, ivr_dialplans::interpreter::Handoff)>,
    /// A waiting caller asking to be called back.
    booking: crate::callback::Booking,
    /// The caller's call back was booked (the goodbye that follows ends the call).
    booked: bool,
    /// This call is the engine calling a caller back: no plan runs, the caller rejoins the
    /// queue.
    callback: Option<crate::callback::CallbackTicket>,
    /// Answering-machine screening: the plan starts once it is done ([`crate::amd`]).
    amd: Option<crate::amd::Screening>,
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
        Flow::with_vars(
            plan,
            services,
            tx,
            call_id,
            caller,
            called,
            Default::default(),
        )
    }

    /// A conversation that starts with `vars` set (an outbound call's data: name, appointment
    /// time …, as `vars.*`). For an outbound call `caller` is the person called.
    pub fn with_vars(
        plan: Arc<LoadedPlan>,
        services: FlowServices,
        tx: mpsc::UnboundedSender<CallEvent>,
        call_id: &str,
        caller: &str,
        called: &str,
        vars: serde_json::Map<String, Value>,
    ) -> Flow {
        let info = CallInfo {
            call_id: call_id.into(),
            caller: caller.into(),
            called: called.into(),
            vars,
        };
        let session = Session::new(plan.compiled.clone(), info);
        let hearing = Hearing::new(services.asr.clone(), &services.speech);
        Flow {
            session,
            plan,
            services,
            tx,
            call_id: call_id.into(),
            listen: None,
            ending: None,
            hearing,
            fallback_said: false,
            sensitive_input: false,
            ended_as: None,
            caller: caller.into(),
            called: called.into(),
            queued: None,
            booking: Default::default(),
            booked: false,
            callback: None,
            amd: None,
        }
    }

    /// Screens the callee of an outbound call for an answering machine before the plan starts,
    /// when the plan asks for it (`settings.amd`); see [`crate::amd`].
    pub fn with_amd(mut self, settings: &crate::amd::AmdSettings) -> Flow {
        if self.plan.compiled.plan().settings.amd && self.callback.is_none() {
            self.amd = Some(crate::amd::Screening::new(settings));
        }
        self
    }

    /// Whether the callee's audio goes to the answering-machine detector now (the plan waits:
    /// feed [`Flow::screen`] every tick).
    pub fn screening(&self) -> bool {
        self.amd
            .as_ref()
            .is_some_and(crate::amd::Screening::is_listening)
    }

    /// One 20 ms frame of the callee (silence when none arrived) while screening: reports the
    /// verdict (event `amd`, `call.amd`) and starts the plan once it may.
    pub fn screen(&mut self, callee: &Frame8k, playout: &mut Playout, events: &EventLog) {
        let Some(s) = &mut self.amd else {
            return;
        };
        if let Some(v) = s.push(callee) {
            debug!(
                verdict = crate::amd::verdict_name(v.kind),
                "answering-machine detection"
            );
            events.emit(&self.call_id, "amd", crate::amd::verdict_event(&v));
            self.session.set_amd(crate::amd::verdict_name(v.kind));
        }
        if let Some(ready) = s.poll_ready() {
            if let Some(data) = crate::amd::beep_event(&ready) {
                events.emit(&self.call_id, "amd_beep", data);
            }
            self.start_plan(playout, events);
        }
    }

    /// The engine's call back for `ticket`: when answered the caller hears a greeting and
    /// rejoins the queue (see [`Flow::callback_ticket`]) instead of running the plan.
    pub fn for_callback(mut self, ticket: crate::callback::CallbackTicket) -> Flow {
        self.callback = Some(ticket);
        self
    }

    /// The call back this call places, if it is one.
    pub fn callback_ticket(&self) -> Option<&crate::callback::CallbackTicket> {
        self.callback.as_ref()
    }

    /// Starts the conversation (after the caller's ACK).
    pub fn start(&mut self, playout: &mut Playout, events: &EventLog) {
        if let Some(t) = self.callback.clone() {
            return self.start_callback(t, playout, events);
        }
        if self.amd.as_mut().is_some_and(crate::amd::Screening::begin) {
            // The plan starts from `screen`, once the verdict is known.
            return;
        }
        self.start_plan(playout, events);
    }

    fn start_plan(&mut self, playout: &mut Playout, events: &EventLog) {
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

    /// Whether the plan is waiting for a sensitive answer (keys pressed now must not be logged).
    pub fn sensitive_input(&self) -> bool {
        self.sensitive_input && !self.session.is_finished()
    }

    /// Whether the caller's audio is wanted (decoded every frame and handed to [`Flow::hear`]).
    pub fn wants_audio(&self) -> bool {
        self.hearing.is_listening()
    }

    /// One 20 ms frame of the caller (silence when none arrived) and what the engine sent at the
    /// same time: voice activity, barge-in and recognition.
    pub fn hear(
        &mut self,
        caller: &Frame8k,
        engine: Option<&Frame8k>,
        playout: &mut Playout,
        events: &EventLog,
    ) {
        match self.hearing.frame(caller, engine, playout.state()) {
            Heard::Nothing => {}
            Heard::Started => debug!("caller speaking"),
            Heard::BargeIn => {
                playout.barge_in();
                events.emit(&self.call_id, "barge_in", json!({"by": "speech"}));
            }
            Heard::Ended(u) => {
                let hearing::Utterance {
                    stream,
                    prosody,
                    sensitive,
                    language,
                    spoken,
                } = *u;
                let tx = self.tx.clone();
                let ended_at = std::time::Instant::now();
                tokio::spawn(async move {
                    let result = stream.finish().await;
                    let _ = tx.send(CallEvent::Recognized(Box::new(Recognized {
                        result,
                        prosody,
                        sensitive,
                        language,
                        spoken,
                        ended_at,
                    })));
                });
            }
            Heard::Unavailable(e) => self.keypad_fallback(&e, playout, events),
        }
    }

    /// The recogniser answered an utterance.
    pub fn recognized(&mut self, r: Recognized, playout: &mut Playout, events: &EventLog) {
        self.hearing.finished();
        let t = match r.result {
            Ok(t) => t,
            Err(e) => {
                self.keypad_fallback(&e, playout, events);
                return;
            }
        };
        let score = ivr_speech::sentiment::score(&t.text, &r.language, Some(&r.prosody)).score;
        // What callers say in free speech may hold a card or account number: the event keeps
        // it masked, and the answer to a sensitive question not at all.
        let redactor = crate::privacy::redact::Redactor::new(Default::default());
        let shown = if r.sensitive {
            std::borrow::Cow::Borrowed("[sensitive]")
        } else {
            redactor.redact(&t.text)
        };
        debug!(text = %shown, confidence = t.confidence, "recognized");
        events.emit(
            &self.call_id,
            "recognized",
            json!({
                "text": shown,
                "confidence": (t.confidence * 1000.0).round() / 1000.0,
                "sentiment": (score * 1000.0).round() / 1000.0,
                "spoken_ms": r.spoken.as_millis() as u64,
                "asr_ms": t.latency.as_millis() as u64,
                "wait_ms": r.ended_at.elapsed().as_millis() as u64,
            }),
        );
        if !r.sensitive {
            self.input(Input::Sentiment(score), playout, events);
        }
        self.input(
            Input::Speech {
                text: t.text,
                confidence: t.confidence,
            },
            playout,
            events,
        );
    }

    /// Recognition is not available for this turn: say so once and carry on by keypad.
    fn keypad_fallback(&mut self, e: &AsrError, playout: &mut Playout, events: &EventLog) {
        warn!(error = %e, "speech recognition unavailable; the caller is asked for keys");
        events.emit(
            &self.call_id,
            "asr_unavailable",
            json!({"error": e.to_string()}),
        );
        if self.fallback_said {
            return;
        }
        self.fallback_said = true;
        let language = self.session.language().to_string();
        let text = if language.to_ascii_lowercase().starts_with("zh") {
            "请使用电话按键。"
        } else {
            "Please use your telephone keypad."
        };
        self.speak(text.into(), language, None, None, true, playout);
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

    /// One media tick: counts the no-input timer while nothing plays and the caller is not
    /// speaking; reports the ending once the prompts are done.
    pub fn tick(&mut self, playout: &mut Playout, events: &EventLog) -> Next {
        if !playout.is_idle() || self.hearing.is_busy() {
            return Next::Continue;
        }
        if let Some(left) = &mut self.listen {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.input(Input::NoInput, playout, events);
                return Next::Continue;
            }
        }
        if self.ending.is_some() {
            self.ended_as.clone_from(&self.ending);
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
        if self.session.is_finished() || self.callback.is_some() || self.screening() {
            return;
        }
        if !matches!(input, Input::Sentiment(_) | Input::WebhookResult(_)) {
            self.listen = None;
            self.hearing.stop();
        }
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
                    self.speak(text, language, voice, rate, barge_in, playout);
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
                Action::Listen {
                    timeout,
                    mode,
                    hints,
                    slot,
                    sensitive,
                } => {
                    let t = (timeout.as_millis() / FRAME.as_millis()).max(1) as u64;
                    self.listen = Some(t);
                    self.sensitive_input = sensitive;
                    if mode != InputMode::Dtmf {
                        let g = hearing::grammar(self.session.language(), &hints, slot.as_ref());
                        self.hearing.listen(g, sensitive);
                    }
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
                    let priority = i32::try_from(priority).unwrap_or(i32::MAX);
                    self.queued = Some((priority, skills, context));
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

impl Flow {
    /// Fills the call record from the conversation (path, intents, slots, where it went) and
    /// returns its transcript, redacted: sensitive slots are already masked by the dial plan,
    /// and card, ID, phone and account numbers said in free speech are masked here.
    pub fn record(&self, cdr: &mut crate::store::Cdr) -> Vec<crate::store::Turn> {
        use crate::store::{IntentScore, Outcome, SlotValue, Speaker, Turn};
        use ivr_dialplans::interpreter::Who;
        let handoff = self.session.handoff();
        let redactor = self.redactor(&handoff, self.services.stored.clone());
        cdr.node_path = handoff.path.clone();
        cdr.intents = handoff
            .intents
            .iter()
            .map(|(name, score)| IntentScore {
                name: name.clone(),
                score: *score,
            })
            .collect();
        cdr.slots = handoff
            .slots
            .iter()
            .map(|(name, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                SlotValue {
                    name: name.clone(),
                    value: redactor.redact(&text).into_owned(),
                    sensitive: self.session.is_sensitive(name),
                }
            })
            .collect();
        cdr.amd = self
            .amd
            .as_ref()
            .and_then(crate::amd::Screening::verdict)
            .map(|v| crate::amd::verdict_name(v.kind).to_string());
        match &self.ended_as {
            Some(Ending::Queue(q)) => {
                cdr.outcome = Some(Outcome::Transferred);
                cdr.queue = Some(q.clone());
            }
            Some(Ending::Transfer(_)) => cdr.outcome = Some(Outcome::Transferred),
            _ => {}
        }
        handoff
            .transcript
            .iter()
            .enumerate()
            .map(|(i, t)| Turn {
                call_id: cdr.call_id.clone(),
                seq: i as u32,
                who: match t.who {
                    Who::Caller => Speaker::Caller,
                    Who::Engine => Speaker::Ivr,
                },
                text: redactor.redact(&t.text).into_owned(),
                node: Some(t.node.clone()),
                at_ms: t.at_ms,
            })
            .collect()
    }

    /// Masks card, ID, phone and account numbers, and the values of sensitive slots wherever
    /// they turn up (said again, read back).
    fn redactor(
        &self,
        handoff: &ivr_dialplans::interpreter::Handoff,
        config: crate::privacy::redact::RedactConfig,
    ) -> crate::privacy::redact::Redactor {
        let mut redactor = crate::privacy::redact::Redactor::new(config);
        let secrets: Vec<String> = handoff
            .slots
            .keys()
            .filter(|k| self.session.is_sensitive(k))
            .filter_map(|k| self.session.slot(k))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        redactor.redact_values(&secrets);
        redactor
    }

    /// The request to queue the caller, once the plan reached its `enqueue` (with the screen
    /// pop redacted like the call record).
    pub fn queued_call(&self) -> Option<crate::center::QueuedCall> {
        let (priority, skills, handoff) = self.queued.clone()?;
        let Some(Ending::Queue(queue)) = &self.ended_as else {
            return None;
        };
        let mut handoff = handoff;
        let redactor = self.redactor(&handoff, Default::default());
        for turn in &mut handoff.transcript {
            turn.text = redactor.redact(&turn.text).into_owned();
        }
        for value in handoff.slots.values_mut() {
            if let Some(text) = value.as_str() {
                *value = Value::String(redactor.redact(text).into_owned());
            }
        }
        let sensitive = handoff
            .slots
            .keys()
            .filter(|k| self.session.is_sensitive(k))
            .cloned()
            .collect();
        Some(crate::center::QueuedCall {
            call_id: self.call_id.clone(),
            caller: self.caller.clone(),
            called: self.called.clone(),
            plan: self.plan.name().to_string(),
            queue: queue.clone(),
            priority,
            skills,
            handoff,
            sensitive,
            tx: self.tx.clone(),
            callback: self.callback.as_ref().map(|t| t.key.clone()),
        })
    }

    /// Loops the hold audio (the caller waits for an agent, or is held by one).
    pub fn hold_audio(&self, playout: &mut Playout) {
        if let Some(hold) = &self.services.hold {
            playout.push(hold.clone(), true, false);
        }
    }

    fn chinese(&self) -> bool {
        self.session.language().starts_with("zh")
    }

    /// Tells a waiting caller their place in line, then goes back to the hold audio.
    pub fn announce_position(
        &mut self,
        position: usize,
        estimated_wait: Option<Duration>,
        playout: &mut Playout,
    ) {
        let minutes = estimated_wait.map(|w| w.as_secs().div_ceil(60).max(1));
        let text = match (self.chinese(), minutes) {
            (true, Some(m)) => format!("您现在排在第{position}位，预计等待约{m}分钟。"),
            (true, None) => format!("您现在排在第{position}位，请稍候。"),
            (false, Some(1)) => format!(
                "You are number {position} in line. Your estimated wait is about one minute."
            ),
            (false, Some(m)) => format!(
                "You are number {position} in line. Your estimated wait is about {m} minutes."
            ),
            (false, None) => format!("You are number {position} in line. Please hold."),
        };
        playout.clear();
        let language = self.session.language().to_string();
        self.speak(text, language, None, None, false, playout);
        if self.booking.is_offered() {
            self.say_booking(&crate::callback::Prompt::Offer, playout);
        }
        self.hold_audio(playout);
    }

    /// The queue takes call-back requests: the caller hears how to ask (again at each
    /// position announcement).
    pub fn offer_callback(&mut self, playout: &mut Playout) {
        if self.callback.is_some() || self.booking != crate::callback::Booking::NotOffered {
            return;
        }
        self.booking.offer();
        playout.clear();
        self.say_booking(&crate::callback::Prompt::Offer, playout);
        self.hold_audio(playout);
    }

    /// A key pressed while waiting in a queue. Returns the number to call back once the
    /// caller confirmed it.
    pub fn queue_digit(&mut self, key: char, playout: &mut Playout) -> Option<String> {
        use crate::callback::{Prompt, Step};
        match self.booking.key(key, &self.caller) {
            Step::Nothing => None,
            Step::Say(prompt) => {
                playout.clear();
                self.say_booking(&prompt, playout);
                if prompt == Prompt::Hold {
                    self.hold_audio(playout);
                }
                None
            }
            Step::Book(number) => {
                playout.clear();
                Some(number)
            }
        }
    }

    /// The queue answered the call-back request: booked (goodbye, the engine hangs up) or
    /// refused (back to waiting).
    pub fn callback_booked(&mut self, booked: Result<String, String>, playout: &mut Playout) {
        use crate::callback::Prompt;
        playout.clear();
        match booked {
            Ok(number) => {
                self.booked = true;
                self.say_booking(&Prompt::Booked(number), playout);
                self.ending = Some(Ending::Hangup);
            }
            Err(_) => {
                self.booking = crate::callback::Booking::Asked;
                self.say_booking(&Prompt::Refused, playout);
                self.hold_audio(playout);
            }
        }
    }

    /// Whether the caller booked a call back (and the engine hangs up for that reason).
    pub fn booked_callback(&self) -> bool {
        self.booked
    }

    fn say_booking(&mut self, prompt: &crate::callback::Prompt, playout: &mut Playout) {
        let text = prompt.text(self.chinese());
        let language = self.session.language().to_string();
        self.speak(text, language, None, None, false, playout);
    }

    /// The engine's call back was answered: a greeting, then hold audio while the agent's
    /// phone rings; the call counts as queued from now on.
    fn start_callback(
        &mut self,
        t: crate::callback::CallbackTicket,
        playout: &mut Playout,
        events: &EventLog,
    ) {
        events.emit(
            &self.call_id,
            "callback_answered",
            json!({"request": t.key, "queue": t.queue}),
        );
        let language = if t.language.is_empty() {
            self.session.language().to_string()
        } else {
            t.language.clone()
        };
        let text = crate::callback::Prompt::Greeting.text(language.starts_with("zh"));
        self.speak(text, language.clone(), None, None, false, playout);
        self.hold_audio(playout);
        self.ended_as = Some(Ending::Queue(t.queue.clone()));
        let handoff = ivr_dialplans::interpreter::Handoff {
            reason: "callback".into(),
            transcript: Vec::new(),
            intents: Vec::new(),
            slots: Default::default(),
            context: Vec::new(),
            path: Vec::new(),
            sentiment: None,
            language,
            duration_ms: 0,
        };
        self.queued = Some((t.priority, Vec::new(), handoff));
    }

    /// The queue gave up on the caller (closed, full, waited too long): an apology, then a
    /// message to `voicemail`'s mailbox or a goodbye.
    pub fn leave_queue(&mut self, voicemail: Option<String>, playout: &mut Playout) {
        let text = match (self.chinese(), voicemail.is_some()) {
            (true, true) => "抱歉，所有坐席都在忙。请在提示音后留言。",
            (true, false) => "抱歉，所有坐席都在忙，请稍后再拨。再见。",
            (false, true) => {
                "Sorry, all our agents are busy. Please leave a message after the tone."
            }
            (false, false) => "Sorry, all our agents are busy. Please call again later. Goodbye.",
        };
        playout.clear();
        let language = self.session.language().to_string();
        self.speak(text.to_string(), language, None, None, false, playout);
        self.ending = Some(match voicemail {
            Some(mailbox) => Ending::Voicemail {
                mailbox,
                max_length: Duration::from_secs(120),
            },
            None => Ending::Hangup,
        });
    }

    /// Queues synthesized speech: a place in the playout queue now, the audio when the
    /// synthesizer answers (off the call task).
    fn speak(
        &mut self,
        text: String,
        language: String,
        voice: Option<String>,
        rate: Option<u32>,
        barge_in: bool,
        playout: &mut Playout,
    ) {
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
            let started = std::time::Instant::now();
            let audio = match tts.speak(&req).await {
                Ok(s) => Some(s.encoded.clone()),
                Err(e) => {
                    warn!(error = %e, "speech synthesis failed; sentence skipped");
                    None
                }
            };
            let _ = tx.send(CallEvent::Spoken {
                token,
                audio,
                took: started.elapsed(),
            });
        });
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
