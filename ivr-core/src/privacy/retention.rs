//! Retention: recordings are deleted once they are older than the retention period.
//!
//! Storage-limitation rules (GDPR art. 5(1)(e), PIPL art. 19) require personal data to be
//! kept no longer than needed. Call recordings are the bulkiest personal data the engine
//! stores, so they carry their own period, in whole days, counted from each file's
//! **modification time** (when the recorder finished writing it). A file is expired when it
//! is *more than* `retention_days × 24 h` old; a file dated in the future (clock skew, a
//! restored backup) is kept.
//!
//! [`expired`] is the pure decision, for any listing. [`sweep`] applies it to a directory
//! tree: it deletes regular files whose last extension is one of [`RECORDING_EXTENSIONS`]
//! (plain and encrypted recordings, and `.partial` leftovers of interrupted encryption or
//! decryption, which may hold plaintext), never follows symbolic links, leaves directories in
//! place, and keeps going past files it cannot delete, listing them in the report. The caller
//! records the deletions in the audit log (`action: "recording.delete"`, `actor: "retention"`).
//!
//! [`spawn_retention`] is the engine's background job: every `[privacy] retention_interval`
//! (an hour by default) it sweeps `DATA/recordings` and `DATA/voicemail` with
//! `recording_retention_days`, deletes the transcript turns of calls that started more than
//! `transcript_retention_days` ago (the call records stay), and records what it deleted in the
//! audit log `DATA/audit.jsonl` as actor `retention`, role `system`. [`run_retention`] is one
//! pass of it.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use std::{fs, io};

/// Last file-name extensions that mark recordings (compared ASCII-case-insensitively).
pub const RECORDING_EXTENSIONS: &[&str] = &["wav", "enc", "partial"];

/// Deepest directory level below the swept directory that is visited.
const MAX_DEPTH: usize = 16;

/// The items of `files` (path, modification time) that are more than `retention_days` old
/// at `now`, in their input order.
pub fn expired<P>(
    files: impl IntoIterator<Item = (P, SystemTime)>,
    now: SystemTime,
    retention_days: NonZeroU32,
) -> Vec<P> {
    let keep_for = Duration::from_secs(u64::from(retention_days.get()) * 24 * 60 * 60);
    files
        .into_iter()
        .filter(|(_, modified)| {
            now.duration_since(*modified)
                .is_ok_and(|age| age > keep_for)
        })
        .map(|(p, _)| p)
        .collect()
}

/// Why a sweep could not start.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The recordings directory cannot be read.
    #[error("cannot read recordings directory {}: {source}; check the path in the configuration and its permissions", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A file the sweep could not inspect or delete.
#[derive(Debug)]
pub struct SweepFailure {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub error: io::Error,
}

/// What a [`sweep`] did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Recordings deleted.
    pub deleted: Vec<PathBuf>,
    /// Their total size in bytes.
    pub bytes_freed: u64,
    /// Recordings still within the retention period (failed deletions are not counted here).
    pub kept: usize,
    /// Files or directories that could not be read or deleted.
    pub failed: Vec<SweepFailure>,
}

/// Deletes recordings under `dir` (recursively) more than `retention_days` old at `now`.
/// Fails only if `dir` itself cannot be read.
pub fn sweep(
    dir: &Path,
    retention_days: NonZeroU32,
    now: SystemTime,
) -> Result<SweepReport, RetentionError> {
    let mut report = SweepReport::default();
    let mut found = Vec::new();
    let top = fs::read_dir(dir).map_err(|source| RetentionError::ReadDir {
        dir: dir.to_owned(),
        source,
    })?;
    let mut pending = vec![(top, 0usize)];
    while let Some((entries, depth)) = pending.pop() {
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(error) => {
                    report.failed.push(SweepFailure {
                        path: dir.to_owned(),
                        error,
                    });
                    continue;
                }
            };
            let path = entry.path();
            // `DirEntry::metadata` does not follow symbolic links.
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(error) => {
                    report.failed.push(SweepFailure { path, error });
                    continue;
                }
            };
            if meta.is_dir() && depth < MAX_DEPTH {
                match fs::read_dir(&path) {
                    Ok(sub) => pending.push((sub, depth + 1)),
                    Err(error) => report.failed.push(SweepFailure { path, error }),
                }
            } else if meta.is_file() && is_recording(&path) {
                match meta.modified() {
                    Ok(modified) => found.push(((path, meta.len()), modified)),
                    Err(error) => report.failed.push(SweepFailure { path, error }),
                }
            }
        }
    }
    let total = found.len();
    let to_delete = expired(found, now, retention_days);
    report.kept = total - to_delete.len();
    for (path, len) in to_delete {
        match fs::remove_file(&path) {
            Ok(()) => {
                report.bytes_freed += len;
                report.deleted.push(path);
            }
            Err(error) => report.failed.push(SweepFailure { path, error }),
        }
    }
    report.deleted.sort();
    Ok(report)
}

