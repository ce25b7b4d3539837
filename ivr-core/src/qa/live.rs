//! Quality inspection of every call as it ends: the engine scores each finished call against
//! the configured rules (`[qa] rules`), stores the result, and announces violations on the
//! call's live feed (supervisors watching calls see a `qa_findings` event).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use super::Inspector;
use crate::api::ApiCallEvent;
use crate::events::EventLog;
use crate::store::{now_unix_ms, Store, StoreWriter};

/// `[qa]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaConfig {
    /// The rules file (see docs/qa.md); relative to the configuration file.
    pub rules: PathBuf,
}

/// Scores each call that ends (read back from the store once the writer has committed it).
pub fn spawn(
    inspector: Arc<Inspector>,
    mut finished: broadcast::Receiver<ApiCallEvent>,
    writer: StoreWriter,
    store: Store,
    events: EventLog,
) -> tokio::task::JoinHandle<()> {
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
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
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
            let (Ok(turns), Ok(log)) = (
                store.transcript(&call_id).await,
                store.events(&call_id).await,
            ) else {
                continue;
            };
            let result = inspector.inspect(&cdr, &turns, &log);
            if let Err(e) = store.save_qa_result(&result, now_unix_ms()).await {
                warn!(call_id, error = %e, "the quality inspection result was not stored");
            }
            if !result.findings.is_empty() {
                info!(
                    call_id,
                    score = result.score,
                    findings = result.findings.len(),
                    "quality findings"
                );
                events.emit(
                    &call_id,
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
    })
}
