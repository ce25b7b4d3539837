//! G.711 µ-law and A-law for the test side of the wire (ITU-T G.711, the classic reference
//! algorithm on 16-bit samples).
//!
//! The tests encode what they send and decode what they receive with this module, so a bug in
//! the engine's codec cannot hide behind the same bug in the checker.

/// The two G.711 laws, with their static RTP payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law, `PCMU`, payload type 0.
    Mu,
    /// A-law, `PCMA`, payload type 8.
    A,
}

impl Law {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// The SDP encoding name (`PCMU`/`PCMA`), as in the `answered` event's `codec`.
    pub fn name(self) -> &'static str {
        match self {
            Law::Mu => "PCMU",
            Law::A => "PCMA",
        }
    }

    /// Encodes samples, one byte per sample.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        samples
            .iter()
            .map(|&s| match self {
                Law::Mu => ulaw_encode(s),
                Law::A => alaw_encode(s),
            })
            .collect()
    }

    /// Decodes bytes, one sample per byte.
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        bytes
            .iter()
            .map(|&b| match self {
                Law::Mu => ulaw_decode(b),
                Law::A => alaw_decode(b),
            })
            .collect()
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// One 16-bit sample to µ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    // s is in 132..=32767: its top bit is bit 7..=14, the segment is that minus 7.
    let exponent = 31 - s.leading_zeros() as i32 - 7;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// One µ-law byte to a 16-bit sample.
pub fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if b & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// One 16-bit sample to A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample) >> 3; // 13-bit
    let (mask, mag) = if s >= 0 { (0xD5, s) } else { (0x55, -s - 1) };
    let seg_end = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let seg = seg_end.iter().position(|&e| mag <= e).unwrap_or(8) as i32;
    let aval = if seg >= 8 {
        0x7F
    } else {
        let shift = if seg < 2 { 1 } else { seg };
        (seg << 4) | ((mag >> shift) & 0x0F)
    };
    (aval ^ mask) as u8
}

/// One A-law byte to a 16-bit sample.
pub fn alaw_decode(byte: u8) -> i16 {
    let a = i32::from(byte ^ 0x55);
    let seg = (a & 0x70) >> 4;
    let mut t = (a & 0x0F) << 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for b in 0..=255u8 {
            // µ-law 0x7F is negative zero, which decodes to 0 and encodes back as 0xFF.
            if b != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(b)), b, "µ-law {b:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(b)), b, "A-law {b:#04x}");
        }
    }
}
