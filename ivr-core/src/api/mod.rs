//! The gRPC API (package `ivr.v1`, see the `ivr-proto` crate): the agent, supervisor and admin
//! services, with bearer-token authentication, per-RPC roles, an audit trail, health checks,
//! reflection and optional TLS.
//!
//! * [`auth`] — the `[api]` configuration, tokens, principals, roles and the role table.
//! * [`facade`] — what the services need from the engine: [`EngineControl`] and
//!   [`AgentDesk`], implemented by `serve` and the ACD driver.
//! * [`AdminApi`], [`SupervisorApi`], [`AgentApi`] — the three services.
//! * [`serve`] / [`serve_on`] — the server: the three services behind the [`auth::Gate`],
//!   `grpc.health.v1.Health` reporting each of them SERVING, and server reflection (v1 and
//!   v1alpha) so `grpcurl` works without the `.proto` files.
//!
//! # Configuration
//!
//! ```toml
//! [api]
//! # 127.0.0.1 keeps the API to this host; listen on 0.0.0.0 only with TLS.
//! listen = "127.0.0.1:50051"
//! # Optional: PEM certificate chain and key; without it the API speaks plain HTTP/2.
//! tls = { cert = "tls/api.crt", key = "tls/api.key" }
//!
//! [[api.tokens]]
//! token_env = "IVR_ADMIN_TOKEN"       # read from the environment at start-up
//! principal = "ops"                   # recorded as the actor in the audit log
//! role = "admin"                      # agent | supervisor | admin
//!
//! [[api.tokens]]
//! token_env = "IVR_SUPERVISOR_TOKEN"
//! principal = "sue"
//! role = "supervisor"
//!
//! [[api.tokens]]
//! token = "a-1042-0f3c9e1d7b2a4c6e"   # at least 16 characters; prefer token_env
//! principal = "a-1042"                # an agent's principal is its agent id
//! role = "agent"
//! ```
//!
//! Clients send `authorization: Bearer <token>`. Without a known token every `ivr.v1` RPC
//! answers `UNAUTHENTICATED`; with a token whose role is too low, `PERMISSION_DENIED` naming
//! the role needed. Agents may act only as themselves (the request's `agent_id` must be their
//! principal); supervisors and admins may act for any agent. Supervisor and admin requests,
//! and refusals of authenticated principals, are appended to the audit log.
//!
//! # Wiring it into the engine
//!
//! ```ignore
//! let services = api::Services {
//!     engine: Arc::new(my_engine_control),   // impl EngineControl
//!     desk: Arc::new(my_acd_driver_desk),    // impl AgentDesk
//!     store: Some(store.clone()),
//!     audit: Some(audit_log.clone()),        // Arc<privacy::audit::AuditLog>
//! };
//! tokio::spawn(api::serve(config.api.clone(), services, shutdown_signal));
//! ```
#![warn(missing_docs)]

pub mod admin;
pub mod agent;
pub mod audit;
pub mod auth;
mod convert;
pub mod facade;
mod stream;
pub mod supervisor;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ivr_proto::v1::admin_service_server::AdminServiceServer;
use ivr_proto::v1::agent_service_server::AgentServiceServer;
use ivr_proto::v1::supervisor_service_server::SupervisorServiceServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tracing::{info, warn};

pub use admin::AdminApi;
pub use agent::AgentApi;
pub use audit::Auditor;
pub use auth::{ApiConfig, Principal, Role, TlsConfig, TokenConfig};
pub(crate) use convert::agent_state as agent_state_wire;
pub use facade::{
    AgentCard, AgentDesk, AgentLogin, ApiCallEvent, CallPhase, EngineControl, EngineError,
    LiveCall, OriginateOrder, ReloadOutcome, StateOrder, StateOutcome, TransferTarget,
    WallboardSnapshot,
};
pub use supervisor::SupervisorApi;

use crate::privacy::audit::AuditLog;
use crate::store::Store;

