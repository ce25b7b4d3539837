//! ITU-T G.711 µ-law (PCMU) and A-law (PCMA), bit-exact with the ITU-T G.191 reference code.
//!
//! Both directions are table lookups built at compile time by `const fn`s:
//!
//! * decoding indexes a 256-entry `i16` table by the code byte;
//! * µ-law encoding indexes a 16,384-entry table by `sample >> 2` (µ-law has 14 bits of
//!   resolution), A-law encoding a 4,096-entry table by `sample >> 4` (13 bits, of which the
//!   sign and the 12-bit magnitude are what matters).
//!
//! Negative samples are folded with the one's complement (`!x`), as the reference code does,
//! so `-1` encodes to "negative zero" (`0x7F` in µ-law, `0x55` in A-law).
//!
//! The slice functions [`decode`] and [`encode`] are the hot path: one table lookup per sample,
//! no branches inside the loop.

/// The two G.711 companding laws, as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// µ-law, `PCMU/8000`, static RTP payload type 0 (North America, Japan).
    Pcmu,
    /// A-law, `PCMA/8000`, static RTP payload type 8 (Europe and most of the world).
    Pcma,
}

impl G711 {
    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub const fn payload_type(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    /// The codec for a static RTP payload type, if it is 0 or 8.
    pub const fn from_payload_type(pt: u8) -> Option<G711> {
        match pt {
            0 => Some(G711::Pcmu),
            8 => Some(G711::Pcma),
            _ => None,
        }
    }

    /// The SDP encoding name: `PCMU` or `PCMA`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            G711::Pcmu => "PCMU",
            G711::Pcma => "PCMA",
        }
    }

    /// The code byte that a zero sample encodes to (`0xFF` for µ-law, `0xD5` for A-law); fill
    /// a payload with it to send silence.
    pub const fn silence(self) -> u8 {
        match self {
            G711::Pcmu => 0xFF,
            G711::Pcma => 0xD5,
        }
    }

    /// Decodes one code byte to a 16-bit linear sample.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            G711::Pcmu => ulaw_decode(code),
            G711::Pcma => alaw_decode(code),
        }
    }

    /// Encodes one 16-bit linear sample to a code byte.
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            G711::Pcmu => ulaw_encode(sample),
            G711::Pcma => alaw_encode(sample),
        }
    }
}

/// Decodes G.711 bytes into linear samples.
///
/// Converts `min(input.len(), out.len())` samples; callers size `out` to `input.len()` (one
/// sample per byte, 160 for a 20 ms packet).
pub fn decode(codec: G711, input: &[u8], out: &mut [i16]) {
    let table = match codec {
        G711::Pcmu => &ULAW_DECODE,
        G711::Pcma => &ALAW_DECODE,
    };
    for (o, &code) in out.iter_mut().zip(input) {
        *o = table[code as usize];
    }
}

/// Encodes linear samples into G.711 bytes.
///
/// Converts `min(input.len(), out.len())` samples; callers size `out` to `input.len()`.
pub fn encode(codec: G711, input: &[i16], out: &mut [u8]) {
    match codec {
        G711::Pcmu => {
            for (o, &s) in out.iter_mut().zip(input) {
                *o = ulaw_encode(s);
            }
        }
        G711::Pcma => {
            for (o, &s) in out.iter_mut().zip(input) {
                *o = alaw_encode(s);
            }
        }
    }
}

/// Encodes one sample to µ-law (ITU-T G.711, G.191 `ulaw_compress`).
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    // `sample >> 2` is in -8192..=8191; offsetting by 8192 maps it onto 0..16384, in bounds.
    ULAW_ENCODE[((sample >> 2) as i32 + 8192) as usize]
}

/// Decodes one µ-law code (ITU-T G.711, G.191 `ulaw_expand`).
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Encodes one sample to A-law (ITU-T G.711, G.191 `alaw_compress`).
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    // `sample >> 4` is in -2048..=2047; offsetting by 2048 maps it onto 0..4096, in bounds.
    ALAW_ENCODE[((sample >> 4) as i32 + 2048) as usize]
}

/// Decodes one A-law code (ITU-T G.711, G.191 `alaw_expand`).
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

// ---------------------------------------------------------------------------------------------
// Reference algorithms, evaluated at compile time into the tables.

/// µ-law compression of a 16-bit sample, per the G.191 reference implementation.
const fn ulaw_compress(x: i16) -> u8 {
    let x = x as i32;
    // One's complement for negative values, then the 14-bit magnitude plus the bias of 33.
    let mut absno = if x < 0 {
        ((!x) >> 2) + 33
    } else {
        (x >> 2) + 33
    };
    if absno > 0x1FFF {
        absno = 0x1FFF;
    }
    let mut i = absno >> 6;
    let mut segno = 1;
    while i != 0 {
        segno += 1;
        i >>= 1;
    }
    let high_nibble = 0x0008 - segno;
    let low_nibble = 0x000F - ((absno >> segno) & 0x000F);
    let mut out = (high_nibble << 4) | low_nibble;
    if x >= 0 {
        out |= 0x0080;
    }
    out as u8
}

