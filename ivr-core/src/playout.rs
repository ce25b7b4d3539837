//! What a call plays, in order: prompts, synthesized speech (which may still be rendering), hold
//! music. One frame leaves the head of the queue per media tick.
//!
//! A `say` is reserved in the queue the moment the dial plan asks for it and filled when the
//! synthesizer answers, so prompts keep their order even though rendering is asynchronous; the
//! caller hears silence only while the head of the queue is still being rendered (for cached
//! prompts, never). A key press or speech cuts every item marked `barge_in`.

use std::collections::VecDeque;
use std::sync::Arc;

use ivr_media::audio::wav::EncodedPrompt;
use ivr_media::codec::g711::G711;

enum Slot {
    Ready {
        audio: Arc<EncodedPrompt>,
        pos: usize,
        looped: bool,
        barge_in: bool,
    },
    Pending {
        token: u64,
        barge_in: bool,
    },
}

/// The queue of one call.
#[derive(Default)]
pub struct Playout {
    queue: VecDeque<Slot>,
    next_token: u64,
}

impl Playout {
    /// Appends audio that is ready.
    pub fn push(&mut self, audio: Arc<EncodedPrompt>, looped: bool, barge_in: bool) {
        self.queue.push_back(Slot::Ready {
            audio,
            pos: 0,
            looped,
            barge_in,
        });
    }

    /// Reserves a place for audio still being produced; fill it with [`Playout::fill`].
    pub fn reserve(&mut self, barge_in: bool) -> u64 {
        self.next_token += 1;
        self.queue.push_back(Slot::Pending {
            token: self.next_token,
            barge_in,
        });
        self.next_token
    }

    /// Fills a reserved place, or removes it when the audio could not be produced. A token whose
    /// place was cut by barge-in is ignored.
    pub fn fill(&mut self, token: u64, audio: Option<Arc<EncodedPrompt>>) {
        let Some(i) = self
            .queue
            .iter()
            .position(|s| matches!(s, Slot::Pending { token: t, .. } if *t == token))
        else {
            return;
        };
        match audio {
            Some(audio) => {
                let barge_in = matches!(self.queue[i], Slot::Pending { barge_in: true, .. });
                self.queue[i] = Slot::Ready {
                    audio,
                    pos: 0,
                    looped: false,
                    barge_in,
                };
            }
            None => {
                self.queue.remove(i);
            }
        }
    }

    /// The next 20 ms frame in `codec`, or `None` for silence (nothing queued, or the head is
    /// still rendering).
    pub fn next_frame(&mut self, codec: G711) -> Option<&[u8]> {
        loop {
            match self.queue.front_mut()? {
                Slot::Pending { .. } => return None,
                Slot::Ready {
                    audio, pos, looped, ..
                } => {
                    let len = audio.len_frames();
                    if *pos >= len && *looped && len > 0 {
                        *pos = 0;
                    }
                    if *pos < len {
                        break;
                    }
                }
            }
            self.queue.pop_front();
        }
        match self.queue.front_mut() {
            Some(Slot::Ready { audio, pos, .. }) => {
                let i = *pos;
                *pos += 1;
                audio.frame(codec, i)
            }
            _ => None,
        }
    }

    /// Cuts every item that may be interrupted; returns whether anything was playing or waiting.
    pub fn barge_in(&mut self) -> bool {
        let before = self.queue.len();
        self.queue.retain(|s| {
            !matches!(
                s,
                Slot::Ready { barge_in: true, .. } | Slot::Pending { barge_in: true, .. }
            )
        });
        self.queue.len() != before
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// What the head of the queue is doing, for barge-in.
    pub fn state(&self) -> crate::hearing::PromptState {
        use crate::hearing::PromptState;
        match self.queue.front() {
            None => PromptState::Idle,
            Some(Slot::Ready { barge_in, .. } | Slot::Pending { barge_in, .. }) => {
                if *barge_in {
                    PromptState::Interruptible
                } else {
                    PromptState::Uninterruptible
                }
            }
        }
    }

    /// Whether nothing is queued.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivr_media::audio::wav::Prompt;

    fn audio(frames: usize, level: i16) -> Arc<EncodedPrompt> {
        Arc::new(EncodedPrompt::new(&Prompt::from_samples(
            vec![level; frames * 160],
            8000,
        )))
    }

    fn drain(p: &mut Playout, n: usize) -> Vec<Option<u8>> {
        (0..n)
            .map(|_| p.next_frame(G711::Pcmu).map(|f| f[0]))
            .collect()
    }

    #[test]
    fn reserved_speech_keeps_its_place_and_silence_covers_rendering() {
        let (a, b) = (audio(2, 1000), audio(1, -1000));
        let code = |x: &Arc<EncodedPrompt>| x.frame(G711::Pcmu, 0).unwrap()[0];
        let mut p = Playout::default();
        let t = p.reserve(true);
        p.push(b.clone(), false, true);
        assert_eq!(drain(&mut p, 2), vec![None, None], "head still rendering");
        p.fill(t, Some(a.clone()));
        assert_eq!(
            drain(&mut p, 4),
            vec![Some(code(&a)), Some(code(&a)), Some(code(&b)), None]
        );
        assert!(p.is_idle());
    }

    #[test]
    fn failed_renders_are_skipped_and_barge_in_cuts_only_interruptible_items() {
        let mut p = Playout::default();
        let t = p.reserve(true);
        p.fill(t, None);
        assert!(p.is_idle());
        p.push(audio(3, 500), false, false);
        p.push(audio(3, 900), true, true);
        assert!(p.barge_in());
        assert_eq!(drain(&mut p, 4).iter().filter(|f| f.is_some()).count(), 3);
        p.fill(99, Some(audio(1, 1)));
        assert!(p.is_idle(), "an unknown token is ignored");
    }

    #[test]
    fn looped_audio_repeats_until_cleared() {
        let mut p = Playout::default();
        p.push(audio(2, 700), true, true);
        assert!(drain(&mut p, 7).iter().all(Option::is_some));
        p.clear();
        assert_eq!(p.next_frame(G711::Pcmu), None);
    }
}
