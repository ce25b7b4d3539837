//! The call center end to end: a caller keys their customer number and is queued; an agent
//! logged in over gRPC (a real tonic client) gets the offer with the screen pop, accepts, and
//! the engine rings the agent's phone (SIPp, answering PCMA and echoing its media) and bridges
//! it to the caller (PCMU): the caller hears their own audio back through both legs. The
//! supervisor's wallboard shows the caller waiting, then not; the agent wraps up; the call
//! record names the queue, the agent, the wait, the talk time and the disposition.

use std::time::{Duration, Instant};

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::agent_event::Event as AgentEv;
use ivr_proto::v1::agent_service_client::AgentServiceClient;
use ivr_proto::v1::supervisor_service_client::SupervisorServiceClient;
use ivr_proto::v1::{
    AcceptRequest, AgentEvent, AgentState, CompleteWrapUpRequest, EventsRequest, LoginRequest,
    QueryCallsRequest, SetStateRequest, WallboardRequest,
};
use ivr_tests::audio;
use ivr_tests::codec::{self, G711};
use ivr_tests::{ports, Engine, EngineOptions, Offer, RtpPeer, Sipp};
use tokio::sync::mpsc;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Streaming};

use super::{ms, secs};

pub(super) const ADMIN: &str = "admin-token-0123456789";
pub(super) const SUPERVISOR: &str = "super-token-0123456789";
pub(super) const ANN: &str = "ann-token-0123456789";
const BOB: &str = "bob-token-0123456789";

pub(super) const PLAN: &str = r#"
version: 1
name: help-desk
language: en-US
settings:
  no_input: 8s
start: customer
nodes:
  customer:
    collect:
      slot: customer
      type: digits
      length: 4
      prompt: "Please key in your four digit customer number."
    next: handover
  handover:
    say: "Connecting you now."
    enqueue:
      queue: support
      context: [customer]
"#;

pub(super) fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

/// An engine running the help-desk plan, with `acd` settings and the `support` queue's.
pub(super) fn engine(dir: &std::path::Path, acd: &str, queue: &str) -> Engine {
    std::fs::write(dir.join("help-desk.yaml"), PLAN).unwrap();
    Engine::start(EngineOptions {
        plans: Some(dir.to_path_buf()),
        extra_toml: format!(
            r#"
[api]
listen = "127.0.0.1:0"
tokens = [
  {{ token = "{ADMIN}", principal = "root", role = "admin" }},
  {{ token = "{SUPERVISOR}", principal = "sue", role = "supervisor" }},
  {{ token = "{ANN}", principal = "ann", role = "agent" }},
  {{ token = "{BOB}", principal = "bob", role = "agent" }},
]

[acd]
{acd}
[[acd.queues]]
name = "support"
{queue}
"#
        ),
        ..EngineOptions::default()
    })
}

/// A caller (SIPp signalling, the test's RTP socket) who keys `digits` and stays `hold_ms`.
pub(super) fn call_and_key(
    engine: &Engine,
    digits: &str,
    hold_ms: u64,
) -> (RtpPeer, std::net::SocketAddr, ivr_tests::SippChild) {
    let mut caller = RtpPeer::bind();
    let sipp = Sipp::new("call_talk", engine.sip_udp)
        .offer(&Offer::new(caller.port()))
        .template("HOLD", &hold_ms.to_string())
        .timeout(ms(hold_ms) + secs(20))
        .spawn();
    let engine_rtp = caller.engine_addr(secs(10));
    for d in digits.chars() {
        caller.send_event(engine_rtp, 101, ivr_tests::rtp::event_code(d), 5);
        std::thread::sleep(ms(120));
    }
    (caller, engine_rtp, sipp)
}

