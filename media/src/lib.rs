//! # ivr-media
//!
//! The engine's ears and mouth: everything that crosses the wire between a SIP trunk and a call.
//!
//! * [`sip`] — RFC 3261 messages, parsing and framing, transactions, dialogs and a user-agent
//!   core ([`sip::Endpoint`]), plus digest authentication.
//! * [`sdp`] — RFC 4566 session descriptions and RFC 3264 offer/answer for G.711 and
//!   `telephone-event`.
//! * [`rtp`] — RFC 3550 RTP packets, an adaptive jitter buffer, sender state, receive statistics
//!   and RTCP sender/receiver reports.
//! * [`codec`] — G.711 µ-law and A-law.
//! * [`dtmf`] — RFC 4733 telephone-events (receive and send), in-band Goertzel detection and
//!   SIP INFO `application/dtmf-relay` bodies.
//! * [`audio`] — 20 ms 16-bit PCM frames with the sample rate in the type, resampling, WAV
//!   prompts and stereo call recordings.
//!
//! ## Design
//!
//! Every protocol core here is *sans-IO*: it takes bytes, frames or events together with the
//! current time, and returns bytes to send, events and the next deadline. There are no sockets,
//! threads, locks or clocks inside; the async shell in `ivr-core` owns those. That makes every
//! state machine testable on virtual time, and cheap: thousands of calls share one reactor.
//!
//! ## Errors and panics
//!
//! Input from the network never panics: parsers return typed errors, and state machines count
//! and drop what they cannot use. `unwrap` appears only on local invariants, with a comment
//! saying why it holds.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audio;
pub mod codec;
pub mod dtmf;
pub mod rtp;
pub mod sdp;
pub mod sip;
