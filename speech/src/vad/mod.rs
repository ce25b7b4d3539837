//! Voice activity detection, endpointing and barge-in for 20 ms caller frames.
//!
//! Everything here is sans-IO and per call: each detector is a small value the call task owns by
//! `&mut`, fed one [`Frame8k`] at a time, with no clock (time is counted in 20 ms frames), no
//! locks and no allocation after construction. A frame costs a few hundred nanoseconds.
//!
//! * [`Vad`] — the per-frame verdict ([`Activity`]), and [`EnergyVad`], the default detector:
//!   two-band energy with adaptive noise floors, zero crossings, hangover.
//! * [`Endpointer`] — turns verdicts into [`EndpointEvent::SpeechStart`] /
//!   [`EndpointEvent::SpeechEnd`] with a minimum speech duration, an end-of-speech silence, a
//!   maximum utterance length and a 300 ms pre-roll of the frames before the start.
//! * [`BargeIn`] — decides that the caller talks over a playing prompt, telling real speech from
//!   the prompt's own echo returned by the far end.
//!
//! ```
//! use ivr_media::audio::Frame8k;
//! use ivr_speech::vad::{EndpointEvent, Endpointer, EndpointerConfig};
//!
//! let mut ep = Endpointer::new(EndpointerConfig::default());
//! let mut utterance: Vec<Frame8k> = Vec::new();
//! let mut listening = false;
//! for frame in std::iter::repeat(Frame8k::silence()).take(100) {
//!     match ep.push(&frame) {
//!         Some(EndpointEvent::SpeechStart { .. }) => {
//!             // The frames before the start (already including this one) go first.
//!             utterance.extend(ep.pre_roll().copied());
//!             listening = true;
//!         }
//!         Some(EndpointEvent::SpeechEnd { .. }) => listening = false,
//!         None if listening => utterance.push(frame),
//!         None => {}
//!     }
//! }
//! assert!(utterance.is_empty());
//! ```

pub mod barge_in;
pub mod endpoint;
pub mod energy;

pub use barge_in::{BargeIn, BargeInConfig};
pub use endpoint::{
    EndReason, EndpointEvent, Endpointer, EndpointerConfig, PreRoll, PRE_ROLL_FRAMES,
};
pub use energy::{EnergyVad, VadConfig};

use ivr_media::audio::Frame8k;

/// The verdict on one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// No speech: noise, silence, or a pause longer than the hangover.
    Silence,
    /// This frame itself carries speech.
    Speech,
    /// No speech in this frame, but speech just before it: a pause inside speech that a consumer
    /// gating audio (recording, recognition) should keep.
    Hangover,
}

impl Activity {
    /// Whether the frame counts as speech, hangover included.
    pub fn is_speech(self) -> bool {
        !matches!(self, Activity::Silence)
    }
}

/// A voice activity detector: one verdict per 20 ms frame, in order.
pub trait Vad {
    /// Classifies the next frame of the stream.
    fn push(&mut self, frame: &Frame8k) -> Activity;

    /// Forgets everything learnt (noise floor, hangover), as for a new stream.
    fn reset(&mut self);
}

/// Mean square of full scale: the reference for dBov.
const FULL_SCALE_SQ: f32 = 32768.0 * 32768.0;

/// The lowest level any detector here reports, in dBov.
pub(crate) const FLOOR_DBOV: f32 = -100.0;

/// `10·log10(mean_square / full_scale²)`, never below [`FLOOR_DBOV`].
#[inline]
pub(crate) fn dbov(mean_square: f32) -> f32 {
    if mean_square <= 0.0 {
        return FLOOR_DBOV;
    }
    (10.0 * (mean_square / FULL_SCALE_SQ).log10()).max(FLOOR_DBOV)
}

/// The mean square a level in dBov stands for (inverse of [`dbov`]).
#[inline]
pub(crate) fn mean_square(dbov: f32) -> f32 {
    FULL_SCALE_SQ * 10f32.powf(dbov / 10.0)
}

/// Mean square of a frame, as `f32` (eight lanes, so it vectorises).
#[inline]
pub(crate) fn frame_mean_square(frame: &Frame8k) -> f32 {
    let mut acc = [0f32; 8];
    for chunk in frame.samples().chunks_exact(8) {
        for (a, &s) in acc.iter_mut().zip(chunk) {
            let x = f32::from(s);
            *a += x * x;
        }
    }
    acc.iter().sum::<f32>() / 160.0
}
