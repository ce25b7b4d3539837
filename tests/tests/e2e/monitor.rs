//! A supervisor monitoring a bridged call end to end: a queued caller reaches an agent; the
//! supervisor's phone is rung over gRPC (`Monitor`) and hears both sides; switching to whisper
//! lets the agent hear the supervisor, barge lets the caller hear them too; `StopMonitor`
//! hangs the supervisor's phone up. Each party is a test-owned RTP socket sending a tone of its
//! own frequency (no phone echoes), and what each hears is measured with the Goertzel
//! algorithm at the three frequencies.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::supervisor_service_client::SupervisorServiceClient;
use ivr_proto::v1::{HangupRequest, MonitorMode, MonitorRequest, StopMonitorRequest};
use ivr_tests::codec::{self, G711};
use ivr_tests::{ports, Engine, Offer, RtpPeer, Sipp, SippChild};
use tonic::transport::Channel;
use tonic::Code;

use super::center::{
    accept_until_connected, log_in, next_offer, with_token, ADMIN, ANN, SUPERVISOR,
};
use super::{ms, secs};

const CALLER_HZ: f64 = 600.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 1500.0;
/// Each party talks this long per step.
const TALK_MS: u64 = 2400;
/// A tone is heard when its amplitude is above this (each is sent at about 8000)...
const HEARD: f64 = 2000.0;
/// ...and not heard below this.
const NOT_HEARD: f64 = 600.0;

/// An engine running the help-desk plan with the `support` queue.
fn engine(dir: &std::path::Path) -> Engine {
    super::center::engine(dir, "", "ring_timeout = \"10s\"\nwrap_up = \"60s\"")
}

/// A phone (SIPp) on `port` that answers with `offer` (the test's RTP socket) and waits for BYE.
fn phone(engine: &Engine, port: u16, offer: &Offer) -> SippChild {
    Sipp::new("agent_phone_media", engine.sip_udp)
        .local_port(port)
        .offer(offer)
        .template("HOLD", "60000")
        .timeout(secs(90))
        .spawn()
}

