//! SDP (RFC 4566) and offer/answer (RFC 3264).
//!
//! * [`session`] — the session description model, a parser that never panics on hostile
//!   input, and `Display` writing CRLF lines.
//! * [`negotiate`] — choosing codec, telephone-event payload type, remote addresses and
//!   direction from an offer; building answers and offers.
//!
//! ```
//! use ivr_media::sdp::{answer, negotiate, Codec, LocalMedia, SessionDescription};
//!
//! let offer = SessionDescription::parse(
//!     "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
//!      m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
//! )?;
//! let local = LocalMedia {
//!     addr: "192.0.2.1".parse().unwrap(),
//!     port: 20000,
//!     codecs: vec![Codec::Pcmu, Codec::Pcma],
//!     telephone_event: true,
//!     session_id: 1,
//!     session_version: 1,
//! };
//! let negotiated = negotiate(&offer, &local).expect("common codec");
//! assert_eq!(negotiated.codec, Codec::Pcma); // the caller's preference
//! let body = answer(&offer, &local, &negotiated).to_string();
//! assert!(body.contains("m=audio 20000 RTP/AVP 8 101\r\n"));
//! # Ok::<(), ivr_media::sdp::SdpError>(())
//! ```

pub mod negotiate;
pub mod session;

pub use negotiate::{answer, negotiate, offer, Codec, LocalMedia, Negotiated, NegotiationError};
pub use session::{
    Connection, Direction, MediaDescription, Origin, RtpMap, SdpError, SessionDescription,
};
