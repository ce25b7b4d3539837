//! `ivr.v1.SupervisorService`: the wallboard stream, live calls, following one call, joining
//! a call from the supervisor's phone (listen, whisper, barge), and setting agents' states.
//! Every request is recorded in the audit log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ivr_proto::v1;
use ivr_proto::v1::supervisor_service_server::SupervisorService;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::warn;

use super::audit::Auditor;
use super::auth::principal;
use super::convert::{self, outcome, status};
use super::facade::{
    AgentDesk, ApiCallEvent, CallPhase, EngineControl, StateOrder, WallboardSnapshot,
};
use super::stream::{BoxStream, Stop, STREAM_BUFFER};
use crate::acd::{AgentId, AgentStateKind, Presence};
use crate::monitor::{MonitorError, MonitorMode, MonitorOrder};
use crate::store::Store;

/// The supervisor service over the engine, the agent desk, the call store and the audit log.
pub struct SupervisorApi {
    engine: Arc<dyn EngineControl>,
    desk: Arc<dyn AgentDesk>,
    store: Option<Store>,
    audit: Auditor,
    stop: Stop,
}

impl SupervisorApi {
    /// The service; without a store `WatchCall` sends only what happens after the request.
    pub(crate) fn new(
        engine: Arc<dyn EngineControl>,
        desk: Arc<dyn AgentDesk>,
        store: Option<Store>,
        audit: Auditor,
        stop: Stop,
    ) -> SupervisorApi {
        SupervisorApi {
            engine,
            desk,
            store,
            audit,
            stop,
        }
    }
}

const WALLBOARD: &str = "ivr.v1.SupervisorService/Wallboard";
const LIST_CALLS: &str = "ivr.v1.SupervisorService/ListCalls";
const WATCH_CALL: &str = "ivr.v1.SupervisorService/WatchCall";
const MONITOR: &str = "ivr.v1.SupervisorService/Monitor";
const STOP_MONITOR: &str = "ivr.v1.SupervisorService/StopMonitor";
const SET_AGENT_STATE: &str = "ivr.v1.SupervisorService/SetAgentState";

#[tonic::async_trait]
impl SupervisorService for SupervisorApi {
    type WallboardStream = BoxStream<v1::WallboardUpdate>;

    async fn wallboard(
        &self,
        request: Request<v1::WallboardRequest>,
    ) -> Result<Response<Self::WallboardStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        self.audit
            .record(
                &who,
                WALLBOARD,
                "",
                json!({ "outcome": "ok", "queues": req.queues, "include_calls": req.include_calls }),
            )
            .await;
        let mut feed = self.engine.wallboard();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let mut view = WallboardView::new(&req.queues, req.include_calls);
            let first = view.snapshot(&feed.borrow_and_update());
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    changed = feed.changed() => if changed.is_err() { break },
                    () = tx.closed() => break,
                    () = stop.requested() => {
                        let _ = tx.send(Err(Stop::status())).await;
                        break;
                    }
                }
                let update = view.update(&feed.borrow_and_update());
                if let Some(update) = update {
                    if tx.send(Ok(update)).await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_calls(
        &self,
        request: Request<v1::ListCallsRequest>,
    ) -> Result<Response<v1::ListCallsResponse>, Status> {
        convert::list_calls(self.engine.as_ref(), &self.audit, LIST_CALLS, request).await
    }

    type WatchCallStream = BoxStream<v1::CallUpdate>;

    async fn watch_call(
        &self,
        request: Request<v1::WatchCallRequest>,
    ) -> Result<Response<Self::WatchCallStream>, Status> {
        let who = principal(&request)?;
        let call_id = request.into_inner().call_id;
        let result = self.start_watch(&call_id).await;
        self.audit
            .record(
                &who,
                WATCH_CALL,
                &call_id,
                json!({ "outcome": outcome(&result) }),
            )
            .await;
        let stream = result?;
        Ok(Response::new(stream))
    }

    async fn monitor(
        &self,
        request: Request<v1::MonitorRequest>,
    ) -> Result<Response<v1::MonitorResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let result = self.start_monitor(&who.name, &req).await;
        let mut details = json!({
            "outcome": outcome(&result),
            "mode": v1::MonitorMode::try_from(req.mode).map_or("unknown", |m| m.as_str_name()),
        });
        if let Ok(r) = &result {
            details["monitor_id"] = json!(r.monitor_id);
        }
        if !req.supervisor_id.is_empty() && req.supervisor_id != who.name {
            details["claimed_actor"] = json!(req.supervisor_id);
        }
        self.audit
            .record(&who, MONITOR, &req.call_id, details)
            .await;
        result.map(Response::new)
    }

    async fn stop_monitor(
        &self,
        request: Request<v1::StopMonitorRequest>,
    ) -> Result<Response<v1::StopMonitorResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let result = if req.monitor_id.is_empty() {
            Err(Status::invalid_argument(
                "monitor_id is empty: give the id Monitor answered with",
            ))
        } else {
            self.engine
                .stop_monitor(&req.monitor_id)
                .await
                .map(|()| v1::StopMonitorResponse {})
                .map_err(monitor_status)
        };
        let mut details = json!({ "outcome": outcome(&result) });
        if !req.supervisor_id.is_empty() && req.supervisor_id != who.name {
            details["claimed_actor"] = json!(req.supervisor_id);
        }
        self.audit
            .record(&who, STOP_MONITOR, &req.monitor_id, details)
            .await;
        result.map(Response::new)
    }

    async fn set_agent_state(
        &self,
        request: Request<v1::SetAgentStateRequest>,
    ) -> Result<Response<v1::SetAgentStateResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let result = match order(&req) {
            Err(e) => Err(e),
            Ok(order) => self
                .desk
                .order_state(
                    &AgentId::from(req.agent_id.as_str()),
                    order,
                    &req.reason,
                    &who.name,
                )
                .await
                .map(|o| v1::SetAgentStateResponse {
                    state: convert::agent_state(o.state) as i32,
                    deferred: o.deferred,
                })
                .map_err(status),
        };
        let mut details = json!({
            "outcome": outcome(&result),
            "state": v1::AgentState::try_from(req.state).map_or("unknown", |s| s.as_str_name()),
            "reason": req.reason,
            "end_active_call": req.end_active_call,
        });
        if !req.supervisor_id.is_empty() && req.supervisor_id != who.name {
            details["claimed_actor"] = json!(req.supervisor_id);
        }
        self.audit
            .record(&who, SET_AGENT_STATE, &req.agent_id, details)
            .await;
        result.map(Response::new)
    }
}

