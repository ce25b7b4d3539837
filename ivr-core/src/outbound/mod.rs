//! Outbound campaigns: reminder, confirmation and survey calls to a list of contacts.
//!
//! This module decides *who* to call *when* and records what happened; placing one call over
//! a SIP trunk and reporting how it ended is the dialer's job (`ivr serve`).
//!
//! * [`contacts`] — streaming CSV/JSON readers, E.164 checks, the do-not-call list, the
//!   batched import into the store.
//! * [`config`] — pacing, concurrency, calling windows in each contact's time zone, retry
//!   rules per outcome.
//! * [`campaign`] — the sans-IO scheduler ([`Campaign`]): inputs carry `now` (monotonic, for
//!   pacing) and `wall` (UTC, for windows and retry times); outputs are polled.
//! * [`runner`] — [`Runner`], the scheduler joined to the [`Store`](crate::store::Store).
//! * [`export`] — results as CSV, streamed page by page.
//! * [`cli`] — `ivr campaign create|status|export`.
//!
//! The dialer's loop, with a `Runner`:
//!
//! ```no_run
//! # async fn demo(store: ivr_core::store::Store) -> Result<(), ivr_core::outbound::RunnerError> {
//! use std::time::Instant;
//! use ivr_core::outbound::{Answered, Outcome, OutcomeKind, Runner};
//!
//! let mut runner = Runner::start(store, 1, Instant::now(), chrono::Utc::now()).await?;
//! while !runner.is_finished() {
//!     // Each dial is already recorded as `dialing`: place it exactly once.
//!     while let Some(dial) = runner.next_dial(Instant::now(), chrono::Utc::now()).await? {
//!         // … originate a call to dial.number running the campaign's plan with dial.vars;
//!         // when it ends:
//!         let outcome = Outcome::of(OutcomeKind::Answered(Answered::Human));
//!         runner
//!             .finish(dial.contact_id, dial.attempt, &outcome, Some("call-id"),
//!                     Instant::now(), chrono::Utc::now())
//!             .await?;
//!     }
//!     // … sleep until runner.poll_timeout() or the next call's end, whichever is first.
//! #   break;
//! }
//! # Ok(()) }
//! ```
//!
//! Guarantees: at most `max_concurrent` calls in flight; starts spaced `1/calls_per_second`
//! apart, never in bursts; a call starts only inside the contact's calling window; an attempt
//! is written as `dialing` (unique per contact and attempt number) before the dialer gets it,
//! so no attempt is placed twice, even across a crash — an interrupted attempt becomes
//! `unknown` and the `unknown` retry rule decides whether a *new* attempt follows. Memory is
//! bounded by the scheduler's buffer and the calls in flight, whatever the campaign's size.
#![warn(missing_docs)]

pub mod campaign;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod dialer;
pub mod export;
mod pacer;
pub mod runner;

pub use campaign::{
    decide, Answered, Campaign, CampaignError, Contact, ContactId, Decision, Deferral, Dial,
    Outcome, OutcomeKind, PageRequest, Progress, RunState,
};
pub use config::{CallingWindow, CampaignConfig, ConfigError, RetryClass, RetryPolicy, RetryRule};
pub use contacts::{
    import, normalize_e164, read_contacts, DncList, Format, ImportError, ImportOptions,
    ImportReport, NumberError, Rejection, Row, RowError,
};
pub use dialer::Dialer;
pub use pacer::Pacer;
pub use runner::{Runner, RunnerError};

#[cfg(test)]
mod tests;
