//! Call recordings: a stereo 8 kHz 16-bit WAV with the caller on the left channel and the
//! engine (prompts, TTS, agent) on the right.
//!
//! The recorder knows no clock. The call's media tick drives it once per 20 ms with whatever
//! frame each side produced in that tick ([`StereoRecorder::tick`]); a side with nothing to say
//! is written as silence, so the two channels stay aligned however bursty either side is.
//! Writes go through a buffered writer, so a tick costs a memory copy and an occasional `write`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::frame::{Frame8k, Hz8000, SampleRate, FRAME_DURATION};

/// Why a recording could not be written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The file could not be created (missing directory, permissions, full disk).
    #[error("cannot create recording {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// What the WAV writer reported.
        #[source]
        source: hound::Error,
    },
    /// Writing samples or finishing the header failed.
    #[error("cannot write recording {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the WAV writer reported.
        #[source]
        source: hound::Error,
    },
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The WAV file.
    pub path: PathBuf,
    /// Stereo 20 ms frames written.
    pub frames: u64,
    /// The length of the recording.
    pub duration: Duration,
}

/// Writes a stereo call recording; see the [module docs](self).
pub struct StereoRecorder {
    writer: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    frames: u64,
    pending_caller: Option<Frame8k>,
    pending_engine: Option<Frame8k>,
}