/// The next agent event matching `pred`, within `timeout`.
pub(super) async fn next_event(
    events: &mut Streaming<AgentEvent>,
    timeout: Duration,
    pred: impl Fn(&AgentEv) -> bool,
) -> AgentEv {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let msg = tokio::time::timeout_at(deadline, events.message())
            .await
            .expect("the agent event arrives in time")
            .expect("the event stream stays open")
            .expect("the event stream has not ended");
        if let Some(ev) = msg.event {
            if pred(&ev) {
                return ev;
            }
        }
    }
}

/// The next offer on `events`, within `timeout`.
pub(super) async fn next_offer(
    events: &mut Streaming<AgentEvent>,
    timeout: Duration,
) -> ivr_proto::v1::Offer {
    match next_event(events, timeout, |e| matches!(e, AgentEv::Offer(_))).await {
        AgentEv::Offer(o) => o,
        _ => unreachable!("next_event returns what the predicate accepts"),
    }
}

/// `agent` (with `token`) accepts `offer_id`; returns once the agent's phone is connected.
pub(super) async fn accept_until_connected(
    desk: &mut AgentServiceClient<tonic::transport::Channel>,
    events: &mut Streaming<AgentEvent>,
    agent: &str,
    token: &str,
    offer_id: &str,
) {
    desk.accept(with_token(
        AcceptRequest {
            agent_id: agent.into(),
            offer_id: offer_id.into(),
        },
        token,
    ))
    .await
    .expect("accept the offer");
    next_event(events, secs(10), |e| matches!(e, AgentEv::Connected(_))).await;
}

/// Logs `agent` in with its phone at `contact` and makes it available; returns its events.
pub(super) async fn log_in(
    grpc: std::net::SocketAddr,
    agent: &str,
    token: &str,
    contact: &str,
) -> (
    AgentServiceClient<tonic::transport::Channel>,
    Streaming<AgentEvent>,
) {
    let mut desk = AgentServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let login = desk
        .login(with_token(
            LoginRequest {
                agent_id: agent.into(),
                sip_contact: contact.into(),
                queues: vec!["support".into()],
                display_name: agent.to_uppercase(),
                ..LoginRequest::default()
            },
            token,
        ))
        .await
        .expect("log in")
        .into_inner();
    assert_eq!(
        login.state,
        AgentState::Paused as i32,
        "agents start paused"
    );
    let events = desk
        .events(with_token(
            EventsRequest {
                agent_id: agent.into(),
            },
            token,
        ))
        .await
        .expect("open the event stream")
        .into_inner();
    desk.set_state(with_token(
        SetStateRequest {
            agent_id: agent.into(),
            state: AgentState::Available as i32,
            reason: String::new(),
        },
        token,
    ))
    .await
    .expect("become available");
    (desk, events)
}

