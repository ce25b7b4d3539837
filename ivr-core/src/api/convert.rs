//! Engine types to wire messages, and engine errors to gRPC statuses.

use std::time::Duration;

use ivr_dialplans::{Diagnostic, Severity};
use ivr_proto::v1;
use tonic::Status;

use super::facade::{CallPhase, EngineError, LiveCall, WallboardSnapshot};
use crate::acd::{AcdError, AgentStateKind, AgentStats, QueueStats};
use crate::store::{CallEvent, Cdr, Direction, Speaker, Turn};

/// Milliseconds of a duration, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The gRPC status for an engine refusal; the message is the error's.
pub(crate) fn status(e: EngineError) -> Status {
    let message = e.to_string();
    match e {
        EngineError::Acd(acd) => match acd {
            AcdError::UnknownQueue(_) | AcdError::UnknownCall(_) | AcdError::NoSuchOffer { .. } => {
                Status::not_found(message)
            }
            AcdError::DuplicateCall(_) => Status::already_exists(message),
            AcdError::SkillLevelOutOfRange { .. } => Status::invalid_argument(message),
            AcdError::UnknownAgent(_)
            | AcdError::NotWaiting(_)
            | AcdError::InvalidTransition { .. }
            | AcdError::AgentNotAvailable { .. } => Status::failed_precondition(message),
        },
        EngineError::NotLoggedIn(_) => Status::failed_precondition(message),
        EngineError::UnknownOffer { .. } | EngineError::UnknownCall { .. } => {
            Status::not_found(message)
        }
        EngineError::Unsupported { .. } => Status::unimplemented(message),
        EngineError::InvalidArgument(_) => Status::invalid_argument(message),
        EngineError::ShuttingDown => Status::unavailable(message),
    }
}

/// A short outcome label for the audit log.
pub(crate) fn outcome<T>(result: &Result<T, Status>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(s) => format!("{:?}", s.code()).to_lowercase(),
    }
}

pub(crate) fn agent_state(kind: AgentStateKind) -> v1::AgentState {
    match kind {
        AgentStateKind::LoggedOut => v1::AgentState::LoggedOut,
        AgentStateKind::Available => v1::AgentState::Available,
        AgentStateKind::Reserved | AgentStateKind::Ringing => v1::AgentState::Ringing,
        AgentStateKind::OnCall => v1::AgentState::OnCall,
        AgentStateKind::WrapUp => v1::AgentState::WrapUp,
        AgentStateKind::Paused => v1::AgentState::Paused,
    }
}

fn call_state(phase: CallPhase) -> v1::CallState {
    match phase {
        CallPhase::Dialing => v1::CallState::Dialing,
        CallPhase::InIvr => v1::CallState::InIvr,
        CallPhase::Queued => v1::CallState::Queued,
        CallPhase::RingingAgent => v1::CallState::RingingAgent,
        CallPhase::Connected => v1::CallState::Connected,
        CallPhase::Held => v1::CallState::Held,
        CallPhase::Transferring => v1::CallState::Transferring,
    }
}

fn direction(d: Direction) -> v1::CallDirection {
    match d {
        Direction::Inbound => v1::CallDirection::Inbound,
        Direction::Outbound => v1::CallDirection::Outbound,
    }
}

pub(crate) fn summary(c: &LiveCall) -> v1::CallSummary {
    v1::CallSummary {
        call_id: c.call_id.clone(),
        direction: direction(c.direction) as i32,
        from_number: c.from_number.clone(),
        to_number: c.to_number.clone(),
        trunk: c.trunk.clone(),
        state: call_state(c.phase) as i32,
        dial_plan: c.dial_plan.clone(),
        node: c.node.clone(),
        queue: c.queue.clone().unwrap_or_default(),
        agent_id: c.agent_id.clone().unwrap_or_default(),
        started_at_unix_ms: c.started_at_unix_ms,
        answered_at_unix_ms: c.answered_at_unix_ms.unwrap_or(0),
        wait_ms: c.wait_ms,
    }
}

