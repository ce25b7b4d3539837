//! # ivr-core
//!
//! The engine that joins the layers: it answers calls from SIP trunks, runs each call as a task
//! that owns its media, and records what happened. The `ivr` binary is its command line.
//!
//! * [`config`] — the TOML configuration, validated with every problem reported at once.
//! * [`signalling`] — the SIP task: transports around the sans-IO `ivr_media::sip::Endpoint`,
//!   admission, SDP negotiation, the call registry and graceful drain.
//! * [`admission`] — trunk allow-lists, digest authentication, INVITE rate limits.
//! * [`call`] — one task per call: RTP in and out, DTMF, prompt playout, recording.
//! * [`flow`] — a dial plan running inside a call.
//! * [`amd`] — answering-machine detection before an outbound call's plan starts.
//! * [`hearing`] — the caller's voice: voice activity, barge-in, recognition, sentiment.
//! * [`clock`] — the shared 20 ms media clock.
//! * [`ports`] — RTP port allocation.
//! * [`monitor`] — supervisors listening, whispering or barging in on a bridged call.
//! * [`events`] — the call event log (`DATA/events.jsonl`).
//! * [`webhook`] — the HTTP client for dial-plan webhooks.
//! * [`serve`] — `ivr serve`.
//! * [`outbound`] — outbound campaigns: contacts import, the call scheduler, results.
//! * [`store`] — the call store: CDRs, events, transcripts, agent states, callbacks, audit.
//! * [`testcall`] — `ivr call`: a SIP test caller that talks to an IVR and prints what it heard.
//! * [`qa`] — quality inspection: calls scored against YAML rules.
//! * [`report`] — contact-centre reports from the store.
//! * [`api`] — the gRPC API: agent, supervisor and admin services, tokens, roles, TLS.
#![deny(unsafe_code)]

pub mod acd;
pub mod admission;
pub mod amd;
pub mod api;
mod bridge;
pub mod call;
pub mod callback;
pub mod center;
pub mod clock;
pub mod config;
pub mod control;
pub mod events;
pub mod flow;
pub mod hearing;
pub mod memory;
pub mod metrics;
pub mod monitor;
pub mod originate;
pub mod otlp;
pub mod outbound;
pub mod plans;
pub mod playout;
pub mod ports;
pub mod privacy;
pub mod qa;
pub mod report;
pub mod serve;
pub mod signalling;
pub mod store;
pub mod testcall;
pub mod webhook;
