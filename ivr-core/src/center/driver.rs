//! The center task: the router's inputs and outputs turned into calls, phones and streams.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_proto::v1;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::pop::Pop;
use super::{AcdSection, Input, LegStatus, QueueFallback, QueuedCall};
use crate::acd::{
    Acd, Action, AgentId, AgentStateKind, CallId, CallOutcome, Enqueue, Event, QueueName,
    SkillRequirement,
};
use crate::api::{AgentCard, EngineError, StateOutcome, WallboardSnapshot};
use crate::call::CallEvent;
use crate::control::LiveCalls;
use crate::events::EventLog;
use crate::signalling::Control;
use crate::store::{now_unix_ms, AgentStateChange, HangupSide};

/// The wallboard is republished at most this often (changes in between are coalesced).
const BOARD_INTERVAL: Duration = Duration::from_millis(100);

/// Agent events waiting for a slow desktop before new ones are dropped.
pub(crate) const STREAM_BUFFER: usize = 256;

/// A caller known to the center.
pub(crate) struct Slot {
    pub id: CallId,
    pub tx: mpsc::UnboundedSender<CallEvent>,
    pub queue: QueueName,
    /// The agent whose phone is dialled, or who talks with the caller.
    pub agent: Option<AgentId>,
    /// When the agent answered.
    pub connected_at: Option<Instant>,
    pub held: bool,
    /// A note from the agent who transferred the call, for the next agent.
    pub note: Option<String>,
    /// The caller hung up (the router is being told).
    pub gone: bool,
    /// The caller asked to be called back: the request this slot serves.
    pub callback: Option<super::callbacks::Request>,
}

/// A logged-in agent's desktop.
pub(crate) struct Desk {
    pub contact: String,
    pub display_name: String,
    pub queues: Vec<QueueName>,
    pub stream: Option<mpsc::Sender<v1::AgentEvent>>,
    /// Open offers: offer id → call.
    pub offers: HashMap<String, CallId>,
    /// The call being wrapped up.
    pub wrap_up: Option<String>,
}

/// The center task's state.
pub(crate) struct Driver {
    pub acd: Acd<Arc<Pop>>,
    pub section: AcdSection,
    pub control: mpsc::UnboundedSender<Control>,
    pub events: EventLog,
    live: Arc<LiveCalls>,
    board: watch::Sender<WallboardSnapshot>,
    /// Each queue's settings, as the router has them.
    queues: HashMap<QueueName, crate::acd::QueueConfig>,
    /// Callers by call id.
    pub calls: HashMap<String, Slot>,
    /// Call ids by router id.
    pub ids: HashMap<CallId, String>,
    next_call: u64,
    next_offer: u64,
    pub agents: HashMap<AgentId, Desk>,
    /// Who made the change being handled (for agent state events).
    pub changed_by: String,
    pub dirty: bool,
    published: Option<Instant>,
    /// The center task's own input, for work finishing elsewhere (weak: the task ends when
    /// the last [`Center`](super::Center) handle is gone).
    pub me: mpsc::WeakUnboundedSender<Input>,
    /// Call-back requests waiting for their next attempt.
    pub retries: Vec<super::callbacks::Retry>,
}

