//! Dial plans over real SIP: the example bank plan driven by RFC 4733 keys from SIPp's pcaps,
//! with its balance webhook answered by a real HTTP server the test starts.
//!
//! The helpers here serve every dial-plan module (`plan_examples`, `plan_webhooks`,
//! `plan_reload`): a backend HTTP server that answers, fails or stays silent; plan folders made
//! from the examples; and a [`Caller`] that presses keys from its own RTP socket when the events
//! log shows the plan is waiting for them, and hangs up when the test says so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ivr_tests::rtp::event_code;
use ivr_tests::{
    ports, wait_until, workspace_root, Engine, EngineOptions, Event, Offer, RtpPeer, Sipp, SippRun,
};

use super::secs;

/// Keys as SIPp actions: each pcap, then a pause. (The pcaps share one SSRC and their RTP
/// timestamps ascend from 1 to 9, so keys are chosen in that order.)
fn keys(digits: &str, gap_ms: u32) -> String {
    let dir = std::env::var("SIPP_PCAPS").unwrap_or_else(|_| "/usr/share/sip-tester".into());
    let mut xml = String::from("<pause milliseconds=\"1500\"/>\n");
    for d in digits.chars() {
        xml.push_str(&format!(
            "<nop><action><exec play_pcap_audio=\"{dir}/dtmf_2833_{d}.pcap\"/></action></nop>\n<pause milliseconds=\"{gap_ms}\"/>\n"
        ));
    }
    xml
}

/// How the test's backend answers every request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reply {
    /// This status with this body (as JSON content).
    Json(u16, &'static str),
    /// Reads the request and never answers (the connection stays open).
    Silent,
}

/// A backend HTTP server on loopback for a plan's webhooks.
pub(crate) struct Backend {
    /// Its port (the plans' `127.0.0.1:8089` is replaced by it).
    pub port: u16,
    /// The request bodies received, in order.
    pub bodies: Arc<Mutex<Vec<String>>>,
}

impl Backend {
    /// A server answering up to 16 requests with `reply`.
    pub(crate) fn start(reply: Reply) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let log = bodies.clone();
        std::thread::spawn(move || {
            // Connections left unanswered stay open until the server thread ends.
            let mut silent = Vec::new();
            for stream in listener.incoming().take(16) {
                let Ok(mut s) = stream else { continue };
                if let Some(body) = read_request(&mut s) {
                    log.lock().unwrap().push(body);
                }
                match reply {
                    Reply::Json(status, body) => {
                        let text = format!(
                            "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.write_all(text.as_bytes());
                    }
                    Reply::Silent => silent.push(s),
                }
            }
        });
        Backend { port, bodies }
    }

    /// The requests received so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

/// Reads one HTTP request (head and a Content-Length body); returns the body.
fn read_request(s: &mut std::net::TcpStream) -> Option<String> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = vec![0u8; 16384];
    let mut got = 0;
    while let Ok(n) = s.read(&mut buf[got..]) {
        if n == 0 {
            return None;
        }
        got += n;
        let text = String::from_utf8_lossy(&buf[..got]).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if got >= end + 4 + len {
                return Some(text[end + 4..].to_string());
            }
        }
        if got == buf.len() {
            return None;
        }
    }
    None
}

/// A one-route HTTP server answering every request with `body`; returns its port and the
/// request bodies it received.
fn webhook_server(body: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let b = Backend::start(Reply::Json(200, body));
    (b.port, b.bodies)
}

/// A fresh plans folder holding `file` with `text`.
pub(crate) fn plan_dir(file: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), text).unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// The example plan `examples/<name>` in a fresh folder, its webhooks pointed at `port`.
pub(crate) fn example_plan(name: &str, port: u16) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(workspace_root().join("examples").join(name)).unwrap();
    plan_dir(
        name,
        &text.replace("127.0.0.1:8089", &format!("127.0.0.1:{port}")),
    )
}

/// An engine answering with the plans in `plans`.
pub(crate) fn engine_with(plans: &Path) -> Engine {
    Engine::start(EngineOptions {
        plans: Some(plans.to_path_buf()),
        ..EngineOptions::default()
    })
}

/// A placeholder plan: one node that hangs up.
const PLACEHOLDER: &str = "version: 1\nname: placeholder\nlanguage: en-US\nsettings: { escalate_to: bye }\nstart: bye\nnodes:\n  bye:\n    hangup: true\n";

