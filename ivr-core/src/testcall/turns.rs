//! [`Turns`]: whose turn it is, from the IVR's audio alone.
//!
//! Every 20 ms frame the far end sends goes through [`Turns::push`]. An [`Endpointer`] with a
//! long end-of-speech silence (1.2 s by default, so the pauses between the sentences of one
//! prompt do not split it) cuts the IVR's audio into utterances; each start and end is reported
//! so the shell can feed the utterance to a recogniser. On top of that the caller's side is
//! either *acting* (playing a step) or *listening*; while listening, the turn passes back to
//! the caller when:
//!
//! ```text
//!   listening (need speech) ── an utterance ends (1.2 s of silence) ───────────▶ TurnOver::Silence
//!   listening (after a wait) ─ the IVR is not talking ─────────────────────────▶ TurnOver::Quiet
//!   listening (any) ────────── max_wait frames since the turn began ──────────▶ TurnOver::MaxWait
//! ```
//!
//! Utterances are tracked whatever the phase, so a reply the IVR starts while the caller is
//! still talking is heard whole. Time is counted in frames; there is no clock inside.

use std::time::Duration;

use ivr_media::audio::{Frame8k, FRAME_DURATION};
use ivr_speech::vad::{EndpointEvent, Endpointer, EndpointerConfig, PreRoll};

/// Timing of [`Turns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnConfig {
    /// Silence after speech that ends the IVR's prompt. Default 1.2 s.
    pub end_silence: Duration,
    /// The longest the caller waits for the IVR in one turn. Default 30 s.
    pub max_wait: Duration,
    /// Speech needed before an utterance counts (a click or a beep does not). Default 200 ms.
    pub min_speech: Duration,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            end_silence: Duration::from_millis(1200),
            max_wait: Duration::from_secs(30),
            min_speech: Duration::from_millis(200),
        }
    }
}

/// A start or end of an IVR utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utterance {
    /// The IVR started talking; the frames since the onset are in [`Turns::pre_roll`].
    Started,
    /// The IVR stopped talking.
    Ended {
        /// From the first to the last speech frame.
        speech: Duration,
    },
}

/// Why the caller's turn came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnOver {
    /// The IVR spoke and then was silent for `end_silence`.
    Silence,
    /// The IVR was not talking when the caller's wait ended.
    Quiet,
    /// The IVR took longer than `max_wait` (it may still be talking, or never spoke).
    MaxWait {
        /// Whether the IVR is talking at this moment.
        talking: bool,
    },
}

/// What one frame decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// An utterance started or ended on this frame.
    pub utterance: Option<Utterance>,
    /// The caller's turn came on this frame (the phase is now acting).
    pub turn_over: Option<TurnOver>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Acting,
    Listening { since: u64, need_speech: bool },
}

/// Turn-taking on the IVR's 20 ms frames. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Turns {
    endpointer: Endpointer,
    phase: Phase,
    max_wait_frames: u64,
}

fn frames(d: Duration) -> u64 {
    (d.as_millis() / FRAME_DURATION.as_millis()).max(1) as u64
}

impl Turns {
    /// Starts listening (the IVR speaks first).
    pub fn new(config: TurnConfig) -> Turns {
        let ep = EndpointerConfig {
            min_speech: frames(config.min_speech).min(u32::MAX as u64) as u32,
            end_silence: frames(config.end_silence).min(u32::MAX as u64) as u32,
            // Long prompts stay one utterance; the turn's own limit applies first.
            max_utterance: (frames(config.max_wait) * 2).min(u32::MAX as u64) as u32,
            ..EndpointerConfig::default()
        };
        Turns {
            endpointer: Endpointer::new(ep),
            phase: Phase::Listening {
                since: 0,
                need_speech: true,
            },
            max_wait_frames: frames(config.max_wait),
        }
    }

    /// Feeds the IVR's next frame.
    pub fn push(&mut self, frame: &Frame8k) -> Tick {
        let index = self.endpointer.frames_pushed();
        let mut tick = Tick::default();
        let mut ended = false;
        match self.endpointer.push(frame) {
            Some(EndpointEvent::SpeechStart { .. }) => tick.utterance = Some(Utterance::Started),
            Some(EndpointEvent::SpeechEnd {
                onset_frame,
                last_speech_frame,
                ..
            }) => {
                let n = last_speech_frame.saturating_sub(onset_frame) + 1;
                tick.utterance = Some(Utterance::Ended {
                    speech: FRAME_DURATION * n.min(u32::MAX as u64) as u32,
                });
                ended = true;
            }
            None => {}
        }
        if let Phase::Listening { since, need_speech } = self.phase {
            let talking = self.endpointer.in_speech();
            tick.turn_over = if need_speech && ended {
                Some(TurnOver::Silence)
            } else if !need_speech && !talking {
                Some(TurnOver::Quiet)
            } else if index + 1 - since >= self.max_wait_frames {
                Some(TurnOver::MaxWait { talking })
            } else {
                None
            };
            if tick.turn_over.is_some() {
                self.phase = Phase::Acting;
            }
        }
        tick
    }

