//! RFC 4733 telephone-events: receiving and sending DTMF digits as RTP `telephone-event`
//! packets.
//!
//! Each packet carries one 4-byte event report:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! All packets of one key press share the RTP timestamp of its start; the first has the marker
//! bit, updates follow every packet interval with a growing duration, and the last is sent
//! three times with the E (end) bit.
//!
//! ## Receiving: report at the first packet
//!
//! An IVR answers a key press as fast as it can, so [`Rfc4733Receiver`] reports a digit on the
//! *first* packet it sees of an event — whether that is the start packet, an update (start
//! lost) or an end packet (everything else lost) — and then ignores the rest of the event. An
//! event is identified by its RTP timestamp (RFC 4733 §2.5.2.2): a packet with the timestamp
//! of the current event and the same event code is a repeat, whatever its E bit (the same
//! timestamp with another code is a new key press); a later timestamp is a new key press,
//! even with the same digit ("11" is two events); an earlier timestamp is a late packet of an
//! event already handled. Lost end packets therefore never delay or lose a digit, and the three
//! end packets never duplicate it. The cost is that [`DigitEvent::duration_ms`] is the
//! duration known at the first packet (usually one packet interval), not the whole press.
//!
//! ```text
//!              first packet of a new timestamp: report digit
//!   [idle] ----------------------------------------------> [active]
//!     ^                                                     |   |
//!     |         same timestamp: update duration, no report  |   | E bit, or no packet
//!     |                                                     |   | for 250 ms
//!     |                                                     v   v
//!     +------------- new timestamp: report digit -------- [ended]
//! ```
//!
//! Long events (RFC 4733 §2.5.1.3) are split by the sender into segments of at most 65535
//! timestamp units, each with a new timestamp and no marker bit; a new timestamp that continues
//! a long, un-ended event with the same code and no marker is taken as the next segment, not a
//! new digit. Timestamps are compared with wrap-around (serial number arithmetic). The volume
//! field is ignored; events other than the DTMF codes 0–15 are ignored.

use std::time::{Duration, Instant};

use super::{digit_for_code, event_code, DigitEvent, DtmfMethod};

/// With no packet for this long, an event without an end packet is taken as ended.
pub const END_TIMEOUT: Duration = Duration::from_millis(250);

/// With no packet for this long, the last event is forgotten entirely, so a restarted stream
/// (new random timestamps) is not mistaken for late packets.
const FORGET_AFTER: Duration = Duration::from_secs(2);

/// A segment at least this long (in timestamp units) may be continued by a new segment.
const LONG_SEGMENT: u32 = 0x8000;

/// The default clock rate of `telephone-event` with G.711.
const DEFAULT_CLOCK_RATE: u32 = 8000;

/// One parsed 4-byte event report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Report {
    code: u8,
    end: bool,
    duration: u16,
}

