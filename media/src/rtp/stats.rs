//! Receive statistics for one incoming RTP stream (RFC 3550 appendix A).
//!
//! * A.1 — sequence tracking: extended highest sequence number (wrap cycles), probation before
//!   a new source is believed, and resynchronisation after a large jump confirmed by two packets.
//! * A.3 — loss: cumulative (expected − received, may go negative with duplicates) and the
//!   fraction lost since the previous report.
//! * A.8 — interarrival jitter, smoothed with gain 1/16, in timestamp units.
//!
//! Beyond the RFC: duplicates and late (reordered) packets are told apart with a 64-packet
//! window, and a change of SSRC resets the statistics for the new source.

use std::time::{Duration, Instant};

use super::packet::RtpHeader;

/// Sequential packets needed before a new source counts (A.1 `MIN_SEQUENTIAL`).
const MIN_SEQUENTIAL: u32 = 2;
/// Largest forward jump taken as loss rather than a restart (A.1 `MAX_DROPOUT`).
const MAX_DROPOUT: u16 = 3000;
/// Largest backward jump taken as reordering (A.1 `MAX_MISORDER`).
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// RFC 3550 A.8 interarrival jitter estimator, in timestamp units.
///
/// `J += (|D| - J) / 16`, where `D` is the change in transit time (arrival − timestamp)
/// between consecutive packets.
#[derive(Debug, Clone)]
pub struct JitterEstimator {
    clock_rate: u32,
    epoch: Option<Instant>,
    last_transit: Option<i64>,
    jitter: f64,
}

impl JitterEstimator {
    /// An estimator for a stream with the given clock rate (Hz).
    pub fn new(clock_rate: u32) -> Self {
        JitterEstimator {
            clock_rate: clock_rate.max(1),
            epoch: None,
            last_transit: None,
            jitter: 0.0,
        }
    }

    /// Feeds one packet's arrival time and RTP timestamp.
    pub fn update(&mut self, now: Instant, timestamp: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch);
        let arrival = (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        // Both sides wrap modulo 2^32; the difference is meaningful as a signed 32-bit value.
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The estimate in timestamp units.
    pub fn samples(&self) -> f64 {
        self.jitter
    }

    /// The estimate as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.jitter / f64::from(self.clock_rate))
    }

    /// Keeps the estimate but forgets the last transit time, so a discontinuity (stream
    /// restart) does not count as one huge jitter sample.
    pub fn rebase(&mut self) {
        self.epoch = None;
        self.last_transit = None;
    }

    /// Forgets everything (new source).
    pub fn reset(&mut self) {
        *self = JitterEstimator::new(self.clock_rate);
    }
}

/// Loss figures for one RTCP report block, taken with [`ReceiverStats::take_report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceptionReport {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative packets lost (may be negative with duplicates), clamped to 24 bits.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

/// Receive statistics for one incoming stream; see the module documentation.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    ssrc: Option<u32>,
    max_seq: u16,
    cycles: u32,
    base_ext: i64,
    bad_seq: u32,
    probation: u32,
    received: u64,
    expected_prior: i64,
    received_prior: u64,
    /// Bit `i` set: extended sequence `max_ext - i` was received.
    window: u64,
    duplicates: u64,
    late: u64,
    ssrc_changes: u64,
    jitter: JitterEstimator,
}

impl ReceiverStats {
    /// Statistics for a stream with the given clock rate (Hz), before any packet.
    pub fn new(clock_rate: u32) -> Self {
        ReceiverStats {
            ssrc: None,
            max_seq: 0,
            cycles: 0,
            base_ext: 0,
            bad_seq: SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            window: 0,
            duplicates: 0,
            late: 0,
            ssrc_changes: 0,
            jitter: JitterEstimator::new(clock_rate),
        }
    }

