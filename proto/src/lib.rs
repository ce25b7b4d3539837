//! # ivr-proto
//!
//! The gRPC API of the IVR engine, package `ivr.v1`: the `.proto` files in `proto/ivr/v1/`
//! and the code prost and tonic generate from them at build time (pure Rust: the files are
//! compiled by `protox`, so no system `protoc` is needed).
//!
//! Three services, each in its own file:
//!
//! * `AgentService` (`agent.proto`) — agents log in with a SIP contact, skills and queues, set
//!   Available/Paused, receive offers with a screen pop on the `Events` stream (intents, slots,
//!   transcript, sentiment, time waited), accept or reject them, hold, resume, transfer and
//!   wrap up calls.
//! * `SupervisorService` (`supervisor.proto`) — the live wallboard (a snapshot then updates of
//!   queue figures, agent states and active calls), live calls, watching one call's transcript,
//!   listen / whisper / barge monitoring, and setting agents' states (including a forced logout).
//! * `AdminService` (`admin.proto`) — dial plan validation and reload, live calls, hangup, call
//!   record search and outbound calls.
//!
//! Shared messages are in `common.proto`. Instants are `*_unix_ms` (milliseconds since the
//! Unix epoch) and durations `*_ms`.
//!
//! Everything generated lives in [`v1`]: messages such as [`v1::Offer`], the client
//! [`v1::agent_service_client::AgentServiceClient`] and the server trait
//! [`v1::agent_service_server::AgentService`] with its [`v1::agent_service_server::AgentServiceServer`]
//! wrapper, and the same for the supervisor and admin services.
//!
//! ## Health and reflection
//!
//! [`FILE_DESCRIPTOR_SET`] is the encoded `FileDescriptorSet` of the package, for gRPC server
//! reflection (so `grpcurl` works without the `.proto` files). With `tonic-reflection` and
//! `tonic-health` at the same minor version as `tonic` (0.14, as in the workspace's
//! `Cargo.toml`):
//!
//! ```ignore
//! let reflection = tonic_reflection::server::Builder::configure()
//!     .register_encoded_file_descriptor_set(ivr_proto::FILE_DESCRIPTOR_SET)
//!     .build_v1()?;
//! let (health_reporter, health) = tonic_health::server::health_reporter();
//! health_reporter
//!     .set_serving::<ivr_proto::v1::admin_service_server::AdminServiceServer<MyAdmin>>()
//!     .await;
//! tonic::transport::Server::builder()
//!     .add_service(health)
//!     .add_service(reflection)
//!     .add_service(ivr_proto::v1::admin_service_server::AdminServiceServer::new(my_admin))
//!     .serve(addr)
//!     .await?;
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Package `ivr.v1`: messages, clients and servers generated from `proto/ivr/v1/*.proto`.
///
/// Every message and field carries the comment written in the `.proto` file.
pub mod v1 {
    // Generated code: its docs come from the .proto comments; the generated client and server
    // modules have items without docs and code shapes clippy would word differently.
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/ivr.v1.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of package `ivr.v1`, for gRPC reflection
/// (`tonic_reflection::server::Builder::register_encoded_file_descriptor_set`).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ivr_v1_descriptor.bin"));

/// Full gRPC names of the services, as registered for health checks and reflection.
pub const SERVICE_NAMES: [&str; 3] = [
    "ivr.v1.AgentService",
    "ivr.v1.SupervisorService",
    "ivr.v1.AdminService",
];

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn descriptor_set() -> prost_types::FileDescriptorSet {
        prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
    }

    #[test]
    fn descriptor_set_decodes_and_holds_the_three_services() {
        let fds = descriptor_set();
        let mut services: Vec<String> = fds
            .file
            .iter()
            .filter(|f| f.package() == "ivr.v1")
            .flat_map(|f| f.service.iter().map(|s| format!("ivr.v1.{}", s.name())))
            .collect();
        services.sort();
        let mut expected: Vec<String> = SERVICE_NAMES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(services, expected);
    }

    #[test]
    fn descriptor_set_keeps_proto_comments_for_reflection_clients() {
        let fds = descriptor_set();
        let agent = fds
            .file
            .iter()
            .find(|f| f.name() == "ivr/v1/agent.proto")
            .expect("agent.proto is in the set");
        let info = agent.source_code_info.as_ref().expect("source info kept");
        assert!(info
            .location
            .iter()
            .any(|l| l.leading_comments().contains("screen pop")));
    }

