//! Sample-rate conversion.
//!
//! * [`resample`] converts a whole buffer between any two rates with a Kaiser-windowed sinc
//!   filter in polyphase form. It runs once per prompt at load time (for example a 22,050 Hz
//!   WAV or TTS output down to 8 kHz), so it favours quality: the low-pass sits at 92 % of the
//!   lower Nyquist frequency with about 85 dB of stop-band attenuation, so tones above the new
//!   Nyquist frequency do not fold back into the voice band.
//! * [`Upsampler8kTo16k`] doubles the rate of a live 8 kHz stream frame by frame for speech
//!   recognition. It is a half-band interpolator: even output samples are the input samples,
//!   odd ones come from a 48-tap filter, with no allocation per frame.

use super::frame::{Frame16k, Frame8k, Hz16000, Hz8000, SampleRate};

/// Zero crossings of the sinc kernel on each side, measured at the lower of the two rates.
const ZERO_CROSSINGS: f64 = 24.0;
/// Cut-off as a fraction of the lower Nyquist frequency.
const ROLLOFF: f64 = 0.92;
/// Kaiser window shape: about 85 dB of stop-band attenuation.
const KAISER_BETA: f64 = 8.6;
/// Above this many filter phases the fractional position is rounded to the nearest of this many
/// (an error under 1/4096 of a sample) to bound the table size for awkward rate pairs.
const MAX_PHASES: u64 = 2048;

/// Converts `input` sampled at `from_hz` to `to_hz`.
///
/// The output has `ceil(input.len() * to_hz / from_hz)` samples and is aligned with the input
/// (no added delay). Equal rates return a copy; a zero rate returns an empty buffer.
pub fn resample(input: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if from_hz == 0 || to_hz == 0 || input.is_empty() {
        return Vec::new();
    }
    if from_hz == to_hz {
        return input.to_vec();
    }
    let g = gcd(from_hz as u64, to_hz as u64);
    let up = to_hz as u64 / g; // L: output samples per `down` input samples
    let down = from_hz as u64 / g; // M

    // Cut-off in cycles per input sample.
    let ratio = to_hz as f64 / from_hz as f64;
    let fc = 0.5 * ROLLOFF * ratio.min(1.0);
    let half_width = ZERO_CROSSINGS / (2.0 * fc); // in input samples
    let side = half_width.ceil() as usize;
    let taps = 2 * side;
    let phases = up.min(MAX_PHASES) as usize;
    let table = build_table(phases, taps, side, fc, half_width);

    let out_len = ((input.len() as u64 * up).div_ceil(down)) as usize;
    let mut out = Vec::with_capacity(out_len);
    let len = input.len() as i64;
    for n in 0..out_len as u64 {
        // Output sample n sits at input position n * M / L = base + frac / L.
        let pos = n * down;
        let mut base = (pos / up) as i64;
        let frac = pos % up;
        let mut phase = ((frac * phases as u64 + up / 2) / up) as usize;
        if phase == phases {
            base += 1;
            phase = 0;
        }
        let coeffs = &table[phase * taps..(phase + 1) * taps];
        // Tap j multiplies input[base - side + 1 + j].
        let first = base - side as i64 + 1;
        let j_start = (-first).clamp(0, taps as i64) as usize;
        let j_end = (len - first).clamp(0, taps as i64) as usize;
        let mut acc = 0.0f64;
        if j_start < j_end {
            let x0 = (first + j_start as i64) as usize;
            let xs = &input[x0..x0 + (j_end - j_start)];
            for (c, &x) in coeffs[j_start..j_end].iter().zip(xs) {
                acc += (*c as f64) * x as f64;
            }
        }
        out.push(saturate(acc));
    }
    out
}

