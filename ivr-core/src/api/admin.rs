//! `ivr.v1.AdminService`: dial-plan validation and reload, live calls, hangup, call records and
//! outbound calls. Every request is recorded in the audit log.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ivr_dialplans::{Diagnostics, MemoryProvider};
use ivr_proto::v1;
use ivr_proto::v1::admin_service_server::AdminService;
use serde_json::json;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::audit::Auditor;
use super::auth::principal;
use super::convert::{self, outcome, status};
use super::facade::{EngineControl, OriginateOrder};
use super::stream::{forward, Stop};
use crate::store::{CdrCursor, CdrFilter, Store};

/// The admin service over the engine, the call store and the audit log.
pub struct AdminApi {
    engine: Arc<dyn EngineControl>,
    store: Option<Store>,
    audit: Auditor,
    stop: Stop,
}

impl AdminApi {
    /// The service; without a store `QueryCalls` answers `FAILED_PRECONDITION`.
    pub(crate) fn new(
        engine: Arc<dyn EngineControl>,
        store: Option<Store>,
        audit: Auditor,
        stop: Stop,
    ) -> AdminApi {
        AdminApi {
            engine,
            store,
            audit,
            stop,
        }
    }
}

const VALIDATE: &str = "ivr.v1.AdminService/ValidateDialPlan";
const RELOAD: &str = "ivr.v1.AdminService/ReloadDialPlans";
const LIST_CALLS: &str = "ivr.v1.AdminService/ListCalls";
const HANGUP: &str = "ivr.v1.AdminService/Hangup";
const QUERY_CALLS: &str = "ivr.v1.AdminService/QueryCalls";
const ORIGINATE: &str = "ivr.v1.AdminService/Originate";

