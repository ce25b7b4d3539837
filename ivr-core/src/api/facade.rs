//! What the API needs from the engine: two traits the engine implements, and the plain types
//! they speak.
//!
//! * [`EngineControl`] — live calls, hangup, dial-plan reload, the wallboard feed and the call
//!   event feed (admin and supervisor services).
//! * [`AgentDesk`] — the agent desktop's operations, implemented by the ACD driver (agent
//!   service, and the supervisor's `SetAgentState`).
//!
//! The traits take and return engine types (ids, [`AgentStateKind`], [`LiveCall`],
//! [`WallboardSnapshot`] built from [`crate::acd::Snapshot`]); the services convert to and from
//! the wire. The agent event stream carries [`ivr_proto::v1::AgentEvent`] as is: the screen pop
//! it holds is built once by the ACD driver and has no other use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ivr_dialplans::Diagnostic;
use ivr_proto::v1;
use tokio::sync::{broadcast, mpsc, watch};

use crate::acd::{self, AcdError, AgentId, AgentProfile, AgentStateKind, Presence, QueueName};
use crate::plans::{PlanSet, ReloadReport};
use crate::store::{CallEvent, Direction, HangupSide, Turn};

/// Where a live call is, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallPhase {
    /// An outbound call being set up.
    Dialing,
    /// The caller talks to the dial plan.
    InIvr,
    /// The caller waits in a queue.
    Queued,
    /// An agent's phone rings for the call.
    RingingAgent,
    /// Caller and agent talk.
    Connected,
    /// The agent put the caller on hold.
    Held,
    /// The call moves to another queue or agent.
    Transferring,
}

/// A call in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveCall {
    /// The engine's call id.
    pub call_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Calling number.
    pub from_number: String,
    /// Called number.
    pub to_number: String,
    /// Trunk name.
    pub trunk: String,
    /// Where the call is.
    pub phase: CallPhase,
    /// Dial plan name.
    pub dial_plan: String,
    /// The dial-plan node running now; empty once an agent has the call.
    pub node: String,
    /// The queue the call waits in or came from.
    pub queue: Option<String>,
    /// The agent handling the call.
    pub agent_id: Option<String>,
    /// When the call started.
    pub started_at_unix_ms: i64,
    /// When it was answered.
    pub answered_at_unix_ms: Option<i64>,
    /// Time spent waiting in queues so far.
    pub wait_ms: u64,
}

/// The result of reloading the dial plans.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReloadOutcome {
    /// True when every plan file loaded (failed files keep their previous version).
    pub reloaded: bool,
    /// The plans in service afterwards: (name, version).
    pub plans: Vec<(String, String)>,
    /// Every problem found, errors and warnings.
    pub problems: Vec<Diagnostic>,
}

impl ReloadOutcome {
    /// The outcome of [`crate::plans::PlanRegistry::reload`]: its report and the plans in
    /// service after it (`registry.current()`).
    pub fn from_report(report: &ReloadReport, current: &PlanSet) -> ReloadOutcome {
        let mut plans: Vec<(String, String)> = current
            .plans()
            .map(|p| (p.name().to_string(), p.fingerprint.clone()))
            .collect();
        plans.sort();
        ReloadOutcome {
            reloaded: report.failed.is_empty(),
            plans,
            problems: report
                .failed
                .iter()
                .flat_map(|(_, diags)| diags.iter().cloned())
                .collect(),
        }
    }
}

/// What an agent looks like on the wallboard beyond the ACD's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentCard {
    /// Name to show; empty to show the id.
    pub display_name: String,
    /// Queues the agent serves.
    pub queues: Vec<QueueName>,
}

/// The wallboard at one instant: the ACD's snapshot and what the API needs to show it.
#[derive(Clone, Debug, PartialEq)]
pub struct WallboardSnapshot {
    /// When the figures were taken.
    pub at_unix_ms: i64,
    /// The router's figures ([`crate::acd::Acd::snapshot`]).
    pub acd: acd::Snapshot,
    /// Each queue's service-level threshold (from the ACD configuration).
    pub service_level_thresholds: HashMap<QueueName, Duration>,
    /// Display names and queues of the agents, by id.
    pub agents: HashMap<AgentId, AgentCard>,
    /// The engine's call id of each call the router knows.
    pub call_ids: HashMap<acd::CallId, String>,
    /// The calls in progress.
    pub calls: Vec<LiveCall>,
}

