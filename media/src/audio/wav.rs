//! Prompts: recorded audio loaded once from WAV files and played out as 8 kHz frames.
//!
//! [`Prompt::load`] accepts 16-bit PCM WAV at any sample rate, mono or multi-channel (channels
//! are averaged), and resamples it once to 8 kHz. [`EncodedPrompt`] goes one step further and
//! holds the prompt already encoded as PCMU and PCMA, so playing it out costs one slice copy per
//! packet.
//!
//! Both are cheap to clone (the samples sit behind an [`Arc`]), so one loaded prompt serves
//! every call that plays it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::frame::{Frame8k, Hz8000, SampleRate, FRAME_DURATION};
use super::resample::resample;
use crate::codec::g711::{self, G711};

/// Why a WAV prompt could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The file could not be opened or is not a well-formed WAV file.
    #[error("cannot read WAV file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the WAV reader reported.
        #[source]
        source: hound::Error,
    },
    /// The file holds samples other than 16-bit integer PCM.
    #[error(
        "{}: prompts must be 16-bit PCM WAV, this file is {bits}-bit {format}; \
         convert it, e.g. `sox in.wav -b 16 -e signed-integer out.wav`",
        path.display()
    )]
    NotPcm16 {
        /// The file.
        path: PathBuf,
        /// Bits per sample found in the header.
        bits: u16,
        /// `"integer PCM"` or `"floating point"`.
        format: &'static str,
    },
    /// The header's sample rate is outside 1 kHz–384 kHz.
    #[error("{}: unsupported sample rate {rate} Hz", path.display())]
    UnsupportedRate {
        /// The file.
        path: PathBuf,
        /// The rate in the header.
        rate: u32,
    },
    /// The file has a valid header but no samples.
    #[error("{}: the WAV file holds no audio", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// A prompt: mono 16-bit PCM at 8 kHz, shared between calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Arc<[i16]>,
}

impl Prompt {
    /// Loads a 16-bit PCM WAV file of any rate and channel count, downmixing to mono and
    /// resampling to 8 kHz.
    pub fn load(path: &Path) -> Result<Prompt, WavError> {
        let unreadable = |source| WavError::Unreadable {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = hound::WavReader::open(path).map_err(unreadable)?;
        let spec = reader.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Err(WavError::NotPcm16 {
                path: path.to_path_buf(),
                bits: spec.bits_per_sample,
                format: match spec.sample_format {
                    hound::SampleFormat::Int => "integer PCM",
                    hound::SampleFormat::Float => "floating point",
                },
            });
        }
        if !(1000..=384_000).contains(&spec.sample_rate) {
            return Err(WavError::UnsupportedRate {
                path: path.to_path_buf(),
                rate: spec.sample_rate,
            });
        }
        let channels = spec.channels.max(1) as usize;
        let mut mono = Vec::with_capacity(reader.duration() as usize);
        let mut acc = 0i32;
        let mut n = 0usize;
        for sample in reader.samples::<i16>() {
            acc += sample.map_err(unreadable)? as i32;
            n += 1;
            if n == channels {
                // The mean of `channels` i16 values is itself in i16 range.
                mono.push((acc / channels as i32) as i16);
                acc = 0;
                n = 0;
            }
        }
        if mono.is_empty() {
            return Err(WavError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Prompt::from_samples(mono, spec.sample_rate))
    }

    /// A prompt from mono samples at `rate_hz`, resampled to 8 kHz if needed.
    pub fn from_samples(samples: Vec<i16>, rate_hz: u32) -> Prompt {
        let samples = if rate_hz == Hz8000::HZ {
            samples
        } else {
            resample(&samples, rate_hz, Hz8000::HZ)
        };
        Prompt {
            samples: samples.into(),
        }
    }

    /// The 8 kHz samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The number of 20 ms frames, counting a final partial frame.
    pub fn len_frames(&self) -> usize {
        self.samples.len().div_ceil(Hz8000::FRAME_SAMPLES)
    }

    /// The playing time, rounded up to whole frames.
    pub fn duration(&self) -> Duration {
        FRAME_DURATION * self.len_frames() as u32
    }

    /// Frame `index`, the last one padded with silence; `None` past the end.
    pub fn frame(&self, index: usize) -> Option<Frame8k> {
        let start = index.checked_mul(Hz8000::FRAME_SAMPLES)?;
        let rest = self.samples.get(start..)?;
        if rest.is_empty() {
            return None;
        }
        Some(Frame8k::from_slice_padded(rest))
    }

    /// The frames in order. The iterator owns a reference to the samples, so a call can keep it
    /// as its play-out position.
    pub fn frames(&self) -> PromptFrames {
        PromptFrames {
            prompt: self.clone(),
            next: 0,
        }
    }
}

/// Iterator over a [`Prompt`]'s frames; see [`Prompt::frames`].
#[derive(Debug, Clone)]
pub struct PromptFrames {
    prompt: Prompt,
    next: usize,
}

impl PromptFrames {
    /// The index of the frame the next call to `next` returns.
    pub fn position(&self) -> usize {
        self.next
    }
}

impl Iterator for PromptFrames {
    type Item = Frame8k;

