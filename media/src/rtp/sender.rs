//! State of one outgoing RTP stream: SSRC, sequence number, timestamp and marker bit.

use super::packet::{self, RtpError, RtpHeader};

/// Counters for RTCP sender reports (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Packets sent.
    pub packets: u64,
    /// Payload octets sent (headers and padding excluded).
    pub octets: u64,
}

/// One outgoing RTP stream.
///
/// Call [`Sender::next_header`] for each packet; when audio is not sent (silence suppression,
/// hold), call [`Sender::skip`] so the timestamp keeps pace with real time. The first packet,
/// and the first after a skip, carries the marker bit (start of a talk spurt).
#[derive(Debug, Clone)]
pub struct Sender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marker_next: bool,
    stats: SenderStats,
}

impl Sender {
    /// A stream with the given SSRC, first sequence number and first timestamp.
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32) -> Sender {
        Sender {
            ssrc,
            sequence: initial_seq,
            timestamp: initial_ts,
            marker_next: true,
            stats: SenderStats::default(),
        }
    }

    /// A stream with random SSRC, sequence number and timestamp, as RFC 3550 §5.1 asks.
    pub fn random() -> Sender {
        Sender::new(rand::random(), rand::random(), rand::random())
    }

    /// The header for the next packet, carrying `samples` samples of audio. Sequence and
    /// timestamp advance after the header is made. Counts the packet (not its octets: see
    /// [`Sender::count_octets`] or use [`Sender::write_packet`]).
    pub fn next_header(&mut self, payload_type: u8, samples: u32, marker: bool) -> RtpHeader {
        let header = RtpHeader {
            marker: marker || self.marker_next,
            payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        self.marker_next = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.stats.packets += 1;
        header
    }

    /// Makes the next header and writes the packet into `out`, counting packet and octets.
    /// On error (buffer too small) nothing advances.
    pub fn write_packet(
        &mut self,
        payload_type: u8,
        samples: u32,
        marker: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let saved = self.clone();
        let header = self.next_header(payload_type, samples, marker);
        match packet::write(&header, payload, out) {
            Ok(n) => {
                self.count_octets(payload.len());
                Ok(n)
            }
            Err(e) => {
                *self = saved;
                Err(e)
            }
        }
    }

    /// Adds `payload_len` to the octet count, for callers that write packets themselves.
    pub fn count_octets(&mut self, payload_len: usize) {
        self.stats.octets += payload_len as u64;
    }

    /// Advances the timestamp by `samples` that are not sent (silence), and marks the next
    /// packet as the start of a talk spurt.
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.marker_next = true;
    }

    /// Sets the marker bit on the next packet.
    pub fn set_marker_next(&mut self) {
        self.marker_next = true;
    }

    /// Packets and octets sent so far.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// This stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The timestamp the next packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_advance_sequence_and_timestamp_after_use() {
        let mut s = Sender::new(7, 65535, u32::MAX - 100);
        let a = s.next_header(0, 160, false);
        let b = s.next_header(0, 160, false);
        assert_eq!(
            (a.sequence, a.timestamp, a.ssrc),
            (65535, u32::MAX - 100, 7)
        );
        assert_eq!((b.sequence, b.timestamp), (0, 59));
        assert_eq!(s.stats().packets, 2);
    }

    #[test]
    fn marker_set_on_first_packet_and_after_silence() {
        let mut s = Sender::new(1, 0, 0);
        assert!(s.next_header(0, 160, false).marker);
        assert!(!s.next_header(0, 160, false).marker);
        s.skip(320);
        let h = s.next_header(0, 160, false);
        assert!(h.marker);
        assert_eq!(h.timestamp, 640);
        assert!(!s.next_header(0, 160, false).marker);
        s.set_marker_next();
        assert!(s.next_header(0, 160, false).marker);
        assert!(s.next_header(0, 160, true).marker);
    }

    #[test]
    fn write_packet_counts_octets_and_rolls_back_on_error() {
        let mut s = Sender::new(1, 10, 0);
        let mut buf = [0u8; 200];
        assert_eq!(
            s.write_packet(0, 160, false, &[0xff; 160], &mut buf),
            Ok(172)
        );
        assert!(s
            .write_packet(0, 160, false, &[0xff; 160], &mut buf[..100])
            .is_err());
        assert_eq!(
            s.stats(),
            SenderStats {
                packets: 1,
                octets: 160
            }
        );
        assert_eq!(s.next_sequence(), 11);
        assert_eq!(s.next_timestamp(), 160);
    }
}
