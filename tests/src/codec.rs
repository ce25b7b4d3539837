//! G.711 for the test side of the wire, on top of the engine's own codec
//! (`ivr_media::codec::g711`, bit-exact with ITU-T G.191): the prompt must arrive as exactly
//! those bytes.

pub use ivr_media::codec::G711;

/// Encodes samples, one byte per sample.
pub fn encode(codec: G711, samples: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; samples.len()];
    ivr_media::codec::encode(codec, samples, &mut out);
    out
}

/// Decodes bytes, one sample per byte.
pub fn decode(codec: G711, bytes: &[u8]) -> Vec<i16> {
    let mut out = vec![0i16; bytes.len()];
    ivr_media::codec::decode(codec, bytes, &mut out);
    out
}