/// Builds `phases` rows of `taps` coefficients; row `p` interpolates at fractional position
/// `p / phases` past the base sample. Each row is normalised to unit DC gain.
fn build_table(phases: usize, taps: usize, side: usize, fc: f64, half_width: f64) -> Vec<f32> {
    let i0_beta = bessel_i0(KAISER_BETA);
    let mut table = vec![0.0f32; phases * taps];
    let mut row = vec![0.0f64; taps];
    for (p, out_row) in table.chunks_exact_mut(taps).enumerate() {
        let frac = p as f64 / phases as f64;
        let mut sum = 0.0;
        for (j, r) in row.iter_mut().enumerate() {
            let d = (j as f64 - side as f64 + 1.0) - frac;
            *r = 2.0 * fc * sinc(2.0 * fc * d) * kaiser(d / half_width, i0_beta);
            sum += *r;
        }
        for (o, r) in out_row.iter_mut().zip(&row) {
            *o = (r / sum) as f32;
        }
    }
    table
}

/// Streaming 2x interpolator from 8 kHz to 16 kHz frames, for speech recognition.
///
/// A half-band design: every even output sample is an input sample, every odd one is
/// interpolated by a 48-tap Kaiser-windowed sinc. The filter keeps the last 47 input samples
/// between frames, so consecutive frames join seamlessly; the output lags the input by
/// [`Upsampler8kTo16k::DELAY_SAMPLES_8K`] input samples (3 ms).
#[derive(Debug, Clone)]
pub struct Upsampler8kTo16k {
    coeffs: [f32; UP_TAPS],
    history: [i16; UP_TAPS - 1],
}

/// Taps of the odd (interpolating) phase.
const UP_TAPS: usize = 48;
/// Half the taps: the look-ahead, in input samples.
const UP_SIDE: usize = UP_TAPS / 2;

impl Upsampler8kTo16k {
    /// The delay the filter adds, in 8 kHz samples.
    pub const DELAY_SAMPLES_8K: usize = UP_SIDE;

    /// A fresh upsampler whose history is silence.
    pub fn new() -> Self {
        let i0_beta = bessel_i0(KAISER_BETA);
        let mut coeffs = [0.0f32; UP_TAPS];
        let mut raw = [0.0f64; UP_TAPS];
        let mut sum = 0.0;
        for (k, r) in raw.iter_mut().enumerate() {
            // Tap k multiplies the input UP_SIDE - 0.5 - k samples before the output instant.
            let d = UP_SIDE as f64 - 0.5 - k as f64;
            *r = sinc(d) * kaiser(d / UP_SIDE as f64, i0_beta);
            sum += *r;
        }
        for (c, r) in coeffs.iter_mut().zip(&raw) {
            *c = (r / sum) as f32;
        }
        Upsampler8kTo16k {
            coeffs,
            history: [0; UP_TAPS - 1],
        }
    }

    /// Upsamples one 8 kHz frame into one 16 kHz frame.
    pub fn process(&mut self, input: &Frame8k) -> Frame16k {
        const H: usize = UP_TAPS - 1;
        const N: usize = Hz8000::FRAME_SAMPLES;
        let mut work = [0i16; H + N];
        work[..H].copy_from_slice(&self.history);
        work[H..].copy_from_slice(input.samples());

        let mut out = Frame16k::silence();
        let out_samples = out.samples_mut();
        debug_assert_eq!(out_samples.len(), Hz16000::FRAME_SAMPLES);
        for (m, pair) in out_samples.chunks_exact_mut(2).enumerate() {
            // work[m + H] is input sample m; the output instant 2m is input sample m - UP_SIDE.
            pair[0] = work[m + UP_SIDE - 1];
            let window = &work[m..m + UP_TAPS];
            let acc: f32 = self
                .coeffs
                .iter()
                .zip(window)
                .map(|(c, &x)| c * x as f32)
                .sum();
            pair[1] = saturate(acc as f64);
        }
        self.history.copy_from_slice(&work[N..]);
        out
    }

    /// Forgets the history, as at the start of a new stream.
    pub fn reset(&mut self) {
        self.history = [0; UP_TAPS - 1];
    }
}

impl Default for Upsampler8kTo16k {
    fn default() -> Self {
        Self::new()
    }
}

