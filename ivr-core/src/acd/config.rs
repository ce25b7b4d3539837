//! The router's configuration: queues with their strategy and timers, and the global limits.
//!
//! [`AcdConfig::validate`] reports every problem at once, so an operator fixes the file in one
//! go; [`crate::acd::Acd::new`] refuses a configuration with problems.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::ids::QueueName;

/// How a queue picks among the agents free to take a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Offer the call to every free agent at once; the first to answer takes it.
    RingAll,
    /// The agent idle the longest (since their last call, login or pause) gets the call.
    LongestIdle,
    /// Agents take turns in the order they were registered with the router.
    RoundRobin,
    /// The agent who has answered the fewest calls gets it (then the longest idle).
    FewestCalls,
    /// The call's required skills filter the agents; the best level in the call's first
    /// (primary) skill wins, then the longest idle. A call with no skills is routed by
    /// longest idle.
    SkillsBased,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::RingAll => "ring_all",
            Strategy::LongestIdle => "longest_idle",
            Strategy::RoundRobin => "round_robin",
            Strategy::FewestCalls => "fewest_calls",
            Strategy::SkillsBased => "skills_based",
        })
    }
}

/// Moving a waiting call to another queue after it waited long enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    /// How long a call waits in this queue before it moves.
    pub after: Duration,
    /// The queue it moves to. A closed or full target leaves the call where it is.
    pub to: QueueName,
}

/// One queue's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// How the queue picks an agent.
    pub strategy: Strategy,
    /// How long an offered agent may ring before the call goes to the next agent (a miss).
    pub ring_timeout: Duration,
    /// The after-call work time: agents leave wrap-up by themselves after it.
    pub wrap_up: Duration,
    /// The longest a caller waits before the dial plan's fallback runs; `None` waits forever.
    pub max_wait: Option<Duration>,
    /// The most calls (waiting, being offered, and callbacks) the queue holds; a call arriving
    /// at a full queue goes to the fallback.
    pub max_length: Option<usize>,
    /// Where waiting calls move after a while.
    pub overflow: Option<Overflow>,
    /// How often a waiting caller hears their position and estimated wait; `None` never.
    pub announce_interval: Option<Duration>,
    /// The service-level target: a call answered within this wait counts as "in service level".
    pub service_level_threshold: Duration,
    /// The handle time assumed until the queue has handled calls of its own.
    pub default_handle_time: Duration,
    /// Whether the queue starts open (business hours); a closed queue sends new calls to the
    /// fallback.
    pub open: bool,
    /// How long placing a callback may take (ringing the caller back, then the agent's phone)
    /// on top of `ring_timeout` before the reserved agent counts it as a miss.
    pub callback_timeout: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            strategy: Strategy::LongestIdle,
            ring_timeout: Duration::from_secs(15),
            wrap_up: Duration::from_secs(30),
            max_wait: None,
            max_length: None,
            overflow: None,
            announce_interval: None,
            service_level_threshold: Duration::from_secs(20),
            default_handle_time: Duration::from_secs(180),
            open: true,
            callback_timeout: Duration::from_secs(45),
        }
    }
}

/// The whole router's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AcdConfig {
    /// The queues, by name.
    pub queues: Vec<(QueueName, QueueConfig)>,
    /// After this many ring-no-answers in a row an agent is paused automatically; 0 never.
    pub max_consecutive_misses: u32,
    /// How many recent handle times (talk plus wrap-up) the per-queue moving average keeps.
    pub handle_time_window: usize,
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            queues: Vec::new(),
            max_consecutive_misses: 3,
            handle_time_window: 50,
        }
    }
}

/// One problem in an [`AcdConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Two queues share a name.
    #[error("queue `{0}` is defined twice; give each queue its own name")]
    DuplicateQueue(QueueName),
    /// A queue's ring timeout is zero, so no agent could ever answer.
    #[error("queue `{0}`: ring_timeout must be more than zero")]
    ZeroRingTimeout(QueueName),
    /// A queue's announcement interval is zero.
    #[error(
        "queue `{0}`: announce_interval must be more than zero (leave it out for no announcements)"
    )]
    ZeroAnnounceInterval(QueueName),
    /// A queue overflows to a queue that does not exist.
    #[error("queue `{queue}`: overflow target `{target}` is not a configured queue")]
    UnknownOverflowTarget {
        /// The queue whose overflow is wrong.
        queue: QueueName,
        /// The missing target.
        target: QueueName,
    },
    /// A queue overflows to itself.
    #[error("queue `{0}` overflows to itself; name another queue")]
    OverflowToSelf(QueueName),
    /// The moving-average window is empty.
    #[error("handle_time_window must be at least 1")]
    ZeroHandleTimeWindow,
}

/// Every problem found in an [`AcdConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the ACD configuration has {} problem(s): {}", .0.len(), join(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn join(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl AcdConfig {
    /// Checks the configuration, reporting every problem at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = Vec::new();
        let mut names = HashSet::new();
        for (name, _) in &self.queues {
            if !names.insert(name) {
                problems.push(ConfigError::DuplicateQueue(name.clone()));
            }
        }
        for (name, q) in &self.queues {
            if q.ring_timeout.is_zero() {
                problems.push(ConfigError::ZeroRingTimeout(name.clone()));
            }
            if q.announce_interval.is_some_and(|d| d.is_zero()) {
                problems.push(ConfigError::ZeroAnnounceInterval(name.clone()));
            }
            if let Some(o) = &q.overflow {
                if &o.to == name {
                    problems.push(ConfigError::OverflowToSelf(name.clone()));
                } else if !names.contains(&o.to) {
                    problems.push(ConfigError::UnknownOverflowTarget {
                        queue: name.clone(),
                        target: o.to.clone(),
                    });
                }
            }
        }
        if self.handle_time_window == 0 {
            problems.push(ConfigError::ZeroHandleTimeWindow);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems))
        }
    }
}