impl Driver {
    pub fn new(
        section: AcdSection,
        control: mpsc::UnboundedSender<Control>,
        events: EventLog,
        live: Arc<LiveCalls>,
        me: mpsc::WeakUnboundedSender<Input>,
    ) -> Result<(Driver, watch::Receiver<WallboardSnapshot>), crate::acd::ConfigErrors> {
        let router = section.router_config();
        let acd = Acd::new(router.clone())?;
        let queues = router.queues.into_iter().collect();
        let (board, rx) = watch::channel(WallboardSnapshot::default());
        let mut d = Driver {
            acd,
            section,
            control,
            events,
            live,
            board,
            queues,
            calls: HashMap::new(),
            ids: HashMap::new(),
            next_call: 1,
            next_offer: 1,
            agents: HashMap::new(),
            changed_by: "system".into(),
            dirty: true,
            published: None,
            me,
            retries: Vec::new(),
        };
        d.publish(Instant::now());
        Ok((d, rx))
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let timer = tokio::time::sleep_until(far.into());
        tokio::pin!(timer);
        loop {
            let now = Instant::now();
            self.due_retries(now);
            self.drain(now);
            let mut next = self.acd.poll_timeout().unwrap_or(far);
            if let Some(retry) = self.next_retry() {
                next = next.min(retry);
            }
            if self.dirty {
                next = next.min(self.published.map_or(now, |p| p + BOARD_INTERVAL));
            }
            timer.as_mut().reset(next.into());
            tokio::select! {
                input = rx.recv() => {
                    let Some(input) = input else { return };
                    self.input(input, Instant::now());
                    // Take whatever else is queued before the outputs are drained.
                    for _ in 0..64 {
                        match rx.try_recv() {
                            Ok(input) => self.input(input, Instant::now()),
                            Err(_) => break,
                        }
                    }
                }
                () = &mut timer => self.acd.handle_timeout(Instant::now()),
            }
        }
    }

    fn input(&mut self, input: Input, now: Instant) {
        self.changed_by = "system".into();
        match input {
            Input::Enqueue(call) => self.enqueue(*call, now),
            Input::CallEnded {
                call_id,
                side,
                cause,
            } => self.call_ended(&call_id, side, &cause, now),
            Input::Leg {
                call_id,
                agent,
                status,
            } => self.leg(&call_id, agent, status, now),
            Input::Job(job) => job(self, now),
            Input::Callback { call_id, number } => self.request_callback(&call_id, number, now),
            Input::CallbackFailed { key, reason } => self.callback_failed(&key, &reason, now),
        }
    }

    /// A fresh router id for a call.
    pub fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    fn enqueue(&mut self, q: QueuedCall, now: Instant) {
        let q = match q.callback.clone() {
            Some(key) => match self.callback_answered(q, &key, now) {
                None => return,
                Some(q) => {
                    // The request was cancelled or failed meanwhile.
                    let _ = q.tx.send(CallEvent::QueueFallback { voicemail: None });
                    return;
                }
            },
            None => q,
        };
        let id = self.new_call_id();
        let queue = QueueName::from(q.queue.as_str());
        let pop = Arc::new(Pop {
            call_id: q.call_id.clone(),
            caller: q.caller,
            called: q.called,
            plan: q.plan,
            handoff: q.handoff,
            sensitive: q.sensitive,
            since: now,
        });
        self.calls.insert(
            q.call_id.clone(),
            Slot {
                id,
                tx: q.tx.clone(),
                queue: queue.clone(),
                agent: None,
                connected_at: None,
                held: false,
                note: None,
                gone: false,
                callback: None,
            },
        );
        self.ids.insert(id, q.call_id.clone());
        let req = Enqueue {
            call: id,
            queue,
            priority: q.priority,
            skills: q.skills.iter().map(|s| SkillRequirement::any(s)).collect(),
            context: pop,
        };
        if let Err(e) = self.acd.enqueue(req, now) {
            warn!(call_id = %q.call_id, error = %e, "the call cannot be queued; falling back");
            self.events.emit(
                &q.call_id,
                "queue_error",
                json!({"queue": q.queue, "error": e.to_string()}),
            );
            self.forget(&q.call_id);
            let _ = q.tx.send(CallEvent::QueueFallback { voicemail: None });
        } else if self.section.queue(&q.queue).is_some_and(|s| s.callback) {
            // Still waiting once the router had its say: tell the caller they may be called back.
            let offered = self
                .agents
                .values()
                .any(|d| d.offers.values().any(|c| *c == id));
            if !offered && self.calls.contains_key(&q.call_id) {
                let _ = q.tx.send(CallEvent::CallbackOffered);
            }
        }
        self.dirty = true;
    }

    pub(super) fn forget(&mut self, call_id: &str) -> Option<Slot> {
        let slot = self.calls.remove(call_id)?;
        self.ids.remove(&slot.id);
        Some(slot)
    }

