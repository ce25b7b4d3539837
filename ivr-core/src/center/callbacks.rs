//! Callback instead of waiting, the center's side.
//!
//! A waiting caller who asks for a call back keeps their place: the router turns their entry
//! into a callback request ([`Acd::convert_to_callback`](crate::acd::Acd::convert_to_callback))
//! and the request is saved in the store, so a restart reloads it with the time already waited.
//! When it reaches the head of the line and an agent is free, the router reserves the agent
//! ([`Action::PlaceCallback`](crate::acd::Action::PlaceCallback)); the center then:
//!
//! 1. shows the agent the screen pop (marked `callback`);
//! 2. calls the number through the callback trunk; the answered call greets the caller and
//!    rejoins the queue as this request (see [`crate::flow::Flow::for_callback`]);
//! 3. rings the reserved agent's phone; when it answers, the two are bridged like any queued
//!    call and the request is done.
//!
//! An attempt that fails (busy, no answer, the agent's phone unreachable) takes the request
//! out of the router and puts it back after `callback_retry`, still in its place, until
//! `callback_attempts` have been made; then it is marked failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_proto::v1;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::driver::{Driver, Slot};
use super::pop::Pop;
use super::{Input, QueuedCall};
use crate::acd::{CallId, CallbackRecord, QueueName, SkillRequirement};
use crate::call::CallEvent;
use crate::callback::CallbackTicket;
use crate::events::mask_number;
use crate::signalling::Control;
use crate::store::{now_unix_ms, Callback, CallbackStatus};

/// A call-back request the center is serving.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The request's id in the store: the call id of the call that asked.
    pub key: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// A request out of the router until its next attempt.
pub(crate) struct Retry {
    at: Instant,
    record: CallbackRecord<Arc<Pop>>,
    request: Request,
}

/// The screen pop as saved with a request (the context column).
#[derive(Serialize, Deserialize)]
struct Saved {
    caller: String,
    called: String,
    plan: String,
    handoff: ivr_dialplans::interpreter::Handoff,
    sensitive: Vec<String>,
    skills: Vec<SkillRequirement>,
}

/// A sender whose receiver is gone: the slot of a caller who hung up after booking.
fn nobody() -> mpsc::UnboundedSender<CallEvent> {
    mpsc::unbounded_channel().0
}

impl Driver {
    /// A waiting caller asks to be called back on `number`.
    pub(super) fn request_callback(&mut self, call_id: &str, number: String, now: Instant) {
        let Some(slot) = self.calls.get(call_id) else {
            return;
        };
        let tx = slot.tx.clone();
        let allowed = self
            .section
            .queue(slot.queue.as_str())
            .is_some_and(|q| q.callback);
        let refused = if !allowed {
            Some("the queue does not call back".to_string())
        } else if self.callback_trunk().is_none() {
            Some("no trunk places calls ([trunks.outbound])".to_string())
        } else if slot.gone || slot.agent.is_some() || slot.connected_at.is_some() {
            Some("an agent is already being connected".to_string())
        } else {
            self.acd
                .convert_to_callback(slot.id, number.clone(), now)
                .err()
                .map(|e| e.to_string())
        };
        if let Some(why) = refused {
            info!(call_id, why = %why, "call back refused");
            let _ = tx.send(CallEvent::CallbackBooked(Err(why)));
            return;
        }
        let id = slot.id;
        if let Some(slot) = self.calls.get_mut(call_id) {
            slot.callback = Some(Request {
                key: call_id.to_string(),
                attempts: 0,
            });
        }
        if let Some(record) = self.record_of(id, now) {
            self.save_request(call_id, &record, CallbackStatus::Pending);
        }
        info!(call_id, number = %mask_number(&number), "call back booked");
        self.events.emit(
            call_id,
            "callback_requested",
            json!({"number": mask_number(&number)}),
        );
        let _ = tx.send(CallEvent::CallbackBooked(Ok(number)));
        self.dirty = true;
    }

    /// The trunk call backs go out through.
    fn callback_trunk(&self) -> Option<&str> {
        self.section.callback_trunk.as_deref()
    }

    fn save_request(&self, key: &str, record: &CallbackRecord<Arc<Pop>>, status: CallbackStatus) {
        let Some(store) = self.events.store() else {
            return;
        };
        let pop = &record.context;
        let saved = Saved {
            caller: pop.caller.clone(),
            called: pop.called.clone(),
            plan: pop.plan.clone(),
            handoff: pop.handoff.clone(),
            sensitive: pop.sensitive.clone(),
            skills: record.skills.clone(),
        };
        let waited = i64::try_from(record.waited_ms).unwrap_or(i64::MAX);
        store.save_callback(Callback {
            id: key.to_string(),
            queue: record.queue.to_string(),
            number: record.number.clone(),
            priority: record.priority,
            enqueued_at_unix_ms: now_unix_ms().saturating_sub(waited),
            context: serde_json::to_value(saved).unwrap_or_default(),
            status,
        });
    }

