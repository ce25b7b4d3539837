//! The call center under load and with skills, end to end over SIP: real SIPp callers queue,
//! real SIPp agent phones answer, and agents logged in over gRPC (real tonic clients) accept
//! every offer and complete every wrap-up.
//!
//! * Twenty callers arriving one after another share five agents of a `longest_idle` queue:
//!   everyone is answered, the agents take turns (four calls each), and callers are offered in
//!   the order they arrived.
//! * A `skills_based` queue sends a call needing `zh` to the agent who speaks it, not to the
//!   agent idle longest; between two who speak it, the higher level wins.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::agent_event::Event as AgentEv;
use ivr_proto::v1::agent_service_client::AgentServiceClient;
use ivr_proto::v1::{
    AcceptRequest, AgentEvent, AgentState, CallRecord, CompleteWrapUpRequest, EventsRequest,
    LoginRequest, QueryCallsRequest, SetStateRequest, Skill,
};
use ivr_tests::{ports, Engine, EngineOptions, Offer, RtpPeer, Sipp, SippChild};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Streaming};

use super::{ms, runtime, secs};

const ADMIN: &str = "admin-token-0123456789";

/// The token of agent `name` (each agent acts only as itself).
fn token(name: &str) -> String {
    format!("{name}-token-0123456789")
}

fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

/// An engine whose only plan queues every caller in `support` (needing `skills`), with the
/// queue settings `queue` and an agent token for each of `agents`.
fn engine(dir: &std::path::Path, skills: &[&str], queue: &str, agents: &[&str]) -> Engine {
    let skills = skills.join(", ");
    std::fs::write(
        dir.join("line.yaml"),
        format!(
            r#"
version: 1
name: line
language: en-US
start: handover
nodes:
  handover:
    enqueue: {{ queue: support, skills: [{skills}] }}
"#
        ),
    )
    .unwrap();
    let tokens: String = agents
        .iter()
        .map(|a| {
            format!(
                "  {{ token = \"{}\", principal = \"{a}\", role = \"agent\" }},\n",
                token(a)
            )
        })
        .collect();
    Engine::start(EngineOptions {
        plans: Some(dir.to_path_buf()),
        // The engine's RTP block holds 20 port pairs, shared by callers and agent legs.
        max_calls: 16,
        extra_toml: format!(
            r#"
[api]
listen = "127.0.0.1:0"
tokens = [
  {{ token = "{ADMIN}", principal = "root", role = "admin" }},
{tokens}]

[acd]

[[acd.queues]]
name = "support"
{queue}
"#
        ),
        ..EngineOptions::default()
    })
}

/// Caller `n` (calling number `+155500000NN`, its own RTP socket) who waits for the engine to
/// hang up (up to a minute).
fn call(engine: &Engine, n: usize) -> (RtpPeer, SippChild) {
    let caller = RtpPeer::bind();
    let sipp = Sipp::new("load_caller", engine.sip_udp)
        .offer(&Offer::new(caller.port()))
        .key("caller", &format!("+155500000{n:02}"))
        .template("HOLD", "60000")
        .timeout(secs(75))
        .spawn();
    (caller, sipp)
}

/// Caller `n`'s index from its calling number.
fn caller_index(number: &str) -> Option<usize> {
    number.strip_prefix("+155500000")?.parse().ok()
}

/// An agent's phone on its own port: answers every call, talks `talk_ms` and hangs up.
fn phone(engine: &Engine, talk_ms: u64, calls: u32) -> (u16, SippChild) {
    let port = ports::free_sip_port("127.0.0.1");
    let phone = Sipp::new("agent_hangs_up", engine.sip_udp)
        .local_port(port)
        .template("TALK", &talk_ms.to_string())
        .calls(calls)
        .timeout(secs(90))
        .spawn();
    (port, phone)
}

/// Logs `agent` in with its phone at `contact` and `skills`, and makes it available.
async fn log_in(
    grpc: std::net::SocketAddr,
    agent: &str,
    contact: &str,
    skills: &[(&str, u32)],
) -> (AgentServiceClient<Channel>, Streaming<AgentEvent>) {
    let token = token(agent);
    let mut desk = AgentServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    desk.login(with_token(
        LoginRequest {
            agent_id: agent.into(),
            sip_contact: contact.into(),
            queues: vec!["support".into()],
            skills: skills
                .iter()
                .map(|(name, level)| Skill {
                    name: (*name).into(),
                    level: *level,
                })
                .collect(),
            display_name: agent.to_uppercase(),
        },
        &token,
    ))
    .await
    .expect("log in");
    let events = desk
        .events(with_token(
            EventsRequest {
                agent_id: agent.into(),
            },
            &token,
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
        &token,
    ))
    .await
    .expect("become available");
    (desk, events)
}

