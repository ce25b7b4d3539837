//! Callback instead of waiting, across a restart: a caller waiting in a queue nobody staffs
//! presses 1, confirms their own number with 1 and is hung up on, keeping their place. The
//! engine stops and starts again on the same data folder; when an agent logs in, the engine
//! calls the caller back through the trunk (a SIPp phone), greets them, rings the agent's phone
//! (another SIPp phone) and bridges the two. The agent's screen pop says it is a call back; the
//! call back's record names the queue and the agent.

use std::path::Path;

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::agent_event::Event as AgentEv;
use ivr_proto::v1::{HangupRequest, QueryCallsRequest};
use ivr_tests::{ports, Engine, EngineOptions, Sipp};

use super::center::{call_and_key, log_in, next_event, next_offer, with_token, ADMIN, ANN, PLAN};
use super::{ms, secs};

/// The help-desk plan's engine with a call-back queue and a trunk whose outbound proxy (where
/// call backs go) is `phone_port`, keeping its data in `data`.
fn engine(plans: &Path, data: &Path, phone_port: u16) -> Engine {
    std::fs::write(plans.join("help-desk.yaml"), PLAN).unwrap();
    Engine::start(EngineOptions {
        plans: Some(plans.to_path_buf()),
        data: Some(data.to_path_buf()),
        extra_toml: format!(
            r#"
{trunk}

[api]
listen = "127.0.0.1:0"
tokens = [
  {{ token = "{ADMIN}", principal = "root", role = "admin" }},
  {{ token = "{ANN}", principal = "ann", role = "agent" }},
]

[acd]
[[acd.queues]]
name = "support"
callback = true
callback_timeout = "20s"
"#,
            trunk = ivr_tests::outbound_trunk(phone_port)
        ),
        ..EngineOptions::default()
    })
}

#[test]
fn a_caller_called_back_after_a_restart_keeps_their_place_and_reaches_an_agent() {
    let plans = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let phone_port = ports::free_sip_port("127.0.0.1");

    // Nobody staffs the queue: the caller is told they may be called back, and asks.
    let mut first = engine(plans.path(), data.path(), phone_port);
    let (mut caller, engine_rtp, sipp) = call_and_key(&first, "4217", 30_000);
    let offered = first.wait_event("callback_offered", secs(15), |_| true);
    let call_id = offered.call_id().to_string();
    std::thread::sleep(ms(500));
    caller.send_event(engine_rtp, 101, ivr_tests::rtp::event_code('1'), 5);
    std::thread::sleep(ms(800));
    caller.send_event(engine_rtp, 101, ivr_tests::rtp::event_code('1'), 5);
    let requested = first.wait_event("callback_requested", secs(10), |e| e.call_id() == call_id);
    assert_eq!(
        requested.str("number"),
        Some("+*******0000"),
        "the event masks the number: {requested}"
    );
    let hangup = first.wait_event("hangup", secs(20), |e| e.call_id() == call_id);
    assert_eq!(hangup.str("cause"), Some("callback"), "{hangup}");
    drop(sipp.wait());
    first.sigterm();
    first.wait_exit(secs(20));
    drop(first);

    // After the restart the request is still there: an agent logs in and the engine calls
    // the caller back, then rings the agent.
    let second = engine(plans.path(), data.path(), phone_port);
    let grpc = second.grpc.expect("the gRPC address");
    let callee = Sipp::new("agent_phone", second.sip_udp)
        .local_port(phone_port)
        .template("HOLD", "30000")
        .timeout(secs(45))
        .spawn();
    let agent_port = ports::free_sip_port("127.0.0.1");
    let agent_phone = Sipp::new("agent_phone", second.sip_udp)
        .local_port(agent_port)
        .template("HOLD", "30000")
        .timeout(secs(45))
        .spawn();
    let rt = super::runtime();
    rt.block_on(async {
        let contact = format!("sip:ann@127.0.0.1:{agent_port}");
        let (_desk, mut events) = log_in(grpc, "ann", ANN, &contact).await;
        let offer = next_offer(&mut events, secs(20)).await;
        assert_eq!(
            offer.context.get("callback").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            offer.context.get("callback_number").map(String::as_str),
            Some("+15551230000")
        );
        assert!(
            offer
                .slots
                .iter()
                .any(|s| s.name == "customer" && s.value == "4217"),
            "the screen pop still has what the caller keyed before the restart: {offer:?}"
        );
        let AgentEv::Connected(connected) = next_event(&mut events, secs(30), |e| {
            matches!(e, AgentEv::Connected(_))
        })
        .await
        else {
            unreachable!()
        };
        let back = connected.call_id.clone();
        second.wait_event("callback_done", secs(5), |e| e.call_id() == back);
        second.wait_event("callback_answered", secs(1), |e| e.call_id() == back);

        let mut admin = AdminServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        admin
            .hangup(with_token(
                HangupRequest {
                    call_id: back.clone(),
                    reason: String::new(),
                    actor: "root".into(),
                },
                ADMIN,
            ))
            .await
            .expect("hang the call back up");
        next_event(&mut events, secs(10), |e| matches!(e, AgentEv::Ended(_))).await;
        let deadline = std::time::Instant::now() + secs(10);
        let record = loop {
            let calls = admin
                .query_calls(with_token(
                    QueryCallsRequest {
                        agent_id: "ann".into(),
                        ..QueryCallsRequest::default()
                    },
                    ADMIN,
                ))
                .await
                .expect("query calls")
                .into_inner()
                .calls;
            if let Some(c) = calls.into_iter().find(|c| c.call_id == back) {
                break c;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no record of the call back"
            );
            tokio::time::sleep(ms(200)).await;
        };
        assert_eq!(record.to_number, "+15551230000", "{record:?}");
        assert_eq!(record.queue, "support", "{record:?}");
        assert_eq!(record.agent_id, "ann", "{record:?}");
    });
    drop(callee.wait());
    drop(agent_phone.wait());
}
