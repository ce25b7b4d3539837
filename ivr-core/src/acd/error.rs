//! What can go wrong when the driver hands the router an input.

use thiserror::Error;

use super::agent::AgentStateKind;
use super::ids::{AgentId, CallId, QueueName, Skill};

/// An input the router refused; its state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AcdError {
    /// The queue is not in the router's configuration.
    #[error(
        "no queue named `{0}`; add it to the ACD configuration or fix the name in the dial plan"
    )]
    UnknownQueue(QueueName),
    /// The agent never logged in.
    #[error("agent `{0}` is unknown; log the agent in first")]
    UnknownAgent(AgentId),
    /// The call is neither waiting in a queue nor talking to an agent.
    #[error("call {0} is not in any queue nor talking to an agent")]
    UnknownCall(CallId),
    /// A call with this id is already queued or talking.
    #[error("call {0} is already known to the router; give each call its own id")]
    DuplicateCall(CallId),
    /// The call is in a state where the input does not apply (for example a callback
    /// converted twice).
    #[error("call {0} is not a live caller waiting in a queue")]
    NotWaiting(CallId),
    /// The agent's current state does not allow the requested change.
    #[error("agent `{agent}` cannot go from {from} to {to}")]
    InvalidTransition {
        /// The agent.
        agent: AgentId,
        /// The state the agent is in.
        from: AgentStateKind,
        /// The state that was asked for.
        to: AgentStateKind,
    },
    /// The agent holds no offer of this call (it was answered elsewhere, timed out or was
    /// cancelled).
    #[error("call {call} is not being offered to agent `{agent}`")]
    NoSuchOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// A direct transfer's target is not free to take a call.
    #[error("agent `{agent}` is {state}, not available; transfer to a queue instead, or wait until they are free")]
    AgentNotAvailable {
        /// The agent.
        agent: AgentId,
        /// What they are doing.
        state: AgentStateKind,
    },
    /// A skill level outside 1–10.
    #[error("skill `{skill}` has level {level}; levels go from 1 to 10")]
    SkillLevelOutOfRange {
        /// The skill.
        skill: Skill,
        /// The level given.
        level: u8,
    },
}