/// The mode of a `Monitor` request.
fn monitor_mode(mode: i32) -> Result<MonitorMode, Status> {
    match v1::MonitorMode::try_from(mode) {
        Ok(v1::MonitorMode::Listen) => Ok(MonitorMode::Listen),
        Ok(v1::MonitorMode::Whisper) => Ok(MonitorMode::Whisper),
        Ok(v1::MonitorMode::Barge) => Ok(MonitorMode::Barge),
        _ => Err(Status::invalid_argument(
            "mode must be MONITOR_MODE_LISTEN, MONITOR_MODE_WHISPER or MONITOR_MODE_BARGE",
        )),
    }
}

/// The gRPC status of a monitoring error.
fn monitor_status(e: MonitorError) -> Status {
    let message = e.to_string();
    match e {
        MonitorError::UnknownCall(_) | MonitorError::UnknownMonitor(_) => {
            Status::not_found(message)
        }
        MonitorError::NotBridged(_) | MonitorError::Busy { .. } => {
            Status::failed_precondition(message)
        }
        MonitorError::BadContact { .. } => Status::invalid_argument(message),
        MonitorError::NoPorts => Status::resource_exhausted(message),
        MonitorError::Unsupported => Status::unimplemented(message),
        MonitorError::ShuttingDown => Status::unavailable(message),
    }
}

/// The engine's order for a `SetAgentState` request.
fn order(req: &v1::SetAgentStateRequest) -> Result<StateOrder, Status> {
    if req.agent_id.is_empty() {
        return Err(Status::invalid_argument(
            "agent_id is empty: give the id of the agent whose state to set",
        ));
    }
    match v1::AgentState::try_from(req.state) {
        Ok(v1::AgentState::Available) => Ok(StateOrder::Presence(Presence::Available)),
        Ok(v1::AgentState::Paused) => Ok(StateOrder::Presence(Presence::Paused(
            if req.reason.is_empty() {
                "supervisor".into()
            } else {
                req.reason.clone()
            },
        ))),
        Ok(v1::AgentState::LoggedOut) => Ok(StateOrder::LogOut {
            end_active_call: req.end_active_call,
        }),
        _ => Err(Status::invalid_argument(
            "state must be AGENT_STATE_AVAILABLE, AGENT_STATE_PAUSED or AGENT_STATE_LOGGED_OUT; \
             the other states are set by the engine",
        )),
    }
}

