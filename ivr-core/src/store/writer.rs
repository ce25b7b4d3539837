//! [`StoreWriter`]: the call path's handle on the store. Its methods never block or await.
//!
//! ```text
//!  call tasks ──begin/finish/wrap-up/agent state/callback/audit──▶ unbounded ─┐
//!             ──event/turn──▶ bounded (full: counted, dropped) ───────────────┤
//!                                                                             ▼
//!                                     writer task: take what is there (up to max_batch),
//!                                     commit it in one transaction, repeat
//! ```
//!
//! The writer commits as soon as it has something and takes everything that queued up while
//! the previous transaction ran, so batches grow with the load and a quiet system commits each
//! record within milliseconds. If the database refuses a batch, the records are tried one by
//! one: a record the database rejects on its own is logged and counted as failed; if nothing
//! goes in (database unavailable, disk full) the batch is kept and retried with a growing pause.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Connection as _};
use tokio::sync::{mpsc, oneshot};

use super::model::{
    now_unix_ms, AgentStateChange, AuditEntry, CallEvent, CallStart, Callback, CallbackStatus, Cdr,
    Turn,
};
use super::{db, Store, StoreError};

/// Sizes of the writer's queue and batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterConfig {
    /// Events and transcript turns that may wait for the writer; more are dropped (and
    /// counted). Call records and the other kinds are never dropped.
    pub queue_capacity: usize,
    /// Most records committed in one transaction.
    pub max_batch: usize,
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            queue_capacity: 65_536,
            max_batch: 1_024,
        }
    }
}

/// Counters of a writer since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records committed.
    pub written: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Events and turns dropped because the queue was full or the writer had stopped.
    pub dropped: u64,
    /// Records the database rejected (each logged).
    pub failed: u64,
    /// Call records and other never-dropped records sent after the writer stopped.
    pub lost: u64,
}

/// A cheap, cloneable handle for recording calls without waiting; see the module docs.
#[derive(Clone, Debug)]
pub struct StoreWriter {
    lossless: mpsc::UnboundedSender<Msg>,
    lossy: mpsc::Sender<Op>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    batches: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WriterStats {
        WriterStats {
            written: self.written.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }
}

/// One record to write.
#[derive(Debug)]
enum Op {
    Begin(CallStart),
    Finish(Box<Cdr>),
    WrapUp {
        call_id: String,
        disposition: String,
        notes: String,
    },
    Event(CallEvent),
    Turn(Turn),
    AgentState(AgentStateChange),
    SaveCallback(Callback),
    CompleteCallback {
        id: String,
        status: CallbackStatus,
        at_unix_ms: i64,
    },
    Audit(AuditEntry),
}

impl Op {
    /// What to name in a log line about this record (ids only, no numbers or text).
    fn subject(&self) -> (&'static str, &str) {
        match self {
            Op::Begin(s) => ("begin_call", &s.call_id),
            Op::Finish(c) => ("finish_call", &c.call_id),
            Op::WrapUp { call_id, .. } => ("wrap_up", call_id),
            Op::Event(e) => ("event", &e.call_id),
            Op::Turn(t) => ("turn", &t.call_id),
            Op::AgentState(a) => ("agent_state", &a.agent_id),
            Op::SaveCallback(c) => ("save_callback", &c.id),
            Op::CompleteCallback { id, .. } => ("complete_callback", id),
            Op::Audit(a) => ("audit", &a.action),
        }
    }
}

/// What travels on the never-dropping channel.
#[derive(Debug)]
enum Msg {
    Op(Op),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<Result<WriterStats, StoreError>>),
}

