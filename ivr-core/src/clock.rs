//! The shared media clock: one 20 ms timer for the whole engine.
//!
//! Every call task waits on the same tick instead of owning a timer of its own, so two thousand
//! calls cost one timer wake-up per 20 ms plus one task poll each. A tick carries its sequence
//! number; a task that was late processes the ticks it missed (up to a bound), which keeps RTP
//! timestamps and playout in step with real time.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// The frame period.
pub const FRAME: Duration = Duration::from_millis(20);

/// One tick of the media clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Ticks since the clock started.
    pub seq: u64,
    /// When the tick fired.
    pub at: Instant,
}

/// A subscription to the media clock.
#[derive(Clone)]
pub struct MediaClock {
    rx: watch::Receiver<Tick>,
}

impl MediaClock {
    /// Starts the clock task on the current runtime.
    pub fn start() -> MediaClock {
        let start = Tick {
            seq: 0,
            at: Instant::now(),
        };
        let (tx, rx) = watch::channel(start);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(FRAME);
            interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut seq = 0u64;
            loop {
                let at = interval.tick().await.into_std();
                seq += 1;
                tx.send_replace(Tick { seq, at });
            }
        });
        MediaClock { rx }
    }

    /// The latest tick.
    pub fn now(&self) -> Tick {
        *self.rx.borrow()
    }

    /// Waits for the next tick. Returns `None` if the clock stopped.
    pub async fn next(&mut self) -> Option<Tick> {
        self.rx.changed().await.ok()?;
        Some(*self.rx.borrow_and_update())
    }
}
