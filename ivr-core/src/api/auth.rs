//! Who may call what: the `[api]` configuration, bearer tokens, principals and roles, and the
//! per-RPC role table enforced in front of every `ivr.v1` service.
//!
//! A request carries `authorization: Bearer <token>`. The [`Gate`] hashes the token and compares
//! the digest with every configured token's digest in constant time (no early exit, so timing
//! tells nothing about how much of a token was right), finds the [`Principal`], looks the RPC up
//! in [`RPC_ROLES`] and either rejects the request (`UNAUTHENTICATED`, `PERMISSION_DENIED`) or
//! passes it on with the principal in the request extensions, where the service reads it
//! ([`principal`]). Agent RPCs also check that an agent acts only as itself
//! ([`acting_as`]); supervisors and admins may act for any agent.
//!
//! Health checks (`grpc.health.v1.Health`) and reflection are not behind the gate: load
//! balancers probe health without credentials, and the API's schema is public.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;
use tonic::Status;

use super::audit::Auditor;

/// The `[api]` section of the configuration: where the gRPC API listens, who may use it, and
/// its TLS certificate.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address and port to listen on, for example `127.0.0.1:50051` (local tools only) or
    /// `0.0.0.0:50051` (every interface; then configure `tls`).
    pub listen: SocketAddr,
    /// The bearer tokens accepted, each naming its principal and role. With no token every RPC
    /// is refused (health checks and reflection still answer).
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// TLS certificate and key (PEM). Without it the API speaks plain HTTP/2: keep it on a
    /// loopback or private address.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// One accepted bearer token.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token itself (at least 16 characters; `openssl rand -hex 32` makes a good one).
    /// Prefer `token_env` so the secret stays out of the file.
    #[serde(default)]
    pub token: Option<String>,
    /// Name of an environment variable holding the token, read at start-up.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Who uses the token: an agent id for agents (it must match the `agent_id` of their
    /// requests), a person's or tool's name otherwise. Recorded as the actor in the audit log.
    pub principal: String,
    /// What the token may do: `agent`, `supervisor` or `admin`.
    pub role: Role,
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_env", &self.token_env)
            .field("principal", &self.principal)
            .field("role", &self.role)
            .finish()
    }
}

/// The API's TLS certificate chain and private key, PEM files.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (leaf first), PEM.
    pub cert: PathBuf,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What a principal may do. Each role may do everything the roles before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An agent: the agent RPCs, acting only as itself.
    Agent,
    /// A supervisor: the supervisor RPCs, and the agent RPCs for any agent.
    Supervisor,
    /// An administrator: everything.
    Admin,
}

impl Role {
    /// `agent`, `supervisor` or `admin`, as in the configuration and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of a request, found in its extensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The principal's name from the token's configuration.
    pub name: String,
    /// The token's role.
    pub role: Role,
}

/// A problem in the `[api]` section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiConfigError {
    /// A token entry has an empty principal.
    #[error("[api].tokens[{index}]: `principal` is empty; name who uses the token (an agent id, a person or a tool)")]
    EmptyPrincipal {
        /// Position in `tokens`, from 0.
        index: usize,
    },
    /// A token entry gives both `token` and `token_env`, or neither.
    #[error("[api].tokens[{index}] ({principal}): give exactly one of `token` and `token_env`")]
    TokenSource {
        /// Position in `tokens`, from 0.
        index: usize,
        /// The entry's principal.
        principal: String,
    },
    /// The environment variable named by `token_env` is unset or empty.
    #[error("[api].tokens[{index}] ({principal}): environment variable {var} is unset or empty; export it before starting ivr")]
    MissingEnv {
        /// Position in `tokens`, from 0.
        index: usize,
        /// The entry's principal.
        principal: String,
        /// The variable.
        var: String,
    },
    /// The token is too short to resist guessing.
    #[error("[api].tokens[{index}] ({principal}): the token has {len} characters; use at least {min} (for example `openssl rand -hex 32`)")]
    TooShort {
        /// Position in `tokens`, from 0.
        index: usize,
        /// The entry's principal.
        principal: String,
        /// Its length.
        len: usize,
        /// The least accepted.
        min: usize,
    },
    /// Two entries share a token, so the principal of a request would be ambiguous.
    #[error("[api].tokens[{index}] ({principal}): the same token is already given to another entry; give each principal its own token")]
    DuplicateToken {
        /// Position in `tokens`, from 0.
        index: usize,
        /// The entry's principal.
        principal: String,
    },
}

/// Every problem found in the `[api]` section, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ApiConfigErrors(pub Vec<ApiConfigError>);

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// The configured tokens, kept only as SHA-256 digests, with their principals.
#[derive(Clone)]
pub struct Credentials {
    entries: Vec<([u8; 32], Principal)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(_, p)| p))
            .finish()
    }
}

