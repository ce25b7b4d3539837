//! The engine as the gRPC API sees it ([`crate::api::EngineControl`]): the calls in progress,
//! kept from the event stream (every event passes through [`crate::events::EventLog`], so there
//! is one source of truth and no polling of call tasks), hang-ups sent to the SIP task, dial-plan
//! reloads, and the wallboard.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::acd::{AgentId, AgentStateKind, Presence, QueueName};
use crate::api::{
    AgentDesk, AgentLogin, ApiCallEvent, CallPhase, EngineControl, EngineError, LiveCall,
    ReloadOutcome, StateOrder, StateOutcome, TransferTarget, WallboardSnapshot,
};
use crate::plans::PlanRegistry;
use crate::signalling::Control;
use crate::store::{now_unix_ms, CallEvent, Direction, HangupSide};

/// Calls in progress as seen in their events, and the live event feed for `WatchCall`.
pub struct LiveCalls {
    calls: Mutex<BTreeMap<String, LiveCall>>,
    feed: broadcast::Sender<ApiCallEvent>,
}

impl Default for LiveCalls {
    fn default() -> Self {
        LiveCalls {
            calls: Mutex::new(BTreeMap::new()),
            feed: broadcast::channel(1024).0,
        }
    }
}

/// The user part of a SIP URI in an event (`sip:+1555…@host` → `+1555…`).
fn user_of(uri: Option<&str>) -> String {
    let u = uri.unwrap_or_default();
    let u = u
        .strip_prefix("sip:")
        .or_else(|| u.strip_prefix("sips:"))
        .unwrap_or(u);
    u.split(['@', ';']).next().unwrap_or_default().to_string()
}

impl LiveCalls {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, LiveCall>> {
        // A panic while holding this lock cannot leave the map half-updated (each update is one
        // insert, field write or remove), so a poisoned lock is still usable.
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows one event of a call (called for every event the engine emits).
    pub fn observe(&self, call_id: &str, name: &str, fields: &Value) {
        let s = |k: &str| fields.get(k).and_then(Value::as_str);
        // Only the events that change a call's summary take the lock.
        let summary = match name {
            "incoming" | "outbound" => {
                let inbound = name == "incoming";
                let call = LiveCall {
                    call_id: call_id.to_string(),
                    direction: if inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    from_number: user_of(s("from")),
                    to_number: user_of(s("to")),
                    trunk: s("trunk").unwrap_or_default().to_string(),
                    phase: if inbound {
                        CallPhase::InIvr
                    } else {
                        CallPhase::Dialing
                    },
                    dial_plan: s("plan").unwrap_or_default().to_string(),
                    node: String::new(),
                    queue: None,
                    agent_id: None,
                    started_at_unix_ms: now_unix_ms(),
                    answered_at_unix_ms: None,
                    wait_ms: 0,
                };
                self.lock().insert(call_id.to_string(), call.clone());
                Some(call)
            }
            "answered" | "node" | "enqueued" | "agent_ringing" | "agent_connected"
            | "agent_failed" | "held" | "resumed" | "transferred" | "queue_fallback"
            | "overflowed" => {
                self.lock().get_mut(call_id).map(|c| {
                    match name {
                        "answered" => {
                            c.answered_at_unix_ms = Some(now_unix_ms());
                            c.phase = CallPhase::InIvr;
                        }
                        "node" => c.node = s("node").unwrap_or_default().to_string(),
                        "agent_ringing" => {
                            c.phase = CallPhase::RingingAgent;
                            c.agent_id = s("agent").map(str::to_string);
                        }
                        "agent_connected" => {
                            c.phase = CallPhase::Connected;
                            c.agent_id = s("agent").map(str::to_string);
                            c.node.clear();
                        }
                        "held" => c.phase = CallPhase::Held,
                        "resumed" => c.phase = CallPhase::Connected,
                        "queue_fallback" => c.phase = CallPhase::InIvr,
                        "overflowed" => c.queue = s("to").map(str::to_string),
                        // Back in a queue: "enqueued", "agent_failed", "transferred".
                        _ => {
                            c.phase = CallPhase::Queued;
                            c.agent_id = None;
                            if let Some(q) = s("queue") {
                                c.queue = Some(q.to_string());
                            }
                        }
                    }
                    c.clone()
                })
            }
            _ => None,
        };
        let _ = self.feed.send(ApiCallEvent::Event(CallEvent::now(
            call_id,
            name,
            fields.clone(),
        )));
        if let Some(c) = summary {
            let _ = self.feed.send(ApiCallEvent::Summary(c));
        }
        if matches!(
            name,
            "hangup" | "cancelled" | "rejected" | "originate_failed"
        ) {
            self.lock().remove(call_id);
            let _ = self.feed.send(ApiCallEvent::Finished {
                call_id: call_id.to_string(),
                hangup_side: match s("by") {
                    Some("caller") => Some(HangupSide::Caller),
                    Some(_) => Some(HangupSide::System),
                    None => None,
                },
                hangup_cause: s("cause").unwrap_or(name).to_string(),
            });
        }
    }

