//! The agent desktop's operations ([`AgentDesk`]) on the center task.

use std::collections::HashMap;

use ivr_proto::v1;
use serde_json::json;
use tokio::sync::mpsc;
use tracing::info;

use super::driver::{Desk, Driver};
use super::Center;
use crate::acd::{AgentId, AgentStateKind, Presence, QueueName};
use crate::api::{AgentDesk, AgentLogin, EngineError, StateOrder, StateOutcome, TransferTarget};
use crate::call::CallEvent;
use crate::signalling::Control;

impl Driver {
    fn desk(&mut self, agent: &AgentId) -> Result<&mut Desk, EngineError> {
        self.agents
            .get_mut(agent)
            .ok_or_else(|| EngineError::NotLoggedIn(agent.clone()))
    }

    fn login(
        &mut self,
        login: AgentLogin,
        now: std::time::Instant,
    ) -> Result<(StateOutcome, Vec<QueueName>), EngineError> {
        let id = login.profile.id.clone();
        let queues = login.profile.queues.clone();
        if ivr_media::sip::Uri::parse(&login.sip_contact).is_err() {
            return Err(EngineError::InvalidArgument(format!(
                "sip_contact `{}` is not a SIP URI (for example sip:1042@10.0.0.15:5060)",
                login.sip_contact
            )));
        }
        let logged_in = self
            .acd
            .agent_stats(&id, now)
            .is_some_and(|s| s.state != AgentStateKind::LoggedOut);
        if !logged_in {
            self.changed_by = id.to_string();
            self.acd
                .login_paused(login.profile, "login".into(), now)
                .map_err(EngineError::Acd)?;
        }
        let stream = self.agents.remove(&id).and_then(|d| d.stream);
        self.agents.insert(
            id.clone(),
            Desk {
                contact: login.sip_contact,
                display_name: login.display_name,
                queues: queues.clone(),
                stream,
                offers: HashMap::new(),
                wrap_up: None,
            },
        );
        info!(agent = %id, "agent logged in");
        Ok((self.state_of(&id, now)?, queues))
    }
}

#[tonic::async_trait]
impl AgentDesk for Center {
    async fn login(
        &self,
        login: AgentLogin,
    ) -> Result<(StateOutcome, Vec<QueueName>), EngineError> {
        self.run(move |d, now| d.login(login, now)).await
    }

    async fn logout(&self, agent: &AgentId) -> Result<bool, EngineError> {
        let agent = agent.clone();
        self.run(move |d, now| {
            d.desk(&agent)?;
            d.changed_by = agent.to_string();
            let on_call = d
                .acd
                .agent_stats(&agent, now)
                .is_some_and(|s| s.state == AgentStateKind::OnCall);
            d.acd.disconnect(&agent, now).map_err(EngineError::Acd)?;
            Ok(on_call)
        })
        .await
    }

    async fn set_presence(
        &self,
        agent: &AgentId,
        presence: Presence,
        changed_by: &str,
    ) -> Result<StateOutcome, EngineError> {
        let agent = agent.clone();
        let by = changed_by.to_string();
        self.run(move |d, now| {
            d.desk(&agent)?;
            d.changed_by = by;
            d.acd
                .set_state(&agent, presence, now)
                .map_err(EngineError::Acd)?;
            d.state_of(&agent, now)
        })
        .await
    }

    async fn order_state(
        &self,
        agent: &AgentId,
        order: StateOrder,
        reason: &str,
        changed_by: &str,
    ) -> Result<StateOutcome, EngineError> {
        let agent = agent.clone();
        let by = changed_by.to_string();
        let reason = reason.to_string();
        self.run(move |d, now| {
            d.desk(&agent)?;
            d.changed_by = by;
            match order {
                StateOrder::Presence(p) => {
                    d.acd.set_state(&agent, p, now).map_err(EngineError::Acd)?;
                    d.state_of(&agent, now)
                }
                StateOrder::LogOut { end_active_call } => {
                    let talking = d
                        .calls
                        .values()
                        .find(|s| s.agent.as_ref() == Some(&agent) && s.connected_at.is_some());
                    let deferred = match talking {
                        Some(slot) if end_active_call => {
                            let _ = slot.tx.send(CallEvent::Hangup("supervisor"));
                            true
                        }
                        Some(_) => true,
                        None => false,
                    };
                    info!(agent = %agent, reason = %reason, "agent logged out by a supervisor");
                    d.acd.disconnect(&agent, now).map_err(EngineError::Acd)?;
                    let mut outcome = d.state_of(&agent, now)?;
                    outcome.deferred = deferred;
                    Ok(outcome)
                }
            }
        })
        .await
    }