impl ApiConfig {
    /// Reads the tokens (from the file or the environment) and checks them, reporting every
    /// problem at once.
    pub fn credentials(&self) -> Result<Credentials, ApiConfigErrors> {
        self.credentials_with(|var| std::env::var(var).ok())
    }

    /// Like [`ApiConfig::credentials`] with the environment given as a function.
    pub fn credentials_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, ApiConfigErrors> {
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        for (index, t) in self.tokens.iter().enumerate() {
            let principal = t.principal.trim().to_string();
            if principal.is_empty() {
                problems.push(ApiConfigError::EmptyPrincipal { index });
                continue;
            }
            let secret = match (&t.token, &t.token_env) {
                (Some(token), None) => token.clone(),
                (None, Some(var)) => match env(var).filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => {
                        problems.push(ApiConfigError::MissingEnv {
                            index,
                            principal,
                            var: var.clone(),
                        });
                        continue;
                    }
                },
                _ => {
                    problems.push(ApiConfigError::TokenSource { index, principal });
                    continue;
                }
            };
            let secret = secret.trim();
            if secret.chars().count() < MIN_TOKEN_LEN {
                problems.push(ApiConfigError::TooShort {
                    index,
                    principal,
                    len: secret.chars().count(),
                    min: MIN_TOKEN_LEN,
                });
                continue;
            }
            let digest = digest(secret.as_bytes());
            if !seen.insert(digest) {
                problems.push(ApiConfigError::DuplicateToken { index, principal });
                continue;
            }
            entries.push((
                digest,
                Principal {
                    name: principal,
                    role: t.role,
                },
            ));
        }
        if problems.is_empty() {
            Ok(Credentials { entries })
        } else {
            Err(ApiConfigErrors(problems))
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Credentials {
    /// The principal whose token this is. Compares against every configured token in constant
    /// time, whatever matches.
    pub fn principal(&self, token: &str) -> Option<&Principal> {
        let presented = digest(token.as_bytes());
        let mut found = None;
        for (d, p) in &self.entries {
            if bool::from(d.ct_eq(&presented)) {
                found = Some(p);
            }
        }
        found
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The role each RPC needs, by its gRPC path. Agent RPCs additionally require an agent to act
/// only as itself (checked by the service with [`acting_as`]). A path of an `ivr.v1` service
/// missing here needs [`Role::Admin`] (fail closed).
pub const RPC_ROLES: &[(&str, Role)] = &[
    ("/ivr.v1.AgentService/Login", Role::Agent),
    ("/ivr.v1.AgentService/Logout", Role::Agent),
    ("/ivr.v1.AgentService/SetState", Role::Agent),
    ("/ivr.v1.AgentService/Events", Role::Agent),
    ("/ivr.v1.AgentService/Accept", Role::Agent),
    ("/ivr.v1.AgentService/Reject", Role::Agent),
    ("/ivr.v1.AgentService/Hold", Role::Agent),
    ("/ivr.v1.AgentService/Resume", Role::Agent),
    ("/ivr.v1.AgentService/Transfer", Role::Agent),
    ("/ivr.v1.AgentService/CompleteWrapUp", Role::Agent),
    ("/ivr.v1.SupervisorService/Wallboard", Role::Supervisor),
    ("/ivr.v1.SupervisorService/ListCalls", Role::Supervisor),
    ("/ivr.v1.SupervisorService/WatchCall", Role::Supervisor),
    ("/ivr.v1.SupervisorService/Monitor", Role::Supervisor),
    ("/ivr.v1.SupervisorService/StopMonitor", Role::Supervisor),
    ("/ivr.v1.SupervisorService/SetAgentState", Role::Supervisor),
    ("/ivr.v1.AdminService/ValidateDialPlan", Role::Admin),
    ("/ivr.v1.AdminService/ReloadDialPlans", Role::Admin),
    ("/ivr.v1.AdminService/ListCalls", Role::Admin),
    ("/ivr.v1.AdminService/Hangup", Role::Admin),
    ("/ivr.v1.AdminService/QueryCalls", Role::Admin),
    ("/ivr.v1.AdminService/Originate", Role::Admin),
];

/// The role `path` needs ([`Role::Admin`] for a path not in [`RPC_ROLES`]).
pub fn required_role(path: &str) -> Role {
    RPC_ROLES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(Role::Admin, |(_, r)| *r)
}

/// The RPC name of a gRPC path, as recorded in the audit log: `ivr.v1.AdminService/Hangup`.
pub fn rpc_name(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

/// The principal the [`Gate`] attached to a request; `UNAUTHENTICATED` when there is none (a
/// service served without its gate).
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(unauthenticated)
}

/// Checks that `principal` may act as agent `agent_id`: an agent only as itself, supervisors
/// and admins as anyone.
pub fn acting_as(principal: &Principal, agent_id: &str) -> Result<(), Status> {
    if agent_id.is_empty() {
        return Err(Status::invalid_argument(
            "agent_id is empty: set it to the id of the agent the request is for",
        ));
    }
    if principal.role >= Role::Supervisor || principal.name == agent_id {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "principal `{}` (role agent) may act only as agent `{}`, not as `{agent_id}`; \
             acting for another agent needs role supervisor or admin",
            principal.name, principal.name
        )))
    }
}

fn unauthenticated() -> Status {
    Status::unauthenticated(
        "missing or unknown bearer token: send `authorization: Bearer <token>` configured in [api].tokens",
    )
}

/// Authenticates requests and applies [`RPC_ROLES`]; shared by the [`Guarded`] services.
pub struct Gate {
    credentials: Credentials,
    auditor: Auditor,
}

impl Gate {
    /// A gate over these credentials; refused supervisor and admin requests of known principals
    /// are recorded with `auditor`.
    pub fn new(credentials: Credentials, auditor: Auditor) -> Gate {
        Gate {
            credentials,
            auditor,
        }
    }