    /// The caller finished its step: wait for the IVR's reply (`need_speech`), or only until
    /// the IVR is not talking (after a deliberate wait, when its reply may be over already).
    pub fn listen(&mut self, need_speech: bool) {
        self.phase = Phase::Listening {
            since: self.endpointer.frames_pushed(),
            need_speech,
        };
    }

    /// Whether the caller is waiting for the IVR.
    pub fn is_listening(&self) -> bool {
        matches!(self.phase, Phase::Listening { .. })
    }

    /// Whether the IVR is talking (an utterance started and has not ended).
    pub fn ivr_talking(&self) -> bool {
        self.endpointer.in_speech()
    }

    /// The frames up to this one since shortly before the current utterance's onset; read it
    /// on [`Utterance::Started`].
    pub fn pre_roll(&self) -> PreRoll<'_> {
        self.endpointer.pre_roll()
    }

    /// Time since the call's media started, in frames.
    pub fn frames_pushed(&self) -> u64 {
        self.endpointer.frames_pushed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Voiced, speech-like sound: harmonics of 150 Hz whose loudness rises and falls five
    /// times a second (syllables), peaking near -12 dBov. A steady tone would not do: the
    /// detector learns a stationary sound as noise within a third of a second.
    fn voiced(i: usize) -> Frame8k {
        let mut f = Frame8k::silence();
        for (n, s) in f.samples_mut().iter_mut().enumerate() {
            let t = (i * 160 + n) as f64 / 8000.0;
            let tau = 2.0 * std::f64::consts::PI;
            let envelope = 0.6 + 0.4 * (tau * 5.0 * t).sin();
            let v = 4000.0 * (tau * 150.0 * t).sin()
                + 3000.0 * (tau * 300.0 * t).sin()
                + 1500.0 * (tau * 450.0 * t).sin();
            *s = (envelope * v) as i16;
        }
        f
    }

    /// Low noise, well under speech.
    fn quiet(i: usize) -> Frame8k {
        let mut f = Frame8k::silence();
        for (n, s) in f.samples_mut().iter_mut().enumerate() {
            *s = (((i * 160 + n) * 7919 % 13) as i16) - 6;
        }
        f
    }

    /// Feeds `script` (`S` = 20 ms of speech, `-` = 20 ms of quiet) and returns every non-empty
    /// tick with its frame index.
    fn run(turns: &mut Turns, script: &str, start: usize) -> Vec<(usize, Tick)> {
        script
            .chars()
            .filter(|c| *c == 'S' || *c == '-')
            .enumerate()
            .filter_map(|(k, c)| {
                let i = start + k;
                let frame = if c == 'S' { voiced(i) } else { quiet(i) };
                let tick = turns.push(&frame);
                (tick != Tick::default()).then_some((i, tick))
            })
            .collect()
    }

    fn repeat(c: char, n: usize) -> String {
        std::iter::repeat_n(c, n).collect()
    }

    #[test]
    fn a_prompt_ends_after_speech_and_one_point_two_seconds_of_silence() {
        let mut turns = Turns::new(TurnConfig::default());
        // 0.4 s quiet, 2 s prompt, 2 s quiet.
        let script = repeat('-', 20) + &repeat('S', 100) + &repeat('-', 100);
        let ticks = run(&mut turns, &script, 0);
        let started = ticks
            .iter()
            .find(|(_, t)| t.utterance == Some(Utterance::Started))
            .expect("an utterance start");
        // Reported once 200 ms of speech confirmed it.
        assert!((28..=32).contains(&started.0), "{ticks:?}");
        let over: Vec<_> = ticks
            .iter()
            .filter(|(_, t)| t.turn_over.is_some())
            .collect();
        assert_eq!(over.len(), 1, "{ticks:?}");
        let (at, tick) = over[0];
        assert_eq!(tick.turn_over, Some(TurnOver::Silence));
        // The last speech frame is 119; the turn passes 60 frames (1.2 s) later, give or take
        // the detector's hangover.
        assert!(
            (179..=186).contains(at),
            "turn over at frame {at}: {ticks:?}"
        );
        match tick.utterance {
            Some(Utterance::Ended { speech }) => {
                assert!(
                    speech >= Duration::from_millis(1900) && speech <= Duration::from_millis(2100),
                    "{speech:?}"
                )
            }
            other => panic!("the utterance should end on the same frame: {other:?}"),
        }
        assert!(!turns.is_listening());
    }

    #[test]
    fn a_pause_shorter_than_the_end_silence_keeps_the_prompt_going() {
        let mut turns = Turns::new(TurnConfig::default());
        // Two sentences with a 0.8 s pause between them: one prompt.
        let script = repeat('S', 60) + &repeat('-', 40) + &repeat('S', 60) + &repeat('-', 80);
        let ticks = run(&mut turns, &script, 0);
        let starts = ticks
            .iter()
            .filter(|(_, t)| t.utterance == Some(Utterance::Started))
            .count();
        assert_eq!(starts, 1, "{ticks:?}");
        let over: Vec<_> = ticks
            .iter()
            .filter(|(_, t)| t.turn_over.is_some())
            .collect();
        assert_eq!(over.len(), 1, "{ticks:?}");
        assert!(over[0].0 >= 160 + 59, "ended inside the prompt: {ticks:?}");
    }

    #[test]
    fn a_silent_ivr_gives_the_turn_back_after_the_maximum_wait() {
        let mut turns = Turns::new(TurnConfig {
            max_wait: Duration::from_secs(2),
            ..TurnConfig::default()
        });
        let ticks = run(&mut turns, &repeat('-', 150), 0);
        assert_eq!(
            ticks,
            vec![(
                99,
                Tick {
                    utterance: None,
                    turn_over: Some(TurnOver::MaxWait { talking: false })
                }
            )]
        );
    }

    #[test]
    fn an_ivr_still_talking_at_the_maximum_wait_is_reported_as_talking() {
        let mut turns = Turns::new(TurnConfig {
            max_wait: Duration::from_secs(1),
            ..TurnConfig::default()
        });
        let ticks = run(&mut turns, &repeat('S', 80), 0);
        let over: Vec<_> = ticks
            .iter()
            .filter_map(|(i, t)| t.turn_over.map(|o| (*i, o)))
            .collect();
        assert_eq!(over, vec![(49, TurnOver::MaxWait { talking: true })]);
    }

    #[test]
    fn no_turn_passes_while_the_caller_is_acting() {
        let mut turns = Turns::new(TurnConfig::default());
        let first = run(
            &mut turns,
            &(repeat('-', 10) + &repeat('S', 30) + &repeat('-', 70)),
            0,
        );
        assert_eq!(
            first.iter().filter(|(_, t)| t.turn_over.is_some()).count(),
            1
        );
        // The caller plays a step for 3 s while the IVR talks and stops: heard, no turn.
        let during = run(&mut turns, &(repeat('S', 40) + &repeat('-', 110)), 110);
        assert!(during
            .iter()
            .any(|(_, t)| matches!(t.utterance, Some(Utterance::Ended { .. }))));
        assert!(
            during.iter().all(|(_, t)| t.turn_over.is_none()),
            "{during:?}"
        );
    }

    #[test]
    fn a_reply_begun_during_the_step_ends_the_next_turn() {
        let mut turns = Turns::new(TurnConfig::default());
        run(
            &mut turns,
            &(repeat('-', 10) + &repeat('S', 30) + &repeat('-', 70)),
            0,
        );
        // The IVR starts replying while the caller's step is still playing...
        let before = run(&mut turns, &repeat('S', 30), 110);
        assert!(before
            .iter()
            .any(|(_, t)| t.utterance == Some(Utterance::Started)));
        turns.listen(true);
        // ...and its end, after the step, gives the turn back.
        let after = run(&mut turns, &(repeat('S', 50) + &repeat('-', 70)), 140);
        let over: Vec<_> = after.iter().filter_map(|(_, t)| t.turn_over).collect();
        assert_eq!(over, vec![TurnOver::Silence], "{after:?}");
    }

    #[test]
    fn after_a_wait_the_turn_passes_as_soon_as_the_ivr_is_quiet() {
        let mut turns = Turns::new(TurnConfig::default());
        run(
            &mut turns,
            &(repeat('-', 10) + &repeat('S', 30) + &repeat('-', 70)),
            0,
        );
        turns.listen(false);
        let ticks = run(&mut turns, &repeat('-', 5), 110);
        assert_eq!(
            ticks,
            vec![(
                110,
                Tick {
                    utterance: None,
                    turn_over: Some(TurnOver::Quiet)
                }
            )]
        );
    }

    #[test]
    fn after_a_wait_a_talking_ivr_is_heard_to_the_end_first() {
        let mut turns = Turns::new(TurnConfig::default());
        run(
            &mut turns,
            &(repeat('-', 10) + &repeat('S', 30) + &repeat('-', 70)),
            0,
        );
        run(&mut turns, &repeat('S', 20), 110);
        assert!(turns.ivr_talking());
        turns.listen(false);
        let ticks = run(&mut turns, &(repeat('S', 20) + &repeat('-', 80)), 130);
        let over: Vec<_> = ticks
            .iter()
            .filter_map(|(i, t)| t.turn_over.map(|o| (*i, o)))
            .collect();
        assert_eq!(over.len(), 1, "{ticks:?}");
        assert_eq!(over[0].1, TurnOver::Quiet);
        assert!(over[0].0 >= 149 + 59, "{ticks:?}");
    }
}