impl SupervisorApi {
    /// Checks a `Monitor` request against the calls in progress and hands it to the engine:
    /// the supervisor's phone rings, or the mode of their session switches.
    async fn start_monitor(
        &self,
        supervisor: &str,
        req: &v1::MonitorRequest,
    ) -> Result<v1::MonitorResponse, Status> {
        let mode = monitor_mode(req.mode)?;
        if req.call_id.is_empty() {
            return Err(Status::invalid_argument(
                "call_id is empty: give the id of a call connected to an agent (see ListCalls)",
            ));
        }
        crate::monitor::phone(&req.sip_contact).map_err(monitor_status)?;
        let call = self
            .engine
            .list_calls()
            .into_iter()
            .find(|c| c.call_id == req.call_id)
            .ok_or_else(|| monitor_status(MonitorError::UnknownCall(req.call_id.clone())))?;
        if !matches!(call.phase, CallPhase::Connected | CallPhase::Held) {
            return Err(monitor_status(MonitorError::NotBridged(
                req.call_id.clone(),
            )));
        }
        let started = self
            .engine
            .monitor(MonitorOrder {
                call_id: req.call_id.clone(),
                supervisor: supervisor.to_string(),
                contact: req.sip_contact.clone(),
                mode,
            })
            .await
            .map_err(monitor_status)?;
        Ok(v1::MonitorResponse {
            monitor_id: started.monitor_id,
            mode: req.mode,
        })
    }

    /// Subscribes to the call's live events, then sends its summary and history, then the live
    /// events (without repeating what the history held), until it ends.
    async fn start_watch(&self, call_id: &str) -> Result<BoxStream<v1::CallUpdate>, Status> {
        if call_id.is_empty() {
            return Err(Status::invalid_argument(
                "call_id is empty: give the id of a call (see ListCalls)",
            ));
        }
        let live_events = self.engine.call_events();
        let live = self
            .engine
            .list_calls()
            .into_iter()
            .find(|c| c.call_id == call_id);
        let (record, turns, events) = match &self.store {
            Some(store) => {
                let internal = |e: crate::store::StoreError| Status::internal(e.to_string());
                (
                    store.call(call_id).await.map_err(internal)?,
                    store.transcript(call_id).await.map_err(internal)?,
                    store.events(call_id).await.map_err(internal)?,
                )
            }
            None => (None, Vec::new(), Vec::new()),
        };
        let mut first = Vec::with_capacity(1 + turns.len() + events.len() + 1);
        let ended = match (&live, &record) {
            (Some(c), _) => {
                first.push(update(v1::call_update::Update::Summary(convert::summary(c))));
                None
            }
            (None, Some(r)) => {
                first.push(update(v1::call_update::Update::Summary(
                    convert::ended_summary(r),
                )));
                Some(v1::CallFinished {
                    call_id: call_id.to_string(),
                    hangup_side: r
                        .hangup_side
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    hangup_cause: r.hangup_cause.clone().unwrap_or_default(),
                })
            }
            (None, None) => {
                return Err(Status::not_found(format!(
                    "no call `{call_id}` in progress or on record; ListCalls shows the calls in progress"
                )))
            }
        };
        let mut watch = WatchFilter {
            call_id: call_id.to_string(),
            next_seq: turns.last().map_or(0, |t| t.seq + 1),
            seen_events: events
                .iter()
                .map(|e| (e.at_unix_ms, e.name.clone()))
                .collect(),
        };
        first.extend(
            turns
                .iter()
                .map(|t| update(v1::call_update::Update::Turn(convert::turn(t)))),
        );
        first.extend(
            events
                .iter()
                .map(|e| update(v1::call_update::Update::Event(convert::call_event(e)))),
        );
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            for u in first {
                if tx.send(Ok(u)).await.is_err() {
                    return;
                }
            }
            if let Some(finished) = ended {
                let _ = tx
                    .send(Ok(update(v1::call_update::Update::Finished(finished))))
                    .await;
                return;
            }
            let mut live_events = live_events;
            loop {
                let event = tokio::select! {
                    e = live_events.recv() => e,
                    () = tx.closed() => break,
                    () = stop.requested() => {
                        let _ = tx.send(Err(Stop::status())).await;
                        break;
                    }
                };
                let event = match event {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(
                            call_id = %watch.call_id,
                            missed = n,
                            "a WatchCall stream fell behind the call events; some were skipped"
                        );
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Some(u) = watch.admit(event) else {
                    continue;
                };
                let last = matches!(u, v1::call_update::Update::Finished(_));
                if tx.send(Ok(update(u))).await.is_err() || last {
                    break;
                }
            }
        });
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

fn update(u: v1::call_update::Update) -> v1::CallUpdate {
    v1::CallUpdate { update: Some(u) }
}

/// Picks one call's live events and drops what the history already sent.
struct WatchFilter {
    call_id: String,
    next_seq: u32,
    seen_events: HashSet<(i64, String)>,
}

impl WatchFilter {
    fn admit(&mut self, event: ApiCallEvent) -> Option<v1::call_update::Update> {
        if event.call_id() != self.call_id {
            return None;
        }
        Some(match event {
            ApiCallEvent::Summary(c) => v1::call_update::Update::Summary(convert::summary(&c)),
            ApiCallEvent::Turn(t) => {
                if t.seq < self.next_seq {
                    return None;
                }
                self.next_seq = t.seq + 1;
                v1::call_update::Update::Turn(convert::turn(&t))
            }
            ApiCallEvent::Event(e) => {
                if self.seen_events.remove(&(e.at_unix_ms, e.name.clone())) {
                    return None;
                }
                v1::call_update::Update::Event(convert::call_event(&e))
            }
            ApiCallEvent::Finished {
                call_id,
                hangup_side,
                hangup_cause,
            } => v1::call_update::Update::Finished(v1::CallFinished {
                call_id,
                hangup_side: hangup_side
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                hangup_cause,
            }),
        })
    }
}

/// One wallboard client's view: its filter and what it was last sent, to send only changes.
struct WallboardView {
    queues: HashSet<String>,
    include_calls: bool,
    sent_queues: HashMap<String, v1::QueueStats>,
    sent_agents: HashMap<String, v1::AgentStatus>,
    sent_calls: HashMap<String, v1::CallSummary>,
}

/// Parts of the current figures the client asked for.
struct Figures {
    queues: Vec<v1::QueueStats>,
    agents: Vec<v1::AgentStatus>,
    calls: Vec<v1::CallSummary>,
}

impl WallboardView {
    fn new(queues: &[String], include_calls: bool) -> WallboardView {
        WallboardView {
            queues: queues.iter().cloned().collect(),
            include_calls,
            sent_queues: HashMap::new(),
            sent_agents: HashMap::new(),
            sent_calls: HashMap::new(),
        }
    }