/// The summary of a call that is no longer live, from its record.
pub(crate) fn ended_summary(c: &Cdr) -> v1::CallSummary {
    v1::CallSummary {
        call_id: c.call_id.clone(),
        direction: direction(c.direction) as i32,
        from_number: c.from_number.clone(),
        to_number: c.to_number.clone(),
        trunk: c.trunk.clone(),
        state: v1::CallState::Ended as i32,
        dial_plan: c.dial_plan.clone(),
        node: String::new(),
        queue: c.queue.clone().unwrap_or_default(),
        agent_id: c.agent_id.clone().unwrap_or_default(),
        started_at_unix_ms: c.started_at_unix_ms,
        answered_at_unix_ms: c.answered_at_unix_ms.unwrap_or(0),
        wait_ms: c.wait_ms,
    }
}

/// Whether a live call passes a `ListCallsRequest`'s filters.
pub(crate) fn call_matches(c: &LiveCall, queue: &str, agent_id: &str) -> bool {
    (queue.is_empty() || c.queue.as_deref() == Some(queue))
        && (agent_id.is_empty() || c.agent_id.as_deref() == Some(agent_id))
}

pub(crate) fn problem(d: &Diagnostic) -> v1::Problem {
    v1::Problem {
        file: d.file.to_string(),
        line: d.line,
        column: d.column,
        error: d.severity == Severity::Error,
        message: d.message.clone(),
        hint: d.hint.clone().unwrap_or_default(),
    }
}

pub(crate) fn call_record(c: Cdr) -> v1::CallRecord {
    use crate::store::Outcome;
    v1::CallRecord {
        direction: direction(c.direction) as i32,
        from_number: c.from_number,
        to_number: c.to_number,
        trunk: c.trunk,
        started_at_unix_ms: c.started_at_unix_ms,
        answered_at_unix_ms: c.answered_at_unix_ms.unwrap_or(0),
        ended_at_unix_ms: c.ended_at_unix_ms.unwrap_or(0),
        dial_plan: c.dial_plan,
        dial_plan_version: c.dial_plan_version,
        node_path: c.node_path,
        intents: c
            .intents
            .into_iter()
            .map(|i| v1::IntentScore {
                name: i.name,
                score: i.score,
            })
            .collect(),
        slots: c
            .slots
            .into_iter()
            .map(|s| v1::Slot {
                name: s.name,
                value: s.value,
                sensitive: s.sensitive,
            })
            .collect(),
        contained: c.outcome == Some(Outcome::Contained),
        transferred: c.outcome == Some(Outcome::Transferred),
        queue: c.queue.unwrap_or_default(),
        wait_ms: c.wait_ms,
        agent_id: c.agent_id.unwrap_or_default(),
        talk_ms: c.talk_ms,
        disposition: c.disposition.unwrap_or_default(),
        notes: c.notes.unwrap_or_default(),
        hangup_cause: c.hangup_cause.unwrap_or_default(),
        hangup_side: c
            .hangup_side
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        amd: c.amd.unwrap_or_default(),
        call_id: c.call_id,
    }
}

pub(crate) fn turn(t: &Turn) -> v1::TranscriptTurn {
    let who = match t.who {
        Speaker::Caller => v1::Speaker::Caller,
        Speaker::Ivr => v1::Speaker::Ivr,
        Speaker::Agent => v1::Speaker::Agent,
        Speaker::Supervisor => v1::Speaker::Supervisor,
    };
    v1::TranscriptTurn {
        who: who as i32,
        text: t.text.clone(),
        node: t.node.clone().unwrap_or_default(),
        at_ms: t.at_ms,
    }
}

pub(crate) fn call_event(e: &CallEvent) -> v1::CallEvent {
    v1::CallEvent {
        call_id: e.call_id.clone(),
        at_unix_ms: e.at_unix_ms,
        name: e.name.clone(),
        data_json: e.data.to_string(),
    }
}

pub(crate) fn queue_stats(q: &QueueStats, snapshot: &WallboardSnapshot) -> v1::QueueStats {
    let percent = |r: Option<f64>| r.map_or(0.0, |r| (r * 100.0) as f32);
    v1::QueueStats {
        queue: q.name.to_string(),
        waiting: u32::try_from(q.waiting).unwrap_or(u32::MAX),
        longest_wait_ms: ms(q.longest_wait),
        service_level_percent: percent(q.service_level),
        service_level_threshold_ms: snapshot
            .service_level_thresholds
            .get(&q.name)
            .map_or(0, |d| ms(*d)),
        average_speed_of_answer_ms: q.average_speed_of_answer.map_or(0, ms),
        abandonment_rate_percent: percent(q.abandonment_rate),
        handled: u32::try_from(q.handled).unwrap_or(u32::MAX),
        abandoned: u32::try_from(q.abandoned).unwrap_or(u32::MAX),
        agents_available: u32::try_from(q.available_agents).unwrap_or(u32::MAX),
        agents_logged_in: u32::try_from(q.staffed_agents).unwrap_or(u32::MAX),
    }
}