    async fn events(&self, agent: &AgentId) -> Result<mpsc::Receiver<v1::AgentEvent>, EngineError> {
        let agent = agent.clone();
        self.run(move |d, now| {
            let state = d.state_of(&agent, now)?;
            let (tx, rx) = mpsc::channel(super::driver::STREAM_BUFFER);
            d.desk(&agent)?.stream = Some(tx);
            // The desktop starts from the agent's state.
            d.push(
                &agent,
                v1::agent_event::Event::StateChanged(v1::AgentStateChanged {
                    state: crate::api::agent_state_wire(state.state) as i32,
                    reason: state.reason,
                    changed_by: "system".into(),
                }),
            );
            Ok(rx)
        })
        .await
    }

    async fn accept(&self, agent: &AgentId, offer_id: &str) -> Result<String, EngineError> {
        let agent = agent.clone();
        let offer_id = offer_id.to_string();
        self.run(move |d, now| {
            let unknown = || EngineError::UnknownOffer {
                agent: agent.clone(),
                offer_id: offer_id.clone(),
            };
            let desk = d.desk(&agent)?;
            let call = desk.offers.remove(&offer_id).ok_or_else(unknown)?;
            let contact = desk.contact.clone();
            let call_id = d.ids.get(&call).cloned().ok_or_else(unknown)?;
            match d.calls.get(&call_id) {
                Some(slot) if slot.agent.is_none() => {}
                _ => return Err(unknown()),
            }
            d.acd
                .handle_offer_ringing(call, &agent, now)
                .map_err(EngineError::Acd)?;
            if let Some(slot) = d.calls.get_mut(&call_id) {
                slot.agent = Some(agent.clone());
            }
            let _ = d.control.send(Control::DialAgent {
                call_id: call_id.clone(),
                agent: agent.clone(),
                contact,
            });
            d.events
                .emit(&call_id, "agent_ringing", json!({"agent": agent.as_str()}));
            d.push(
                &agent,
                v1::agent_event::Event::Ringing(v1::CallRinging {
                    call_id: call_id.clone(),
                }),
            );
            Ok(call_id)
        })
        .await
    }

    async fn reject(
        &self,
        agent: &AgentId,
        offer_id: &str,
        reason: &str,
    ) -> Result<(), EngineError> {
        let agent = agent.clone();
        let offer_id = offer_id.to_string();
        let reason = reason.to_string();
        self.run(move |d, now| {
            let call = d.desk(&agent)?.offers.remove(&offer_id).ok_or_else(|| {
                EngineError::UnknownOffer {
                    agent: agent.clone(),
                    offer_id: offer_id.clone(),
                }
            })?;
            if let Some(call_id) = d.ids.get(&call) {
                d.events.emit(
                    call_id,
                    "offer_rejected",
                    json!({"agent": agent.as_str(), "reason": reason}),
                );
            }
            d.acd
                .handle_offer_rejected(call, &agent, now)
                .map_err(EngineError::Acd)
        })
        .await
    }

    async fn hold(&self, agent: &AgentId, call_id: &str) -> Result<(), EngineError> {
        self.set_hold(agent, call_id, true).await
    }

    async fn resume(&self, agent: &AgentId, call_id: &str) -> Result<(), EngineError> {
        self.set_hold(agent, call_id, false).await
    }

