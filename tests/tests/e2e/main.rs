//! End-to-end tests: the real `ivr serve` binary driven over loopback by SIPp, a test-side RTP
//! socket and raw datagrams. Each test starts its own engine (own data folder, SIP port and RTP
//! port block), so they run in parallel.
//!
//! Build the binary first: `cargo build -p ivr-core --bin ivr` (`scripts/test.sh` does), then
//! `cargo test -p ivr-tests --test e2e`. Needs `sipp`, `sox` and `espeak-ng` on the PATH and
//! SIPp's pcaps in `/usr/share/sip-tester` (or `$SIPP_PCAPS`). Set `IVR_E2E_KEEP=1` to keep a
//! failing test's engine folder.
//!
//! Module index:
//! * `amd` — answering-machine detection on outbound calls: human and machine branches, the
//!   message after the beep.
//! * `api` — the gRPC API of a running engine: roles, live calls, hang-up, call records.
//! * `baresip` — a second real client hears the prompt; stereo call recording.
//! * `calls` — an answered call: the prompt's RTP byte for byte, the caller's RTP counted, codec
//!   choice, TCP.
//! * `dtmf` — digits by RFC 4733 (SIPp's pcaps), in-band tones, SIP INFO; no digits from speech.
//! * `dialogs` — CANCEL, hold/unhold, OPTIONS, hang-ups by either side, the demo timeout.
//! * `errors` — 400, 403, 405, 481, 488.
//! * `monitor` — a supervisor listens to, whispers in and barges into a bridged call.
//! * `shutdown` — SIGTERM drains; a second SIGTERM hangs up everything.
//! * `plans` — the example bank plan over SIP: keys, webhook, escalation; the helpers of the
//!   dial-plan modules.
//! * `plan_examples` — the example clinic and delivery-notice plans driven by keys.
//! * `plan_webhooks` — a webhook answering 500, invalid JSON or nothing during a call.
//! * `plan_reload` — plans changed, broken and reloaded (file watcher, SIGHUP) under live calls.
//! * `speech` — callers who talk: barge-in, intents and digits by voice, the reply they hear,
//!   keypad fallback.
//! * `qa_agent` — the agent's words, transcribed from a bridged call's recording, scored.
//! * `register` — outbound REGISTER with digest authentication.
//! * `robustness` — hostile datagrams and streams leave the engine serving.

mod amd;
mod api;
mod baresip;
mod callback;
mod calls;
mod campaign;
mod center;
mod center_load;
mod dialogs;
mod dtmf;
mod errors;
mod monitor;
mod outbound;
mod plan_examples;
mod plan_reload;
mod plan_webhooks;
mod plans;
mod qa_agent;
mod register;
mod robustness;
mod shutdown;
mod speech;

use std::time::Duration;

use ivr_tests::audio::FRAME;
use ivr_tests::codec::{self, G711};
use ivr_tests::{audio, Engine, Event, Received};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The tokio runtime a test drives its gRPC clients on (two workers: event streams and calls
/// progress while the test awaits).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Asserts that `received` is exactly the prompt as one RTP stream: one packet per 20 ms frame,
/// each payload the G.711 encoding of that frame, marker on the first packet only, consecutive
/// sequence numbers, timestamps 160 apart, one SSRC, one source address.
fn assert_prompt_stream(received: &[Received], prompt: &[i16], codec: G711) {
    let frames = prompt.len() / FRAME;
    let packets: Vec<_> = received.iter().filter_map(|r| r.packet.as_ref()).collect();
    assert_eq!(
        packets.len(),
        frames,
        "the engine sent {} RTP packets for a prompt of {frames} frames",
        packets.len()
    );
    assert_eq!(
        received.len(),
        frames,
        "the engine sent datagrams that are not RTP"
    );
    let first = packets[0];
    assert!(
        first.marker,
        "the first packet of the prompt has no marker bit"
    );
    let sources: std::collections::BTreeSet<_> = received.iter().map(|r| r.from).collect();
    assert_eq!(
        sources.len(),
        1,
        "RTP came from several addresses: {sources:?}"
    );
    let mut mismatched = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.pt, codec.payload_type(), "packet {i}: payload type");
        assert_eq!(p.ssrc, first.ssrc, "packet {i}: SSRC changed");
        if i > 0 {
            assert!(!p.marker, "packet {i}: marker bit in mid-stream");
            assert_eq!(
                p.seq,
                first.seq.wrapping_add(i as u16),
                "packet {i}: sequence number"
            );
            assert_eq!(
                p.ts,
                first.ts.wrapping_add((i * FRAME) as u32),
                "packet {i}: timestamp"
            );
        }
        let expected = codec::encode(codec, &prompt[i * FRAME..(i + 1) * FRAME]);
        if p.payload != expected {
            mismatched.push(i);
        }
    }
    if !mismatched.is_empty() {
        let decoded: Vec<i16> = packets
            .iter()
            .flat_map(|p| codec::decode(codec, &p.payload))
            .collect();
        let i = mismatched[0];
        let expected = codec::encode(codec, &prompt[i * FRAME..(i + 1) * FRAME]);
        panic!(
            "{} of {frames} packets differ from the {} encoding of the prompt (first: packet {i}, \
             got {:02x?}.., expected {:02x?}..); correlation of the decoded stream with the prompt: {:.4}",
            mismatched.len(),
            codec.encoding_name(),
            &packets[i].payload[..packets[i].payload.len().min(8)],
            &expected[..8],
            audio::correlation(&decoded, prompt)
        );
    }
}

/// The digits reported so far, as (digit, method).
fn digits(engine: &Engine) -> Vec<(String, String)> {
    engine
        .events()
        .iter()
        .filter(|e| e.is_digit())
        .map(|e| {
            (
                e.str("digit").unwrap_or("?").to_string(),
                e.str("method").unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// Waits for the call's `ended` event (10 s at most).
fn ended(engine: &Engine) -> Event {
    engine.wait_event("ended", secs(10), |_| true)
}

/// Asserts the single `hangup` event says `by` and `cause`.
fn assert_hangup(engine: &Engine, by: &str, cause: &str) {
    let h = engine.wait_event("hangup", secs(10), |_| true);
    assert_eq!(
        (h.str("by"), h.str("cause")),
        (Some(by), Some(cause)),
        "hangup event: {h}\nall events:\n{}",
        engine.events_text()
    );
    assert_eq!(
        engine.events_named("hangup").len(),
        1,
        "more than one hangup:\n{}",
        engine.events_text()
    );
}
