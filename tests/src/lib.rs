//! # ivr-tests
//!
//! The harness for the end-to-end tests in `tests/e2e/`: they start the real `ivr serve`
//! binary and talk to it the way a carrier would, over loopback only.
//!
//! * [`Engine`] writes a throw-away configuration (its own data folder, SIP on `127.0.0.1:0`, an
//!   RTP port block of its own, a generated prompt), starts the binary, waits for its `ready`
//!   line and reads `DATA/events.jsonl`. It kills the process when dropped and prints the
//!   engine's stderr and events when the test failed.
//! * [`Sipp`] runs a SIPp scenario from `tests/scenarios/` against the engine and returns the
//!   exit status plus the parsed message trace ([`SippRun`]).
//! * [`RtpPeer`] is the caller's media socket: it records every RTP packet the engine sends and
//!   sends G.711 audio or RFC 4733 events back, paced in real time like a phone.
//! * [`audio`] makes test audio with `sox` and `espeak-ng` into temporary files; [`codec`]
//!   encodes and decodes it with the engine's G.711.
//! * [`sip`] sends raw datagrams for the requests SIPp cannot express (malformed ones).
//!
//! Every wait has a deadline: helpers poll the event file or a socket until a condition holds or
//! the deadline passes, then fail with the evidence, so no test sleeps for an engine timer.
//!
//! The binary is found at `$IVR_BIN`, else next to the test executable's `target/<profile>/`,
//! else under `$CARGO_TARGET_DIR` or `<workspace>/target/debug/`. Build it first with
//! `cargo build -p ivr-core --bin ivr`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audio;
pub mod codec;
pub mod engine;
pub mod ports;
pub mod rtp;
pub mod sip;
pub mod sipp;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use engine::{binary, outbound_trunk, Engine, EngineOptions, Event};
pub use rtp::{Received, RtpPacket, RtpPeer};
pub use sip::SipMessage;
pub use sipp::{Offer, Sipp, SippChild, SippRun, Transport};

/// The workspace folder (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Calls `poll` every 10 ms until it returns `Some` or `timeout` has passed.
pub fn wait_until<T>(timeout: Duration, mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = poll() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