impl StereoRecorder {
    /// Creates (or truncates) the WAV file at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<StereoRecorder, RecorderError> {
        let path = path.as_ref().to_path_buf();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: Hz8000::HZ,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer =
            hound::WavWriter::create(&path, spec).map_err(|source| RecorderError::Create {
                path: path.clone(),
                source,
            })?;
        Ok(StereoRecorder {
            writer,
            path,
            frames: 0,
            pending_caller: None,
            pending_engine: None,
        })
    }

    /// Writes one 20 ms tick: the caller's frame on the left, the engine's on the right, and
    /// silence for a side that has none.
    pub fn tick(
        &mut self,
        caller: Option<&Frame8k>,
        engine: Option<&Frame8k>,
    ) -> Result<(), RecorderError> {
        const N: usize = Hz8000::FRAME_SAMPLES;
        let silence = Frame8k::silence();
        let left = caller.unwrap_or(&silence).samples();
        let right = engine.unwrap_or(&silence).samples();
        let mut out = self.writer.get_i16_writer(2 * N as u32);
        for (&l, &r) in left.iter().zip(right) {
            out.write_sample(l);
            out.write_sample(r);
        }
        out.flush().map_err(|source| RecorderError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.frames += 1;
        Ok(())
    }

    /// Queues the caller's next frame. Frames from the two sides are paired by order: when the
    /// caller already has a frame waiting, that tick is written first with whatever the engine
    /// has (or silence). Prefer [`tick`](Self::tick) when both sides are known at once.
    pub fn push_caller(&mut self, frame: &Frame8k) -> Result<(), RecorderError> {
        if self.pending_caller.is_some() {
            self.flush_pending()?;
        }
        self.pending_caller = Some(*frame);
        if self.pending_engine.is_some() {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Queues the engine's next frame; the mirror of [`push_caller`](Self::push_caller).
    pub fn push_engine(&mut self, frame: &Frame8k) -> Result<(), RecorderError> {
        if self.pending_engine.is_some() {
            self.flush_pending()?;
        }
        self.pending_engine = Some(*frame);
        if self.pending_caller.is_some() {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Stereo frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes any queued frame, completes the WAV header and closes the file.
    pub fn finish(mut self) -> Result<RecordingInfo, RecorderError> {
        if self.pending_caller.is_some() || self.pending_engine.is_some() {
            self.flush_pending()?;
        }
        let StereoRecorder {
            writer,
            path,
            frames,
            ..
        } = self;
        writer.finalize().map_err(|source| RecorderError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(RecordingInfo {
            path,
            frames,
            duration: FRAME_DURATION * frames as u32,
        })
    }

    fn flush_pending(&mut self) -> Result<(), RecorderError> {
        let caller = self.pending_caller.take();
        let engine = self.pending_engine.take();
        self.tick(caller.as_ref(), engine.as_ref())
    }
}

impl std::fmt::Debug for StereoRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StereoRecorder")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::wav::tests::TempPath;

    fn frame(v: i16) -> Frame8k {
        Frame8k::from_slice(&[v; 160]).unwrap()
    }

    fn read(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        let s = r.samples::<i16>().map(Result::unwrap).collect();
        (spec, s)
    }

    #[test]
    fn ticks_write_caller_left_and_engine_right() {
        let tmp = TempPath::new("rec-lr.wav");
        let mut rec = StereoRecorder::create(&tmp.0).unwrap();
        rec.tick(Some(&frame(100)), Some(&frame(-200))).unwrap();
        rec.tick(Some(&frame(5)), None).unwrap();
        rec.tick(None, Some(&frame(9))).unwrap();
        rec.tick(None, None).unwrap();
        let info = rec.finish().unwrap();
        assert_eq!(info.frames, 4);
        assert_eq!(info.duration, Duration::from_millis(80));
        assert_eq!(info.path, tmp.0);

        let (spec, s) = read(&tmp.0);
        assert_eq!(spec.channels, 2);
        assert_eq!(spec.sample_rate, 8000);
        assert_eq!(spec.bits_per_sample, 16);
        assert_eq!(s.len(), 4 * 320);
        assert_eq!(&s[..4], &[100, -200, 100, -200]);
        assert_eq!(&s[320..322], &[5, 0]);
        assert_eq!(&s[640..642], &[0, 9]);
        assert!(s[960..].iter().all(|&x| x == 0));
    }

    #[test]
    fn pushes_are_paired_by_order_and_a_missing_side_is_silence() {
        let tmp = TempPath::new("rec-push.wav");
        let mut rec = StereoRecorder::create(&tmp.0).unwrap();
        rec.push_caller(&frame(1)).unwrap();
        rec.push_engine(&frame(2)).unwrap(); // tick 0: (1, 2)
        rec.push_engine(&frame(3)).unwrap();
        rec.push_caller(&frame(4)).unwrap(); // tick 1: (4, 3)
        rec.push_caller(&frame(5)).unwrap();
        rec.push_caller(&frame(6)).unwrap(); // tick 2: (5, silence)
        let info = rec.finish().unwrap(); // tick 3: (6, silence)
        assert_eq!(info.frames, 4);
        let (_, s) = read(&tmp.0);
        let tick = |i: usize| (s[i * 320], s[i * 320 + 1]);
        assert_eq!(tick(0), (1, 2));
        assert_eq!(tick(1), (4, 3));
        assert_eq!(tick(2), (5, 0));
        assert_eq!(tick(3), (6, 0));
    }

    #[test]
    fn creating_in_a_missing_directory_fails_naming_the_path() {
        let path = std::env::temp_dir().join("ivr-media-no-such-dir/x/rec.wav");
        let err = StereoRecorder::create(&path).unwrap_err();
        assert!(matches!(err, RecorderError::Create { .. }));
        assert!(err.to_string().contains("ivr-media-no-such-dir"));
    }

    #[test]
    fn a_long_recording_keeps_its_length() {
        let tmp = TempPath::new("rec-long.wav");
        let mut rec = StereoRecorder::create(&tmp.0).unwrap();
        for i in 0..500 {
            rec.tick(Some(&frame(i as i16)), Some(&frame(-(i as i16))))
                .unwrap();
        }
        assert_eq!(rec.frames(), 500);
        let info = rec.finish().unwrap();
        assert_eq!(info.duration, Duration::from_secs(10));
        let (_, s) = read(&tmp.0);
        assert_eq!(s.len(), 500 * 320);
        assert_eq!((s[499 * 320], s[499 * 320 + 1]), (499, -499));
    }
}