pub(crate) fn agent_status(a: &AgentStats, snapshot: &WallboardSnapshot) -> v1::AgentStatus {
    let card = snapshot.agents.get(&a.id);
    v1::AgentStatus {
        agent_id: a.id.to_string(),
        display_name: card
            .map(|c| c.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| a.id.to_string()),
        state: agent_state(a.state) as i32,
        reason: a.reason.clone().unwrap_or_default(),
        time_in_state_ms: ms(a.time_in_state),
        call_id: a
            .call
            .and_then(|c| snapshot.call_ids.get(&c).cloned())
            .unwrap_or_default(),
        queues: card
            .map(|c| c.queues.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        handled: u32::try_from(a.handled).unwrap_or(u32::MAX),
    }
}

/// `ListCalls` (admin and supervisor alike): the calls in progress the request asks for, the
/// listing recorded in the audit log under `rpc`.
pub(crate) async fn list_calls(
    engine: &dyn super::EngineControl,
    audit: &super::Auditor,
    rpc: &str,
    request: tonic::Request<v1::ListCallsRequest>,
) -> Result<tonic::Response<v1::ListCallsResponse>, Status> {
    let who = super::auth::principal(&request)?;
    let req = request.into_inner();
    let calls: Vec<v1::CallSummary> = engine
        .list_calls()
        .iter()
        .filter(|c| call_matches(c, &req.queue, &req.agent_id))
        .map(summary)
        .collect();
    audit
        .record(
            &who,
            rpc,
            "",
            serde_json::json!({ "outcome": "ok", "calls": calls.len() }),
        )
        .await;
    Ok(tonic::Response::new(v1::ListCallsResponse { calls }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::{AgentId, CallId};

    #[test]
    fn every_engine_refusal_maps_to_a_status_that_keeps_its_message() {
        let s = status(EngineError::NotLoggedIn(AgentId::from("ann")));
        assert_eq!(s.code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            s.message(),
            "agent `ann` is not logged in; call Login first"
        );
        assert_eq!(
            status(EngineError::Acd(AcdError::UnknownCall(CallId(7)))).code(),
            tonic::Code::NotFound
        );
        assert_eq!(
            status(EngineError::Unsupported {
                what: "x",
                when: "later"
            })
            .code(),
            tonic::Code::Unimplemented
        );
        assert_eq!(
            status(EngineError::ShuttingDown).code(),
            tonic::Code::Unavailable
        );
    }

    #[test]
    fn reserved_agents_show_as_ringing_on_the_wire() {
        assert_eq!(
            agent_state(AgentStateKind::Reserved),
            v1::AgentState::Ringing
        );
    }

    #[test]
    fn wallboard_agents_take_display_names_and_engine_call_ids() {
        let mut snapshot = WallboardSnapshot::default();
        snapshot.agents.insert(
            AgentId::from("ann"),
            super::super::facade::AgentCard {
                display_name: "Ann Lee".into(),
                queues: vec!["cards".into()],
            },
        );
        snapshot.call_ids.insert(CallId(3), "c-3".into());
        let stats = AgentStats {
            id: AgentId::from("ann"),
            state: AgentStateKind::OnCall,
            reason: None,
            call: Some(CallId(3)),
            time_in_state: Duration::from_millis(1500),
            handled: 4,
            consecutive_misses: 0,
        };
        let s = agent_status(&stats, &snapshot);
        assert_eq!(s.display_name, "Ann Lee");
        assert_eq!(s.call_id, "c-3");
        assert_eq!(s.queues, vec!["cards".to_string()]);
        assert_eq!(s.time_in_state_ms, 1500);
        assert_eq!(s.state, v1::AgentState::OnCall as i32);
    }
}
