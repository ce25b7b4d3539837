//! The ACD (automatic call distribution) router: queues, agents, and the calls between them.
//!
//! A sans-IO state machine, like `quinn-proto`: every input carries the current time, outputs
//! are polled, and the router says when it next needs the clock. It never sleeps, reads a
//! clock or touches a socket, so tests run it on virtual time. A tokio task drives it: it
//! rings agents over SIP for [`Action::Offer`], plays [`Action::Announce`] to callers, runs
//! the dial plan's fallback for [`Action::Fallback`], and streams [`Event`]s to wallboards.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ivr_core::acd::*;
//!
//! let config = AcdConfig {
//!     queues: vec![(QueueName::from("support"), QueueConfig::default())],
//!     ..AcdConfig::default()
//! };
//! let mut acd: Acd<&str> = Acd::new(config).expect("valid configuration");
//! let t0 = Instant::now(); // the driver's clock; the router never reads one
//! acd.login(
//!     AgentProfile { id: "ann".into(), skills: vec![], queues: vec!["support".into()] },
//!     t0,
//! )?;
//! acd.enqueue(
//!     Enqueue { call: CallId(1), queue: "support".into(), priority: 0, skills: vec![],
//!               context: "intent=billing" },
//!     t0,
//! )?;
//! // The driver's loop: act on outputs, then sleep until the next deadline.
//! while let Some(action) = acd.poll_action() {
//!     if let Action::Offer { call, agent, context, .. } = action {
//!         assert_eq!(context, "intent=billing"); // the screen pop
//!         acd.handle_offer_answered(call, &agent, t0 + Duration::from_secs(3))?;
//!     }
//! }
//! while let Some(_event) = acd.poll_event() { /* push to wallboards */ }
//! if let Some(deadline) = acd.poll_timeout() {
//!     acd.handle_timeout(deadline); // after sleeping until `deadline`
//! }
//! # Ok::<(), AcdError>(())
//! ```
//!
//! * [`agent`] — agent profiles and the agent state machine (with its transition diagram).
//! * [`config`] — queue strategies and timers, validated all at once.
//! * `queue` (internal) — the waiting line and per-strategy free-agent indexes.
//! * [`stats`] — wallboard figures and the estimated-wait formula ([`estimated_wait`]).
//! * [`callback`] — callback requests exported and imported across restarts.
//!
//! Guarantees: an agent in `Reserved`/`Ringing` always has a ring timer and one in `WrapUp` a
//! wrap-up timer; a logout releases any offer; every enqueued call ends exactly once
//! ([`Event::CallEnded`]: answered, abandoned or fallback) unless it waits as a callback.
//! A routing decision looks up ordered indexes (free agents by idle time, by registration
//! order, by answered count, per skill by level) instead of scanning agents or calls.
#![warn(missing_docs)]

pub mod agent;
pub mod callback;
pub mod config;
pub mod error;
pub mod ids;
pub mod output;
mod queue;
mod router;
pub mod stats;

pub use agent::{AgentProfile, AgentStateKind, Presence};
pub use callback::CallbackRecord;
pub use config::{AcdConfig, ConfigError, ConfigErrors, Overflow, QueueConfig, Strategy};
pub use error::AcdError;
pub use ids::{AgentId, CallId, QueueName, Skill, SkillRequirement};
pub use output::{Action, CallOutcome, Event, FallbackReason};
pub use router::{Acd, Enqueue};
pub use stats::{estimated_wait, AgentStats, QueueStats, Snapshot};

#[cfg(test)]
mod tests;
