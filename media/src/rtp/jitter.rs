//! An adaptive jitter buffer for one incoming audio stream (sans-IO, fixed memory).
//!
//! Packets go in with [`JitterBuffer::push`] as they arrive; once per frame tick (20 ms) the
//! media clock calls [`JitterBuffer::pop`], which hands back the frame due now, says a frame is
//! missing ([`Playout::Lost`]: conceal it) or that there is nothing to play ([`Playout::Empty`]:
//! not started, silence or underrun).
//!
//! ## Timeline
//!
//! The buffer plays by *timestamp*. A playout cursor (`next_ts`) advances one frame per tick,
//! whether or not audio is there, so silence suppression (a timestamp gap without a sequence
//! gap) stays silence, and a missing sequence number becomes exactly the frames it covered.
//!
//! ```text
//!  arrivals  ──▶ [ ring of slots indexed by extended seq % capacity ] ──▶ pop() every tick
//!                     ▲ play_seq            ▲ highest_seq
//!  timestamp:   ... next_ts ─────── wait ─────── newest packet ...
//!                   (cursor: +1 frame per pop)
//!
//!  pop():  head = lowest buffered seq ≥ play_seq
//!          head.ts < next_ts + frame ───────────────▶ Packet (skipped seqs count as lost)
//!          head.ts ahead, seqs missing before it ───▶ Lost   (once per missing seq)
//!          head.ts ahead, no seq missing ───────────▶ Empty  (silence: adapt here)
//!          nothing buffered ────────────────────────▶ Lost × 3 after audio, then Empty
//!                                                      (underrun; the cursor moves on)
//! ```
//!
//! A packet whose timestamp is behind the cursor when it arrives is *late* and dropped; one
//! already buffered is a *duplicate*; one before a buffered later sequence is *reordered*.
//!
//! ## Adaptation
//!
//! Each arriving packet's *wait* (how long until the cursor reaches it) is averaged with gain
//! 1/16. The *target* delay is three times the RFC 3550 interarrival jitter, clamped to
//! `[min_delay, max_delay]` (`start_delay` until 16 packets were seen). The average wait is
//! steered to the target one frame at a time:
//!
//! ```text
//!            wait − target  ≥ 1 frame   ≤ −½ frame          (hysteresis band between)
//!  silence:  cursor +2 frames (shrink)  cursor holds (grow)   — inaudible
//!  talk:     ≥ 1 frame for 2 s:         ≤ −1 frame: insert a Lost frame
//!            drop a frame               (at most one change per 0.5 s)
//! ```
//!
//! A change of SSRC, a sequence jump over 3000, a timestamp more than `resync_threshold` away
//! from the cursor, or five late packets in a row restart the buffer on the new packet.
//!
//! Memory: `capacity` slots of `max_payload` bytes, allocated once in [`JitterBuffer::new`];
//! push and pop do not allocate. Feed only audio payload types (telephone-events share
//! timestamps and go to the DTMF receiver instead).

use std::time::{Duration, Instant};

use super::packet::RtpHeader;
use super::stats::JitterEstimator;

/// Sequence jump (either way) beyond which the stream is taken as restarted.
const MAX_SEQ_JUMP: i64 = 3000;
/// Consecutive late packets after which the timeline is re-anchored.
const LATE_RUN_RESYNC: u32 = 5;
/// Packets before the jitter estimate drives the target.
const WARMUP_PACKETS: u32 = 16;
/// Ticks between two adaptations while audio is playing (0.5 s at 20 ms).
const TALK_ADAPT_HOLD: u32 = 25;
/// Ticks the delay must stay a frame over target before a frame of speech is dropped (2 s).
const TALK_SHRINK_AFTER: u32 = 100;
/// Frames concealed on an underrun right after audio, before falling silent.
const MAX_UNDERRUN_CONCEAL: i64 = 3;

