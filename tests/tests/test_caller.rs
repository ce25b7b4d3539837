//! `ivr call`, the test caller, against real peers: the engine running the example bank plan
//! (keys and speech), a port nobody listens on, and SIPp user agents that answer 486 or answer
//! without telephone-event and then hang up.
//!
//! Build the binary first: `cargo build -p ivr-core --bin ivr`, then
//! `cargo test -p ivr-tests --test test_caller`. Needs `sipp`, `sox`, `espeak-ng` and the
//! PocketSphinx model.

use std::net::UdpSocket;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ivr_tests::{binary, ports, wait_until, workspace_root, Engine, EngineOptions, Event};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The bank plan in a fresh folder, its webhooks pointed at a closed port.
fn bank_engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace_root().join("examples/bank.yaml")).unwrap();
    let text = text.replace("127.0.0.1:8089", "127.0.0.1:9");
    std::fs::write(dir.path().join("bank.yaml"), text).unwrap();
    let engine = Engine::start(EngineOptions {
        plans: Some(dir.path().to_path_buf()),
        ..EngineOptions::default()
    });
    (dir, engine)
}

/// Runs `ivr call ARGS` to the end (60 s at most) and returns its output.
fn ivr_call(args: &[&str]) -> Output {
    let mut child = Command::new(binary())
        .arg("call")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ivr call");
    let started = Instant::now();
    while child.try_wait().expect("poll ivr call").is_none() {
        if started.elapsed() > secs(60) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect ivr call's output")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn shown(out: &Output) -> String {
    format!(
        "exit: {:?}\n---- stdout:\n{}---- stderr:\n{}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The only call's id, from its `plan` event.
fn call_id(engine: &Engine) -> String {
    engine.wait_events("plan", 1, secs(10))[0]
        .call_id()
        .to_string()
}

fn call_events(engine: &Engine, call: &str, name: &str) -> Vec<Event> {
    engine
        .events()
        .into_iter()
        .filter(|e| e.call_id() == call && e.name() == name)
        .collect()
}

/// The call record of the finished call, from `ivr calls --store DATA/ivr.db`.
fn call_record(engine: &Engine) -> serde_json::Value {
    wait_until(secs(10), || {
        let out = Command::new(binary())
            .args(["calls", "--store"])
            .arg(engine.data_dir().join("ivr.db"))
            .output()
            .ok()?;
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .to_string();
        let cdr: serde_json::Value = serde_json::from_str(&line).ok()?;
        cdr["ended_at_unix_ms"].is_i64().then_some(cdr)
    })
    .expect("a finished call record in DATA/ivr.db")
}

#[test]
fn keys_take_the_caller_to_the_account_prompt_and_the_call_record_shows_the_path() {
    let (_dir, engine) = bank_engine();
    let uri = format!("sip:100@{}", engine.sip_udp);
    let out = ivr_call(&[&uri, "--dtmf", "1", "--from", "+15551230000"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let lines: Vec<&str> = text.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{}", shown(&out)))
    };
    let answered = position("answered: PCMU, digits as RFC 4733 telephone-events");
    let pressed = position("caller: dtmf 1 (rfc4733)");
    let hangup = position("hangup by caller");
    assert!(answered < pressed && pressed < hangup, "{}", shown(&out));
    // The welcome (both sentences, one prompt) before the key, the account prompt after it.
    let heard: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("ivr: "))
        .map(|(i, l)| (i, *l))
        .collect();
    assert_eq!(heard.len(), 2, "{}", shown(&out));
    assert!(
        heard[0].0 < pressed && heard[1].0 > pressed,
        "{}",
        shown(&out)
    );
    // Dictation over the telephone band may miss the first word ("will come" for "welcome");
    // the welcome's content words are what tell it from the other prompts.
    assert!(
        heard[0].1.contains("bank") && heard[0].1.contains("balance"),
        "the welcome was not heard as such:\n{}",
        shown(&out)
    );
    let seconds = |line: &str| -> f64 {
        let inside = line.rsplit('[').next().unwrap_or("");
        inside
            .split(" s")
            .next()
            .unwrap_or("")
            .parse()
            .unwrap_or(0.0)
    };
    assert!(seconds(heard[0].1) > 10.0, "{}", shown(&out));
    assert!((2.0..5.0).contains(&seconds(heard[1].1)), "{}", shown(&out));

    // The engine: the key chose the balance intent, and the caller hung up in ask_account.
    let call = call_id(&engine);
    let events = || engine.events_text();
    let digits = call_events(&engine, &call, "digit");
    assert_eq!(digits.len(), 1, "{}", events());
    assert_eq!(digits[0].str("method"), Some("rfc4733"), "{}", events());
    let intent = engine.wait_event("intent", secs(5), |e| e.call_id() == call);
    assert_eq!(intent.str("name"), Some("balance"), "{}", events());
    let cdr = call_record(&engine);
    let record = cdr.to_string();
    assert_eq!(cdr["from"], "+15551230000", "{record}");
    assert_eq!(cdr["dial_plan"], "acme-bank", "{record}");
    assert_eq!(
        cdr["node_path"],
        serde_json::json!(["main", "ask_account"]),
        "{record}"
    );
    assert_eq!(cdr["hangup_side"], "caller", "{record}");
    assert_eq!(cdr["intents"][0]["name"], "balance", "{record}");
}

#[test]
fn a_spoken_request_is_recognised_by_the_engine_and_reported_as_json() {
    let (_dir, engine) = bank_engine();
    let uri = format!("sip:100@{}", engine.sip_udp);
    let out = ivr_call(&[
        &uri,
        "--say",
        "check my balance",
        "--format",
        "json",
        "--no-transcribe",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", shown(&out)))
        })
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["event"].as_str())
        .filter(|k| *k != "ringing")
        .collect();
    assert_eq!(
        kinds,
        ["calling", "answered", "heard", "step", "heard", "hangup"],
        "{}",
        shown(&out)
    );
    let step = lines.iter().find(|l| l["event"] == "step").unwrap();
    assert_eq!(step["kind"], "say", "{}", shown(&out));
    assert_eq!(step["value"], "check my balance", "{}", shown(&out));
    // Without transcription a heard line carries the duration only.
    let heard: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "heard").collect();
    assert!(heard.iter().all(|h| h["text"].is_null()), "{}", shown(&out));
    assert!(
        heard[0]["speech_ms"].as_u64().is_some_and(|ms| ms > 10_000),
        "{}",
        shown(&out)
    );
    assert_eq!(lines.last().unwrap()["by"], "caller", "{}", shown(&out));

    let call = call_id(&engine);
    let events = || engine.events_text();
    let recognized = engine.wait_event("recognized", secs(5), |e| e.call_id() == call);
    assert_eq!(
        recognized.str("text"),
        Some("check my balance"),
        "{}",
        events()
    );
    let intent = engine.wait_event("intent", secs(5), |e| e.call_id() == call);
    assert_eq!(intent.str("name"), Some("balance"), "{}", events());
    engine.wait_event("node", secs(5), |e| {
        e.call_id() == call && e.str("node") == Some("ask_account")
    });
    assert!(
        call_events(&engine, &call, "digit").is_empty(),
        "{}",
        events()
    );
}

#[test]
fn a_call_to_a_port_nobody_listens_on_fails_at_once_with_exit_1() {
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let out = ivr_call(&[
        &format!("sip:100@127.0.0.1:{port}"),
        "--dtmf",
        "1",
        "--no-transcribe",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        stdout(&out).contains(&format!(
            "call failed: nothing answers at 127.0.0.1:{port} (connection refused)"
        )),
        "{}",
        shown(&out)
    );
    assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
}

#[test]
fn a_call_to_an_address_that_never_answers_fails_after_four_seconds() {
    // Bound, so no ICMP error comes back, and never read.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let out = ivr_call(&[&format!("sip:100@127.0.0.1:{port}"), "--no-transcribe"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        stdout(&out).contains(&format!(
            "call failed: no response from 127.0.0.1:{port} within 4 s"
        )),
        "{}",
        shown(&out)
    );
    let took = started.elapsed();
    assert!(took >= secs(4) && took < secs(8), "took {took:?}");
    let mut buf = [0u8; 4096];
    silent.set_nonblocking(true).unwrap();
    let (n, _) = silent.recv_from(&mut buf).expect("the INVITE arrived");
    assert!(buf[..n].starts_with(b"INVITE sip:100@127.0.0.1"));
}