    /// Everything that happens to live calls from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ApiCallEvent> {
        self.feed.subscribe()
    }

    /// The calls in progress, oldest first.
    pub fn list(&self) -> Vec<LiveCall> {
        let mut v: Vec<LiveCall> = self.lock().values().cloned().collect();
        v.sort_by_key(|c| c.started_at_unix_ms);
        v
    }
}

/// [`EngineControl`] for `ivr serve`.
pub struct Engine {
    /// Calls in progress.
    pub live: Arc<LiveCalls>,
    /// The SIP task.
    pub control: mpsc::UnboundedSender<Control>,
    /// The dial plans, when configured.
    pub plans: Option<Arc<PlanRegistry>>,
    /// Their folder.
    pub plans_dir: Option<PathBuf>,
    /// The wallboard (empty until queues are configured).
    pub wallboard: watch::Receiver<WallboardSnapshot>,
}

#[tonic::async_trait]
impl EngineControl for Engine {
    fn list_calls(&self) -> Vec<LiveCall> {
        self.live.list()
    }

    async fn hangup(&self, call_id: &str, _cause: &str) -> Result<bool, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.control
            .send(Control::Hangup {
                call_id: call_id.to_string(),
                reply,
            })
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)
    }

    async fn reload_plans(&self) -> ReloadOutcome {
        let Some(registry) = self.plans.clone() else {
            return ReloadOutcome::default();
        };
        let r = registry.clone();
        match tokio::task::spawn_blocking(move || r.reload()).await {
            Ok(report) => ReloadOutcome::from_report(&report, &registry.current()),
            Err(_) => ReloadOutcome::default(),
        }
    }

    fn plans_dir(&self) -> Option<PathBuf> {
        self.plans_dir.clone()
    }

    fn wallboard(&self) -> watch::Receiver<WallboardSnapshot> {
        self.wallboard.clone()
    }

    fn call_events(&self) -> broadcast::Receiver<ApiCallEvent> {
        self.live.feed.subscribe()
    }

    async fn originate(
        &self,
        order: crate::api::OriginateOrder,
    ) -> Result<mpsc::Receiver<ivr_proto::v1::OriginateProgress>, EngineError> {
        let number = order.destination.trim();
        let plain = number.strip_prefix('+').unwrap_or(number);
        if plain.is_empty() || !plain.chars().all(|c| c.is_ascii_digit()) {
            return Err(EngineError::InvalidArgument(format!(
                "destination `{}` is not a phone number: give digits, with a leading + for E.164 (for example +14155550100)",
                order.destination
            )));
        }
        if order.dial_plan.is_empty() || order.trunk.is_empty() {
            return Err(EngineError::InvalidArgument(
                "trunk and dial_plan are required: name a configured trunk with [trunks.outbound] and a loaded plan".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(8);
        self.control
            .send(Control::Originate {
                order,
                progress: tx,
            })
            .map_err(|_| EngineError::ShuttingDown)?;
        Ok(rx)
    }

    async fn monitor(
        &self,
        order: crate::monitor::MonitorOrder,
    ) -> Result<crate::monitor::MonitorStarted, crate::monitor::MonitorError> {
        crate::monitor::dial(&self.control, order).await
    }

    async fn stop_monitor(&self, monitor_id: &str) -> Result<(), crate::monitor::MonitorError> {
        crate::monitor::stop(&self.control, monitor_id).await
    }
}

/// The agent desk until queues are driven by the ACD: every request is refused with a clear
/// status.
pub struct NoAgents;

const NO_AGENTS: EngineError = EngineError::Unsupported {
    what: "the agent desk",
    when: "queues with agents are not configured in this engine",
};

#[tonic::async_trait]
impl AgentDesk for NoAgents {
    async fn login(&self, _: AgentLogin) -> Result<(StateOutcome, Vec<QueueName>), EngineError> {
        Err(NO_AGENTS)
    }
    async fn logout(&self, _: &AgentId) -> Result<bool, EngineError> {
        Err(NO_AGENTS)
    }
    async fn set_presence(
        &self,
        _: &AgentId,
        _: Presence,
        _: &str,
    ) -> Result<StateOutcome, EngineError> {
        Err(NO_AGENTS)
    }
    async fn order_state(
        &self,
        _: &AgentId,
        _: StateOrder,
        _: &str,
        _: &str,
    ) -> Result<StateOutcome, EngineError> {
        Err(NO_AGENTS)
    }
    async fn events(
        &self,
        _: &AgentId,
    ) -> Result<mpsc::Receiver<ivr_proto::v1::AgentEvent>, EngineError> {
        Err(NO_AGENTS)
    }
    async fn accept(&self, _: &AgentId, _: &str) -> Result<String, EngineError> {
        Err(NO_AGENTS)
    }
    async fn reject(&self, _: &AgentId, _: &str, _: &str) -> Result<(), EngineError> {
        Err(NO_AGENTS)
    }
    async fn hold(&self, _: &AgentId, _: &str) -> Result<(), EngineError> {
        Err(NO_AGENTS)
    }
    async fn resume(&self, _: &AgentId, _: &str) -> Result<(), EngineError> {
        Err(NO_AGENTS)
    }
    async fn transfer(
        &self,
        _: &AgentId,
        _: &str,
        _: TransferTarget,
        _: &str,
    ) -> Result<(), EngineError> {
        Err(NO_AGENTS)
    }
    async fn complete_wrap_up(
        &self,
        _: &AgentId,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<AgentStateKind, EngineError> {
        Err(NO_AGENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_are_followed_from_their_events_and_end_with_their_hangup() {
        let live = LiveCalls::default();
        let mut feed = live.feed.subscribe();
        live.observe(
            "c1",
            "incoming",
            &json!({"from": "sip:+15551230000@10.0.0.1:5060", "to": "sip:100@ivr", "trunk": "t", "plan": "bank"}),
        );
        live.observe("c1", "node", &json!({"node": "main"}));
        live.observe("c1", "enqueued", &json!({"queue": "support"}));
        let calls = live.list();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].from_number, "+15551230000");
        assert_eq!(calls[0].to_number, "100");
        assert_eq!(calls[0].node, "main");
        assert_eq!(calls[0].phase, CallPhase::Queued);
        assert_eq!(calls[0].queue.as_deref(), Some("support"));
        live.observe("c1", "hangup", &json!({"by": "caller", "cause": "bye"}));
        assert!(live.list().is_empty());
        let mut finished = None;
        while let Ok(e) = feed.try_recv() {
            if let ApiCallEvent::Finished {
                hangup_side,
                hangup_cause,
                ..
            } = e
            {
                finished = Some((hangup_side, hangup_cause));
            }
        }
        assert_eq!(
            finished,
            Some((Some(HangupSide::Caller), "bye".to_string()))
        );
    }
}