impl StoreWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Store, config: WriterConfig) -> StoreWriter {
        let (lossless, lossless_rx) = mpsc::unbounded_channel();
        let (lossy, lossy_rx) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task = Task {
            store,
            lossless_rx,
            lossy_rx,
            counters: counters.clone(),
            max_batch: config.max_batch.max(1),
            batch: Vec::new(),
            flushes: Vec::new(),
            shutdown: None,
        };
        tokio::spawn(task.run());
        StoreWriter {
            lossless,
            lossy,
            counters,
        }
    }

    /// Records that a call started.
    pub fn begin_call(&self, start: CallStart) {
        self.keep(Op::Begin(start));
    }

    /// Records a finished call. Never dropped; committed within milliseconds.
    pub fn finish_call(&self, cdr: Cdr) {
        self.keep(Op::Finish(Box::new(cdr)));
    }

    /// Records the wrap-up of a call.
    pub fn record_wrap_up(&self, call_id: &str, disposition: &str, notes: &str) {
        self.keep(Op::WrapUp {
            call_id: call_id.to_string(),
            disposition: disposition.to_string(),
            notes: notes.to_string(),
        });
    }

    /// Appends an event to a call's log; dropped (and counted) if the queue is full.
    pub fn append_event(&self, event: CallEvent) {
        self.offer(Op::Event(event));
    }

    /// Appends a transcript turn; dropped (and counted) if the queue is full.
    pub fn append_turn(&self, turn: Turn) {
        self.offer(Op::Turn(turn));
    }

    /// Records an agent entering a state.
    pub fn record_agent_state(&self, change: AgentStateChange) {
        self.keep(Op::AgentState(change));
    }

    /// Saves a queue callback.
    pub fn save_callback(&self, callback: Callback) {
        self.keep(Op::SaveCallback(callback));
    }

    /// Sets a callback's status, stamped now.
    pub fn complete_callback(&self, id: &str, status: CallbackStatus) {
        self.keep(Op::CompleteCallback {
            id: id.to_string(),
            status,
            at_unix_ms: now_unix_ms(),
        });
    }

    /// Appends an audit entry.
    pub fn audit(&self, entry: AuditEntry) {
        self.keep(Op::Audit(entry));
    }

    /// The counters so far.
    pub fn stats(&self) -> WriterStats {
        self.counters.snapshot()
    }

    /// Waits until everything sent before this call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.lossless
            .send(Msg::Flush(tx))
            .map_err(|_| StoreError::WriterStopped)?;
        rx.await.map_err(|_| StoreError::WriterStopped)
    }

    /// Stops the writer after committing everything sent before, and returns its counters.
    /// Records sent afterwards (from any clone) are counted as dropped or lost. Fails with
    /// [`StoreError::Unwritten`] if the database stayed unavailable.
    pub async fn shutdown(&self) -> Result<WriterStats, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.lossless
            .send(Msg::Shutdown(tx))
            .map_err(|_| StoreError::WriterStopped)?;
        rx.await.map_err(|_| StoreError::WriterStopped)?
    }

    fn keep(&self, op: Op) {
        if let Err(mpsc::error::SendError(Msg::Op(op))) = self.lossless.send(Msg::Op(op)) {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            let (kind, id) = op.subject();
            tracing::error!(kind, id, "call store writer has stopped; record lost");
        }
    }

    fn offer(&self, op: Op) {
        if self.lossy.try_send(op).is_err() {
            let before = self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            // Log the 1st, 2nd, 4th, 8th... drop: visible without flooding the log.
            if (before + 1).is_power_of_two() {
                tracing::warn!(
                    dropped_total = before + 1,
                    "call store queue full; call events dropped"
                );
            }
        }
    }
}

/// The writer task's state.
struct Task {
    store: Store,
    lossless_rx: mpsc::UnboundedReceiver<Msg>,
    lossy_rx: mpsc::Receiver<Op>,
    counters: Arc<Counters>,
    max_batch: usize,
    /// Records taken but not yet committed.
    batch: Vec<Op>,
    /// Flush requests, with how many queued events they still wait for.
    flushes: Vec<(oneshot::Sender<()>, usize)>,
    shutdown: Option<oneshot::Sender<Result<WriterStats, StoreError>>>,
}

/// Retries give up after this many attempts once shutdown is asked for.
const SHUTDOWN_ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