/// An engine answering with the example plan `examples/<name>` (webhooks pointed at `port`).
///
/// The engine starts on a placeholder plan and then hot-reloads the example in its place: an
/// engine starting with a plan renders all its fixed prompts before it is ready (the clinic's 56
/// in two languages take longer than the harness waits for readiness on a busy debug build),
/// while a reloaded plan renders its prompts on first use.
///
/// The swap is left to the file watcher, written again until it is loaded: just after `ready`
/// neither SIGHUP (the handler may not be installed yet, and SIGHUP's default ends the process)
/// nor the watcher (it may not have taken its first look yet) can be relied on.
pub(crate) fn engine_with_example(name: &str, port: u16) -> (tempfile::TempDir, Engine) {
    let (dir, plans) = plan_dir("placeholder.yaml", PLACEHOLDER);
    let engine = engine_with(&plans);
    let text = std::fs::read_to_string(workspace_root().join("examples").join(name)).unwrap();
    let text = text.replace("127.0.0.1:8089", &format!("127.0.0.1:{port}"));
    let plan_name = text
        .lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("the example has a name")
        .trim()
        .to_string();
    let loaded = format!("dial plan loaded plan={plan_name} ");
    std::fs::remove_file(plans.join("placeholder.yaml")).unwrap();
    let swapped = wait_until(secs(20), || {
        write_atomically(&plans.join(name), &text);
        wait_until(Duration::from_millis(2500), || {
            plain_log(&engine).contains(&loaded).then_some(())
        })
    });
    assert!(
        swapped.is_some(),
        "the engine did not load {name} within 20 s:\n{}",
        plain_log(&engine)
    );
    (dir, engine)
}

/// Replaces `path` with `text` in one step (a rename), so a reload never reads half a file.
pub(crate) fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The engine's process id: the process whose command line names this engine's configuration.
pub(crate) fn engine_pid(engine: &Engine) -> u32 {
    let config = engine.dir().join("ivr.toml");
    let config = config.to_string_lossy();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let args: Vec<String> = c
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.first().is_some_and(|a| a.ends_with("ivr"))
                    && args.iter().any(|a| *a == config)
            })
        })
        .expect("the engine's process")
}

/// Sends SIGHUP (reload the dial plans) to the engine.
pub(crate) fn sighup(engine: &Engine) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &engine_pid(engine).to_string()])
        .status()
        .expect("run `kill`");
    assert!(status.success(), "kill -HUP failed");
}

/// The engine's log without terminal colour codes.
pub(crate) fn plain_log(engine: &Engine) -> String {
    let log = engine.stderr();
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits until the engine's log holds `needle` at least `count` times (15 s at most); returns the
/// log.
pub(crate) fn wait_log(engine: &Engine, needle: &str, count: usize) -> String {
    wait_until(secs(15), || {
        let log = plain_log(engine);
        (log.matches(needle).count() >= count).then_some(log)
    })
    .unwrap_or_else(|| {
        panic!(
            "the engine's log does not hold {needle:?} {count} times within 15 s:\n{}",
            plain_log(engine)
        )
    })
}

/// The example bank plan in a fresh folder, its webhooks pointed at `port`.
fn bank_plan(port: u16) -> (tempfile::TempDir, PathBuf) {
    example_plan("bank.yaml", port)
}

/// A caller on the line (SIPp for the signalling, the test's RTP socket for keys). The call ends
/// when the engine hangs up, when [`Caller::hang_up`] is called, or after `hold` at most.
pub(crate) struct Caller {
    peer: RtpPeer,
    engine_rtp: SocketAddr,
    sipp: ivr_tests::sipp::SippChild,
    sip_port: u16,
}

impl Caller {
    /// Places a call to `engine` and waits for its first RTP packet (the plan speaking).
    pub(crate) fn call(engine: &Engine, hold: Duration) -> Caller {
        let peer = RtpPeer::bind();
        let sip_port = ports::free_sip_port("127.0.0.1");
        let sipp = Sipp::new("call_until_told", engine.sip_udp)
            .offer(&Offer::new(peer.port()))
            .template("HOLD", &hold.as_millis().to_string())
            .local_port(sip_port)
            .timeout(hold + secs(10))
            .spawn();
        let engine_rtp = peer.engine_addr(secs(15));
        Caller {
            peer,
            engine_rtp,
            sipp,
            sip_port,
        }
    }

    /// Presses `keys` one after the other (RFC 4733, 100 ms each, as phones send them).
    pub(crate) fn press(&mut self, keys: &str) {
        for k in keys.chars() {
            self.peer.send_event(self.engine_rtp, 101, event_code(k), 5);
        }
    }

    /// Tells the caller to hang up the call `call_id` (SIPp then sends BYE).
    pub(crate) fn hang_up(&self, call_id: &str) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let me = sock.local_addr().unwrap();
        let notify = format!(
            "NOTIFY sip:caller@127.0.0.1:{port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-hangup-{port}\r\n\
             From: <sip:test@{me}>;tag=test\r\n\
             To: <sip:caller@127.0.0.1:{port}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 NOTIFY\r\n\
             Event: hangup\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            port = self.sip_port
        );
        sock.send_to(notify.as_bytes(), ("127.0.0.1", self.sip_port))
            .unwrap();
    }

    /// Waits for SIPp to finish and returns its run.
    pub(crate) fn finish(self) -> SippRun {
        self.sipp.wait()
    }
}

