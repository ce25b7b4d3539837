//! The INVITE server transaction (RFC 3261 §17.2.1, amended by RFC 6026 §7.1).
//!
//! ```text
//!                      |INVITE
//!                      |pass INV to TU, send 100 Trying
//!   INVITE             V                        send response
//!   resend last  +-----------+                  (1xx from TU)
//!   response     |           |----------------+
//!      +---------|Proceeding |                |
//!      +-------->|           |<---------------+
//!                +-----------+
//!        300-699 from TU |   \ 2xx from TU
//!        send response   |    \ send response
//!        G (UDP), H      |     +------------------+
//!                        V                        V
//!   INVITE       +-----------+             +-----------+  INVITE: absorb
//!   resend resp  |           |             |           |  (2xx resent by
//!      +---------| Completed |             | Accepted  |   the dialog)
//!      +-------->|           |             |           |
//!   Timer G:     +-----------+             +-----------+
//!   resend resp    |       |                     |
//!          ACK     |       | Timer H             | Timer L (64*T1)
//!          I=T4    |       | tell TU: timed out  |
//!          (0 TCP) V       |                     |
//!                +-----------+                   |
//!   ACK, INVITE  |           |                   |
//!   absorb       | Confirmed |                   |
//!                |           |                   |
//!                +-----------+                   |
//!                      |  Timer I                |
//!                      V                         V
//!                +-----------------------------------+
//!                |            Terminated             |
//!                +-----------------------------------+
//! ```
//!
//! A 2xx ends the transaction's part in retransmission: RFC 3261 §13.3.1.4 gives 2xx
//! retransmission to the dialog (see [`super::super::dialog`]), because the ACK for a 2xx is a
//! new transaction with its own branch. The *Accepted* state (RFC 6026) keeps the transaction
//! alive for 64*T1 so that retransmitted INVITEs are recognised and absorbed instead of being
//! taken for new calls.

use std::time::Instant;

use bytes::Bytes;

use super::{due, earliest, Backoff, TimerAction, Timers};

/// States of [`ServerInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the transaction user's final answer; provisional responses may be sent.
    Proceeding,
    /// A 300–699 final response was sent; waiting for the ACK (timers G, H).
    Completed,
    /// The ACK arrived; absorbing stray ACKs until Timer I.
    Confirmed,
    /// A 2xx was sent; absorbing INVITE retransmissions until Timer L.
    Accepted,
    /// Done; the transaction can be dropped.
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug, Clone)]
pub struct ServerInvite {
    state: State,
    reliable: bool,
    timers: Timers,
    last_response: Option<Bytes>,
    timer_g: Option<Backoff>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl ServerInvite {
    /// A transaction for a newly received INVITE, in *Proceeding*. The transaction user should
    /// send `100 Trying` through [`send_provisional`](Self::send_provisional) at once.
    pub fn new(reliable: bool, timers: Timers) -> ServerInvite {
        ServerInvite {
            state: State::Proceeding,
            reliable,
            timers,
            last_response: None,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
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

    /// A retransmission of the INVITE arrived: returns the response to send again, if any.
    /// In *Accepted* and *Confirmed* the request is absorbed.
    pub fn on_request(&mut self) -> Option<Bytes> {
        match self.state {
            State::Proceeding | State::Completed => self.last_response.clone(),
            State::Confirmed | State::Accepted | State::Terminated => None,
        }
    }

    /// Records a provisional response (already encoded) being sent. Ignored (returns `false`)
    /// unless in *Proceeding*.
    pub fn send_provisional(&mut self, response: Bytes) -> bool {
        if self.state != State::Proceeding {
            return false;
        }
        self.last_response = Some(response);
        true
    }

    /// Records a final response being sent. Returns `false` (and changes nothing) unless in
    /// *Proceeding*: a transaction answers once.
    pub fn send_final(&mut self, now: Instant, status: u16, response: Bytes) -> bool {
        if self.state != State::Proceeding {
            return false;
        }
        if (200..300).contains(&status) {
            self.state = State::Accepted;
            self.last_response = None;
            self.timer_l = Some(now + self.timers.timeout());
        } else {
            self.state = State::Completed;
            self.last_response = Some(response);
            if !self.reliable {
                self.timer_g = Some(Backoff::start(now, self.timers.t1));
            }
            self.timer_h = Some(now + self.timers.timeout());
        }
        true
    }

    /// An ACK matched this transaction. Returns `true` when it belonged here (ACK for a non-2xx
    /// final) and is absorbed; `false` when the transaction user should look at it.
    pub fn on_ack(&mut self, now: Instant) -> bool {
        match self.state {
            State::Completed => {
                self.state = State::Confirmed;
                self.timer_g = None;
                self.timer_h = None;
                if self.reliable {
                    self.state = State::Terminated;
                } else {
                    self.timer_i = Some(now + self.timers.t4);
                }
                true
            }
            State::Confirmed | State::Terminated => true,
            State::Proceeding | State::Accepted => false,
        }
    }

    /// The next deadline, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[
            self.timer_g.map(|g| g.at),
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ])
    }