#[test]
fn a_queued_caller_reaches_an_agent_who_sees_the_context_and_hears_them() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), "", "ring_timeout = \"10s\"\nwrap_up = \"60s\"");
    let grpc = engine.grpc.expect("the ready line names the gRPC address");

    // The agent's phone.
    let phone_port = ports::free_sip_port("127.0.0.1");
    let phone = Sipp::new("agent_phone", engine.sip_udp)
        .local_port(phone_port)
        .template("HOLD", "60000")
        .rtp_echo()
        .timeout(secs(60))
        .spawn();
    let contact = format!("sip:ann@127.0.0.1:{phone_port}");

    let rt = super::runtime();
    rt.block_on(async {
        let (mut desk, mut events) = log_in(grpc, "ann", ANN, &contact).await;

        // An agent acts only as itself.
        let denied = desk
            .set_state(with_token(
                SetStateRequest {
                    agent_id: "ann".into(),
                    state: AgentState::Available as i32,
                    reason: String::new(),
                },
                BOB,
            ))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

        // The supervisor's wallboard: the support queue's waiting count over time.
        let mut board = SupervisorServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap()
            .wallboard(with_token(
                WallboardRequest {
                    queues: vec![],
                    include_calls: false,
                },
                SUPERVISOR,
            ))
            .await
            .expect("open the wallboard")
            .into_inner();
        let (waiting_tx, mut waiting) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(update)) = board.message().await {
                for q in update.queues.iter().filter(|q| q.queue == "support") {
                    let _ = waiting_tx.send(q.waiting);
                }
            }
        });
        assert_eq!(waiting.recv().await, Some(0), "the snapshot shows nobody waiting");

        // The caller: SIPp signals, the test's socket carries the media.
        let (mut caller, engine_rtp, sipp) = call_and_key(&engine, "4217", 12_000);

        let offer = match next_event(&mut events, secs(20), |e| matches!(e, AgentEv::Offer(_))).await
        {
            AgentEv::Offer(o) => o,
            _ => unreachable!(),
        };
        assert_eq!(offer.caller_number, "+15551230000");
        assert_eq!(offer.dial_plan, "help-desk");
        assert_eq!(offer.queue, "support");
        assert_eq!(offer.node_path, vec!["customer", "handover"]);
        assert_eq!(offer.context.get("customer").map(String::as_str), Some("4217"));
        assert!(
            offer
                .slots
                .iter()
                .any(|s| s.name == "customer" && s.value == "4217" && !s.sensitive),
            "{:?}",
            offer.slots
        );
        assert!(
            offer.transcript.iter().any(|t| t.text.contains("4217")),
            "the transcript shows what the caller keyed: {:?}",
            offer.transcript
        );
        assert!(offer.expires_in_ms >= 9_000, "{}", offer.expires_in_ms);
        let deadline = Instant::now() + secs(5);
        let mut seen = Vec::new();
        while !seen.contains(&1) && Instant::now() < deadline {
            if let Ok(Some(w)) = tokio::time::timeout(ms(500), waiting.recv()).await {
                seen.push(w);
            }
        }
        assert!(seen.contains(&1), "the wallboard shows the caller waiting: {seen:?}");

        let accepted = desk
            .accept(with_token(
                AcceptRequest {
                    agent_id: "ann".into(),
                    offer_id: offer.offer_id.clone(),
                },
                ANN,
            ))
            .await
            .expect("accept the offer")
            .into_inner();
        assert_eq!(accepted.call_id, offer.call_id);
        next_event(&mut events, secs(10), |e| matches!(e, AgentEv::Connected(_))).await;
        let deadline = Instant::now() + secs(5);
        let mut last = 1;
        while last != 0 && Instant::now() < deadline {
            if let Ok(Some(w)) = tokio::time::timeout(ms(500), waiting.recv()).await {
                last = w;
            }
        }
        assert_eq!(last, 0, "the wallboard shows the queue empty once the agent answered");

        // The caller speaks; the agent's phone echoes; the caller hears it back through the
        // bridge (PCMU → PCMA → PCMU).
        let scratch = tempfile::tempdir().unwrap();
        let spoken = audio::speech_in("the quick brown fox", "en-us", 150, scratch.path());
        let before = caller.received().len();
        let sent_at = Instant::now();
        caller.send_audio(engine_rtp, G711::Pcmu, &spoken);
        let got = caller.wait_for(secs(5), |r| r.len() >= before + spoken.len() / 160 / 2);
        let heard: Vec<i16> = got[before..]
            .iter()
            .filter_map(|r| r.packet.as_ref())
            .filter(|p| p.pt == 0)
            .flat_map(|p| codec::decode(G711::Pcmu, &p.payload))
            .collect();
        let c = audio::correlation(&spoken, &heard);
        assert!(
            c > 0.5,
            "the caller hears their own voice back through the agent's phone (correlation {c:.2}, {} samples heard in {:?})",
            heard.len(),
            sent_at.elapsed()
        );

        // The caller hangs up; the agent's call ends and wrap-up starts.
        drop(sipp.wait());
        let ended = match next_event(&mut events, secs(30), |e| matches!(e, AgentEv::Ended(_))).await {
            AgentEv::Ended(e) => e,
            _ => unreachable!(),
        };
        assert_eq!(ended.hangup_side, "caller");
        assert!(ended.talk_ms > 1000, "{}", ended.talk_ms);
        next_event(&mut events, secs(5), |e| matches!(e, AgentEv::WrapUpStarted(_))).await;
        let after = desk
            .complete_wrap_up(with_token(
                CompleteWrapUpRequest {
                    agent_id: "ann".into(),
                    call_id: offer.call_id.clone(),
                    disposition: "resolved".into(),
                    notes: "asked about an invoice".into(),
                },
                ANN,
            ))
            .await
            .expect("complete the wrap-up")
            .into_inner();
        assert_eq!(after.state, AgentState::Available as i32);

        // The record.
        let mut admin = AdminServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        let mut record = None;
        for _ in 0..50 {
            let page = admin
                .query_calls(with_token(
                    QueryCallsRequest {
                        agent_id: "ann".into(),
                        ..QueryCallsRequest::default()
                    },
                    ADMIN,
                ))
                .await
                .expect("query calls")
                .into_inner();
            if let Some(c) = page.calls.into_iter().find(|c| !c.disposition.is_empty()) {
                record = Some(c);
                break;
            }
            tokio::time::sleep(ms(100)).await;
        }
        let record = record.expect("the call record with its disposition");
        assert_eq!(record.call_id, offer.call_id);
        assert_eq!(record.queue, "support");
        assert_eq!(record.agent_id, "ann");
        assert!(record.transferred && !record.contained);
        assert!(record.wait_ms > 0 && record.wait_ms < 15_000, "{}", record.wait_ms);
        assert!(record.talk_ms > 1000, "{}", record.talk_ms);
        assert_eq!(record.disposition, "resolved");
        assert_eq!(record.notes, "asked about an invoice");
        assert_eq!(record.hangup_side, "caller");
    });

    // The agent's phone got the caller's call id, and the engine's BYE.
    let run = phone.wait();
    let invite = run.requests("INVITE").next().expect("the phone was rung");
    assert!(
        invite.header("X-Call-Id").is_some_and(|v| !v.is_empty()),
        "{}",
        invite.head()
    );
    assert!(
        run.requests("BYE").next().is_some(),
        "{}",
        run.diagnostics()
    );
}