/// The call id of the `n`-th call (0-based) that started a plan.
pub(crate) fn nth_call(engine: &Engine, n: usize) -> String {
    engine.wait_events("plan", n + 1, secs(15))[n]
        .call_id()
        .to_string()
}

/// Waits until the call `call_id` has entered `node` (its `count`-th entry) and returns that
/// `node` event. The plan is then waiting for the caller if the node listens or collects.
pub(crate) fn at_node(engine: &Engine, call_id: &str, node: &str, count: usize) -> Event {
    wait_until(secs(15), || {
        let entries: Vec<Event> = engine
            .events()
            .into_iter()
            .filter(|e| e.call_id() == call_id && e.name() == "node" && e.str("node") == Some(node))
            .collect();
        entries.into_iter().nth(count - 1)
    })
    .unwrap_or_else(|| {
        panic!(
            "call {call_id} did not enter node `{node}` (entry {count}) within 15 s; events:\n{}",
            engine.events_text()
        )
    })
}

/// The events of one call named `name`.
pub(crate) fn call_events(engine: &Engine, call_id: &str, name: &str) -> Vec<Event> {
    engine
        .events()
        .into_iter()
        .filter(|e| e.call_id() == call_id && e.name() == name)
        .collect()
}

/// The nodes the call entered, in order.
pub(crate) fn path(engine: &Engine, call_id: &str) -> Vec<String> {
    call_events(engine, call_id, "node")
        .iter()
        .filter_map(|e| e.str("node").map(str::to_string))
        .collect()
}

/// Waits for the call's `hangup` event and returns (by, cause).
pub(crate) fn hangup_of(engine: &Engine, call_id: &str) -> (String, String) {
    let h = engine.wait_event("hangup", secs(15), |e| e.call_id() == call_id);
    (
        h.str("by").unwrap_or("").to_string(),
        h.str("cause").unwrap_or("").to_string(),
    )
}

