//! The recognition worker pool: engines run on their own threads so call tasks never wait for
//! inference.
//!
//! ```text
//!  call task                          worker thread (one of N)
//!  AsrStream::push(8 kHz frame)
//!    upsample to 16 kHz (no alloc)
//!    lock stream buffer, append  ───►  Ready(stream) ──► drain buffer ─► engine.push(...)
//!    (notify only if not queued)                          every 10 frames: partial
//!  AsrStream::finish().await ───────►  Ready(stream) ──► engine.finish() ─► oneshot reply
//!  drop(AsrStream) = cancel ────────►  Ready(stream) ──► drop engine stream (decoder reused)
//! ```
//!
//! Each stream has a fixed buffer of [`STREAM_BUFFER_FRAMES`] frames between the caller and its
//! worker; each worker has one bounded queue of notifications holding at most two entries per
//! stream (its `Open` and one pending `Ready`), so sending never blocks and never fails while
//! the stream count stays within `max_streams`. `open` answers [`AsrError::Busy`] when
//! `max_streams` streams are open; a stream whose worker falls two seconds behind drops frames
//! and `push` answers `Busy`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use ivr_media::audio::{Frame16k, Frame8k, Upsampler8kTo16k};
use tokio::sync::oneshot;

use super::{AsrError, Grammar, Recognizer, RecognizerStream, Transcript};

/// Frames (20 ms each) buffered per stream between the caller and its worker: two seconds.
pub const STREAM_BUFFER_FRAMES: usize = 100;
/// A partial result is computed every this many frames (200 ms).
const PARTIAL_EVERY: u32 = 10;

type Reply = oneshot::Sender<Result<Transcript, AsrError>>;

/// Counters of an [`AsrPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Worker threads.
    pub workers: usize,
    /// The stream limit.
    pub max_streams: usize,
    /// Streams open now.
    pub active_streams: usize,
    /// Streams opened since start.
    pub opened: u64,
    /// `open` calls refused with [`AsrError::Busy`].
    pub rejected_busy: u64,
    /// Streams that produced a final result.
    pub finished: u64,
    /// Streams dropped before finishing.
    pub cancelled: u64,
    /// Streams that failed in the engine (including failures to open).
    pub failed: u64,
    /// Frames dropped because a stream's buffer was full.
    pub dropped_frames: u64,
}

/// A bounded pool of recognition worker threads; cheap to clone.
#[derive(Clone)]
pub struct AsrPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    engine: Arc<dyn Recognizer>,
    workers: Vec<Worker>,
    max_streams: usize,
    counters: Arc<Counters>,
    next_id: AtomicU64,
}

struct Worker {
    tx: SyncSender<Msg>,
    load: Arc<AtomicUsize>,
}

#[derive(Default)]
struct Counters {
    active: AtomicUsize,
    opened: AtomicU64,
    rejected_busy: AtomicU64,
    finished: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    dropped_frames: AtomicU64,
}

enum Msg {
    Open {
        shared: Arc<Shared>,
        grammar: Grammar,
    },
    Ready(Arc<Shared>),
}

/// What a stream and its worker share.
struct Shared {
    id: u64,
    state: Mutex<State>,
}

