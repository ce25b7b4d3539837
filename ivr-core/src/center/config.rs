//! `[acd]`: the queues agents serve, as written in the configuration file.
//!
//! ```toml
//! [acd]
//! max_consecutive_misses = 3
//!
//! [[acd.queues]]
//! name = "support"
//! strategy = "longest_idle"      # ring_all, round_robin, fewest_calls, skills_based
//! ring_timeout = "15s"
//! wrap_up = "30s"
//! max_wait = "5m"                # then the fallback
//! max_length = 50
//! announce_interval = "30s"      # position and estimated wait
//! service_level = "20s"
//! overflow = { after = "2m", to = "general" }
//! fallback = "voicemail"         # or "hangup"
//! callback = true                # waiting callers may press 1 to be called back
//! callback_attempts = 3          # calls to the caller before the request fails
//! callback_retry = "2m"          # between attempts
//! callback_timeout = "45s"       # ringing the caller, then the agent, per attempt
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::acd::{AcdConfig, Overflow, QueueConfig, QueueName, Strategy};

/// `[acd]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcdSection {
    /// After this many ring-no-answers in a row an agent is paused; 0 never.
    pub max_consecutive_misses: u32,
    /// Recent handle times kept for the estimated wait.
    pub handle_time_window: usize,
    /// The trunk call backs go out through (default: the first trunk with
    /// `[trunks.outbound]`).
    pub callback_trunk: Option<String>,
    /// The queues.
    pub queues: Vec<QueueSection>,
}

impl Default for AcdSection {
    fn default() -> Self {
        let d = AcdConfig::default();
        AcdSection {
            max_consecutive_misses: d.max_consecutive_misses,
            handle_time_window: d.handle_time_window,
            callback_trunk: None,
            queues: Vec::new(),
        }
    }
}

/// What a caller who leaves a queue unserved (closed, full, waited too long) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum QueueFallback {
    /// An apology, then a message recorded to the queue's mailbox.
    #[default]
    Voicemail,
    /// An apology, then the engine hangs up.
    Hangup,
}

/// `[[acd.queues]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSection {
    /// The name dial plans use in `enqueue:`.
    pub name: String,
    /// How an agent is picked.
    #[serde(default = "default_strategy")]
    pub strategy: Strategy,
    /// How long an offer rings before the next agent.
    #[serde(default, with = "opt_duration")]
    pub ring_timeout: Option<Duration>,
    /// After-call work time.
    #[serde(default, with = "opt_duration")]
    pub wrap_up: Option<Duration>,
    /// Longest wait before the fallback.
    #[serde(default, with = "opt_duration")]
    pub max_wait: Option<Duration>,
    /// Most calls held.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Position announcements every so often.
    #[serde(default, with = "opt_duration")]
    pub announce_interval: Option<Duration>,
    /// Service-level threshold.
    #[serde(default, with = "opt_duration")]
    pub service_level: Option<Duration>,
    /// Handle time assumed before the queue has its own.
    #[serde(default, with = "opt_duration")]
    pub default_handle_time: Option<Duration>,
    /// Moving waiting callers to another queue.
    #[serde(default)]
    pub overflow: Option<OverflowSection>,
    /// Whether the queue is open (business hours) at start.
    #[serde(default = "yes")]
    pub open: bool,
    /// What an unserved caller gets.
    #[serde(default)]
    pub fallback: QueueFallback,
    /// Waiting callers may ask to be called back (keeping their place) instead of waiting.
    #[serde(default)]
    pub callback: bool,
    /// Calls placed to a caller who asked for a callback before the request fails.
    #[serde(default = "default_callback_attempts")]
    pub callback_attempts: u32,
    /// Time between callback attempts.
    #[serde(default, with = "opt_duration")]
    pub callback_retry: Option<Duration>,
    /// How long one attempt may ring the caller (and then the agent's phone).
    #[serde(default, with = "opt_duration")]
    pub callback_timeout: Option<Duration>,
}

impl QueueSection {
    /// The wait between two callback attempts.
    pub fn callback_retry(&self) -> Duration {
        self.callback_retry.unwrap_or(Duration::from_secs(120))
    }
}

fn default_callback_attempts() -> u32 {
    3
}

/// `overflow = { after = "2m", to = "general" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverflowSection {
    /// Wait before moving.
    #[serde(with = "opt_duration")]
    pub after: Option<Duration>,
    /// Target queue.
    pub to: String,
}

fn default_strategy() -> Strategy {
    Strategy::LongestIdle
}

fn yes() -> bool {
    true
}

impl AcdSection {
    /// The router's configuration.
    pub fn router_config(&self) -> AcdConfig {
        let queues = self
            .queues
            .iter()
            .map(|q| {
                let d = QueueConfig::default();
                let cfg = QueueConfig {
                    strategy: q.strategy,
                    ring_timeout: q.ring_timeout.unwrap_or(d.ring_timeout),
                    wrap_up: q.wrap_up.unwrap_or(d.wrap_up),
                    max_wait: q.max_wait,
                    max_length: q.max_length,
                    overflow: q.overflow.as_ref().map(|o| Overflow {
                        after: o.after.unwrap_or(Duration::from_secs(120)),
                        to: QueueName::from(o.to.as_str()),
                    }),
                    announce_interval: q.announce_interval,
                    service_level_threshold: q.service_level.unwrap_or(d.service_level_threshold),
                    default_handle_time: q.default_handle_time.unwrap_or(d.default_handle_time),
                    open: q.open,
                    callback_timeout: q.callback_timeout.unwrap_or(d.callback_timeout),
                };
                (QueueName::from(q.name.as_str()), cfg)
            })
            .collect();
        AcdConfig {
            queues,
            max_consecutive_misses: self.max_consecutive_misses,
            handle_time_window: self.handle_time_window,
        }
    }

    /// One line per problem (empty when the section is usable).
    pub fn problems(&self) -> Vec<String> {
        match self.router_config().validate() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.0.iter().map(|e| format!("acd: {e}")).collect(),
        }
    }

    /// The queue's settings as written.
    pub fn queue(&self, name: &str) -> Option<&QueueSection> {
        self.queues.iter().find(|q| q.name == name)
    }
}

/// Optional durations written as `30s`, `500ms`, `2m` (or a bare number of seconds).
mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Secs(s)) => Ok(Some(Duration::from_secs(s))),
            Some(Raw::Text(t)) => crate::config::parse_duration(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_read_with_defaults_and_checked_all_at_once() {
        let s: AcdSection = toml::from_str(
            r#"
            [[queues]]
            name = "support"
            ring_timeout = "10s"
            announce_interval = 30
            overflow = { after = "1m", to = "nowhere" }
            [[queues]]
            name = "support"
            strategy = "skills_based"
            fallback = "hangup"
            "#,
        )
        .expect("parses");
        let cfg = s.router_config();
        assert_eq!(cfg.queues[0].1.ring_timeout, Duration::from_secs(10));
        assert_eq!(
            cfg.queues[0].1.announce_interval,
            Some(Duration::from_secs(30))
        );
        assert_eq!(cfg.queues[0].1.wrap_up, QueueConfig::default().wrap_up);
        assert_eq!(s.queues[1].fallback, QueueFallback::Hangup);
        let problems = s.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("defined twice")));
        assert!(problems.iter().any(|p| p.contains("`nowhere`")));
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let r: Result<AcdSection, _> = toml::from_str("[[queues]]\nname = \"a\"\nring = \"5s\"\n");
        assert!(r.is_err());
    }
}
