//! What the router asks of its driver ([`Action`]) and tells its observers ([`Event`]).

use std::time::Duration;

use serde::Serialize;

use super::ids::{AgentId, CallId, QueueName};

/// Work for the driver: ring, stop ringing, speak to a caller, end the wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<C> {
    /// Ring `agent` with `call` and push `context` to the agent's desktop (screen pop). Report
    /// back with `handle_offer_ringing`, `handle_offer_answered` or `handle_offer_rejected`.
    Offer {
        /// The call.
        call: CallId,
        /// The agent to ring.
        agent: AgentId,
        /// The queue the call waited in.
        queue: QueueName,
        /// The call's handoff context, as given to `enqueue`.
        context: C,
    },
    /// Stop ringing `agent` for `call` (answered elsewhere, timed out, caller gone, agent
    /// logged out).
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// Tell the waiting caller where they stand.
    Announce {
        /// The call.
        call: CallId,
        /// 1 for the next caller to be served.
        position: usize,
        /// The estimated wait; `None` when no agent is staffed (see
        /// [`estimated_wait`](super::stats::estimated_wait)).
        estimated_wait: Option<Duration>,
    },
    /// The call leaves the queue unserved: run the dial plan's fallback (voicemail, callback).
    Fallback {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: QueueName,
        /// Why.
        reason: FallbackReason,
    },
    /// A callback request reached the head of the line: connect `agent` with `number`. Report
    /// back like an offer (`handle_offer_answered` once both are connected).
    PlaceCallback {
        /// The callback's call id.
        call: CallId,
        /// The agent reserved for it.
        agent: AgentId,
        /// The queue it waited in.
        queue: QueueName,
        /// The number to call back.
        number: String,
        /// The call's handoff context.
        context: C,
    },
}

/// Why a call left its queue unserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// The queue is closed (outside business hours).
    Closed,
    /// The queue holds `max_length` calls already.
    Full,
    /// The caller waited `max_wait`.
    MaxWait,
}

/// How a call's stay in a queue ended; each enqueued call ends exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// An agent answered.
    Answered {
        /// The agent.
        agent: AgentId,
    },
    /// The caller hung up, or the callback was cancelled.
    Abandoned,
    /// The dial plan's fallback took over.
    Fallback(FallbackReason),
}

/// Something observers (wallboards, CDRs, agent desktops) may want to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A waiting call moved to another queue.
    Overflowed {
        /// The call.
        call: CallId,
        /// The queue it left.
        from: QueueName,
        /// The queue it joined.
        to: QueueName,
    },
    /// An agent missed too many offers in a row and was paused.
    AgentAutoPaused {
        /// The agent.
        agent: AgentId,
        /// The pause reason supervisors see.
        reason: String,
    },
    /// An agent left wrap-up, by the timer or by completing it.
    WrapUpEnded {
        /// The agent.
        agent: AgentId,
        /// What the agent recorded about the call, if anything.
        disposition: Option<String>,
        /// Whether the wrap-up timer ended it (rather than the agent).
        by_timer: bool,
    },
    /// A call's stay in a queue ended.
    CallEnded {
        /// The call.
        call: CallId,
        /// The queue it ended in.
        queue: QueueName,
        /// How.
        outcome: CallOutcome,
    },
    /// The queue's statistics changed; read them with `queue_stats`. Not repeated until polled.
    QueueChanged(QueueName),
    /// The agent's state changed; read it with `agent_stats`. Not repeated until polled.
    AgentChanged(AgentId),
}
