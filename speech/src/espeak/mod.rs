//! espeak-ng, the embedded default synthesizer.
//!
//! One thread per process owns the library (its API keeps global state). [`Espeak::shared`]
//! starts and initialises it on first use and reports the output sample rate (22,050 Hz for Debian's build);
//! [`Espeak::render`] queues a request and waits for the samples. Text is passed as UTF-8, so
//! Mandarin (`cmn`) works as well as English.

// The FFI boundary: every `unsafe` block below says why it is sound.
#![allow(unsafe_code)]

mod ffi;

use std::cell::RefCell;
use std::ffi::CString;
use std::os::raw::{c_int, c_short, c_void};
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use crate::tts::TtsError;

/// What to render.
#[derive(Debug, Clone)]
pub struct EspeakJob {
    /// UTF-8 text.
    pub text: String,
    /// espeak-ng voice name (`en-us`, `en-gb`, `cmn`, `en-us+f3`, ...).
    pub voice: String,
    /// Words per minute (80–450).
    pub rate: u32,
    /// Base pitch 0–100.
    pub pitch: u32,
}

type Reply = oneshot::Sender<Result<Vec<i16>, TtsError>>;

/// A handle to the espeak-ng thread; cheap to clone.
#[derive(Clone)]
pub struct Espeak {
    tx: mpsc::SyncSender<(EspeakJob, Reply)>,
    sample_rate: u32,
}

thread_local! {
    /// Samples of the job being rendered on the espeak thread.
    static OUTPUT: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

extern "C" fn collect(samples: *mut c_short, count: c_int, _events: *mut c_void) -> c_int {
    if !samples.is_null() && count > 0 {
        // SAFETY: espeak-ng passes `count` valid samples at `samples` for the duration of this
        // call (speak_lib.h, t_espeak_callback); we copy them out before returning.
        let chunk = unsafe { std::slice::from_raw_parts(samples, count as usize) };
        OUTPUT.with(|o| o.borrow_mut().extend_from_slice(chunk));
    }
    0
}

/// The one espeak-ng thread of this process (the library's state is global, so a second
/// initialisation would race the first).
static SHARED: std::sync::OnceLock<Result<Espeak, TtsError>> = std::sync::OnceLock::new();

impl Espeak {
    /// The process's espeak-ng thread, started on first use with a queue of `queue` pending jobs
    /// (later callers share it; their `queue` is ignored).
    pub fn shared(queue: usize) -> Result<Espeak, TtsError> {
        SHARED.get_or_init(|| Espeak::start(queue)).clone()
    }

    fn start(queue: usize) -> Result<Espeak, TtsError> {
        let (tx, rx) = mpsc::sync_channel::<(EspeakJob, Reply)>(queue);
        let (ready_tx, ready_rx) = mpsc::channel();
        thread::Builder::new()
            .name("espeak-ng".into())
            .spawn(move || {
                // SAFETY: called once, on the only thread that ever touches the library; a null
                // path means the default data directory.
                let rate = unsafe {
                    ffi::espeak_Initialize(ffi::AUDIO_OUTPUT_SYNCHRONOUS, 200, std::ptr::null(), ffi::INITIALIZE_DONT_EXIT)
                };
                if rate <= 0 {
                    let _ = ready_tx.send(Err(TtsError::Engine(format!(
                        "espeak-ng could not initialise (code {rate}); is the espeak-ng-data package installed?"
                    ))));
                    return;
                }
                // SAFETY: `collect` matches t_espeak_callback and lives for the whole program.
                unsafe { ffi::espeak_SetSynthCallback(collect) };
                let _ = ready_tx.send(Ok(rate as u32));
                while let Ok((job, reply)) = rx.recv() {
                    let _ = reply.send(render_here(&job));
                }
            })
            .map_err(|e| TtsError::Engine(format!("cannot start the espeak-ng thread: {e}")))?;
        let sample_rate = ready_rx.recv().map_err(|_| {
            TtsError::Engine("the espeak-ng thread stopped during start-up".into())
        })??;
        Ok(Espeak { tx, sample_rate })
    }

    /// The sample rate of rendered audio.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Renders `job`; fails at once with [`TtsError::Busy`] when the queue is full.
    pub async fn render(&self, job: EspeakJob) -> Result<Vec<i16>, TtsError> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send((job, reply)).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => TtsError::Busy,
            mpsc::TrySendError::Disconnected(_) => {
                TtsError::Engine("the espeak-ng thread is gone".into())
            }
        })?;
        rx.await
            .map_err(|_| TtsError::Engine("the espeak-ng thread dropped a job".into()))?
    }
}

/// Renders one job on the espeak thread.
fn render_here(job: &EspeakJob) -> Result<Vec<i16>, TtsError> {
    let voice = CString::new(job.voice.as_str())
        .map_err(|_| TtsError::Request("voice name contains a NUL byte".into()))?;
    let text = CString::new(job.text.as_str())
        .map_err(|_| TtsError::Request("text contains a NUL byte".into()))?;
    OUTPUT.with(|o| o.borrow_mut().clear());
    // SAFETY: the library was initialised on this thread; the CStrings outlive the calls, and
    // espeak_Synth copies the text before returning in synchronous mode.
    let status = unsafe {
        if ffi::espeak_SetVoiceByName(voice.as_ptr()) != ffi::EE_OK {
            return Err(TtsError::Request(format!(
                "espeak-ng has no voice `{}`",
                job.voice
            )));
        }
        ffi::espeak_SetParameter(ffi::PARAM_RATE, job.rate.clamp(80, 450) as c_int, 0);
        ffi::espeak_SetParameter(ffi::PARAM_PITCH, job.pitch.min(100) as c_int, 0);
        let bytes = text.as_bytes_with_nul();
        let s = ffi::espeak_Synth(
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            ffi::POS_CHARACTER,
            0,
            ffi::CHARS_UTF8 | ffi::END_PAUSE,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        ffi::espeak_Synchronize();
        s
    };
    if status != ffi::EE_OK {
        return Err(TtsError::Engine(format!(
            "espeak-ng failed to synthesise (code {status})"
        )));
    }
    Ok(OUTPUT.with(|o| std::mem::take(&mut *o.borrow_mut())))
}
