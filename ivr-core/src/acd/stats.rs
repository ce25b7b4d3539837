//! Wallboard statistics: per-queue counters, the handle-time moving average, the wait
//! estimate, and the snapshot types.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::agent::{Agent, AgentStateKind, QueueIdx, St};
use super::ids::{AgentId, CallId, QueueName};
use super::router::Leg;

/// Cumulative per-queue counters (live callers; callbacks only count as handled).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) answered: u64,
    pub(crate) answered_in_sl: u64,
    pub(crate) abandoned: u64,
    pub(crate) abandoned_after_sl: u64,
    pub(crate) fallbacks: u64,
    pub(crate) overflowed: u64,
    pub(crate) callbacks_answered: u64,
    pub(crate) answer_wait_total: Duration,
}

/// The mean of the last `window` handle times (talk plus wrap-up); `default` until the first.
#[derive(Debug, Clone)]
pub(crate) struct MovingAverage {
    window: usize,
    samples: VecDeque<Duration>,
    sum: Duration,
    default: Duration,
}

impl MovingAverage {
    pub(crate) fn new(window: usize, default: Duration) -> Self {
        MovingAverage {
            window: window.max(1),
            samples: VecDeque::new(),
            sum: Duration::ZERO,
            default,
        }
    }

    pub(crate) fn push(&mut self, sample: Duration) {
        if self.samples.len() == self.window {
            if let Some(old) = self.samples.pop_front() {
                self.sum = self.sum.saturating_sub(old);
            }
        }
        self.samples.push_back(sample);
        self.sum = self.sum.saturating_add(sample);
    }

    pub(crate) fn mean(&self) -> Duration {
        match u32::try_from(self.samples.len()) {
            Ok(0) | Err(_) => self.default,
            Ok(n) => self.sum / n,
        }
    }
}

/// The wait announced to the caller at `position` (1 = next to be served):
///
/// ```text
/// estimated_wait = position × average_handle_time ÷ staffed_agents
/// ```
///
/// where `average_handle_time` is the queue's moving average of recent handle times (talk plus
/// wrap-up) and `staffed_agents` counts agents logged in to the queue and not paused. Staffed
/// agents free up at a rate of `staffed ÷ AHT`; the caller is served after `position` of them
/// did. `None` when nobody is staffed (no honest estimate exists). Rounded up to whole seconds.
pub fn estimated_wait(
    position: usize,
    average_handle_time: Duration,
    staffed: usize,
) -> Option<Duration> {
    if staffed == 0 {
        return None;
    }
    let total = average_handle_time.as_secs_f64() * position as f64 / staffed as f64;
    Some(Duration::from_secs(total.ceil() as u64))
}

/// A queue's figures for the wallboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStats {
    /// The queue.
    pub name: QueueName,
    /// Whether it accepts new calls (business hours).
    pub open: bool,
    /// Live callers waiting, including those whose offer is ringing.
    pub waiting: usize,
    /// Callback requests holding a place in line.
    pub callbacks: usize,
    /// How long the longest-waiting live caller has waited.
    pub longest_wait: Duration,
    /// Agents free to take a call.
    pub available_agents: usize,
    /// Agents logged in and not paused.
    pub staffed_agents: usize,
    /// Share (0–1) of calls answered within the threshold, out of calls answered plus calls
    /// abandoned after the threshold (callers who gave up sooner are not counted); `None`
    /// before any such call.
    pub service_level: Option<f64>,
    /// Mean wait of answered calls.
    pub average_speed_of_answer: Option<Duration>,
    /// Share (0–1) of abandoned calls out of answered plus abandoned ones.
    pub abandonment_rate: Option<f64>,
    /// Calls answered (callbacks included).
    pub handled: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// Calls sent to the fallback.
    pub fallbacks: u64,
    /// Calls moved to the overflow queue.
    pub overflowed: u64,
    /// The moving-average handle time used for estimates.
    pub average_handle_time: Duration,
}