    fn next(&mut self) -> Option<Frame8k> {
        let frame = self.prompt.frame(self.next)?;
        self.next += 1;
        Some(frame)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.prompt.len_frames().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for PromptFrames {}

/// A prompt encoded once as both PCMU and PCMA, padded to whole 160-byte frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPrompt {
    pcmu: Arc<[u8]>,
    pcma: Arc<[u8]>,
}

impl EncodedPrompt {
    /// Encodes `prompt` in both laws; the last frame is padded with the silence code.
    pub fn new(prompt: &Prompt) -> EncodedPrompt {
        let len = prompt.len_frames() * Hz8000::FRAME_SAMPLES;
        let encode = |codec: G711| -> Arc<[u8]> {
            let mut out = vec![codec.silence(); len];
            g711::encode(codec, prompt.samples(), &mut out);
            out.into()
        };
        EncodedPrompt {
            pcmu: encode(G711::Pcmu),
            pcma: encode(G711::Pcma),
        }
    }

    /// The 160 payload bytes of frame `index` in `codec`; `None` past the end.
    pub fn frame(&self, codec: G711, index: usize) -> Option<&[u8]> {
        let bytes = match codec {
            G711::Pcmu => &self.pcmu,
            G711::Pcma => &self.pcma,
        };
        let start = index.checked_mul(Hz8000::FRAME_SAMPLES)?;
        bytes.get(start..start.checked_add(Hz8000::FRAME_SAMPLES)?)
    }

