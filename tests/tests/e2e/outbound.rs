//! Outbound calls over real SIP: `ivr originate` asks a running engine (gRPC) to call a person
//! (a SIPp callee) through a trunk; the delivery-notice plan runs with the order's variables
//! and the callee's key is its answer. Busy, refused and unanswered calls fail with their reason,
//! and every attempt leaves an outbound call record.

use std::process::Command;

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::QueryCallsRequest;
use ivr_tests::{binary, ports, workspace_root, Engine, EngineOptions, Sipp};
use tonic::metadata::MetadataValue;

use super::secs;

const ADMIN: &str = "admin-token-0123456789";

/// An engine with the delivery-notice plan and a trunk whose outbound proxy is `callee_port`.
fn engine(callee_port: u16) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let plan = std::fs::read_to_string(workspace_root().join("examples/delivery-notice.yaml"))
        .unwrap()
        .replace("127.0.0.1:8089", "127.0.0.1:9");
    std::fs::write(dir.path().join("delivery-notice.yaml"), plan).unwrap();
    let engine = Engine::start(EngineOptions {
        plans: Some(dir.path().to_path_buf()),
        extra_toml: format!(
            r#"
{trunk}

[api]
listen = "127.0.0.1:0"
tokens = [ {{ token = "{ADMIN}", principal = "root", role = "admin" }} ]
"#,
            trunk = ivr_tests::outbound_trunk(callee_port)
        ),
        ..EngineOptions::default()
    });
    (dir, engine)
}

/// Runs `ivr originate` against `engine`; returns its exit code and what it printed.
fn originate(engine: &Engine, to: &str, extra: &[&str]) -> (i32, String) {
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
            "swift-delivery-notice",
            "--to",
            to,
        ])
        .args(extra)
        .output()
        .expect("run ivr originate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The engine's record of the call to `number`, once written.
fn record(engine: &Engine, number: &str) -> ivr_proto::v1::CallRecord {
    let grpc = engine.grpc.expect("the gRPC address");
    let rt = super::runtime();
    rt.block_on(async {
        let mut admin = AdminServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap();
        for _ in 0..50 {
            let mut req = tonic::Request::new(QueryCallsRequest {
                number: number.into(),
                ..QueryCallsRequest::default()
            });
            let v: MetadataValue<_> = format!("Bearer {ADMIN}").parse().unwrap();
            req.metadata_mut().insert("authorization", v);
            let page = admin.query_calls(req).await.unwrap().into_inner();
            if let Some(c) = page.calls.into_iter().next() {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no call record for {number}");
    })
}

fn keys(digits: &str) -> String {
    let dir = std::env::var("SIPP_PCAPS").unwrap_or_else(|_| "/usr/share/sip-tester".into());
    let mut xml = String::from("<pause milliseconds=\"2000\"/>\n");
    for d in digits.chars() {
        xml.push_str(&format!(
            "<nop><action><exec play_pcap_audio=\"{dir}/dtmf_2833_{d}.pcap\"/></action></nop>\n<pause milliseconds=\"800\"/>\n"
        ));
    }
    xml
}

#[test]
fn an_answered_reminder_runs_the_plan_with_its_variables_and_takes_the_callees_key() {
    let port = ports::free_sip_port("127.0.0.1");
    let (_dir, engine) = engine(port);
    let callee = Sipp::new("callee_answers", engine.sip_udp)
        .local_port(port)
        .template("KEYS", &keys("1"))
        .template("HOLD", "20000")
        .timeout(secs(30))
        .spawn();
    let (code, out) = originate(
        &engine,
        "+14155550100",
        &["--var", "name=Maria", "--var", "window=tomorrow morning"],
    );
    assert_eq!(code, 0, "{out}");
    for line in ["created ", "ringing", "answered: the dial plan runs"] {
        assert!(out.contains(line), "`{line}` missing:\n{out}");
    }
    let say = engine.wait_event("say", secs(10), |e| {
        e.str("text").is_some_and(|t| t.starts_with("Hello Maria"))
    });
    assert!(say.str("text").unwrap().contains("tomorrow morning"));
    engine.wait_event("node", secs(15), |e| e.str("node") == Some("confirmed"));
    let run = callee.wait();
    run.assert_success();
    let invite = run
        .requests("INVITE")
        .next()
        .expect("the callee was called");
    assert!(invite
        .start_line()
        .starts_with("INVITE sip:+14155550100@127.0.0.1"));
    assert!(invite
        .header("From")
        .is_some_and(|f| f.contains("+15550100")));

    let cdr = record(&engine, "+14155550100");
    assert_eq!(cdr.direction, ivr_proto::v1::CallDirection::Outbound as i32);
    assert_eq!(cdr.from_number, "+15550100");
    assert_eq!(cdr.dial_plan, "swift-delivery-notice");
    assert!(cdr.answered_at_unix_ms > 0);
    assert!(
        cdr.node_path.contains(&"confirmed".to_string()),
        "{:?}",
        cdr.node_path
    );
}

#[test]
fn busy_refused_and_unanswered_calls_fail_with_their_reason_and_are_recorded() {
    let port = ports::free_sip_port("127.0.0.1");
    let (_dir, engine) = engine(port);

    let busy = Sipp::new("callee_refuses", engine.sip_udp)
        .local_port(port)
        .template("STATUS", "486")
        .template("REASON", "Busy Here")
        .spawn();
    let (code, out) = originate(&engine, "+14155550101", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed: busy (486)"), "{out}");
    busy.wait().assert_success();
    let cdr = record(&engine, "+14155550101");
    assert_eq!(cdr.hangup_cause, "busy");
    assert_eq!(cdr.answered_at_unix_ms, 0);

    let down = Sipp::new("callee_refuses", engine.sip_udp)
        .local_port(port)
        .template("STATUS", "503")
        .template("REASON", "Service Unavailable")
        .spawn();
    let (code, out) = originate(&engine, "+14155550102", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed: rejected (503)"), "{out}");
    down.wait().assert_success();
    assert_eq!(record(&engine, "+14155550102").hangup_cause, "rejected_503");

    let ringing = Sipp::new("callee_no_answer", engine.sip_udp)
        .local_port(port)
        .spawn();
    let (code, out) = originate(&engine, "+14155550103", &["--timeout", "2s"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ringing") && out.contains("failed: no_answer"),
        "{out}"
    );
    let run = ringing.wait();
    run.assert_success();
    assert!(run.requests("CANCEL").next().is_some());
    assert_eq!(record(&engine, "+14155550103").hangup_cause, "no_answer");

    // Bad orders are refused before anything is dialled.
    let (code, out) = originate(&engine, "call my mother", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not a phone number"), "{out}");
}