/// A SIPp user agent server playing `body` (the scenario's steps) on a free port; returns the
/// port once SIPp is listening, and the process.
fn sipp_uas(body: &str) -> (u16, std::process::Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"uas\">\n{body}\n</scenario>\n"
    );
    let scenario = dir.path().join("uas.xml");
    std::fs::write(&scenario, xml).unwrap();
    let port = ports::free_sip_port("127.0.0.1");
    let log = std::fs::File::create(dir.path().join("sipp.log")).unwrap();
    let child = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
        .args(["-t", "u1", "-nostdin", "-timeout", "20s", "-timeout_error"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("cannot run `sipp`; install sip-tester");
    let listening = wait_until(secs(10), || {
        UdpSocket::bind(("127.0.0.1", port)).is_err().then_some(())
    });
    assert!(listening.is_some(), "SIPp did not bind 127.0.0.1:{port}");
    (port, child, dir)
}

const BUSY: &str = r#"
  <recv request="INVITE" />
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

  ]]></send>
  <recv request="ACK" />
"#;

#[test]
fn a_busy_ivr_gives_call_failed_486_and_exit_1() {
    let (port, mut sipp, _dir) = sipp_uas(BUSY);
    let out = ivr_call(&[&format!("sip:100@127.0.0.1:{port}"), "--no-transcribe"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        stdout(&out).contains("call failed: 486 Busy Here"),
        "{}",
        shown(&out)
    );
    let status = sipp.wait().unwrap();
    assert!(status.success(), "SIPp did not see its ACK: {status}");
}

/// Answers with PCMU only (no telephone-event), stays silent, and hangs up after 3 s.
fn answer_then_bye(media_port: u16) -> String {
    format!(
        r#"
  <recv request="INVITE">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from" />
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to" />
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:ivr@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio {media_port} RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
  ]]></send>
  <recv request="ACK" />
  <pause milliseconds="3000" />
  <send><![CDATA[
BYE sip:caller@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: [$to];tag=[pid]SIPpTag01[call_number]
To: [$from]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="200" />
"#
    )
}

#[test]
fn without_telephone_event_keys_go_in_band_and_the_ivr_hanging_up_ends_the_call() {
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = media.local_addr().unwrap().port();
    media
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (port, mut sipp, _dir) = sipp_uas(&answer_then_bye(media_port));
    let out = ivr_call(&[
        &format!("sip:100@127.0.0.1:{port}"),
        "--dtmf",
        "5",
        "--wait",
        "5",
        "--turn-timeout",
        "1s",
        "--no-transcribe",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    for expected in [
        "answered: PCMU, digits as in-band tones (no telephone-event offered)",
        "ivr: [silent for 1.0 s]",
        "caller: dtmf 5 (inband)",
        "hangup by ivr",
    ] {
        assert!(text.contains(expected), "no {expected:?}:\n{}", shown(&out));
    }
    assert!(!text.contains("hangup by caller"), "{}", shown(&out));
    // The caller's RTP reached the answer's address: PCMU only, paced.
    let mut buf = [0u8; 2048];
    let (n, _) = media.recv_from(&mut buf).expect("RTP from the caller");
    assert!(n >= 12 + 160, "a {n}-byte datagram is not a G.711 frame");
    assert_eq!(buf[1] & 0x7f, 0, "payload type");
    assert!(
        sipp.wait().unwrap().success(),
        "SIPp's BYE was not answered"
    );
}
