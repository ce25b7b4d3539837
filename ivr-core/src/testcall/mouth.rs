//! [`Mouth`]: what the caller sends, one 20 ms tick at a time.
//!
//! Steps are queued as sounds: audio samples (synthesised speech, a WAV file, in-band DTMF
//! tones), RFC 4733 digits, or pauses. [`Mouth::next_tick`] yields what the current tick carries:
//! an audio frame, a telephone-event payload, or nothing (the shell then sends silence, so the
//! media stream never stops). Sans-IO: no clock, no sockets.

use std::collections::VecDeque;

use ivr_media::audio::Frame8k;
use ivr_media::dtmf::{generate_tone, Rfc4733Sender};

/// Length of one key press.
pub const DIGIT_MS: u32 = 100;
/// Silence after each key press.
pub const DIGIT_GAP_MS: u32 = 100;
/// Level of in-band tones: each of the two sines at this peak (about -12 dBm0 each).
const TONE_AMPLITUDE: i16 = 6000;
/// RFC 4733 volume field: 10 dBm0 below full power.
const EVENT_VOLUME: u8 = 10;

/// Samples in a 20 ms frame at 8 kHz.
const FRAME: usize = 160;

#[derive(Debug)]
enum Sound {
    Samples { samples: Vec<i16>, pos: usize },
    Digit(Rfc4733Sender),
    Pause { frames: u32 },
}

/// What one tick carries (by value: one per 20 ms, never allocated).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// Audio.
    Audio(Frame8k),
    /// An RFC 4733 telephone-event packet payload.
    Event {
        /// The 4-byte payload.
        payload: [u8; 4],
        /// The first packet of the event (marker bit; a new RTP timestamp).
        first: bool,
    },
    /// Nothing queued, or a pause: silence.
    Silence,
}

/// The caller's outgoing sounds. See the [module documentation](self).
#[derive(Debug)]
pub struct Mouth {
    queue: VecDeque<Sound>,
    rfc4733: bool,
}

impl Mouth {
    /// Sends digits as RFC 4733 events when `rfc4733`, else as in-band tones.
    pub fn new(rfc4733: bool) -> Mouth {
        Mouth {
            queue: VecDeque::new(),
            rfc4733,
        }
    }

    /// Whether digits go as RFC 4733 events.
    pub fn sends_events(&self) -> bool {
        self.rfc4733
    }

    /// Queues 8 kHz audio.
    pub fn say(&mut self, samples: Vec<i16>) {
        if !samples.is_empty() {
            self.queue.push_back(Sound::Samples { samples, pos: 0 });
        }
    }

    /// Queues key presses, each [`DIGIT_MS`] long and followed by [`DIGIT_GAP_MS`] of silence.
    /// Characters that are not DTMF keys are skipped.
    pub fn press(&mut self, digits: &str) {
        for d in digits.chars() {
            if self.rfc4733 {
                if let Some(sender) = Rfc4733Sender::new(d, DIGIT_MS, EVENT_VOLUME) {
                    self.queue.push_back(Sound::Digit(sender));
                    self.pause_ms(DIGIT_GAP_MS);
                }
            } else {
                let tone = generate_tone(d, DIGIT_MS, TONE_AMPLITUDE);
                if !tone.is_empty() {
                    self.say(tone);
                    self.pause_ms(DIGIT_GAP_MS);
                }
            }
        }
    }

    /// Queues a pause of `ms` (rounded up to whole frames).
    pub fn pause_ms(&mut self, ms: u32) {
        let frames = ms.div_ceil(20);
        if frames > 0 {
            self.queue.push_back(Sound::Pause { frames });
        }
    }

