//! Answering-machine detection on outbound calls: the engine calls (`ivr originate`) a SIPp
//! callee whose media is the test's RTP socket; the test answers with a person's "Hello?" or a
//! voicemail greeting ending with a beep (espeak-ng and sox, rendered at run time). The plan
//! (`settings.amd: true`) branches on `call.amd`; for the machine its message starts after the
//! beep.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ivr_tests::codec::G711;
use ivr_tests::{audio, binary, ports, Engine, EngineOptions, Offer, RtpPeer, Sipp};

use super::{ms, secs};

const ADMIN: &str = "admin-token-0123456789";

const PLAN: &str = r#"
version: 1
name: amd-reminder
language: en-US
settings:
  amd: true
start: screen
nodes:
  screen:
    branch:
      - if: "call.amd == 'machine'"
        then: message
      - else: person
  message:
    say: "Hello, this is Acme Clinic with a reminder of your appointment tomorrow at ten. Goodbye."
    hangup: true
  person:
    say: "Hello, this is Acme Clinic calling about your appointment."
    hangup: true
"#;

/// An engine with the plan above and a trunk whose outbound proxy is `callee_port`.
fn engine(callee_port: u16) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("amd-reminder.yaml"), PLAN).unwrap();
    let engine = Engine::start(EngineOptions {
        plans: Some(dir.path().to_path_buf()),
        extra_toml: format!(
            r#"
{trunk}

[api]
listen = "127.0.0.1:0"
tokens = [ {{ token = "{ADMIN}", principal = "root", role = "admin" }} ]

[amd]
beep_timeout = "8s"
"#,
            trunk = ivr_tests::outbound_trunk(callee_port)
        ),
        ..EngineOptions::default()
    });
    (dir, engine)
}

/// `ms` of a sine at `hz`, a quarter of full scale, made by sox (8 kHz, 16-bit).
fn beep(hz: u32, ms: u64) -> Vec<i16> {
    let secs = format!("{:.3}", ms as f64 / 1000.0);
    let out = Command::new("sox")
        .args([
            "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-",
        ])
        .args(["synth", &secs, "sine", &hz.to_string(), "vol", "0.25"])
        .stdin(Stdio::null())
        .output()
        .expect("run sox");
    assert!(out.status.success(), "sox failed: {out:?}");
    out.stdout
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Pads `samples` with silence to whole 20 ms frames.
fn whole_frames(samples: &mut Vec<i16>) {
    samples.resize(samples.len().div_ceil(audio::FRAME) * audio::FRAME, 0);
}

/// What a call to a callee playing `greeting` showed.
struct Screened {
    engine: Engine,
    /// When the test sent the end of the greeting's part that matters (the beep's last frame,
    /// or the person's last word).
    mark: Instant,
    /// When the engine's first RTP packet (the plan speaking) arrived.
    first_engine_audio: Instant,
    _dir: tempfile::TempDir,
}

/// Calls a callee who answers and sends `greeting`, then silence; `mark` is the offset in
/// `greeting` (samples) to remember the sending time of.
fn call(greeting: &[i16], mark: usize) -> Screened {
    let port = ports::free_sip_port("127.0.0.1");
    let (dir, engine) = engine(port);
    let mut rtp = RtpPeer::bind();
    let port_file = dir.path().join("engine-rtp-port");
    let callee = Sipp::new("callee_amd_media", engine.sip_udp)
        .local_port(port)
        .offer(&Offer::new(rtp.port()))
        .template("PORT_FILE", port_file.to_str().unwrap())
        .template("HOLD", "40000")
        .timeout(secs(60))
        .spawn();
    let grpc = engine.grpc.expect("the gRPC address");
    let out = Command::new(binary())
        .args([
            "originate",
            "--grpc",
            &format!("http://{grpc}"),
            "--token",
            ADMIN,
        ])
        .args([
            "--trunk",
            "carrier",
            "--plan",
            "amd-reminder",
            "--to",
            "+14155550100",
        ])
        .output()
        .expect("run ivr originate");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("answered"), "{text}");
    let engine_rtp = engine_rtp_addr(&port_file);

    let (head, tail) = greeting.split_at(mark);
    rtp.send_audio(engine_rtp, G711::Pcmu, head);
    let mark_at = Instant::now();
    rtp.send_audio(engine_rtp, G711::Pcmu, tail);
    // The callee listens (silence) while the plan speaks.
    rtp.send_audio(engine_rtp, G711::Pcmu, &audio::silence(6000));
    let got = rtp.wait_for(secs(5), |r| r.iter().any(|p| p.packet.is_some()));
    let first = got
        .iter()
        .find(|r| r.packet.as_ref().is_some_and(|p| p.pt == 0))
        .map(|r| r.at)
        .expect("the engine's plan spoke");
    callee.wait().assert_success();
    Screened {
        engine,
        mark: mark_at,
        first_engine_audio: first,
        _dir: dir,
    }
}