    /// The number of frames.
    pub fn len_frames(&self) -> usize {
        self.pcmu.len() / Hz8000::FRAME_SAMPLES
    }
}

impl From<&Prompt> for EncodedPrompt {
    fn from(prompt: &Prompt) -> Self {
        EncodedPrompt::new(prompt)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audio::resample::tests::sine;

    /// A unique path in the temporary directory; the file is removed on drop.
    pub(crate) struct TempPath(pub PathBuf);

    impl TempPath {
        pub(crate) fn new(name: &str) -> TempPath {
            TempPath(std::env::temp_dir().join(format!("ivr-media-{}-{name}", std::process::id())))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn write_wav(path: &Path, rate: u32, channels: u16, bits: u16, samples: &[i32]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            match bits {
                8 => w.write_sample(s as i8).unwrap(),
                16 => w.write_sample(s as i16).unwrap(),
                _ => w.write_sample(s).unwrap(),
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn loads_8k_mono_unchanged() {
        let tmp = TempPath::new("mono8k.wav");
        let samples: Vec<i32> = (0..400).map(|i| i * 10 - 2000).collect();
        write_wav(&tmp.0, 8000, 1, 16, &samples);
        let p = Prompt::load(&tmp.0).unwrap();
        assert_eq!(p.samples().len(), 400);
        assert_eq!(p.samples()[0], -2000);
        assert_eq!(p.samples()[399], 1990);
    }

    #[test]
    fn stereo_is_downmixed_to_the_mean_of_the_channels() {
        let tmp = TempPath::new("stereo.wav");
        write_wav(&tmp.0, 8000, 2, 16, &[1000, 3000, -100, -300, 32767, 32767]);
        let p = Prompt::load(&tmp.0).unwrap();
        assert_eq!(p.samples(), &[2000, -200, 32767]);
    }

    #[test]
    fn other_rates_are_resampled_once_to_8k() {
        let tmp = TempPath::new("22k.wav");
        let tone: Vec<i32> = sine(440.0, 22050, 1.0, 8000.0)
            .into_iter()
            .map(i32::from)
            .collect();
        write_wav(&tmp.0, 22050, 1, 16, &tone);
        let p = Prompt::load(&tmp.0).unwrap();
        assert_eq!(p.samples().len(), 8000);
        assert_eq!(p.len_frames(), 50);
        assert_eq!(p.duration(), Duration::from_secs(1));
    }

    #[test]
    fn eight_bit_files_are_rejected_naming_the_path() {
        let tmp = TempPath::new("8bit.wav");
        write_wav(&tmp.0, 8000, 1, 8, &[1, 2, 3]);
        let err = Prompt::load(&tmp.0).unwrap_err();
        assert!(matches!(err, WavError::NotPcm16 { bits: 8, .. }));
        let msg = err.to_string();
        assert!(msg.contains(&*tmp.0.to_string_lossy()), "{msg}");
        assert!(msg.contains("16-bit"), "{msg}");
    }

    #[test]
    fn absurd_sample_rates_are_rejected() {
        let tmp = TempPath::new("rate.wav");
        write_wav(&tmp.0, 500, 1, 16, &[1, 2, 3]);
        assert!(matches!(
            Prompt::load(&tmp.0),
            Err(WavError::UnsupportedRate { rate: 500, .. })
        ));
    }

    #[test]
    fn empty_files_are_rejected() {
        let tmp = TempPath::new("empty.wav");
        write_wav(&tmp.0, 8000, 1, 16, &[]);
        assert!(matches!(Prompt::load(&tmp.0), Err(WavError::Empty { .. })));
    }

    #[test]
    fn missing_and_garbage_files_are_unreadable() {
        let missing = TempPath::new("does-not-exist.wav");
        let err = Prompt::load(&missing.0).unwrap_err();
        assert!(matches!(err, WavError::Unreadable { .. }));
        assert!(err.to_string().contains("does-not-exist.wav"));

        let garbage = TempPath::new("garbage.wav");
        std::fs::write(&garbage.0, b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
        assert!(matches!(
            Prompt::load(&garbage.0),
            Err(WavError::Unreadable { .. })
        ));
    }

    #[test]
    fn frames_cover_the_prompt_and_pad_the_last_one() {
        let p = Prompt::from_samples(vec![7; 350], 8000);
        assert_eq!(p.len_frames(), 3);
        let frames: Vec<Frame8k> = p.frames().collect();
        assert_eq!(frames.len(), 3);
        assert!(frames[1].samples().iter().all(|&s| s == 7));
        assert!(frames[2].samples()[..30].iter().all(|&s| s == 7));
        assert!(frames[2].samples()[30..].iter().all(|&s| s == 0));
        assert_eq!(p.frames().len(), 3);
        assert!(p.frame(3).is_none());
        assert!(p.frame(usize::MAX).is_none());
    }

    #[test]
    fn frames_iterator_reports_its_position() {
        let p = Prompt::from_samples(vec![1; 480], 8000);
        let mut it = p.frames();
        it.next();
        assert_eq!(it.position(), 1);
        assert_eq!(it.len(), 2);
    }

    #[test]
    fn encoded_prompt_frames_match_encoding_frames_at_runtime() {
        let samples = sine(700.0, 8000, 0.05, 9000.0); // 400 samples: 2.5 frames
        let p = Prompt::from_samples(samples, 8000);
        let enc = EncodedPrompt::new(&p);
        assert_eq!(enc.len_frames(), 3);
        for codec in [G711::Pcmu, G711::Pcma] {
            for (i, frame) in p.frames().enumerate() {
                let mut expect = [0u8; 160];
                g711::encode(codec, frame.samples(), &mut expect);
                assert_eq!(enc.frame(codec, i).unwrap(), &expect[..]);
            }
            let last = enc.frame(codec, 2).unwrap();
            assert!(last[80..].iter().all(|&b| b == codec.silence()));
            assert!(enc.frame(codec, 3).is_none());
            assert!(enc.frame(codec, usize::MAX).is_none());
        }
    }
}
