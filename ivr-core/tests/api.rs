//! The gRPC API over a real socket on 127.0.0.1: tonic clients against `api::serve_on`, with a
//! test double of the engine behind the facade traits (the layer under test is the API), a
//! real SQLite store file holding call records, and a real audit log file.
//!
//! * Security: every RPC without a token, with too low a role, an agent acting as another.
//! * Admin: QueryCalls filters and paging, ValidateDialPlan, Hangup, Reload, Originate.
//! * Supervisor: Wallboard stream, WatchCall, SetAgentState, Monitor.
//! * Agent: Login, Events.
//! * Health, reflection, the audit trail and TLS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ivr_core::acd::{self, AgentId, AgentStateKind, Presence, QueueName};
use ivr_core::api::{
    self, AgentDesk, AgentLogin, ApiCallEvent, ApiConfig, CallPhase, EngineControl, EngineError,
    LiveCall, ReloadOutcome, Role, Services, StateOrder, StateOutcome, TlsConfig, TokenConfig,
    TransferTarget, WallboardSnapshot,
};
use ivr_core::privacy::audit::{self, AuditLog, FsyncPolicy};
use ivr_core::store::{
    CallEvent, CallStart, Cdr, Direction, HangupSide, Outcome, Speaker, Store, Turn,
};
use ivr_proto::v1;
use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::agent_service_client::AgentServiceClient;
use ivr_proto::v1::supervisor_service_client::SupervisorServiceClient;
use tempfile::TempDir;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::StreamExt as _;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

const ADMIN: &str = "admin-token-0123456789abcdef";
const SUPERVISOR: &str = "supervisor-token-0123456789";
const ANN: &str = "ann-agent-token-0123456789";

// ---------------------------------------------------------------------------------------------
// The engine's test double.

struct TestEngine {
    calls: Mutex<Vec<LiveCall>>,
    hangups: Mutex<Vec<(String, String)>>,
    plans_dir: PathBuf,
    wallboard: watch::Sender<WallboardSnapshot>,
    events: broadcast::Sender<ApiCallEvent>,
}

#[tonic::async_trait]
impl EngineControl for TestEngine {
    fn list_calls(&self) -> Vec<LiveCall> {
        self.calls.lock().unwrap().clone()
    }

    async fn hangup(&self, call_id: &str, cause: &str) -> Result<bool, EngineError> {
        let known = self
            .calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.call_id == call_id);
        if known {
            self.hangups
                .lock()
                .unwrap()
                .push((call_id.to_string(), cause.to_string()));
        }
        Ok(known)
    }

    async fn reload_plans(&self) -> ReloadOutcome {
        ReloadOutcome {
            reloaded: true,
            plans: vec![("bank".into(), "0123456789abcdef".into())],
            problems: Vec::new(),
        }
    }

    fn plans_dir(&self) -> Option<PathBuf> {
        Some(self.plans_dir.clone())
    }

    fn wallboard(&self) -> watch::Receiver<WallboardSnapshot> {
        self.wallboard.subscribe()
    }

    fn call_events(&self) -> broadcast::Receiver<ApiCallEvent> {
        self.events.subscribe()
    }
}

#[derive(Default)]
struct TestDesk {
    /// Every operation, as `op agent detail changed_by`.
    log: Mutex<Vec<String>>,
    events: Mutex<HashMap<String, mpsc::Sender<v1::AgentEvent>>>,
}

impl TestDesk {
    fn note(&self, entry: String) {
        self.log.lock().unwrap().push(entry);
    }
}

fn outcome(state: AgentStateKind, reason: &str) -> StateOutcome {
    StateOutcome {
        state,
        reason: reason.into(),
        deferred: false,
    }
}

#[tonic::async_trait]
impl AgentDesk for TestDesk {
    async fn login(
        &self,
        login: AgentLogin,
    ) -> Result<(StateOutcome, Vec<QueueName>), EngineError> {
        self.note(format!(
            "login {} {} skills={:?}",
            login.profile.id, login.sip_contact, login.profile.skills
        ));
        Ok((
            outcome(AgentStateKind::Paused, "login"),
            login.profile.queues,
        ))
    }

    async fn logout(&self, agent: &AgentId) -> Result<bool, EngineError> {
        self.note(format!("logout {agent}"));
        Ok(false)
    }

    async fn set_presence(
        &self,
        agent: &AgentId,
        presence: Presence,
        changed_by: &str,
    ) -> Result<StateOutcome, EngineError> {
        self.note(format!("presence {agent} {presence:?} {changed_by}"));
        Ok(match presence {
            Presence::Available => outcome(AgentStateKind::Available, ""),
            Presence::Paused(r) => outcome(AgentStateKind::Paused, &r),
        })
    }

    async fn order_state(
        &self,
        agent: &AgentId,
        order: StateOrder,
        reason: &str,
        changed_by: &str,
    ) -> Result<StateOutcome, EngineError> {
        self.note(format!("order {agent} {order:?} {reason} {changed_by}"));
        if agent.as_str() == "nobody" {
            return Err(EngineError::NotLoggedIn(agent.clone()));
        }
        Ok(StateOutcome {
            state: AgentStateKind::OnCall,
            reason: String::new(),
            deferred: true,
        })
    }

    async fn events(&self, agent: &AgentId) -> Result<mpsc::Receiver<v1::AgentEvent>, EngineError> {
        let (tx, rx) = mpsc::channel(8);
        self.events.lock().unwrap().insert(agent.to_string(), tx);
        Ok(rx)
    }

    async fn accept(&self, agent: &AgentId, offer_id: &str) -> Result<String, EngineError> {
        self.note(format!("accept {agent} {offer_id}"));
        if offer_id == "o-1" {
            Ok("c-live".into())
        } else {
            Err(EngineError::UnknownOffer {
                agent: agent.clone(),
                offer_id: offer_id.into(),
            })
        }
    }

