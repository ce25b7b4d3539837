//! # ivr-speech
//!
//! Speech for the IVR engine, with no knowledge of SIP or calls: text in, 8 kHz PCM out (and, as
//! the speech layer grows, audio in, text out).
//!
//! * [`tts`] — the [`tts::Synthesizer`] trait, requests keyed by (text, language, voice, rate),
//!   and [`tts::CachedSynthesizer`], which renders each distinct request once, keeps it in memory
//!   and on disk, and hands out shared, pre-encoded audio.
//! * [`espeak`] — the embedded default engine, espeak-ng, through a small FFI module to Debian's
//!   `libespeak-ng`. Its C API is process-global and not thread-safe, so one dedicated thread owns
//!   it; requests queue to that thread with a bound, and a full queue is an error the caller turns
//!   into a keypad fallback rather than a wait.
//! * [`vad`] — per-call, per-frame detectors on the caller's 20 ms frames: the [`vad::Vad`]
//!   trait and [`vad::EnergyVad`], the [`vad::Endpointer`] (speech start/end with pre-roll) and
//!   [`vad::BargeIn`] (the caller talks over a prompt, its echo ignored). Sans-IO, no clock, no
//!   allocation per frame.
//! * [`amd`] — answering-machine detection for outbound calls: [`amd::Amd`] gives human, machine
//!   or unknown from the callee's first seconds, and [`amd::BeepDetector`] finds the machine's
//!   beep so a message starts after the tone.
//! * [`sentiment`] — the sentiment of a caller turn from its text (English and Chinese lexicon)
//!   and its prosody ([`sentiment::ProsodyTracker`]).
//!
//! `unsafe` is confined to `espeak::ffi` and its one caller, each block commented.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod amd;
pub mod asr;
pub mod espeak;
pub mod pocketsphinx;
pub mod sentiment;
pub mod tts;
pub mod vad;
#[cfg(feature = "whisper")]
pub mod whisper;