    fn wants_queue(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.contains(queue)
    }

    fn figures(&self, s: &WallboardSnapshot) -> Figures {
        let queues = s
            .acd
            .queues
            .iter()
            .filter(|q| self.wants_queue(q.name.as_str()))
            .map(|q| convert::queue_stats(q, s))
            .collect();
        let agents = s
            .acd
            .agents
            .iter()
            .filter(|a| a.state != AgentStateKind::LoggedOut)
            .filter(|a| {
                self.queues.is_empty()
                    || s.agents
                        .get(&a.id)
                        .is_some_and(|c| c.queues.iter().any(|q| self.queues.contains(q.as_str())))
            })
            .map(|a| convert::agent_status(a, s))
            .collect();
        let calls = if self.include_calls {
            s.calls
                .iter()
                .filter(|c| {
                    self.queues.is_empty()
                        || c.queue.as_deref().is_some_and(|q| self.queues.contains(q))
                })
                .map(convert::summary)
                .collect()
        } else {
            Vec::new()
        };
        Figures {
            queues,
            agents,
            calls,
        }
    }

    /// The first message: everything, remembered as sent.
    fn snapshot(&mut self, s: &WallboardSnapshot) -> v1::WallboardUpdate {
        let f = self.figures(s);
        self.sent_queues = f
            .queues
            .iter()
            .map(|q| (q.queue.clone(), q.clone()))
            .collect();
        self.sent_agents = f
            .agents
            .iter()
            .map(|a| (a.agent_id.clone(), a.clone()))
            .collect();
        self.sent_calls = f
            .calls
            .iter()
            .map(|c| (c.call_id.clone(), c.clone()))
            .collect();
        v1::WallboardUpdate {
            at_unix_ms: s.at_unix_ms,
            snapshot: true,
            queues: f.queues,
            agents: f.agents,
            calls: f.calls,
            ended_call_ids: Vec::new(),
        }
    }

