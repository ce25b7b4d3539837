//! An append-only, hash-chained audit log of access to personal data.
//!
//! # What is stored and why
//!
//! One JSON object per line (JSON Lines), written by one process:
//!
//! ```json
//! {"seq":1,"ts":"2025-05-12T08:30:00.000Z","actor":"alice","role":"supervisor","action":"recording.play","target":"rec/2025-05-12/c-42.wav.enc","details":{"reason":"complaint 7781"},"prev_hash":"000…000","hash":"9f2c…"}
//! ```
//!
//! * `seq` — 1, 2, 3, … with no gaps, so a deleted or inserted line shows.
//! * `ts` — UTC time of the action (RFC 3339, milliseconds), given by the caller.
//! * `actor`, `role` — who acted and in which capacity (a user name, `system`, `retention`).
//! * `action` — what was done (`recording.play`, `recording.delete`, `transcript.export`, …).
//! * `target` — what it was done to: a call id or file name, **never** the personal data
//!   itself (no card numbers, no transcript text); pass free text through
//!   [`crate::privacy::redact`] first.
//! * `details` — any JSON object with context (a ticket number, a count).
//! * `prev_hash` — the `hash` of the previous entry (64 zeros for the first).
//! * `hash` — lowercase hex SHA-256 of the entry's **canonical serialization without
//!   `hash`**: the fields in the order above, no whitespace, object keys of `details` sorted,
//!   strings escaped as by `serde_json`. Because `prev_hash` is inside what is hashed, each
//!   entry commits to the whole history before it.
//!
//! Editing a line breaks its hash; deleting, reordering or inserting lines breaks `seq` and
//! the `prev_hash` links; [`verify`] reports the first line where the chain breaks. Cutting
//! entries off the **end** leaves a shorter valid chain: to detect that, copy
//! [`AuditLog::head`] (seq and hash) somewhere the log's writer cannot change (a ticket, a
//! WORM store, a daily e-mail) and check it with [`verify_against`].
//!
//! # Durability and concurrency
//!
//! Each entry is written with one `write` call on a file opened for appending, then
//! `fsync`ed ([`FsyncPolicy::EveryEntry`], the default: audit entries are rare and must
//! survive a crash). [`FsyncPolicy::OsDecides`] leaves flushing to the OS for tests and bulk
//! imports. [`AuditLog::append`] takes `&self` and serialises callers with an internal mutex,
//! so one `Arc<AuditLog>` serves every task. Each append also holds an exclusive advisory lock
//! on the file (`flock`) while it reads the chain's head and writes: several processes (the
//! engine and the `ivr privacy …` commands) may append to one log, each entry chained to the
//! one before it, whoever wrote that.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// UTC time, RFC 3339 with milliseconds.
    pub ts: String,
    /// Who acted.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// What was done.
    pub action: String,
    /// To what (an id or file name, not personal data).
    pub target: String,
    /// Extra context.
    pub details: serde_json::Value,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry (see the module docs).
    pub hash: String,
}

impl Entry {
    /// The canonical serialization of every field but `hash`, which `hash` is computed over.
    pub fn canonical(&self) -> String {
        let mut s = String::with_capacity(256);
        s.push_str("{\"seq\":");
        let _ = write!(s, "{}", self.seq);
        for (name, value) in [
            ("ts", &self.ts),
            ("actor", &self.actor),
            ("role", &self.role),
            ("action", &self.action),
            ("target", &self.target),
        ] {
            let _ = write!(s, ",\"{name}\":");
            push_json_string(&mut s, value);
        }
        s.push_str(",\"details\":");
        push_canonical(&mut s, &self.details);
        s.push_str(",\"prev_hash\":");
        push_json_string(&mut s, &self.prev_hash);
        s.push('}');
        s
    }

    /// The hash this entry should carry.
    pub fn compute_hash(&self) -> String {
        hex(&Sha256::digest(self.canonical().as_bytes()))
    }

    /// The line written to the file: the canonical form with `hash` appended, no newline.
    fn line(&self) -> String {
        let mut s = self.canonical();
        s.pop();
        s.push_str(",\"hash\":");
        push_json_string(&mut s, &self.hash);
        s.push('}');
        s
    }
}