    fn call_ended(&mut self, call_id: &str, side: Option<HangupSide>, cause: &str, now: Instant) {
        let Some(slot) = self.calls.get_mut(call_id) else {
            return;
        };
        if let Some(request) = &slot.callback {
            if request.key == call_id && slot.connected_at.is_none() {
                // The caller hung up after booking a call back: the request keeps its place.
                slot.tx = mpsc::unbounded_channel().0;
                return;
            }
            if slot.connected_at.is_none() {
                // The caller answered the call back, then hung up before an agent came.
                if let Some(store) = self.events.store() {
                    store.complete_callback(&request.key, crate::store::CallbackStatus::Cancelled);
                }
            }
        }
        slot.gone = true;
        let (id, queue) = (slot.id, slot.queue.clone());
        match (slot.connected_at, slot.agent.clone()) {
            (Some(at), Some(agent)) => {
                if let Err(e) = self.acd.handle_call_ended(id, now) {
                    debug!(error = %e, "the router had already ended the talk");
                }
                let talk = now.saturating_duration_since(at);
                let wrap = self.queue_config(&queue).wrap_up;
                if let Some(desk) = self.agents.get_mut(&agent) {
                    desk.wrap_up = Some(call_id.to_string());
                }
                self.push(
                    &agent,
                    v1::agent_event::Event::Ended(v1::CallEnded {
                        call_id: call_id.to_string(),
                        hangup_side: side.map_or("system", HangupSide::as_str).to_string(),
                        hangup_cause: cause.to_string(),
                        talk_ms: ms(talk),
                    }),
                );
                self.push(
                    &agent,
                    v1::agent_event::Event::WrapUpStarted(v1::WrapUpStarted {
                        call_id: call_id.to_string(),
                        timeout_ms: ms(wrap),
                    }),
                );
            }
            (None, agent) => {
                if agent.is_some() {
                    // The agent's phone was being dialled: stop it.
                    let _ = self.control.send(Control::DropAgent {
                        call_id: call_id.to_string(),
                    });
                }
                // The router withdraws its offers (CancelOffer) and counts the abandon; the
                // withdrawals still name the call.
                if let Err(e) = self.acd.handle_abandon(id, now) {
                    debug!(error = %e, "the call had already left its queue");
                }
                self.drain(now);
            }
            (Some(_), None) => {}
        }
        self.forget(call_id);
        self.dirty = true;
    }

    fn leg(&mut self, call_id: &str, agent: AgentId, status: LegStatus, now: Instant) {
        let Some(slot) = self.calls.get_mut(call_id) else {
            // The caller is gone: hang the agent's phone up.
            let _ = self.control.send(Control::DropAgent {
                call_id: call_id.to_string(),
            });
            return;
        };
        if slot.agent.as_ref() != Some(&agent) || slot.connected_at.is_some() {
            let _ = self.control.send(Control::DropAgent {
                call_id: call_id.to_string(),
            });
            return;
        }
        let id = slot.id;
        match status {
            LegStatus::Ringing => {}
            LegStatus::Answered(media) => match self.acd.handle_offer_answered(id, &agent, now) {
                Ok(()) => {
                    slot.connected_at = Some(now);
                    let queue = slot.queue.clone();
                    if slot.tx.send(CallEvent::AgentConnected(media)).is_err() {
                        // The caller's task ended; its CallEnded is on its way.
                        debug!(call_id, "the caller left as the agent answered");
                    }
                    info!(call_id, agent = %agent, queue = %queue, "agent connected");
                    self.events.emit(
                        call_id,
                        "agent_connected",
                        json!({"agent": agent.as_str(), "queue": queue.as_str()}),
                    );
                    self.push(
                        &agent,
                        v1::agent_event::Event::Connected(v1::CallConnected {
                            call_id: call_id.to_string(),
                        }),
                    );
                    self.callback_connected(call_id);
                }
                Err(e) => {
                    debug!(call_id, error = %e, "the agent answered a withdrawn offer");
                    slot.agent = None;
                    let _ = self.control.send(Control::DropAgent {
                        call_id: call_id.to_string(),
                    });
                }
            },
            LegStatus::Failed(status) => {
                slot.agent = None;
                let callback = slot.callback.is_some();
                info!(call_id, agent = %agent, status = ?status, "the agent's phone did not answer");
                self.events.emit(
                    call_id,
                    "agent_failed",
                    json!({"agent": agent.as_str(), "status": status}),
                );
                self.push(
                    &agent,
                    v1::agent_event::Event::Ended(v1::CallEnded {
                        call_id: call_id.to_string(),
                        hangup_side: "agent".into(),
                        hangup_cause: "agent_unreachable".into(),
                        talk_ms: 0,
                    }),
                );
                if callback {
                    self.callback_failed(call_id, "agent_unreachable", now);
                } else {
                    let _ = self.acd.handle_offer_rejected(id, &agent, now);
                }
                // A phone that declines is the agent saying no; one that cannot be reached
                // would fail every call, so the agent is paused until it is fixed.
                if !matches!(status, Some(486 | 600 | 603)) {
                    let reason = match status {
                        Some(code) => format!("phone_unreachable ({code})"),
                        None => "phone_unreachable (timeout)".to_string(),
                    };
                    let _ = self
                        .acd
                        .set_state(&agent, crate::acd::Presence::Paused(reason), now);
                }
            }
        }
        self.dirty = true;
    }

