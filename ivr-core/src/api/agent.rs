//! `ivr.v1.AgentService`: the agent desktop. An agent acts only as itself; a supervisor or an
//! admin may act for any agent, and such requests are recorded in the audit log.

use std::sync::Arc;

use ivr_proto::v1;
use ivr_proto::v1::agent_service_server::AgentService;
use serde_json::json;
use tonic::{Request, Response, Status};

use super::audit::Auditor;
use super::auth::{acting_as, principal, Principal, Role};
use super::convert::{self, outcome, status};
use super::facade::{AgentDesk, AgentLogin, TransferTarget};
use super::stream::{forward, BoxStream, Stop};
use crate::acd::{AgentId, AgentProfile, Presence, QueueName, Skill};

/// The agent service over the ACD driver's desk.
pub struct AgentApi {
    desk: Arc<dyn AgentDesk>,
    audit: Auditor,
    stop: Stop,
}

impl AgentApi {
    /// The service.
    pub(crate) fn new(desk: Arc<dyn AgentDesk>, audit: Auditor, stop: Stop) -> AgentApi {
        AgentApi { desk, audit, stop }
    }

    /// Records a request made by a supervisor or admin for an agent.
    async fn audit_for<T>(
        &self,
        who: &Principal,
        rpc: &str,
        agent_id: &str,
        result: &Result<T, Status>,
    ) {
        if who.role >= Role::Supervisor && who.name != agent_id {
            self.audit
                .record(
                    who,
                    &format!("ivr.v1.AgentService/{rpc}"),
                    agent_id,
                    json!({ "outcome": outcome(result) }),
                )
                .await;
        }
    }
}

fn required<'a>(value: &'a str, field: &str, what: &str) -> Result<&'a str, Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!(
            "{field} is empty: give {what}"
        )))
    } else {
        Ok(value)
    }
}

/// The agent profile of a login request; skill levels must be 1 to 10.
fn profile(req: &v1::LoginRequest) -> Result<AgentProfile, Status> {
    let mut skills = Vec::with_capacity(req.skills.len());
    for s in &req.skills {
        let level = u8::try_from(s.level)
            .ok()
            .filter(|l| (1..=10).contains(l))
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "skills: `{}` has level {}; levels go from 1 (basic) to 10 (expert)",
                    s.name, s.level
                ))
            })?;
        skills.push((
            Skill(required(&s.name, "skills.name", "each skill a name")?.into()),
            level,
        ));
    }
    Ok(AgentProfile {
        id: AgentId::from(req.agent_id.as_str()),
        skills,
        queues: req
            .queues
            .iter()
            .map(|q| QueueName::from(q.as_str()))
            .collect(),
    })
}

impl AgentApi {
    /// One agent request: the principal must act as the request's agent; `work` does it, and
    /// a supervisor's or admin's request for an agent is audited with its outcome.
    async fn act<Req, Resp, Fut>(
        &self,
        rpc: &str,
        request: Request<Req>,
        agent_of: fn(&Req) -> &str,
        work: impl FnOnce(AgentId, Req) -> Fut + Send,
    ) -> Result<Response<Resp>, Status>
    where
        Req: Send,
        Fut: std::future::Future<Output = Result<Resp, Status>> + Send,
    {
        let who = principal(&request)?;
        let req = request.into_inner();
        let agent_id = agent_of(&req).to_string();
        acting_as(&who, &agent_id)?;
        let result = work(AgentId::from(agent_id.as_str()), req).await;
        self.audit_for(&who, rpc, &agent_id, &result).await;
        result.map(Response::new)
    }
}

const CALL_ID: &str = "the id of the agent's call";
const OFFER_ID: &str = "the offer_id of the Offer event";

