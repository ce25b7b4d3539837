//! [`Endpointer`]: where an utterance starts and ends.
//!
//! ```text
//!            Speech                 min_speech Speech frames
//!   Idle ──────────────▶ Candidate ──────────────────────────▶ InSpeech ── emits SpeechStart
//!    ▲                      │  more than max_gap                  │
//!    │◀─────────────────────┘  non-speech frames in a row         │
//!    │                                                            │ end_silence frames since the
//!    │◀───────────────────────────────────────────────────────────┘ last Speech frame, or
//!                        emits SpeechEnd                            max_utterance frames in all
//! ```
//!
//! A frame counts as speech only when the detector says [`Activity::Speech`] for it; hangover
//! frames count as pauses. Every frame is also copied into a ring of the last
//! [`PRE_ROLL_FRAMES`] frames (300 ms), so that when `SpeechStart` is reported — `min_speech`
//! frames after the onset — the frames since (and a little before) the onset can be handed to a
//! recogniser with [`Endpointer::pre_roll`], without allocation.
//!
//! After `SpeechEnd` for the maximum length the endpointer starts afresh: a caller who keeps
//! talking gets a new `SpeechStart` after another `min_speech` frames, so long speech is cut into
//! pieces of at most `max_utterance` frames.

use ivr_media::audio::Frame8k;

use super::{Activity, EnergyVad, Vad};

/// Frames kept in the pre-roll ring: 15 × 20 ms = 300 ms.
pub const PRE_ROLL_FRAMES: usize = 15;

/// Timing of the [`Endpointer`], in 20 ms frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointerConfig {
    /// Speech frames needed before the start is reported, so a cough or a click does not count.
    /// Default 10 (200 ms).
    pub min_speech: u32,
    /// Non-speech frames in a row that abandon a start not yet confirmed. Default 8 (160 ms):
    /// longer than the gap between two syllables, shorter than the gap between two coughs.
    pub max_gap: u32,
    /// Frames without speech after the last speech frame that end the utterance. Default 30
    /// (600 ms): long enough for a pause to think or breathe mid-sentence, short enough that the
    /// engine answers promptly; raise it for slow answers (account numbers), lower it for yes/no.
    pub end_silence: u32,
    /// The longest utterance, onset to end, in frames. Default 750 (15 s).
    pub max_utterance: u32,
}

impl Default for EndpointerConfig {
    fn default() -> Self {
        EndpointerConfig {
            min_speech: 10,
            max_gap: 8,
            end_silence: 30,
            max_utterance: 750,
        }
    }
}

/// Why an utterance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// `end_silence` frames went by without speech.
    Silence,
    /// The utterance reached `max_utterance` frames.
    MaxLength,
}

/// What [`Endpointer::push`] found. Frame numbers count the frames pushed, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointEvent {
    /// An utterance began at `onset_frame` (some frames ago: see [`Endpointer::pre_roll`]).
    SpeechStart {
        /// The first speech frame of the utterance.
        onset_frame: u64,
    },
    /// The utterance that began at `onset_frame` is over.
    SpeechEnd {
        /// The first speech frame of the utterance.
        onset_frame: u64,
        /// The last speech frame of the utterance.
        last_speech_frame: u64,
        /// Why it ended.
        reason: EndReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Candidate { onset: u64, speech: u32, gap: u32 },
    InSpeech { onset: u64, last_speech: u64 },
}

/// Utterance boundaries from a stream of 20 ms frames; generic over the [`Vad`], by default
/// [`EnergyVad`]. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Endpointer<V: Vad = EnergyVad> {
    vad: V,
    config: EndpointerConfig,
    state: State,
    /// Frames pushed so far; the next frame's number.
    frames: u64,
    ring: [Frame8k; PRE_ROLL_FRAMES],
    /// Where the next frame goes in `ring`.
    ring_pos: usize,
    ring_len: usize,
    last_activity: Activity,
}

impl Endpointer<EnergyVad> {
    /// An endpointer over the default detector.
    pub fn new(config: EndpointerConfig) -> Self {
        Endpointer::with_vad(EnergyVad::default(), config)
    }
}

