//! SIP transactions (RFC 3261 §17): the four state machines that turn an unreliable datagram
//! service into request/response exchanges.
//!
//! Each machine is a plain struct driven by the transaction user (the [`Endpoint`]): it is told
//! what was sent and received, is asked for its next deadline ([`poll_timeout`]) and, when that
//! deadline passes, says what to do ([`TimerAction`]). The machines never see sockets or clocks,
//! and they hold messages only as encoded bytes (to retransmit them verbatim), so one
//! transaction costs a few hundred bytes.
//!
//! | machine | RFC 3261 | timers |
//! |---|---|---|
//! | [`ServerInvite`] | §17.2.1 (+ RFC 6026 *Accepted*) | G, H, I, L |
//! | [`ServerNonInvite`] | §17.2.2 | J |
//! | [`ClientInvite`] | §17.1.1 (+ RFC 6026 *Accepted*) | A, B, D, M |
//! | [`ClientNonInvite`] | §17.1.2 | E, F, K |
//!
//! On a reliable transport (TCP) the retransmission timers A, E and G never start and the
//! "wait for stray retransmissions" timers D, I, J and K are zero, while the give-up timers B, F
//! and H still apply.
//!
//! [`Endpoint`]: super::endpoint::Endpoint
//! [`poll_timeout`]: ServerInvite::poll_timeout

use std::time::{Duration, Instant};

use bytes::Bytes;

pub mod client_invite;
pub mod client_non_invite;
pub mod server_invite;
pub mod server_non_invite;

pub use client_invite::ClientInvite;
pub use client_non_invite::ClientNonInvite;
pub use server_invite::ServerInvite;
pub use server_non_invite::ServerNonInvite;

/// The RFC 3261 magic cookie that starts every compliant Via branch.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// Timer base values (RFC 3261 §17.1.1.1 and Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate; first retransmission interval. Default 500 ms.
    pub t1: Duration,
    /// Cap on the retransmission interval of non-INVITE requests and INVITE responses. Default 4 s.
    pub t2: Duration,
    /// How long a message may stay in the network. Default 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// `64*T1`: the give-up time of timers B, F, H, J, L and M.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}

/// What a transaction wants done when one of its deadlines passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerAction {
    /// Send these bytes again (timers A, E, G).
    Retransmit(Bytes),
    /// The exchange failed for lack of an answer (timers B, F, H); the transaction is now
    /// terminated and the transaction user must be told.
    TimedOut,
    /// The transaction ended normally (timers D, I, J, K, L, M) and can be dropped.
    Terminated,
}

/// A retransmission timer whose interval doubles after each firing, optionally capped
/// (timers A, E and G).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// When it fires next.
    pub(crate) at: Instant,
    /// The interval that led to `at`.
    pub(crate) interval: Duration,
}

impl Backoff {
    /// Starts at `now + t1`.
    pub(crate) fn start(now: Instant, t1: Duration) -> Backoff {
        Backoff {
            at: now + t1,
            interval: t1,
        }
    }

    /// Moves to the next firing: the interval doubles, capped at `cap` if given.
    pub(crate) fn next(&mut self, cap: Option<Duration>) {
        let doubled = self.interval * 2;
        self.interval = cap.map_or(doubled, |c| doubled.min(c));
        self.at += self.interval;
    }
}

/// The earliest of a set of optional deadlines.
pub(crate) fn earliest(deadlines: &[Option<Instant>]) -> Option<Instant> {
    deadlines.iter().flatten().min().copied()
}

/// Whether `deadline` is set and has passed at `now`.
pub(crate) fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let t0 = Instant::now();
        let t1 = Duration::from_millis(500);
        let mut b = Backoff::start(t0, t1);
        let mut fire = vec![b.at - t0];
        for _ in 0..5 {
            b.next(Some(Duration::from_secs(4)));
            fire.push(b.at - t0);
        }
        let ms: Vec<u128> = fire.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![500, 1500, 3500, 7500, 11500, 15500]);
    }

    #[test]
    fn default_timers_match_rfc3261_table_4() {
        let t = Timers::default();
        assert_eq!(t.timeout(), Duration::from_secs(32));
        assert_eq!(t.t2, Duration::from_secs(4));
        assert_eq!(t.t4, Duration::from_secs(5));
    }
}