fn is_recording(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        RECORDING_EXTENSIONS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(e))
    })
}

/// What one [`run_retention`] pass did.
#[derive(Debug, Default)]
pub struct RetentionRun {
    /// Recording and voicemail files deleted.
    pub files_deleted: Vec<PathBuf>,
    /// Their total size in bytes.
    pub bytes_freed: u64,
    /// Transcript turns deleted.
    pub turns_deleted: u64,
    /// What went wrong (the pass goes on past each problem).
    pub problems: Vec<String>,
}

/// Most file names recorded in one audit entry.
const FILES_PER_AUDIT_ENTRY: usize = 200;

/// One retention pass at `now` (see the module docs). Blocking file work runs on the blocking
/// pool.
pub async fn run_retention(
    config: &crate::config::PrivacyConfig,
    data_dir: &Path,
    store: Option<&crate::store::Store>,
    now: SystemTime,
) -> RetentionRun {
    let mut run = RetentionRun::default();
    if let Some(days) = config.recording_retention_days {
        for sub in ["recordings", "voicemail"] {
            let dir = data_dir.join(sub);
            if !dir.is_dir() {
                continue;
            }
            let swept = tokio::task::spawn_blocking(move || sweep(&dir, days, now)).await;
            match swept {
                Ok(Ok(report)) => {
                    run.bytes_freed += report.bytes_freed;
                    run.files_deleted.extend(report.deleted);
                    run.problems.extend(
                        report
                            .failed
                            .iter()
                            .map(|f| format!("{}: {}", f.path.display(), f.error)),
                    );
                }
                Ok(Err(e)) => run.problems.push(e.to_string()),
                Err(e) => run.problems.push(e.to_string()),
            }
        }
    }
    let mut transcript_cutoff = None;
    if let (Some(days), Some(store)) = (config.transcript_retention_days, store) {
        let keep = Duration::from_secs(u64::from(days.get()) * 24 * 60 * 60);
        let cutoff = now.checked_sub(keep).unwrap_or(SystemTime::UNIX_EPOCH);
        match store
            .delete_transcripts_before(crate::store::unix_ms(cutoff))
            .await
        {
            Ok(n) => run.turns_deleted = n,
            Err(e) => run.problems.push(e.to_string()),
        }
        transcript_cutoff = Some(cutoff);
    }
    let mut entries: Vec<(&'static str, &'static str, serde_json::Value)> = Vec::new();
    let names: Vec<String> = run
        .files_deleted
        .iter()
        .map(|p| p.strip_prefix(data_dir).unwrap_or(p).display().to_string())
        .collect();
    for chunk in names.chunks(FILES_PER_AUDIT_ENTRY) {
        entries.push((
            "recording.delete",
            "recordings",
            serde_json::json!({
                "files": chunk,
                "retention_days": config.recording_retention_days.map(|d| d.get()),
            }),
        ));
    }
    if let (Some(cutoff), true) = (transcript_cutoff, run.turns_deleted > 0) {
        entries.push((
            "transcript.delete",
            "transcripts",
            serde_json::json!({
                "turns": run.turns_deleted,
                "calls_started_before": crate::events::timestamp(cutoff),
                "retention_days": config.transcript_retention_days.map(|d| d.get()),
            }),
        ));
    }
    if !entries.is_empty() {
        let path = data_dir.join("audit.jsonl");
        let audited = tokio::task::spawn_blocking(move || {
            let log = super::audit::AuditLog::open(&path)?;
            for (action, target, details) in entries {
                log.append(
                    super::audit::NewEntry {
                        actor: "retention",
                        role: "system",
                        action,
                        target,
                        details,
                    },
                    now,
                )?;
            }
            Ok::<(), super::audit::AuditError>(())
        })
        .await;
        match audited {
            Ok(Ok(())) => {}
            Ok(Err(e)) => run.problems.push(e.to_string()),
            Err(e) => run.problems.push(e.to_string()),
        }
    }
    run
}