impl<V: Vad> Endpointer<V> {
    /// An endpointer over the given detector.
    pub fn with_vad(vad: V, config: EndpointerConfig) -> Self {
        Endpointer {
            vad,
            config,
            state: State::Idle,
            frames: 0,
            ring: [Frame8k::silence(); PRE_ROLL_FRAMES],
            ring_pos: 0,
            ring_len: 0,
            last_activity: Activity::Silence,
        }
    }

    /// Feeds the next frame; reports a start or an end when this frame decides one.
    pub fn push(&mut self, frame: &Frame8k) -> Option<EndpointEvent> {
        let index = self.frames;
        self.frames += 1;
        self.ring[self.ring_pos] = *frame;
        self.ring_pos = (self.ring_pos + 1) % PRE_ROLL_FRAMES;
        self.ring_len = (self.ring_len + 1).min(PRE_ROLL_FRAMES);

        let activity = self.vad.push(frame);
        self.last_activity = activity;
        let speech = activity == Activity::Speech;
        let c = self.config;
        match self.state {
            State::Idle => {
                if speech {
                    self.state = State::Candidate {
                        onset: index,
                        speech: 0,
                        gap: 0,
                    };
                    return self.confirm(index);
                }
                None
            }
            State::Candidate {
                onset,
                speech: count,
                gap,
            } => {
                if speech {
                    return self.confirm(index);
                }
                self.state = if gap >= c.max_gap {
                    State::Idle
                } else {
                    State::Candidate {
                        onset,
                        speech: count,
                        gap: gap + 1,
                    }
                };
                None
            }
            State::InSpeech { onset, last_speech } => {
                let last_speech = if speech { index } else { last_speech };
                let length = index - onset + 1;
                let reason = if length >= u64::from(c.max_utterance) {
                    Some(EndReason::MaxLength)
                } else if index - last_speech >= u64::from(c.end_silence) {
                    Some(EndReason::Silence)
                } else {
                    None
                };
                match reason {
                    Some(reason) => {
                        self.state = State::Idle;
                        Some(EndpointEvent::SpeechEnd {
                            onset_frame: onset,
                            last_speech_frame: last_speech,
                            reason,
                        })
                    }
                    None => {
                        self.state = State::InSpeech { onset, last_speech };
                        None
                    }
                }
            }
        }
    }

    /// Counts one more speech frame of a candidate; starts the utterance once there are enough.
    fn confirm(&mut self, index: u64) -> Option<EndpointEvent> {
        let State::Candidate { onset, speech, .. } = self.state else {
            return None;
        };
        let speech = speech + 1;
        if speech >= self.config.min_speech {
            self.state = State::InSpeech {
                onset,
                last_speech: index,
            };
            return Some(EndpointEvent::SpeechStart { onset_frame: onset });
        }
        self.state = State::Candidate {
            onset,
            speech,
            gap: 0,
        };
        None
    }

    /// The last frames pushed, oldest first, up to [`PRE_ROLL_FRAMES`] of them, ending with the
    /// latest one. Read it when `SpeechStart` is reported to get the onset of the utterance.
    pub fn pre_roll(&self) -> PreRoll<'_> {
        let start = (self.ring_pos + PRE_ROLL_FRAMES - self.ring_len) % PRE_ROLL_FRAMES;
        PreRoll {
            ring: &self.ring,
            next: start,
            left: self.ring_len,
        }
    }

    /// Whether an utterance is in progress (between `SpeechStart` and `SpeechEnd`).
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::InSpeech { .. })
    }

    /// The detector's verdict on the last frame pushed.
    pub fn last_activity(&self) -> Activity {
        self.last_activity
    }

    /// Frames pushed so far (the number the next frame will get).
    pub fn frames_pushed(&self) -> u64 {
        self.frames
    }

    /// The detector.
    pub fn vad(&self) -> &V {
        &self.vad
    }

    /// The timing in use.
    pub fn config(&self) -> &EndpointerConfig {
        &self.config
    }

    /// Abandons any utterance in progress and empties the pre-roll; the detector keeps what it
    /// learnt of the line (its noise floor) and the frame count goes on.
    pub fn restart(&mut self) {
        self.state = State::Idle;
        self.ring_len = 0;
    }
}

/// The frames of the pre-roll ring, oldest first (see [`Endpointer::pre_roll`]).
#[derive(Debug, Clone)]
pub struct PreRoll<'a> {
    ring: &'a [Frame8k; PRE_ROLL_FRAMES],
    next: usize,
    left: usize,
}

