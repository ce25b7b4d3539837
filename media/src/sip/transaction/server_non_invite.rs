//! The non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! ```text
//!                       |Request received
//!                       |pass to TU
//!                       V
//!                 +-----------+
//!                 |           |
//!                 |  Trying   |-------------+
//!                 |           |             |
//!                 +-----------+             |200-699 from TU
//!                       |                   |send response
//!                       |1xx from TU        |
//!                       |send response      |
//!                       V                   |
//!    Request      +-----------+             |
//!    send last    |           |             |
//!    response  +--| Proceeding|             |
//!              +->|           |             |
//!                 +-----------+             |
//!                       |200-699 from TU    |
//!                       |send response      |
//!    Request            V                   |
//!    send last    +-----------+             |
//!    response  +--|           |<------------+
//!              +->| Completed |
//!                 |           |
//!                 +-----------+
//!                       |Timer J fires (64*T1; 0 on TCP)
//!                       V
//!                 +-----------+
//!                 | Terminated|
//!                 +-----------+
//! ```

use std::time::Instant;

use bytes::Bytes;

use super::{due, TimerAction, Timers};

/// States of [`ServerNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The request went to the transaction user; retransmissions are absorbed.
    Trying,
    /// A provisional response was sent; retransmissions get it again.
    Proceeding,
    /// The final response was sent; retransmissions get it again until Timer J.
    Completed,
    /// Done; the transaction can be dropped.
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    state: State,
    reliable: bool,
    timers: Timers,
    last_response: Option<Bytes>,
    timer_j: Option<Instant>,
}

impl ServerNonInvite {
    /// A transaction for a newly received request, in *Trying*.
    pub fn new(reliable: bool, timers: Timers) -> ServerNonInvite {
        ServerNonInvite {
            state: State::Trying,
            reliable,
            timers,
            last_response: None,
            timer_j: None,
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

    /// A retransmission of the request arrived: the response to send again, if any.
    pub fn on_request(&mut self) -> Option<Bytes> {
        match self.state {
            State::Proceeding | State::Completed => self.last_response.clone(),
            State::Trying | State::Terminated => None,
        }
    }

    /// Records a response (already encoded) being sent. Returns `false` (and changes nothing)
    /// once a final response has been sent.
    pub fn send_response(&mut self, now: Instant, status: u16, response: Bytes) -> bool {
        match self.state {
            State::Trying | State::Proceeding => {
                self.last_response = Some(response);
                if status < 200 {
                    self.state = State::Proceeding;
                } else if self.reliable {
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    self.timer_j = Some(now + self.timers.timeout());
                }
                true
            }
            State::Completed | State::Terminated => false,
        }
    }

    /// The next deadline, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer_j
    }

    /// Fires Timer J if due.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        if self.state == State::Completed && due(self.timer_j, now) {
            self.terminate();
            return Some(TimerAction::Terminated);
        }
        None
    }

    /// Ends the transaction at once.
    pub fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timer_j = None;
        self.last_response = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retransmissions_are_absorbed_while_trying_and_answered_after() {
        let t0 = Instant::now();
        let mut t = ServerNonInvite::new(false, Timers::default());
        assert_eq!(t.on_request(), None);
        assert!(t.send_response(t0, 200, Bytes::from_static(b"200")));
        assert_eq!(t.on_request(), Some(Bytes::from_static(b"200")));
        assert!(!t.send_response(t0, 500, Bytes::new()));
        assert_eq!(t.on_request(), Some(Bytes::from_static(b"200")));
    }

    #[test]
    fn timer_j_ends_the_transaction_after_64_t1_on_udp() {
        let t0 = Instant::now();
        let mut t = ServerNonInvite::new(false, Timers::default());
        t.send_response(t0, 100, Bytes::from_static(b"100"));
        assert_eq!(t.state(), State::Proceeding);
        assert_eq!(t.poll_timeout(), None);
        t.send_response(t0, 481, Bytes::from_static(b"481"));
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        assert_eq!(t.handle_timeout(t0 + Duration::from_secs(31)), None);
        assert_eq!(
            t.handle_timeout(t0 + Duration::from_secs(32)),
            Some(TimerAction::Terminated)
        );
        assert!(t.is_terminated());
    }

    #[test]
    fn tcp_terminates_right_after_the_final_response() {
        let t0 = Instant::now();
        let mut t = ServerNonInvite::new(true, Timers::default());
        t.send_response(t0, 200, Bytes::from_static(b"200"));
        assert!(t.is_terminated());
        assert_eq!(t.poll_timeout(), None);
    }
}
