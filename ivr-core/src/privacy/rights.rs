//! The data subject's rights (GDPR arts. 15 and 17, PIPL arts. 45 and 47): export everything
//! held about a caller, erase it, and the authorised export of one call's recording.
//!
//! * [`export_caller`] gathers the caller's call records (as caller or called party), each
//!   with its events, transcript, the rows of other call-keyed tables (QA results, …) and the
//!   list of its recordings, and the callbacks to the number, as one JSON document.
//! * [`erase_caller`] deletes the recordings and voicemail of those calls, scrubs their lines
//!   from the event log `DATA/events.jsonl` (in place), then erases the store's data in one
//!   transaction ([`Store::erase_caller`]): transcripts, event data, callbacks and other rows
//!   go, and the call records stay for statistics with the number replaced by an
//!   [`erasure_token`]. Files go first so that a failure can be retried: until the store is
//!   erased the calls are still found by the number.
//! * [`authorise`] checks that a principal named on the command line holds an allowed role in
//!   the `[api]` tokens; [`record`] appends the action to the audit log `DATA/audit.jsonl`.

use std::collections::HashSet;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::audit::{AuditError, AuditLog, Head, NewEntry};
use super::crypt::Keyring;
use super::recording::{self, RecordingError};
use crate::api::{ApiConfig, Role};
use crate::store::{Cdr, Store, StoreError};

/// What [`Store::erase_caller`] changed, in rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasureCounts {
    /// Call records anonymised.
    pub calls: u64,
    /// Transcript turns deleted.
    pub turns: u64,
    /// Events whose data was cleared.
    pub events: u64,
    /// Callbacks deleted.
    pub callbacks: u64,
    /// Rows of other call-keyed tables (QA results, …) deleted.
    pub other_rows: u64,
}

