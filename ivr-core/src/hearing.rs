//! The caller's voice in a call: voice activity, barge-in, recognition and sentiment.
//!
//! ```text
//!  caller frame ─┬─▶ BargeIn (while an interruptible prompt plays; the engine's own frame is the
//!                │            echo reference) ──▶ cut the prompt
//!                ├─▶ Endpointer ─ SpeechStart ─▶ open an ASR stream, hand it the pre-roll
//!                │               ─ speech ─────▶ push (the pool upsamples and recognises off
//!                │                               the call task)
//!                │               ─ SpeechEnd ──▶ finish (awaited in a task) ─▶ transcript
//!                └─▶ ProsodyTracker ─────────────▶ sentiment with the transcript's words
//! ```
//!
//! Everything here runs on the call's task, once per 20 ms frame, and does not allocate per
//! frame. Recognition itself runs on the speech worker pool. When recognition cannot start
//! (no engine, a language it does not speak, the pool at capacity), [`Hearing`] reports it
//! once and the dial plan carries on with the keypad.

use std::time::Duration;

use ivr_media::audio::Frame8k;
use ivr_speech::asr::{AsrError, AsrPool, AsrStream, Grammar, SlotClass};
use ivr_speech::sentiment::{Prosody, ProsodyTracker};
use ivr_speech::vad::{BargeIn, BargeInConfig, EndpointEvent, Endpointer, EndpointerConfig};

use crate::clock::FRAME;
use crate::config::SpeechConfig;

/// What the prompt queue is doing while a frame is heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptState {
    /// Nothing plays.
    Idle,
    /// A prompt the caller may interrupt.
    Interruptible,
    /// A prompt the caller must hear out.
    Uninterruptible,
}

/// What a frame changed.
pub enum Heard {
    /// Nothing to act on.
    Nothing,
    /// The caller spoke over an interruptible prompt: cut it.
    BargeIn,
    /// The caller started speaking (recognition has started).
    Started,
    /// The utterance ended: await the stream's result (off the call task).
    Ended(Box<Utterance>),
    /// Recognition could not start; the turn goes on by keypad.
    Unavailable(AsrError),
}

/// A finished utterance whose words are still being recognised.
pub struct Utterance {
    /// The recognition stream to finish.
    pub stream: AsrStream,
    /// How it was said.
    pub prosody: Prosody,
    /// The utterance is a sensitive answer.
    pub sensitive: bool,
    /// The call's language.
    pub language: String,
    /// Length of the utterance.
    pub spoken: Duration,
}

/// What the dial plan is waiting for.
struct Listening {
    grammar: Grammar,
    sensitive: bool,
}

/// One call's ears.
pub struct Hearing {
    pool: Option<AsrPool>,
    endpointer: Endpointer,
    barge_in: BargeIn,
    prosody: ProsodyTracker,
    listening: Option<Listening>,
    stream: Option<AsrStream>,
    /// Frames in the current utterance.
    frames: u32,
    /// Frames in a row without speech while an utterance is open (a safety net for an
    /// utterance the endpointer did not see start, e.g. one opened by barge-in).
    quiet: u32,
    /// The prompt state at the last frame.
    last_prompt: PromptState,
    end_silence: u32,
    max_utterance: u32,
    /// An utterance is being finished by the recogniser.
    pending: bool,
    /// Recognition was reported unavailable in this call already.
    reported: bool,
}

impl Hearing {
    /// Ears for one call, recognising on `pool` (`None`: keypad only).
    pub fn new(pool: Option<AsrPool>, config: &SpeechConfig) -> Hearing {
        let frames = |d: Duration| (d.as_millis() / FRAME.as_millis()).max(1) as u32;
        let endpoint = EndpointerConfig {
            end_silence: frames(config.end_silence),
            min_speech: frames(config.min_speech),
            max_utterance: frames(config.max_utterance),
            ..EndpointerConfig::default()
        };
        let barge_in = BargeInConfig {
            min_speech: frames(config.min_speech),
            ..BargeInConfig::default()
        };
        Hearing {
            pool,
            endpointer: Endpointer::new(endpoint),
            barge_in: BargeIn::new(barge_in),
            prosody: ProsodyTracker::new(),
            listening: None,
            stream: None,
            frames: 0,
            quiet: 0,
            last_prompt: PromptState::Idle,
            end_silence: endpoint.end_silence,
            max_utterance: endpoint.max_utterance,
            pending: false,
            reported: false,
        }
    }

    /// The dial plan waits for speech matching `grammar`.
    pub fn listen(&mut self, grammar: Grammar, sensitive: bool) {
        self.listening = Some(Listening { grammar, sensitive });
    }

    /// The dial plan got its input (or stopped listening): forget any utterance in progress.
    pub fn stop(&mut self) {
        self.listening = None;
        self.stream = None;
        self.frames = 0;
        self.endpointer.restart();
        self.barge_in.reset();
        self.prosody.reset();
    }

    /// Whether speech frames are wanted at all.
    pub fn is_listening(&self) -> bool {
        self.listening.is_some() && self.pool.is_some()
    }