    /// Whether anything is queued.
    pub fn is_busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// What this tick carries.
    pub fn next_tick(&mut self) -> Out {
        while self.queue.front().is_some_and(Sound::is_done) {
            self.queue.pop_front();
        }
        let Some(front) = self.queue.front_mut() else {
            return Out::Silence;
        };
        let out = match front {
            Sound::Samples { samples, pos } => {
                let rest = samples.get(*pos..).unwrap_or_default();
                let n = rest.len().min(FRAME);
                *pos += n;
                Out::Audio(Frame8k::from_slice_padded(
                    rest.get(..n).unwrap_or_default(),
                ))
            }
            Sound::Digit(sender) => {
                let mut payload = [0u8; 4];
                match sender.next_packet(&mut payload) {
                    Some((first, _end)) => Out::Event { payload, first },
                    None => Out::Silence,
                }
            }
            Sound::Pause { frames } => {
                *frames = frames.saturating_sub(1);
                Out::Silence
            }
        };
        // Drop what is finished now, so `is_busy` turns false with the last frame.
        if self.queue.front().is_some_and(Sound::is_done) {
            self.queue.pop_front();
        }
        out
    }
}

impl Sound {
    fn is_done(&self) -> bool {
        match self {
            Sound::Samples { samples, pos } => *pos >= samples.len(),
            Sound::Digit(sender) => sender.is_done(),
            Sound::Pause { frames } => *frames == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivr_media::audio::Frame8k;
    use ivr_media::dtmf::InbandDetector;
    use std::time::{Duration, Instant};

    fn drain(mouth: &mut Mouth) -> Vec<Out> {
        let mut out = Vec::new();
        while mouth.is_busy() {
            out.push(mouth.next_tick());
            assert!(out.len() < 10_000, "the mouth never runs dry");
        }
        out
    }

    #[test]
    fn audio_is_cut_into_frames_with_the_last_one_padded() {
        let mut mouth = Mouth::new(true);
        mouth.say((1..=400).collect());
        let out = drain(&mut mouth);
        assert_eq!(out.len(), 3);
        let Out::Audio(last) = out[2] else {
            panic!("{out:?}")
        };
        assert_eq!(last.samples()[79], 400);
        assert_eq!(last.samples()[80], 0);
        assert_eq!(mouth.next_tick(), Out::Silence);
    }

    #[test]
    fn rfc4733_digits_are_events_with_a_start_an_end_and_a_gap() {
        let mut mouth = Mouth::new(true);
        mouth.press("1#");
        let out = drain(&mut mouth);
        let events: Vec<(u8, bool, bool)> = out
            .iter()
            .filter_map(|o| match o {
                Out::Event { payload, first } => Some((payload[0], *first, payload[1] & 0x80 != 0)),
                _ => None,
            })
            .collect();
        // 100 ms: four updates and the end sent three times, per key.
        assert_eq!(events.len(), 14, "{events:?}");
        assert_eq!(events[0], (1, true, false));
        assert_eq!(events[6], (1, false, true));
        assert_eq!(events[7], (11, true, false));
        // 100 ms of silence after each key.
        assert_eq!(out.len(), 14 + 10);
        assert_eq!(out[7..12], [Out::Silence; 5]);
    }

    #[test]
    fn in_band_digits_are_tones_the_engine_detector_hears() {
        let mut mouth = Mouth::new(false);
        mouth.press("58");
        let mut detector = InbandDetector::new();
        let start = Instant::now();
        let mut heard = String::new();
        let mut frames = drain(&mut mouth);
        frames.extend(std::iter::repeat_n(Out::Silence, 10));
        for (i, o) in frames.iter().enumerate() {
            let frame = match o {
                Out::Audio(f) => *f,
                Out::Silence => Frame8k::silence(),
                Out::Event { .. } => panic!("an event with in-band DTMF"),
            };
            let now = start + Duration::from_millis(20 * i as u64);
            if let Some(d) = detector.push(now, &frame) {
                heard.push(d.digit);
            }
        }
        assert_eq!(heard, "58");
    }

    #[test]
    fn characters_that_are_not_keys_are_skipped() {
        let mut mouth = Mouth::new(false);
        mouth.press("x");
        assert!(!mouth.is_busy());
    }
}