    /// The router reserved `agent` for a call-back request: show them the request and call the
    /// number.
    pub(super) fn place_callback(
        &mut self,
        call: CallId,
        agent: crate::acd::AgentId,
        queue: QueueName,
        number: String,
        context: Arc<Pop>,
        now: Instant,
    ) {
        let trunk = self.callback_trunk().map(str::to_owned);
        let key = self.ids.get(&call).cloned();
        let (Some(key), Some(trunk)) = (key, trunk) else {
            debug!(call = call.0, "no call-back request (any more) to place");
            let _ = self.acd.handle_abandon(call, now);
            return;
        };
        let Some(slot) = self.calls.get_mut(&key) else {
            return;
        };
        slot.agent = Some(agent.clone());
        let Some(request) = slot.callback.as_mut() else {
            return;
        };
        request.attempts += 1;
        let attempt = request.attempts;
        let priority = self.record_of(call, now).map_or(0, |r| r.priority);
        let section = self.section.queue(queue.as_str());
        let timeout = section
            .and_then(|q| q.callback_timeout)
            .unwrap_or(crate::acd::QueueConfig::default().callback_timeout);
        let mut offer = context.offer(
            &format!("callback-{key}-{attempt}"),
            queue.as_str(),
            now,
            timeout,
        );
        offer.context.insert("callback".into(), "true".into());
        offer
            .context
            .insert("callback_number".into(), number.clone());
        offer
            .context
            .insert("callback_attempt".into(), attempt.to_string());
        self.push(&agent, v1::agent_event::Event::Offer(offer));
        self.events.emit(
            &key,
            "callback_dialing",
            json!({"attempt": attempt, "agent": agent.as_str(), "number": mask_number(&number)}),
        );
        let order = crate::api::OriginateOrder {
            trunk,
            destination: number,
            caller_id: String::new(),
            dial_plan: context.plan.clone(),
            variables: Default::default(),
            timeout,
            actor: "callback".into(),
            callback: Some(CallbackTicket {
                key: key.clone(),
                queue: queue.to_string(),
                priority,
                language: context.handoff.language.clone(),
            }),
        };
        let (progress, mut rx) = mpsc::channel(8);
        let _ = self.control.send(Control::Originate { order, progress });
        let me = self.me.clone();
        tokio::spawn(async move {
            use v1::originate_progress::Progress;
            while let Some(p) = rx.recv().await {
                if let (Some(Progress::Failed(f)), Some(me)) = (p.progress, me.upgrade()) {
                    let _ = me.send(Input::CallbackFailed {
                        key: key.clone(),
                        reason: if f.sip_status == 0 {
                            f.reason
                        } else {
                            format!("{} ({})", f.reason, f.sip_status)
                        },
                    });
                }
            }
        });
    }

    /// The router's record of a call-back request.
    fn record_of(&self, call: CallId, now: Instant) -> Option<CallbackRecord<Arc<Pop>>> {
        self.acd
            .export_callbacks(now)
            .into_iter()
            .find(|r| r.call == call)
    }

    /// The engine's call back was answered and rejoins its request: ring the reserved agent.
    /// Returns the call back if it serves no request (any more).
    pub(super) fn callback_answered(
        &mut self,
        q: QueuedCall,
        key: &str,
        now: Instant,
    ) -> Option<QueuedCall> {
        let Some(mut slot) = self.calls.remove(key) else {
            return Some(q);
        };
        let Some(agent) = slot.agent.clone() else {
            self.calls.insert(key.to_string(), slot);
            return Some(q);
        };
        slot.tx = q.tx;
        slot.gone = false;
        self.ids.insert(slot.id, q.call_id.clone());
        self.calls.insert(q.call_id.clone(), slot);
        let contact = self.agents.get(&agent).map(|d| d.contact.clone());
        match contact {
            Some(contact) => {
                let _ = self.control.send(Control::DialAgent {
                    call_id: q.call_id.clone(),
                    agent,
                    contact,
                });
            }
            None => {
                self.callback_failed(&q.call_id, "agent_logged_out", now);
            }
        }
        None
    }

    /// The agent's phone answered a call back: the request is done.
    pub(super) fn callback_connected(&mut self, call_id: &str) {
        let Some(request) = self.calls.get(call_id).and_then(|s| s.callback.clone()) else {
            return;
        };
        info!(call_id, request = %request.key, "call back connected");
        self.events.emit(
            call_id,
            "callback_done",
            json!({"request": request.key, "attempts": request.attempts}),
        );
        if let Some(store) = self.events.store() {
            store.complete_callback(&request.key, CallbackStatus::Done);
        }
    }