    /// Whether the caller is speaking or their words are being recognised: the no-input timer
    /// waits meanwhile.
    pub fn is_busy(&self) -> bool {
        self.stream.is_some() || self.pending
    }

    /// The recogniser answered the last utterance.
    pub fn finished(&mut self) {
        self.pending = false;
    }

    /// One 20 ms frame from the caller, with the frame the engine sent at the same time.
    pub fn frame(
        &mut self,
        caller: &Frame8k,
        engine: Option<&Frame8k>,
        prompt: PromptState,
    ) -> Heard {
        let before = std::mem::replace(&mut self.last_prompt, prompt);
        if !self.is_listening() || self.pending {
            return Heard::Nothing;
        }
        if self.stream.is_none() {
            match prompt {
                PromptState::Uninterruptible => {
                    // The caller must hear the prompt out; what they say over it is no answer.
                    self.endpointer.restart();
                    self.barge_in.reset();
                    return Heard::Nothing;
                }
                PromptState::Interruptible => {
                    // Only the barge-in detector, which knows the prompt's echo, decides here;
                    // the endpointer keeps the pre-roll.
                    let fired = self.barge_in.push(caller, engine);
                    self.endpointer.push(caller);
                    if !fired {
                        return Heard::Nothing;
                    }
                    return match self.open() {
                        Ok(()) => Heard::BargeIn,
                        Err(e) => self.unavailable(e),
                    };
                }
                PromptState::Idle => {
                    if before != PromptState::Idle {
                        // What the endpointer made of the prompt's echo is not the caller.
                        self.endpointer.restart();
                    }
                    self.barge_in.reset();
                }
            }
        }
        let event = self.endpointer.push(caller);
        if let Some(s) = &mut self.stream {
            self.prosody.push(caller);
            self.frames += 1;
            if self.endpointer.last_activity().is_speech() {
                self.quiet = 0;
            } else {
                self.quiet += 1;
            }
            if s.push(caller).is_err() {
                self.stream = None;
                return Heard::Nothing;
            }
            let ended = matches!(event, Some(EndpointEvent::SpeechEnd { .. }))
                || (!self.endpointer.in_speech() && self.quiet >= self.end_silence)
                || self.frames >= self.max_utterance;
            return if ended { self.end() } else { Heard::Nothing };
        }
        match event {
            Some(EndpointEvent::SpeechStart { .. }) => match self.open() {
                Ok(()) => Heard::Started,
                Err(e) => self.unavailable(e),
            },
            _ => Heard::Nothing,
        }
    }

    /// Closes the utterance: the stream goes to be finished.
    fn end(&mut self) -> Heard {
        let Some(stream) = self.stream.take() else {
            return Heard::Nothing;
        };
        let prosody = self.prosody.prosody();
        let spoken = FRAME * self.frames;
        self.frames = 0;
        self.quiet = 0;
        self.pending = true;
        self.endpointer.restart();
        let listening = self.listening.as_ref();
        Heard::Ended(Box::new(Utterance {
            stream,
            prosody,
            sensitive: listening.is_some_and(|l| l.sensitive),
            language: listening
                .map(|l| l.grammar.language.clone())
                .unwrap_or_default(),
            spoken,
        }))
    }

    /// Opens a recognition stream for the current grammar and hands it the pre-roll.
    fn open(&mut self) -> Result<(), AsrError> {
        let (Some(pool), Some(listening)) = (&self.pool, &self.listening) else {
            return Err(AsrError::Closed);
        };
        let mut stream = pool.open(listening.grammar.clone())?;
        self.prosody.reset();
        self.frames = 0;
        self.quiet = 0;
        for f in self.endpointer.pre_roll() {
            self.prosody.push(f);
            self.frames += 1;
            stream.push(f)?;
        }
        self.stream = Some(stream);
        Ok(())
    }

    fn unavailable(&mut self, e: AsrError) -> Heard {
        // Stop listening by voice for this turn; the keypad still works.
        self.listening = None;
        self.endpointer.restart();
        self.barge_in.reset();
        if self.reported {
            Heard::Nothing
        } else {
            self.reported = true;
            Heard::Unavailable(e)
        }
    }
}

/// The speech grammar for a dial plan's `listen`: its phrases and expected slot.
pub fn grammar(
    language: &str,
    hints: &[String],
    slot: Option<&ivr_dialplans::interpreter::SlotType>,
) -> Grammar {
    use ivr_dialplans::interpreter::SlotType;
    let slot = slot.map(|s| match s {
        SlotType::Digits { min, max, .. } => SlotClass::Digits {
            min: *min,
            max: *max,
        },
        SlotType::Number => SlotClass::Number,
        SlotType::Currency => SlotClass::Currency,
        SlotType::Date => SlotClass::Date,
        SlotType::Time => SlotClass::Time,
        SlotType::YesNo => SlotClass::YesNo,
        SlotType::Phone => SlotClass::Phone,
    });
    Grammar {
        language: language.to_string(),
        phrases: hints.to_vec(),
        slot,
    }
}
