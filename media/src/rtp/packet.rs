//! The RTP fixed header (RFC 3550 §5.1): parse and write without allocation.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           synchronization source (SSRC) identifier            |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |            contributing source (CSRC) identifiers             |
//! |                             ....                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! CSRCs and the header extension are skipped (the engine terminates media; it does not mix),
//! and padding is removed, so [`parse`] hands back just the payload.

/// Length of the fixed RTP header, without CSRCs or extension.
pub const HEADER_LEN: usize = 12;

/// The RTP version this module speaks.
pub const VERSION: u8 = 2;

/// Errors from [`parse`] and [`write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Fewer bytes than the header (with its CSRCs, extension and padding) claims.
    #[error("RTP packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// The padding count is zero or larger than the payload.
    #[error("invalid RTP padding")]
    BadPadding,
    /// The packet is RTCP (multiplexed on the RTP port, RFC 5761), not RTP.
    #[error("packet is RTCP, not RTP")]
    Rtcp,
    /// The output buffer is too small for the packet being written.
    #[error("output buffer too small: need {needed} bytes")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
    },
    /// The payload type does not fit in 7 bits.
    #[error("payload type {0} out of range 0..=127")]
    BadPayloadType(u8),
}

/// The fields of an RTP header that the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpHeader {
    /// Marker bit: for audio, the first packet of a talk spurt.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number; wraps at 65535.
    pub sequence: u16,
    /// Media timestamp in clock-rate units; wraps at `u32::MAX`.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
}

/// True if `packet` looks like RTCP rather than RTP, for demultiplexing on one port
/// (RFC 5761 §4: the second byte of RTCP is a packet type in 192..=223).
pub fn is_rtcp(packet: &[u8]) -> bool {
    matches!(packet.get(1), Some(192..=223)) && packet.first().map(|b| b >> 6) == Some(VERSION)
}

/// Parses an RTP packet into its header and payload (CSRCs, extension and padding removed).
pub fn parse(packet: &[u8]) -> Result<(RtpHeader, &[u8]), RtpError> {
    let fixed: &[u8; HEADER_LEN] = packet
        .get(..HEADER_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(RtpError::Truncated)?;
    let version = fixed[0] >> 6;
    if version != VERSION {
        return Err(RtpError::BadVersion(version));
    }
    if is_rtcp(packet) {
        return Err(RtpError::Rtcp);
    }
    let padding = fixed[0] & 0x20 != 0;
    let extension = fixed[0] & 0x10 != 0;
    let csrc_count = usize::from(fixed[0] & 0x0f);
    let header = RtpHeader {
        marker: fixed[1] & 0x80 != 0,
        payload_type: fixed[1] & 0x7f,
        sequence: u16::from_be_bytes([fixed[2], fixed[3]]),
        timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
    };

    let mut start = HEADER_LEN + 4 * csrc_count;
    if extension {
        let ext = packet.get(start..start + 4).ok_or(RtpError::Truncated)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        start += 4 + 4 * words;
    }
    let mut end = packet.len();
    if start > end {
        return Err(RtpError::Truncated);
    }
    if padding {
        let count = usize::from(packet[end - 1]); // end >= HEADER_LEN > 0
        if count == 0 || count > end - start {
            return Err(RtpError::BadPadding);
        }
        end -= count;
    }
    Ok((header, &packet[start..end]))
}

/// Writes a packet with `header` and `payload` into `out` (no CSRCs, extension or padding),
/// returning its length.
pub fn write(header: &RtpHeader, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
    if header.payload_type > 0x7f {
        return Err(RtpError::BadPayloadType(header.payload_type));
    }
    let needed = HEADER_LEN + payload.len();
    let out = out
        .get_mut(..needed)
        .ok_or(RtpError::BufferTooSmall { needed })?;
    out[0] = VERSION << 6;
    out[1] = (u8::from(header.marker) << 7) | header.payload_type;
    out[2..4].copy_from_slice(&header.sequence.to_be_bytes());
    out[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&header.ssrc.to_be_bytes());
    out[HEADER_LEN..].copy_from_slice(payload);
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: 0x1234_5678,
        }
    }

    #[test]
    fn write_then_parse_returns_header_and_payload() {
        let mut buf = [0u8; 64];
        let n = write(&header(), b"abc", &mut buf).unwrap();
        assert_eq!(n, 15);
        assert_eq!(&buf[..2], &[0x80, 0x88]);
        let (h, p) = parse(&buf[..n]).unwrap();
        assert_eq!(h, header());
        assert_eq!(p, b"abc");
    }

    #[test]
    fn parse_skips_csrcs_extension_and_padding() {
        let mut pkt = vec![0xb2, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // P, X, CC=2
        pkt.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 10]); // two CSRCs
        pkt.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        pkt.extend_from_slice(b"payload");
        pkt.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let (h, p) = parse(&pkt).unwrap();
        assert_eq!((h.sequence, h.timestamp, h.ssrc), (1, 2, 3));
        assert_eq!(p, b"payload");
    }

    #[test]
    fn parse_rejects_short_wrong_version_and_bad_padding() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut pkt = [0x80u8; 13];
        pkt[0] = 0xa0;
        pkt[1] = 0;
        pkt[12] = 5; // padding longer than the payload
        assert_eq!(parse(&pkt), Err(RtpError::BadPadding));
        pkt[12] = 0;
        assert_eq!(parse(&pkt), Err(RtpError::BadPadding));
        let mut csrcs = [0u8; 12];
        csrcs[0] = 0x8f; // 15 CSRCs claimed, none present
        assert_eq!(parse(&csrcs), Err(RtpError::Truncated));
        let mut ext = [0u8; 16];
        ext[0] = 0x90;
        ext[15] = 1; // extension of one word, absent
        assert_eq!(parse(&ext), Err(RtpError::Truncated));
    }

    #[test]
    fn rtcp_on_the_rtp_port_is_recognised() {
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert!(is_rtcp(&rr));
        let mut pkt = [0u8; 12];
        pkt[..8].copy_from_slice(&rr);
        assert_eq!(parse(&pkt), Err(RtpError::Rtcp));
        // PCMU with the marker bit set is 0x80, not RTCP.
        assert!(!is_rtcp(&[0x80, 0x80, 0, 0]));
    }

    #[test]
    fn write_rejects_small_buffer_and_wide_payload_type() {
        let mut buf = [0u8; 13];
        assert_eq!(
            write(&header(), b"ab", &mut buf),
            Err(RtpError::BufferTooSmall { needed: 14 })
        );
        let h = RtpHeader {
            payload_type: 200,
            ..header()
        };
        assert_eq!(write(&h, b"", &mut buf), Err(RtpError::BadPayloadType(200)));
    }

    proptest! {
        #[test]
        fn header_round_trips(marker: bool, pt in 0u8..128, sequence: u16, timestamp: u32, ssrc: u32,
                              payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let h = RtpHeader { marker, payload_type: pt, sequence, timestamp, ssrc };
            let mut buf = [0u8; 400];
            let n = write(&h, &payload, &mut buf).unwrap();
            match parse(&buf[..n]) {
                Ok((h2, p2)) => { prop_assert_eq!(h2, h); prop_assert_eq!(p2, &payload[..]); }
                // Marker + PT 64..=95 collides with RTCP on a muxed port (RFC 5761 §4).
                Err(RtpError::Rtcp) => prop_assert!(marker && (64..96).contains(&pt)),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&bytes);
        }
    }
}