#[test]
fn a_caller_gets_the_balance_by_keys_through_the_webhook() {
    let (port, bodies) = webhook_server(r#"{"balance": 1234.5}"#);
    let (_dir, plans) = bank_plan(port);
    let engine = Engine::start(EngineOptions {
        plans: Some(plans),
        ..EngineOptions::default()
    });
    let run = Sipp::new("call_keys", engine.sip_udp)
        .template("KEYS", &keys("123456789", 700))
        .template("HOLD", "6000")
        .timeout(secs(30))
        .run();
    run.assert_success();
    let text = engine.events_text();
    let intent = engine.wait_event("intent", secs(5), |_| true);
    assert_eq!(intent.str("name"), Some("balance"), "{text}");
    // Key 1 chose the menu; the next eight keys are the account number, masked in the record.
    let slot = engine.wait_event("slot", secs(5), |_| true);
    assert_eq!(slot.str("value"), Some("****6789"), "{text}");
    assert!(
        !text.contains("23456789"),
        "the account number leaked into the call record:\n{text}"
    );
    // The webhook got it, unmasked, and its answer was spoken.
    let body = bodies
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("the webhook was called");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["slots"]["account"], "23456789", "{body}");
    engine.wait_event("say", secs(5), |e| {
        e.str("text").is_some_and(|t| t.contains("$1,234.50"))
    });
    assert_eq!(
        engine.events_named("plan")[0].str("plan"),
        Some("acme-bank")
    );
    // The keys of the account number were not logged either.
    let keyed: Vec<_> = engine.events_named("digit");
    assert_eq!(keyed.len(), 9, "{text}");
    assert!(
        keyed[1..]
            .iter()
            .all(|d| d.0["digit"].is_null() && d.0["masked"] == true),
        "{text}"
    );

    // The call record in the store: who, where the call went, what was said (redacted).
    let cdr = wait_until(secs(10), || {
        let out = std::process::Command::new(ivr_tests::binary())
            .args(["calls", "--transcript", "--store"])
            .arg(engine.data_dir().join("ivr.db"))
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .to_string();
        let cdr: serde_json::Value = serde_json::from_str(&line).unwrap();
        cdr["ended_at_unix_ms"].is_i64().then_some(cdr)
    })
    .expect("a finished call record in DATA/ivr.db");
    let shown = cdr.to_string();
    assert_eq!(cdr["from"], "+15551230000", "{shown}");
    assert_eq!(cdr["dial_plan"], "acme-bank", "{shown}");
    assert_eq!(cdr["hangup_side"], "caller", "{shown}");
    assert!(cdr["answered_at_unix_ms"].is_i64(), "{shown}");
    let path: Vec<&str> = cdr["node_path"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        path.starts_with(&["main", "ask_account", "lookup_balance"]),
        "{shown}"
    );
    assert_eq!(cdr["intents"][0]["name"], "balance", "{shown}");
    let account = cdr["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "account")
        .expect("the account slot");
    assert_eq!(account["value"], "****6789", "{shown}");
    assert_eq!(account["sensitive"], true, "{shown}");
    assert!(
        cdr["transcript"].as_array().is_some_and(|t| t.len() >= 4),
        "{shown}"
    );
    assert!(
        cdr["events"].as_array().is_some_and(|e| e.len() >= 10),
        "{shown}"
    );
    assert!(
        !shown.contains("23456789"),
        "the account number leaked into the store:\n{shown}"
    );
}

#[test]
fn a_caller_pressing_wrong_keys_reaches_a_person_with_the_context() {
    let engine = {
        let (port, _) = webhook_server("{}");
        let (dir, plans) = bank_plan(port);
        std::mem::forget(dir);
        Engine::start(EngineOptions {
            plans: Some(plans),
            ..EngineOptions::default()
        })
    };
    // 7, 8 and 9 mean nothing in the main menu: three no-matches, then escalation.
    let run = Sipp::new("call_keys", engine.sip_udp)
        .template("KEYS", &keys("789", 1500))
        // Long enough for the out-of-hours voicemail greeting and a few seconds of message.
        .template("HOLD", "16000")
        .timeout(secs(45))
        .run();
    run.assert_success();
    let text = engine.events_text();
    let esc = engine.wait_event("escalation", secs(5), |_| true);
    assert_eq!(esc.str("reason"), Some("retries"), "{text}");
    // The bank's agent node hands over to the support queue in opening hours and to voicemail
    // outside them (the test runs on the real clock): one of the two must have happened.
    let queued = engine.events_named("enqueued");
    let voicemail = engine.try_wait_event(secs(5), |e| e.name() == "voicemail");
    match (queued.first(), voicemail) {
        (Some(q), _) => {
            assert_eq!(q.str("queue"), Some("support"), "{text}");
            let ctx = &q.0["context"];
            assert_eq!(ctx["reason"], "retries", "{text}");
            assert!(
                ctx["path"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|n| n == "main")),
                "{text}"
            );
            assert!(
                ctx["transcript"].as_array().is_some_and(|t| t.len() >= 3),
                "{text}"
            );
        }
        (None, Some(v)) => assert!(v.str("path").is_some_and(|p| p.ends_with(".wav")), "{text}"),
        (None, None) => panic!(
            "the stuck caller was neither queued nor sent to voicemail:\n{}",
            engine.events_text()
        ),
    }
    assert!(engine.events_named("no_match").len() >= 2, "{text}");
}
