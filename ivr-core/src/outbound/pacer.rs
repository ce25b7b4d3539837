//! The call-start pacer: a token bucket holding one token, so starts are evenly spaced.
//!
//! At 10 calls per second a start is allowed every 100 ms and never two at once, however long
//! the campaign was idle (no bursts after a pause). A driver that wakes a little late (less
//! than one interval) does not slow the campaign down: the next start keeps its slot on the
//! original schedule.

use std::time::{Duration, Instant};

/// Spaces call starts `interval` apart.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer allowing `per_second` starts a second (at least one a day).
    pub fn new(per_second: f64) -> Pacer {
        let secs = if per_second.is_finite() && per_second > 0.0 {
            (1.0 / per_second).min(86_400.0)
        } else {
            86_400.0
        };
        Pacer {
            interval: Duration::from_secs_f64(secs),
            next: None,
        }
    }

    /// The spacing between starts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the next start is allowed; `None` means now.
    pub fn ready_at(&self) -> Option<Instant> {
        self.next
    }

    /// Whether a start is allowed at `now`.
    pub fn is_ready(&self, now: Instant) -> bool {
        self.next.is_none_or(|next| now >= next)
    }

    /// Takes the token for a start at `now` (call only when [`Pacer::is_ready`]).
    pub fn take(&mut self, now: Instant) {
        let scheduled = self.next.map(|next| next + self.interval);
        self.next = Some(match scheduled {
            // Late by less than an interval: keep to the schedule.
            Some(s) if s > now => s,
            _ => now + self.interval,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spaced_by_the_interval_and_never_burst_after_idling() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10.0);
        assert!(p.is_ready(t0));
        p.take(t0);
        assert!(!p.is_ready(t0 + Duration::from_millis(99)));
        assert_eq!(p.ready_at(), Some(t0 + Duration::from_millis(100)));
        // An hour idle earns one start, not a burst.
        let later = t0 + Duration::from_secs(3600);
        assert!(p.is_ready(later));
        p.take(later);
        assert!(!p.is_ready(later + Duration::from_millis(50)));
    }

    #[test]
    fn a_late_wake_up_keeps_the_schedule() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10.0);
        p.take(t0);
        // Woken 30 ms late for the 100 ms slot: the next slot stays at 200 ms.
        p.take(t0 + Duration::from_millis(130));
        assert_eq!(p.ready_at(), Some(t0 + Duration::from_millis(200)));
    }
}