    /// Acts on everything the router asked for and told.
    pub fn drain(&mut self, now: Instant) {
        while let Some(action) = self.acd.poll_action() {
            self.act(action, now);
        }
        while let Some(event) = self.acd.poll_event() {
            self.observe(event, now);
        }
        if self.dirty && self.published.is_none_or(|p| now >= p + BOARD_INTERVAL) {
            self.publish(now);
        }
    }

    fn act(&mut self, action: Action<Arc<Pop>>, now: Instant) {
        match action {
            Action::Offer {
                call,
                agent,
                queue,
                context,
            } => {
                let offer_id = format!("offer-{}", self.next_offer);
                self.next_offer += 1;
                let ring = self.queue_config(&queue).ring_timeout;
                let mut offer = context.offer(&offer_id, queue.as_str(), now, ring);
                if let Some(note) = self
                    .calls
                    .get(&context.call_id)
                    .and_then(|s| s.note.clone())
                {
                    offer.context.insert("transfer_note".into(), note);
                }
                match self.agents.get_mut(&agent) {
                    Some(desk) => {
                        desk.offers.insert(offer_id, call);
                    }
                    None => warn!(agent = %agent, "offer to an agent without a desk"),
                }
                self.events.emit(
                    &context.call_id,
                    "offered",
                    json!({"agent": agent.as_str(), "queue": queue.as_str()}),
                );
                self.push(&agent, v1::agent_event::Event::Offer(offer));
            }
            Action::CancelOffer { call, agent } => {
                let call_id = self.ids.get(&call).cloned().unwrap_or_default();
                let reason = match self.calls.get(&call_id) {
                    None => "caller_hung_up",
                    Some(s) if s.gone => "caller_hung_up",
                    Some(s) if s.connected_at.is_some() => "answered_elsewhere",
                    Some(_) => "timeout",
                };
                let placing = self.calls.get(&call_id).is_some_and(|s| {
                    s.callback.is_some()
                        && s.agent.as_ref() == Some(&agent)
                        && s.connected_at.is_none()
                });
                if placing {
                    // The call back took too long: this attempt failed.
                    self.callback_failed(&call_id, "timeout", now);
                }
                if let Some(slot) = self.calls.get_mut(&call_id) {
                    if slot.agent.as_ref() == Some(&agent) && slot.connected_at.is_none() {
                        slot.agent = None;
                        let _ = self.control.send(Control::DropAgent {
                            call_id: call_id.clone(),
                        });
                    }
                }
                let offer_id = self.agents.get_mut(&agent).and_then(|desk| {
                    let id = desk
                        .offers
                        .iter()
                        .find(|(_, c)| **c == call)
                        .map(|(id, _)| id.clone())?;
                    desk.offers.remove(&id);
                    Some(id)
                });
                self.push(
                    &agent,
                    v1::agent_event::Event::OfferWithdrawn(v1::OfferWithdrawn {
                        offer_id: offer_id.unwrap_or_default(),
                        call_id,
                        reason: reason.into(),
                    }),
                );
            }
            Action::Announce {
                call,
                position,
                estimated_wait,
            } => {
                if let Some(slot) = self.ids.get(&call).and_then(|id| self.calls.get(id)) {
                    let _ = slot.tx.send(CallEvent::QueuePosition {
                        position,
                        estimated_wait,
                    });
                }
            }
            Action::Fallback {
                call,
                queue,
                reason,
            } => {
                let Some(call_id) = self.ids.get(&call).cloned() else {
                    return;
                };
                let voicemail = match self.section.queue(queue.as_str()).map(|q| q.fallback) {
                    Some(QueueFallback::Hangup) => None,
                    _ => Some(queue.to_string()),
                };
                info!(call_id = %call_id, queue = %queue, ?reason, "queue fallback");
                self.events.emit(
                    &call_id,
                    "queue_fallback",
                    json!({"queue": queue.as_str(), "reason": reason}),
                );
                // The router's CallEnded that follows forgets the call.
                if let Some(slot) = self.calls.get(&call_id) {
                    let _ = slot.tx.send(CallEvent::QueueFallback { voicemail });
                }
            }
            Action::PlaceCallback {
                call,
                agent,
                queue,
                number,
                context,
            } => self.place_callback(call, agent, queue, number, context, now),
        }
    }

