//! RTP and RTCP (RFC 3550): packets, sender state, jitter buffer, statistics and reports.
//!
//! * [`packet`] — parse and write the RTP header (no allocation); [`is_rtcp`] for rtcp-mux.
//! * [`sender`] — one outgoing stream: SSRC, sequence, timestamp, marker bit, counters.
//! * [`stats`] — receive statistics (RFC 3550 A.1, A.3, A.8).
//! * [`jitter`] — the adaptive jitter buffer, driven by the media clock's 20 ms tick.
//! * [`rtcp`] — sender/receiver reports, SDES, BYE, round-trip time and a sans-IO
//!   [`RtcpSession`] that schedules reports.

pub mod jitter;
pub mod packet;
pub mod rtcp;
pub mod sender;
pub mod stats;

pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
pub use packet::{is_rtcp, parse, write, RtpError, RtpHeader};
pub use rtcp::{round_trip, CallMediaStats, RtcpConfig, RtcpError, RtcpSession};
pub use sender::{Sender, SenderStats};
pub use stats::{ReceiverStats, ReceptionReport};