/// What the services run against.
#[derive(Clone)]
pub struct Services {
    /// The engine: calls, plans, wallboard and call events.
    pub engine: Arc<dyn EngineControl>,
    /// The agent desk (the ACD driver).
    pub desk: Arc<dyn AgentDesk>,
    /// The call store, for `QueryCalls` and the history of `WatchCall`.
    pub store: Option<Store>,
    /// The audit log; without it supervisor and admin actions are not recorded (a warning says
    /// so at start).
    pub audit: Option<Arc<AuditLog>>,
}

/// Why the API server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The `[api]` section has problems.
    #[error("the [api] configuration has problems:\n{0}")]
    Config(#[from] auth::ApiConfigErrors),
    /// The listen address could not be bound.
    #[error(
        "cannot listen for the gRPC API on {addr}: {source}; pick a free port in [api].listen"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A TLS file could not be read.
    #[error("cannot read the API's TLS file {}: {source}; check [api].tls", path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is not usable.
    #[error("the API's TLS certificate or key is not usable: {0}; give a PEM certificate chain and its private key in [api].tls")]
    Tls(#[source] tonic::transport::Error),
    /// The reflection service could not read the descriptor set (a build defect).
    #[error("the gRPC reflection service cannot be built: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The server failed while running.
    #[error("the gRPC API server failed: {0}")]
    Transport(#[source] tonic::transport::Error),
}

/// Binds `config.listen` and serves the API until `shutdown` completes; requests in flight
/// finish first.
pub async fn serve(
    config: ApiConfig,
    services: Services,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    serve_on(listener, config, services, shutdown).await
}

/// Serves the API on a bound listener (`config.listen` is not used) until `shutdown`
/// completes.
pub async fn serve_on(
    listener: TcpListener,
    config: ApiConfig,
    services: Services,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let credentials = config.credentials()?;
    if credentials.is_empty() {
        warn!("[api].tokens is empty: every gRPC API request will be refused");
    }
    let auditor = match &services.audit {
        Some(log) => Auditor::new(log.clone()),
        None => {
            warn!("no audit log configured: supervisor and admin API actions are not recorded");
            Auditor::disabled()
        }
    };
    let gate = Arc::new(auth::Gate::new(credentials, auditor.clone()));
    let (stop_trigger, stop) = stream::Stop::new();

    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ServeError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(ServeError::Tls)?;
    }

    let agent = gate.guard(AgentServiceServer::new(AgentApi::new(
        services.desk.clone(),
        auditor.clone(),
        stop.clone(),
    )));
    let supervisor = gate.guard(SupervisorServiceServer::new(SupervisorApi::new(
        services.engine.clone(),
        services.desk.clone(),
        services.store.clone(),
        auditor.clone(),
        stop.clone(),
    )));
    let admin = gate.guard(AdminServiceServer::new(AdminApi::new(
        services.engine.clone(),
        services.store.clone(),
        auditor,
        stop,
    )));

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<auth::Guarded<AgentServiceServer<AgentApi>>>()
        .await;
    health_reporter
        .set_serving::<auth::Guarded<SupervisorServiceServer<SupervisorApi>>>()
        .await;
    health_reporter
        .set_serving::<auth::Guarded<AdminServiceServer<AdminApi>>>()
        .await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ivr_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ivr_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let local = listener.local_addr().ok();
    info!(
        listen = ?local,
        tls = config.tls.is_some(),
        "gRPC API listening"
    );
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    builder
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(agent)
        .add_service(supervisor)
        .add_service(admin)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            info!("gRPC API stopping: open streams are closed, requests in flight finish");
            let _ = stop_trigger.send(true);
        })
        .await
        .map_err(ServeError::Transport)?;
    // Tell health watchers the services are gone before the process exits.
    health_reporter
        .set_not_serving::<auth::Guarded<AgentServiceServer<AgentApi>>>()
        .await;
    info!("gRPC API stopped");
    Ok(())
}