/// An agent's figures for the wallboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentStats {
    /// The agent.
    pub id: AgentId,
    /// The state.
    pub state: AgentStateKind,
    /// The pause reason when paused.
    pub reason: Option<String>,
    /// The call offered to or talking with the agent.
    pub call: Option<CallId>,
    /// Time in the current state.
    pub time_in_state: Duration,
    /// Calls answered.
    pub handled: u64,
    /// Ring-no-answers in a row.
    pub consecutive_misses: u32,
}

/// Every queue's and agent's figures at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Queues in configuration order.
    pub queues: Vec<QueueStats>,
    /// Agents in registration order (logged-out agents included).
    pub agents: Vec<AgentStats>,
}

pub(crate) fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl<C> super::router::Acd<C> {
    /// One queue's figures at `now`; `None` for an unknown queue.
    pub fn queue_stats(&self, name: &QueueName, now: Instant) -> Option<QueueStats> {
        let q = *self.queue_ids.get(name)?;
        let longest = self
            .calls
            .values()
            .filter(|e| e.queue == q && e.leg == Leg::Live)
            .map(|e| now.saturating_duration_since(e.key.arrived))
            .max()
            .unwrap_or_default();
        self.queue_figures(q, longest)
    }

    /// One agent's figures at `now`; `None` for an agent who never logged in.
    pub fn agent_stats(&self, id: &AgentId, now: Instant) -> Option<AgentStats> {
        let a = *self.agent_ids.get(id)?;
        self.agent_ref(a).map(|ag| agent_figures(ag, now))
    }

    /// Every queue's and agent's figures at `now`, for a wallboard's first screen; follow
    /// with `QueueChanged`/`AgentChanged` events.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut longest = vec![Duration::ZERO; self.queues.len()];
        for e in self.calls.values().filter(|e| e.leg == Leg::Live) {
            if let Some(l) = longest.get_mut(e.queue as usize) {
                *l = (*l).max(now.saturating_duration_since(e.key.arrived));
            }
        }
        Snapshot {
            queues: longest
                .iter()
                .enumerate()
                .filter_map(|(q, l)| self.queue_figures(q as QueueIdx, *l))
                .collect(),
            agents: self
                .agents
                .iter()
                .map(|ag| agent_figures(ag, now))
                .collect(),
        }
    }

    fn queue_figures(&self, q: QueueIdx, longest_wait: Duration) -> Option<QueueStats> {
        let queue = self.queues.get(q as usize)?;
        let c = &queue.counters;
        Some(QueueStats {
            name: queue.name.clone(),
            open: queue.open,
            waiting: queue.len().saturating_sub(queue.callbacks),
            callbacks: queue.callbacks,
            longest_wait,
            available_agents: queue.available(),
            staffed_agents: queue.staffed,
            service_level: ratio(c.answered_in_sl, c.answered + c.abandoned_after_sl),
            average_speed_of_answer: u32::try_from(c.answered)
                .ok()
                .filter(|n| *n > 0)
                .map(|n| c.answer_wait_total / n),
            abandonment_rate: ratio(c.abandoned, c.answered + c.abandoned),
            handled: c.answered + c.callbacks_answered,
            abandoned: c.abandoned,
            fallbacks: c.fallbacks,
            overflowed: c.overflowed,
            average_handle_time: queue.handle_times.mean(),
        })
    }
}

fn agent_figures(ag: &Agent, now: Instant) -> AgentStats {
    AgentStats {
        id: ag.id.clone(),
        state: ag.st.kind(),
        reason: match &ag.st {
            St::Paused(r) => Some(r.clone()),
            _ => None,
        },
        call: match &ag.st {
            St::Reserved(c) | St::Ringing(c) | St::OnCall(c) => Some(*c),
            _ => None,
        },
        time_in_state: ag.time_in_state(now),
        handled: ag.handled,
        consecutive_misses: ag.misses,
    }
}