    /// Accounts for one received packet.
    pub fn update(&mut self, now: Instant, header: &RtpHeader) {
        match self.ssrc {
            Some(ssrc) if ssrc == header.ssrc => {}
            previous => {
                let changes = self.ssrc_changes + u64::from(previous.is_some());
                *self = ReceiverStats {
                    ssrc: Some(header.ssrc),
                    ssrc_changes: changes,
                    ..ReceiverStats::new(self.jitter.clock_rate)
                };
                self.max_seq = header.sequence.wrapping_sub(1);
            }
        }
        if self.update_seq(header.sequence) {
            self.jitter.update(now, header.timestamp);
        }
    }

    /// A.1 `update_seq`, with duplicate detection; true if the packet is valid.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    // Count the probation packets too: they were in sequence.
                    self.init_seq(seq);
                    self.base_ext = i64::from(seq) - i64::from(MIN_SEQUENTIAL - 1);
                    self.received = u64::from(MIN_SEQUENTIAL);
                    self.window = (1 << MIN_SEQUENTIAL) - 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        }
        if udelta == 0 {
            self.duplicates += 1;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += SEQ_MOD;
            }
            self.max_seq = seq;
            self.window = self.window.checked_shl(u32::from(udelta)).unwrap_or(0) | 1;
        } else if udelta <= (SEQ_MOD - u32::from(MAX_MISORDER)) as u16 {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the sender restarted.
                self.init_seq(seq);
                self.window = 1;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return false;
            }
        } else {
            // Reordered or duplicate, within MAX_MISORDER behind the highest.
            let back = self.max_seq.wrapping_sub(seq);
            let bit = 1u64.checked_shl(u32::from(back)).unwrap_or(0);
            if self.window & bit != 0 {
                self.duplicates += 1;
            } else {
                self.late += 1;
                self.window |= bit;
            }
        }
        self.received += 1;
        true
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_ext = i64::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    fn extended_max(&self) -> i64 {
        i64::from(self.cycles) + i64::from(self.max_seq)
    }

    fn expected(&self) -> i64 {
        if self.probation > 0 {
            return 0;
        }
        self.extended_max() - self.base_ext + 1
    }

    /// The SSRC being tracked, once a packet arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Valid packets received (duplicates included, as RFC 3550 counts them).
    pub fn packets_received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost: expected − received (negative if duplicates outnumber losses).
    pub fn packets_lost(&self) -> i64 {
        self.expected() - self.received as i64
    }

    /// Fraction lost since the last [`ReceiverStats::take_report`], in 1/256 units (A.3).
    pub fn fraction_lost(&self) -> u8 {
        let expected_interval = self.expected() - self.expected_prior;
        let received_interval = self.received as i64 - self.received_prior as i64;
        let lost_interval = expected_interval - received_interval;
        if expected_interval <= 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        }
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter.samples() * 1000.0 / f64::from(self.jitter.clock_rate)
    }

    /// Interarrival jitter in timestamp units, as RTCP reports it.
    pub fn jitter_samples(&self) -> u32 {
        self.jitter.samples() as u32
    }

    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub fn extended_highest_seq(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Duplicate packets seen.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Packets that arrived after a later sequence number (reordered).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Times the sender's SSRC changed (each change resets the other figures).
    pub fn ssrc_changes(&self) -> u64 {
        self.ssrc_changes
    }

    /// The figures for an RTCP report block; starts a new interval for the fraction lost.
    /// `None` before a source has passed probation.
    pub fn take_report(&mut self) -> Option<ReceptionReport> {
        let ssrc = self.ssrc?;
        if self.probation > 0 {
            return None;
        }
        let report = ReceptionReport {
            ssrc,
            fraction_lost: self.fraction_lost(),
            cumulative_lost: self.packets_lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            extended_highest_seq: self.extended_highest_seq(),
            jitter: self.jitter_samples(),
        };
        self.expected_prior = self.expected();
        self.received_prior = self.received;
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(sequence: u16, timestamp: u32) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp,
            ssrc: 42,
        }
    }

    fn feed(stats: &mut ReceiverStats, t0: Instant, seqs: &[u16]) {
        for &s in seqs {
            let ts = u32::from(s) * 160;
            stats.update(t0 + Duration::from_millis(u64::from(s) * 20), &h(s, ts));
        }
    }

    #[test]
    fn in_order_stream_has_no_loss_and_no_jitter() {
        let mut st = ReceiverStats::new(8000);
        feed(&mut st, Instant::now(), &(0..100).collect::<Vec<_>>());
        assert_eq!(st.packets_received(), 100);
        assert_eq!(st.packets_lost(), 0);
        assert_eq!(st.fraction_lost(), 0);
        assert!(st.jitter_ms() < 0.01);
    }

    #[test]
    fn loss_is_cumulative_and_fraction_resets_per_report() {
        let mut st = ReceiverStats::new(8000);
        let seqs: Vec<u16> = (0..100).filter(|s| s % 4 != 3).collect();
        feed(&mut st, Instant::now(), &seqs);
        // 0..=98 expected (99), 75 received.
        assert_eq!(st.packets_lost(), 99 - 75);
        let r = st.take_report().unwrap();
        assert_eq!(r.fraction_lost, (24 * 256 / 99) as u8);
        assert_eq!(r.cumulative_lost, 24);
        assert_eq!(r.extended_highest_seq, 98);
        assert_eq!(st.fraction_lost(), 0);
    }

    #[test]
    fn sequence_wrap_extends_the_highest_number() {
        let mut st = ReceiverStats::new(8000);
        let t0 = Instant::now();
        for (i, s) in (65530u16..=65535).chain(0..10).enumerate() {
            st.update(
                t0 + Duration::from_millis(i as u64 * 20),
                &h(s, i as u32 * 160),
            );
        }
        assert_eq!(st.extended_highest_seq(), 65536 + 9);
        assert_eq!(st.packets_received(), 16);
        assert_eq!(st.packets_lost(), 0);
    }

    #[test]
    fn duplicates_and_reordered_packets_are_told_apart() {
        let mut st = ReceiverStats::new(8000);
        feed(&mut st, Instant::now(), &[0, 1, 2, 4, 3, 3, 4, 5]);
        assert_eq!(st.late(), 1);
        assert_eq!(st.duplicates(), 2);
        assert_eq!(st.packets_lost(), -2); // RFC 3550 counts duplicates as received
    }

    #[test]
    fn ssrc_change_resets_the_statistics() {
        let mut st = ReceiverStats::new(8000);
        let t0 = Instant::now();
        feed(&mut st, t0, &[0, 1, 2, 5]);
        let mut other = h(1000, 0);
        other.ssrc = 7;
        st.update(t0, &other);
        other.sequence = 1001;
        st.update(t0, &other);
        assert_eq!(st.ssrc(), Some(7));
        assert_eq!(st.ssrc_changes(), 1);
        assert_eq!(st.packets_received(), 2);
        assert_eq!(st.packets_lost(), 0);
    }

    #[test]
    fn large_jump_needs_two_sequential_packets_to_restart() {
        let mut st = ReceiverStats::new(8000);
        feed(&mut st, Instant::now(), &[0, 1, 2]);
        let t = Instant::now();
        st.update(t, &h(30000, 0));
        assert_eq!(st.extended_highest_seq(), 2);
        st.update(t, &h(30001, 160));
        assert_eq!(st.extended_highest_seq(), 30001);
        assert_eq!(st.packets_lost(), 0);
    }

    #[test]
    fn jitter_follows_rfc3550_a8() {
        let mut st = ReceiverStats::new(8000);
        let t0 = Instant::now();
        // Every other packet arrives 10 ms late: |D| = 80 samples each time.
        for i in 0..400u32 {
            let late = if i % 2 == 1 { 10 } else { 0 };
            let at = t0 + Duration::from_millis(u64::from(i) * 20 + late);
            st.update(at, &h(i as u16, i * 160));
        }
        assert!((st.jitter_ms() - 10.0).abs() < 0.5, "{}", st.jitter_ms());
        assert!((i64::from(st.jitter_samples()) - 80).abs() <= 4);
    }

    #[test]
    fn probation_hides_a_lone_packet() {
        let mut st = ReceiverStats::new(8000);
        st.update(Instant::now(), &h(10, 0));
        assert_eq!(st.packets_received(), 0);
        assert_eq!(st.take_report(), None);
    }
}