    async fn transfer(
        &self,
        agent: &AgentId,
        call_id: &str,
        target: TransferTarget,
        note: &str,
    ) -> Result<(), EngineError> {
        let agent = agent.clone();
        let call_id = call_id.to_string();
        let note = note.to_string();
        self.run(move |d, now| {
            let slot = d.agent_call(&agent, &call_id)?;
            let id = slot.id;
            d.changed_by = agent.to_string();
            let to = match &target {
                TransferTarget::Queue(queue) => {
                    d.acd.transfer(id, queue, now).map_err(EngineError::Acd)?;
                    json!({"agent": agent.as_str(), "queue": queue.as_str()})
                }
                TransferTarget::Agent(to) => {
                    d.acd
                        .transfer_to_agent(id, to, now)
                        .map_err(EngineError::Acd)?;
                    json!({"agent": agent.as_str(), "to_agent": to.as_str()})
                }
            };
            if let Some(slot) = d.calls.get_mut(&call_id) {
                let talk = slot
                    .connected_at
                    .map(|at| now.saturating_duration_since(at))
                    .unwrap_or_default();
                slot.agent = None;
                slot.connected_at = None;
                slot.held = false;
                let from = slot.queue.clone();
                if let TransferTarget::Queue(queue) = &target {
                    slot.queue = queue.clone();
                }
                slot.note = (!note.is_empty()).then(|| note.clone());
                let _ = slot.tx.send(CallEvent::AgentDetached);
                let _ = d.control.send(Control::DropAgent {
                    call_id: call_id.clone(),
                });
                let wrap = d.queue_config(&from).wrap_up;
                if let Some(desk) = d.agents.get_mut(&agent) {
                    desk.wrap_up = Some(call_id.clone());
                }
                d.push(
                    &agent,
                    v1::agent_event::Event::Ended(v1::CallEnded {
                        call_id: call_id.clone(),
                        hangup_side: "agent".into(),
                        hangup_cause: "transferred".into(),
                        talk_ms: u64::try_from(talk.as_millis()).unwrap_or(u64::MAX),
                    }),
                );
                d.push(
                    &agent,
                    v1::agent_event::Event::WrapUpStarted(v1::WrapUpStarted {
                        call_id: call_id.clone(),
                        timeout_ms: u64::try_from(wrap.as_millis()).unwrap_or(u64::MAX),
                    }),
                );
            }
            d.events.emit(&call_id, "transferred", to);
            Ok(())
        })
        .await
    }

    async fn complete_wrap_up(
        &self,
        agent: &AgentId,
        call_id: &str,
        disposition: &str,
        notes: &str,
    ) -> Result<AgentStateKind, EngineError> {
        let agent = agent.clone();
        let call_id = call_id.to_string();
        let disposition = disposition.to_string();
        let notes = notes.to_string();
        self.run(move |d, now| {
            let desk = d.desk(&agent)?;
            if desk.wrap_up.as_deref() != Some(call_id.as_str()) {
                return Err(EngineError::UnknownCall { call_id });
            }
            d.changed_by = agent.to_string();
            d.acd
                .complete_wrap_up(&agent, Some(disposition.clone()), now)
                .map_err(EngineError::Acd)?;
            if let Some(store) = d.events.store() {
                // Notes are free text typed by the agent: card numbers are masked anyway.
                let notes = crate::privacy::redact::Redactor::new(Default::default())
                    .redact(&notes)
                    .into_owned();
                store.record_wrap_up(&call_id, &disposition, &notes);
            }
            d.drain(now);
            Ok(d.state_of(&agent, now)
                .map_or(AgentStateKind::LoggedOut, |s| s.state))
        })
        .await
    }
}

impl Center {
    async fn set_hold(&self, agent: &AgentId, call_id: &str, on: bool) -> Result<(), EngineError> {
        let agent = agent.clone();
        let call_id = call_id.to_string();
        self.run(move |d, _now| {
            let slot = d.agent_call(&agent, &call_id)?;
            if slot.held != on {
                slot.held = on;
                let _ = slot.tx.send(CallEvent::Hold(on));
            }
            d.events.emit(
                &call_id,
                if on { "held" } else { "resumed" },
                json!({"agent": agent.as_str()}),
            );
            let event = if on {
                v1::agent_event::Event::Held(v1::CallHeld {
                    call_id: call_id.clone(),
                })
            } else {
                v1::agent_event::Event::Resumed(v1::CallResumed {
                    call_id: call_id.clone(),
                })
            };
            d.push(&agent, event);
            Ok(())
        })
        .await
    }
}