impl Default for WallboardSnapshot {
    /// Nothing yet: no queue, agent or call.
    fn default() -> Self {
        WallboardSnapshot {
            at_unix_ms: 0,
            acd: acd::Snapshot {
                queues: Vec::new(),
                agents: Vec::new(),
            },
            service_level_thresholds: HashMap::new(),
            agents: HashMap::new(),
            call_ids: HashMap::new(),
            calls: Vec::new(),
        }
    }
}

/// One thing that happened to a live call, for `WatchCall`.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiCallEvent {
    /// The call's summary changed (state, queue or agent), or the call started.
    Summary(LiveCall),
    /// A transcript turn (already redacted).
    Turn(Turn),
    /// An event of the call's log (already redacted).
    Event(CallEvent),
    /// The call ended.
    Finished {
        /// The call.
        call_id: String,
        /// Who hung up.
        hangup_side: Option<HangupSide>,
        /// Why, for example `normal_clearing`.
        hangup_cause: String,
    },
}

impl ApiCallEvent {
    /// The call the event belongs to.
    pub fn call_id(&self) -> &str {
        match self {
            ApiCallEvent::Summary(c) => &c.call_id,
            ApiCallEvent::Turn(t) => &t.call_id,
            ApiCallEvent::Event(e) => &e.call_id,
            ApiCallEvent::Finished { call_id, .. } => call_id,
        }
    }
}

/// An outbound call to place (`Originate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginateOrder {
    /// Trunk to dial out through.
    pub trunk: String,
    /// Number to call.
    pub destination: String,
    /// Calling number to present; empty for the trunk's default.
    pub caller_id: String,
    /// Dial plan to run when answered.
    pub dial_plan: String,
    /// Variables for the dial plan.
    pub variables: HashMap<String, String>,
    /// Give up when not answered within this time.
    pub timeout: Duration,
    /// Who asked (the principal's name).
    pub actor: String,
    /// The call back of a queue's request: when answered the callee rejoins the queue instead
    /// of running the plan.
    pub callback: Option<crate::callback::CallbackTicket>,
}

/// Why the engine or the ACD refused an API request. Each variant maps to one gRPC status
/// code (`NOT_FOUND`, `FAILED_PRECONDITION`, `INVALID_ARGUMENT`, `ALREADY_EXISTS`,
/// `UNIMPLEMENTED`, `UNAVAILABLE`), with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The router refused the input.
    #[error(transparent)]
    Acd(#[from] AcdError),
    /// The agent is not logged in.
    #[error("agent `{0}` is not logged in; call Login first")]
    NotLoggedIn(AgentId),
    /// The offer is not (or no longer) open to this agent.
    #[error("agent `{agent}` has no open offer `{offer_id}`: it was accepted, rejected, withdrawn or timed out; wait for the next Offer event")]
    UnknownOffer {
        /// The agent.
        agent: AgentId,
        /// The offer.
        offer_id: String,
    },
    /// No call in progress has this id (for this agent, for agent requests).
    #[error("no call `{call_id}` in progress; list calls in progress with ListCalls")]
    UnknownCall {
        /// The call.
        call_id: String,
    },
    /// The engine does not do this yet.
    #[error("{what} is not available yet: {when}")]
    Unsupported {
        /// What was asked.
        what: &'static str,
        /// When it arrives or what to do instead.
        when: &'static str,
    },
    /// A request field is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The engine is stopping and takes no new work.
    #[error("the engine is shutting down; retry on another instance")]
    ShuttingDown,
}

/// The engine as the admin and supervisor services see it; implemented by `serve`.
#[tonic::async_trait]
pub trait EngineControl: Send + Sync + 'static {
    /// The calls in progress, oldest first.
    fn list_calls(&self) -> Vec<LiveCall>;

    /// Hangs up a call in progress with `cause` recorded as its hangup cause (system side).
    /// `Ok(false)` when no such call is in progress.
    async fn hangup(&self, call_id: &str, cause: &str) -> Result<bool, EngineError>;

    /// Reloads the dial plans from disk (the registry's reload, off the reactor).
    async fn reload_plans(&self) -> ReloadOutcome;

    /// The plans folder: `ValidateDialPlan` resolves relative paths against it.
    fn plans_dir(&self) -> Option<PathBuf>;

    /// The wallboard feed: the latest snapshot, replaced whenever the figures change (the ACD
    /// driver sends one after handling events, at most a few times a second).
    fn wallboard(&self) -> watch::Receiver<WallboardSnapshot>;

    /// Everything that happens to live calls (summaries, turns, events, ends).
    fn call_events(&self) -> broadcast::Receiver<ApiCallEvent>;

    /// Places an outbound call; progress messages follow on the receiver, the first one
    /// `created` with the new call id. Unsupported unless the engine overrides it.
    async fn originate(
        &self,
        order: OriginateOrder,
    ) -> Result<mpsc::Receiver<v1::OriginateProgress>, EngineError> {
        let _ = order;
        Err(EngineError::Unsupported {
            what: "Originate",
            when: "outbound calling arrives with campaigns",
        })
    }

    /// Rings a supervisor into a call bridged to an agent, or switches the mode of the
    /// supervisor already on it. Unsupported unless the engine overrides it.
    async fn monitor(
        &self,
        order: crate::monitor::MonitorOrder,
    ) -> Result<crate::monitor::MonitorStarted, crate::monitor::MonitorError> {
        let _ = order;
        Err(crate::monitor::MonitorError::Unsupported)
    }

    /// Hangs up a supervisor's monitoring leg. Unsupported unless the engine overrides it.
    async fn stop_monitor(&self, monitor_id: &str) -> Result<(), crate::monitor::MonitorError> {
        let _ = monitor_id;
        Err(crate::monitor::MonitorError::Unsupported)
    }
}

