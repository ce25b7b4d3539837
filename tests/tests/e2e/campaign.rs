//! A reminder campaign run by `ivr serve`: 50 contacts imported with `ivr campaign create`
//! are called at 10 calls per second through a trunk whose far end is a SIPp phone that answers
//! and presses 1. Halfway through, the engine is stopped (SIGTERM: calls in progress finish,
//! no new ones start) and started again on the same data; the campaign resumes and completes,
//! every contact was called exactly once, and each result holds the key the callee pressed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ivr_tests::{binary, ports, Engine, EngineOptions, Sipp};
use serde_json::Value;

use super::secs;

const PLAN: &str = r#"
version: 1
name: reminder
language: en-US
settings:
  no_input: 3s
start: remind
nodes:
  remind:
    collect:
      slot: choice
      type: digits
      length: 1
      prompt: "Hello {{ vars.name | default(\"there\") }}. Press 1 to confirm your appointment."
    next: confirmed
  confirmed:
    set: { vars.outcome: confirmed }
    next: bye
  bye:
    hangup: { say: "Thank you. Goodbye." }
"#;

const CONTACTS: usize = 50;

fn engine(plans: &Path, data: &Path, phone_port: u16) -> Engine {
    Engine::start(EngineOptions {
        plans: Some(plans.to_path_buf()),
        data: Some(data.to_path_buf()),
        max_calls: 16,
        extra_toml: format!(
            r#"
{trunk}
"#,
            trunk = ivr_tests::outbound_trunk(phone_port)
        ),
        ..EngineOptions::default()
    })
}

/// A plans folder holding one plan and a contact list (CSV), and a data folder whose store the
/// engine and `ivr campaign` share.
struct Setup {
    plans: tempfile::TempDir,
    data: tempfile::TempDir,
    store: String,
    csv: PathBuf,
}

impl Setup {
    fn new(plan_name: &str, plan: &str, contacts: &str) -> Setup {
        let plans = tempfile::tempdir().unwrap();
        std::fs::write(plans.path().join(format!("{plan_name}.yaml")), plan).unwrap();
        let data = tempfile::tempdir().unwrap();
        let store = data.path().join("ivr.db").to_string_lossy().into_owned();
        let csv = plans.path().join("contacts.csv");
        std::fs::write(&csv, contacts).unwrap();
        Setup {
            plans,
            data,
            store,
            csv,
        }
    }

    /// `ivr campaign create --name NAME --plan PLAN` over the contact list, calling at any hour,
    /// with `more` options; returns what it printed.
    fn create(&self, name: &str, plan: &str, more: &[&str]) -> String {
        let csv = self.csv.to_string_lossy();
        let mut args = vec!["create", "--name", name, "--plan", plan, "--contacts", &csv];
        args.extend_from_slice(more);
        args.extend_from_slice(&[
            "--window",
            "00:00-23:59",
            "--days",
            "all",
            "--store",
            &self.store,
        ]);
        campaign(&args)
    }
}