/// The engine's RTP address, written by the SIPp callee from the INVITE's SDP.
fn engine_rtp_addr(file: &Path) -> SocketAddr {
    let port = ivr_tests::wait_until(secs(5), || {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse::<u16>().ok())
    })
    .expect("the callee wrote the engine's RTP port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn a_person_who_says_hello_is_human_and_hears_the_person_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let mut greeting = audio::silence(300);
    greeting.extend(audio::speech_in("Hello?", "en-us", 160, tmp.path()));
    whole_frames(&mut greeting);
    let spoken = greeting.len();
    let s = call(&greeting, spoken);

    let amd = s.engine.wait_event("amd", secs(10), |_| true);
    assert_eq!(amd.str("verdict"), Some("human"), "{amd}");
    assert_eq!(amd.str("reason"), Some("short_greeting"), "{amd}");
    let verdict_ms = amd.u64("ms").unwrap();
    assert!(
        (1000..=3000).contains(&verdict_ms),
        "a verdict about 800 ms after the greeting: {amd}"
    );
    s.engine
        .wait_event("node", secs(10), |e| e.str("node") == Some("person"));
    assert!(s.engine.events_named("amd_beep").is_empty());
    assert!(!s
        .engine
        .events_named("node")
        .iter()
        .any(|e| e.str("node") == Some("message")));
    // The plan waited for the verdict: it spoke only after the person had finished.
    assert!(
        s.first_engine_audio >= s.mark,
        "the plan spoke {:?} before the greeting ended",
        s.mark.duration_since(s.first_engine_audio)
    );
    eprintln!(
        "human: verdict {verdict_ms} ms after the answer; the plan's audio {:?} after the greeting",
        s.first_engine_audio.duration_since(s.mark)
    );
    let hangup = s.engine.wait_event("hangup", secs(10), |_| true);
    assert_eq!(hangup.str("cause"), Some("plan"), "{hangup}");
    // The verdict is in the call record.
    let store = s.engine.data_dir().join("ivr.db");
    let deadline = Instant::now() + secs(10);
    loop {
        let out = std::process::Command::new(ivr_tests::binary())
            .args(["calls", "--store"])
            .arg(&store)
            .output()
            .expect("run ivr calls");
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("\"amd\":\"human\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no verdict in the call record: {text}"
        );
        std::thread::sleep(ms(200));
    }
}

#[test]
fn a_voicemail_greeting_is_a_machine_and_the_message_starts_after_its_beep() {
    let tmp = tempfile::tempdir().unwrap();
    let mut greeting = audio::speech_in(
        "Hi, you have reached Anna Smith. I can't take your call right now. \
         Please leave your name and number after the tone.",
        "en-gb",
        170,
        tmp.path(),
    );
    greeting.extend(audio::silence(300));
    whole_frames(&mut greeting);
    let beep_start = greeting.len();
    greeting.extend(beep(1000, 500));
    let beep_end = greeting.len();
    let s = call(&greeting, beep_end);

    let amd = s.engine.wait_event("amd", secs(15), |_| true);
    assert_eq!(amd.str("verdict"), Some("machine"), "{amd}");
    let verdict_ms = amd.u64("ms").unwrap();
    assert!(
        verdict_ms < (beep_start / 8) as u64,
        "the long greeting decides before the beep: {amd}"
    );
    let beep_ev = s.engine.wait_event("amd_beep", secs(15), |_| true);
    assert_eq!(beep_ev.0["beep"], serde_json::json!(true), "{beep_ev}");
    let beep_ms = beep_ev.u64("beep_ms").unwrap();
    assert!(
        beep_ms.abs_diff(500) <= 60,
        "the beep lasted 500 ms: {beep_ev}"
    );
    // Audio time from the answer: the greeting plus the test's start-up delay after the answer.
    let ended_ms = beep_ev.u64("ms").unwrap();
    assert!(ended_ms >= (beep_end / 8) as u64, "{beep_ev}");
    s.engine
        .wait_event("node", secs(10), |e| e.str("node") == Some("message"));
    assert!(!s
        .engine
        .events_named("node")
        .iter()
        .any(|e| e.str("node") == Some("person")));
    // The message reached the callee only after the beep's last frame was sent.
    assert!(
        s.first_engine_audio >= s.mark,
        "the message started {:?} before the end of the beep",
        s.mark.duration_since(s.first_engine_audio)
    );
    eprintln!(
        "machine: verdict {verdict_ms} ms, beep ended at {ended_ms} ms (sent at {} ms of the \
         greeting); the message reached the callee {:?} after the beep's last frame was sent",
        beep_end / 8,
        s.first_engine_audio.duration_since(s.mark)
    );
    assert!(
        s.first_engine_audio.duration_since(s.mark) < secs(3),
        "the message started {:?} after the beep",
        s.first_engine_audio.duration_since(s.mark)
    );
}
