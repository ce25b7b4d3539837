//! Quality inspection of the agent's side of a bridged call, end to end: a queued caller
//! reaches an agent whose phone (SIPp answering with the test's RTP socket) speaks a closing
//! sentence made by espeak-ng; the call is recorded; when it ends the engine transcribes the
//! agent's channel of the recording, stores the words as `agent` turns and only then scores
//! the call, so rules about the agent see what the agent said.

use std::net::SocketAddr;
use std::time::Instant;

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::HangupRequest;
use ivr_tests::codec::G711;
use ivr_tests::{audio, ports, Engine, EngineOptions, Offer, RtpPeer, Sipp};
use serde_json::Value;

use super::center::{
    accept_until_connected, call_and_key, log_in, next_offer, with_token, ADMIN, ANN, PLAN,
};
use super::{ms, secs};

/// The agent's closing: PocketSphinx gets these words right from espeak-ng's voice.
const CLOSING: &str = "You are welcome. No problem at all.";

const RULES: &str = r#"
rules:
  - id: closing
    kind: required_phrase
    phrases: ["anything else", "you are welcome", "no problem at all"]
    speaker: agent
    within: { last_turns: 2 }
  - id: casual
    kind: forbidden_phrase
    phrases: ["no problem"]
    speaker: agent
  - id: ivr_closing
    kind: required_phrase
    phrases: ["you are welcome"]
    speaker: ivr
"#;

fn engine(dir: &std::path::Path) -> Engine {
    std::fs::write(dir.join("help-desk.yaml"), PLAN).unwrap();
    let rules = dir.join("qa.yaml");
    std::fs::write(&rules, RULES).unwrap();
    Engine::start(EngineOptions {
        plans: Some(dir.to_path_buf()),
        recording: true,
        extra_toml: format!(
            r#"
[api]
listen = "127.0.0.1:0"
tokens = [
  {{ token = "{ADMIN}", principal = "root", role = "admin" }},
  {{ token = "{ANN}", principal = "ann", role = "agent" }},
]

[acd]
[[acd.queues]]
name = "support"
ring_timeout = "10s"
wrap_up = "60s"

[qa]
rules = "{}"
"#,
            rules.display()
        ),
        ..EngineOptions::default()
    })
}

/// The stored transcript of `call_id`, read with `ivr calls --transcript` (JSON lines).
fn stored_transcript(engine: &Engine, call_id: &str) -> Vec<Value> {
    let store = engine.data_dir().join("ivr.db");
    let out = std::process::Command::new(ivr_tests::binary())
        .args(["calls", "--store", store.to_str().unwrap(), "--transcript"])
        .output()
        .expect("run ivr calls");
    assert!(out.status.success(), "ivr calls failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|c| c["call_id"] == call_id)
        .and_then(|c| c["transcript"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn the_agents_words_from_the_recording_are_scored_after_a_bridged_call() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let grpc = engine.grpc.expect("the ready line names the gRPC address");

    // The agent's phone: SIPp signals, the test's socket carries its media.
    let mut agent = RtpPeer::bind();
    let phone_port = ports::free_sip_port("127.0.0.1");
    let phone = Sipp::new("agent_phone_media", engine.sip_udp)
        .local_port(phone_port)
        .offer(&Offer::new(agent.port()))
        .template("HOLD", "60000")
        .timeout(secs(90))
        .spawn();
    let contact = format!("sip:ann@127.0.0.1:{phone_port}");

    let scratch = tempfile::tempdir().unwrap();
    let question = audio::speech_in(
        "Hello, I have a question about my bill.",
        "en-us",
        160,
        scratch.path(),
    );
    let closing = audio::speech_in(CLOSING, "en-us", 160, scratch.path());

    let rt = super::runtime();
    let call_id = rt.block_on(async {
        let (mut desk, mut events) = log_in(grpc, "ann", ANN, &contact).await;
        let (mut caller, engine_rtp, sipp) = call_and_key(&engine, "4217", 60_000);
        let offer = next_offer(&mut events, secs(20)).await;
        accept_until_connected(&mut desk, &mut events, "ann", ANN, &offer.offer_id).await;

        // The caller asks; the engine relays it to the agent's socket, which learns where to
        // send from it; then the agent answers and closes.
        caller.send_audio(engine_rtp, G711::Pcmu, &question);
        let bridge: SocketAddr = agent.engine_addr(secs(10));
        let codec = match agent.packets().first().map(|p| p.pt) {
            Some(8) => G711::Pcma,
            _ => G711::Pcmu,
        };
        std::thread::sleep(ms(500));
        agent.send_audio(bridge, codec, &audio::silence(400));
        agent.send_audio(bridge, codec, &closing);
        agent.send_audio(bridge, codec, &audio::silence(1_000));

        AdminServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap()
            .hangup(with_token(
                HangupRequest {
                    call_id: offer.call_id.clone(),
                    reason: String::new(),
                    actor: String::new(),
                },
                ADMIN,
            ))
            .await
            .expect("hang up");
        drop(sipp.wait());
        offer.call_id
    });

    // The agent's side is transcribed before the call is scored.
    let started = Instant::now();
    let transcribed = engine.wait_event("agent_transcribed", secs(60), |e| e.call_id() == call_id);
    let turns = transcribed.u64("turns").unwrap_or(0);
    assert!(
        (1..=2).contains(&turns),
        "the agent's closing is one or two turns: {transcribed}\n{}",
        engine.events_text()
    );
    let qa = engine.wait_event("qa_findings", secs(30), |e| e.call_id() == call_id);
    let order: Vec<String> = engine
        .events()
        .iter()
        .filter(|e| e.call_id() == call_id)
        .map(|e| e.name().to_string())
        .filter(|n| n == "agent_transcribed" || n == "qa_findings")
        .collect();
    assert_eq!(
        order,
        ["agent_transcribed", "qa_findings"],
        "scored once, after the transcription"
    );
    let fired: Vec<String> = qa.0["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(
        fired,
        ["casual", "ivr_closing"],
        "the agent closed properly but casually; the IVR said no closing: {}",
        qa.0
    );

    // The agent's turns are stored after the IVR's, timed from the answer.
    let transcript = stored_transcript(&engine, &call_id);
    let ivr_turns = transcript.iter().filter(|t| t["who"] == "ivr").count();
    let agent_turns: Vec<&Value> = transcript.iter().filter(|t| t["who"] == "agent").collect();
    assert!(ivr_turns >= 1, "{transcript:?}");
    assert_eq!(agent_turns.len() as u64, turns, "{transcript:?}");
    let words: Vec<&str> = agent_turns
        .iter()
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert!(
        words.join(" ").contains("no problem at all"),
        "{words:?} (transcribed in {:?})",
        started.elapsed()
    );
    let last_ivr = transcript
        .iter()
        .filter(|t| t["who"] == "ivr")
        .filter_map(|t| t["at_ms"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(
        agent_turns
            .iter()
            .all(|t| t["at_ms"].as_u64().is_some_and(|a| a > last_ivr)),
        "the agent speaks after the IVR's last prompt: {transcript:?}"
    );

    drop(phone.wait());
}