/// Settings for a [`JitterBuffer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest target delay.
    pub min_delay: Duration,
    /// Largest target delay.
    pub max_delay: Duration,
    /// Target delay before the jitter estimate has settled.
    pub start_delay: Duration,
    /// Media clock rate in Hz.
    pub clock_rate: u32,
    /// Samples per frame tick (160 for 20 ms at 8 kHz).
    pub frame_samples: u32,
    /// Packets the buffer can hold; must cover `max_delay` plus reordering.
    pub capacity: usize,
    /// Largest payload stored; bigger packets are dropped and counted as oversize.
    pub max_payload: usize,
    /// A timestamp this far from the playout cursor restarts the buffer.
    pub resync_threshold: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            start_delay: Duration::from_millis(40),
            clock_rate: 8000,
            frame_samples: 160,
            capacity: 32,
            max_payload: 512,
            resync_threshold: Duration::from_secs(1),
        }
    }
}

/// What to play for one frame tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The frame due now.
    Packet {
        /// Its RTP header.
        header: RtpHeader,
        /// Its payload (still encoded).
        payload: &'a [u8],
    },
    /// A frame is missing (lost, or inserted to grow the delay): conceal it, e.g. repeat and
    /// fade the last frame.
    Lost,
    /// Nothing to play: not started yet, silence between talk spurts, or underrun.
    Empty,
}

/// Counters kept by a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets that arrived after their playout time (dropped).
    pub late: u64,
    /// Packets already in the buffer (dropped).
    pub duplicate: u64,
    /// Sequence numbers skipped at playout because no packet was there.
    pub lost: u64,
    /// Packets that arrived after a later sequence number but in time.
    pub reordered: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
    /// Packets larger than `max_payload` (dropped).
    pub oversize: u64,
    /// Restarts (SSRC change, jumps, runs of late packets).
    pub resyncs: u64,
    /// Frames dropped to shrink the delay.
    pub dropped: u64,
    /// Frames inserted to grow the delay.
    pub inserted: u64,
    /// Packets played.
    pub played: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    full: bool,
    ext_seq: i64,
    ext_ts: i64,
    header: RtpHeader,
    len: usize,
}

const EMPTY_SLOT: Slot = Slot {
    full: false,
    ext_seq: 0,
    ext_ts: 0,
    header: RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 0,
        timestamp: 0,
        ssrc: 0,
    },
    len: 0,
};

