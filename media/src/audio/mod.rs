//! Audio inside the engine: 20 ms 16-bit PCM frames, resampling, WAV prompts and recordings.
//!
//! * [`frame`] — [`Frame<R>`](Frame) with the sample rate in the type ([`Frame8k`] for
//!   telephony, [`Frame16k`] for speech recognition).
//! * [`resample`](mod@resample) — whole-buffer conversion between any two rates, and a streaming
//!   8 kHz → 16 kHz upsampler.
//! * [`wav`] — [`Prompt`]s loaded once from WAV files, and [`EncodedPrompt`]s pre-encoded as
//!   G.711 for play-out.
//! * [`recorder`] — [`StereoRecorder`], the caller/engine stereo call recording.

pub mod frame;
pub mod recorder;
pub mod resample;
pub mod wav;

pub use frame::{Frame, Frame16k, Frame8k, Hz16000, Hz8000, SampleRate, FRAME_DURATION};
pub use recorder::{RecorderError, RecordingInfo, StereoRecorder};
pub use resample::{resample, Upsampler8kTo16k};
pub use wav::{EncodedPrompt, Prompt, PromptFrames, WavError};