fn push_json_string(s: &mut String, v: &str) {
    // Serializing a str to JSON cannot fail.
    s.push_str(&serde_json::to_string(v).unwrap_or_default());
}

/// Canonical JSON: no whitespace, object keys sorted by their bytes.
fn push_canonical(s: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Array(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_canonical(s, item);
            }
            s.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            s.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_json_string(s, k);
                s.push(':');
                if let Some(v) = map.get(k) {
                    push_canonical(s, v);
                }
            }
            s.push('}');
        }
        Value::String(x) => push_json_string(s, x),
        other => s.push_str(&other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What a caller records; the log adds `seq`, `ts` and the hashes.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// Who acted.
    pub actor: &'a str,
    /// In which role.
    pub role: &'a str,
    /// What was done.
    pub action: &'a str,
    /// To what.
    pub target: &'a str,
    /// Extra context (`serde_json::Value::Null` for none).
    pub details: serde_json::Value,
}

/// When appended entries are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `fsync` after every entry (the default).
    #[default]
    EveryEntry,
    /// Leave it to the OS (an entry may be lost in a power cut).
    OsDecides,
}

/// The last entry of a chain: keep a copy outside the log to detect entries cut off its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Its `seq`.
    pub seq: u64,
    /// Its `hash`.
    pub hash: String,
}