    fn observe(&mut self, event: Event, now: Instant) {
        match event {
            Event::AgentChanged(agent) => {
                self.dirty = true;
                let Some(stats) = self.acd.agent_stats(&agent, now) else {
                    return;
                };
                let reason = stats.reason.clone().unwrap_or_default();
                if let Some(store) = self.events.store() {
                    store.record_agent_state(AgentStateChange {
                        agent_id: agent.to_string(),
                        state: state_name(stats.state).into(),
                        reason: reason.clone(),
                        at_unix_ms: now_unix_ms(),
                    });
                }
                let changed_by = self.changed_by.clone();
                self.push(
                    &agent,
                    v1::agent_event::Event::StateChanged(v1::AgentStateChanged {
                        state: crate::api::agent_state_wire(stats.state) as i32,
                        reason,
                        changed_by,
                    }),
                );
                if stats.state == AgentStateKind::LoggedOut {
                    // The desk closes with the logout (its stream ends).
                    self.agents.remove(&agent);
                }
            }
            Event::QueueChanged(_) => self.dirty = true,
            Event::WrapUpEnded {
                agent,
                disposition,
                by_timer,
            } => {
                let call_id = self
                    .agents
                    .get_mut(&agent)
                    .and_then(|d| d.wrap_up.take())
                    .unwrap_or_default();
                self.push(
                    &agent,
                    v1::agent_event::Event::WrapUpEnded(v1::WrapUpEnded {
                        call_id,
                        disposition: disposition.unwrap_or_default(),
                        timed_out: by_timer,
                    }),
                );
            }
            Event::CallEnded {
                call,
                queue,
                outcome,
            } => {
                if let Some(call_id) = self.ids.get(&call).cloned() {
                    let label = match &outcome {
                        CallOutcome::Answered { .. } => "answered".to_string(),
                        CallOutcome::Abandoned => "abandoned".to_string(),
                        CallOutcome::Fallback(r) => format!("fallback_{}", fallback_name(*r)),
                    };
                    self.events.emit(
                        &call_id,
                        "queue_left",
                        json!({"queue": queue.as_str(), "outcome": label}),
                    );
                    // An answered call stays until its talk ends; any other leaves the center.
                    if !matches!(outcome, CallOutcome::Answered { .. }) {
                        self.forget(&call_id);
                    }
                }
            }
            Event::Overflowed { call, from, to } => {
                if let Some(call_id) = self.ids.get(&call).cloned() {
                    self.events.emit(
                        &call_id,
                        "overflowed",
                        json!({"from": from.as_str(), "to": to.as_str()}),
                    );
                    if let Some(slot) = self.calls.get_mut(&call_id) {
                        slot.queue = to;
                    }
                }
            }
            Event::AgentAutoPaused { agent, reason } => {
                info!(agent = %agent, reason = %reason, "agent paused after missed offers");
            }
        }
    }

