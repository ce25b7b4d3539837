//! Audio codecs at the edge of the engine: G.711 µ-law and A-law.
//!
//! Inside the engine audio is 16-bit linear PCM ([`crate::audio`]); codecs convert at the RTP
//! boundary only.

pub mod g711;

pub use g711::{alaw_decode, alaw_encode, decode, encode, ulaw_decode, ulaw_encode, G711};