struct State {
    frames: VecDeque<Frame16k>,
    /// A `Ready` for this stream is in the worker's queue.
    queued: bool,
    finish: Option<Reply>,
    cancelled: bool,
    partial: Option<Transcript>,
    error: Option<AsrError>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked mid-update leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AsrPool {
    /// Starts `workers` threads (at least one) serving at most `max_streams` streams at once.
    pub fn start(engine: Arc<dyn Recognizer>, workers: usize, max_streams: usize) -> AsrPool {
        let counters = Arc::new(Counters::default());
        let capacity = max_streams.saturating_mul(2).saturating_add(8);
        let workers = (0..workers.max(1))
            .filter_map(|i| {
                let (tx, rx) = mpsc::sync_channel(capacity);
                let load = Arc::new(AtomicUsize::new(0));
                let w = WorkerLoop {
                    engine: engine.clone(),
                    rx,
                    load: load.clone(),
                    counters: counters.clone(),
                    streams: HashMap::new(),
                    scratch: Vec::with_capacity(STREAM_BUFFER_FRAMES),
                };
                match thread::Builder::new()
                    .name(format!("asr-{}-{i}", engine.name()))
                    .spawn(move || w.run())
                {
                    Ok(_) => Some(Worker { tx, load }),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start a speech recognition worker");
                        None
                    }
                }
            })
            .collect();
        AsrPool {
            inner: Arc::new(PoolInner {
                engine,
                workers,
                max_streams,
                counters,
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Opens a stream for `grammar`. Never blocks: answers [`AsrError::Busy`] when
    /// `max_streams` streams are open and the engine's own error (such as
    /// [`AsrError::Unsupported`]) when it cannot serve the grammar at all. Failures while the
    /// worker loads the grammar are reported by [`AsrStream::push`] and [`AsrStream::finish`].
    pub fn open(&self, grammar: Grammar) -> Result<AsrStream, AsrError> {
        let inner = &self.inner;
        inner.engine.check(&grammar)?;
        let c = &inner.counters;
        if c.active.fetch_add(1, Ordering::AcqRel) >= inner.max_streams {
            c.active.fetch_sub(1, Ordering::AcqRel);
            c.rejected_busy.fetch_add(1, Ordering::Relaxed);
            return Err(AsrError::Busy);
        }
        let Some(worker) = inner
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
        else {
            c.active.fetch_sub(1, Ordering::AcqRel);
            return Err(AsrError::Closed);
        };
        let shared = Arc::new(Shared {
            id: inner.next_id.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                frames: VecDeque::with_capacity(STREAM_BUFFER_FRAMES),
                queued: false,
                finish: None,
                cancelled: false,
                partial: None,
                error: None,
            }),
        });
        worker.load.fetch_add(1, Ordering::AcqRel);
        let msg = Msg::Open {
            shared: shared.clone(),
            grammar,
        };
        if let Err(e) = worker.tx.try_send(msg) {
            worker.load.fetch_sub(1, Ordering::AcqRel);
            c.active.fetch_sub(1, Ordering::AcqRel);
            return Err(match e {
                TrySendError::Full(_) => AsrError::Busy,
                TrySendError::Disconnected(_) => AsrError::Closed,
            });
        }
        c.opened.fetch_add(1, Ordering::Relaxed);
        Ok(AsrStream {
            shared,
            tx: worker.tx.clone(),
            counters: c.clone(),
            upsampler: Upsampler8kTo16k::new(),
            done: false,
        })
    }

    /// The pool's counters.
    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        PoolStats {
            workers: self.inner.workers.len(),
            max_streams: self.inner.max_streams,
            active_streams: c.active.load(Ordering::Acquire),
            opened: c.opened.load(Ordering::Relaxed),
            rejected_busy: c.rejected_busy.load(Ordering::Relaxed),
            finished: c.finished.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped_frames: c.dropped_frames.load(Ordering::Relaxed),
        }
    }

    /// The engine's name.
    pub fn engine_name(&self) -> &'static str {
        self.inner.engine.name()
    }
}

/// One utterance being recognised on the pool. Dropping it cancels recognition.
pub struct AsrStream {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    upsampler: Upsampler8kTo16k,
    done: bool,
}

impl AsrStream {
    /// Hands over 20 ms of 8 kHz caller audio, upsampled to 16 kHz. Never blocks and does not
    /// allocate; answers [`AsrError::Busy`] (the frame is dropped) when the worker is two
    /// seconds behind, and the engine's error if the stream failed.
    pub fn push(&mut self, frame: &Frame8k) -> Result<(), AsrError> {
        let wide = self.upsampler.process(frame);
        let notify = {
            let mut s = self.shared.lock();
            if let Some(e) = &s.error {
                return Err(e.clone());
            }
            if s.frames.len() >= STREAM_BUFFER_FRAMES {
                self.counters.dropped_frames.fetch_add(1, Ordering::Relaxed);
                return Err(AsrError::Busy);
            }
            s.frames.push_back(wide);
            !std::mem::replace(&mut s.queued, true)
        };
        if notify {
            self.notify()?;
        }
        Ok(())
    }

    /// The newest partial result not yet returned, if the worker has produced one.
    pub fn partial(&mut self) -> Option<Transcript> {
        self.shared.lock().partial.take()
    }