/// Why a rights operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RightsError {
    /// The principal holds no allowed role.
    #[error(
        "principal {principal:?} may not {action}: it needs the role {needed} in the [api] tokens \
         of the configuration{}", found.map(|r| format!(" (it has {r})")).unwrap_or_else(|| " (it has no token)".into())
    )]
    NotAuthorised {
        /// Who asked.
        principal: String,
        /// What was refused.
        action: &'static str,
        /// The roles allowed, for the message.
        needed: &'static str,
        /// The best role the principal has, if any.
        found: Option<Role>,
    },
    /// No `[api]` section: no principal can be authorised.
    #[error("no [api] section with tokens in the configuration: principals and their roles are configured there; give --config FILE")]
    NoApiConfig,
    /// The call store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A recording could not be read or decrypted.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The call has no recording.
    #[error("call {call_id} has no recording in {}", dir.display())]
    NoRecording {
        /// The call.
        call_id: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// The recording is encrypted and no key is configured.
    #[error("{} is encrypted with key {key_id}, but no recording keys are configured: add key {key_id} to [privacy.recording_keys]", path.display())]
    NoKeys {
        /// The recording.
        path: PathBuf,
        /// Its key id.
        key_id: String,
    },
    /// The file system refused.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Checks that `principal` holds one of `allowed` among the `[api]` tokens (its best role
/// counts) and returns that role.
///
/// The command line cannot prove who runs it: this check makes the action attributable and
/// limited to people the configuration names; the operating system's permissions on the data
/// folder, the keys and the configuration remain the real barrier.
pub fn authorise(
    api: Option<&ApiConfig>,
    principal: &str,
    allowed: &[Role],
    action: &'static str,
) -> Result<Role, RightsError> {
    let api = api
        .filter(|a| !a.tokens.is_empty())
        .ok_or(RightsError::NoApiConfig)?;
    let found = api
        .tokens
        .iter()
        .filter(|t| t.principal == principal)
        .map(|t| t.role)
        .max();
    match found {
        Some(role) if allowed.contains(&role) => Ok(role),
        _ => Err(RightsError::NotAuthorised {
            principal: principal.into(),
            action,
            needed: if allowed.len() == 1 && allowed.contains(&Role::Admin) {
                "admin"
            } else {
                "admin or supervisor"
            },
            found,
        }),
    }
}

/// Appends `actor` (in `role`) did `action` to `target` to the audit log `data/audit.jsonl`
/// (created if needed), stamped now. Blocking.
pub fn record(
    data: &Path,
    actor: &str,
    role: &str,
    action: &str,
    target: &str,
    details: Value,
) -> Result<Head, AuditError> {
    let log = AuditLog::open(&data.join("audit.jsonl"))?;
    log.append(
        NewEntry {
            actor,
            role,
            action,
            target,
            details,
        },
        SystemTime::now(),
    )
}

/// A call record as JSON (the export's and `ivr calls`' field names).
pub fn cdr_json(c: &Cdr) -> Value {
    json!({
        "call_id": c.call_id,
        "direction": c.direction.as_str(),
        "from": c.from_number,
        "to": c.to_number,
        "trunk": c.trunk,
        "started_at_unix_ms": c.started_at_unix_ms,
        "answered_at_unix_ms": c.answered_at_unix_ms,
        "ended_at_unix_ms": c.ended_at_unix_ms,
        "dial_plan": c.dial_plan,
        "dial_plan_version": c.dial_plan_version,
        "node_path": c.node_path,
        "intents": c.intents.iter().map(|i| json!({"name": i.name, "score": i.score})).collect::<Vec<_>>(),
        "slots": c.slots.iter().map(|s| json!({"name": s.name, "value": s.value, "sensitive": s.sensitive})).collect::<Vec<_>>(),
        "outcome": c.outcome.map(|o| o.as_str()),
        "queue": c.queue,
        "wait_ms": c.wait_ms,
        "agent_id": c.agent_id,
        "talk_ms": c.talk_ms,
        "disposition": c.disposition,
        "notes": c.notes,
        "hangup_cause": c.hangup_cause,
        "hangup_side": c.hangup_side.map(|s| s.as_str()),
    })
}

/// Everything the store and the data folder hold about `number`, as one JSON document:
/// `{"number", "exported_at", "calls": [{…record, "events", "transcript", "recordings",
/// "other": {table: [rows]}}], "callbacks": [...]}`.
pub async fn export_caller(store: &Store, data: &Path, number: &str) -> Result<Value, RightsError> {
    let others = store.other_call_tables().await?;
    let mut calls = Vec::new();
    for cdr in store.calls_for_number(number).await? {
        let mut call = cdr_json(&cdr);
        call["events"] = store
            .events(&cdr.call_id)
            .await?
            .iter()
            .map(|e| json!({"at_unix_ms": e.at_unix_ms, "name": e.name, "data": e.data}))
            .collect();
        call["transcript"] = store
            .transcript(&cdr.call_id)
            .await?
            .iter()
            .map(|t| json!({"seq": t.seq, "who": t.who.as_str(), "text": t.text, "node": t.node, "at_ms": t.at_ms}))
            .collect();
        call["recordings"] = recording::call_recordings(data, &cdr.call_id)
            .iter()
            .map(|p| {
                json!({
                    "file": p.strip_prefix(data).unwrap_or(p).display().to_string(),
                    "encrypted": recording::is_sealed(p).unwrap_or(false),
                    "bytes": std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                })
            })
            .collect();
        let mut other = serde_json::Map::new();
        for table in &others {
            let rows = store.call_rows(table, &cdr.call_id).await?;
            if !rows.is_empty() {
                other.insert(
                    table.clone(),
                    Value::Array(rows.into_iter().map(Value::Object).collect()),
                );
            }
        }
        call["other"] = Value::Object(other);
        calls.push(call);
    }
    let callbacks: Vec<Value> = store
        .callbacks_for_number(number)
        .await?
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "queue": c.queue,
                "number": c.number,
                "priority": c.priority,
                "enqueued_at_unix_ms": c.enqueued_at_unix_ms,
                "context": c.context,
                "status": c.status.as_str(),
            })
        })
        .collect();
    Ok(json!({
        "number": number,
        "exported_at": crate::events::timestamp(SystemTime::now()),
        "calls": calls,
        "callbacks": callbacks,
    }))
}

/// The token that replaces an erased number: `erased:` and 12 hex digits of SHA-256 over a
/// random salt and the number. The salt is not kept, so the token cannot be traced back to
/// the number (not even by trying every number); the records of one erasure share it.
pub fn erasure_token(number: &str) -> String {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
    let digest = Sha256::new()
        .chain_update(salt)
        .chain_update(number.as_bytes())
        .finalize();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("erased:{hex}")
}

/// What [`erase_caller`] did.
#[derive(Debug, Clone, Default)]
pub struct ErasureReport {
    /// The token that replaced the number in the call records.
    pub token: String,
    /// Rows changed in the store.
    pub counts: ErasureCounts,
    /// Recording and voicemail files deleted.
    pub files_deleted: Vec<PathBuf>,
    /// Lines of `events.jsonl` scrubbed.
    pub event_log_lines: usize,
}