#[test]
fn an_unanswered_offer_moves_on_and_pauses_the_agent_and_an_agent_who_hangs_up_ends_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        dir.path(),
        "max_consecutive_misses = 1",
        "ring_timeout = \"2s\"\nwrap_up = \"60s\"",
    );
    let grpc = engine.grpc.expect("the ready line names the gRPC address");
    let phone_port = ports::free_sip_port("127.0.0.1");
    let phone = Sipp::new("agent_hangs_up", engine.sip_udp)
        .local_port(phone_port)
        .template("TALK", "6000")
        .timeout(secs(60))
        .spawn();

    let rt = super::runtime();
    rt.block_on(async {
        // Ann logs in first (idle longest: offered first) but never answers.
        let (_ann_desk, mut ann) = log_in(grpc, "ann", ANN, "sip:ann@127.0.0.1:9").await;
        tokio::time::sleep(ms(50)).await;
        let (mut bob_desk, mut bob) =
            log_in(grpc, "bob", BOB, &format!("sip:bob@127.0.0.1:{phone_port}")).await;

        let (caller, _engine_rtp, sipp) = call_and_key(&engine, "4217", 30_000);
        let first = next_offer(&mut ann, secs(20)).await;
        let withdrawn = match next_event(&mut ann, secs(5), |e| {
            matches!(e, AgentEv::OfferWithdrawn(_))
        })
        .await
        {
            AgentEv::OfferWithdrawn(w) => w,
            _ => unreachable!(),
        };
        assert_eq!(withdrawn.offer_id, first.offer_id);
        assert_eq!(withdrawn.reason, "timeout");
        let paused = match next_event(
            &mut ann,
            secs(5),
            |e| matches!(e, AgentEv::StateChanged(s) if s.state == AgentState::Paused as i32),
        )
        .await
        {
            AgentEv::StateChanged(s) => s,
            _ => unreachable!(),
        };
        assert!(paused.reason.contains("ring-no-answer"), "{paused:?}");

        // The call moves on to Bob, who answers.
        let offer = next_offer(&mut bob, secs(5)).await;
        assert_eq!(offer.call_id, first.call_id);
        accept_until_connected(&mut bob_desk, &mut bob, "bob", BOB, &offer.offer_id).await;

        // On hold the caller hears the hold audio; off hold, the (silent) agent again.
        let hold = ivr_proto::v1::HoldRequest {
            agent_id: "bob".into(),
            call_id: offer.call_id.clone(),
        };
        tokio::time::sleep(ms(500)).await;
        let quiet = caller.received().len();
        bob_desk
            .hold(with_token(hold.clone(), BOB))
            .await
            .expect("hold");
        next_event(&mut bob, secs(5), |e| matches!(e, AgentEv::Held(_))).await;
        tokio::time::sleep(ms(1500)).await;
        let on_hold = caller.received().len() - quiet;
        assert!(
            on_hold >= 40,
            "hold audio reaches the caller: {on_hold} packets in 1.5 s"
        );
        bob_desk
            .resume(with_token(
                ivr_proto::v1::ResumeRequest {
                    agent_id: hold.agent_id.clone(),
                    call_id: hold.call_id.clone(),
                },
                BOB,
            ))
            .await
            .expect("resume");
        tokio::time::sleep(ms(300)).await;
        let resumed = caller.received().len();
        tokio::time::sleep(ms(1000)).await;
        assert!(
            caller.received().len() - resumed <= 2,
            "off hold the caller hears the agent, who is silent"
        );

        // Bob hangs up: the caller is hung up on, Bob goes to wrap-up.
        let ended = match next_event(&mut bob, secs(15), |e| matches!(e, AgentEv::Ended(_))).await {
            AgentEv::Ended(e) => e,
            _ => unreachable!(),
        };
        assert_eq!(ended.hangup_side, "agent");
        assert_eq!(ended.hangup_cause, "agent_hangup");
        let run = sipp.wait();
        assert!(
            run.requests("BYE").next().is_some(),
            "the engine hangs the caller up: {}",
            run.diagnostics()
        );
    });
    let hangup = engine.wait_event("hangup", secs(5), |_| true);
    assert_eq!(hangup.str("by"), Some("agent"));
    let run = phone.wait();
    run.assert_success();
}

