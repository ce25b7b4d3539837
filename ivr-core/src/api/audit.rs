//! The API's side of the audit log: every supervisor and admin request is recorded with the
//! principal who made it, the RPC, its target and its outcome.
//!
//! Appending writes and `fsync`s a line, so it runs on the blocking pool; the request waits
//! for it, so an answered request is on disk. A failure to record is logged and the request
//! goes on: the audit log must not become a way to stop the engine.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::warn;

use super::auth::Principal;
use crate::privacy::audit::{AuditLog, NewEntry};

/// Records API actions in the audit log (or nowhere, when none is configured).
#[derive(Clone, Debug)]
pub struct Auditor {
    log: Option<Arc<AuditLog>>,
}

impl Auditor {
    /// Records into `log`.
    pub fn new(log: Arc<AuditLog>) -> Auditor {
        Auditor { log: Some(log) }
    }

    /// Records nothing.
    pub fn disabled() -> Auditor {
        Auditor { log: None }
    }

    /// Whether entries go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.log.is_some()
    }

    /// Appends `principal` did `action` (an RPC name such as `ivr.v1.AdminService/Hangup`) to
    /// `target` (an id, never personal data) with `details`. Never fails: problems are logged.
    pub async fn record(
        &self,
        principal: &Principal,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) {
        let Some(log) = self.log.clone() else {
            return;
        };
        let actor = principal.name.clone();
        let role = principal.role.as_str();
        let action = action.to_string();
        let target = target.to_string();
        let appended = tokio::task::spawn_blocking(move || {
            log.append(
                NewEntry {
                    actor: &actor,
                    role,
                    action: &action,
                    target: &target,
                    details,
                },
                SystemTime::now(),
            )
        })
        .await;
        match appended {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "API action not recorded in the audit log"),
            Err(e) => warn!(error = %e, "API action not recorded in the audit log"),
        }
    }
}