/// Erases what is held about `number` under `data` and in `store` (see the module docs).
/// A file that cannot be deleted stops the erasure before the store is changed, so running
/// it again finishes the job.
pub async fn erase_caller(
    store: &Store,
    data: &Path,
    number: &str,
) -> Result<ErasureReport, RightsError> {
    let calls = store.calls_for_number(number).await?;
    let ids: HashSet<String> = calls.iter().map(|c| c.call_id.clone()).collect();
    let mut report = ErasureReport {
        token: erasure_token(number),
        ..ErasureReport::default()
    };
    for id in &ids {
        for file in recording::call_recordings(data, id) {
            std::fs::remove_file(&file).map_err(|source| RightsError::Io {
                action: "delete",
                path: file.clone(),
                source,
            })?;
            report.files_deleted.push(file);
        }
    }
    report.files_deleted.sort();
    let log = data.join("events.jsonl");
    if log.is_file() && !ids.is_empty() {
        report.event_log_lines = scrub_event_log(&log, &ids).map_err(|source| RightsError::Io {
            action: "scrub the event log",
            path: log.clone(),
            source,
        })?;
    }
    report.counts = store.erase_caller(number, &report.token).await?;
    Ok(report)
}

/// Overwrites, in place, every line of the event log at `path` whose `call_id` is in `ids`
/// with `{"ts":…,"call_id":…,"event":…,"erased":true}` padded with spaces to the same length
/// (`{}` and spaces if that does not fit). Lines keep their place and length, so a writer
/// appending to the file at the same time is not disturbed. Returns the lines scrubbed.
pub fn scrub_event_log(path: &Path, ids: &HashSet<String>) -> io::Result<usize> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut reader = io::BufReader::new(&file);
    let mut edits: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut offset = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let body_len = if line.last() == Some(&b'\n') {
            n - 1
        } else {
            n
        };
        if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&line[..body_len]) {
            let ours = obj
                .get("call_id")
                .and_then(Value::as_str)
                .is_some_and(|id| ids.contains(id));
            let already = obj.get("erased") == Some(&Value::Bool(true)) && obj.len() <= 4;
            if ours && !already {
                let mut keep = serde_json::Map::new();
                for k in ["ts", "call_id", "event"] {
                    if let Some(v) = obj.get(k) {
                        keep.insert(k.into(), v.clone());
                    }
                }
                keep.insert("erased".into(), Value::Bool(true));
                let mut new = Value::Object(keep).to_string().into_bytes();
                if new.len() > body_len {
                    new = b"{}".to_vec();
                }
                new.resize(body_len, b' ');
                edits.push((offset, new));
            }
        }
        offset += n as u64;
    }
    write_at_offsets(&file, &edits)?;
    file.sync_data()?;
    Ok(edits.len())
}

#[cfg(unix)]
fn write_at_offsets(file: &std::fs::File, edits: &[(u64, Vec<u8>)]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    for (at, bytes) in edits {
        file.write_all_at(bytes, *at)?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn write_at_offsets(mut file: &std::fs::File, edits: &[(u64, Vec<u8>)]) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    for (at, bytes) in edits {
        file.seek(SeekFrom::Start(*at))?;
        file.write_all(bytes)?;
    }
    Ok(())
}

/// The WAV bytes of the recording of `call_id` under `data`, decrypted (every chunk
/// authenticated) when it is sealed, and the file they came from. Blocking.
pub fn read_call_recording(
    data: &Path,
    call_id: &str,
    keyring: Option<&Keyring>,
) -> Result<(PathBuf, Vec<u8>), RightsError> {
    let plain = recording::recording_path(data, call_id);
    let sealed = recording::sealed_path(&plain);
    let source = [sealed, plain]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| RightsError::NoRecording {
            call_id: call_id.into(),
            dir: data.join("recordings"),
        })?;
    let bytes = if recording::is_sealed(&source)? {
        let Some(keyring) = keyring else {
            let key_id = super::crypt::key_id_of(&source)
                .map(|k| k.to_string())
                .unwrap_or_else(|_| "?".into());
            return Err(RightsError::NoKeys {
                path: source,
                key_id,
            });
        };
        recording::open_recording(&source, keyring)?
    } else {
        let bytes = std::fs::read(&source).map_err(|e| RightsError::Io {
            action: "read",
            path: source.clone(),
            source: e,
        })?;
        if !bytes.starts_with(b"RIFF") {
            return Err(RecordingError::NotARecording { path: source }.into());
        }
        bytes
    };
    Ok((source, bytes))
}

/// Writes `bytes` to `out` readable by the owner only (mode 0600), through `out.partial`
/// synced and renamed, so `out` is either complete or absent.
pub fn write_private_file(out: &Path, bytes: &[u8]) -> Result<(), RightsError> {
    use std::io::Write;
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    let partial = PathBuf::from(name);
    let io_err = |action, path: &Path| {
        let path = path.to_owned();
        move |source| RightsError::Io {
            action,
            path,
            source,
        }
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = opts
        .open(&partial)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(io_err("write", &partial))
        .and_then(|()| std::fs::rename(&partial, out).map_err(io_err("write", out)));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests;