/// Runs `ivr campaign ARGS…`; returns what it printed, panicking on failure.
fn campaign(args: &[&str]) -> String {
    let out = Command::new(binary())
        .arg("campaign")
        .args(args)
        .output()
        .expect("run ivr campaign");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ivr campaign {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn status(store: &str) -> Value {
    serde_json::from_str(&campaign(&[
        "status", "1", "--store", store, "--format", "json",
    ]))
    .expect("status is JSON")
}

fn wait_until(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} within {timeout:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_campaign_calls_everyone_once_across_a_restart_and_records_what_they_chose() {
    let mut rows = String::from("number,name\n");
    for i in 0..CONTACTS {
        rows.push_str(&format!("+1415555{:04},Person {i}\n", 100 + i));
    }
    rows.push_str("not-a-number,Broken Row\n");
    let setup = Setup::new("reminder", PLAN, &rows);
    let store = &setup.store;

    let phone_port = ports::free_sip_port("127.0.0.1");
    let pcaps = std::env::var("SIPP_PCAPS").unwrap_or_else(|_| "/usr/share/sip-tester".into());
    let phone = Sipp::new("callee_answers", "127.0.0.1:9".parse().unwrap())
        .local_port(phone_port)
        .calls(u32::try_from(CONTACTS).unwrap())
        .template(
            "KEYS",
            &format!(
                "<pause milliseconds=\"1200\"/>\n<nop><action><exec play_pcap_audio=\"{pcaps}/dtmf_2833_1.pcap\"/></action></nop>\n<pause milliseconds=\"600\"/>\n"
            ),
        )
        .template("HOLD", "15000")
        .timeout(secs(150))
        .spawn();

    let first = engine(setup.plans.path(), setup.data.path(), phone_port);
    let created = setup.create(
        "reminders",
        "reminder",
        &["--rate", "10", "--concurrent", "10"],
    );
    assert!(
        created.contains("line 52"),
        "the bad row is reported by line: {created}"
    );

    // Halfway: stop the engine; calls in progress finish, no new ones start.
    wait_until("15 contacts settled", secs(60), || {
        status(store)["progress"]["completed"].as_u64().unwrap_or(0) >= 15
    });
    let mut first = first;
    first.sigterm();
    first.wait_exit(secs(30));
    let halfway = status(store);
    let settled = halfway["progress"]["completed"].as_u64().unwrap_or(0);
    assert!(
        (settled as usize) < CONTACTS,
        "the restart happens mid-campaign: {halfway}"
    );
    drop(first);

    let second = engine(setup.plans.path(), setup.data.path(), phone_port);
    wait_until("the campaign completes", secs(90), || {
        status(store)["state"] == "completed"
    });
    let done = status(store);
    let followed = campaign(&[
        "status", "1", "--store", store, "--format", "json", "--follow",
    ]);
    assert!(
        followed
            .lines()
            .last()
            .is_some_and(|l| l.contains("\"completed\"")),
        "--follow ends with the completed campaign: {followed}"
    );
    let p = &done["progress"];
    assert_eq!(p["contacts"], CONTACTS, "{done}");
    assert_eq!(p["completed"], CONTACTS, "{done}");
    assert_eq!(p["attempts"], CONTACTS, "one attempt each: {done}");
    assert_eq!(p["outcomes"]["answered_human"], CONTACTS, "{done}");

    let export = campaign(&[
        "export", "1", "--store", store, "-o", "-", "--column", "choice", "--column", "outcome",
    ]);
    let mut lines = export.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (choice, outcome) = (column("choice"), column("outcome"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), CONTACTS);
    assert!(
        rows.iter()
            .all(|r| r.get(choice) == Some(&"1") && r.get(outcome) == Some(&"confirmed")),
        "every callee pressed 1 and the plan recorded the outcome:\n{export}"
    );

    let run = phone.wait();
    let mut called: HashMap<String, usize> = HashMap::new();
    for invite in run.requests("INVITE") {
        let uri = invite
            .start_line()
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_string();
        *called.entry(uri).or_default() += 1;
    }
    assert_eq!(called.len(), CONTACTS, "everyone was called: {called:?}");
    assert!(
        called.values().all(|n| *n == 1),
        "nobody was called twice: {called:?}"
    );
    drop(second);
}

const ASSIST_PLAN: &str = r#"
version: 1
name: assist
language: en-US
start: hello
nodes:
  hello:
    say: "Hello, this is about your order. Connecting you to an agent."
    enqueue: support
"#;

#[test]
fn an_agent_assisted_campaign_dials_only_when_an_agent_is_free() {
    use ivr_proto::v1::agent_event::Event as AgentEv;
    use ivr_proto::v1::AcceptRequest;

    let setup = Setup::new(
        "assist",
        ASSIST_PLAN,
        "number\n+14155550201\n+14155550202\n",
    );
    let store = &setup.store;
    let callee_port = ports::free_sip_port("127.0.0.1");
    let agent_port = ports::free_sip_port("127.0.0.1");
    let callee = Sipp::new("callee_answers", "127.0.0.1:9".parse().unwrap())
        .local_port(callee_port)
        .calls(2)
        .template("KEYS", "")
        .template("HOLD", "20000")
        .timeout(secs(60))
        .spawn();
    let engine = Engine::start(EngineOptions {
        plans: Some(setup.plans.path().to_path_buf()),
        data: Some(setup.data.path().to_path_buf()),
        extra_toml: format!(
            r#"
{trunk}

[api]
listen = "127.0.0.1:0"
tokens = [ {{ token = "{ANN}", principal = "ann", role = "agent" }} ]

[acd]
[[acd.queues]]
name = "support"
wrap_up = "1s"
"#,
            trunk = ivr_tests::outbound_trunk(callee_port),
            ANN = super::center::ANN
        ),
        ..EngineOptions::default()
    });
    setup.create(
        "assist",
        "assist",
        &["--queue", "support", "--rate", "10", "--concurrent", "5"],
    );
    // Nobody is logged in: nobody is called.
    std::thread::sleep(secs(3));
    assert!(
        engine.events_named("outbound").is_empty(),
        "dialled with no agent free:\n{}",
        engine.events_text()
    );

    // One agent, whose phone hangs up after a short talk: one call at a time.
    let agent_phone = Sipp::new("agent_hangs_up", engine.sip_udp)
        .local_port(agent_port)
        .calls(2)
        .template("TALK", "1500")
        .timeout(secs(60))
        .spawn();
    let grpc = engine.grpc.expect("the gRPC address");
    let rt = super::runtime();
    rt.block_on(async {
        let contact = format!("sip:ann@127.0.0.1:{agent_port}");
        let (mut desk, mut events) =
            super::center::log_in(grpc, "ann", super::center::ANN, &contact).await;
        for _ in 0..2 {
            let AgentEv::Offer(offer) = super::center::next_event(&mut events, secs(20), |e| {
                matches!(e, AgentEv::Offer(_))
            })
            .await
            else {
                unreachable!()
            };
            desk.accept(super::center::with_token(
                AcceptRequest {
                    agent_id: "ann".into(),
                    offer_id: offer.offer_id,
                },
                super::center::ANN,
            ))
            .await
            .expect("accept");
            super::center::next_event(&mut events, secs(20), |e| {
                matches!(e, AgentEv::WrapUpEnded(_))
            })
            .await;
        }
    });
    wait_until("the campaign completes", secs(30), || {
        status(store)["state"] == "completed"
    });
    // The second callee was dialled only once the first call had ended.
    let placed: Vec<_> = engine.events_named("outbound");
    assert_eq!(placed.len(), 2, "{}", engine.events_text());
    let first_ended = engine
        .events_named("hangup")
        .into_iter()
        .find(|e| e.call_id() == placed[0].call_id())
        .expect("the first call ended");
    assert!(
        placed[1].str("ts") > first_ended.str("ts"),
        "the second call was placed while the only agent was busy:\n{}",
        engine.events_text()
    );
    let done = status(store);
    assert_eq!(done["progress"]["outcomes"]["answered_human"], 2, "{done}");
    drop(callee.wait());
    drop(agent_phone.wait());
}

#[test]
fn a_campaign_whose_plan_is_not_loaded_calls_nobody_and_keeps_its_contacts() {
    let setup = Setup::new("reminder", PLAN, "number\n+14155550301\n+14155550302\n");
    let store = &setup.store;
    let engine = engine(
        setup.plans.path(),
        setup.data.path(),
        ports::free_sip_port("127.0.0.1"),
    );
    setup.create("typo", "remindr", &[]);
    wait_until("the engine names the missing plan", secs(10), || {
        engine.stderr().contains("dial plan is not loaded")
    });
    std::thread::sleep(secs(2));
    let p = &status(store)["progress"];
    assert_eq!(p["attempts"], 0, "{p}");
    assert_eq!(p["pending"], 2, "{p}");
    assert!(engine.events_named("outbound").is_empty());
}