    #[test]
    fn every_rpc_of_the_brief_is_declared() {
        let fds = descriptor_set();
        let methods = |service: &str| -> Vec<String> {
            fds.file
                .iter()
                .flat_map(|f| f.service.iter())
                .find(|s| s.name() == service)
                .map(|s| s.method.iter().map(|m| m.name().to_string()).collect())
                .unwrap_or_default()
        };
        for (service, wanted) in [
            (
                "AgentService",
                &[
                    "Login",
                    "Logout",
                    "SetState",
                    "Events",
                    "Accept",
                    "Reject",
                    "Hold",
                    "Resume",
                    "Transfer",
                    "CompleteWrapUp",
                ][..],
            ),
            (
                "SupervisorService",
                &[
                    "Wallboard",
                    "ListCalls",
                    "WatchCall",
                    "Monitor",
                    "StopMonitor",
                    "SetAgentState",
                ][..],
            ),
            (
                "AdminService",
                &[
                    "ValidateDialPlan",
                    "ReloadDialPlans",
                    "ListCalls",
                    "Hangup",
                    "QueryCalls",
                    "Originate",
                ][..],
            ),
        ] {
            assert_eq!(methods(service), wanted, "{service}");
        }
    }

    #[test]
    fn reflection_service_accepts_the_descriptor_set() {
        let built = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1();
        assert!(built.is_ok(), "{:?}", built.err());
    }

    #[test]
    fn offer_round_trips_through_the_wire_format() {
        let offer = v1::Offer {
            offer_id: "o-1".into(),
            call_id: "c-1".into(),
            caller_number: "+15550100".into(),
            node_path: vec!["welcome".into(), "cards".into()],
            intents: vec![v1::IntentScore {
                name: "card_lost".into(),
                score: 0.92,
            }],
            slots: vec![v1::Slot {
                name: "card".into(),
                value: "************1234".into(),
                sensitive: true,
            }],
            transcript: vec![v1::TranscriptTurn {
                who: v1::Speaker::Caller as i32,
                text: "I lost my card".into(),
                node: "main_menu".into(),
                at_ms: 4200,
            }],
            waited_ms: 12_000,
            queue: "cards".into(),
            ..Default::default()
        };
        let event = v1::AgentEvent {
            at_unix_ms: 1_700_000_000_000,
            event: Some(v1::agent_event::Event::Offer(offer.clone())),
        };
        let back = v1::AgentEvent::decode(event.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.event, Some(v1::agent_event::Event::Offer(offer)));
    }

    #[tokio::test]
    async fn health_reporter_knows_a_generated_server_type() {
        struct Admin;
        #[tonic::async_trait]
        impl v1::admin_service_server::AdminService for Admin {
            async fn validate_dial_plan(
                &self,
                _: tonic::Request<v1::ValidateDialPlanRequest>,
            ) -> Result<tonic::Response<v1::ValidateDialPlanResponse>, tonic::Status> {
                Err(tonic::Status::unimplemented("test"))
            }
            async fn reload_dial_plans(
                &self,
                _: tonic::Request<v1::ReloadDialPlansRequest>,
            ) -> Result<tonic::Response<v1::ReloadDialPlansResponse>, tonic::Status> {
                Err(tonic::Status::unimplemented("test"))
            }
            async fn list_calls(
                &self,
                _: tonic::Request<v1::ListCallsRequest>,
            ) -> Result<tonic::Response<v1::ListCallsResponse>, tonic::Status> {
                Err(tonic::Status::unimplemented("test"))
            }
            async fn hangup(
                &self,
                _: tonic::Request<v1::HangupRequest>,
            ) -> Result<tonic::Response<v1::HangupResponse>, tonic::Status> {
                Err(tonic::Status::unimplemented("test"))
            }
            async fn query_calls(
                &self,
                _: tonic::Request<v1::QueryCallsRequest>,
            ) -> Result<tonic::Response<v1::QueryCallsResponse>, tonic::Status> {
                Err(tonic::Status::unimplemented("test"))
            }
            type OriginateStream = std::pin::Pin<
                Box<
                    dyn tonic::codegen::tokio_stream::Stream<
                            Item = Result<v1::OriginateProgress, tonic::Status>,
                        > + Send,
                >,
            >;
            async fn originate(
                &self,
                _: tonic::Request<v1::OriginateRequest>,
            ) -> Result<tonic::Response<Self::OriginateStream>, tonic::Status> {
                Err(tonic::Status::unimplemented("test"))
            }
        }
        use tonic::server::NamedService as _;
        assert_eq!(
            v1::admin_service_server::AdminServiceServer::<Admin>::NAME,
            "ivr.v1.AdminService"
        );
        let (reporter, _service) = tonic_health::server::health_reporter();
        reporter
            .set_serving::<v1::admin_service_server::AdminServiceServer<Admin>>()
            .await;
    }
}