/// The stream of `Originate`.
pub type OriginateStream =
    Pin<Box<dyn Stream<Item = Result<v1::OriginateProgress, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn validate_dial_plan(
        &self,
        request: Request<v1::ValidateDialPlanRequest>,
    ) -> Result<Response<v1::ValidateDialPlanResponse>, Status> {
        let who = principal(&request)?;
        let (target, result) = match request.into_inner().source {
            Some(v1::validate_dial_plan_request::Source::Text(text)) => {
                let name = if text.name.trim().is_empty() {
                    "plan.yaml".to_string()
                } else {
                    text.name
                };
                let checked = name.clone();
                let result = tokio::task::spawn_blocking(move || {
                    let provider = MemoryProvider::new().with(&checked, text.yaml);
                    ivr_dialplans::check(Path::new(&checked), &provider)
                })
                .await
                .map_err(|e| Status::internal(format!("the dial-plan check failed: {e}")))
                .map(validation);
                (name, result)
            }
            Some(v1::validate_dial_plan_request::Source::Path(path)) => {
                let result = match self.plan_files(&path) {
                    Ok(files) => tokio::task::spawn_blocking(move || {
                        ivr_dialplans::check_paths(&files).0
                    })
                    .await
                    .map_err(|e| Status::internal(format!("the dial-plan check failed: {e}")))
                    .map(validation),
                    Err(e) => Err(e),
                };
                (path, result)
            }
            None => (
                String::new(),
                Err(Status::invalid_argument(
                    "source is empty: give the plan as `text` (name and yaml) or as a `path` on the server",
                )),
            ),
        };
        let details = match &result {
            Ok(r) => json!({ "outcome": "ok", "valid": r.ok, "problems": r.problems.len() }),
            Err(_) => json!({ "outcome": outcome(&result) }),
        };
        self.audit.record(&who, VALIDATE, &target, details).await;
        result.map(Response::new)
    }

    async fn reload_dial_plans(
        &self,
        request: Request<v1::ReloadDialPlansRequest>,
    ) -> Result<Response<v1::ReloadDialPlansResponse>, Status> {
        let who = principal(&request)?;
        let reload = self.engine.reload_plans().await;
        let response = v1::ReloadDialPlansResponse {
            reloaded: reload.reloaded,
            plans: reload
                .plans
                .iter()
                .map(|(name, version)| v1::DialPlanInfo {
                    name: name.clone(),
                    version: version.clone(),
                })
                .collect(),
            problems: reload.problems.iter().map(convert::problem).collect(),
        };
        self.audit
            .record(
                &who,
                RELOAD,
                "",
                json!({
                    "outcome": "ok",
                    "reloaded": response.reloaded,
                    "plans": response.plans.len(),
                    "problems": response.problems.len(),
                }),
            )
            .await;
        Ok(Response::new(response))
    }

    async fn list_calls(
        &self,
        request: Request<v1::ListCallsRequest>,
    ) -> Result<Response<v1::ListCallsResponse>, Status> {
        convert::list_calls(self.engine.as_ref(), &self.audit, LIST_CALLS, request).await
    }

    async fn hangup(
        &self,
        request: Request<v1::HangupRequest>,
    ) -> Result<Response<v1::HangupResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let cause = if req.reason.is_empty() {
            "admin_request"
        } else {
            req.reason.as_str()
        };
        let result = if req.call_id.is_empty() {
            Err(Status::invalid_argument(
                "call_id is empty: give the id of a call in progress (see ListCalls)",
            ))
        } else {
            match self.engine.hangup(&req.call_id, cause).await {
                Ok(true) => Ok(v1::HangupResponse {}),
                Ok(false) => Err(Status::not_found(format!(
                    "no call `{}` in progress; ListCalls shows the calls in progress",
                    req.call_id
                ))),
                Err(e) => Err(status(e)),
            }
        };
        let mut details = json!({ "outcome": outcome(&result), "cause": cause });
        claimed_actor(&mut details, &req.actor, &who.name);
        self.audit.record(&who, HANGUP, &req.call_id, details).await;
        result.map(Response::new)
    }

    async fn query_calls(
        &self,
        request: Request<v1::QueryCallsRequest>,
    ) -> Result<Response<v1::QueryCallsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let result = self.query(&req).await;
        // Numbers are personal data: the audit log only says a number was searched for.
        let details = json!({
            "outcome": outcome(&result),
            "from_unix_ms": req.from_unix_ms,
            "to_unix_ms": req.to_unix_ms,
            "number_given": !req.number.is_empty(),
            "queue": req.queue,
            "agent_id": req.agent_id,
            "disposition": req.disposition,
            "page_size": req.page_size,
            "returned": result.as_ref().map_or(0, |r| r.calls.len()),
        });
        self.audit.record(&who, QUERY_CALLS, "", details).await;
        result.map(Response::new)
    }

    type OriginateStream = OriginateStream;

    async fn originate(
        &self,
        request: Request<v1::OriginateRequest>,
    ) -> Result<Response<Self::OriginateStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let order = OriginateOrder {
            trunk: req.trunk.clone(),
            destination: req.destination.clone(),
            caller_id: req.caller_id.clone(),
            dial_plan: req.dial_plan.clone(),
            variables: req.variables.clone(),
            timeout: Duration::from_millis(if req.timeout_ms == 0 {
                30_000
            } else {
                req.timeout_ms
            }),
            actor: who.name.clone(),
            callback: None,
        };
        let result = self.engine.originate(order).await.map_err(status);
        let mut details = json!({
            "outcome": outcome(&result),
            "trunk": req.trunk,
            "dial_plan": req.dial_plan,
        });
        claimed_actor(&mut details, &req.actor, &who.name);
        // The destination is a phone number: recorded only as given or not.
        self.audit.record(&who, ORIGINATE, "", details).await;
        let rx = result?;
        Ok(Response::new(forward(rx, self.stop.clone())))
    }
}