/// Starts the retention job: a pass at once, then one every `config.retention_interval`
/// (passes never overlap; a late pass is not made up twice). Abort the handle to stop it.
pub fn spawn_retention(
    config: crate::config::PrivacyConfig,
    data_dir: PathBuf,
    store: Option<crate::store::Store>,
) -> tokio::task::JoinHandle<()> {
    spawn_reporting(config, data_dir, store, None)
}

/// [`spawn_retention`], also sending each pass's report to `passes`.
fn spawn_reporting(
    config: crate::config::PrivacyConfig,
    data_dir: PathBuf,
    store: Option<crate::store::Store>,
    passes: Option<tokio::sync::mpsc::UnboundedSender<RetentionRun>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = config.retention_interval.max(Duration::from_secs(1));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let run = run_retention(&config, &data_dir, store.as_ref(), SystemTime::now()).await;
            if !run.files_deleted.is_empty() || run.turns_deleted > 0 {
                tracing::info!(
                    files = run.files_deleted.len(),
                    bytes = run.bytes_freed,
                    turns = run.turns_deleted,
                    "retention: expired recordings and transcripts deleted"
                );
            }
            for problem in &run.problems {
                tracing::warn!(problem = %problem, "retention");
            }
            if let Some(tx) = &passes {
                let _ = tx.send(run);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn days(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
    }

    #[test]
    fn only_files_older_than_the_period_expire() {
        let files = [
            ("a", now() - DAY * 31),
            ("exactly", now() - DAY * 30),
            ("b", now() - DAY * 30 - Duration::from_secs(1)),
            ("fresh", now() - DAY),
            ("future", now() + DAY * 400),
            ("c", SystemTime::UNIX_EPOCH),
        ];
        assert_eq!(expired(files, now(), days(30)), ["a", "b", "c"]);
        assert!(expired(files, now(), days(100_000)).is_empty());
    }

    fn touch(path: &Path, modified: SystemTime, size: usize) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, vec![0u8; size]).unwrap();
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }

    #[test]
    fn sweep_deletes_old_recordings_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let old = now() - DAY * 40;
        touch(&d.join("old.wav"), old, 100);
        touch(&d.join("old.wav.enc"), old, 50);
        touch(&d.join("2025/05/deep.WAV"), old, 10);
        touch(&d.join("stale.wav.enc.partial"), old, 1);
        touch(&d.join("new.wav"), now() - DAY, 100);
        touch(&d.join("edge.wav"), now() - DAY * 30, 100);
        touch(&d.join("notes.txt"), old, 5);
        touch(&d.join("audit.jsonl"), old, 5);
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.join("new.wav"), d.join("link.wav")).unwrap();
        let report = sweep(d, days(30), now()).unwrap();
        let mut expected = vec![
            d.join("2025/05/deep.WAV"),
            d.join("old.wav"),
            d.join("old.wav.enc"),
            d.join("stale.wav.enc.partial"),
        ];
        expected.sort();
        assert_eq!(report.deleted, expected);
        assert_eq!(report.bytes_freed, 161);
        assert_eq!(report.kept, 2);
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        for kept in ["new.wav", "edge.wav", "notes.txt", "audit.jsonl"] {
            assert!(d.join(kept).exists(), "{kept}");
        }
        assert!(d.join("2025/05").is_dir(), "directories stay");
        #[cfg(unix)]
        assert!(
            d.join("link.wav").symlink_metadata().is_ok(),
            "symlinks are not touched"
        );
        // A second sweep finds nothing more to do.
        assert!(sweep(d, days(30), now()).unwrap().deleted.is_empty());
    }

    #[test]
    fn sweep_of_a_missing_directory_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("recordings");
        let err = sweep(&missing, days(1), now()).unwrap_err();
        assert!(err.to_string().contains("recordings"), "{err}");
    }

    async fn store_with_calls(dir: &Path, starts: &[(&str, i64)]) -> crate::store::Store {
        let store = crate::store::Store::open(dir.join("ivr.db").to_str().unwrap())
            .await
            .unwrap();
        for (id, at) in starts {
            let start = crate::store::CallStart {
                call_id: id.to_string(),
                direction: crate::store::Direction::Inbound,
                from_number: "+15550100".into(),
                to_number: "+15550199".into(),
                trunk: "t".into(),
                started_at_unix_ms: *at,
                dial_plan: "p".into(),
                dial_plan_version: "1".into(),
            };
            store
                .finish_call(&crate::store::Cdr::started(start))
                .await
                .unwrap();
            store
                .append_turn(&crate::store::Turn {
                    call_id: id.to_string(),
                    seq: 0,
                    who: crate::store::Speaker::Caller,
                    text: "hello".into(),
                    node: None,
                    at_ms: 0,
                })
                .await
                .unwrap();
        }
        store
    }

    fn privacy(recordings: u32, transcripts: u32) -> crate::config::PrivacyConfig {
        crate::config::PrivacyConfig {
            recording_retention_days: NonZeroU32::new(recordings),
            transcript_retention_days: NonZeroU32::new(transcripts),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_retention_pass_deletes_old_recordings_and_transcripts_and_audits_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(&d.join("recordings/old.wav.enc"), now() - DAY * 40, 10);
        touch(&d.join("recordings/new.wav.enc"), now() - DAY, 10);
        touch(&d.join("voicemail/sales/old.wav"), now() - DAY * 40, 5);
        let store = store_with_calls(
            d,
            &[
                ("old", crate::store::unix_ms(now() - DAY * 8)),
                ("new", crate::store::unix_ms(now() - DAY * 6)),
            ],
        )
        .await;
        let run = run_retention(&privacy(30, 7), d, Some(&store), now()).await;
        assert!(run.problems.is_empty(), "{:?}", run.problems);
        assert_eq!(
            run.files_deleted,
            [
                d.join("recordings/old.wav.enc"),
                d.join("voicemail/sales/old.wav")
            ]
        );
        assert_eq!(run.bytes_freed, 15);
        assert_eq!(run.turns_deleted, 1);
        assert!(d.join("recordings/new.wav.enc").exists());
        assert!(store.transcript("old").await.unwrap().is_empty());
        assert_eq!(store.transcript("new").await.unwrap().len(), 1);
        assert!(
            store.call("old").await.unwrap().is_some(),
            "the call record stays"
        );
        let report = super::super::audit::verify(&d.join("audit.jsonl")).unwrap();
        assert!(report.is_intact());
        assert_eq!(report.entries, 2);
        let log = fs::read_to_string(d.join("audit.jsonl")).unwrap();
        assert!(
            log.contains(
                "\"actor\":\"retention\",\"role\":\"system\",\"action\":\"recording.delete\""
            ),
            "{log}"
        );
        assert!(log.contains("recordings/old.wav.enc") && log.contains("transcript.delete"));
        // Nothing more to do: nothing more is audited.
        let again = run_retention(&privacy(30, 7), d, Some(&store), now()).await;
        assert!(again.files_deleted.is_empty() && again.turns_deleted == 0);
        assert_eq!(
            super::super::audit::verify(&d.join("audit.jsonl"))
                .unwrap()
                .entries,
            2
        );
    }

    #[tokio::test]
    async fn without_retention_periods_nothing_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(&d.join("recordings/old.wav"), now() - DAY * 4000, 10);
        let store = store_with_calls(d, &[("old", 0)]).await;
        let run = run_retention(&privacy(0, 0), d, Some(&store), now()).await;
        assert!(run.files_deleted.is_empty() && run.turns_deleted == 0);
        assert!(d.join("recordings/old.wav").exists());
        assert!(!d.join("audit.jsonl").exists());
    }

    #[tokio::test]
    async fn the_job_makes_its_first_pass_at_once_and_reports_each_pass() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        touch(&d.join("recordings/a.wav"), SystemTime::now() - DAY * 40, 1);
        let (tx, mut passes) = tokio::sync::mpsc::unbounded_channel();
        let job = spawn_reporting(privacy(30, 0), d.clone(), None, Some(tx));
        let first = passes.recv().await.unwrap();
        assert_eq!(first.files_deleted, [d.join("recordings/a.wav")]);
        assert!(!d.join("recordings/a.wav").exists());
        job.abort();
    }
}
