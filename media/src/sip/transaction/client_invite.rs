//! The INVITE client transaction (RFC 3261 §17.1.1, amended by RFC 6026 §7.2).
//!
//! ```text
//!                                |INVITE from TU
//!              Timer A fires     |INVITE sent
//!              Reset A,          V                      Timer B fires
//!              INVITE sent +-----------+                or Transport Err.
//!                +---------|           |---------------+inform TU
//!                |         |  Calling  |               |
//!                +-------->|           |-------------->|
//!                          +-----------+ 2xx           |
//!                             |  |       2xx to TU     |
//!                             |  |1xx                  |
//!     300-699 +---------------+  |1xx to TU            |
//!    ACK sent |                  |                     |
//! resp. to TU |  1xx             V                     |
//!             |  1xx to TU -----------+                |
//!             |  +---------|           |               |
//!             |  |         |Proceeding |-------------->|
//!             |  +-------->|           | 2xx           |
//!             |            +-----------+ 2xx to TU     |
//!             |       300-699    |                     |
//!             |       ACK sent,  |                     |
//!             |       resp. to TU|                     |
//!             |                  |                     |
//!             |                  V      2xx (from Calling or Proceeding)
//!             |            +-----------+     +-----------+  2xx: to TU
//!             |            |           |     |           |  (retransmits go
//!             +----------->| Completed |     | Accepted  |   to the dialog,
//!                          |           |     |           |   which re-ACKs)
//!      300-699: resend ACK +-----------+     +-----------+
//!                            |  Timer D        |  Timer M (64*T1)
//!                            |  (32 s; 0 TCP)  |
//!                            V                 V
//!                          +-----------------------+
//!                          |      Terminated       |
//!                          +-----------------------+
//! ```
//!
//! The ACK for a non-2xx final response is part of this transaction (same branch) and is built
//! by the transaction user from the original request and the response's To header; the ACK for
//! a 2xx is a separate request built by the dialog.

use std::time::Instant;

use bytes::Bytes;

use super::{due, earliest, Backoff, TimerAction, Timers};

/// States of [`ClientInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// INVITE sent, nothing heard yet (timers A, B).
    Calling,
    /// A provisional response arrived (Timer B stopped: the far end is alive).
    Proceeding,
    /// A 300–699 response arrived and was ACKed; absorbing retransmissions until Timer D.
    Completed,
    /// A 2xx arrived; further 2xx go to the transaction user until Timer M.
    Accepted,
    /// Done; the transaction can be dropped.
    Terminated,
}

/// What to do with a response that matched a [`ClientInvite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseAction {
    /// Hand the response to the transaction user.
    Deliver,
    /// Hand the response to the transaction user and send these bytes (the ACK of a non-2xx).
    DeliverAndSend(Bytes),
    /// A retransmitted non-2xx final: send the ACK again, do not tell the transaction user.
    Send(Bytes),
    /// Nothing to do.
    Absorb,
}

/// An INVITE client transaction.
#[derive(Debug, Clone)]
pub struct ClientInvite {
    state: State,
    reliable: bool,
    timers: Timers,
    request: Bytes,
    ack: Option<Bytes>,
    timer_a: Option<Backoff>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
}