    /// What changed since the last message, or `None` when nothing did. Agents' time in state
    /// and calls' wait grow by themselves and do not count as changes.
    fn update(&mut self, s: &WallboardSnapshot) -> Option<v1::WallboardUpdate> {
        let f = self.figures(s);
        let mut out = v1::WallboardUpdate {
            at_unix_ms: s.at_unix_ms,
            snapshot: false,
            ..Default::default()
        };
        for q in f.queues {
            if self.sent_queues.get(&q.queue) != Some(&q) {
                self.sent_queues.insert(q.queue.clone(), q.clone());
                out.queues.push(q);
            }
        }
        let present: HashSet<String> = f.agents.iter().map(|a| a.agent_id.clone()).collect();
        for a in f.agents {
            let changed = self.sent_agents.get(&a.agent_id).is_none_or(|old| {
                v1::AgentStatus {
                    time_in_state_ms: a.time_in_state_ms,
                    ..old.clone()
                } != a
            });
            if changed {
                self.sent_agents.insert(a.agent_id.clone(), a.clone());
                out.agents.push(a);
            }
        }
        let gone: Vec<String> = self
            .sent_agents
            .keys()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(old) = self.sent_agents.remove(&id) {
                out.agents.push(v1::AgentStatus {
                    state: v1::AgentState::LoggedOut as i32,
                    reason: String::new(),
                    call_id: String::new(),
                    time_in_state_ms: 0,
                    ..old
                });
            }
        }
        let live: HashSet<String> = f.calls.iter().map(|c| c.call_id.clone()).collect();
        for c in f.calls {
            let changed = self.sent_calls.get(&c.call_id).is_none_or(|old| {
                v1::CallSummary {
                    wait_ms: c.wait_ms,
                    ..old.clone()
                } != c
            });
            if changed {
                self.sent_calls.insert(c.call_id.clone(), c.clone());
                out.calls.push(c);
            }
        }
        let ended: Vec<String> = self
            .sent_calls
            .keys()
            .filter(|id| !live.contains(*id))
            .cloned()
            .collect();
        for id in ended {
            self.sent_calls.remove(&id);
            out.ended_call_ids.push(id);
        }
        out.ended_call_ids.sort();
        let empty = out.queues.is_empty()
            && out.agents.is_empty()
            && out.calls.is_empty()
            && out.ended_call_ids.is_empty();
        (!empty).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::acd::{AgentStats, CallId, QueueName, Snapshot};
    use crate::api::facade::{AgentCard, CallPhase, LiveCall};