/// An adaptive jitter buffer; see the module documentation for the algorithm.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    slots: Vec<Slot>,
    data: Box<[u8]>,
    /// Number of full slots.
    len: usize,
    ssrc: Option<u32>,
    /// No packet since the last restart.
    fresh: bool,
    started: bool,
    first_arrival: Option<Instant>,
    highest_seq: i64,
    ts_ref_raw: u32,
    ts_ref_ext: i64,
    play_seq: i64,
    next_ts: i64,
    gap_concealed: i64,
    /// The last pop played or concealed audio.
    talking: bool,
    late_run: u32,
    /// Consecutive talking ticks with the delay a frame or more over target.
    over_target: u32,
    adapt_hold: u32,
    last_pop: Option<Instant>,
    estimator: JitterEstimator,
    packets_seen: u32,
    /// Average wait of arriving packets, in samples.
    avg_wait: f64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer; allocates all its storage now.
    pub fn new(config: JitterConfig) -> Self {
        let capacity = config.capacity.max(2);
        let config = JitterConfig {
            capacity,
            clock_rate: config.clock_rate.max(1),
            frame_samples: config.frame_samples.max(1),
            ..config
        };
        JitterBuffer {
            slots: vec![EMPTY_SLOT; capacity],
            data: vec![0; capacity * config.max_payload].into_boxed_slice(),
            len: 0,
            ssrc: None,
            fresh: true,
            started: false,
            first_arrival: None,
            highest_seq: 0,
            ts_ref_raw: 0,
            ts_ref_ext: 0,
            play_seq: 0,
            next_ts: 0,
            gap_concealed: 0,
            talking: false,
            late_run: 0,
            over_target: 0,
            adapt_hold: 0,
            last_pop: None,
            estimator: JitterEstimator::new(config.clock_rate),
            packets_seen: 0,
            avg_wait: 0.0,
            stats: JitterStats::default(),
            config,
        }
    }

    fn frame(&self) -> i64 {
        i64::from(self.config.frame_samples)
    }

    fn samples(&self, d: Duration) -> f64 {
        d.as_secs_f64() * f64::from(self.config.clock_rate)
    }

    fn index(&self, ext_seq: i64) -> usize {
        // rem_euclid of a positive modulus is in 0..capacity.
        ext_seq.rem_euclid(self.slots.len() as i64) as usize
    }

    /// The delay the buffer is steering to.
    pub fn target_delay(&self) -> Duration {
        if self.packets_seen < WARMUP_PACKETS {
            return self.config.start_delay;
        }
        let jitter = self.estimator.duration();
        (jitter * 3).clamp(self.config.min_delay, self.config.max_delay)
    }

    fn target_samples(&self) -> f64 {
        self.samples(self.target_delay())
    }

    /// The current playout delay: the average wait of arriving packets once playing, the
    /// target before.
    pub fn delay(&self) -> Duration {
        if self.started {
            Duration::from_secs_f64(self.avg_wait.max(0.0) / f64::from(self.config.clock_rate))
        } else {
            self.target_delay()
        }
    }

    /// The counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The RFC 3550 interarrival jitter of the stream.
    pub fn jitter(&self) -> Duration {
        self.estimator.duration()
    }

    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no packet is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        for slot in &mut self.slots {
            slot.full = false;
        }
        self.len = 0;
        self.fresh = true;
        self.started = false;
        self.first_arrival = None;
        self.gap_concealed = 0;
        self.talking = false;
        self.late_run = 0;
        self.estimator.rebase();
    }

    /// Offers one received packet.
    pub fn push(&mut self, now: Instant, header: &RtpHeader, payload: &[u8]) {
        if payload.len() > self.config.max_payload {
            self.stats.oversize += 1;
            return;
        }
        if self.ssrc != Some(header.ssrc) {
            if self.ssrc.is_some() {
                self.stats.resyncs += 1;
            }
            self.clear();
            self.estimator.reset();
            self.packets_seen = 0;
            self.ssrc = Some(header.ssrc);
        }
        let (mut ext_seq, mut ext_ts) = self.extend(header);
        if !self.fresh && self.is_jump(ext_seq, ext_ts) {
            self.stats.resyncs += 1;
            self.clear();
            (ext_seq, ext_ts) = self.extend(header);
        }
        if self.fresh {
            self.fresh = false;
            self.first_arrival = Some(now);
            self.highest_seq = ext_seq;
            self.play_seq = ext_seq;
            self.ts_ref_raw = header.timestamp;
            self.ts_ref_ext = ext_ts;
        }
        self.estimator.update(now, header.timestamp);
        self.packets_seen = self.packets_seen.saturating_add(1);

        if self.started {
            let wait = (ext_ts - self.next_ts) as f64 + self.until_next_pop(now);
            self.avg_wait += (wait - self.avg_wait) / 16.0;
            if ext_ts < self.next_ts || ext_seq < self.play_seq {
                self.stats.late += 1;
                self.late_run += 1;
                if self.late_run >= LATE_RUN_RESYNC {
                    self.stats.resyncs += 1;
                    self.clear();
                    self.push(now, header, payload);
                }
                return;
            }
        } else if ext_seq < self.play_seq {
            if self.highest_seq - ext_seq >= self.slots.len() as i64 {
                self.stats.overflow += 1;
                return;
            }
            self.play_seq = ext_seq;
        }
        self.late_run = 0;

        let capacity = self.slots.len() as i64;
        if ext_seq - self.play_seq >= capacity {
            if self.len == 0 {
                self.stats.lost += (ext_seq - self.play_seq) as u64;
                self.play_seq = ext_seq;
            } else {
                while ext_seq - self.play_seq >= capacity {
                    let i = self.index(self.play_seq);
                    if self.slots[i].full {
                        self.slots[i].full = false;
                        self.len -= 1;
                        self.stats.overflow += 1;
                    } else {
                        self.stats.lost += 1;
                    }
                    self.play_seq += 1;
                }
            }
            self.gap_concealed = 0;
        }

        let i = self.index(ext_seq);
        if self.slots[i].full {
            if self.slots[i].ext_seq == ext_seq {
                self.stats.duplicate += 1;
                return;
            }
            // Unreachable while the window stays under capacity; replace the stale packet.
            self.len -= 1;
            self.stats.overflow += 1;
        }
        if ext_seq < self.highest_seq {
            self.stats.reordered += 1;
        } else {
            self.highest_seq = ext_seq;
            self.ts_ref_raw = header.timestamp;
            self.ts_ref_ext = ext_ts;
        }
        let start = i * self.config.max_payload;
        self.data[start..start + payload.len()].copy_from_slice(payload);
        self.slots[i] = Slot {
            full: true,
            ext_seq,
            ext_ts,
            header: *header,
            len: payload.len(),
        };
        self.len += 1;
    }

    /// Extended (unwrapped) sequence number and timestamp of `header`.
    fn extend(&self, header: &RtpHeader) -> (i64, i64) {
        if self.fresh {
            return (i64::from(header.sequence), i64::from(header.timestamp));
        }
        let dseq = header.sequence.wrapping_sub(self.highest_seq as u16) as i16;
        let dts = header.timestamp.wrapping_sub(self.ts_ref_raw) as i32;
        (
            self.highest_seq + i64::from(dseq),
            self.ts_ref_ext + i64::from(dts),
        )
    }

    fn is_jump(&self, ext_seq: i64, ext_ts: i64) -> bool {
        let threshold = self.samples(self.config.resync_threshold) as i64;
        let reference = if self.started {
            self.next_ts
        } else {
            self.ts_ref_ext
        };
        (ext_seq - self.highest_seq).abs() > MAX_SEQ_JUMP || (ext_ts - reference).abs() > threshold
    }

    /// Samples from `now` until the next expected pop (one tick after the last), 0..=frame.
    fn until_next_pop(&self, now: Instant) -> f64 {
        let frame = self.frame() as f64;
        match self.last_pop {
            Some(last) => {
                let since = self.samples(now.saturating_duration_since(last));
                (frame - since).clamp(0.0, frame)
            }
            None => frame,
        }
    }

    /// Lowest buffered extended sequence number at or after `play_seq`.
    fn head(&self) -> Option<i64> {
        if self.len == 0 {
            return None;
        }
        (self.play_seq..=self.highest_seq).find(|&s| {
            let slot = &self.slots[self.index(s)];
            slot.full && slot.ext_seq == s
        })
    }

    /// The frame for this tick; call once per `frame_samples` of time.
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        self.last_pop = Some(now);
        self.adapt_hold = self.adapt_hold.saturating_sub(1);
        if !self.started {
            let waited = match self.first_arrival {
                Some(first) if self.len > 0 => now.saturating_duration_since(first),
                _ => return Playout::Empty,
            };
            if waited < self.target_delay() {
                return Playout::Empty;
            }
            let Some(head) = self.head() else {
                return Playout::Empty;
            };
            self.started = true;
            self.play_seq = head;
            self.next_ts = self.slots[self.index(head)].ext_ts;
            self.avg_wait = self.target_samples();
            self.adapt_hold = TALK_ADAPT_HOLD;
        }

        let frame = self.frame();
        let Some(mut head) = self.head() else {
            // Underrun. Right after audio it is most likely a loss: conceal a few frames
            // (the caller fades), then fall silent.
            self.next_ts += frame;
            if self.talking && self.gap_concealed < MAX_UNDERRUN_CONCEAL {
                self.gap_concealed += 1;
                return Playout::Lost;
            }
            self.talking = false;
            return Playout::Empty;
        };
        let mut ts = self.slots[self.index(head)].ext_ts;
        let error = self.avg_wait - self.target_samples();

        if ts < self.next_ts + frame {
            // Talking. Adapt if far off target, and not too often.
            if self.adapt_hold == 0 && error <= -(frame as f64) {
                self.adapt_hold = TALK_ADAPT_HOLD;
                self.avg_wait += frame as f64;
                self.stats.inserted += 1;
                return Playout::Lost;
            }
            if error >= frame as f64 {
                self.over_target = self.over_target.saturating_add(1);
            } else {
                self.over_target = 0;
            }
            let next = self.index(head + 1);
            if self.adapt_hold == 0
                && self.over_target >= TALK_SHRINK_AFTER
                && self.slots[next].full
                && self.slots[next].ext_seq == head + 1
            {
                self.adapt_hold = TALK_ADAPT_HOLD;
                self.over_target = 0;
                self.avg_wait -= frame as f64;
                self.stats.dropped += 1;
                self.take(head);
                self.next_ts = self.next_ts.max(ts) + frame;
                head += 1;
                ts = self.slots[next].ext_ts;
            }
            self.stats.played += 1;
            self.talking = true;
            self.next_ts = self.next_ts.max(ts) + frame;
            let slot = self.take(head);
            let start = self.index(head) * self.config.max_payload;
            return Playout::Packet {
                header: slot.header,
                payload: &self.data[start..start + slot.len],
            };
        }

        // The head is in the future: a missing packet, or silence.
        if head - self.play_seq > self.gap_concealed {
            self.gap_concealed += 1;
            self.next_ts += frame;
            return Playout::Lost;
        }
        self.talking = false;
        if error <= -(frame as f64) / 2.0 {
            self.avg_wait += frame as f64;
            self.stats.inserted += 1;
        } else if error >= frame as f64 && ts >= self.next_ts + 2 * frame {
            self.avg_wait -= frame as f64;
            self.stats.dropped += 1;
            self.next_ts += 2 * frame;
        } else {
            self.next_ts += frame;
        }
        Playout::Empty
    }

    /// Removes the packet at `ext_seq` (which is buffered), counting skipped sequence numbers
    /// before it as lost. Its payload bytes stay in place until a later push reuses the slot.
    fn take(&mut self, ext_seq: i64) -> Slot {
        self.stats.lost += (ext_seq - self.play_seq).max(0) as u64;
        self.play_seq = ext_seq + 1;
        self.gap_concealed = 0;
        let i = self.index(ext_seq);
        self.slots[i].full = false;
        self.len -= 1;
        self.slots[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One simulated event outcome per pop.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Out {
        Play(u16),
        Lost,
        Empty,
    }

    fn header(seq: u16, ts: u32) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc: 1,
        }
    }

    /// Runs `pops` ticks of 20 ms (the first at 5 ms) and delivers each packet at its arrival
    /// offset, in time order. Returns what each pop produced.
    fn run(
        jb: &mut JitterBuffer,
        t0: Instant,
        mut arrivals: Vec<(u64, RtpHeader)>,
        pops: u64,
    ) -> Vec<Out> {
        arrivals.sort_by_key(|a| a.0);
        let mut out = Vec::new();
        let mut next = 0;
        for k in 0..pops {
            let tick = 5 + 20 * k;
            while next < arrivals.len() && arrivals[next].0 <= tick {
                let (at, h) = arrivals[next];
                jb.push(
                    t0 + Duration::from_millis(at),
                    &h,
                    &h.sequence.to_be_bytes(),
                );
                next += 1;
            }
            out.push(match jb.pop(t0 + Duration::from_millis(tick)) {
                Playout::Packet { header, payload } => {
                    assert_eq!(payload, header.sequence.to_be_bytes());
                    Out::Play(header.sequence)
                }
                Playout::Lost => Out::Lost,
                Playout::Empty => Out::Empty,
            });
        }
        out
    }

    /// Packets `0..n` sent every 20 ms with the given one-way delay per packet (ms).
    fn stream(n: u16, seq0: u16, ts0: u32, delay: impl Fn(u16) -> u64) -> Vec<(u64, RtpHeader)> {
        (0..n)
            .map(|i| {
                let h = header(seq0.wrapping_add(i), ts0.wrapping_add(u32::from(i) * 160));
                (u64::from(i) * 20 + delay(i), h)
            })
            .collect()
    }

    fn played(out: &[Out]) -> Vec<u16> {
        out.iter()
            .filter_map(|o| match o {
                Out::Play(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn in_order_stream_plays_every_packet_after_the_start_delay() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let out = run(&mut jb, Instant::now(), stream(50, 100, 0, |_| 10), 60);
        assert_eq!(&out[..2], &[Out::Empty, Out::Empty]);
        assert_eq!(played(&out), (100..150).collect::<Vec<_>>());
        let last = out.iter().position(|o| *o == Out::Play(149)).unwrap();
        assert!(!out[..last].contains(&Out::Lost));
        let s = jb.stats();
        assert_eq!((s.lost, s.late, s.duplicate, s.played), (0, 0, 0, 50));
    }

    #[test]
    fn reordered_packets_play_in_sequence() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // Every fourth packet is overtaken by the next one.
        let arrivals = stream(40, 0, 0, |i| if i % 4 == 1 { 30 } else { 5 });
        let out = run(&mut jb, Instant::now(), arrivals, 50);
        assert_eq!(played(&out), (0..40).collect::<Vec<_>>());
        assert!(jb.stats().reordered >= 9);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn duplicates_are_dropped_and_counted() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut arrivals = stream(20, 0, 0, |_| 5);
        arrivals.extend(stream(20, 0, 0, |_| 6).into_iter().step_by(5));
        let out = run(&mut jb, Instant::now(), arrivals, 30);
        assert_eq!(played(&out), (0..20).collect::<Vec<_>>());
        assert_eq!(jb.stats().duplicate, 4);
    }

    #[test]
    fn late_packet_is_dropped_and_its_frame_concealed() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let arrivals = stream(30, 0, 0, |i| if i == 10 { 200 } else { 5 });
        let out = run(&mut jb, Instant::now(), arrivals, 40);
        let p = played(&out);
        assert!(!p.contains(&10));
        assert_eq!(p.len(), 29);
        let last = out.iter().position(|o| *o == Out::Play(29)).unwrap();
        assert_eq!(out[..last].iter().filter(|o| **o == Out::Lost).count(), 1);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(jb.stats().lost, 1);
    }

    #[test]
    fn loss_burst_is_concealed_frame_by_frame() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let arrivals: Vec<_> = stream(40, 0, 0, |_| 5)
            .into_iter()
            .filter(|(_, h)| !(10..15).contains(&h.sequence))
            .collect();
        let out = run(&mut jb, Instant::now(), arrivals, 50);
        let i9 = out.iter().position(|o| *o == Out::Play(9)).unwrap();
        assert_eq!(
            &out[i9 + 1..i9 + 7],
            &[
                Out::Lost,
                Out::Lost,
                Out::Lost,
                Out::Lost,
                Out::Lost,
                Out::Play(15)
            ]
        );
        assert_eq!(jb.stats().lost, 5);
    }

    #[test]
    fn silence_gap_plays_as_empty_after_a_short_concealment() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // Ten packets, 200 ms of silence (timestamps skip, sequence does not), ten more.
        let mut arrivals = stream(10, 0, 0, |_| 5);
        for (at, h) in stream(10, 10, 1600 + 1600, |_| 5) {
            arrivals.push((at + 400, h));
        }
        let out = run(&mut jb, Instant::now(), arrivals, 50);
        assert_eq!(played(&out), (0..20).collect::<Vec<_>>());
        let from = out.iter().position(|o| *o == Out::Play(9)).unwrap();
        let to = out.iter().position(|o| *o == Out::Play(10)).unwrap();
        // The end of a talk spurt looks like a loss until the next packet shows otherwise.
        let gap = &out[from + 1..to];
        assert_eq!(gap.len(), 10);
        assert_eq!(gap.iter().filter(|o| **o == Out::Lost).count(), 3);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn ssrc_change_restarts_the_stream() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut arrivals = stream(10, 0, 0, |_| 5);
        for (at, mut h) in stream(10, 5000, 99_999, |_| 5) {
            h.ssrc = 2;
            arrivals.push((at + 300, h));
        }
        let out = run(&mut jb, Instant::now(), arrivals, 30);
        let p = played(&out);
        assert_eq!(&p[..10], &(0..10).collect::<Vec<_>>()[..]);
        assert_eq!(&p[10..], &(5000..5010).collect::<Vec<_>>()[..]);
        assert_eq!(jb.stats().resyncs, 1);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn timestamp_wrap_at_u32_max_is_seamless() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let out = run(
            &mut jb,
            Instant::now(),
            stream(40, 7, u32::MAX - 160 * 10 + 1, |_| 5),
            50,
        );
        assert_eq!(played(&out), (7..47).collect::<Vec<_>>());
        assert_eq!(jb.stats().resyncs, 0);
    }

    #[test]
    fn sequence_wrap_at_65535_is_seamless() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let out = run(&mut jb, Instant::now(), stream(40, 65520, 0, |_| 5), 50);
        let expected: Vec<u16> = (0..40u16).map(|i| 65520u16.wrapping_add(i)).collect();
        assert_eq!(played(&out), expected);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn timestamp_jump_resyncs_instead_of_waiting() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut arrivals = stream(10, 0, 0, |_| 5);
        arrivals.extend(stream(10, 10, 8000 * 60, |_| 305));
        let out = run(&mut jb, Instant::now(), arrivals, 30);
        assert_eq!(played(&out), (0..20).collect::<Vec<_>>());
        assert_eq!(jb.stats().resyncs, 1);
    }

    #[test]
    fn frozen_timestamps_after_a_pause_recover_by_resync() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut arrivals = stream(10, 0, 0, |_| 5);
        // The sender pauses 500 ms but its timestamps do not advance.
        arrivals.extend(stream(20, 10, 1600, |_| 505));
        let out = run(&mut jb, Instant::now(), arrivals, 60);
        let p = played(&out);
        assert!(p.ends_with(&(15..30).collect::<Vec<_>>()), "{p:?}");
        assert_eq!(jb.stats().late, 5);
    }

    #[test]
    fn overflow_drops_the_oldest_packets() {
        let mut jb = JitterBuffer::new(JitterConfig {
            capacity: 8,
            ..JitterConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..12u16 {
            jb.push(t0, &header(i, u32::from(i) * 160), &[0]);
        }
        assert_eq!(jb.len(), 8);
        assert_eq!(jb.stats().overflow, 4);
        match jb.pop(t0 + Duration::from_millis(100)) {
            Playout::Packet { header, .. } => assert_eq!(header.sequence, 4),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversize_payload_is_refused() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(Instant::now(), &header(0, 0), &[0; 600]);
        assert!(jb.is_empty());
        assert_eq!(jb.stats().oversize, 1);
    }

    /// Deterministic pseudo-random delays in `0..max` ms.
    fn noisy(max: u64) -> impl Fn(u16) -> u64 {
        move |i| {
            let mut x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491;
            x ^= x >> 29;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 32;
            x % max
        }
    }

    #[test]
    fn delay_grows_under_jitter_then_shrinks_when_it_calms() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t0 = Instant::now();
        // 20 s with 0–80 ms of network jitter, then 20 s of a steady network.
        let jittery = noisy(80);
        let arrivals = stream(2000, 0, 0, |i| if i < 1000 { 10 + jittery(i) } else { 10 });
        let out = run(&mut jb, t0, arrivals[..1000].to_vec(), 1000);
        let grown = jb.delay();
        assert!(grown >= Duration::from_millis(50), "{grown:?}");
        let late_in_first_half = jb.stats().late;
        // Once adapted, late packets are rare.
        assert!(late_in_first_half < 50, "{:?}", jb.stats());
        assert!(played(&out).len() > 900);

        let mut rest = Vec::new();
        for (at, h) in &arrivals[1000..] {
            rest.push((at - 20_000, *h));
        }
        let t1 = t0 + Duration::from_millis(20_000);
        let out2 = run(&mut jb, t1, rest, 1000);
        let shrunk = jb.delay();
        assert!(shrunk <= Duration::from_millis(40), "{shrunk:?}");
        assert!(shrunk < grown);
        assert!(jb.stats().dropped > 0);
        assert!(played(&out2).len() > 950);
        assert!(jb.target_delay() <= Duration::from_millis(30));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_arrivals_never_panic_or_exceed_capacity(
            events in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), 0u64..50,
                 proptest::prop_oneof![proptest::prelude::any::<u16>(), 65500u16..65535, 0u16..40],
                 proptest::prop_oneof![proptest::prelude::any::<u32>(), 0u32..8000, u32::MAX - 4000..=u32::MAX],
                 0u32..2, 0usize..600),
                0..300,
            )
        ) {
            let mut jb = JitterBuffer::new(JitterConfig { capacity: 8, ..JitterConfig::default() });
            let mut now = Instant::now();
            let payload = [0u8; 600];
            for (pop, dt, seq, ts, ssrc, len) in events {
                now += Duration::from_millis(dt);
                if pop {
                    if let Playout::Packet { payload, .. } = jb.pop(now) {
                        proptest::prop_assert!(payload.len() <= 512);
                    }
                } else {
                    let h = RtpHeader { marker: false, payload_type: 0, sequence: seq, timestamp: ts, ssrc };
                    jb.push(now, &h, &payload[..len]);
                }
                proptest::prop_assert!(jb.len() <= 8);
            }
        }
    }
}