/// An agent desktop that accepts every offer and completes every wrap-up at once, until its
/// stream ends; every offer it saw goes to `offers` as (agent, call id).
async fn work(
    agent: String,
    mut desk: AgentServiceClient<Channel>,
    mut events: Streaming<AgentEvent>,
    offers: Arc<Mutex<Vec<(String, String)>>>,
) {
    let token = token(&agent);
    while let Ok(Some(msg)) = events.message().await {
        match msg.event {
            Some(AgentEv::Offer(o)) => {
                offers.lock().unwrap().push((agent.clone(), o.call_id));
                let accepted = desk
                    .accept(with_token(
                        AcceptRequest {
                            agent_id: agent.clone(),
                            offer_id: o.offer_id,
                        },
                        &token,
                    ))
                    .await;
                if let Err(e) = accepted {
                    eprintln!("{agent}: accept failed: {e}");
                }
            }
            Some(AgentEv::WrapUpStarted(w)) => {
                let done = desk
                    .complete_wrap_up(with_token(
                        CompleteWrapUpRequest {
                            agent_id: agent.clone(),
                            call_id: w.call_id,
                            disposition: "resolved".into(),
                            notes: String::new(),
                        },
                        &token,
                    ))
                    .await;
                if let Err(e) = done {
                    eprintln!("{agent}: wrap-up failed: {e}");
                }
            }
            _ => {}
        }
    }
}

/// Every call record of the `support` queue, once `count` of them exist (30 s at most).
async fn records(grpc: std::net::SocketAddr, count: usize) -> Vec<CallRecord> {
    let mut admin = AdminServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    let deadline = Instant::now() + secs(30);
    loop {
        let page = admin
            .query_calls(with_token(
                QueryCallsRequest {
                    queue: "support".into(),
                    page_size: 1000,
                    ..QueryCallsRequest::default()
                },
                ADMIN,
            ))
            .await
            .expect("query calls")
            .into_inner();
        // A record is complete once its wrap-up is in.
        if page
            .calls
            .iter()
            .filter(|c| !c.disposition.is_empty())
            .count()
            >= count
            || Instant::now() >= deadline
        {
            return page.calls;
        }
        tokio::time::sleep(ms(200)).await;
    }
}

#[test]
fn twenty_callers_share_five_agents_in_turn_and_are_offered_in_arrival_order() {
    const CALLERS: usize = 20;
    const AGENTS: [&str; 5] = ["a1", "a2", "a3", "a4", "a5"];
    // At most this many callers in the engine at once: with the five agent legs that stays
    // within the engine's 20 RTP port pairs, and under `max_calls`.
    const IN_FLIGHT: usize = 12;

    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        dir.path(),
        &[],
        "strategy = \"longest_idle\"\nring_timeout = \"15s\"\nwrap_up = \"5s\"\nmax_wait = \"2m\"",
        &AGENTS,
    );
    let grpc = engine.grpc.expect("the ready line names the gRPC address");
    // Every agent talks 3 s and hangs up: equal handling times.
    let phones: Vec<(u16, SippChild)> = AGENTS
        .iter()
        .map(|_| phone(&engine, 3_000, CALLERS as u32))
        .collect();

    let rt = runtime();
    let offers = Arc::new(Mutex::new(Vec::new()));
    for (agent, (port, _)) in AGENTS.iter().zip(&phones) {
        let contact = format!("sip:{agent}@127.0.0.1:{port}");
        let (desk, events) = rt.block_on(log_in(grpc, agent, &contact, &[]));
        rt.spawn(work(agent.to_string(), desk, events, offers.clone()));
        // Distinct idle-since instants: a1 has been idle longest, a5 least.
        std::thread::sleep(ms(50));
    }

    // The callers arrive 400 ms apart (later when twelve are already in).
    let started = Instant::now();
    let mut callers = Vec::new();
    for n in 0..CALLERS {
        let gate = Instant::now() + secs(60);
        while n.saturating_sub(engine.events_named("ended").len()) >= IN_FLIGHT {
            assert!(
                Instant::now() < gate,
                "calls stopped ending:\n{}",
                engine.events_text()
            );
            std::thread::sleep(ms(50));
        }
        callers.push(call(&engine, n));
        std::thread::sleep(ms(400));
    }
    for (n, (_rtp, sipp)) in callers.into_iter().enumerate() {
        let run = sipp.wait();
        assert!(
            run.requests("BYE").next().is_some(),
            "caller {n} was hung up on by the engine once its agent hung up: {}",
            run.diagnostics()
        );
        run.assert_success();
    }
    eprintln!("{CALLERS} callers served in {:?}", started.elapsed());

    // Every caller reached an agent: one record each, transferred, naming the agent.
    let records = rt.block_on(records(grpc, CALLERS));
    assert_eq!(records.len(), CALLERS, "{records:#?}");
    let mut per_agent: BTreeMap<&str, usize> = AGENTS.iter().map(|a| (*a, 0)).collect();
    let mut number_of: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        assert!(
            r.transferred && !r.contained,
            "{} was not handed to an agent: {r:?}",
            r.call_id
        );
        assert_eq!(r.disposition, "resolved", "{r:?}");
        assert_eq!(r.hangup_side, "agent", "{r:?}");
        *per_agent
            .get_mut(r.agent_id.as_str())
            .unwrap_or_else(|| panic!("a record names no known agent: {r:?}")) += 1;
        let n = caller_index(&r.from_number)
            .unwrap_or_else(|| panic!("unexpected calling number: {r:?}"));
        number_of.insert(&r.call_id, n);
    }
    assert_eq!(number_of.len(), CALLERS, "one record per caller");

    // Longest idle with equal handling times: the agents take turns, so none starves. With
    // 20 calls and 5 agents "max - min <= 1" means exactly four each. It holds unless one
    // agent's four cycles (ring, 3 s of talk, wrap-up) take a whole cycle longer than another
    // agent's five, i.e. ~3 s of stalls in one agent's phone or desktop alone.
    assert!(
        per_agent.values().all(|&n| n == CALLERS / AGENTS.len()),
        "calls per agent: {per_agent:?}"
    );

    // Arrival: the order callers reached the queue (the `enqueued` events; SIPp processes
    // starting 400 ms apart almost always keep their launch order, but that is not asserted).
    // The router's decisions, in the order it took them (the event log is written by the one
    // center task): the first offer of each call follows the arrival order.
    let mut arrived: Vec<usize> = Vec::new();
    for e in engine.events_named("enqueued") {
        let n = number_of[e.call_id()];
        if !arrived.contains(&n) {
            arrived.push(n);
        }
    }
    assert_eq!(arrived.len(), CALLERS, "every caller was queued");
    let mut offered: Vec<(usize, String)> = Vec::new();
    for e in engine.events_named("offered") {
        let n = number_of[e.call_id()];
        if !offered.iter().any(|(m, _)| *m == n) {
            offered.push((n, e.str("agent").unwrap_or("").to_string()));
        }
    }
    let order: Vec<usize> = offered.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        order, arrived,
        "callers are offered first come, first served"
    );
    if arrived != (0..CALLERS).collect::<Vec<_>>() {
        eprintln!("note: callers reached the queue out of launch order: {arrived:?}");
    }
    // Nobody was offered twice: every offer was taken.
    assert_eq!(engine.events_named("offered").len(), CALLERS);
    // The first five callers, arriving to five idle agents, go to the agent idle longest.
    let first: Vec<&str> = offered[..AGENTS.len()]
        .iter()
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(first, AGENTS, "longest idle first");
    // The desktops saw the same offers.
    assert_eq!(offers.lock().unwrap().len(), CALLERS);

    rt.shutdown_background();
    for (_, phone) in phones {
        phone.kill();
    }
}