/// Why the audit log cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file system refused.
    #[error("cannot {action} audit log {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The last line has no newline: a write was interrupted.
    #[error(
        "audit log {} ends with an incomplete entry at byte {offset} (a write interrupted by a crash?): \
         verify the log, keep a copy of it, then truncate it to {offset} bytes to continue",
        path.display()
    )]
    IncompleteTail {
        /// The log file.
        path: PathBuf,
        /// Where the incomplete entry starts.
        offset: u64,
    },
    /// The last line is not an entry whose hash is right.
    #[error("the last entry of audit log {} is damaged ({reason}): verify the log and restore it from a backup", path.display())]
    DamagedTail {
        /// The log file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

struct State {
    file: File,
    len: u64,
    head: Head,
}

/// An open audit log; see the module docs.
pub struct AuditLog {
    path: PathBuf,
    fsync: FsyncPolicy,
    state: Mutex<State>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("head", &self.head())
            .finish()
    }
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` with [`FsyncPolicy::EveryEntry`] and
    /// recovers the chain's head from its last line.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open_with(path, FsyncPolicy::EveryEntry)
    }

    /// Like [`AuditLog::open`] with a chosen fsync policy.
    pub fn open_with(path: &Path, fsync: FsyncPolicy) -> Result<AuditLog, AuditError> {
        let io_err = |action| {
            move |source| AuditError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err("open"))?;
        file.lock().map_err(io_err("lock"))?;
        let read = file
            .metadata()
            .map_err(io_err("read"))
            .and_then(|m| Ok((m.len(), read_head(&mut file, m.len(), path)?)));
        let _ = file.unlock();
        let (len, head) = read?;
        Ok(AuditLog {
            path: path.to_owned(),
            fsync,
            state: Mutex::new(State { file, len, head }),
        })
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last entry's seq and hash (seq 0 and [`GENESIS_HASH`] for an empty log).
    pub fn head(&self) -> Head {
        self.lock().head.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is only updated after a complete write, so it is sound after a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an entry stamped `now` and returns the new head. If the write fails the file
    /// is cut back to its previous length so the chain stays intact.
    pub fn append(&self, new: NewEntry<'_>, now: SystemTime) -> Result<Head, AuditError> {
        let mut state = self.lock();
        let io_err = |action| {
            move |source| AuditError::Io {
                action,
                path: self.path.clone(),
                source,
            }
        };
        state.file.lock().map_err(io_err("lock"))?;
        let appended = self.append_locked(&mut state, new, now);
        let _ = state.file.unlock();
        appended
    }

    /// [`AuditLog::append`] once the file lock is held: catches up with entries another
    /// process appended, then writes.
    fn append_locked(
        &self,
        state: &mut State,
        new: NewEntry<'_>,
        now: SystemTime,
    ) -> Result<Head, AuditError> {
        let len = state
            .file
            .metadata()
            .map_err(|source| AuditError::Io {
                action: "read",
                path: self.path.clone(),
                source,
            })?
            .len();
        if len != state.len {
            state.head = read_head(&mut state.file, len, &self.path)?;
            state.len = len;
        }
        let ts = chrono::DateTime::<chrono::Utc>::from(now)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut entry = Entry {
            seq: state.head.seq + 1,
            ts,
            actor: new.actor.to_owned(),
            role: new.role.to_owned(),
            action: new.action.to_owned(),
            target: new.target.to_owned(),
            details: new.details,
            prev_hash: state.head.hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        let mut line = entry.line();
        line.push('\n');
        let io_err = |action| {
            move |source| AuditError::Io {
                action,
                path: self.path.clone(),
                source,
            }
        };
        let written = state
            .file
            .write_all(line.as_bytes())
            .and_then(|()| match self.fsync {
                FsyncPolicy::EveryEntry => state.file.sync_data(),
                FsyncPolicy::OsDecides => Ok(()),
            });
        if let Err(e) = written {
            let _ = state.file.set_len(state.len);
            return Err(io_err("append to")(e));
        }
        state.len += line.len() as u64;
        state.head = Head {
            seq: entry.seq,
            hash: entry.hash,
        };
        Ok(state.head.clone())
    }
}

/// The head of the chain in `file` (`len` bytes long): its last entry's seq and hash.
fn read_head(file: &mut File, len: u64, path: &Path) -> Result<Head, AuditError> {
    let tail = last_line(file, len).map_err(|source| AuditError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    match tail {
        Tail::Empty => Ok(Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }),
        Tail::Incomplete(offset) => Err(AuditError::IncompleteTail {
            path: path.to_owned(),
            offset,
        }),
        Tail::Line(line) => {
            let damaged = |reason: String| AuditError::DamagedTail {
                path: path.to_owned(),
                reason,
            };
            let entry: Entry = serde_json::from_slice(&line).map_err(|e| damaged(e.to_string()))?;
            if entry.compute_hash() != entry.hash {
                return Err(damaged("its hash does not match its content".into()));
            }
            Ok(Head {
                seq: entry.seq,
                hash: entry.hash,
            })
        }
    }
}

enum Tail {
    Empty,
    /// The last line lacks its newline; it starts at this offset.
    Incomplete(u64),
    /// The last complete line, without its newline.
    Line(Vec<u8>),
}

/// Reads the last line by scanning back from the end in growing windows.
fn last_line(file: &mut File, len: u64) -> io::Result<Tail> {
    if len == 0 {
        return Ok(Tail::Empty);
    }
    let mut window = 4096u64.min(len);
    loop {
        let start = len - window;
        file.seek(SeekFrom::Start(start))?;
        let mut buf = vec![0u8; window as usize];
        file.read_exact(&mut buf)?;
        let ends_with_newline = buf.last() == Some(&b'\n');
        let body = if ends_with_newline {
            &buf[..buf.len() - 1]
        } else {
            &buf[..]
        };
        if let Some(nl) = body.iter().rposition(|&b| b == b'\n') {
            let line = &body[nl + 1..];
            return Ok(if ends_with_newline {
                Tail::Line(line.to_vec())
            } else {
                Tail::Incomplete(start + nl as u64 + 1)
            });
        }
        if start == 0 {
            return Ok(if ends_with_newline {
                Tail::Line(body.to_vec())
            } else {
                Tail::Incomplete(0)
            });
        }
        window = (window * 2).min(len);
    }
}

/// Where and how a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The line is not a JSON entry with exactly the expected fields.
    NotAnEntry(String),
    /// `seq` is not the previous one plus one (an entry was deleted, inserted or moved).
    WrongSeq {
        /// The seq that should be here.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// `prev_hash` is not the previous entry's hash (an earlier entry was rewritten).
    BrokenLink,
    /// `hash` does not match the entry's content (this entry was edited).
    WrongHash,
    /// The last line has no newline (an interrupted write).
    IncompleteLastLine,
    /// The anchored head given to [`verify_against`] is not in the log (entries were cut off
    /// the end, or the log was replaced).
    AnchorMissing {
        /// The anchored seq.
        seq: u64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NotAnEntry(why) => write!(f, "not an audit entry: {why}"),
            Problem::WrongSeq { expected, found } => {
                write!(f, "seq {found} where {expected} was expected (entries deleted, inserted or moved)")
            }
            Problem::BrokenLink => f.write_str(
                "prev_hash does not match the previous entry (an earlier entry was rewritten)",
            ),
            Problem::WrongHash => {
                f.write_str("hash does not match the entry's content (the entry was edited)")
            }
            Problem::IncompleteLastLine => {
                f.write_str("the last line is incomplete (an interrupted write)")
            }
            Problem::AnchorMissing { seq } => {
                write!(f, "the anchored entry {seq} is not in the log (entries were cut off its end or it was replaced)")
            }
        }
    }
}

/// The first broken line of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong there.
    pub problem: Problem,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries that verified before the first problem (all of them when intact).
    pub entries: u64,
    /// The last verified entry.
    pub head: Option<Head>,
    /// The first problem, if any.
    pub first_broken: Option<Broken>,
}

impl VerifyReport {
    /// Whether the whole log verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Checks the whole chain of the log at `path`, reading it line by line.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    verify_inner(path, None)
}

/// Like [`verify`], and also checks that the entry `anchor.seq` still has hash `anchor.hash`.
pub fn verify_against(path: &Path, anchor: &Head) -> Result<VerifyReport, AuditError> {
    verify_inner(path, Some(anchor))
}

fn verify_inner(path: &Path, anchor: Option<&Head>) -> Result<VerifyReport, AuditError> {
    let io_err = |action| {
        move |source| AuditError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let mut reader = io::BufReader::new(File::open(path).map_err(io_err("open"))?);
    let mut report = VerifyReport {
        entries: 0,
        head: None,
        first_broken: None,
    };
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut anchor_seen = anchor.is_none_or(|a| a.seq == 0 && a.hash == GENESIS_HASH);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(io_err("read"))?
            == 0
        {
            break;
        }
        number += 1;
        let broken = |problem| {
            Some(Broken {
                line: number,
                problem,
            })
        };
        if line.pop() != Some(b'\n') {
            report.first_broken = broken(Problem::IncompleteLastLine);
            return Ok(report);
        }
        let entry: Entry = match serde_json::from_slice(&line) {
            Ok(e) => e,
            Err(e) => {
                report.first_broken = broken(Problem::NotAnEntry(e.to_string()));
                return Ok(report);
            }
        };
        let expected = report.entries + 1;
        let problem = if entry.seq != expected {
            Some(Problem::WrongSeq {
                expected,
                found: entry.seq,
            })
        } else if entry.prev_hash != prev_hash {
            Some(Problem::BrokenLink)
        } else if entry.compute_hash() != entry.hash {
            Some(Problem::WrongHash)
        } else {
            None
        };
        if let Some(p) = problem {
            report.first_broken = broken(p);
            return Ok(report);
        }
        anchor_seen |= anchor.is_some_and(|a| a.seq == entry.seq && a.hash == entry.hash);
        report.entries = entry.seq;
        prev_hash = entry.hash.clone();
        report.head = Some(Head {
            seq: entry.seq,
            hash: entry.hash,
        });
    }
    if let (false, Some(a)) = (anchor_seen, anchor) {
        report.first_broken = Some(Broken {
            line: number + 1,
            problem: Problem::AnchorMissing { seq: a.seq },
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_747_000_000 + secs)
    }

    fn entry(i: u64) -> NewEntry<'static> {
        NewEntry {
            actor: "alice",
            role: "supervisor",
            action: "recording.play",
            target: "rec/c-42.wav.enc",
            details: serde_json::json!({ "n": i, "reason": "complaint \"7781\"\n", "zeta": [1, 2.5, null] }),
        }
    }

    /// A log of `n` entries in a temp dir; returns the dir (kept alive) and the path.
    fn log_with(n: u64) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open_with(&path, FsyncPolicy::OsDecides).unwrap();
        for i in 0..n {
            log.append(entry(i), at(i)).unwrap();
        }
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(path: &Path, lines: &[String]) {
        std::fs::write(
            path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    fn first_broken(path: &Path) -> Broken {
        verify(path)
            .unwrap()
            .first_broken
            .expect("tampering detected")
    }

    #[test]
    fn appended_entries_form_a_verifiable_chain_across_reopen() {
        let (_dir, path) = log_with(3);
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.head().seq, 3);
        let head = log.append(entry(3), at(3)).unwrap();
        drop(log);
        let report = verify(&path).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.entries, 4);
        assert_eq!(report.head, Some(head));
        let l = lines(&path);
        let first: Entry = serde_json::from_str(&l[0]).unwrap();
        assert_eq!(first.prev_hash, GENESIS_HASH);
        assert_eq!(first.ts, "2025-05-11T21:46:40.000Z");
        let second: Entry = serde_json::from_str(&l[1]).unwrap();
        assert_eq!(second.prev_hash, first.hash);
    }

    #[test]
    fn hash_is_sha256_of_the_canonical_form_and_key_order_does_not_matter() {
        let mut e = Entry {
            seq: 1,
            ts: "t".into(),
            actor: "a".into(),
            role: "r".into(),
            action: "x".into(),
            target: "y".into(),
            details: serde_json::json!({"b": 1, "a": {"d": 2, "c": 3}}),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let canonical = format!(
            "{{\"seq\":1,\"ts\":\"t\",\"actor\":\"a\",\"role\":\"r\",\"action\":\"x\",\"target\":\"y\",\
             \"details\":{{\"a\":{{\"c\":3,\"d\":2}},\"b\":1}},\"prev_hash\":\"{GENESIS_HASH}\"}}"
        );
        assert_eq!(e.canonical(), canonical);
        assert_eq!(e.compute_hash(), hex(&Sha256::digest(canonical.as_bytes())));
        e.hash = e.compute_hash();
        let reordered: Entry =
            serde_json::from_str(&serde_json::to_string_pretty(&e).unwrap()).unwrap();
        assert_eq!(reordered.compute_hash(), e.hash);
    }

    #[test]
    fn reformatted_but_unchanged_lines_still_verify() {
        let (_dir, path) = log_with(2);
        let l: Vec<String> = lines(&path)
            .iter()
            .map(|x| {
                serde_json::to_string(&serde_json::from_str::<serde_json::Value>(x).unwrap())
                    .unwrap()
            })
            .collect();
        write_lines(&path, &l);
        assert!(verify(&path).unwrap().is_intact());
    }

    #[test]
    fn edited_entry_is_reported_at_its_line() {
        let (_dir, path) = log_with(5);
        let mut l = lines(&path);
        l[2] = l[2].replace("alice", "mallory");
        write_lines(&path, &l);
        assert_eq!(
            first_broken(&path),
            Broken {
                line: 3,
                problem: Problem::WrongHash
            }
        );
        assert_eq!(verify(&path).unwrap().entries, 2);
    }

    #[test]
    fn edited_and_rehashed_entry_breaks_the_next_link() {
        let (_dir, path) = log_with(5);
        let mut l = lines(&path);
        let mut e: Entry = serde_json::from_str(&l[1]).unwrap();
        e.action = "recording.delete".into();
        e.hash = e.compute_hash();
        l[1] = e.line();
        write_lines(&path, &l);
        assert_eq!(
            first_broken(&path),
            Broken {
                line: 3,
                problem: Problem::BrokenLink
            }
        );
    }

    #[test]
    fn deleted_entry_is_reported_where_it_is_missing() {
        let (_dir, path) = log_with(5);
        let mut l = lines(&path);
        l.remove(1);
        write_lines(&path, &l);
        assert_eq!(
            first_broken(&path),
            Broken {
                line: 2,
                problem: Problem::WrongSeq {
                    expected: 2,
                    found: 3
                }
            }
        );
    }

    #[test]
    fn reordered_entries_are_detected() {
        let (_dir, path) = log_with(5);
        let mut l = lines(&path);
        l.swap(2, 3);
        write_lines(&path, &l);
        assert_eq!(
            first_broken(&path),
            Broken {
                line: 3,
                problem: Problem::WrongSeq {
                    expected: 3,
                    found: 4
                }
            }
        );
    }

    #[test]
    fn inserted_entries_are_detected_even_with_a_plausible_seq() {
        let (_dir, path) = log_with(4);
        let mut l = lines(&path);
        // A forged entry 3 chained to entry 2, inserted before the real entry 3.
        let prev: Entry = serde_json::from_str(&l[1]).unwrap();
        let mut forged: Entry = serde_json::from_str(&l[2]).unwrap();
        forged.target = "rec/other.wav.enc".into();
        forged.prev_hash = prev.hash;
        forged.hash = forged.compute_hash();
        l.insert(2, forged.line());
        write_lines(&path, &l);
        assert_eq!(
            first_broken(&path),
            Broken {
                line: 4,
                problem: Problem::WrongSeq {
                    expected: 4,
                    found: 3
                }
            }
        );
        // A line that is not an entry at all.
        let mut l = lines(&path);
        l[2] = "{\"note\":\"hello\"}".into();
        write_lines(&path, &l);
        assert!(matches!(
            first_broken(&path),
            Broken {
                line: 3,
                problem: Problem::NotAnEntry(_)
            }
        ));
    }

    #[test]
    fn entries_cut_off_the_end_are_caught_by_an_anchor() {
        let (_dir, path) = log_with(5);
        let anchor = verify(&path).unwrap().head.unwrap();
        assert!(verify_against(&path, &anchor).unwrap().is_intact());
        let mut l = lines(&path);
        l.truncate(3);
        write_lines(&path, &l);
        assert!(
            verify(&path).unwrap().is_intact(),
            "a shorter chain is valid on its own"
        );
        assert_eq!(
            verify_against(&path, &anchor).unwrap().first_broken,
            Some(Broken {
                line: 4,
                problem: Problem::AnchorMissing { seq: 5 }
            })
        );
    }

    #[test]
    fn incomplete_last_line_blocks_open_and_is_reported_by_verify() {
        let (_dir, path) = log_with(2);
        let good_len = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,\"ts\":").unwrap();
        drop(f);
        match AuditLog::open(&path) {
            Err(AuditError::IncompleteTail { offset, .. }) => assert_eq!(offset, good_len),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            first_broken(&path),
            Broken {
                line: 3,
                problem: Problem::IncompleteLastLine
            }
        );
    }

    #[test]
    fn open_refuses_a_log_whose_last_entry_was_edited() {
        let (_dir, path) = log_with(2);
        let mut l = lines(&path);
        l[1] = l[1].replace("supervisor", "admin");
        write_lines(&path, &l);
        let err = AuditLog::open(&path).unwrap_err();
        assert!(matches!(err, AuditError::DamagedTail { .. }), "{err}");
        assert!(err.to_string().contains("audit.jsonl"), "{err}");
    }

    #[test]
    fn long_last_line_is_recovered_past_the_first_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open_with(&path, FsyncPolicy::OsDecides).unwrap();
        log.append(entry(0), at(0)).unwrap();
        let big = NewEntry {
            details: serde_json::json!({ "note": "x".repeat(20_000) }),
            ..entry(1)
        };
        let head = log.append(big, at(1)).unwrap();
        drop(log);
        assert_eq!(AuditLog::open(&path).unwrap().head(), head);
    }

    #[test]
    fn concurrent_appenders_share_one_log_and_the_chain_holds() {
        let (_dir, path) = log_with(0);
        let log = Arc::new(AuditLog::open_with(&path, FsyncPolicy::OsDecides).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        log.append(entry(t * 100 + i), at(i)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let report = verify(&path).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.entries, 200);
    }

    #[test]
    fn two_writers_on_one_file_keep_one_chain() {
        let (_dir, path) = log_with(1);
        let first = AuditLog::open_with(&path, FsyncPolicy::OsDecides).unwrap();
        let second = AuditLog::open_with(&path, FsyncPolicy::OsDecides).unwrap();
        for i in 0..3 {
            first.append(entry(10 + i), at(10 + i)).unwrap();
            second.append(entry(20 + i), at(20 + i)).unwrap();
        }
        let head = second.append(entry(30), at(30)).unwrap();
        assert_eq!(head.seq, 8);
        let report = verify(&path).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.head, Some(head));
    }
}