impl ClientInvite {
    /// A transaction whose INVITE (`request`, encoded) is being sent now, in *Calling*.
    pub fn new(now: Instant, reliable: bool, timers: Timers, request: Bytes) -> ClientInvite {
        ClientInvite {
            state: State::Calling,
            reliable,
            timers,
            request,
            ack: None,
            timer_a: (!reliable).then(|| Backoff::start(now, timers.t1)),
            timer_b: Some(now + timers.timeout()),
            timer_d: None,
            timer_m: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the transaction has ended and can be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// Whether a final response has arrived (CANCEL is pointless afterwards).
    pub fn is_final(&self) -> bool {
        !matches!(self.state, State::Calling | State::Proceeding)
    }

    /// Whether a provisional response has arrived (RFC 3261 §9.1: CANCEL only then).
    pub fn has_provisional(&self) -> bool {
        self.state == State::Proceeding
    }

    /// A response with `status` matched this transaction. `build_ack` is called at most once,
    /// for the first 300–699 final response, to produce the encoded ACK.
    pub fn on_response(
        &mut self,
        now: Instant,
        status: u16,
        build_ack: impl FnOnce() -> Bytes,
    ) -> ResponseAction {
        match (self.state, status) {
            (State::Calling | State::Proceeding, 100..=199) => {
                self.state = State::Proceeding;
                self.timer_a = None;
                // Timer B only runs in Calling; a ringing call is ended by the TU (CANCEL).
                self.timer_b = None;
                ResponseAction::Deliver
            }
            (State::Calling | State::Proceeding, 200..=299) => {
                self.state = State::Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(now + self.timers.timeout());
                ResponseAction::Deliver
            }
            (State::Calling | State::Proceeding, _) if status >= 300 => {
                let ack = build_ack();
                self.state = State::Completed;
                self.timer_a = None;
                self.timer_b = None;
                if self.reliable {
                    self.state = State::Terminated;
                } else {
                    self.timer_d = Some(now + self.timers.t1 * 64);
                    self.ack = Some(ack.clone());
                }
                ResponseAction::DeliverAndSend(ack)
            }
            (State::Completed, 300..) => self
                .ack
                .clone()
                .map_or(ResponseAction::Absorb, ResponseAction::Send),
            (State::Accepted, 200..=299) => ResponseAction::Deliver,
            _ => ResponseAction::Absorb,
        }
    }

    /// The next deadline, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[
            self.timer_a.map(|a| a.at),
            self.timer_b,
            self.timer_d,
            self.timer_m,
        ])
    }

    /// Fires whatever timer is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        match self.state {
            State::Calling => {
                if due(self.timer_b, now) {
                    self.terminate();
                    return Some(TimerAction::TimedOut);
                }
                if let Some(a) = self.timer_a.as_mut().filter(|a| a.at <= now) {
                    a.next(None);
                    return Some(TimerAction::Retransmit(self.request.clone()));
                }
                None
            }
            State::Completed if due(self.timer_d, now) => {
                self.terminate();
                Some(TimerAction::Terminated)
            }
            State::Accepted if due(self.timer_m, now) => {
                self.terminate();
                Some(TimerAction::Terminated)
            }
            _ => None,
        }
    }

    /// Ends the transaction at once.
    pub fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
        self.ack = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn drive(t: &mut ClientInvite, start: Instant) -> Vec<(u128, TimerAction)> {
        let mut out = Vec::new();
        while let Some(at) = t.poll_timeout() {
            if let Some(a) = t.handle_timeout(at) {
                out.push(((at - start).as_millis(), a));
            }
            assert!(out.len() < 100, "livelock");
        }
        out
    }

    fn invite() -> Bytes {
        Bytes::from_static(b"INVITE")
    }

    #[test]
    fn timer_a_doubles_without_cap_until_timer_b() {
        let t0 = Instant::now();
        let mut t = ClientInvite::new(t0, false, Timers::default(), invite());
        let got = drive(&mut t, t0);
        let at: Vec<u128> = got.iter().map(|(at, _)| *at).collect();
        assert_eq!(at, vec![500, 1500, 3500, 7500, 15500, 31500, 32000]);
        assert_eq!(got.last().map(|g| &g.1), Some(&TimerAction::TimedOut));
    }

    #[test]
    fn provisional_stops_retransmission_and_timer_b() {
        let t0 = Instant::now();
        let mut t = ClientInvite::new(t0, false, Timers::default(), invite());
        assert_eq!(
            t.on_response(t0, 180, || unreachable!()),
            ResponseAction::Deliver
        );
        assert!(t.has_provisional());
        assert_eq!(t.poll_timeout(), None);
        assert_eq!(t.handle_timeout(t0 + Duration::from_secs(40)), None);
    }

    #[test]
    fn non_2xx_is_acked_once_and_retransmissions_re_ack_without_delivery() {
        let t0 = Instant::now();
        let mut t = ClientInvite::new(t0, false, Timers::default(), invite());
        let ack = Bytes::from_static(b"ACK");
        assert_eq!(
            t.on_response(t0, 486, || ack.clone()),
            ResponseAction::DeliverAndSend(ack.clone())
        );
        assert_eq!(
            t.on_response(t0, 486, || unreachable!()),
            ResponseAction::Send(ack)
        );
        assert_eq!(drive(&mut t, t0), vec![(32000, TimerAction::Terminated)]);
    }

    #[test]
    fn two_xx_retransmissions_reach_the_tu_until_timer_m() {
        let t0 = Instant::now();
        let mut t = ClientInvite::new(t0, false, Timers::default(), invite());
        assert_eq!(
            t.on_response(t0, 200, || unreachable!()),
            ResponseAction::Deliver
        );
        assert_eq!(
            t.on_response(t0, 200, || unreachable!()),
            ResponseAction::Deliver
        );
        assert_eq!(
            t.on_response(t0, 180, || unreachable!()),
            ResponseAction::Absorb
        );
        assert_eq!(drive(&mut t, t0), vec![(32000, TimerAction::Terminated)]);
    }

    #[test]
    fn tcp_never_retransmits_but_still_times_out() {
        let t0 = Instant::now();
        let mut t = ClientInvite::new(t0, true, Timers::default(), invite());
        assert_eq!(drive(&mut t, t0), vec![(32000, TimerAction::TimedOut)]);
        let mut t = ClientInvite::new(t0, true, Timers::default(), invite());
        let r = t.on_response(t0, 500, || Bytes::from_static(b"ACK"));
        assert!(matches!(r, ResponseAction::DeliverAndSend(_)));
        assert!(t.is_terminated(), "Timer D is zero on TCP");
    }
}