#[test]
fn an_agent_hands_the_caller_straight_to_a_colleague_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), "", "ring_timeout = \"10s\"\nwrap_up = \"60s\"");
    let grpc = engine.grpc.expect("the ready line names the gRPC address");
    let phones: Vec<(u16, ivr_tests::SippChild)> = (0..2)
        .map(|_| {
            let port = ports::free_sip_port("127.0.0.1");
            let phone = Sipp::new("agent_phone", engine.sip_udp)
                .local_port(port)
                .template("HOLD", "30000")
                .timeout(secs(40))
                .spawn();
            (port, phone)
        })
        .collect();
    let rt = super::runtime();
    rt.block_on(async {
        let (mut ann_desk, mut ann) = log_in(
            grpc,
            "ann",
            ANN,
            &format!("sip:ann@127.0.0.1:{}", phones[0].0),
        )
        .await;
        tokio::time::sleep(ms(50)).await;
        let (mut bob_desk, mut bob) = log_in(
            grpc,
            "bob",
            BOB,
            &format!("sip:bob@127.0.0.1:{}", phones[1].0),
        )
        .await;
        let (_caller, _rtp, sipp) = call_and_key(&engine, "4217", 30_000);
        let offer = next_offer(&mut ann, secs(20)).await;
        accept_until_connected(&mut ann_desk, &mut ann, "ann", ANN, &offer.offer_id).await;

        // Ann hands the caller to Bob by name, with a note.
        ann_desk
            .transfer(with_token(
                ivr_proto::v1::TransferRequest {
                    agent_id: "ann".into(),
                    call_id: offer.call_id.clone(),
                    target: Some(ivr_proto::v1::transfer_request::Target::ToAgentId(
                        "bob".into(),
                    )),
                    note: "wants a refund for order 77".into(),
                },
                ANN,
            ))
            .await
            .expect("transfer to bob");
        let AgentEv::Ended(ended) =
            next_event(&mut ann, secs(5), |e| matches!(e, AgentEv::Ended(_))).await
        else {
            unreachable!()
        };
        assert_eq!(ended.hangup_cause, "transferred");
        next_event(&mut ann, secs(5), |e| {
            matches!(e, AgentEv::WrapUpStarted(_))
        })
        .await;
        let to_bob = next_offer(&mut bob, secs(5)).await;
        assert_eq!(to_bob.call_id, offer.call_id);
        assert_eq!(
            to_bob.context.get("transfer_note").map(String::as_str),
            Some("wants a refund for order 77")
        );
        assert!(
            to_bob
                .slots
                .iter()
                .any(|s| s.name == "customer" && s.value == "4217"),
            "{to_bob:?}"
        );
        accept_until_connected(&mut bob_desk, &mut bob, "bob", BOB, &to_bob.offer_id).await;

        // A paused colleague cannot be handed a call.
        let busy = bob_desk
            .transfer(with_token(
                ivr_proto::v1::TransferRequest {
                    agent_id: "bob".into(),
                    call_id: offer.call_id.clone(),
                    target: Some(ivr_proto::v1::transfer_request::Target::ToAgentId(
                        "ann".into(),
                    )),
                    note: String::new(),
                },
                BOB,
            ))
            .await
            .expect_err("ann is wrapping up");
        assert_eq!(busy.code(), Code::FailedPrecondition, "{busy:?}");
        assert!(busy.message().contains("not available"), "{busy:?}");
        drop(sipp);
    });
    let moved = engine.wait_event("transferred", secs(5), |_| true);
    assert_eq!(moved.str("to_agent"), Some("bob"), "{moved}");
    for (_, phone) in phones {
        drop(phone);
    }
}