impl<'a> Iterator for PreRoll<'a> {
    type Item = &'a Frame8k;

    fn next(&mut self) -> Option<&'a Frame8k> {
        if self.left == 0 {
            return None;
        }
        let frame = self.ring.get(self.next);
        self.next = (self.next + 1) % PRE_ROLL_FRAMES;
        self.left -= 1;
        frame
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for PreRoll<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A detector that replays a script: `S` speech, `-` silence, `h` hangover.
    struct Scripted(Vec<Activity>, usize);

    impl Scripted {
        fn new(script: &str) -> Self {
            let v = script
                .chars()
                .filter_map(|c| match c {
                    'S' => Some(Activity::Speech),
                    '-' => Some(Activity::Silence),
                    'h' => Some(Activity::Hangover),
                    _ => None,
                })
                .collect();
            Scripted(v, 0)
        }
    }

    impl Vad for Scripted {
        fn push(&mut self, _: &Frame8k) -> Activity {
            let a = self.0.get(self.1).copied().unwrap_or(Activity::Silence);
            self.1 += 1;
            a
        }
        fn reset(&mut self) {
            self.1 = 0;
        }
    }

    fn marked(i: u64) -> Frame8k {
        Frame8k::from_slice_padded(&[i as i16])
    }

    fn run(script: &str, config: EndpointerConfig) -> Vec<(u64, EndpointEvent)> {
        let n = script.chars().filter(|c| !c.is_whitespace()).count() as u64 + 100;
        let mut ep = Endpointer::with_vad(Scripted::new(script), config);
        (0..n)
            .filter_map(|i| ep.push(&marked(i)).map(|e| (i, e)))
            .collect()
    }

    fn small() -> EndpointerConfig {
        EndpointerConfig {
            min_speech: 4,
            max_gap: 2,
            end_silence: 5,
            max_utterance: 20,
        }
    }

    #[test]
    fn start_is_reported_after_min_speech_frames_with_the_onset_frame() {
        let events = run("--- SS-SS", small());
        assert_eq!(
            events[0],
            (7, EndpointEvent::SpeechStart { onset_frame: 3 })
        );
        assert_eq!(
            events[1],
            (
                12,
                EndpointEvent::SpeechEnd {
                    onset_frame: 3,
                    last_speech_frame: 7,
                    reason: EndReason::Silence
                }
            )
        );
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn a_short_burst_followed_by_a_long_gap_is_not_speech() {
        assert!(run("-- SSS hhh --- SSS ---", small()).is_empty());
    }

    #[test]
    fn hangover_frames_count_as_pause_for_the_end() {
        let events = run("SSSS hhhhhhhh", small());
        assert_eq!(
            events[1],
            (
                8,
                EndpointEvent::SpeechEnd {
                    onset_frame: 0,
                    last_speech_frame: 3,
                    reason: EndReason::Silence
                }
            )
        );
    }

    #[test]
    fn long_speech_is_cut_at_max_utterance_and_restarts() {
        let script = "S".repeat(30);
        let events = run(&script, small());
        assert_eq!(
            events[0],
            (3, EndpointEvent::SpeechStart { onset_frame: 0 })
        );
        assert_eq!(
            events[1],
            (
                19,
                EndpointEvent::SpeechEnd {
                    onset_frame: 0,
                    last_speech_frame: 19,
                    reason: EndReason::MaxLength
                }
            )
        );
        assert_eq!(
            events[2],
            (23, EndpointEvent::SpeechStart { onset_frame: 20 })
        );
    }

    #[test]
    fn pre_roll_holds_the_last_frames_oldest_first() {
        let mut ep = Endpointer::with_vad(Scripted::new(""), small());
        assert_eq!(ep.pre_roll().count(), 0);
        for i in 0..4 {
            ep.push(&marked(i));
        }
        let got: Vec<i16> = ep.pre_roll().map(|f| f.samples()[0]).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        for i in 4..40 {
            ep.push(&marked(i));
        }
        let got: Vec<i16> = ep.pre_roll().map(|f| f.samples()[0]).collect();
        assert_eq!(got, (25..40).collect::<Vec<i16>>());
        assert_eq!(ep.pre_roll().len(), PRE_ROLL_FRAMES);
    }
}