/// A sine of `hz` at a quarter of full scale lasting `ms`, made by sox (8 kHz, 16-bit).
fn tone(hz: f64, ms: u64) -> Vec<i16> {
    let secs = format!("{:.3}", ms as f64 / 1000.0);
    let out = Command::new("sox")
        .args([
            "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-",
        ])
        .args(["synth", &secs, "sine", &hz.to_string(), "vol", "0.25"])
        .stdin(Stdio::null())
        .output()
        .expect("run sox (scripts/setup.sh installs it)");
    assert!(out.status.success(), "sox failed: {out:?}");
    out.stdout
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// The amplitude of the `hz` component of `x` (Goertzel): about the sine's peak when present.
fn level(x: &[i16], hz: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

/// One party of the call: its RTP socket, where the engine expects its media (learnt from the
/// engine's first packet when not known), its tone and codec.
struct Party {
    name: &'static str,
    peer: RtpPeer,
    engine: Option<SocketAddr>,
    tone: Vec<i16>,
    codec: G711,
}

/// What each party heard during one step: the levels of the three tones.
#[derive(Debug)]
struct Heard {
    caller: f64,
    agent: f64,
    supervisor: f64,
}

impl Party {
    /// What this party received between `from` and `to`, decoded.
    fn heard(&self, from: Instant, to: Instant) -> Heard {
        let pcm: Vec<i16> = self
            .peer
            .received()
            .into_iter()
            .filter(|r| r.at >= from && r.at <= to)
            .filter_map(|r| r.packet)
            .filter_map(|p| match p.pt {
                0 => Some(codec::decode(G711::Pcmu, &p.payload)),
                8 => Some(codec::decode(G711::Pcma, &p.payload)),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(
            pcm.len() >= 4000,
            "{} received only {} samples in {:?}",
            self.name,
            pcm.len(),
            to - from
        );
        Heard {
            caller: level(&pcm, CALLER_HZ),
            agent: level(&pcm, AGENT_HZ),
            supervisor: level(&pcm, SUPERVISOR_HZ),
        }
    }
}

/// Every party sends its tone at once (a thread each, paced in real time); returns the window
/// to measure in (the first 600 ms left out while the mix settles).
fn talk(parties: &mut [&mut Party]) -> (Instant, Instant) {
    let start = Instant::now();
    std::thread::scope(|s| {
        for p in parties.iter_mut() {
            s.spawn(move || {
                let to = match p.engine {
                    Some(a) => a,
                    None => {
                        let a = p.peer.engine_addr(secs(10));
                        p.engine = Some(a);
                        a
                    }
                };
                p.peer.send_audio(to, p.codec, &p.tone);
            });
        }
    });
    (start + ms(600), start + ms(TALK_MS))
}

async fn monitor(
    sup: &mut SupervisorServiceClient<Channel>,
    call_id: &str,
    mode: MonitorMode,
    contact: &str,
    token: &str,
) -> Result<ivr_proto::v1::MonitorResponse, tonic::Status> {
    sup.monitor(with_token(
        MonitorRequest {
            supervisor_id: "sue".into(),
            call_id: call_id.into(),
            mode: mode as i32,
            sip_contact: contact.into(),
        },
        token,
    ))
    .await
    .map(tonic::Response::into_inner)
}

/// A caller (SIPp signalling, the test's socket sending the caller's tone) who keys their
/// customer number and waits in the queue.
fn queued_caller(engine: &Engine) -> (Party, SippChild) {
    let mut caller = Party {
        name: "caller",
        peer: RtpPeer::bind(),
        engine: None,
        tone: tone(CALLER_HZ, TALK_MS),
        codec: G711::Pcmu,
    };
    let sipp = Sipp::new("call_talk", engine.sip_udp)
        .offer(&Offer::new(caller.peer.port()))
        .template("HOLD", "60000")
        .timeout(secs(90))
        .spawn();
    let engine_rtp = caller.peer.engine_addr(secs(10));
    caller.engine = Some(engine_rtp);
    for d in "4217".chars() {
        caller
            .peer
            .send_event(engine_rtp, 101, ivr_tests::rtp::event_code(d), 5);
        std::thread::sleep(ms(120));
    }
    (caller, sipp)
}

/// Asks the engine to hang up `call_id`.
async fn hang_up(grpc: SocketAddr, call_id: &str) {
    AdminServiceClient::connect(format!("http://{grpc}"))
        .await
        .unwrap()
        .hangup(with_token(
            HangupRequest {
                call_id: call_id.to_string(),
                reason: String::new(),
                actor: String::new(),
            },
            ADMIN,
        ))
        .await
        .expect("hang up");
}

#[test]
fn a_supervisor_listens_then_whispers_to_the_agent_then_barges_in_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let grpc = engine.grpc.expect("the ready line names the gRPC address");

    // The agent's phone (PCMA) and the supervisor's (PCMU): SIPp signals, the test's sockets
    // carry the media.
    let mut agent = Party {
        name: "agent",
        peer: RtpPeer::bind(),
        engine: None,
        tone: tone(AGENT_HZ, TALK_MS),
        codec: G711::Pcma,
    };
    let agent_port = ports::free_sip_port("127.0.0.1");
    let agent_phone = phone(
        &engine,
        agent_port,
        &Offer::new(agent.peer.port()).codecs(&[(8, "PCMA/8000")]),
    );
    let mut supervisor = Party {
        name: "supervisor",
        peer: RtpPeer::bind(),
        engine: None,
        tone: tone(SUPERVISOR_HZ, TALK_MS),
        codec: G711::Pcmu,
    };
    let super_port = ports::free_sip_port("127.0.0.1");
    let super_phone = phone(
        &engine,
        super_port,
        &Offer::new(supervisor.peer.port()).codecs(&[(0, "PCMU/8000")]),
    );
    let super_contact = format!("sip:sue@127.0.0.1:{super_port}");

    let rt = super::runtime();
    let call_id = rt.block_on(async {
        let (mut desk, mut events) =
            log_in(grpc, "ann", ANN, &format!("sip:ann@127.0.0.1:{agent_port}")).await;
        let mut sup = SupervisorServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();

        let (mut caller, caller_sipp) = queued_caller(&engine);
        let offer = next_offer(&mut events, secs(20)).await;
        let call_id = offer.call_id.clone();

        // Refusals: not bridged yet, unknown call, no mode, a contact by name, an agent's token.
        let refused = |r: Result<_, tonic::Status>| r.map(|_| ()).unwrap_err();
        let e = refused(
            monitor(
                &mut sup,
                &call_id,
                MonitorMode::Listen,
                &super_contact,
                SUPERVISOR,
            )
            .await,
        );
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        let e = refused(
            monitor(
                &mut sup,
                "no-such-call",
                MonitorMode::Listen,
                &super_contact,
                SUPERVISOR,
            )
            .await,
        );
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        let e = refused(
            monitor(
                &mut sup,
                &call_id,
                MonitorMode::Unspecified,
                &super_contact,
                SUPERVISOR,
            )
            .await,
        );
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let e = refused(
            monitor(
                &mut sup,
                &call_id,
                MonitorMode::Listen,
                "sip:sue@phones.example.com",
                SUPERVISOR,
            )
            .await,
        );
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let e =
            refused(monitor(&mut sup, &call_id, MonitorMode::Listen, &super_contact, ANN).await);
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

        accept_until_connected(&mut desk, &mut events, "ann", ANN, &offer.offer_id).await;

        // Bridged, nobody monitoring: caller and agent hear each other.
        let (from, to) = talk(&mut [&mut caller, &mut agent]);
        let c = caller.heard(from, to);
        let a = agent.heard(from, to);
        assert!(
            c.agent > HEARD && a.caller > HEARD,
            "bridged: caller {c:?}, agent {a:?}"
        );
        assert!(
            a.agent < NOT_HEARD && c.caller < NOT_HEARD,
            "nobody hears themself: caller {c:?}, agent {a:?}"
        );

        // Listen: the supervisor hears both; nobody hears the supervisor.
        let listen = monitor(
            &mut sup,
            &call_id,
            MonitorMode::Listen,
            &super_contact,
            SUPERVISOR,
        )
        .await
        .expect("monitor the call");
        assert!(listen.monitor_id.starts_with("mon-"), "{listen:?}");
        assert_eq!(listen.mode, MonitorMode::Listen as i32);
        let started = engine.wait_event("monitor_started", secs(10), |e| e.call_id() == call_id);
        assert_eq!(started.str("supervisor"), Some("sue"));
        assert_eq!(started.str("mode"), Some("listen"));
        assert_eq!(started.str("monitor_id"), Some(listen.monitor_id.as_str()));
        let (from, to) = talk(&mut [&mut caller, &mut agent, &mut supervisor]);
        let (c, a, s) = (
            caller.heard(from, to),
            agent.heard(from, to),
            supervisor.heard(from, to),
        );
        assert!(
            s.caller > HEARD && s.agent > HEARD,
            "listen: the supervisor hears both: {s:?}"
        );
        assert!(
            s.supervisor < NOT_HEARD,
            "listen: the supervisor does not hear themself: {s:?}"
        );
        assert!(
            c.supervisor < NOT_HEARD,
            "listen: the caller does not hear the supervisor: {c:?}"
        );
        assert!(
            a.supervisor < NOT_HEARD,
            "listen: the agent does not hear the supervisor: {a:?}"
        );
        assert!(
            c.agent > HEARD && a.caller > HEARD,
            "listen: caller {c:?}, agent {a:?}"
        );

        // Whisper (same session, no new INVITE): the agent hears the supervisor, the caller not.
        let whisper = monitor(
            &mut sup,
            &call_id,
            MonitorMode::Whisper,
            &super_contact,
            SUPERVISOR,
        )
        .await
        .expect("switch to whisper");
        assert_eq!(whisper.monitor_id, listen.monitor_id);
        assert_eq!(whisper.mode, MonitorMode::Whisper as i32);
        let (from, to) = talk(&mut [&mut caller, &mut agent, &mut supervisor]);
        let (c, a, s) = (
            caller.heard(from, to),
            agent.heard(from, to),
            supervisor.heard(from, to),
        );
        assert!(
            a.supervisor > HEARD && a.caller > HEARD,
            "whisper: the agent hears caller and supervisor: {a:?}"
        );
        assert!(
            c.supervisor < NOT_HEARD && c.agent > HEARD,
            "whisper: the caller hears only the agent: {c:?}"
        );
        assert!(
            s.caller > HEARD && s.agent > HEARD,
            "whisper: the supervisor hears both: {s:?}"
        );

        // Barge: everyone hears everyone else.
        let barge = monitor(
            &mut sup,
            &call_id,
            MonitorMode::Barge,
            &super_contact,
            SUPERVISOR,
        )
        .await
        .expect("barge in");
        assert_eq!(barge.monitor_id, listen.monitor_id);
        let (from, to) = talk(&mut [&mut caller, &mut agent, &mut supervisor]);
        let (c, a, s) = (
            caller.heard(from, to),
            agent.heard(from, to),
            supervisor.heard(from, to),
        );
        assert!(
            c.agent > HEARD && c.supervisor > HEARD && c.caller < NOT_HEARD,
            "barge: caller {c:?}"
        );
        assert!(
            a.caller > HEARD && a.supervisor > HEARD && a.agent < NOT_HEARD,
            "barge: agent {a:?}"
        );
        assert!(
            s.caller > HEARD && s.agent > HEARD && s.supervisor < NOT_HEARD,
            "barge: supervisor {s:?}"
        );
        let modes: Vec<String> = engine
            .wait_events("monitor_mode", 2, secs(5))
            .iter()
            .filter_map(|e| e.str("mode").map(str::to_string))
            .collect();
        assert_eq!(modes, ["whisper", "barge"]);

        // Stop: the supervisor's phone gets a BYE; an unknown session is not found.
        sup.stop_monitor(with_token(
            StopMonitorRequest {
                supervisor_id: "sue".into(),
                monitor_id: listen.monitor_id.clone(),
            },
            SUPERVISOR,
        ))
        .await
        .expect("stop monitoring");
        let stopped = engine.wait_event("monitor_stopped", secs(10), |e| e.call_id() == call_id);
        assert_eq!(stopped.str("reason"), Some("stopped"));
        assert_eq!(stopped.str("supervisor"), Some("sue"));
        let e = sup
            .stop_monitor(with_token(
                StopMonitorRequest {
                    supervisor_id: "sue".into(),
                    monitor_id: listen.monitor_id.clone(),
                },
                SUPERVISOR,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e:?}");

        // Caller and agent still talk after the supervisor left.
        let (from, to) = talk(&mut [&mut caller, &mut agent]);
        let (c, a) = (caller.heard(from, to), agent.heard(from, to));
        assert!(
            c.agent > HEARD && c.supervisor < NOT_HEARD,
            "after stop: caller {c:?}"
        );
        assert!(a.caller > HEARD, "after stop: agent {a:?}");

        // The administrator ends the call.
        hang_up(grpc, &call_id).await;
        drop(caller_sipp.wait());
        call_id
    });

    let run = super_phone.wait();
    run.assert_success();
    let invites: Vec<_> = run.requests("INVITE").collect();
    assert_eq!(invites.len(), 1, "switching modes does not ring again");
    assert_eq!(invites[0].header("X-Call-Id"), Some(call_id.as_str()));
    assert!(
        run.requests("BYE").next().is_some(),
        "{}",
        run.diagnostics()
    );
    let run = agent_phone.wait();
    assert!(
        run.requests("BYE").next().is_some(),
        "{}",
        run.diagnostics()
    );
}

#[test]
fn a_supervisor_who_hangs_up_leaves_the_call_talking_and_the_end_of_the_call_hangs_up_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let grpc = engine.grpc.expect("the ready line names the gRPC address");
    let mut agent = Party {
        name: "agent",
        peer: RtpPeer::bind(),
        engine: None,
        tone: tone(AGENT_HZ, TALK_MS),
        codec: G711::Pcmu,
    };
    let agent_port = ports::free_sip_port("127.0.0.1");
    let agent_phone = phone(&engine, agent_port, &Offer::new(agent.peer.port()));
    // The first supervisor answers and hangs up after a second and a half.
    let quitter_port = ports::free_sip_port("127.0.0.1");
    let quitter = Sipp::new("agent_hangs_up", engine.sip_udp)
        .local_port(quitter_port)
        .template("TALK", "1500")
        .timeout(secs(60))
        .spawn();
    // The second stays until the call ends.
    let mut supervisor = Party {
        name: "supervisor",
        peer: RtpPeer::bind(),
        engine: None,
        tone: tone(SUPERVISOR_HZ, TALK_MS),
        codec: G711::Pcmu,
    };
    let super_port = ports::free_sip_port("127.0.0.1");
    let super_phone = phone(&engine, super_port, &Offer::new(supervisor.peer.port()));

    let rt = super::runtime();
    let call_id = rt.block_on(async {
        let (mut desk, mut events) =
            log_in(grpc, "ann", ANN, &format!("sip:ann@127.0.0.1:{agent_port}")).await;
        let mut sup = SupervisorServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        let (mut caller, caller_sipp) = queued_caller(&engine);
        let offer = next_offer(&mut events, secs(20)).await;
        let call_id = offer.call_id.clone();
        accept_until_connected(&mut desk, &mut events, "ann", ANN, &offer.offer_id).await;

        let first = monitor(
            &mut sup,
            &call_id,
            MonitorMode::Listen,
            &format!("sip:sue@127.0.0.1:{quitter_port}"),
            SUPERVISOR,
        )
        .await
        .expect("monitor the call");
        let stopped = engine.wait_event("monitor_stopped", secs(10), |e| e.call_id() == call_id);
        assert_eq!(stopped.str("reason"), Some("supervisor_hangup"));
        assert_eq!(stopped.str("monitor_id"), Some(first.monitor_id.as_str()));

        // Caller and agent still hear each other.
        let (from, to) = talk(&mut [&mut caller, &mut agent]);
        let (c, a) = (caller.heard(from, to), agent.heard(from, to));
        assert!(
            c.agent > HEARD && a.caller > HEARD,
            "caller {c:?}, agent {a:?}"
        );

        // A new session rings again and barges in.
        let second = monitor(
            &mut sup,
            &call_id,
            MonitorMode::Barge,
            &format!("sip:sue@127.0.0.1:{super_port}"),
            SUPERVISOR,
        )
        .await
        .expect("monitor the call again");
        assert_ne!(second.monitor_id, first.monitor_id);
        engine.wait_events("monitor_started", 2, secs(10));
        let (from, to) = talk(&mut [&mut caller, &mut agent, &mut supervisor]);
        let (c, a) = (caller.heard(from, to), agent.heard(from, to));
        assert!(
            c.supervisor > HEARD && a.supervisor > HEARD,
            "barge: caller {c:?}, agent {a:?}"
        );

        hang_up(grpc, &call_id).await;
        drop(caller_sipp.wait());
        call_id
    });
    let stopped = engine
        .try_wait_event(secs(10), |e| {
            e.name() == "monitor_stopped" && e.str("reason") == Some("bridge_ended")
        })
        .unwrap_or_else(|| {
            panic!(
                "no monitor_stopped at the end of the call:\n{}",
                engine.events_text()
            )
        });
    assert_eq!(stopped.call_id(), call_id);
    let run = quitter.wait();
    run.assert_success();
    let run = super_phone.wait();
    run.assert_success();
    assert!(
        run.requests("BYE").next().is_some(),
        "{}",
        run.diagnostics()
    );
    drop(agent_phone.wait());
}