#[test]
fn a_caller_nobody_answers_hears_their_place_then_leaves_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        dir.path(),
        "",
        "announce_interval = \"2s\"\nmax_wait = \"5s\"\nfallback = \"voicemail\"",
    );
    let (mut caller, engine_rtp, sipp) = call_and_key(&engine, "4217", 30_000);
    let position = engine.wait_event("queue_position", secs(15), |_| true);
    assert_eq!(position.u64("position"), Some(1));
    // Staffed by nobody: no estimate.
    assert!(position
        .0
        .get("estimated_wait_s")
        .is_some_and(|v| v.is_null()));
    let fallback = engine.wait_event("queue_fallback", secs(10), |_| true);
    assert_eq!(fallback.str("reason"), Some("max_wait"));
    // The apology plays, then the message is recorded; '#' ends it.
    caller.wait_quiet(ms(700), secs(15));
    let scratch = tempfile::tempdir().unwrap();
    let message = audio::speech_in("please call me back", "en-us", 150, scratch.path());
    caller.send_audio(engine_rtp, G711::Pcmu, &message);
    caller.send_event(engine_rtp, 101, ivr_tests::rtp::event_code('#'), 5);
    let vm = engine.wait_event("voicemail", secs(10), |_| true);
    assert!(vm.f64("seconds").is_some_and(|s| s >= 1.0), "{:?}", vm.0);
    let run = sipp.wait();
    assert!(
        run.requests("BYE").next().is_some(),
        "{}",
        run.diagnostics()
    );
    let left = engine.events_named("queue_left");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].str("outcome"), Some("fallback_max_wait"));
}