    /// The principal of a request for `path` with these headers, or the status refusing it.
    /// A refusal of an authenticated principal also returns the principal (for the audit log).
    pub fn check(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Principal, (Status, Option<Principal>)> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        let Some(principal) = token.and_then(|t| self.credentials.principal(t)) else {
            return Err((unauthenticated(), None));
        };
        let needed = required_role(path);
        if principal.role >= needed {
            Ok(principal.clone())
        } else {
            Err((
                Status::permission_denied(format!(
                    "{} needs role {needed} (or higher); principal `{}` has role {}",
                    rpc_name(path),
                    principal.name,
                    principal.role
                )),
                Some(principal.clone()),
            ))
        }
    }

    /// Wraps a service so that every request passes the gate first.
    pub fn guard<S>(self: &Arc<Self>, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            gate: self.clone(),
        }
    }
}

/// The token of an `authorization` header value `Bearer <token>` (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A service behind the [`Gate`].
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        match self.gate.check(request.uri().path(), request.headers()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                // The clone is the service that was not polled ready; keep the ready one.
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { ready.call(request).await })
            }
            Err((status, principal)) => {
                let auditor = self.gate.auditor.clone();
                let rpc = rpc_name(request.uri().path()).to_string();
                Box::pin(async move {
                    if let Some(p) = principal {
                        auditor
                            .record(
                                &p,
                                &rpc,
                                "",
                                serde_json::json!({ "outcome": "permission_denied" }),
                            )
                            .await;
                    }
                    Ok(status.into_http())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(principal: &str, role: Role, token: &str) -> TokenConfig {
        TokenConfig {
            token: Some(token.into()),
            token_env: None,
            principal: principal.into(),
            role,
        }
    }

    fn config(tokens: Vec<TokenConfig>) -> ApiConfig {
        ApiConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tokens,
            tls: None,
        }
    }

    #[test]
    fn the_api_section_parses_from_toml_with_env_tokens_and_tls() {
        let text = r#"
            listen = "0.0.0.0:50051"
            tls = { cert = "tls/api.crt", key = "tls/api.key" }
            [[tokens]]
            token_env = "IVR_ADMIN_TOKEN"
            principal = "ops"
            role = "admin"
            [[tokens]]
            token = "agent-1042-secret-token"
            principal = "a-1042"
            role = "agent"
        "#;
        let c: ApiConfig = toml::from_str(text).unwrap();
        assert_eq!(c.tokens.len(), 2);
        assert_eq!(c.tokens[0].role, Role::Admin);
        assert_eq!(c.tls.as_ref().unwrap().key, PathBuf::from("tls/api.key"));
        let creds = c
            .credentials_with(|v| (v == "IVR_ADMIN_TOKEN").then(|| "0123456789abcdef0123".into()))
            .unwrap();
        assert_eq!(creds.principal("0123456789abcdef0123").unwrap().name, "ops");
        assert_eq!(
            creds.principal("agent-1042-secret-token").unwrap().role,
            Role::Agent
        );
        assert!(creds.principal("agent-1042-secret-toke").is_none());
    }

    #[test]
    fn an_unknown_role_is_rejected_when_parsing() {
        let text = "listen = \"127.0.0.1:1\"\n[[tokens]]\ntoken = \"x\"\nprincipal = \"p\"\nrole = \"root\"\n";
        let err = toml::from_str::<ApiConfig>(text).unwrap_err().to_string();
        assert!(err.contains("root"), "{err}");
    }

    #[test]
    fn every_token_problem_is_reported_at_once() {
        let c = config(vec![
            token("", Role::Admin, "0123456789abcdef"),
            token("short", Role::Admin, "abc"),
            TokenConfig {
                token: None,
                token_env: Some("NOT_SET_ANYWHERE".into()),
                principal: "env".into(),
                role: Role::Agent,
            },
            TokenConfig {
                token: Some("0123456789abcdef".into()),
                token_env: Some("X".into()),
                principal: "both".into(),
                role: Role::Agent,
            },
            token("a", Role::Agent, "same-token-0123456789"),
            token("b", Role::Agent, "same-token-0123456789"),
        ]);
        let errs = c.credentials_with(|_| None).unwrap_err().0;
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(matches!(
            errs[0],
            ApiConfigError::EmptyPrincipal { index: 0 }
        ));
        assert!(matches!(errs[1], ApiConfigError::TooShort { len: 3, .. }));
        assert!(errs[2].to_string().contains("NOT_SET_ANYWHERE"));
        assert!(matches!(
            errs[3],
            ApiConfigError::TokenSource { index: 3, .. }
        ));
        assert!(matches!(
            errs[4],
            ApiConfigError::DuplicateToken { index: 5, .. }
        ));
    }

    #[test]
    fn the_token_never_appears_in_debug_output() {
        let t = token("p", Role::Admin, "super-secret-token-value");
        assert!(!format!("{t:?}").contains("super-secret"));
    }

    #[test]
    fn bearer_header_parsing_accepts_any_case_and_rejects_other_schemes() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }

    #[test]
    fn the_role_table_covers_every_rpc_of_the_descriptor_set() {
        for (service, methods) in rpc_paths_from_descriptor() {
            for m in methods {
                let path = format!("/{service}/{m}");
                assert!(
                    RPC_ROLES.iter().any(|(p, _)| *p == path),
                    "{path} has no role"
                );
            }
        }
        assert_eq!(
            required_role("/ivr.v1.AdminService/NotYetKnown"),
            Role::Admin
        );
    }

    /// Decodes the descriptor set without `prost-types`: only the service and method names.
    fn prost_types_free_decode(bytes: &[u8]) -> DescriptorSet {
        <DescriptorSet as prost::Message>::decode(bytes).unwrap()
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct DescriptorSet {
        #[prost(message, repeated, tag = "1")]
        file: Vec<File>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct File {
        #[prost(string, tag = "2")]
        package: String,
        #[prost(message, repeated, tag = "6")]
        service: Vec<ServiceDesc>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct ServiceDesc {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(message, repeated, tag = "2")]
        method: Vec<Method>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Method {
        #[prost(string, tag = "1")]
        name: String,
    }

    fn rpc_paths_from_descriptor() -> Vec<(String, Vec<String>)> {
        let fds = prost_types_free_decode(ivr_proto::FILE_DESCRIPTOR_SET);
        let all: Vec<_> = fds
            .file
            .iter()
            .flat_map(|f| {
                f.service.iter().map(move |s| {
                    (
                        format!("{}.{}", f.package, s.name),
                        s.method.iter().map(|m| m.name.clone()).collect(),
                    )
                })
            })
            .collect();
        assert_eq!(all.len(), 3);
        all
    }

    #[test]
    fn an_agent_may_act_only_as_itself_and_supervisors_for_anyone() {
        let ann = Principal {
            name: "ann".into(),
            role: Role::Agent,
        };
        assert!(acting_as(&ann, "ann").is_ok());
        let denied = acting_as(&ann, "bob").unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("`bob`"), "{}", denied.message());
        assert_eq!(
            acting_as(&ann, "").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let sue = Principal {
            name: "sue".into(),
            role: Role::Supervisor,
        };
        assert!(acting_as(&sue, "bob").is_ok());
    }

    #[test]
    fn the_gate_names_the_role_needed_and_the_role_held() {
        let creds = config(vec![token("ann", Role::Agent, "ann-token-0123456789")])
            .credentials()
            .unwrap();
        let gate = Gate::new(creds, Auditor::disabled());
        let mut headers = http::HeaderMap::new();
        let (status, who) = gate
            .check("/ivr.v1.AdminService/Hangup", &headers)
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(who.is_none());
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer ann-token-0123456789".parse().unwrap(),
        );
        let (status, who) = gate
            .check("/ivr.v1.AdminService/Hangup", &headers)
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            status.message(),
            "ivr.v1.AdminService/Hangup needs role admin (or higher); principal `ann` has role agent"
        );
        assert_eq!(who.unwrap().name, "ann");
        let ok = gate.check("/ivr.v1.AgentService/Login", &headers).unwrap();
        assert_eq!(ok.role, Role::Agent);
    }
}
