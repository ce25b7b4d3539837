//! Agents: their profile (skills, queues) and the state machine the router keeps for each.
//!
//! ```text
//!                 login
//!   LoggedOut ─────────────▶ Available ◀──────────────────────────────┐
//!       ▲                     │   ▲  ▲                                 │
//!       │ logout (any state   │   │  │ unpause            timer / complete_wrap_up
//!       │ but OnCall; an      │   │  └──────── Paused ◀── pause ──┐     │
//!       │ offer is released)  │   │ reject / ring-no-answer /     │     │
//!       │               offer │   │ cancelled (N misses → Paused) │     │
//!       │                     ▼   │                               │     │
//!       │                  Reserved ──ringing──▶ Ringing          │     │
//!       │                     │                    │              │     │
//!       │                     └───── answered ─────┴─▶ OnCall ──call ended──▶ WrapUp
//! ```
//!
//! `Reserved` and `Ringing` always carry the offer's ring timer and `WrapUp` the queue's wrap-up
//! timer, so no agent stays in them longer than configured. Pausing is allowed from
//! `Available` and `WrapUp` (which ends the wrap-up).

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::ids::{AgentId, CallId, QueueName, Skill};

/// An agent's state, without its data (for errors and statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStateKind {
    /// Not logged in.
    LoggedOut,
    /// Free to take a call.
    Available,
    /// Picked for a call; the offer was sent to the driver.
    Reserved,
    /// The agent's phone is ringing with an offer.
    Ringing,
    /// Talking to a caller.
    OnCall,
    /// After-call work.
    WrapUp,
    /// Logged in but not taking calls.
    Paused,
}

impl fmt::Display for AgentStateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentStateKind::LoggedOut => "logged out",
            AgentStateKind::Available => "available",
            AgentStateKind::Reserved => "reserved",
            AgentStateKind::Ringing => "ringing",
            AgentStateKind::OnCall => "on a call",
            AgentStateKind::WrapUp => "wrap-up",
            AgentStateKind::Paused => "paused",
        })
    }
}

/// Who an agent is and what they can do; given at login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// The agent.
    pub id: AgentId,
    /// Skills with their levels (1–10).
    pub skills: Vec<(Skill, u8)>,
    /// The queues the agent serves.
    pub queues: Vec<QueueName>,
}

/// The states an agent may ask for with `set_state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Ready for calls (from `Paused`, or `WrapUp` to end it early).
    Available,
    /// Not taking calls, with a reason supervisors see (from `Available` or `WrapUp`).
    Paused(String),
}

/// Index of an agent in the router's table.
pub(crate) type AgentIdx = u32;
/// Index of a queue in the router's table.
pub(crate) type QueueIdx = u32;
/// Index of an interned skill name.
pub(crate) type SkillIdx = u32;

/// The state with its data, as the router keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum St {
    LoggedOut,
    Available,
    Reserved(CallId),
    Ringing(CallId),
    OnCall(CallId),
    WrapUp {
        queue: QueueIdx,
        answered_at: Instant,
    },
    Paused(String),
}

impl St {
    pub(crate) fn kind(&self) -> AgentStateKind {
        match self {
            St::LoggedOut => AgentStateKind::LoggedOut,
            St::Available => AgentStateKind::Available,
            St::Reserved(_) => AgentStateKind::Reserved,
            St::Ringing(_) => AgentStateKind::Ringing,
            St::OnCall(_) => AgentStateKind::OnCall,
            St::WrapUp { .. } => AgentStateKind::WrapUp,
            St::Paused(_) => AgentStateKind::Paused,
        }
    }

    /// Staffed agents count toward a queue's capacity in wait estimates.
    pub(crate) fn is_staffed(&self) -> bool {
        !matches!(self, St::LoggedOut | St::Paused(_))
    }

    /// The call the agent is being offered, if any.
    pub(crate) fn offered_call(&self) -> Option<CallId> {
        match self {
            St::Reserved(c) | St::Ringing(c) => Some(*c),
            _ => None,
        }
    }
}

/// One agent as the router keeps it.
#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) id: AgentId,
    /// Skills sorted by index, with levels 1–10.
    pub(crate) skills: Vec<(SkillIdx, u8)>,
    pub(crate) queues: Vec<QueueIdx>,
    pub(crate) st: St,
    /// When the agent entered `st`.
    pub(crate) since: Instant,
    /// When the agent last became free (login, unpause, end of wrap-up); a failed offer keeps it.
    pub(crate) idle_since: Instant,
    /// Calls answered since the router started.
    pub(crate) handled: u64,
    /// Ring-no-answers in a row.
    pub(crate) misses: u32,
    /// The deadline of the agent's timer (offer or wrap-up), if one runs.
    pub(crate) timer: Option<Instant>,
    /// The agent disconnected during a call: log out when it ends.
    pub(crate) logout_after_call: bool,
    /// An `AgentChanged` event is queued and not yet polled.
    pub(crate) dirty: bool,
}

impl Agent {
    pub(crate) fn new(id: AgentId, now: Instant) -> Self {
        Agent {
            id,
            skills: Vec::new(),
            queues: Vec::new(),
            st: St::LoggedOut,
            since: now,
            idle_since: now,
            handled: 0,
            misses: 0,
            timer: None,
            logout_after_call: false,
            dirty: false,
        }
    }

    /// The agent's level in `skill`, if they have it.
    pub(crate) fn level(&self, skill: SkillIdx) -> Option<u8> {
        self.skills
            .binary_search_by_key(&skill, |(s, _)| *s)
            .ok()
            .and_then(|i| self.skills.get(i))
            .map(|(_, l)| *l)
    }

    /// Whether the agent has every skill in `needs` at the level asked.
    pub(crate) fn meets(&self, needs: &[(SkillIdx, u8)]) -> bool {
        needs
            .iter()
            .all(|(s, min)| self.level(*s).is_some_and(|l| l >= (*min).max(1)))
    }

    pub(crate) fn time_in_state(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }
}