#[test]
fn the_example_agent_client_takes_a_call_and_wraps_it_up() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), "", "ring_timeout = \"10s\"");
    let grpc = engine.grpc.expect("the ready line names the gRPC address");
    let phone_port = ports::free_sip_port("127.0.0.1");
    let phone = Sipp::new("agent_phone", engine.sip_udp)
        .local_port(phone_port)
        .template("HOLD", "30000")
        .timeout(secs(40))
        .spawn();
    let client = std::process::Command::new(ivr_tests::binary().with_file_name("agent-client"))
        .args([
            "--grpc",
            &format!("http://{grpc}"),
            "--token",
            ANN,
            "--agent",
            "ann",
        ])
        .args(["--contact", &format!("sip:ann@127.0.0.1:{phone_port}")])
        .args([
            "--queue",
            "support",
            "--calls",
            "1",
            "--disposition",
            "sale",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the example agent client (cargo build -p ivr-agent-client)");
    let (_caller, _rtp, sipp) = call_and_key(&engine, "4217", 6_000);
    drop(sipp.wait());
    let out = client.wait_with_output().expect("the client ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "logged in as ann",
        "offer ",
        "  slot: customer = 4217",
        "  caller: 4217",
        "connected ",
        "ended ",
        "wrapped up ",
        "logged out after 1 call(s)",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
    drop(phone.wait());
}

#[test]
fn every_call_is_scored_for_quality_as_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("qa.yaml");
    std::fs::write(
        &rules,
        r#"
rules:
  - id: closing
    kind: required_phrase
    phrases: ["anything else", "goodbye"]
    within: { last_turns: 2 }
  - id: dismissive
    kind: forbidden_phrase
    phrases: ["calm down"]
    speaker: engine
    severity: critical
"#,
    )
    .unwrap();
    let plans = tempfile::tempdir().unwrap();
    std::fs::write(plans.path().join("help-desk.yaml"), PLAN).unwrap();
    let traces = dir.path().join("traces.jsonl");
    let engine = Engine::start(EngineOptions {
        plans: Some(plans.path().to_path_buf()),
        extra_toml: format!(
            "[qa]\nrules = \"{}\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\ntraces = \"{}\"\n",
            rules.display(),
            traces.display()
        ),
        ..EngineOptions::default()
    });
    let (_caller, _rtp, sipp) = call_and_key(&engine, "42", 2_000);
    drop(sipp.wait());
    let qa = engine.wait_event("qa_findings", secs(10), |_| true);
    let findings = qa.0["findings"].as_array().expect("findings").clone();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["rule"], "closing");
    assert!(qa.u64("score").is_some_and(|s| s < 100), "{:?}", qa.0);

    // The Prometheus endpoint counts the call and its finding.
    let addr = engine
        .metrics
        .expect("the ready line names the metrics address");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: ivr\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    for line in [
        "ivr_calls_started_total{direction=\"inbound\"} 1",
        "ivr_calls_active 0",
        "ivr_calls_ended_total 1",
        "ivr_qa_findings_total 1",
        "ivr_rtp_loss_ratio_count 1",
    ] {
        assert!(text.contains(line), "`{line}` missing:\n{text}");
    }
    let sentences = text
        .lines()
        .find_map(|l| l.strip_prefix("ivr_tts_latency_seconds_count "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(
        sentences.is_some_and(|n| n >= 1),
        "the prompts' synthesis is timed:\n{text}"
    );

    // The call's span, with its events, is in the OTLP/JSON traces file.
    let spans = std::fs::read_to_string(&traces).unwrap_or_default();
    let call = spans
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone())
        .find(|s| s["name"] == "call")
        .unwrap_or_else(|| panic!("no call span in {}:\n{spans}", traces.display()));
    assert_eq!(call["traceId"].as_str().map(str::len), Some(32), "{call}");
    let events = call["events"].to_string();
    assert!(
        events.contains("\"digit\"") && events.contains("\"hangup\""),
        "{call}"
    );
}