    #[test]
    fn monitor_requests_need_a_mode_and_errors_map_to_the_documented_codes() {
        assert_eq!(monitor_mode(1).unwrap(), MonitorMode::Listen);
        assert_eq!(monitor_mode(2).unwrap(), MonitorMode::Whisper);
        assert_eq!(monitor_mode(3).unwrap(), MonitorMode::Barge);
        for bad in [0, 4, -1] {
            assert_eq!(
                monitor_mode(bad).unwrap_err().code(),
                tonic::Code::InvalidArgument
            );
        }
        let code = |e| monitor_status(e).code();
        assert_eq!(
            code(MonitorError::UnknownCall("c".into())),
            tonic::Code::NotFound
        );
        assert_eq!(
            code(MonitorError::UnknownMonitor("m".into())),
            tonic::Code::NotFound
        );
        assert_eq!(
            code(MonitorError::NotBridged("c".into())),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(
            code(MonitorError::Busy {
                call_id: "c".into(),
                supervisor: "sue".into()
            }),
            tonic::Code::FailedPrecondition
        );
        let bad = crate::monitor::phone("sip:sue@pbx.example.com").unwrap_err();
        assert_eq!(code(bad), tonic::Code::InvalidArgument);
    }

    fn live(call_id: &str, queue: &str) -> LiveCall {
        LiveCall {
            call_id: call_id.into(),
            direction: crate::store::Direction::Inbound,
            from_number: "+15550100".into(),
            to_number: "+15550199".into(),
            trunk: "main".into(),
            phase: CallPhase::Queued,
            dial_plan: "bank".into(),
            node: String::new(),
            queue: Some(queue.into()),
            agent_id: None,
            started_at_unix_ms: 1,
            answered_at_unix_ms: Some(2),
            wait_ms: 0,
        }
    }

    fn agent(id: &str, state: AgentStateKind, secs: u64) -> AgentStats {
        AgentStats {
            id: AgentId::from(id),
            state,
            reason: None,
            call: None,
            time_in_state: Duration::from_secs(secs),
            handled: 0,
            consecutive_misses: 0,
        }
    }

    fn board(agents: Vec<AgentStats>, calls: Vec<LiveCall>) -> WallboardSnapshot {
        let mut s = WallboardSnapshot {
            at_unix_ms: 10,
            acd: Snapshot {
                queues: Vec::new(),
                agents,
            },
            calls,
            ..Default::default()
        };
        for (id, q) in [("ann", "cards"), ("bob", "loans")] {
            s.agents.insert(
                AgentId::from(id),
                AgentCard {
                    display_name: String::new(),
                    queues: vec![QueueName::from(q)],
                },
            );
        }
        s.call_ids.insert(CallId(1), "c-1".into());
        s
    }

    #[test]
    fn the_first_message_is_a_filtered_snapshot_without_logged_out_agents() {
        let mut view = WallboardView::new(&["cards".into()], true);
        let s = board(
            vec![
                agent("ann", AgentStateKind::Available, 1),
                agent("bob", AgentStateKind::Available, 1),
            ],
            vec![live("c-1", "cards"), live("c-2", "loans")],
        );
        let first = view.snapshot(&s);
        assert!(first.snapshot);
        assert_eq!(
            first
                .agents
                .iter()
                .map(|a| a.agent_id.as_str())
                .collect::<Vec<_>>(),
            ["ann"]
        );
        assert_eq!(first.calls.len(), 1);
        assert_eq!(first.calls[0].call_id, "c-1");
    }

    #[test]
    fn updates_carry_only_changes_and_a_logout_once() {
        let mut view = WallboardView::new(&[], true);
        view.snapshot(&board(
            vec![
                agent("ann", AgentStateKind::Available, 1),
                agent("bob", AgentStateKind::Available, 1),
            ],
            vec![live("c-1", "cards")],
        ));
        // Time passing alone is no change.
        assert!(view
            .update(&board(
                vec![
                    agent("ann", AgentStateKind::Available, 9),
                    agent("bob", AgentStateKind::Available, 9),
                ],
                vec![LiveCall {
                    wait_ms: 5000,
                    ..live("c-1", "cards")
                }],
            ))
            .is_none());
        // Ann goes on a call, Bob logs out, the call ends.
        let u = view
            .update(&board(
                vec![
                    agent("ann", AgentStateKind::OnCall, 0),
                    agent("bob", AgentStateKind::LoggedOut, 0),
                ],
                vec![],
            ))
            .unwrap();
        assert!(!u.snapshot);
        let states: Vec<(String, i32)> = u
            .agents
            .iter()
            .map(|a| (a.agent_id.clone(), a.state))
            .collect();
        assert_eq!(
            states,
            [
                ("ann".to_string(), v1::AgentState::OnCall as i32),
                ("bob".to_string(), v1::AgentState::LoggedOut as i32)
            ]
        );
        assert_eq!(u.ended_call_ids, ["c-1"]);
        // Bob does not appear again.
        assert!(view
            .update(&board(
                vec![
                    agent("ann", AgentStateKind::OnCall, 3),
                    agent("bob", AgentStateKind::LoggedOut, 3),
                ],
                vec![],
            ))
            .is_none());
    }

    #[test]
    fn a_watch_skips_turns_and_events_the_history_already_sent() {
        use crate::store::{CallEvent, Speaker, Turn};
        let mut w = WatchFilter {
            call_id: "c-1".into(),
            next_seq: 2,
            seen_events: [(5, "dtmf".to_string())].into_iter().collect(),
        };
        let turn = |seq| {
            ApiCallEvent::Turn(Turn {
                call_id: "c-1".into(),
                seq,
                who: Speaker::Caller,
                text: "hello".into(),
                node: None,
                at_ms: 0,
            })
        };
        assert!(w.admit(turn(1)).is_none());
        assert!(w.admit(turn(2)).is_some());
        assert!(w.admit(turn(2)).is_none());
        let ev = |at| {
            ApiCallEvent::Event(CallEvent {
                call_id: "c-1".into(),
                at_unix_ms: at,
                name: "dtmf".into(),
                data: serde_json::Value::Null,
            })
        };
        assert!(w.admit(ev(5)).is_none());
        assert!(w.admit(ev(6)).is_some());
        assert!(w.admit(ApiCallEvent::Summary(live("c-2", "q"))).is_none());
    }
}