/// An agent logging in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentLogin {
    /// Id, skills and queues.
    pub profile: AgentProfile,
    /// Where to ring the agent (SIP URI).
    pub sip_contact: String,
    /// Name for the wallboard; empty for the id.
    pub display_name: String,
}

/// An agent's state after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateOutcome {
    /// The state now (or still, when deferred).
    pub state: AgentStateKind,
    /// The reason in force (for Paused).
    pub reason: String,
    /// True when the change waits for the agent's call to end.
    pub deferred: bool,
}

/// A state a supervisor sets for an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateOrder {
    /// Available or Paused with a reason.
    Presence(Presence),
    /// A forced logout; with `end_active_call` the agent's call is hung up instead of waited
    /// for.
    LogOut {
        /// End the call in progress now.
        end_active_call: bool,
    },
}

/// Where an agent transfers a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    /// A queue; the caller waits there with the screen pop kept.
    Queue(QueueName),
    /// A logged-in agent, offered the call directly.
    Agent(AgentId),
}

/// The agent desktop's operations; implemented by the ACD driver. Every method is called only
/// after the API checked that the principal may act as `agent` (`changed_by` names who acted:
/// the agent, or a supervisor or admin acting for them).
#[tonic::async_trait]
pub trait AgentDesk: Send + Sync + 'static {
    /// Logs the agent in (Paused, reason `login`); again while logged in replaces the contact,
    /// skills and queues. Returns the state and the queues joined.
    async fn login(&self, login: AgentLogin)
        -> Result<(StateOutcome, Vec<QueueName>), EngineError>;

    /// Logs the agent out; `Ok(true)` when it waits for the call in progress to be wrapped up.
    async fn logout(&self, agent: &AgentId) -> Result<bool, EngineError>;

    /// Makes the agent Available or Paused.
    async fn set_presence(
        &self,
        agent: &AgentId,
        presence: Presence,
        changed_by: &str,
    ) -> Result<StateOutcome, EngineError>;

    /// A supervisor's change of an agent's state, including a forced logout.
    async fn order_state(
        &self,
        agent: &AgentId,
        order: StateOrder,
        reason: &str,
        changed_by: &str,
    ) -> Result<StateOutcome, EngineError>;

    /// The agent's event stream; opening a new one closes the previous one (the desk drops its
    /// sender). The stream ends when the receiver's senders are gone.
    async fn events(&self, agent: &AgentId) -> Result<mpsc::Receiver<v1::AgentEvent>, EngineError>;

    /// Accepts an offer; returns the call id.
    async fn accept(&self, agent: &AgentId, offer_id: &str) -> Result<String, EngineError>;

    /// Rejects an offer (the call goes back to the queue).
    async fn reject(
        &self,
        agent: &AgentId,
        offer_id: &str,
        reason: &str,
    ) -> Result<(), EngineError>;

    /// Puts the agent's caller on hold.
    async fn hold(&self, agent: &AgentId, call_id: &str) -> Result<(), EngineError>;

    /// Takes the agent's caller off hold.
    async fn resume(&self, agent: &AgentId, call_id: &str) -> Result<(), EngineError>;

    /// Transfers the agent's call; the agent goes to wrap-up.
    async fn transfer(
        &self,
        agent: &AgentId,
        call_id: &str,
        target: TransferTarget,
        note: &str,
    ) -> Result<(), EngineError>;

    /// Ends the wrap-up of a call with its disposition; returns the state afterwards.
    async fn complete_wrap_up(
        &self,
        agent: &AgentId,
        call_id: &str,
        disposition: &str,
        notes: &str,
    ) -> Result<AgentStateKind, EngineError>;
}
