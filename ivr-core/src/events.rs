//! The call event log: every event of every call, one JSON object per line in
//! `DATA/events.jsonl`.
//!
//! Call tasks never wait on the disk: [`EventLog::emit`] hands the line to a writer task over an
//! unbounded channel, and the writer flushes whenever it has caught up, so a crash loses at most
//! the lines still in flight. It is the seed of the call store; the log on stderr carries the
//! same events with phone numbers masked.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// A handle for appending events; cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    tx: mpsc::UnboundedSender<String>,
    store: Option<crate::store::StoreWriter>,
    live: Option<std::sync::Arc<crate::control::LiveCalls>>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// The writer task's handle; await [`EventWriter::finish`] after the last clone of the log is
/// dropped to be sure every line reached the file.
pub struct EventWriter {
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    path: PathBuf,
}

impl EventLog {
    /// Opens (appending) `dir/events.jsonl` and starts the writer task.
    pub async fn open(dir: &Path) -> std::io::Result<(EventLog, EventWriter)> {
        tokio::fs::create_dir_all(dir).await?;
        let path = dir.join("events.jsonl");
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let task = tokio::spawn(async move {
            let mut out = tokio::io::BufWriter::new(file);
            while let Some(line) = rx.recv().await {
                out.write_all(line.as_bytes()).await?;
                while let Ok(line) = rx.try_recv() {
                    out.write_all(line.as_bytes()).await?;
                }
                out.flush().await?;
            }
            out.flush().await
        });
        Ok((
            EventLog {
                tx,
                store: None,
                live: None,
                metrics: None,
            },
            EventWriter { task, path },
        ))
    }

    /// Also appends every event to the call store (never waiting on it).
    pub fn with_store(mut self, store: crate::store::StoreWriter) -> EventLog {
        self.store = Some(store);
        self
    }

    /// Also shows every event to the live-call view of the API.
    pub fn with_live(mut self, live: std::sync::Arc<crate::control::LiveCalls>) -> EventLog {
        self.live = Some(live);
        self
    }

    /// Counts one sentence's synthesis time into the metrics, if any are kept (no event is
    /// written: there is one per sentence).
    pub fn observe_tts(&self, took: std::time::Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.observe_tts(took.as_secs_f64());
        }
    }

    /// Also counts every event into the Prometheus metrics.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> EventLog {
        self.metrics = Some(metrics);
        self
    }

    /// The call store, when there is one.
    pub fn store(&self) -> Option<&crate::store::StoreWriter> {
        self.store.as_ref()
    }

    /// Appends one event. `fields` must be a JSON object (other values are stored under `data`).
    pub fn emit(&self, call_id: &str, event: &str, fields: Value) {
        if let Some(store) = &self.store {
            store.append_event(crate::store::CallEvent::now(call_id, event, fields.clone()));
        }
        if let Some(live) = &self.live {
            live.observe(call_id, event, &fields);
        }
        if let Some(metrics) = &self.metrics {
            metrics.observe(event, &fields);
        }
        let mut obj = Map::new();
        obj.insert("ts".into(), Value::String(timestamp(SystemTime::now())));
        obj.insert("call_id".into(), Value::String(call_id.to_string()));
        obj.insert("event".into(), Value::String(event.to_string()));
        match fields {
            Value::Object(map) => obj.extend(map),
            Value::Null => {}
            other => {
                obj.insert("data".into(), other);
            }
        }
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        // The writer only stops after every sender is gone, so a send can fail only during
        // process teardown, when there is nobody left to tell.
        let _ = self.tx.send(line);
    }
}

impl EventWriter {
    /// Waits until every emitted line is on disk.
    pub async fn finish(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(format!(
                "event writer for {} failed: {e}",
                self.path.display()
            ))),
        }
    }
}

/// RFC 3339 UTC timestamp with milliseconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Masks a phone number or the user part of a SIP URI for logs: all but the last four digits
/// become `*`; the host part of a URI stays readable.
pub fn mask_number(s: &str) -> String {
    if let Some((user, host)) = s.split_once('@') {
        return format!("{}@{host}", mask_digits(user));
    }
    mask_digits(s)
}

fn mask_digits(s: &str) -> String {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if digits - seen >= 4 {
                    return '*';
                }
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_only_the_last_four_digits() {
        assert_eq!(
            mask_number("sip:+14155550123@carrier"),
            "sip:+*******0123@carrier"
        );
        assert_eq!(mask_number("123"), "123");
        assert_eq!(mask_number("alice"), "alice");
    }

    #[tokio::test]
    async fn events_reach_the_file_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("ivr-events-{}", std::process::id()));
        let (log, writer) = EventLog::open(&dir).await.unwrap();
        log.emit(
            "c1",
            "digit",
            serde_json::json!({"digit": "5", "method": "rfc4733"}),
        );
        log.emit("c1", "ended", Value::Null);
        drop(log);
        writer.finish().await.unwrap();
        let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["digit"], "5");
        assert_eq!(lines[0]["call_id"], "c1");
        assert_eq!(lines[1]["event"], "ended");
        assert!(lines[0]["ts"].as_str().unwrap().ends_with('Z'));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
