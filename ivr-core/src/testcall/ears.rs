//! [`Ears`]: the IVR's utterances transcribed by dictation, on a thread of their own.
//!
//! The recogniser is synchronous and slow to load its dictation model, so one thread owns it
//! and keeps the next stream open ahead of time; the call task hands frames over an unbounded
//! channel (a few seconds of audio at most, never dropped, unlike the engine's bounded
//! [`AsrPool`](ivr_speech::asr::AsrPool), which may drop frames for a busy worker) and gets each
//! utterance's transcript back on a oneshot channel.

use std::sync::mpsc;
use std::sync::Arc;

use ivr_media::audio::{Frame16k, Frame8k, Upsampler8kTo16k};
use ivr_speech::asr::{AsrError, Grammar, Recognizer, RecognizerStream, Transcript};
use tokio::sync::oneshot;

/// The answer for one utterance.
pub type Heard = oneshot::Receiver<Result<Transcript, AsrError>>;

// Frames are nearly every message; boxing them would allocate per frame.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Begin,
    Frame(Frame16k),
    End(oneshot::Sender<Result<Transcript, AsrError>>),
}

/// A dictation recogniser listening to the IVR. See the [module documentation](self).
pub struct Ears {
    tx: mpsc::Sender<Msg>,
    upsampler: Upsampler8kTo16k,
    open: bool,
}

impl Ears {
    /// Starts the recogniser's thread for free dictation in `language`.
    pub fn start(engine: Arc<dyn Recognizer>, language: &str) -> std::io::Result<Ears> {
        let (tx, rx) = mpsc::channel();
        let grammar = Grammar::dictation(language);
        std::thread::Builder::new()
            .name("ivr-call-asr".into())
            .spawn(move || listen(engine.as_ref(), &grammar, rx))?;
        Ok(Ears {
            tx,
            upsampler: Upsampler8kTo16k::new(),
            open: false,
        })
    }

    /// An utterance begins.
    pub fn begin(&mut self) {
        self.upsampler.reset();
        self.open = self.tx.send(Msg::Begin).is_ok();
    }

    /// The next frame of the utterance.
    pub fn push(&mut self, frame: &Frame8k) {
        if self.open {
            let wide = self.upsampler.process(frame);
            self.open = self.tx.send(Msg::Frame(wide)).is_ok();
        }
    }

    /// The utterance is over; its transcript arrives on the returned channel.
    pub fn end(&mut self) -> Heard {
        let (reply, rx) = oneshot::channel();
        if self.open {
            let _ = self.tx.send(Msg::End(reply));
        } else {
            let _ = reply.send(Err(AsrError::Closed));
        }
        self.open = false;
        rx
    }
}

fn listen(engine: &dyn Recognizer, grammar: &Grammar, rx: mpsc::Receiver<Msg>) {
    // Load the model now, before the IVR says anything.
    let mut ready = Some(engine.open(grammar));
    let mut current: Option<Result<Box<dyn RecognizerStream>, AsrError>> = None;
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Begin => {
                current = Some(ready.take().unwrap_or_else(|| engine.open(grammar)));
            }
            Msg::Frame(frame) => {
                if let Some(Ok(stream)) = current.as_mut() {
                    if let Err(e) = stream.push(&frame) {
                        current = Some(Err(e));
                    }
                }
            }
            Msg::End(reply) => {
                let result = match current.take() {
                    Some(Ok(mut stream)) => stream.finish(),
                    Some(Err(e)) => Err(e),
                    None => Ok(Transcript::empty()),
                };
                let _ = reply.send(result);
                ready = Some(engine.open(grammar));
            }
        }
    }
}