    async fn reject(
        &self,
        agent: &AgentId,
        offer_id: &str,
        reason: &str,
    ) -> Result<(), EngineError> {
        self.note(format!("reject {agent} {offer_id} {reason}"));
        Ok(())
    }

    async fn hold(&self, agent: &AgentId, call_id: &str) -> Result<(), EngineError> {
        self.note(format!("hold {agent} {call_id}"));
        Ok(())
    }

    async fn resume(&self, agent: &AgentId, call_id: &str) -> Result<(), EngineError> {
        self.note(format!("resume {agent} {call_id}"));
        Ok(())
    }

    async fn transfer(
        &self,
        agent: &AgentId,
        call_id: &str,
        target: TransferTarget,
        note: &str,
    ) -> Result<(), EngineError> {
        self.note(format!("transfer {agent} {call_id} {target:?} {note}"));
        Ok(())
    }

    async fn complete_wrap_up(
        &self,
        agent: &AgentId,
        call_id: &str,
        disposition: &str,
        _notes: &str,
    ) -> Result<AgentStateKind, EngineError> {
        self.note(format!("wrap_up {agent} {call_id} {disposition}"));
        Ok(AgentStateKind::Available)
    }
}

// ---------------------------------------------------------------------------------------------
// The harness: a store with call records, an audit log, the server on a real socket.

fn live_call(call_id: &str, queue: Option<&str>, agent: Option<&str>) -> LiveCall {
    LiveCall {
        call_id: call_id.into(),
        direction: Direction::Inbound,
        from_number: "+15550100".into(),
        to_number: "+15550199".into(),
        trunk: "main".into(),
        phase: if agent.is_some() {
            CallPhase::Connected
        } else {
            CallPhase::Queued
        },
        dial_plan: "bank".into(),
        node: String::new(),
        queue: queue.map(Into::into),
        agent_id: agent.map(Into::into),
        started_at_unix_ms: 1_700_000_500_000,
        answered_at_unix_ms: Some(1_700_000_500_100),
        wait_ms: 1200,
    }
}

/// A finished call: `n` orders start times (larger is newer).
fn cdr(
    n: i64,
    from: &str,
    queue: Option<&str>,
    agent: Option<&str>,
    disposition: Option<&str>,
) -> Cdr {
    let start = CallStart {
        call_id: format!("c-{n}"),
        direction: Direction::Inbound,
        from_number: from.into(),
        to_number: "+15550199".into(),
        trunk: "main".into(),
        started_at_unix_ms: 1_700_000_000_000 + n * 60_000,
        dial_plan: "bank".into(),
        dial_plan_version: "3".into(),
    };
    let mut c = Cdr::started(start);
    c.answered_at_unix_ms = Some(c.started_at_unix_ms + 500);
    c.ended_at_unix_ms = Some(c.started_at_unix_ms + 30_000);
    c.queue = queue.map(Into::into);
    c.agent_id = agent.map(Into::into);
    c.disposition = disposition.map(Into::into);
    c.outcome = Some(if agent.is_some() {
        Outcome::Transferred
    } else {
        Outcome::Contained
    });
    c.node_path = vec!["welcome".into(), "menu".into()];
    c.hangup_cause = Some("normal_clearing".into());
    c.hangup_side = Some(HangupSide::Caller);
    c
}

struct Harness {
    dir: TempDir,
    addr: SocketAddr,
    engine: Arc<TestEngine>,
    desk: Arc<TestDesk>,
    audit_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), api::ServeError>>,
}

fn tokens() -> Vec<TokenConfig> {
    [
        ("ops", Role::Admin, ADMIN),
        ("sue", Role::Supervisor, SUPERVISOR),
        ("ann", Role::Agent, ANN),
    ]
    .into_iter()
    .map(|(principal, role, token)| TokenConfig {
        token: Some(token.into()),
        token_env: None,
        principal: principal.into(),
        role,
    })
    .collect()
}

