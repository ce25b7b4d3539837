//! Dial plans over real SIP: the example bank plan driven by RFC 4733 keys from SIPp's pcaps,
//! with its balance webhook answered by a real HTTP server the test starts.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ivr_tests::{workspace_root, Engine, EngineOptions, Sipp};

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

/// A one-route HTTP server answering every request with `body`; returns its port and the
/// request bodies it received.
fn webhook_server(body: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0u8; 16384];
            let mut got = 0;
            // Read the head and the body (Content-Length).
            while let Ok(n) = s.read(&mut buf[got..]) {
                if n == 0 {
                    break;
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
                        log.lock().unwrap().push(text[end + 4..].to_string());
                        break;
                    }
                }
            }
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = s.write_all(reply.as_bytes());
        }
    });
    (port, seen)
}

/// The example bank plan in a fresh folder, its webhooks pointed at `port`, in opening hours
/// or not.
fn bank_plan(port: u16) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace_root().join("examples/bank.yaml")).unwrap();
    let text = text.replace("127.0.0.1:8089", &format!("127.0.0.1:{port}"));
    std::fs::write(dir.path().join("bank.yaml"), text).unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
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
