//! The non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! ```text
//!                                |Request from TU
//!                                |send request
//!            Timer E             V
//!            send request  +-----------+
//!                +---------|           |-------------------+
//!                |         |  Trying   |  Timer F          |
//!                +-------->|           |  or Transport Err.|
//!                          +-----------+  inform TU        |
//!             200-699         |  |                         |
//!             resp. to TU     |  |1xx                      |
//!             +---------------+  |resp. to TU              |
//!             |                  |                         |
//!             |   Timer E        V       Timer F           |
//!             |   send req +-----------+ or Transport Err. |
//!             |  +---------|           | inform TU         |
//!             |  |         |Proceeding |------------------>|
//!             |  +-------->|           |-----+             |
//!             |            +-----------+     |1xx          |
//!             |              |      ^        |resp to TU   |
//!             | 200-699      |      +--------+             |
//!             | resp. to TU  |                             |
//!             |              |                             |
//!             |              V                             |
//!             |            +-----------+                   |
//!             |            |           |                   |
//!             |            | Completed |                   |
//!             |            |           |                   |
//!             |            +-----------+                   |
//!             |              ^   |                         |
//!             |              |   | Timer K (T4; 0 on TCP)  |
//!             +--------------+   | -                       |
//!                                |                         |
//!                                V                         |
//!          NOTE:           +-----------+                   |
//!                          |           |                   |
//!      Timer E doubles     | Terminated|<------------------+
//!      up to T2 in Trying, |           |
//!      stays T2 in         +-----------+
//!      Proceeding
//! ```

use std::time::Instant;

use bytes::Bytes;

use super::{due, earliest, Backoff, TimerAction, Timers};

/// States of [`ClientNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Request sent, nothing heard yet (timers E, F).
    Trying,
    /// A provisional response arrived; retransmitting every T2.
    Proceeding,
    /// The final response arrived; absorbing its retransmissions until Timer K.
    Completed,
    /// Done; the transaction can be dropped.
    Terminated,
}

/// A non-INVITE client transaction.
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    state: State,
    reliable: bool,
    timers: Timers,
    request: Bytes,
    timer_e: Option<Backoff>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientNonInvite {
    /// A transaction whose request (`request`, encoded) is being sent now, in *Trying*.
    pub fn new(now: Instant, reliable: bool, timers: Timers, request: Bytes) -> ClientNonInvite {
        ClientNonInvite {
            state: State::Trying,
            reliable,
            timers,
            request,
            timer_e: (!reliable).then(|| Backoff::start(now, timers.t1)),
            timer_f: Some(now + timers.timeout()),
            timer_k: None,
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

    /// A response with `status` matched this transaction. Returns `true` when it should go to
    /// the transaction user (provisionals and the first final), `false` for retransmissions.
    pub fn on_response(&mut self, now: Instant, status: u16) -> bool {
        match self.state {
            State::Trying | State::Proceeding if status < 200 => {
                self.state = State::Proceeding;
                true
            }
            State::Trying | State::Proceeding => {
                self.timer_e = None;
                self.timer_f = None;
                if self.reliable {
                    self.state = State::Terminated;
                } else {
                    self.state = State::Completed;
                    self.timer_k = Some(now + self.timers.t4);
                }
                true
            }
            State::Completed | State::Terminated => false,
        }
    }

    /// The next deadline, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_e.map(|e| e.at), self.timer_f, self.timer_k])
    }

    /// Fires whatever timer is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        match self.state {
            State::Trying | State::Proceeding => {
                if due(self.timer_f, now) {
                    self.terminate();
                    return Some(TimerAction::TimedOut);
                }
                let proceeding = self.state == State::Proceeding;
                let t2 = self.timers.t2;
                if let Some(e) = self.timer_e.as_mut().filter(|e| e.at <= now) {
                    if proceeding {
                        e.interval = t2;
                        e.at += t2;
                    } else {
                        e.next(Some(t2));
                    }
                    return Some(TimerAction::Retransmit(self.request.clone()));
                }
                None
            }
            State::Completed if due(self.timer_k, now) => {
                self.terminate();
                Some(TimerAction::Terminated)
            }
            _ => None,
        }
    }

    /// Ends the transaction at once.
    pub fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(t: &mut ClientNonInvite, start: Instant) -> Vec<(u128, TimerAction)> {
        let mut out = Vec::new();
        while let Some(at) = t.poll_timeout() {
            if let Some(a) = t.handle_timeout(at) {
                out.push(((at - start).as_millis(), a));
            }
            assert!(out.len() < 100, "livelock");
        }
        out
    }

    #[test]
    fn timer_e_doubles_to_t2_then_timer_f_gives_up() {
        let t0 = Instant::now();
        let mut t = ClientNonInvite::new(t0, false, Timers::default(), Bytes::from_static(b"BYE"));
        let got = drive(&mut t, t0);
        let at: Vec<u128> = got.iter().map(|(at, _)| *at).collect();
        assert_eq!(
            at,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500, 32000]
        );
        assert_eq!(got.last().map(|g| &g.1), Some(&TimerAction::TimedOut));
        assert!(t.is_terminated());
    }

    #[test]
    fn final_response_is_delivered_once_then_timer_k_ends() {
        let t0 = Instant::now();
        let mut t = ClientNonInvite::new(t0, false, Timers::default(), Bytes::from_static(b"BYE"));
        assert!(t.on_response(t0, 200));
        assert!(!t.on_response(t0, 200));
        assert_eq!(drive(&mut t, t0), vec![(5000, TimerAction::Terminated)]);
    }

    #[test]
    fn proceeding_retransmits_every_t2() {
        let t0 = Instant::now();
        let mut t = ClientNonInvite::new(t0, false, Timers::default(), Bytes::from_static(b"REG"));
        assert!(t.on_response(t0, 100));
        let got = drive(&mut t, t0);
        let at: Vec<u128> = got.iter().map(|(at, _)| *at).collect();
        assert_eq!(
            at,
            vec![500, 4500, 8500, 12500, 16500, 20500, 24500, 28500, 32000]
        );
    }

    #[test]
    fn tcp_has_no_timer_e_and_zero_timer_k() {
        let t0 = Instant::now();
        let mut t = ClientNonInvite::new(t0, true, Timers::default(), Bytes::from_static(b"BYE"));
        assert_eq!(
            drive(&mut t.clone(), t0),
            vec![(32000, TimerAction::TimedOut)]
        );
        assert!(t.on_response(t0, 200));
        assert!(t.is_terminated());
    }
}