impl AdminApi {
    /// The plan files named by a `ValidateDialPlan` path: the file, or the plan files of the
    /// folder (`*.yaml`, `*.yml`, not `*.tests.*`).
    fn plan_files(&self, path: &str) -> Result<Vec<PathBuf>, Status> {
        if path.trim().is_empty() {
            return Err(Status::invalid_argument(
                "path is empty: give a plan file or folder, relative to the plans folder or absolute",
            ));
        }
        let given = Path::new(path);
        let full = if given.is_absolute() {
            given.to_path_buf()
        } else {
            match self.engine.plans_dir() {
                Some(dir) => dir.join(given),
                None => {
                    return Err(Status::failed_precondition(format!(
                        "`{path}` is relative but the engine has no plans folder; give an absolute path"
                    )))
                }
            }
        };
        if full.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
                .map_err(|e| {
                    Status::failed_precondition(format!(
                        "cannot list the folder {}: {e}",
                        full.display()
                    ))
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| crate::plans::is_plan_file(p))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Status::not_found(format!(
                    "the folder {} holds no plan files (*.yaml)",
                    full.display()
                )));
            }
            Ok(files)
        } else if full.is_file() {
            Ok(vec![full])
        } else {
            Err(Status::not_found(format!(
                "no plan file or folder at {}; give a path relative to the plans folder or an absolute one",
                full.display()
            )))
        }
    }

    async fn query(&self, req: &v1::QueryCallsRequest) -> Result<v1::QueryCallsResponse, Status> {
        let Some(store) = &self.store else {
            return Err(Status::failed_precondition(
                "this engine has no call store configured; set [store] in the configuration",
            ));
        };
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let page = match req.page_size {
            0 => CdrFilter::DEFAULT_LIMIT,
            n => n.min(CdrFilter::MAX_LIMIT),
        };
        let mut filter = CdrFilter {
            from_unix_ms: (req.from_unix_ms != 0).then_some(req.from_unix_ms),
            to_unix_ms: (req.to_unix_ms != 0).then_some(req.to_unix_ms),
            number: text(&req.number),
            queue: text(&req.queue),
            agent_id: text(&req.agent_id),
            disposition: text(&req.disposition),
            finished_only: true,
            // One record more than the page tells whether another page follows.
            limit: (page + 1).min(CdrFilter::MAX_LIMIT),
            before: None,
        };
        if !req.page_token.is_empty() {
            filter.before = Some(decode_page_token(&req.page_token)?);
        }
        let mut cdrs = store
            .query_calls(&filter)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let more = cdrs.len() > page as usize
            || (filter.limit == page && cdrs.len() == page as usize && page > 0);
        cdrs.truncate(page as usize);
        let next_page_token = match (more, cdrs.last()) {
            (true, Some(last)) => encode_page_token(&CdrCursor::after(last)),
            _ => String::new(),
        };
        Ok(v1::QueryCallsResponse {
            calls: cdrs.into_iter().map(convert::call_record).collect(),
            next_page_token,
        })
    }
}

fn validation(diags: Diagnostics) -> v1::ValidateDialPlanResponse {
    v1::ValidateDialPlanResponse {
        ok: !diags.has_errors(),
        problems: diags.iter().map(convert::problem).collect(),
    }
}

/// Records the `actor` a request claims when it differs from the authenticated principal.
fn claimed_actor(details: &mut serde_json::Value, claimed: &str, principal: &str) {
    if !claimed.is_empty() && claimed != principal {
        details["claimed_actor"] = json!(claimed);
    }
}

const PAGE_TOKEN_PREFIX: &str = "cdr1:";

/// An opaque page token for the record after `cursor`.
pub(crate) fn encode_page_token(cursor: &CdrCursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{PAGE_TOKEN_PREFIX}{}:{}",
        cursor.started_at_unix_ms, cursor.call_id
    ))
}

/// The cursor of a page token made by [`encode_page_token`].
pub(crate) fn decode_page_token(token: &str) -> Result<CdrCursor, Status> {
    let bad = || {
        Status::invalid_argument(
            "page_token is not one this server issued; pass next_page_token from the previous response unchanged",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let rest = text.strip_prefix(PAGE_TOKEN_PREFIX).ok_or_else(bad)?;
    let (started, call_id) = rest.split_once(':').ok_or_else(bad)?;
    Ok(CdrCursor {
        started_at_unix_ms: started.parse().map_err(|_| bad())?,
        call_id: call_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_tokens_are_refused() {
        let cursor = CdrCursor {
            started_at_unix_ms: 1_700_000_000_123,
            call_id: "c:with:colons".into(),
        };
        assert_eq!(
            decode_page_token(&encode_page_token(&cursor)).unwrap(),
            cursor
        );
        for bad in ["", "not base64!", "Y2RyMTp4", "aGVsbG8"] {
            let e = decode_page_token(bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}");
        }
    }
}
