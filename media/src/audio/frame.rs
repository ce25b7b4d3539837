//! 20 ms frames of 16-bit linear PCM with the sample rate in the type.
//!
//! A [`Frame<R>`] stores exactly `R::FRAME_SAMPLES` samples inline (no heap), so a frame can be
//! copied through channels and rings without allocation, and an 8 kHz frame cannot be handed to
//! code expecting 16 kHz by mistake.

use std::fmt;
use std::time::Duration;

/// The duration of every frame: 20 ms, the packetization interval of G.711 over RTP.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// The level [`Frame::energy_dbov`] reports for digital silence, instead of minus infinity.
pub const SILENCE_DBOV: f32 = -100.0;

/// A sample rate at which the engine handles 20 ms frames.
///
/// Implemented by [`Hz8000`] (telephony, G.711) and [`Hz16000`] (speech recognition).
pub trait SampleRate: Copy + Default + Send + Sync + 'static {
    /// Samples per second.
    const HZ: u32;
    /// Samples in one 20 ms frame (`HZ / 50`).
    const FRAME_SAMPLES: usize;
    /// The inline storage of one frame: `[i16; FRAME_SAMPLES]`.
    type Buffer: Copy + Send + Sync + AsRef<[i16]> + AsMut<[i16]> + 'static;
    /// A buffer of zero samples.
    const SILENCE: Self::Buffer;
}

/// 8,000 samples per second: narrowband telephony (G.711, RFC 4733, in-band DTMF).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Hz8000;

/// 16,000 samples per second: wideband audio for speech recognition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Hz16000;

impl SampleRate for Hz8000 {
    const HZ: u32 = 8000;
    const FRAME_SAMPLES: usize = 160;
    type Buffer = [i16; 160];
    const SILENCE: [i16; 160] = [0; 160];
}

impl SampleRate for Hz16000 {
    const HZ: u32 = 16000;
    const FRAME_SAMPLES: usize = 320;
    type Buffer = [i16; 320];
    const SILENCE: [i16; 320] = [0; 320];
}

/// One 20 ms frame of mono 16-bit PCM at rate `R`.
pub struct Frame<R: SampleRate> {
    samples: R::Buffer,
}

/// A 20 ms frame at 8 kHz (160 samples).
pub type Frame8k = Frame<Hz8000>;
/// A 20 ms frame at 16 kHz (320 samples).
pub type Frame16k = Frame<Hz16000>;

impl<R: SampleRate> Frame<R> {
    /// A frame of zero samples.
    pub const fn silence() -> Self {
        Frame {
            samples: R::SILENCE,
        }
    }

    /// A frame holding `samples`, or `None` unless there are exactly `R::FRAME_SAMPLES` of them.
    pub fn from_slice(samples: &[i16]) -> Option<Self> {
        if samples.len() != R::FRAME_SAMPLES {
            return None;
        }
        let mut frame = Self::silence();
        frame.samples_mut().copy_from_slice(samples);
        Some(frame)
    }

    /// A frame from the first `R::FRAME_SAMPLES` of `samples`, padded with zeros when shorter.
    pub fn from_slice_padded(samples: &[i16]) -> Self {
        let mut frame = Self::silence();
        let n = samples.len().min(R::FRAME_SAMPLES);
        frame.samples_mut()[..n].copy_from_slice(&samples[..n]);
        frame
    }

    /// The samples, always `R::FRAME_SAMPLES` of them.
    #[inline]
    pub fn samples(&self) -> &[i16] {
        self.samples.as_ref()
    }

    /// The samples, mutably.
    #[inline]
    pub fn samples_mut(&mut self) -> &mut [i16] {
        self.samples.as_mut()
    }

    /// The sample rate in Hz.
    pub const fn rate_hz(&self) -> u32 {
        R::HZ
    }

    /// Whether every sample is zero.
    pub fn is_silent(&self) -> bool {
        self.samples().iter().all(|&s| s == 0)
    }

    /// The RMS level relative to digital full scale, in dBov (0 dBov is a full-scale square
    /// wave, so a full-scale sine is about -3 dBov). Digital silence reports [`SILENCE_DBOV`].
    pub fn energy_dbov(&self) -> f32 {
        let sum: i64 = self
            .samples()
            .iter()
            .map(|&s| (s as i64) * (s as i64))
            .sum();
        if sum == 0 {
            return SILENCE_DBOV;
        }
        let mean = sum as f64 / R::FRAME_SAMPLES as f64;
        let full_scale = 32768.0f64 * 32768.0;
        ((10.0 * (mean / full_scale).log10()) as f32).max(SILENCE_DBOV)
    }
}

impl<R: SampleRate> Clone for Frame<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: SampleRate> Copy for Frame<R> {}

impl<R: SampleRate> Default for Frame<R> {
    fn default() -> Self {
        Self::silence()
    }
}

impl<R: SampleRate> PartialEq for Frame<R> {
    fn eq(&self, other: &Self) -> bool {
        self.samples() == other.samples()
    }
}

impl<R: SampleRate> Eq for Frame<R> {}

impl<R: SampleRate> fmt::Debug for Frame<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("rate_hz", &R::HZ)
            .field("samples", &self.samples())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_are_twenty_milliseconds() {
        assert_eq!(Frame8k::silence().samples().len(), 160);
        assert_eq!(Frame16k::silence().samples().len(), 320);
        assert_eq!(Hz8000::FRAME_SAMPLES as u32 * 50, Hz8000::HZ);
        assert_eq!(Hz16000::FRAME_SAMPLES as u32 * 50, Hz16000::HZ);
    }

    #[test]
    fn from_slice_accepts_only_the_exact_length() {
        assert!(Frame8k::from_slice(&[0; 159]).is_none());
        assert!(Frame8k::from_slice(&[0; 161]).is_none());
        let f = Frame8k::from_slice(&[7; 160]).unwrap();
        assert!(f.samples().iter().all(|&s| s == 7));
        assert!(Frame16k::from_slice(&[0; 160]).is_none());
    }

    #[test]
    fn from_slice_padded_fills_the_tail_with_zeros() {
        let f = Frame8k::from_slice_padded(&[5; 100]);
        assert_eq!(&f.samples()[..100], &[5; 100][..]);
        assert!(f.samples()[100..].iter().all(|&s| s == 0));
        let g = Frame8k::from_slice_padded(&[1; 500]);
        assert_eq!(g.samples(), &[1; 160][..]);
    }

    #[test]
    fn energy_of_silence_is_the_floor() {
        assert_eq!(Frame8k::silence().energy_dbov(), SILENCE_DBOV);
        assert!(Frame8k::silence().is_silent());
    }

    #[test]
    fn energy_of_full_scale_square_is_zero_dbov_and_sine_minus_three() {
        let mut square = Frame8k::silence();
        for (i, s) in square.samples_mut().iter_mut().enumerate() {
            *s = if i % 2 == 0 { i16::MAX } else { i16::MIN };
        }
        assert!(square.energy_dbov().abs() < 0.01);

        let mut sine = Frame16k::silence();
        for (i, s) in sine.samples_mut().iter_mut().enumerate() {
            let t = i as f64 / 16000.0;
            *s = (32767.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16;
        }
        assert!(
            (sine.energy_dbov() + 3.01).abs() < 0.05,
            "{}",
            sine.energy_dbov()
        );
    }
}