    /// Sends an event to the agent's desktop, if one is listening.
    pub fn push(&mut self, agent: &AgentId, event: v1::agent_event::Event) {
        let Some(desk) = self.agents.get_mut(agent) else {
            return;
        };
        let Some(stream) = &desk.stream else {
            return;
        };
        let msg = v1::AgentEvent {
            at_unix_ms: now_unix_ms(),
            event: Some(event),
        };
        match stream.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(agent = %agent, "the agent's desktop is not reading its events; one dropped")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => desk.stream = None,
        }
    }

    fn publish(&mut self, now: Instant) {
        self.dirty = false;
        self.published = Some(now);
        let snapshot = WallboardSnapshot {
            at_unix_ms: now_unix_ms(),
            acd: self.acd.snapshot(now),
            service_level_thresholds: self
                .queues
                .iter()
                .map(|(name, q)| (name.clone(), q.service_level_threshold))
                .collect(),
            agents: self
                .agents
                .iter()
                .map(|(id, d)| {
                    (
                        id.clone(),
                        AgentCard {
                            display_name: d.display_name.clone(),
                            queues: d.queues.clone(),
                        },
                    )
                })
                .collect(),
            call_ids: self.ids.clone(),
            calls: self.live.list(),
        };
        self.board.send_replace(snapshot);
    }

    pub(super) fn queue_config(&self, queue: &QueueName) -> crate::acd::QueueConfig {
        self.queues.get(queue).cloned().unwrap_or_default()
    }

    /// The agent's state as the API reports it.
    pub fn state_of(&self, agent: &AgentId, now: Instant) -> Result<StateOutcome, EngineError> {
        let stats = self
            .acd
            .agent_stats(agent, now)
            .ok_or_else(|| EngineError::NotLoggedIn(agent.clone()))?;
        Ok(StateOutcome {
            state: stats.state,
            reason: stats.reason.unwrap_or_default(),
            deferred: false,
        })
    }

    /// The caller slot of a call the agent talks with.
    pub fn agent_call(&mut self, agent: &AgentId, call_id: &str) -> Result<&mut Slot, EngineError> {
        match self.calls.get_mut(call_id) {
            Some(s) if s.agent.as_ref() == Some(agent) && s.connected_at.is_some() => Ok(s),
            _ => Err(EngineError::UnknownCall {
                call_id: call_id.to_string(),
            }),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn state_name(kind: AgentStateKind) -> &'static str {
    match kind {
        AgentStateKind::LoggedOut => "logged_out",
        AgentStateKind::Available => "available",
        AgentStateKind::Reserved => "reserved",
        AgentStateKind::Ringing => "ringing",
        AgentStateKind::OnCall => "on_call",
        AgentStateKind::WrapUp => "wrap_up",
        AgentStateKind::Paused => "paused",
    }
}

fn fallback_name(r: crate::acd::FallbackReason) -> &'static str {
    match r {
        crate::acd::FallbackReason::Closed => "closed",
        crate::acd::FallbackReason::Full => "full",
        crate::acd::FallbackReason::MaxWait => "max_wait",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::AgentProfile;
    use crate::api::ApiCallEvent;
    use ivr_dialplans::interpreter::Handoff;
    use tokio::sync::broadcast;

    async fn driver(dir: &std::path::Path) -> (Driver, broadcast::Receiver<ApiCallEvent>) {
        let section: AcdSection = toml::from_str("[[queues]]\nname = \"support\"\n").unwrap();
        let live = Arc::new(LiveCalls::default());
        let feed = live.subscribe();
        let (events, _writer) = EventLog::open(dir).await.unwrap();
        let events = events.with_live(live.clone());
        let (control, _) = mpsc::unbounded_channel();
        let (me, _) = mpsc::unbounded_channel();
        let (d, _) = Driver::new(section, control, events, live, me.downgrade()).unwrap();
        (d, feed)
    }

    fn queued(call_id: &str) -> (QueuedCall, mpsc::UnboundedReceiver<CallEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handoff = Handoff {
            reason: "asked".into(),
            transcript: vec![],
            intents: vec![],
            slots: Default::default(),
            context: vec![],
            path: vec!["main".into()],
            sentiment: None,
            language: "en-US".into(),
            duration_ms: 0,
        };
        let q = QueuedCall {
            call_id: call_id.into(),
            caller: "+15551230000".into(),
            called: "100".into(),
            plan: "bank".into(),
            queue: "support".into(),
            priority: 0,
            skills: vec![],
            handoff,
            sensitive: vec![],
            tx,
            callback: None,
        };
        (q, rx)
    }

    fn named(feed: &mut broadcast::Receiver<ApiCallEvent>, name: &str) -> Vec<serde_json::Value> {
        let mut found = Vec::new();
        while let Ok(e) = feed.try_recv() {
            if let ApiCallEvent::Event(e) = e {
                if e.name == name {
                    found.push(e.data);
                }
            }
        }
        found
    }

    #[tokio::test]
    async fn a_caller_who_hangs_up_while_offered_withdraws_the_offer_and_leaves_once() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, mut feed) = driver(dir.path()).await;
        let now = Instant::now();
        d.acd
            .login(
                AgentProfile {
                    id: "ann".into(),
                    skills: vec![],
                    queues: vec!["support".into()],
                },
                now,
            )
            .unwrap();
        let (tx, mut ann) = mpsc::channel(16);
        d.agents.insert(
            AgentId::from("ann"),
            Desk {
                contact: "sip:ann@127.0.0.1:5070".into(),
                display_name: String::new(),
                queues: vec!["support".into()],
                stream: Some(tx),
                offers: HashMap::new(),
                wrap_up: None,
            },
        );
        let (call, _rx) = queued("c1");
        d.enqueue(call, now);
        d.drain(now);
        let offer = ann.try_recv().expect("an offer");
        assert!(matches!(
            offer.event,
            Some(v1::agent_event::Event::Offer(_))
        ));

        d.call_ended("c1", Some(HangupSide::Caller), "bye", now);
        let withdrawn = std::iter::from_fn(|| ann.try_recv().ok())
            .find_map(|e| match e.event {
                Some(v1::agent_event::Event::OfferWithdrawn(w)) => Some(w),
                _ => None,
            })
            .expect("the offer is withdrawn");
        assert_eq!(withdrawn.call_id, "c1");
        assert_eq!(withdrawn.reason, "caller_hung_up");
        let left = named(&mut feed, "queue_left");
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0]["outcome"], "abandoned");
        assert!(d.calls.is_empty() && d.ids.is_empty());
        // The agent is free again.
        assert_eq!(
            d.acd
                .agent_stats(&AgentId::from("ann"), now)
                .map(|s| s.state),
            Some(AgentStateKind::Available)
        );
    }

    #[tokio::test]
    async fn a_fallback_tells_the_caller_and_leaves_the_queue_once() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, mut feed) = driver(dir.path()).await;
        let now = Instant::now();
        d.acd
            .set_queue_open(&QueueName::from("support"), false)
            .unwrap();
        let (call, mut rx) = queued("c2");
        d.enqueue(call, now);
        d.drain(now);
        assert!(matches!(
            rx.try_recv(),
            Ok(CallEvent::QueueFallback { voicemail: Some(ref m) }) if m == "support"
        ));
        let left = named(&mut feed, "queue_left");
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0]["outcome"], "fallback_closed");
        assert!(d.calls.is_empty() && d.ids.is_empty());
        // The caller's task ending afterwards is a no-op.
        d.call_ended("c2", Some(HangupSide::System), "voicemail", now);
    }
}
