//! The gRPC API of a running engine, with a real tonic client: an administrator sees a call in
//! progress, hangs it up, and finds its record; roles are enforced.

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::{HangupRequest, ListCallsRequest, QueryCallsRequest};
use ivr_tests::{workspace_root, Engine, EngineOptions, Sipp};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request};

use super::secs;

const ADMIN: &str = "admin-token-0123456789";
const AGENT: &str = "agent-token-0123456789";

fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

#[test]
fn an_administrator_lists_hangs_up_and_finds_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let bank = std::fs::read_to_string(workspace_root().join("examples/bank.yaml")).unwrap();
    std::fs::write(dir.path().join("bank.yaml"), bank).unwrap();
    let engine = Engine::start(EngineOptions {
        plans: Some(dir.path().to_path_buf()),
        extra_toml: format!(
            r#"
[api]
listen = "127.0.0.1:0"
tokens = [
  {{ token = "{ADMIN}", principal = "root", role = "admin" }},
  {{ token = "{AGENT}", principal = "ann", role = "agent" }},
]
"#
        ),
        ..EngineOptions::default()
    });
    let grpc = engine.grpc.expect("the ready line names the gRPC address");
    // A caller who stays on the line until the engine hangs up.
    let sipp = Sipp::new("call_keys", engine.sip_udp)
        .template("KEYS", "")
        .template("HOLD", "30000")
        .timeout(secs(40))
        .spawn();
    engine.wait_event("node", secs(10), |e| e.str("node") == Some("main"));

    let rt = super::runtime();
    rt.block_on(async {
        let mut admin = AdminServiceClient::connect(format!("http://{grpc}"))
            .await
            .expect("connect to the gRPC API");

        // Roles: nobody without a token, not an agent.
        let denied = admin
            .list_calls(ListCallsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::Unauthenticated, "{denied:?}");
        let denied = admin
            .list_calls(with_token(ListCallsRequest::default(), AGENT))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

        let calls = admin
            .list_calls(with_token(ListCallsRequest::default(), ADMIN))
            .await
            .unwrap()
            .into_inner()
            .calls;
        assert_eq!(calls.len(), 1, "{calls:?}");
        let call = &calls[0];
        assert_eq!(call.from_number, "+15551230000");
        assert_eq!(call.dial_plan, "acme-bank");
        assert_eq!(call.node, "main");
        assert!(call.answered_at_unix_ms > 0);

        admin
            .hangup(with_token(
                HangupRequest {
                    call_id: call.call_id.clone(),
                    reason: String::new(),
                    actor: String::new(),
                },
                ADMIN,
            ))
            .await
            .expect("hang up the call");
        let gone = admin
            .hangup(with_token(
                HangupRequest {
                    call_id: "no-such-call".into(),
                    reason: String::new(),
                    actor: String::new(),
                },
                ADMIN,
            ))
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound, "{gone:?}");

        let hangup = engine.wait_event("hangup", secs(10), |_| true);
        assert_eq!(hangup.str("cause"), Some("admin"));
        // The record is in the store within moments.
        let mut found = None;
        for _ in 0..50 {
            let page = admin
                .query_calls(with_token(
                    QueryCallsRequest {
                        number: "+15551230000".into(),
                        ..QueryCallsRequest::default()
                    },
                    ADMIN,
                ))
                .await
                .unwrap()
                .into_inner();
            if let Some(c) = page.calls.into_iter().find(|c| c.ended_at_unix_ms > 0) {
                found = Some(c);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let cdr = found.expect("the call's record");
        assert_eq!(cdr.call_id, call.call_id);
        assert_eq!(cdr.hangup_cause, "admin");
        assert_eq!(cdr.hangup_side, "system");
        assert_eq!(cdr.node_path.first().map(String::as_str), Some("main"));
    });
    sipp.wait().assert_success();
    // Each administrator request was audited.
    let audit_path = engine.data_dir().join("audit.jsonl");
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert!(audit.contains("AdminService/Hangup"), "{audit}");
    assert!(audit.contains("\"root\""), "{audit}");
    // The chain verifies, and an edited entry is found.
    let verify = || {
        std::process::Command::new(ivr_tests::binary())
            .args(["audit", "verify"])
            .arg(&audit_path)
            .output()
            .unwrap()
    };
    let ok = verify();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let tampered = audit.replacen("AdminService/Hangup", "AdminService/ListCalls", 1);
    let line = audit
        .lines()
        .position(|l| l.contains("AdminService/Hangup"))
        .unwrap()
        + 1;
    std::fs::write(&audit_path, tampered).unwrap();
    let bad = verify();
    let said = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("audit.jsonl:{line}:")), "{said}");
}