    /// An attempt failed (`key` names the request's slot: the request id before the call back
    /// was answered, the call back's call id after). The request leaves the router and comes
    /// back after the retry time, or fails for good.
    pub(super) fn callback_failed(&mut self, key: &str, reason: &str, now: Instant) {
        let Some(slot) = self.calls.get(key) else {
            return;
        };
        let Some(request) = slot.callback.clone() else {
            return;
        };
        let id = slot.id;
        let queue = slot.queue.clone();
        let record = self.record_of(id, now);
        if key != request.key {
            // The call back was answered: the caller hears an apology and is hung up on.
            let _ = slot.tx.send(CallEvent::QueueFallback { voicemail: None });
            let _ = self.control.send(Control::DropAgent {
                call_id: key.to_string(),
            });
        }
        if let Some(slot) = self.calls.get_mut(key) {
            // The router's withdrawal of the reservation is not another failure.
            slot.agent = None;
        }
        let _ = self.acd.handle_abandon(id, now);
        // Out of the center too (before the router's pending actions, which may still name
        // it, are acted on); the retry brings it back.
        self.forget(key);
        let settings = self.section.queue(queue.as_str());
        let max = settings.map_or(3, |q| q.callback_attempts);
        let retry = settings.map_or(Duration::from_secs(120), |q| q.callback_retry());
        let last = request.attempts >= max;
        info!(request = %request.key, attempt = request.attempts, reason, last, "call back attempt failed");
        self.events.emit(
            &request.key,
            "callback_failed",
            json!({"attempt": request.attempts, "reason": reason, "final": last}),
        );
        match record {
            Some(record) if !last => self.retries.push(Retry {
                at: now + retry,
                record,
                request,
            }),
            _ => {
                if let Some(store) = self.events.store() {
                    store.complete_callback(&request.key, CallbackStatus::Failed);
                }
            }
        }
        self.dirty = true;
    }

    /// When the next retry is due.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        self.retries.iter().map(|r| r.at).min()
    }

    /// Puts requests whose retry time came back in line.
    pub(super) fn due_retries(&mut self, now: Instant) {
        if self.next_retry().is_none_or(|t| t > now) {
            return;
        }
        let (due, later): (Vec<Retry>, Vec<Retry>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|r| r.at <= now);
        self.retries = later;
        for r in due {
            self.restore(r.record, r.request, now);
        }
    }

    fn restore(&mut self, record: CallbackRecord<Arc<Pop>>, request: Request, now: Instant) {
        let id = record.call;
        let key = request.key.clone();
        self.calls.insert(
            key.clone(),
            Slot {
                id,
                tx: nobody(),
                queue: record.queue.clone(),
                agent: None,
                connected_at: None,
                held: false,
                note: None,
                gone: false,
                callback: Some(request),
            },
        );
        self.ids.insert(id, key.clone());
        for (r, e) in self.acd.import_callbacks(vec![record], now) {
            warn!(request = %key, error = %e, "a call-back request cannot be restored");
            self.calls.remove(&key);
            self.ids.remove(&r.call);
            if let Some(store) = self.events.store() {
                store.complete_callback(&key, CallbackStatus::Cancelled);
            }
        }
        self.dirty = true;
    }

    /// Requests saved before a restart go back in line, each with the time it had waited.
    pub(super) fn reload(&mut self, saved: Vec<Callback>, now: Instant) {
        let count = saved.len();
        for row in saved {
            let Ok(s) = serde_json::from_value::<Saved>(row.context.clone()) else {
                warn!(request = %row.id, "a saved call-back request is unreadable; marked failed");
                if let Some(store) = self.events.store() {
                    store.complete_callback(&row.id, CallbackStatus::Failed);
                }
                continue;
            };
            let waited = now_unix_ms().saturating_sub(row.enqueued_at_unix_ms);
            let since = now
                .checked_sub(Duration::from_millis(u64::try_from(waited).unwrap_or(0)))
                .unwrap_or(now);
            let pop = Arc::new(Pop {
                call_id: row.id.clone(),
                caller: s.caller,
                called: s.called,
                plan: s.plan,
                handoff: s.handoff,
                sensitive: s.sensitive,
                since,
            });
            let record = CallbackRecord {
                call: self.new_call_id(),
                queue: QueueName::from(row.queue.as_str()),
                number: row.number.clone(),
                priority: row.priority,
                skills: s.skills,
                waited_ms: u64::try_from(waited).unwrap_or(0),
                context: pop,
            };
            let request = Request {
                key: row.id,
                attempts: 0,
            };
            self.restore(record, request, now);
        }
        if count > 0 {
            info!(requests = count, "call-back requests reloaded");
        }
    }
}