/// µ-law expansion of one code, per the G.191 reference implementation.
const fn ulaw_expand(code: u8) -> i16 {
    let sign: i32 = if code < 0x80 { -1 } else { 1 };
    let mantissa = !(code as i32);
    let exponent = (mantissa >> 4) & 0x07;
    let segment = exponent + 1;
    let mantissa = mantissa & 0x0F;
    let step = 4 << segment;
    (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) as i16
}

/// A-law compression of a 16-bit sample, per the G.191 reference implementation.
const fn alaw_compress(x: i16) -> u8 {
    let x = x as i32;
    // One's complement for negative values, then the 12-bit magnitude.
    let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
    if ix > 15 {
        let mut iexp = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            iexp += 1;
        }
        ix -= 16;
        ix += iexp << 4;
    }
    if x >= 0 {
        ix |= 0x0080;
    }
    (ix ^ 0x0055) as u8
}

/// A-law expansion of one code, per the G.191 reference implementation.
const fn alaw_expand(code: u8) -> i16 {
    let ix = ((code as i32) ^ 0x55) & 0x7F;
    let iexp = ix >> 4;
    let mut mant = ix & 0x0F;
    if iexp > 0 {
        mant += 16;
    }
    mant = (mant << 4) + 0x08;
    if iexp > 1 {
        mant <<= iexp - 1;
    }
    (if code > 127 { mant } else { -mant }) as i16
}

const ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_expand(i as u8);
        i += 1;
    }
    t
};

const ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_expand(i as u8);
        i += 1;
    }
    t
};

/// Indexed by `(sample >> 2) + 8192`; entry `i` is the code for sample `(i - 8192) << 2`, which
/// shares its code with the other three samples of the same `>> 2` bucket.
static ULAW_ENCODE: [u8; 16384] = {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        t[i] = ulaw_compress(((i as i32 - 8192) << 2) as i16);
        i += 1;
    }
    t
};

/// Indexed by `(sample >> 4) + 2048`; entry `i` is the code for sample `(i - 2048) << 4`.
static ALAW_ENCODE: [u8; 4096] = {
    let mut t = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = alaw_compress(((i as i32 - 2048) << 4) as i16);
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values_match_g711() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
    }

    #[test]
    fn alaw_known_values_match_g711() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn ulaw_decode_then_encode_is_identity_except_negative_zero() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            if code == 0x7F {
                // Negative zero decodes to 0, which encodes as positive zero.
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, code, "code {code:#04x}");
            }
        }
    }

    #[test]
    fn alaw_decode_then_encode_is_identity_for_all_codes() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "code {code:#04x}");
        }
    }

    #[test]
    fn encode_tables_match_reference_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), ulaw_compress(s), "sample {s}");
            assert_eq!(alaw_encode(s), alaw_compress(s), "sample {s}");
        }
    }

    #[test]
    fn encoding_is_monotonic_in_the_decoded_value() {
        for codec in [G711::Pcmu, G711::Pcma] {
            let mut prev = i32::MIN;
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let d = codec.decode_sample(codec.encode_sample(s)) as i32;
                assert!(d >= prev, "{codec:?}: {s} decoded to {d} below {prev}");
                prev = d;
            }
        }
    }

    #[test]
    fn quantisation_error_stays_within_half_a_step() {
        // Both laws have a step of about 1/16 of the magnitude (1024 in the top segment).
        for codec in [G711::Pcmu, G711::Pcma] {
            for s in (-32000i16..=32000).step_by(3) {
                let d = codec.decode_sample(codec.encode_sample(s));
                let err = (d as i32 - s as i32).abs();
                let bound = (s as i32).abs() / 16 + 16;
                assert!(err <= bound, "{codec:?}: {s} -> {d}");
            }
        }
    }

    #[test]
    fn slice_functions_match_per_sample_functions() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i * 409) % 65536 - 32768) as i16)
            .collect();
        for codec in [G711::Pcmu, G711::Pcma] {
            let mut enc = [0u8; 160];
            encode(codec, &pcm, &mut enc);
            let mut dec = [0i16; 160];
            decode(codec, &enc, &mut dec);
            for i in 0..160 {
                assert_eq!(enc[i], codec.encode_sample(pcm[i]));
                assert_eq!(dec[i], codec.decode_sample(enc[i]));
            }
        }
    }

    #[test]
    fn slice_functions_stop_at_the_shorter_buffer() {
        let mut out = [1i16; 4];
        decode(G711::Pcmu, &[0xFF, 0xFF], &mut out);
        assert_eq!(out, [0, 0, 1, 1]);
        let mut bytes = [0u8; 2];
        encode(G711::Pcma, &[0, 0, 0, 0], &mut bytes);
        assert_eq!(bytes, [0xD5, 0xD5]);
    }

    #[test]
    fn payload_types_and_names_follow_rfc_3551() {
        assert_eq!(G711::Pcmu.payload_type(), 0);
        assert_eq!(G711::Pcma.payload_type(), 8);
        assert_eq!(G711::from_payload_type(8), Some(G711::Pcma));
        assert_eq!(G711::from_payload_type(101), None);
        assert_eq!(G711::Pcmu.encoding_name(), "PCMU");
        for codec in [G711::Pcmu, G711::Pcma] {
            assert_eq!(codec.encode_sample(0), codec.silence());
        }
    }
}