#[tonic::async_trait]
impl AgentService for AgentApi {
    async fn login(
        &self,
        request: Request<v1::LoginRequest>,
    ) -> Result<Response<v1::LoginResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "Login",
            request,
            |r| &r.agent_id,
            |_, req| async move {
                required(
                    &req.sip_contact,
                    "sip_contact",
                    "the SIP URI of the agent's phone, for example sip:1042@10.0.0.15",
                )?;
                let login = AgentLogin {
                    profile: profile(&req)?,
                    sip_contact: req.sip_contact,
                    display_name: req.display_name,
                };
                let (state, queues) = desk.login(login).await.map_err(status)?;
                Ok(v1::LoginResponse {
                    state: convert::agent_state(state.state) as i32,
                    queues: queues.iter().map(ToString::to_string).collect(),
                })
            },
        )
        .await
    }

    async fn logout(
        &self,
        request: Request<v1::LogoutRequest>,
    ) -> Result<Response<v1::LogoutResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "Logout",
            request,
            |r| &r.agent_id,
            |agent, _| async move {
                let deferred = desk.logout(&agent).await.map_err(status)?;
                Ok(v1::LogoutResponse { deferred })
            },
        )
        .await
    }

    async fn set_state(
        &self,
        request: Request<v1::SetStateRequest>,
    ) -> Result<Response<v1::SetStateResponse>, Status> {
        let desk = self.desk.clone();
        let by = principal(&request)?.name;
        self.act(
            "SetState",
            request,
            |r| &r.agent_id,
            |agent, req| async move {
                let presence = match v1::AgentState::try_from(req.state) {
                    Ok(v1::AgentState::Available) => Presence::Available,
                    Ok(v1::AgentState::Paused) => Presence::Paused(if req.reason.is_empty() {
                        "paused".into()
                    } else {
                        req.reason
                    }),
                    _ => {
                        return Err(Status::invalid_argument(
                            "state must be AGENT_STATE_AVAILABLE or AGENT_STATE_PAUSED; \
                         the other states are set by the engine (Logout logs out)",
                        ))
                    }
                };
                let o = desk
                    .set_presence(&agent, presence, &by)
                    .await
                    .map_err(status)?;
                Ok(v1::SetStateResponse {
                    state: convert::agent_state(o.state) as i32,
                    reason: o.reason,
                })
            },
        )
        .await
    }

    type EventsStream = BoxStream<v1::AgentEvent>;

    async fn events(
        &self,
        request: Request<v1::EventsRequest>,
    ) -> Result<Response<Self::EventsStream>, Status> {
        let desk = self.desk.clone();
        let rx = self
            .act(
                "Events",
                request,
                |r| &r.agent_id,
                |agent, _| async move { desk.events(&agent).await.map_err(status) },
            )
            .await?;
        Ok(Response::new(forward(rx.into_inner(), self.stop.clone())))
    }

    async fn accept(
        &self,
        request: Request<v1::AcceptRequest>,
    ) -> Result<Response<v1::AcceptResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "Accept",
            request,
            |r| &r.agent_id,
            |agent, req| async move {
                let offer = required(&req.offer_id, "offer_id", OFFER_ID)?;
                let call_id = desk.accept(&agent, offer).await.map_err(status)?;
                Ok(v1::AcceptResponse { call_id })
            },
        )
        .await
    }

    async fn reject(
        &self,
        request: Request<v1::RejectRequest>,
    ) -> Result<Response<v1::RejectResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "Reject",
            request,
            |r| &r.agent_id,
            |agent, req| async move {
                let offer = required(&req.offer_id, "offer_id", OFFER_ID)?;
                desk.reject(&agent, offer, &req.reason)
                    .await
                    .map_err(status)?;
                Ok(v1::RejectResponse {})
            },
        )
        .await
    }

    async fn hold(
        &self,
        request: Request<v1::HoldRequest>,
    ) -> Result<Response<v1::HoldResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "Hold",
            request,
            |r| &r.agent_id,
            |agent, req| async move {
                let call = required(&req.call_id, "call_id", CALL_ID)?;
                desk.hold(&agent, call).await.map_err(status)?;
                Ok(v1::HoldResponse {})
            },
        )
        .await
    }

    async fn resume(
        &self,
        request: Request<v1::ResumeRequest>,
    ) -> Result<Response<v1::ResumeResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "Resume",
            request,
            |r| &r.agent_id,
            |agent, req| async move {
                let call = required(&req.call_id, "call_id", CALL_ID)?;
                desk.resume(&agent, call).await.map_err(status)?;
                Ok(v1::ResumeResponse {})
            },
        )
        .await
    }

    async fn transfer(
        &self,
        request: Request<v1::TransferRequest>,
    ) -> Result<Response<v1::TransferResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "Transfer",
            request,
            |r| &r.agent_id,
            |agent, req| async move {
                let call = required(&req.call_id, "call_id", CALL_ID)?;
                let target = match &req.target {
                    Some(v1::transfer_request::Target::Queue(q)) if !q.is_empty() => {
                        TransferTarget::Queue(QueueName::from(q.as_str()))
                    }
                    Some(v1::transfer_request::Target::ToAgentId(a)) if !a.is_empty() => {
                        TransferTarget::Agent(AgentId::from(a.as_str()))
                    }
                    _ => {
                        return Err(Status::invalid_argument(
                            "target is empty: give a `queue` name or a `to_agent_id`",
                        ))
                    }
                };
                desk.transfer(&agent, call, target, &req.note)
                    .await
                    .map_err(status)?;
                Ok(v1::TransferResponse {})
            },
        )
        .await
    }

    async fn complete_wrap_up(
        &self,
        request: Request<v1::CompleteWrapUpRequest>,
    ) -> Result<Response<v1::CompleteWrapUpResponse>, Status> {
        let desk = self.desk.clone();
        self.act(
            "CompleteWrapUp",
            request,
            |r| &r.agent_id,
            |agent, req| async move {
                let call = required(
                    &req.call_id,
                    "call_id",
                    "the id of the call being wrapped up",
                )?;
                let state = desk
                    .complete_wrap_up(&agent, call, &req.disposition, &req.notes)
                    .await
                    .map_err(status)?;
                Ok(v1::CompleteWrapUpResponse {
                    state: convert::agent_state(state) as i32,
                })
            },
        )
        .await
    }
}