/// One caller needing `zh` against agents logged in (in this order, so the first is idle
/// longest) with the given skills; returns who was offered the call and who took it.
fn route_one_zh_caller(agents: &[(&str, &[(&str, u32)])]) -> (Vec<String>, CallRecord) {
    let names: Vec<&str> = agents.iter().map(|(a, _)| *a).collect();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(
        dir.path(),
        &["zh"],
        "strategy = \"skills_based\"\nring_timeout = \"15s\"\nwrap_up = \"5s\"",
        &names,
    );
    let grpc = engine.grpc.expect("the ready line names the gRPC address");
    let phones: Vec<(u16, SippChild)> = agents.iter().map(|_| phone(&engine, 1_000, 1)).collect();
    let rt = runtime();
    let offers = Arc::new(Mutex::new(Vec::new()));
    for ((agent, skills), (port, _)) in agents.iter().zip(&phones) {
        let contact = format!("sip:{agent}@127.0.0.1:{port}");
        let (desk, events) = rt.block_on(log_in(grpc, agent, &contact, skills));
        rt.spawn(work(agent.to_string(), desk, events, offers.clone()));
        std::thread::sleep(ms(50));
    }
    let (_rtp, sipp) = call(&engine, 0);
    sipp.wait().assert_success();
    let mut records = rt.block_on(records(grpc, 1));
    assert_eq!(records.len(), 1, "{records:?}");
    let offered = engine
        .events_named("offered")
        .iter()
        .map(|e| e.str("agent").unwrap_or("").to_string())
        .collect();
    rt.shutdown_background();
    for (_, phone) in phones {
        phone.kill();
    }
    (offered, records.remove(0))
}

#[test]
fn a_call_needing_chinese_goes_to_the_agent_who_speaks_it_not_to_the_one_idle_longest() {
    let (offered, record) = route_one_zh_caller(&[("ann", &[("en", 9)]), ("bob", &[("zh", 5)])]);
    assert_eq!(offered, ["bob"], "only bob was offered the call");
    assert_eq!(record.agent_id, "bob", "{record:?}");
    assert!(record.transferred, "{record:?}");
    assert_eq!(record.disposition, "resolved");
}

#[test]
fn between_two_agents_with_the_skill_the_higher_level_wins_over_idle_time() {
    let (offered, record) = route_one_zh_caller(&[
        ("ann", &[("en", 9)]),
        ("carol", &[("zh", 3), ("en", 5)]),
        ("dave", &[("zh", 8)]),
    ]);
    assert_eq!(offered, ["dave"], "only dave (zh 8) was offered the call");
    assert_eq!(record.agent_id, "dave", "{record:?}");
    assert!(record.transferred, "{record:?}");
}