impl Report {
    fn parse(payload: &[u8]) -> Option<Report> {
        let bytes: [u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(Report {
            code: bytes[0],
            end: bytes[1] & 0x80 != 0,
            duration: u16::from_be_bytes([bytes[2], bytes[3]]),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    code: u8,
    ended: bool,
    /// Largest duration seen for the current segment, in timestamp units.
    duration: u32,
    last_packet: Instant,
}

/// Turns received `telephone-event` packets into digits, each exactly once; see the
/// [module docs](self) for the policy.
#[derive(Debug, Clone)]
pub struct Rfc4733Receiver {
    clock_rate: u32,
    current: Option<Current>,
}

impl Rfc4733Receiver {
    /// A receiver for the usual 8,000 Hz `telephone-event` clock.
    pub fn new() -> Self {
        Self::with_clock_rate(DEFAULT_CLOCK_RATE)
    }

    /// A receiver for the clock rate negotiated in SDP (`telephone-event/16000`, say).
    pub fn with_clock_rate(clock_rate: u32) -> Self {
        Rfc4733Receiver {
            clock_rate: clock_rate.max(1),
            current: None,
        }
    }

    /// Handles one `telephone-event` RTP packet: its header timestamp and marker bit, and its
    /// payload. Returns the digit if this packet starts a new key press.
    ///
    /// Payloads shorter than 4 bytes and events other than 0–15 are ignored.
    pub fn push(
        &mut self,
        now: Instant,
        header_timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Option<DigitEvent> {
        let report = Report::parse(payload)?;
        let digit = digit_for_code(report.code)?;
        let duration = report.duration as u32;

        if let Some(cur) = self.current.as_mut() {
            let stale = now.saturating_duration_since(cur.last_packet) >= FORGET_AFTER;
            if !stale {
                let diff = header_timestamp.wrapping_sub(cur.timestamp) as i32;
                if diff == 0 && report.code == cur.code {
                    // A repeat of the current event: update, start, end or retransmitted end.
                    cur.duration = cur.duration.max(duration);
                    cur.ended |= report.end;
                    cur.last_packet = now;
                    return None;
                }
                if diff < 0 {
                    // A late packet of an event already reported.
                    return None;
                }
                let continues_long_event = diff > 0
                    && report.code == cur.code
                    && !cur.ended
                    && !marker
                    && cur.duration >= LONG_SEGMENT
                    && diff as u32 <= 0x1_0000 + self.clock_rate / 5;
                if continues_long_event {
                    cur.timestamp = header_timestamp;
                    cur.duration = duration;
                    cur.ended = report.end;
                    cur.last_packet = now;
                    return None;
                }
            }
        }

        self.current = Some(Current {
            timestamp: header_timestamp,
            code: report.code,
            ended: report.end,
            duration,
            last_packet: now,
        });
        Some(DigitEvent {
            digit,
            method: DtmfMethod::Rfc4733,
            duration_ms: (duration as u64 * 1000 / self.clock_rate as u64) as u32,
            at: now,
        })
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called: while a key press
    /// has been reported but not ended, [`END_TIMEOUT`] after its last packet.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.current {
            Some(cur) if !cur.ended => Some(cur.last_packet + END_TIMEOUT),
            _ => None,
        }
    }

    /// Ends a key press whose end packets were all lost. Digits are reported at their first
    /// packet, so this never reports one; it returns `Option` so the call loop can drive every
    /// detector alike.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<DigitEvent> {
        if let Some(cur) = self.current.as_mut() {
            if !cur.ended && now >= cur.last_packet + END_TIMEOUT {
                cur.ended = true;
            }
        }
        None
    }

    /// The digit whose key is held right now (reported, not yet ended), for muting the
    /// in-band tone that may accompany it.
    pub fn active_digit(&self) -> Option<char> {
        match self.current {
            Some(cur) if !cur.ended => digit_for_code(cur.code),
            _ => None,
        }
    }

    /// Forgets all state, as for a new RTP stream (SSRC change, re-INVITE).
    pub fn reset(&mut self) {
        self.current = None;
    }
}

impl Default for Rfc4733Receiver {
    fn default() -> Self {
        Self::new()
    }
}

/// Produces the packets that send one digit, one per 20 ms tick.
///
/// The sequence is a start packet with the marker bit, updates whose duration grows by one
/// packet interval, and three identical end packets. All share one RTP timestamp (the one the
/// caller's RTP sender holds at the start of the digit); after the digit the sender's
/// timestamp should move on by [`duration_samples`](Self::duration_samples).
#[derive(Debug, Clone)]
pub struct Rfc4733Sender {
    code: u8,
    volume: u8,
    total: u16,
    step: u16,
    elapsed: u16,
    sent: u32,
    ends_sent: u8,
}

impl Rfc4733Sender {
    /// The shortest tone sent, in milliseconds.
    pub const MIN_DURATION_MS: u32 = 50;
    /// The longest tone sent without segmenting, in milliseconds at 8 kHz.
    pub const MAX_DURATION_MS: u32 = 8000;

    /// A sender for `digit` (`0`–`9`, `*`, `#`, `A`–`D`) lasting `duration_ms` (clamped to
    /// 50–8000 ms), at `volume` dBm0 below full power (0–63, clamped; 10 is typical).
    /// `None` if `digit` is not a DTMF digit.
    pub fn new(digit: char, duration_ms: u32, volume: u8) -> Option<Self> {
        Self::with_clock_rate(digit, duration_ms, volume, DEFAULT_CLOCK_RATE)
    }

    /// As [`new`](Self::new), for a `telephone-event` clock rate other than 8,000 Hz (the
    /// longest duration shrinks so that it still fits 16 bits).
    pub fn with_clock_rate(
        digit: char,
        duration_ms: u32,
        volume: u8,
        clock_rate: u32,
    ) -> Option<Self> {
        let code = event_code(digit)?;
        let clock_rate = clock_rate.clamp(1000, 48000) as u64;
        let step = (clock_rate / 50) as u16; // one 20 ms packet interval
        let ms = duration_ms.clamp(Self::MIN_DURATION_MS, Self::MAX_DURATION_MS) as u64;
        let total = (ms * clock_rate / 1000).min(u16::MAX as u64) as u16;
        Some(Rfc4733Sender {
            code,
            volume: volume.min(63),
            total,
            step,
            elapsed: 0,
            sent: 0,
            ends_sent: 0,
        })
    }

    /// Writes the next packet's payload into `out` and returns `(marker, end)`, or `None` once
    /// the three end packets have been produced. Call once per 20 ms.
    pub fn next_packet(&mut self, out: &mut [u8; 4]) -> Option<(bool, bool)> {
        if self.ends_sent >= 3 {
            return None;
        }
        self.elapsed = self.elapsed.saturating_add(self.step).min(self.total);
        let end = self.elapsed >= self.total;
        if end {
            self.ends_sent += 1;
        }
        let marker = self.sent == 0;
        self.sent += 1;
        let [hi, lo] = self.elapsed.to_be_bytes();
        *out = [self.code, (end as u8) << 7 | self.volume, hi, lo];
        Some((marker, end))
    }

    /// The tone's length in timestamp units.
    pub fn duration_samples(&self) -> u32 {
        self.total as u32
    }

    /// Whether every packet has been produced.
    pub fn is_done(&self) -> bool {
        self.ends_sent >= 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(code: u8, end: bool, volume: u8, duration: u16) -> [u8; 4] {
        let [hi, lo] = duration.to_be_bytes();
        [code, (end as u8) << 7 | volume, hi, lo]
    }

    /// One packet as the receiver sees it: offset from t0, timestamp, marker, payload.
    type Packet = (u64, u32, bool, [u8; 4]);

    /// The packets of one key press as SIPp/Asterisk send them: a start packet with the marker,
    /// updates every 20 ms, three end packets.
    fn key_press(start_ms: u64, ts: u32, code: u8, duration_ms: u64) -> Vec<Packet> {
        let mut v = Vec::new();
        let mut t = 0;
        while t + 20 < duration_ms {
            let dur = ((t + 20) * 8) as u16;
            v.push((start_ms + t, ts, t == 0, payload(code, false, 10, dur)));
            t += 20;
        }
        for i in 0..3 {
            v.push((
                start_ms + t + i * 20,
                ts,
                false,
                payload(code, true, 10, (duration_ms * 8) as u16),
            ));
        }
        v
    }

    fn run(rx: &mut Rfc4733Receiver, t0: Instant, packets: &[Packet]) -> Vec<DigitEvent> {
        packets
            .iter()
            .filter_map(|(ms, ts, m, p)| rx.push(t0 + Duration::from_millis(*ms), *ts, *m, p))
            .collect()
    }

    fn digits(events: &[DigitEvent]) -> String {
        events.iter().map(|e| e.digit).collect()
    }

    #[test]
    fn a_full_key_press_is_reported_once_at_its_first_packet() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let events = run(&mut rx, t0, &key_press(0, 1000, 5, 120));
        assert_eq!(digits(&events), "5");
        assert_eq!(events[0].at, t0);
        assert_eq!(events[0].method, DtmfMethod::Rfc4733);
        assert_eq!(events[0].duration_ms, 20);
        assert_eq!(rx.active_digit(), None);
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn a_lost_start_packet_reports_at_the_first_update() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let packets = key_press(0, 1000, 9, 120);
        let events = run(&mut rx, t0, &packets[2..]);
        assert_eq!(digits(&events), "9");
        assert_eq!(events[0].at, t0 + Duration::from_millis(40));
    }

    #[test]
    fn only_end_packets_still_report_the_digit_once_with_its_duration() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let packets = key_press(0, 1000, 11, 160);
        let ends: Vec<Packet> = packets.into_iter().filter(|p| p.3[1] & 0x80 != 0).collect();
        assert_eq!(ends.len(), 3);
        let events = run(&mut rx, t0, &ends);
        assert_eq!(digits(&events), "#");
        assert_eq!(events[0].duration_ms, 160);
    }

    #[test]
    fn lost_end_packets_do_not_lose_or_repeat_digits() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let mut packets: Vec<Packet> = key_press(0, 1000, 1, 100)
            .into_iter()
            .filter(|p| p.3[1] & 0x80 == 0)
            .collect();
        packets.extend(key_press(300, 1000 + 2400, 2, 100));
        let events = run(&mut rx, t0, &packets);
        assert_eq!(digits(&events), "12");
        assert_eq!(events[1].at, t0 + Duration::from_millis(300));
    }

    #[test]
    fn a_missing_end_is_closed_by_the_timeout_without_a_second_report() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        assert!(rx
            .push(t0, 500, true, &payload(4, false, 10, 160))
            .is_some());
        assert_eq!(rx.active_digit(), Some('4'));
        let deadline = rx.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + END_TIMEOUT);
        assert_eq!(rx.handle_timeout(deadline - Duration::from_millis(1)), None);
        assert_eq!(rx.active_digit(), Some('4'));
        assert_eq!(rx.handle_timeout(deadline), None);
        assert_eq!(rx.active_digit(), None);
        assert_eq!(rx.poll_timeout(), None);
        // A straggler of the same event is still suppressed.
        assert!(rx
            .push(
                t0 + Duration::from_millis(300),
                500,
                false,
                &payload(4, true, 10, 800)
            )
            .is_none());
    }

    #[test]
    fn the_same_digit_twice_with_new_timestamps_is_two_digits() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let mut packets = key_press(0, 8000, 1, 100);
        packets.extend(key_press(200, 8000 + 1600, 1, 100));
        let events = run(&mut rx, t0, &packets);
        assert_eq!(digits(&events), "11");
    }

    #[test]
    fn late_packets_of_an_earlier_event_are_ignored() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let first = key_press(0, 1000, 3, 100);
        let second = key_press(200, 2600, 7, 100);
        let mut packets = first.clone();
        packets.truncate(3);
        packets.extend(second.iter().take(2).cloned());
        // The first event's end packets arrive after the second event began.
        packets.extend(
            first[first.len() - 3..]
                .iter()
                .map(|p| (p.0 + 200, p.1, p.2, p.3)),
        );
        packets.extend(second.iter().skip(2).cloned());
        let events = run(&mut rx, t0, &packets);
        assert_eq!(digits(&events), "37");
    }

    #[test]
    fn timestamps_wrapping_past_zero_are_still_new_events() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let mut packets = key_press(0, u32::MAX - 400, 1, 100);
        packets.extend(key_press(200, (u32::MAX - 400).wrapping_add(1600), 2, 100));
        packets.extend(key_press(400, (u32::MAX - 400).wrapping_add(3200), 3, 100));
        let events = run(&mut rx, t0, &packets);
        assert_eq!(digits(&events), "123");
        // A late packet from before the wrap is older, not newer.
        assert!(rx
            .push(
                t0 + Duration::from_millis(600),
                u32::MAX - 400,
                false,
                &payload(1, true, 10, 800)
            )
            .is_none());
    }

    #[test]
    fn long_events_split_into_segments_are_one_digit() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let ts = 4_000_000_000u32;
        let mut events = Vec::new();
        // First segment: 0..65535 units, updates every 50 ms (400 units).
        let mut t = 0u64;
        let mut d = 400u32;
        while d < 0xFFFF {
            events.extend(rx.push(
                t0 + Duration::from_millis(t),
                ts,
                t == 0,
                &payload(0, false, 10, d as u16),
            ));
            t += 50;
            d += 400;
        }
        events.extend(rx.push(
            t0 + Duration::from_millis(t),
            ts,
            false,
            &payload(0, false, 10, 0xFFFF),
        ));
        // Second segment: new timestamp (wrapping), no marker.
        let ts2 = ts.wrapping_add(0xFFFF);
        for (i, d) in [400u16, 800, 1200].into_iter().enumerate() {
            t += 50;
            events.extend(rx.push(
                t0 + Duration::from_millis(t),
                ts2,
                false,
                &payload(0, i == 2, 10, d),
            ));
        }
        events.extend(rx.push(
            t0 + Duration::from_millis(t + 20),
            ts2,
            false,
            &payload(0, true, 10, 1200),
        ));
        assert_eq!(digits(&events), "0");
        // The next key press (marker set) is a new digit.
        let ts3 = ts2.wrapping_add(2000);
        assert!(rx
            .push(
                t0 + Duration::from_millis(t + 500),
                ts3,
                true,
                &payload(0, false, 10, 160)
            )
            .is_some());
    }

    #[test]
    fn non_dtmf_events_short_payloads_and_volume_are_ignored() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        assert!(rx.push(t0, 1, true, &payload(16, false, 10, 160)).is_none()); // flash
        assert!(rx.push(t0, 2, true, &[5, 0, 1]).is_none());
        assert!(rx.push(t0, 3, true, &[]).is_none());
        let e = rx.push(t0, 4, true, &payload(15, false, 63, 0)).unwrap();
        assert_eq!(e.digit, 'D');
        assert!(rx.push(t0, 4, false, &payload(15, false, 0, 160)).is_none());
    }

    #[test]
    fn a_restarted_stream_with_older_timestamps_is_accepted_after_a_pause() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        assert!(rx
            .push(t0, 1_000_000, true, &payload(1, true, 10, 800))
            .is_some());
        // Within the pause, an older timestamp is a late packet...
        assert!(rx
            .push(
                t0 + Duration::from_millis(100),
                10,
                true,
                &payload(2, false, 10, 160)
            )
            .is_none());
        // ...but seconds later it is a new stream.
        assert!(rx
            .push(
                t0 + Duration::from_millis(3000),
                10,
                true,
                &payload(2, false, 10, 160)
            )
            .is_some());
        rx.reset();
        assert!(rx
            .push(
                t0 + Duration::from_millis(3000),
                10,
                true,
                &payload(2, false, 10, 160)
            )
            .is_some());
    }

    #[test]
    fn sender_produces_start_updates_and_three_ends_with_one_marker() {
        let mut tx = Rfc4733Sender::new('#', 100, 10).unwrap();
        assert_eq!(tx.duration_samples(), 800);
        let mut out = [0u8; 4];
        let mut packets = Vec::new();
        while let Some((marker, end)) = tx.next_packet(&mut out) {
            packets.push((marker, end, out));
        }
        assert!(tx.is_done());
        let expect = [
            (true, false, payload(11, false, 10, 160)),
            (false, false, payload(11, false, 10, 320)),
            (false, false, payload(11, false, 10, 480)),
            (false, false, payload(11, false, 10, 640)),
            (false, true, payload(11, true, 10, 800)),
            (false, true, payload(11, true, 10, 800)),
            (false, true, payload(11, true, 10, 800)),
        ];
        assert_eq!(packets, expect);
        assert!(tx.next_packet(&mut out).is_none());
    }

    #[test]
    fn sender_clamps_duration_and_volume_and_rejects_non_digits() {
        assert!(Rfc4733Sender::new('x', 100, 10).is_none());
        let tx = Rfc4733Sender::new('1', 10, 200).unwrap();
        assert_eq!(tx.duration_samples(), 400);
        let tx = Rfc4733Sender::new('1', 60_000, 0).unwrap();
        assert_eq!(tx.duration_samples(), 64000);
        let tx = Rfc4733Sender::with_clock_rate('1', 8000, 0, 16000).unwrap();
        assert_eq!(tx.duration_samples(), 0xFFFF);
        let mut out = [0u8; 4];
        let mut t = Rfc4733Sender::new('1', 10, 200).unwrap();
        t.next_packet(&mut out);
        assert_eq!(out[1] & 0x3F, 63);
    }

    #[test]
    fn sender_and_receiver_agree_on_every_digit() {
        let t0 = Instant::now();
        let mut rx = Rfc4733Receiver::new();
        let mut got = String::new();
        let mut ts = 12345u32;
        let mut t = t0;
        for d in "0123456789*#ABCD".chars() {
            let mut tx = Rfc4733Sender::new(d, 80, 10).unwrap();
            let mut out = [0u8; 4];
            while let Some((marker, _)) = tx.next_packet(&mut out) {
                got.extend(rx.push(t, ts, marker, &out).map(|e| e.digit));
                t += Duration::from_millis(20);
            }
            ts = ts.wrapping_add(tx.duration_samples() + 800);
            t += Duration::from_millis(100);
        }
        assert_eq!(got, "0123456789*#ABCD");
    }
}
