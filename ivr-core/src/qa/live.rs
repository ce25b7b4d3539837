//! Quality inspection of every call as it ends: the engine scores each finished call against
//! the configured rules (`[qa] rules`), stores the result, and announces violations on the
//! call's live feed (supervisors watching calls see a `qa_findings` event). A call bridged to
//! an agent is scored after the agent's side of its recording has been transcribed (see
//! [`super::agent_leg`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, Semaphore};
use tracing::{debug, info, warn};

use super::agent_leg::{AgentLegError, AgentTranscriber};
use super::Inspector;
use crate::api::ApiCallEvent;
use crate::events::EventLog;
use crate::store::{now_unix_ms, Cdr, Store, StoreWriter};

/// `[qa]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaConfig {
    /// The rules file (see docs/qa.md); relative to the configuration file.
    pub rules: PathBuf,
}

/// Agent transcriptions running at once (each holds one recogniser stream at a time).
const TRANSCRIBING: usize = 2;
/// How long a bridged call's recording may take to be finished after the hangup.
const RECORDING_WAIT: Duration = Duration::from_secs(10);

/// Scores each call that ends (read back from the store once the writer has committed it).
///
/// With `agents`, a call that was bridged to an agent is scored only once the agent's side of
/// its recording has been transcribed and stored as `agent` turns (announced by an
/// `agent_transcribed` event); other calls are scored at once.
pub fn spawn(
    inspector: Arc<Inspector>,
    mut finished: broadcast::Receiver<ApiCallEvent>,
    writer: StoreWriter,
    store: Store,
    events: EventLog,
    agents: Option<AgentTranscriber>,
) -> tokio::task::JoinHandle<()> {
    let slots = Arc::new(Semaphore::new(TRANSCRIBING));
    tokio::spawn(async move {
        loop {
            let call_id = match finished.recv().await {
                Ok(ApiCallEvent::Finished { call_id, .. }) => call_id,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(
                        missed = n,
                        "quality inspection fell behind; `ivr qa run` scores the calls it missed"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            // The call task writes its record just after its hangup event.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.flush().await.is_err() {
                return;
            }
            let cdr = match store.call(&call_id).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    debug!(call_id, "no record to inspect");
                    continue;
                }
                Err(e) => {
                    warn!(call_id, error = %e, "cannot read the call for quality inspection");
                    continue;
                }
            };
            let job = Job {
                inspector: inspector.clone(),
                writer: writer.clone(),
                store: store.clone(),
                events: events.clone(),
            };
            match (&agents, &cdr.agent_id) {
                (Some(agents), Some(_)) => {
                    let agents = agents.clone();
                    let slots = slots.clone();
                    tokio::spawn(async move {
                        let Ok(_slot) = slots.acquire_owned().await else {
                            return;
                        };
                        job.transcribe_agent(&agents, &cdr).await;
                        job.score(&cdr).await;
                    });
                }
                _ => job.score(&cdr).await,
            }
        }
    })
}

/// What scoring one call needs.
struct Job {
    inspector: Arc<Inspector>,
    writer: StoreWriter,
    store: Store,
    events: EventLog,
}

impl Job {
    /// Transcribes the agent's side of the call's recording into stored `agent` turns, then
    /// announces it (`agent_transcribed`, with the number of turns or the error).
    async fn transcribe_agent(&self, agents: &AgentTranscriber, cdr: &Cdr) {
        let call_id = cdr.call_id.as_str();
        let Some(shown) = self.recording(call_id).await else {
            debug!(call_id, "no recording: the agent's side is not transcribed");
            return;
        };
        let (Ok(turns), Ok(log)) = (
            self.store.transcript(call_id).await,
            self.store.events(call_id).await,
        ) else {
            return;
        };
        let first_seq = turns.iter().map(|t| t.seq + 1).max().unwrap_or(0);
        // The plain file while it is there (it is complete once the call has ended), else the
        // sealed one (complete before the plain one is deleted).
        let plain = shown
            .to_str()
            .and_then(|s| s.strip_suffix(".enc"))
            .map(PathBuf::from);
        let mut outcome = None;
        for path in plain.iter().chain(std::iter::once(&shown)) {
            if !path.is_file() {
                continue;
            }
            let r = agents.call_turns(cdr, &log, path, first_seq).await;
            let vanished = matches!(&r, Err(AgentLegError::Recording(_))) && !path.is_file();
            outcome = Some(r);
            if !vanished {
                break;
            }
        }
        let data = match outcome {
            Some(Ok(turns)) => {
                let n = turns.len();
                for t in turns {
                    self.writer.append_turn(t);
                }
                if self.writer.flush().await.is_err() {
                    return;
                }
                info!(call_id, turns = n, "agent's side transcribed");
                json!({"turns": n})
            }
            Some(Err(e)) => {
                warn!(call_id, error = %e, "the agent's side was not transcribed");
                json!({"turns": 0, "error": e.to_string()})
            }
            None => {
                warn!(call_id, path = %shown.display(), "the call's recording is missing");
                json!({"turns": 0, "error": "the recording is missing"})
            }
        };
        self.events.emit(call_id, "agent_transcribed", data);
        let _ = self.writer.flush().await;
    }

    /// The recording the call's `ended` event names, once that event is stored (the recorder
    /// has finished the file by then); `None` when the call was not recorded.
    async fn recording(&self, call_id: &str) -> Option<PathBuf> {
        let deadline = tokio::time::Instant::now() + RECORDING_WAIT;
        loop {
            self.writer.flush().await.ok()?;
            let log = self.store.events(call_id).await.ok()?;
            if let Some(ended) = log.iter().find(|e| e.name == "ended") {
                return ended
                    .data
                    .get("recording")
                    .and_then(|v| v.as_str())
                    .map(PathBuf::from);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Scores the call as stored now, saves the result and announces findings.
    async fn score(&self, cdr: &Cdr) {
        let call_id = cdr.call_id.as_str();
        let (Ok(turns), Ok(log)) = (
            self.store.transcript(call_id).await,
            self.store.events(call_id).await,
        ) else {
            return;
        };
        let result = self.inspector.inspect(cdr, &turns, &log);
        if let Err(e) = self.store.save_qa_result(&result, now_unix_ms()).await {
            warn!(call_id, error = %e, "the quality inspection result was not stored");
        }
        if !result.findings.is_empty() {
            info!(
                call_id,
                score = result.score,
                findings = result.findings.len(),
                "quality findings"
            );
            self.events.emit(
                call_id,
                "qa_findings",
                json!({
                    "score": result.score,
                    "findings": result.findings.iter().map(|f| json!({
                        "rule": f.rule_id,
                        "severity": format!("{:?}", f.severity).to_lowercase(),
                        "message": f.message,
                        "at_ms": f.at,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
    }
}