    /// Fires whatever timer is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        match self.state {
            State::Completed => {
                if due(self.timer_h, now) {
                    self.terminate();
                    return Some(TimerAction::TimedOut);
                }
                if let Some(g) = self.timer_g.as_mut().filter(|g| g.at <= now) {
                    g.next(Some(self.timers.t2));
                    return self.last_response.clone().map(TimerAction::Retransmit);
                }
                None
            }
            State::Confirmed if due(self.timer_i, now) => {
                self.terminate();
                Some(TimerAction::Terminated)
            }
            State::Accepted if due(self.timer_l, now) => {
                self.terminate();
                Some(TimerAction::Terminated)
            }
            _ => None,
        }
    }

    /// Ends the transaction at once (transport error).
    pub fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    /// Runs the machine on virtual time until nothing is pending, collecting what happened.
    fn drive(t: &mut ServerInvite, start: Instant) -> Vec<(u128, TimerAction)> {
        let mut out = Vec::new();
        while let Some(at) = t.poll_timeout() {
            if let Some(a) = t.handle_timeout(at) {
                out.push((ms(at - start), a));
            }
            assert!(out.len() < 100, "livelock");
        }
        out
    }

    #[test]
    fn retransmitted_invite_gets_the_last_provisional_again() {
        let mut t = ServerInvite::new(false, Timers::default());
        assert_eq!(t.on_request(), None);
        t.send_provisional(Bytes::from_static(b"100"));
        assert_eq!(t.on_request(), Some(Bytes::from_static(b"100")));
        t.send_provisional(Bytes::from_static(b"180"));
        assert_eq!(t.on_request(), Some(Bytes::from_static(b"180")));
    }

    #[test]
    fn non_2xx_final_is_retransmitted_on_timer_g_until_timer_h() {
        let t0 = Instant::now();
        let mut t = ServerInvite::new(false, Timers::default());
        assert!(t.send_final(t0, 486, Bytes::from_static(b"486")));
        let got = drive(&mut t, t0);
        let retransmits: Vec<u128> = got
            .iter()
            .filter(|(_, a)| matches!(a, TimerAction::Retransmit(_)))
            .map(|(at, _)| *at)
            .collect();
        assert_eq!(
            retransmits,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(got.last(), Some(&(32000, TimerAction::TimedOut)));
        assert!(t.is_terminated());
    }

    #[test]
    fn ack_stops_retransmission_and_timer_i_terminates() {
        let t0 = Instant::now();
        let mut t = ServerInvite::new(false, Timers::default());
        t.send_final(t0, 487, Bytes::from_static(b"487"));
        assert!(t.on_ack(t0 + Duration::from_millis(100)));
        assert_eq!(t.state(), State::Confirmed);
        assert_eq!(t.on_request(), None, "INVITE absorbed in Confirmed");
        let got = drive(&mut t, t0);
        assert_eq!(got, vec![(5100, TimerAction::Terminated)]);
    }

    #[test]
    fn reliable_transport_has_no_timer_g_and_zero_timer_i() {
        let t0 = Instant::now();
        let mut t = ServerInvite::new(true, Timers::default());
        t.send_final(t0, 603, Bytes::from_static(b"603"));
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        assert!(t.on_ack(t0));
        assert!(t.is_terminated());
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn reliable_transport_still_times_out_on_timer_h() {
        let t0 = Instant::now();
        let mut t = ServerInvite::new(true, Timers::default());
        t.send_final(t0, 603, Bytes::from_static(b"603"));
        assert_eq!(drive(&mut t, t0), vec![(32000, TimerAction::TimedOut)]);
    }

    #[test]
    fn two_xx_moves_to_accepted_absorbs_invites_and_ends_on_timer_l() {
        let t0 = Instant::now();
        let mut t = ServerInvite::new(false, Timers::default());
        t.send_provisional(Bytes::from_static(b"100"));
        assert!(t.send_final(t0, 200, Bytes::from_static(b"200")));
        assert_eq!(t.state(), State::Accepted);
        assert_eq!(t.on_request(), None);
        assert!(!t.on_ack(t0), "ACK for 2xx belongs to the dialog");
        assert!(!t.send_final(t0, 500, Bytes::new()), "answers once");
        assert_eq!(drive(&mut t, t0), vec![(32000, TimerAction::Terminated)]);
    }
}