fn saturate(x: f64) -> i16 {
    x.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Kaiser window at `x` in -1..=1 (zero outside), given `I0(beta)`.
fn kaiser(x: f64, i0_beta: f64) -> f64 {
    if x.abs() >= 1.0 {
        0.0
    } else {
        bessel_i0(KAISER_BETA * (1.0 - x * x).sqrt()) / i0_beta
    }
}

/// Modified Bessel function of the first kind, order zero, by its power series.
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    let mut k = 1.0;
    while term > 1e-12 * sum {
        term *= (half / k) * (half / k);
        sum += term;
        k += 1.0;
    }
    sum
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::f64::consts::PI;

    pub(crate) fn sine(freq: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
        let n = (rate as f64 * seconds) as usize;
        (0..n)
            .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / rate as f64).sin()).round() as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Power of `freq` in `x` by the Goertzel algorithm, normalised to the squared amplitude.
    fn tone_power(x: &[i16], rate: u32, freq: f64) -> f64 {
        let w = 2.0 * PI * freq / rate as f64;
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &v in x {
            let s = v as f64 + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        4.0 * p / (x.len() as f64).powi(2)
    }

    fn zero_crossings(x: &[i16]) -> usize {
        x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
    }

    /// Skips the filter's start-up and tail.
    fn middle(x: &[i16]) -> &[i16] {
        &x[x.len() / 10..x.len() * 9 / 10]
    }

    #[test]
    fn one_kilohertz_survives_22050_to_8000_with_its_frequency_and_level() {
        let input = sine(1000.0, 22050, 1.0, 10000.0);
        let out = resample(&input, 22050, 8000);
        assert_eq!(out.len(), 8000);
        let mid = middle(&out);
        let seconds = mid.len() as f64 / 8000.0;
        let crossings = zero_crossings(mid) as f64 / seconds;
        assert!((crossings - 2000.0).abs() < 10.0, "{crossings} crossings/s");
        let level = 20.0 * (rms(mid) / rms(middle(&input))).log10();
        assert!(level.abs() < 0.2, "level changed by {level} dB");
        assert!(tone_power(mid, 8000, 1000.0) > 100.0 * tone_power(mid, 8000, 1100.0));
    }

    #[test]
    fn tones_above_the_new_nyquist_are_removed_when_downsampling_16k_to_8k() {
        for freq in [4600.0, 5000.0, 6000.0, 7500.0] {
            let input = sine(freq, 16000, 0.5, 20000.0);
            let out = resample(&input, 16000, 8000);
            let attenuation = 20.0 * (rms(middle(&out)) / rms(&input)).log10();
            assert!(attenuation < -60.0, "{freq} Hz only down {attenuation} dB");
        }
    }

    #[test]
    fn a_7_khz_tone_does_not_alias_to_1_khz_when_downsampling_22050_to_8000() {
        let input = sine(7000.0, 22050, 0.5, 20000.0);
        let out = resample(&input, 22050, 8000);
        let attenuation = 20.0 * (rms(middle(&out)) / rms(&input)).log10();
        assert!(attenuation < -60.0, "only down {attenuation} dB");
    }

    #[test]
    fn voice_band_is_flat_when_downsampling() {
        for freq in [300.0, 1000.0, 2000.0, 3000.0, 3400.0] {
            let input = sine(freq, 16000, 0.5, 10000.0);
            let out = resample(&input, 16000, 8000);
            let gain = 20.0 * (rms(middle(&out)) / rms(middle(&input))).log10();
            assert!(gain.abs() < 0.5, "{freq} Hz gain {gain} dB");
        }
    }

    #[test]
    fn upsampling_then_downsampling_restores_the_signal() {
        let input = sine(1000.0, 8000, 0.25, 12000.0);
        let up = resample(&input, 8000, 16000);
        assert_eq!(up.len(), input.len() * 2);
        let back = resample(&up, 16000, 8000);
        assert_eq!(back.len(), input.len());
        for (a, b) in middle(&input).iter().zip(middle(&back)) {
            assert!((*a as i32 - *b as i32).abs() < 60, "{a} vs {b}");
        }
    }

    #[test]
    fn awkward_rate_pairs_use_rounded_phases_and_keep_the_frequency() {
        // gcd(44101, 8000) = 1, so there would be 8000 exact phases.
        let input = sine(1000.0, 44101, 0.5, 10000.0);
        let out = resample(&input, 44101, 8000);
        let mid = middle(&out);
        assert!(tone_power(mid, 8000, 1000.0) > 1000.0 * tone_power(mid, 8000, 1300.0));
        let level = 20.0 * (rms(mid) / 10000.0 * 2f64.sqrt()).log10();
        assert!(level.abs() < 0.2, "{level} dB");
    }

    #[test]
    fn degenerate_rates_and_inputs_do_not_panic() {
        assert!(resample(&[], 8000, 16000).is_empty());
        assert!(resample(&[1, 2, 3], 0, 8000).is_empty());
        assert!(resample(&[1, 2, 3], 8000, 0).is_empty());
        assert_eq!(resample(&[1, 2, 3], 8000, 8000), vec![1, 2, 3]);
        assert_eq!(resample(&[1000], 8000, 16000).len(), 2);
        assert_eq!(resample(&[1000; 3], 22050, 8000).len(), 2);
    }

    #[test]
    fn full_scale_input_saturates_instead_of_wrapping() {
        let square: Vec<i16> = (0..800)
            .map(|i| {
                if (i / 40) % 2 == 0 {
                    i16::MAX
                } else {
                    i16::MIN
                }
            })
            .collect();
        let out = resample(&square, 8000, 16000);
        // Gibbs overshoot clips at the rails; a wrapped sample would flip sign mid-plateau.
        for w in out[100..1500].windows(2) {
            assert!(!(w[0] > 30000 && w[1] < -30000), "wrapped: {w:?}");
        }
    }

    #[test]
    fn streaming_upsampler_matches_an_ideal_sine_after_its_delay() {
        let input = sine(1000.0, 8000, 0.2, 12000.0);
        let mut up = Upsampler8kTo16k::new();
        let mut out = Vec::new();
        for chunk in input.chunks_exact(160) {
            let frame = Frame8k::from_slice(chunk).unwrap();
            out.extend_from_slice(up.process(&frame).samples());
        }
        assert_eq!(out.len(), input.len() * 2);
        let delay = 2 * Upsampler8kTo16k::DELAY_SAMPLES_8K;
        let ideal = sine(1000.0, 16000, 0.2, 12000.0);
        // Skip the first frame, where the history is still silence.
        for n in 400..out.len() {
            let err = (out[n] as i32 - ideal[n - delay] as i32).abs();
            assert!(err < 60, "sample {n}: {} vs {}", out[n], ideal[n - delay]);
        }
    }

    #[test]
    fn streaming_upsampler_suppresses_images() {
        // A 3 kHz input tone images to 5 kHz at 16 kHz; the filter must remove it.
        let input = sine(3000.0, 8000, 0.2, 12000.0);
        let mut up = Upsampler8kTo16k::default();
        let mut out = Vec::new();
        for chunk in input.chunks_exact(160) {
            out.extend_from_slice(up.process(&Frame8k::from_slice(chunk).unwrap()).samples());
        }
        let tail = &out[640..];
        let image = tone_power(tail, 16000, 5000.0);
        let tone = tone_power(tail, 16000, 3000.0);
        assert!(10.0 * (image / tone).log10() < -50.0);
    }

    #[test]
    fn streaming_upsampler_reset_forgets_history() {
        let mut up = Upsampler8kTo16k::new();
        let loud = Frame8k::from_slice(&[10000; 160]).unwrap();
        up.process(&loud);
        up.reset();
        assert!(up.process(&Frame8k::silence()).is_silent());
    }
}
