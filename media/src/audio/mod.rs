//! Audio inside the engine: 20 ms 16-bit PCM frames, resampling, WAV prompts and recordings.
//!
//! * [`frame`] — [`Frame<R>`](Frame) with the sample rate in the type ([`Frame8k`] for
//!   telephony, [`Frame16k`] for speech recognition).
//! * [`resample`](mod@resample) — whole-buffer conversion between any two rates, and a streaming
//!   8 kHz → 16 kHz upsampler.

pub mod frame;
pub mod resample;

pub use frame::{Frame, Frame16k, Frame8k, Hz16000, Hz8000, SampleRate, FRAME_DURATION};
pub use resample::{resample, Upsampler8kTo16k};