impl Task {
    async fn run(mut self) {
        let mut pause = FIRST_PAUSE;
        let mut attempts_after_shutdown = 0;
        loop {
            if self.batch.is_empty() && self.flushes.is_empty() && self.shutdown.is_none() {
                // Idle: wait for the next message.
                tokio::select! {
                    biased;
                    msg = self.lossless_rx.recv() => match msg {
                        Some(msg) => self.take(msg),
                        // Every handle is gone: write what is left and stop.
                        None => {
                            self.lossy_rx.close();
                            self.fill_all();
                            let _ = self.commit().await;
                            return;
                        }
                    },
                    Some(op) = self.lossy_rx.recv() => self.take_lossy(op),
                }
            }
            let drained = self.fill();
            match self.commit().await {
                Ok(()) => {
                    pause = FIRST_PAUSE;
                    self.answer_flushes();
                    if drained && self.shutdown.is_some() && self.batch.is_empty() {
                        let stats = self.counters.snapshot();
                        if let Some(reply) = self.shutdown.take() {
                            let _ = reply.send(Ok(stats));
                        }
                        return;
                    }
                }
                Err(error) => {
                    if self.shutdown.is_some() {
                        attempts_after_shutdown += 1;
                        if attempts_after_shutdown >= SHUTDOWN_ATTEMPTS {
                            self.give_up(error);
                            return;
                        }
                    }
                    tracing::error!(
                        records = self.batch.len(),
                        error = %error,
                        "call store unavailable; retrying"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
            }
        }
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Op(op) => self.batch.push(op),
            Msg::Flush(reply) => {
                // Everything on this channel before the flush is already taken; on the
                // event queue, whatever is there now must be taken first.
                let waiting = self.lossy_rx.len();
                self.flushes.push((reply, waiting));
            }
            Msg::Shutdown(reply) => {
                self.shutdown = Some(reply);
                self.lossless_rx.close();
                self.lossy_rx.close();
            }
        }
    }

    fn take_lossy(&mut self, op: Op) {
        self.batch.push(op);
        for (_, waiting) in &mut self.flushes {
            *waiting = waiting.saturating_sub(1);
        }
    }

    /// Takes what is queued, up to a batch; true when both queues were found empty.
    fn fill(&mut self) -> bool {
        while self.batch.len() < self.max_batch {
            if let Ok(msg) = self.lossless_rx.try_recv() {
                self.take(msg);
            } else if let Ok(op) = self.lossy_rx.try_recv() {
                self.take_lossy(op);
            } else {
                return true;
            }
        }
        false
    }

    /// Takes everything queued, however much.
    fn fill_all(&mut self) {
        while let Ok(msg) = self.lossless_rx.try_recv() {
            self.take(msg);
        }
        while let Ok(op) = self.lossy_rx.try_recv() {
            self.take_lossy(op);
        }
    }

    fn answer_flushes(&mut self) {
        let mut i = 0;
        while i < self.flushes.len() {
            if self
                .flushes
                .get(i)
                .is_some_and(|(_, waiting)| *waiting == 0)
            {
                let (reply, _) = self.flushes.swap_remove(i);
                let _ = reply.send(());
            } else {
                i += 1;
            }
        }
    }

    /// Commits the batch. On failure the records are tried one by one; only if none goes in is
    /// the error returned, with the batch kept for a retry.
    async fn commit(&mut self) -> Result<(), StoreError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        if write_batch(&self.store, &self.batch).await.is_ok() {
            self.counters
                .written
                .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
            self.batch.clear();
            return Ok(());
        }
        let mut kept = Vec::new();
        let mut last_error = None;
        let mut written = 0u64;
        for op in self.batch.drain(..) {
            match write_batch(&self.store, std::slice::from_ref(&op)).await {
                Ok(()) => written += 1,
                Err(e) => {
                    last_error = Some(e);
                    kept.push(op);
                }
            }
        }
        self.counters.written.fetch_add(written, Ordering::Relaxed);
        match last_error {
            None => Ok(()),
            Some(error) if written == 0 => {
                self.batch = kept;
                Err(error)
            }
            Some(_) => {
                // Others went in, so these records are the problem, not the database.
                for op in kept {
                    let (kind, id) = op.subject();
                    tracing::error!(kind, id, "call store rejected a record; skipped");
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
        }
    }

    fn give_up(mut self, error: StoreError) {
        self.fill_all();
        let lost = self.batch.len();
        tracing::error!(records = lost, error = %error, "call store unavailable at shutdown; records lost");
        for (reply, _) in self.flushes.drain(..) {
            drop(reply);
        }
        if let Some(reply) = self.shutdown.take() {
            let _ = reply.send(Err(StoreError::Unwritten {
                lost,
                last_error: error.to_string(),
            }));
        }
    }
}

async fn write_batch(store: &Store, batch: &[Op]) -> Result<(), StoreError> {
    let failed = |source| StoreError::Query {
        what: "batch",
        source,
    };
    let mut conn = store.connection().await?;
    let mut tx = conn.begin().await.map_err(failed)?;
    for op in batch {
        apply(&mut tx, op).await?;
    }
    tx.commit().await.map_err(failed)
}

async fn apply(conn: &mut AnyConnection, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Begin(start) => db::begin_call(conn, start).await,
        Op::Finish(cdr) => db::finish_call(conn, cdr).await,
        Op::WrapUp {
            call_id,
            disposition,
            notes,
        } => db::record_wrap_up(conn, call_id, disposition, notes)
            .await
            .map(drop),
        Op::Event(event) => db::append_event(conn, event).await,
        Op::Turn(turn) => db::append_turn(conn, turn).await,
        Op::AgentState(change) => db::record_agent_state(conn, change).await,
        Op::SaveCallback(cb) => db::save_callback(conn, cb).await,
        Op::CompleteCallback {
            id,
            status,
            at_unix_ms,
        } => db::complete_callback(conn, id, *status, *at_unix_ms)
            .await
            .map(drop),
        Op::Audit(entry) => db::audit(conn, entry).await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::*;
    use crate::store::{CdrFilter, Direction, Speaker};

    fn start(call_id: &str) -> CallStart {
        CallStart {
            call_id: call_id.into(),
            direction: Direction::Outbound,
            from_number: "+15550100".into(),
            to_number: "+15550199".into(),
            trunk: "main".into(),
            started_at_unix_ms: 1_000,
            dial_plan: "survey".into(),
            dial_plan_version: "1".into(),
        }
    }

    fn cdr(call_id: &str) -> Cdr {
        let mut cdr = Cdr::started(start(call_id));
        cdr.ended_at_unix_ms = Some(2_000);
        cdr.hangup_cause = Some("normal_clearing".into());
        cdr
    }

    fn event(call_id: &str, i: usize) -> CallEvent {
        CallEvent {
            call_id: call_id.into(),
            at_unix_ms: 1_000 + i as i64,
            name: "dtmf".into(),
            data: json!({"digit": (i % 10).to_string()}),
        }
    }

    async fn temp_store() -> (tempfile::TempDir, String, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ivr.db").to_str().unwrap().to_string();
        let store = Store::open(&path).await.unwrap();
        (dir, path, store)
    }

    #[tokio::test]
    async fn shutdown_drains_every_kind_of_record() {
        let (_dir, path, store) = temp_store().await;
        let writer = StoreWriter::start(store, WriterConfig::default());
        let clone = writer.clone();
        writer.begin_call(start("c-1"));
        for i in 0..50 {
            clone.append_event(event("c-1", i));
        }
        writer.append_turn(Turn {
            call_id: "c-1".into(),
            seq: 0,
            who: Speaker::Ivr,
            text: "Press 1".into(),
            node: Some("menu".into()),
            at_ms: 0,
        });
        writer.finish_call(cdr("c-1"));
        writer.record_wrap_up("c-1", "sale", "");
        writer.record_agent_state(AgentStateChange {
            agent_id: "a-1".into(),
            state: "available".into(),
            reason: String::new(),
            at_unix_ms: 5,
        });
        writer.save_callback(Callback {
            id: "cb-1".into(),
            queue: "sales".into(),
            number: "+15550100".into(),
            priority: 1,
            enqueued_at_unix_ms: 7,
            context: json!({}),
            status: CallbackStatus::Pending,
        });
        writer.audit(AuditEntry {
            actor: "admin".into(),
            role: "admin".into(),
            action: "originate".into(),
            target: "c-1".into(),
            at_unix_ms: 9,
            details: json!({}),
        });
        let stats = writer.shutdown().await.unwrap();
        assert_eq!(stats.written, 57);
        assert_eq!((stats.dropped, stats.failed, stats.lost), (0, 0, 0));

        // After shutdown nothing more is accepted, and that is counted.
        clone.finish_call(cdr("late"));
        clone.append_event(event("late", 0));
        assert_eq!((clone.stats().lost, clone.stats().dropped), (1, 1));
        assert!(matches!(
            clone.flush().await,
            Err(StoreError::WriterStopped)
        ));

        let store = Store::open(&path).await.unwrap();
        let back = store.call("c-1").await.unwrap().unwrap();
        assert_eq!(back.ended_at_unix_ms, Some(2_000));
        assert_eq!(back.disposition.as_deref(), Some("sale"));
        assert_eq!(store.events("c-1").await.unwrap().len(), 50);
        assert_eq!(store.transcript("c-1").await.unwrap().len(), 1);
        assert_eq!(store.agent_states("a-1", 0).await.unwrap().len(), 1);
        assert_eq!(store.callbacks_pending(None).await.unwrap().len(), 1);
        assert_eq!(store.audit_entries(0, 10).await.unwrap().len(), 1);
        assert_eq!(store.call("late").await.unwrap(), None);
    }

    #[tokio::test]
    async fn flush_waits_for_records_sent_before_it() {
        let (_dir, _path, store) = temp_store().await;
        let writer = StoreWriter::start(
            store.clone(),
            WriterConfig {
                queue_capacity: 10_000,
                // Small batches: the flush must wait across several transactions.
                max_batch: 16,
            },
        );
        for i in 0..500 {
            writer.append_event(event("c-1", i));
        }
        writer.finish_call(cdr("c-1"));
        writer.flush().await.unwrap();
        assert_eq!(store.events("c-1").await.unwrap().len(), 500);
        assert!(store.call("c-1").await.unwrap().is_some());
        assert!(writer.stats().batches >= 500 / 16);
    }

    #[tokio::test]
    async fn a_full_queue_drops_events_but_never_a_call_record() {
        let (_dir, _path, store) = temp_store().await;
        // On this single-threaded runtime the writer cannot run until the test awaits, so
        // exactly `queue_capacity` events fit.
        let writer = StoreWriter::start(
            store.clone(),
            WriterConfig {
                queue_capacity: 4,
                max_batch: 1_024,
            },
        );
        for i in 0..10 {
            writer.append_event(event("c-1", i));
        }
        for i in 0..100 {
            writer.finish_call(cdr(&format!("c-{i}")));
        }
        assert_eq!(writer.stats().dropped, 6);
        writer.flush().await.unwrap();
        assert_eq!(store.events("c-1").await.unwrap().len(), 4);
        let calls = store
            .query_calls(&CdrFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(calls.len(), 100);
    }

    #[tokio::test]
    async fn a_finished_call_is_committed_promptly_without_flush() {
        let (_dir, path, store) = temp_store().await;
        let writer = StoreWriter::start(store, WriterConfig::default());
        // A separate pool sees only what is committed to the file.
        let reader = Store::open(&path).await.unwrap();
        let sent = Instant::now();
        writer.finish_call(cdr("c-1"));
        let mut polls = 0;
        while reader.call("c-1").await.unwrap().is_none() {
            polls += 1;
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "record not committed after 5 s"
            );
            tokio::task::yield_now().await;
        }
        let latency = sent.elapsed();
        println!("CDR visible to another connection after {latency:?} ({polls} polls)");
        assert!(latency < Duration::from_secs(1), "{latency:?}");
    }

    #[tokio::test]
    async fn a_record_the_database_rejects_is_skipped_and_the_rest_written() {
        let (_dir, _path, store) = temp_store().await;
        // A trigger makes the database refuse one particular call record.
        sqlx::query(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON calls WHEN NEW.call_id = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&store.pool_for_tests())
        .await
        .unwrap();
        let writer = StoreWriter::start(store.clone(), WriterConfig::default());
        writer.finish_call(cdr("good-1"));
        writer.finish_call(cdr("poison"));
        writer.finish_call(cdr("good-2"));
        writer.append_event(event("good-1", 0));
        let stats = writer.shutdown().await.unwrap();
        assert_eq!((stats.written, stats.failed), (3, 1));
        assert!(store.call("good-1").await.unwrap().is_some());
        assert!(store.call("good-2").await.unwrap().is_some());
        assert!(store.call("poison").await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn throughput_of_calls_with_events_through_the_writer() {
        let (_dir, _path, store) = temp_store().await;
        const CALLS: usize = 2_000;
        const EVENTS_PER_CALL: usize = 10;
        let writer = StoreWriter::start(
            store.clone(),
            WriterConfig {
                queue_capacity: CALLS * (EVENTS_PER_CALL + 2),
                max_batch: 1_024,
            },
        );
        let begun = Instant::now();
        for c in 0..CALLS {
            let id = format!("t-{c}");
            writer.begin_call(start(&id));
            for i in 0..EVENTS_PER_CALL {
                writer.append_event(event(&id, i));
            }
            for seq in 0..2u32 {
                writer.append_turn(Turn {
                    call_id: id.clone(),
                    seq,
                    who: Speaker::Caller,
                    text: "yes".into(),
                    node: None,
                    at_ms: u64::from(seq) * 1000,
                });
            }
            writer.finish_call(cdr(&id));
        }
        writer.flush().await.unwrap();
        let elapsed = begun.elapsed().as_secs_f64();
        let stats = writer.stats();
        let records = CALLS * (EVENTS_PER_CALL + 4);
        assert_eq!(stats.written, records as u64);
        assert_eq!(stats.dropped, 0);
        println!(
            "store writer: {CALLS} calls ({} records) in {elapsed:.2} s = {:.0} CDRs/s, \
             {:.0} records/s, {} transactions",
            records,
            CALLS as f64 / elapsed,
            records as f64 / elapsed,
            stats.batches,
        );
        assert_eq!(store.events("t-1999").await.unwrap().len(), EVENTS_PER_CALL);
    }
}