async fn start(tls: Option<TlsConfig>, dir: TempDir) -> Harness {
    let store = Store::open(dir.path().join("ivr.db").to_str().unwrap())
        .await
        .unwrap();
    for c in [
        cdr(1, "+15550101", Some("cards"), Some("ann"), Some("resolved")),
        cdr(2, "+15550102", None, None, None),
        cdr(
            3,
            "+15550101",
            Some("loans"),
            Some("bob"),
            Some("escalated"),
        ),
        cdr(4, "+15550104", Some("cards"), Some("bob"), Some("resolved")),
        cdr(5, "+15550105", Some("cards"), Some("ann"), Some("resolved")),
    ] {
        store
            .begin_call(&CallStart {
                call_id: c.call_id.clone(),
                direction: c.direction,
                from_number: c.from_number.clone(),
                to_number: c.to_number.clone(),
                trunk: c.trunk.clone(),
                started_at_unix_ms: c.started_at_unix_ms,
                dial_plan: c.dial_plan.clone(),
                dial_plan_version: c.dial_plan_version.clone(),
            })
            .await
            .unwrap();
        store.finish_call(&c).await.unwrap();
    }
    // History of the live call c-live, for WatchCall.
    for (seq, text) in [(0u32, "Welcome to the bank."), (1, "I lost my card")] {
        store
            .append_turn(&Turn {
                call_id: "c-live".into(),
                seq,
                who: if seq == 0 {
                    Speaker::Ivr
                } else {
                    Speaker::Caller
                },
                text: text.into(),
                node: Some("welcome".into()),
                at_ms: u64::from(seq) * 1000,
            })
            .await
            .unwrap();
    }
    store
        .append_event(&CallEvent {
            call_id: "c-live".into(),
            at_unix_ms: 1_700_000_500_200,
            name: "enqueued".into(),
            data: serde_json::json!({ "queue": "cards" }),
        })
        .await
        .unwrap();

    let plans_dir = dir.path().join("plans");
    std::fs::create_dir_all(&plans_dir).unwrap();
    std::fs::write(
        plans_dir.join("broken.yaml"),
        "version: 1\nname: broken\nlanguage: en-US\nstart: main\nnodes:\n  main:\n    say: \"Hi\"\n    next: nowhere\n",
    )
    .unwrap();

    let audit_path = dir.path().join("audit.jsonl");
    let audit_log = Arc::new(AuditLog::open_with(&audit_path, FsyncPolicy::OsDecides).unwrap());
    let (wallboard, _) = watch::channel(WallboardSnapshot::default());
    let (events, _) = broadcast::channel(64);
    let engine = Arc::new(TestEngine {
        calls: Mutex::new(vec![
            live_call("c-live", Some("cards"), Some("ann")),
            live_call("c-queued", Some("loans"), None),
        ]),
        hangups: Mutex::new(Vec::new()),
        plans_dir,
        wallboard,
        events,
    });
    let desk = Arc::new(TestDesk::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ApiConfig {
        listen: addr,
        tokens: tokens(),
        tls,
    };
    let services = Services {
        engine: engine.clone(),
        desk: desk.clone(),
        store: Some(store),
        audit: Some(audit_log),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(api::serve_on(listener, config, services, async {
        let _ = stopped.await;
    }));
    Harness {
        dir,
        addr,
        engine,
        desk,
        audit_path,
        stop: Some(stop),
        server,
    }
}

impl Harness {
    async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("the server stops on the shutdown signal");
        result.unwrap().unwrap();
    }

    fn audit_entries(&self) -> Vec<audit::Entry> {
        std::fs::read_to_string(&self.audit_path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

async fn harness() -> Harness {
    start(None, tempfile::tempdir().unwrap()).await
}

fn req<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut r = Request::new(message);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

/// Calls one RPC by name with a minimal request for `agent`; `Ok` when the server accepted it
/// (for streams: when the stream opened).
async fn call(ch: &Channel, rpc: &str, token: Option<&str>, agent: &str) -> Result<(), Status> {
    let mut ag = AgentServiceClient::new(ch.clone());
    let mut su = SupervisorServiceClient::new(ch.clone());
    let mut ad = AdminServiceClient::new(ch.clone());
    let a = agent.to_string();
    match rpc {
        "AgentService/Login" => ag
            .login(req(
                v1::LoginRequest {
                    agent_id: a,
                    sip_contact: "sip:1042@127.0.0.1".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "AgentService/Logout" => ag
            .logout(req(v1::LogoutRequest { agent_id: a }, token))
            .await
            .map(drop),
        "AgentService/SetState" => ag
            .set_state(req(
                v1::SetStateRequest {
                    agent_id: a,
                    state: v1::AgentState::Available as i32,
                    reason: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "AgentService/Events" => ag
            .events(req(v1::EventsRequest { agent_id: a }, token))
            .await
            .map(drop),
        "AgentService/Accept" => ag
            .accept(req(
                v1::AcceptRequest {
                    agent_id: a,
                    offer_id: "o-1".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "AgentService/Reject" => ag
            .reject(req(
                v1::RejectRequest {
                    agent_id: a,
                    offer_id: "o-1".into(),
                    reason: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "AgentService/Hold" => ag
            .hold(req(
                v1::HoldRequest {
                    agent_id: a,
                    call_id: "c-live".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "AgentService/Resume" => ag
            .resume(req(
                v1::ResumeRequest {
                    agent_id: a,
                    call_id: "c-live".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "AgentService/Transfer" => ag
            .transfer(req(
                v1::TransferRequest {
                    agent_id: a,
                    call_id: "c-live".into(),
                    target: Some(v1::transfer_request::Target::Queue("loans".into())),
                    note: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "AgentService/CompleteWrapUp" => ag
            .complete_wrap_up(req(
                v1::CompleteWrapUpRequest {
                    agent_id: a,
                    call_id: "c-live".into(),
                    disposition: "resolved".into(),
                    notes: String::new(),
                },
                token,
            ))
            .await
            .map(drop),
        "SupervisorService/Wallboard" => su
            .wallboard(req(v1::WallboardRequest::default(), token))
            .await
            .map(drop),
        "SupervisorService/ListCalls" => su
            .list_calls(req(v1::ListCallsRequest::default(), token))
            .await
            .map(drop),
        "SupervisorService/WatchCall" => su
            .watch_call(req(
                v1::WatchCallRequest {
                    call_id: "c-live".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "SupervisorService/Monitor" => su
            .monitor(req(
                v1::MonitorRequest {
                    supervisor_id: "sue".into(),
                    call_id: "call-1".into(),
                    mode: v1::MonitorMode::Listen as i32,
                    sip_contact: "sip:sue@127.0.0.1:5062".into(),
                },
                token,
            ))
            .await
            .map(drop),
        "SupervisorService/StopMonitor" => su
            .stop_monitor(req(
                v1::StopMonitorRequest {
                    monitor_id: "monitor-1".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "SupervisorService/SetAgentState" => su
            .set_agent_state(req(
                v1::SetAgentStateRequest {
                    agent_id: "bob".into(),
                    state: v1::AgentState::Paused as i32,
                    reason: "meeting".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "AdminService/ValidateDialPlan" => ad
            .validate_dial_plan(req(
                v1::ValidateDialPlanRequest {
                    source: Some(v1::validate_dial_plan_request::Source::Path(
                        "broken.yaml".into(),
                    )),
                },
                token,
            ))
            .await
            .map(drop),
        "AdminService/ReloadDialPlans" => ad
            .reload_dial_plans(req(v1::ReloadDialPlansRequest {}, token))
            .await
            .map(drop),
        "AdminService/ListCalls" => ad
            .list_calls(req(v1::ListCallsRequest::default(), token))
            .await
            .map(drop),
        "AdminService/Hangup" => ad
            .hangup(req(
                v1::HangupRequest {
                    call_id: "c-queued".into(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        "AdminService/QueryCalls" => ad
            .query_calls(req(v1::QueryCallsRequest::default(), token))
            .await
            .map(drop),
        "AdminService/Originate" => ad
            .originate(req(v1::OriginateRequest::default(), token))
            .await
            .map(drop),
        other => panic!("no such RPC in the test table: {other}"),
    }
}

const AGENT_RPCS: [&str; 10] = [
    "AgentService/Login",
    "AgentService/Logout",
    "AgentService/SetState",
    "AgentService/Events",
    "AgentService/Accept",
    "AgentService/Reject",
    "AgentService/Hold",
    "AgentService/Resume",
    "AgentService/Transfer",
    "AgentService/CompleteWrapUp",
];
const SUPERVISOR_RPCS: [&str; 6] = [
    "SupervisorService/Wallboard",
    "SupervisorService/ListCalls",
    "SupervisorService/WatchCall",
    "SupervisorService/Monitor",
    "SupervisorService/StopMonitor",
    "SupervisorService/SetAgentState",
];
const ADMIN_RPCS: [&str; 6] = [
    "AdminService/ValidateDialPlan",
    "AdminService/ReloadDialPlans",
    "AdminService/ListCalls",
    "AdminService/Hangup",
    "AdminService/QueryCalls",
    "AdminService/Originate",
];

/// RPCs the test harness's engine cannot serve (the real engine does; the end-to-end tests
/// cover them), with the status each answers once the token is accepted: Monitor needs a call
/// in progress, the stub engine neither stops monitors nor places calls.
const NOT_HERE: [(&str, Code); 3] = [
    ("SupervisorService/Monitor", Code::NotFound),
    ("SupervisorService/StopMonitor", Code::Unimplemented),
    ("AdminService/Originate", Code::Unimplemented),
];

fn all_rpcs() -> impl Iterator<Item = &'static str> {
    AGENT_RPCS
        .into_iter()
        .chain(SUPERVISOR_RPCS)
        .chain(ADMIN_RPCS)
}

// ---------------------------------------------------------------------------------------------
// Security.

#[tokio::test]
async fn every_rpc_without_a_token_or_with_an_unknown_one_is_unauthenticated() {
    let h = harness().await;
    let ch = h.channel().await;
    for rpc in all_rpcs() {
        for token in [None, Some("not-a-configured-token-at-all")] {
            let e = call(&ch, rpc, token, "ann").await.unwrap_err();
            assert_eq!(e.code(), Code::Unauthenticated, "{rpc} {token:?}: {e:?}");
            assert_eq!(
                e.message(),
                "missing or unknown bearer token: send `authorization: Bearer <token>` configured in [api].tokens"
            );
        }
    }
    assert!(
        h.desk.log.lock().unwrap().is_empty(),
        "nothing reached the desk"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn an_agent_token_on_supervisor_and_admin_rpcs_is_permission_denied() {
    let h = harness().await;
    let ch = h.channel().await;
    for rpc in SUPERVISOR_RPCS.into_iter().chain(ADMIN_RPCS) {
        let e = call(&ch, rpc, Some(ANN), "ann").await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{rpc}: {e:?}");
        let needed = if rpc.starts_with("Admin") {
            "admin"
        } else {
            "supervisor"
        };
        assert_eq!(
            e.message(),
            format!("ivr.v1.{rpc} needs role {needed} (or higher); principal `ann` has role agent")
        );
    }
    // A supervisor token on admin RPCs too.
    for rpc in ADMIN_RPCS {
        let e = call(&ch, rpc, Some(SUPERVISOR), "ann").await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{rpc}: {e:?}");
        assert!(
            e.message().contains("has role supervisor"),
            "{}",
            e.message()
        );
    }
    assert!(h.engine.hangups.lock().unwrap().is_empty());
    // Refusals of known principals are in the audit trail.
    let denied = h
        .audit_entries()
        .iter()
        .filter(|e| e.details["outcome"] == "permission_denied")
        .count();
    assert_eq!(denied, 12 + 6);
    h.shutdown().await;
}

#[tokio::test]
async fn an_agent_acting_as_another_agent_is_denied_and_as_itself_allowed() {
    let h = harness().await;
    let ch = h.channel().await;
    for rpc in AGENT_RPCS {
        let e = call(&ch, rpc, Some(ANN), "bob").await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{rpc}: {e:?}");
        assert!(
            e.message()
                .contains("may act only as agent `ann`, not as `bob`"),
            "{rpc}: {}",
            e.message()
        );
    }
    assert!(
        h.desk.log.lock().unwrap().is_empty(),
        "no request for bob reached the desk"
    );
    for rpc in AGENT_RPCS {
        call(&ch, rpc, Some(ANN), "ann")
            .await
            .unwrap_or_else(|e| panic!("{rpc}: {e:?}"));
    }
    // Supervisors and admins may act for any agent; that is audited.
    for token in [SUPERVISOR, ADMIN] {
        for rpc in AGENT_RPCS {
            call(&ch, rpc, Some(token), "bob")
                .await
                .unwrap_or_else(|e| panic!("{rpc}: {e:?}"));
        }
    }
    let entries = h.audit_entries();
    let for_bob: Vec<_> = entries
        .iter()
        .filter(|e| e.action.starts_with("ivr.v1.AgentService/") && e.target == "bob")
        .collect();
    assert_eq!(for_bob.len(), 20);
    assert!(for_bob
        .iter()
        .any(|e| e.actor == "sue" && e.role == "supervisor"));
    assert!(
        !entries.iter().any(|e| e.actor == "ann"),
        "agents acting as themselves are not audited"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn the_admin_token_passes_every_rpc() {
    let h = harness().await;
    let ch = h.channel().await;
    for rpc in all_rpcs() {
        let result = call(&ch, rpc, Some(ADMIN), "ann").await;
        if let Some((_, code)) = NOT_HERE.iter().find(|(name, _)| *name == rpc) {
            let e = result.unwrap_err();
            assert_eq!(e.code(), *code, "{rpc}: {e:?}");
        } else {
            result.unwrap_or_else(|e| panic!("{rpc}: {e:?}"));
        }
    }
    let e = call(&ch, "AdminService/Originate", Some(ADMIN), "")
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "Originate is not available yet: outbound calling arrives with campaigns"
    );
    assert_eq!(
        *h.engine.hangups.lock().unwrap(),
        [("c-queued".to_string(), "admin_request".to_string())]
    );
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Admin.

async fn query(ch: &Channel, q: v1::QueryCallsRequest) -> Result<v1::QueryCallsResponse, Status> {
    AdminServiceClient::new(ch.clone())
        .query_calls(req(q, Some(ADMIN)))
        .await
        .map(|r| r.into_inner())
}

fn ids(r: &v1::QueryCallsResponse) -> Vec<&str> {
    r.calls.iter().map(|c| c.call_id.as_str()).collect()
}

#[tokio::test]
async fn query_calls_filters_and_pages_newest_first() {
    let h = harness().await;
    let ch = h.channel().await;

    let all = query(&ch, v1::QueryCallsRequest::default()).await.unwrap();
    assert_eq!(ids(&all), ["c-5", "c-4", "c-3", "c-2", "c-1"]);
    assert!(all.next_page_token.is_empty());
    let c3 = &all.calls[2];
    assert_eq!(c3.agent_id, "bob");
    assert_eq!(c3.disposition, "escalated");
    assert_eq!(c3.hangup_side, "caller");
    assert_eq!(c3.node_path, ["welcome", "menu"]);
    assert!(c3.transferred && !c3.contained);
    assert_eq!(c3.ended_at_unix_ms - c3.started_at_unix_ms, 30_000);

    // Pages of two: 5 4 | 3 2 | 1, then no token.
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = query(
            &ch,
            v1::QueryCallsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        pages.push(ids(&page).iter().map(|s| s.to_string()).collect::<Vec<_>>());
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, [vec!["c-5", "c-4"], vec!["c-3", "c-2"], vec!["c-1"]]);

    // An exact last page says so: no empty page follows.
    let first = query(
        &ch,
        v1::QueryCallsRequest {
            queue: "cards".into(),
            page_size: 3,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ids(&first), ["c-5", "c-4", "c-1"]);
    assert!(first.next_page_token.is_empty());

    let by = |q: v1::QueryCallsRequest| {
        let ch = ch.clone();
        async move { query(&ch, q).await.unwrap() }
    };
    let r = by(v1::QueryCallsRequest {
        agent_id: "ann".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), ["c-5", "c-1"]);
    let r = by(v1::QueryCallsRequest {
        number: "+15550101".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), ["c-3", "c-1"]);
    let r = by(v1::QueryCallsRequest {
        disposition: "resolved".into(),
        agent_id: "bob".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), ["c-4"]);
    let r = by(v1::QueryCallsRequest {
        from_unix_ms: 1_700_000_000_000 + 2 * 60_000,
        to_unix_ms: 1_700_000_000_000 + 4 * 60_000,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&r), ["c-3", "c-2"], "from is inclusive, to exclusive");

    let e = query(
        &ch,
        v1::QueryCallsRequest {
            page_token: "forged".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("next_page_token"), "{}", e.message());

    // The audit trail records searches without the number searched for.
    let entries = h.audit_entries();
    let searches: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "ivr.v1.AdminService/QueryCalls")
        .collect();
    assert_eq!(searches.len(), 10);
    assert!(searches
        .iter()
        .all(|e| e.actor == "ops" && e.role == "admin"));
    assert!(!std::fs::read_to_string(&h.audit_path)
        .unwrap()
        .contains("+15550101"));
    h.shutdown().await;
}

#[tokio::test]
async fn validate_dial_plan_reports_positioned_problems_for_text_and_paths() {
    let h = harness().await;
    let ch = h.channel().await;
    let mut admin = AdminServiceClient::new(ch.clone());
    let validate = |source| v1::ValidateDialPlanRequest {
        source: Some(source),
    };

    let broken = "version: 1\nname: hello\nlanguage: en-US\nstart: main\nnodes:\n  main:\n    say: \"Hello.\"\n    nxt: bye\n  bye:\n    hangup: { say: \"Goodbye.\" }\n";
    let r = admin
        .validate_dial_plan(req(
            validate(v1::validate_dial_plan_request::Source::Text(
                v1::DialPlanText {
                    name: "hello.yaml".into(),
                    yaml: broken.into(),
                },
            )),
            Some(ADMIN),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.ok);
    let p = r
        .problems
        .iter()
        .find(|p| p.message.contains("unknown key `nxt`"))
        .unwrap_or_else(|| panic!("{:#?}", r.problems));
    assert_eq!(
        (p.file.as_str(), p.line, p.column, p.error),
        ("hello.yaml", 8, 5, true)
    );
    assert!(p.hint.contains("next"), "{p:?}");

    let good = broken.replace("nxt: bye", "next: bye");
    let r = admin
        .validate_dial_plan(req(
            validate(v1::validate_dial_plan_request::Source::Text(
                v1::DialPlanText {
                    name: "hello.yaml".into(),
                    yaml: good,
                },
            )),
            Some(ADMIN),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.ok, "{:#?}", r.problems);

    // A path relative to the plans folder, and the folder itself.
    for path in ["broken.yaml", "."] {
        let r = admin
            .validate_dial_plan(req(
                validate(v1::validate_dial_plan_request::Source::Path(path.into())),
                Some(ADMIN),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!r.ok);
        let p = r
            .problems
            .iter()
            .find(|p| p.message.contains("nowhere"))
            .unwrap_or_else(|| panic!("{:#?}", r.problems));
        assert!(p.file.ends_with("broken.yaml"), "{p:?}");
        assert_eq!((p.line, p.column), (8, 11), "{p:?}");
    }

    let e = admin
        .validate_dial_plan(req(
            validate(v1::validate_dial_plan_request::Source::Path(
                "missing.yaml".into(),
            )),
            Some(ADMIN),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("missing.yaml"), "{}", e.message());
    let e = admin
        .validate_dial_plan(req(
            v1::ValidateDialPlanRequest { source: None },
            Some(ADMIN),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    h.shutdown().await;
}

#[tokio::test]
async fn hangup_of_an_unknown_call_is_not_found_and_lists_filter_by_queue_and_agent() {
    let h = harness().await;
    let ch = h.channel().await;
    let mut admin = AdminServiceClient::new(ch.clone());
    let e = admin
        .hangup(req(
            v1::HangupRequest {
                call_id: "c-none".into(),
                reason: String::new(),
                actor: "someone-else".into(),
            },
            Some(ADMIN),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let entry = h
        .audit_entries()
        .into_iter()
        .find(|e| e.action == "ivr.v1.AdminService/Hangup")
        .unwrap();
    assert_eq!(entry.target, "c-none");
    assert_eq!(entry.details["outcome"], "notfound");
    assert_eq!(entry.details["claimed_actor"], "someone-else");

    let list = |queue: &str, agent: &str| v1::ListCallsRequest {
        queue: queue.into(),
        agent_id: agent.into(),
    };
    let r = admin
        .list_calls(req(list("loans", ""), Some(ADMIN)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.calls.len(), 1);
    assert_eq!(r.calls[0].call_id, "c-queued");
    assert_eq!(r.calls[0].state, v1::CallState::Queued as i32);
    let r = SupervisorServiceClient::new(ch.clone())
        .list_calls(req(list("", "ann"), Some(SUPERVISOR)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.calls.len(), 1);
    assert_eq!(r.calls[0].call_id, "c-live");

    let r = admin
        .reload_dial_plans(req(v1::ReloadDialPlansRequest {}, Some(ADMIN)))
        .await
        .unwrap()
        .into_inner();
    assert!(r.reloaded);
    assert_eq!(r.plans[0].name, "bank");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Supervisor.

fn board(agents: Vec<(&str, AgentStateKind)>) -> WallboardSnapshot {
    let mut s = WallboardSnapshot {
        at_unix_ms: 1_700_000_600_000,
        acd: acd::Snapshot {
            queues: Vec::new(),
            agents: agents
                .into_iter()
                .map(|(id, state)| acd::AgentStats {
                    id: AgentId::from(id),
                    state,
                    reason: None,
                    call: None,
                    time_in_state: Duration::from_secs(5),
                    handled: 0,
                    consecutive_misses: 0,
                })
                .collect(),
        },
        ..Default::default()
    };
    s.agents.insert(
        AgentId::from("ann"),
        api::AgentCard {
            display_name: "Ann Lee".into(),
            queues: vec![QueueName::from("cards")],
        },
    );
    s
}

#[tokio::test]
async fn the_wallboard_sends_a_snapshot_then_only_changes() {
    let h = harness().await;
    h.engine
        .wallboard
        .send_replace(board(vec![("ann", AgentStateKind::Available)]));
    let mut stream = SupervisorServiceClient::new(h.channel().await)
        .wallboard(req(v1::WallboardRequest::default(), Some(SUPERVISOR)))
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.snapshot);
    assert_eq!(first.agents.len(), 1);
    assert_eq!(first.agents[0].display_name, "Ann Lee");
    assert_eq!(first.agents[0].state, v1::AgentState::Available as i32);

    h.engine
        .wallboard
        .send_replace(board(vec![("ann", AgentStateKind::OnCall)]));
    let update = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!update.snapshot);
    assert_eq!(update.agents.len(), 1);
    assert_eq!(update.agents[0].state, v1::AgentState::OnCall as i32);

    // Shutting down closes the open stream with UNAVAILABLE instead of waiting for it.
    let closing = tokio::spawn(async move {
        let end = stream.next().await;
        (end, stream.next().await.is_none())
    });
    h.shutdown().await;
    let (end, closed) = closing.await.unwrap();
    assert_eq!(end.unwrap().unwrap_err().code(), Code::Unavailable);
    assert!(closed);
}

async fn next_update(stream: &mut tonic::Streaming<v1::CallUpdate>) -> v1::call_update::Update {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an update within 5 s")
        .expect("the stream is open")
        .expect("no error")
        .update
        .expect("an update")
}

#[tokio::test]
async fn watch_call_sends_summary_history_then_live_turns_until_the_end() {
    let h = harness().await;
    let mut stream = SupervisorServiceClient::new(h.channel().await)
        .watch_call(req(
            v1::WatchCallRequest {
                call_id: "c-live".into(),
            },
            Some(SUPERVISOR),
        ))
        .await
        .unwrap()
        .into_inner();
    use v1::call_update::Update;
    assert!(matches!(next_update(&mut stream).await, Update::Summary(s) if s.call_id == "c-live"));
    assert!(
        matches!(next_update(&mut stream).await, Update::Turn(t) if t.text == "Welcome to the bank.")
    );
    assert!(
        matches!(next_update(&mut stream).await, Update::Turn(t) if t.text == "I lost my card")
    );
    assert!(matches!(next_update(&mut stream).await, Update::Event(e) if e.name == "enqueued"));

    let turn = |seq: u32, text: &str| {
        ApiCallEvent::Turn(Turn {
            call_id: "c-live".into(),
            seq,
            who: Speaker::Agent,
            text: text.into(),
            node: None,
            at_ms: 9000,
        })
    };
    // A repeat of a stored turn, another call's turn, then a new one and the end.
    h.engine.events.send(turn(1, "I lost my card")).unwrap();
    h.engine
        .events
        .send(ApiCallEvent::Turn(Turn {
            call_id: "c-other".into(),
            ..match turn(5, "elsewhere") {
                ApiCallEvent::Turn(t) => t,
                _ => unreachable!(),
            }
        }))
        .unwrap();
    h.engine.events.send(turn(2, "Let me block it.")).unwrap();
    h.engine
        .events
        .send(ApiCallEvent::Finished {
            call_id: "c-live".into(),
            hangup_side: Some(HangupSide::Agent),
            hangup_cause: "normal_clearing".into(),
        })
        .unwrap();
    assert!(
        matches!(next_update(&mut stream).await, Update::Turn(t) if t.text == "Let me block it.")
    );
    assert!(
        matches!(next_update(&mut stream).await, Update::Finished(f) if f.hangup_side == "agent")
    );
    assert!(
        stream.next().await.is_none(),
        "the stream closes after the end"
    );

    // A finished call replays its record and ends at once.
    let updates: Vec<_> = SupervisorServiceClient::new(h.channel().await)
        .watch_call(req(
            v1::WatchCallRequest {
                call_id: "c-3".into(),
            },
            Some(SUPERVISOR),
        ))
        .await
        .unwrap()
        .into_inner()
        .map(|u| u.unwrap().update.unwrap())
        .collect()
        .await;
    assert!(matches!(&updates[0], Update::Summary(s) if s.state == v1::CallState::Ended as i32));
    assert!(
        matches!(updates.last(), Some(Update::Finished(f)) if f.hangup_cause == "normal_clearing")
    );

    let e = SupervisorServiceClient::new(h.channel().await)
        .watch_call(req(
            v1::WatchCallRequest {
                call_id: "c-unknown".into(),
            },
            Some(SUPERVISOR),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    h.shutdown().await;
}

#[tokio::test]
async fn set_agent_state_orders_the_desk_and_rejects_engine_only_states() {
    let h = harness().await;
    let mut sup = SupervisorServiceClient::new(h.channel().await);
    let r = sup
        .set_agent_state(req(
            v1::SetAgentStateRequest {
                supervisor_id: "sue".into(),
                agent_id: "bob".into(),
                state: v1::AgentState::LoggedOut as i32,
                reason: "shift over".into(),
                end_active_call: false,
            },
            Some(SUPERVISOR),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.deferred);
    assert_eq!(
        h.desk.log.lock().unwrap().last().unwrap(),
        "order bob LogOut { end_active_call: false } shift over sue"
    );
    let e = sup
        .set_agent_state(req(
            v1::SetAgentStateRequest {
                agent_id: "bob".into(),
                state: v1::AgentState::OnCall as i32,
                ..Default::default()
            },
            Some(SUPERVISOR),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = sup
        .set_agent_state(req(
            v1::SetAgentStateRequest {
                agent_id: "nobody".into(),
                state: v1::AgentState::Available as i32,
                ..Default::default()
            },
            Some(SUPERVISOR),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        e.message(),
        "agent `nobody` is not logged in; call Login first"
    );
    let e = sup
        .monitor(req(v1::MonitorRequest::default(), Some(SUPERVISOR)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("mode"), "{}", e.message());
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Agent.

#[tokio::test]
async fn an_agent_logs_in_and_receives_its_events() {
    let h = harness().await;
    let mut agent = AgentServiceClient::new(h.channel().await);
    let r = agent
        .login(req(
            v1::LoginRequest {
                agent_id: "ann".into(),
                sip_contact: "sip:1042@127.0.0.1".into(),
                skills: vec![v1::Skill {
                    name: "cards".into(),
                    level: 7,
                }],
                queues: vec!["cards".into()],
                display_name: "Ann".into(),
            },
            Some(ANN),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.state, v1::AgentState::Paused as i32);
    assert_eq!(r.queues, ["cards"]);
    assert!(h.desk.log.lock().unwrap()[0].contains("login ann sip:1042@127.0.0.1"));

    let e = agent
        .login(req(
            v1::LoginRequest {
                agent_id: "ann".into(),
                sip_contact: "sip:1042@127.0.0.1".into(),
                skills: vec![v1::Skill {
                    name: "cards".into(),
                    level: 11,
                }],
                ..Default::default()
            },
            Some(ANN),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("level 11"), "{}", e.message());

    let mut events = agent
        .events(req(
            v1::EventsRequest {
                agent_id: "ann".into(),
            },
            Some(ANN),
        ))
        .await
        .unwrap()
        .into_inner();
    let tx = h.desk.events.lock().unwrap().get("ann").cloned().unwrap();
    tx.send(v1::AgentEvent {
        at_unix_ms: 1,
        event: Some(v1::agent_event::Event::Offer(v1::Offer {
            offer_id: "o-1".into(),
            call_id: "c-live".into(),
            queue: "cards".into(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let got = events.next().await.unwrap().unwrap();
    assert!(matches!(got.event, Some(v1::agent_event::Event::Offer(o)) if o.offer_id == "o-1"));
    let accepted = agent
        .accept(req(
            v1::AcceptRequest {
                agent_id: "ann".into(),
                offer_id: "o-1".into(),
            },
            Some(ANN),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.call_id, "c-live");
    let e = agent
        .accept(req(
            v1::AcceptRequest {
                agent_id: "ann".into(),
                offer_id: "o-gone".into(),
            },
            Some(ANN),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    drop(tx);
    h.desk.events.lock().unwrap().clear();
    assert!(
        events.next().await.is_none(),
        "the stream ends with the desk's sender"
    );
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Health, reflection, audit, TLS.

#[tokio::test]
async fn health_reports_each_service_serving_without_a_token() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let h = harness().await;
    let mut health = HealthClient::new(h.channel().await);
    for service in ivr_proto::SERVICE_NAMES {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service}");
    }
    let e = health
        .check(HealthCheckRequest {
            service: "ivr.v1.NoSuchService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    h.shutdown().await;
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_three_services() {
    let h = harness().await;
    let ch = h.channel().await;
    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        let mut client = ServerReflectionClient::new(ch.clone());
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = responses.next().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("{response:?}")
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for service in ivr_proto::SERVICE_NAMES {
            assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
        }
        assert!(
            names.iter().any(|n| n == "grpc.health.v1.Health"),
            "{names:?}"
        );
    }
    {
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        let mut client = ServerReflectionClient::new(ch);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = responses.next().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("{response:?}")
        };
        assert!(list.service.iter().any(|s| s.name == "ivr.v1.AdminService"));
    }
    h.shutdown().await;
}

#[tokio::test]
async fn every_supervisor_and_admin_call_is_in_a_verifiable_audit_log() {
    let h = harness().await;
    let ch = h.channel().await;
    for rpc in SUPERVISOR_RPCS {
        let _ = call(&ch, rpc, Some(SUPERVISOR), "ann").await;
    }
    for rpc in ADMIN_RPCS {
        let _ = call(&ch, rpc, Some(ADMIN), "ann").await;
    }
    let entries = h.audit_entries();
    for rpc in SUPERVISOR_RPCS {
        let e = entries
            .iter()
            .find(|e| e.action == format!("ivr.v1.{rpc}"))
            .unwrap_or_else(|| panic!("{rpc} not audited: {entries:#?}"));
        assert_eq!((e.actor.as_str(), e.role.as_str()), ("sue", "supervisor"));
    }
    for rpc in ADMIN_RPCS {
        let e = entries
            .iter()
            .find(|e| e.action == format!("ivr.v1.{rpc}"))
            .unwrap_or_else(|| panic!("{rpc} not audited: {entries:#?}"));
        assert_eq!((e.actor.as_str(), e.role.as_str()), ("ops", "admin"));
    }
    assert_eq!(entries.len(), 12);
    let hangup = entries
        .iter()
        .find(|e| e.action == "ivr.v1.AdminService/Hangup")
        .unwrap();
    assert_eq!(hangup.target, "c-queued");
    assert_eq!(hangup.details["outcome"], "ok");
    let originate = entries
        .iter()
        .find(|e| e.action == "ivr.v1.AdminService/Originate")
        .unwrap();
    assert_eq!(originate.details["outcome"], "unimplemented");
    let set_state = entries
        .iter()
        .find(|e| e.action == "ivr.v1.SupervisorService/SetAgentState")
        .unwrap();
    assert_eq!(set_state.target, "bob");
    assert_eq!(set_state.details["state"], "AGENT_STATE_PAUSED");
    let report = audit::verify(&h.audit_path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 12);
    h.shutdown().await;
}

fn self_signed(dir: &Path) -> (TlsConfig, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert = dir.join("api.crt");
    let key = dir.join("api.key");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (TlsConfig { cert, key }, cert_pem)
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate_serves_authenticated_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, ca_pem) = self_signed(dir.path());
    let h = start(Some(tls), dir).await;
    let tls_client = ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&ca_pem))
        .domain_name("localhost");
    let ch = Endpoint::from_shared(format!("https://{}", h.addr))
        .unwrap()
        .tls_config(tls_client)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let r = AdminServiceClient::new(ch.clone())
        .list_calls(req(v1::ListCallsRequest::default(), Some(ADMIN)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.calls.len(), 2);
    let e = call(&ch, "AdminService/ListCalls", None, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // A plain-text client gets nowhere.
    let plain = Endpoint::from_shared(format!("http://{}", h.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    let plain_result = AdminServiceClient::new(plain)
        .list_calls(req(v1::ListCallsRequest::default(), Some(ADMIN)))
        .await;
    assert!(
        plain_result.is_err(),
        "plain text was served: {plain_result:?}"
    );
    assert!(h.dir.path().join("api.key").exists());
    h.shutdown().await;
}

#[tokio::test]
async fn a_bad_token_configuration_stops_the_server_before_it_listens() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (wallboard, _) = watch::channel(WallboardSnapshot::default());
    let (events, _) = broadcast::channel(4);
    let engine = Arc::new(TestEngine {
        calls: Mutex::new(Vec::new()),
        hangups: Mutex::new(Vec::new()),
        plans_dir: PathBuf::from("."),
        wallboard,
        events,
    });
    let config = ApiConfig {
        listen: listener.local_addr().unwrap(),
        tokens: vec![TokenConfig {
            token: Some("short".into()),
            token_env: None,
            principal: "ops".into(),
            role: Role::Admin,
        }],
        tls: None,
    };
    let services = Services {
        engine,
        desk: Arc::new(TestDesk::default()),
        store: None,
        audit: None,
    };
    let e = api::serve_on(listener, config, services, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(e, api::ServeError::Config(_)), "{e}");
    assert!(e.to_string().contains("at least 16"), "{e}");
}
