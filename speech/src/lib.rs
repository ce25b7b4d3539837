//! Speech for the IVR engine: the `Recognizer`, `Synthesizer` and `Vad` traits and their engines
//! (PocketSphinx, Whisper, espeak-ng).
//!
//! The crate is empty until the speech layer is built; calls currently run on keypad input only.
#![forbid(unsafe_code)]