    /// Ends the utterance and waits for the final result.
    pub async fn finish(mut self) -> Result<Transcript, AsrError> {
        let (reply, rx) = oneshot::channel();
        let notify = {
            let mut s = self.shared.lock();
            s.finish = Some(reply);
            !std::mem::replace(&mut s.queued, true)
        };
        self.done = true;
        if notify {
            self.notify()?;
        }
        rx.await.map_err(|_| AsrError::Closed)?
    }

    fn notify(&self) -> Result<(), AsrError> {
        self.tx
            .try_send(Msg::Ready(self.shared.clone()))
            .map_err(|e| match e {
                // Cannot happen while at most two messages per open stream are queued; treat
                // it as overload rather than blocking.
                TrySendError::Full(_) => AsrError::Busy,
                TrySendError::Disconnected(_) => AsrError::Closed,
            })
    }
}

impl Drop for AsrStream {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let notify = {
            let mut s = self.shared.lock();
            s.cancelled = true;
            !std::mem::replace(&mut s.queued, true)
        };
        if notify {
            let _ = self.notify();
        }
    }
}

/// A worker thread's state.
struct WorkerLoop {
    engine: Arc<dyn Recognizer>,
    rx: Receiver<Msg>,
    load: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    streams: HashMap<u64, Entry>,
    scratch: Vec<Frame16k>,
}

struct Entry {
    stream: Box<dyn RecognizerStream>,
    since_partial: u32,
}

impl WorkerLoop {
    fn run(mut self) {
        while let Ok(msg) = self.rx.recv() {
            match msg {
                Msg::Open { shared, grammar } => self.open(&shared, &grammar),
                Msg::Ready(shared) => self.ready(&shared),
            }
        }
    }

    fn release(&self, failed: bool) {
        self.load.fetch_sub(1, Ordering::AcqRel);
        self.counters.active.fetch_sub(1, Ordering::AcqRel);
        if failed {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn open(&mut self, shared: &Shared, grammar: &Grammar) {
        match self.engine.open(grammar) {
            Ok(stream) => {
                self.streams.insert(
                    shared.id,
                    Entry {
                        stream,
                        since_partial: 0,
                    },
                );
            }
            Err(e) => {
                tracing::debug!(error = %e, "speech recognition stream failed to open");
                shared.lock().error = Some(e);
                self.release(true);
            }
        }
    }

    fn ready(&mut self, shared: &Shared) {
        let (finish, cancelled) = {
            let mut s = shared.lock();
            s.queued = false;
            self.scratch.extend(s.frames.drain(..));
            (s.finish.take(), s.cancelled)
        };
        let Some(entry) = self.streams.get_mut(&shared.id) else {
            // The stream failed earlier (its error is recorded) or is already gone.
            self.scratch.clear();
            if let Some(reply) = finish {
                let error = shared.lock().error.clone().unwrap_or(AsrError::Closed);
                let _ = reply.send(Err(error));
            }
            return;
        };
        if cancelled {
            self.scratch.clear();
            self.streams.remove(&shared.id);
            self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            self.release(false);
            return;
        }
        let mut failure = None;
        for frame in self.scratch.drain(..) {
            if failure.is_some() {
                continue;
            }
            if let Err(e) = entry.stream.push(&frame) {
                failure = Some(e);
                continue;
            }
            entry.since_partial += 1;
            if entry.since_partial >= PARTIAL_EVERY && finish.is_none() {
                entry.since_partial = 0;
                if let Some(p) = entry.stream.partial() {
                    shared.lock().partial = Some(p);
                }
            }
        }
        if let Some(e) = failure {
            shared.lock().error = Some(e.clone());
            self.streams.remove(&shared.id);
            self.release(true);
            if let Some(reply) = finish {
                let _ = reply.send(Err(e));
            }
            return;
        }
        if let Some(reply) = finish {
            let result = entry.stream.finish();
            self.streams.remove(&shared.id);
            let failed = result.is_err();
            if !failed {
                self.counters.finished.fetch_add(1, Ordering::Relaxed);
            }
            self.release(failed);
            let _ = reply.send(result);
        }
    }
}
