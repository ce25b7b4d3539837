use super::*;
use crate::api::TokenConfig;
use crate::privacy::crypt::Keyring;
use crate::store::{
    CallEvent, CallStart, Callback, CallbackStatus, Direction, Outcome, SlotValue, Speaker, Turn,
};

const CALLER: &str = "+8613800138000";
const OTHER: &str = "+15551230000";
const SECRET_SAID: &str = "my mother's maiden name is Ravensworth";
const QA_NOTE: &str = "caller sounded upset about the Zhangjiakou branch";
const KEY: &str = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    db: PathBuf,
    store: Store,
}

fn cdr(id: &str, from: &str, to: &str, at: i64) -> Cdr {
    let mut c = Cdr::started(CallStart {
        call_id: id.into(),
        direction: if from == CALLER || from == OTHER {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        from_number: from.into(),
        to_number: to.into(),
        trunk: "carrier".into(),
        started_at_unix_ms: at,
        dial_plan: "bank".into(),
        dial_plan_version: "3".into(),
    });
    c.answered_at_unix_ms = Some(at + 1_000);
    c.ended_at_unix_ms = Some(at + 61_000);
    c.outcome = Some(Outcome::Transferred);
    c.queue = Some("cards".into());
    c.wait_ms = 12_000;
    c.talk_ms = 45_000;
    c.disposition = Some("resolved".into());
    c.notes = Some(format!("called from {from}"));
    c.slots = vec![SlotValue {
        name: "account".into(),
        value: "****5678".into(),
        sensitive: true,
    }];
    c
}

/// A real SQLite store and data folder: the caller has two calls (one in, one out), a
/// callback, a QA result, a sealed recording and a voicemail; another caller has one call.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("recordings")).unwrap();
    let db = data.join("ivr.db");
    let store = Store::open(db.to_str().unwrap()).await.unwrap();
    let calls = [
        cdr("in-1@10.0.0.5", CALLER, "+861095588", 1_700_000_000_000),
        cdr("out-2", "+861095588", CALLER, 1_700_000_500_000),
        cdr("other-3", OTHER, "+861095588", 1_700_000_900_000),
    ];
    for c in &calls {
        store.finish_call(c).await.unwrap();
        store
            .append_event(&CallEvent {
                call_id: c.call_id.clone(),
                at_unix_ms: c.started_at_unix_ms,
                name: "started".into(),
                data: json!({"from": c.from_number, "to": c.to_number}),
            })
            .await
            .unwrap();
        for (seq, (who, text)) in [
            (Speaker::Ivr, "Welcome to Acme Bank."),
            (
                Speaker::Caller,
                if c.from_number == OTHER {
                    "what is my balance"
                } else {
                    SECRET_SAID
                },
            ),
        ]
        .into_iter()
        .enumerate()
        {
            store
                .append_turn(&Turn {
                    call_id: c.call_id.clone(),
                    seq: seq as u32,
                    who,
                    text: text.into(),
                    node: Some("main".into()),
                    at_ms: seq as u64 * 2_000,
                })
                .await
                .unwrap();
        }
    }
    for (id, number) in [("cb-1", CALLER), ("cb-2", OTHER)] {
        store
            .save_callback(&Callback {
                id: id.into(),
                queue: "cards".into(),
                number: number.into(),
                priority: 1,
                enqueued_at_unix_ms: 1_700_000_000_500,
                context: json!({"intent": "card_lost"}),
                status: CallbackStatus::Pending,
            })
            .await
            .unwrap();
    }
    // Quality-inspection results (their findings may quote what was said), keyed by call id.
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    use sqlx::Connection as _;
    for (call, note) in [("in-1@10.0.0.5", QA_NOTE), ("other-3", "fine")] {
        sqlx::query("INSERT INTO qa_results (call_id, rules, score, findings, scored_at) VALUES ($1, 'r1', 75, $2, 1700000000000)")
            .bind(call)
            .bind(serde_json::json!([{"rule_id": "closing", "message": note}]).to_string())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    // Recordings: the inbound call sealed, a voicemail left in the outbound one, the other
    // caller's recording plain.
    let ring = Keyring::parse(KEY, "test").unwrap();
    let wav = crate::privacy::recording::tests::real_wav(&data.join("recordings"), "in-1_10.0.0.5");
    crate::privacy::recording::seal(&wav, &ring).unwrap();
    let vm = crate::flow::voicemail_path(&data, "sales", "out-2");
    std::fs::create_dir_all(vm.parent().unwrap()).unwrap();
    std::fs::write(&vm, b"RIFF voicemail").unwrap();
    std::fs::write(data.join("recordings/other-3.wav"), b"RIFF other").unwrap();
    // The event log, as the engine writes it.
    let mut log = String::new();
    for c in &calls {
        log += &format!(
            "{}\n",
            json!({"ts": "2023-11-14T22:13:20.000Z", "call_id": c.call_id, "event": "incoming", "from": c.from_number, "to": c.to_number})
        );
    }
    std::fs::write(data.join("events.jsonl"), log).unwrap();
    Fixture {
        _dir: dir,
        data,
        db,
        store,
    }
}

#[tokio::test]
async fn export_holds_every_record_of_the_caller_and_nothing_of_others() {
    let f = fixture().await;
    let doc = export_caller(&f.store, &f.data, CALLER).await.unwrap();
    let calls = doc["calls"].as_array().unwrap();
    let ids: Vec<&str> = calls
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["in-1@10.0.0.5", "out-2"]);
    for c in calls {
        assert_eq!(c["transcript"].as_array().unwrap().len(), 2);
        assert_eq!(c["transcript"][1]["text"], SECRET_SAID);
        assert_eq!(c["events"][0]["name"], "started");
        assert_eq!(c["talk_ms"], 45_000);
        assert_eq!(c["slots"][0]["value"], "****5678");
    }
    assert_eq!(calls[0]["from"], CALLER);
    assert_eq!(calls[1]["to"], CALLER);
    let qa = &calls[0]["other"]["qa_results"][0];
    assert!(
        qa["findings"].as_str().is_some_and(|f| f.contains(QA_NOTE)),
        "{qa}"
    );
    assert_eq!(qa["score"], 75);
    assert_eq!(
        calls[0]["recordings"][0]["file"],
        "recordings/in-1_10.0.0.5.wav.enc"
    );
    assert_eq!(calls[0]["recordings"][0]["encrypted"], true);
    assert_eq!(
        calls[1]["recordings"][0]["file"],
        "voicemail/sales/out-2.wav"
    );
    assert_eq!(doc["callbacks"].as_array().unwrap().len(), 1);
    assert_eq!(doc["callbacks"][0]["id"], "cb-1");
    let text = doc.to_string();
    assert!(!text.contains(OTHER) && !text.contains("other-3"), "{text}");
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn erasure_leaves_no_trace_in_the_database_file_and_keeps_anonymous_statistics() {
    let f = fixture().await;
    let report = erase_caller(&f.store, &f.data, CALLER).await.unwrap();
    assert!(report.token.starts_with("erased:") && report.token.len() == 19);
    assert_eq!(
        report.counts,
        ErasureCounts {
            calls: 2,
            turns: 4,
            events: 2,
            callbacks: 1,
            other_rows: 1
        }
    );
    assert_eq!(report.files_deleted.len(), 2);
    assert_eq!(report.event_log_lines, 2);

    // The statistics survive, anonymised.
    let inbound = f.store.call("in-1@10.0.0.5").await.unwrap().unwrap();
    assert_eq!(inbound.from_number, report.token);
    assert_eq!(inbound.to_number, "+861095588");
    assert_eq!((inbound.talk_ms, inbound.wait_ms), (45_000, 12_000));
    assert_eq!(inbound.outcome, Some(Outcome::Transferred));
    assert_eq!(inbound.disposition.as_deref(), Some("resolved"));
    assert!(inbound.slots.is_empty() && inbound.notes.is_none());
    let outbound = f.store.call("out-2").await.unwrap().unwrap();
    assert_eq!(outbound.to_number, report.token);
    assert!(f.store.transcript("out-2").await.unwrap().is_empty());
    let events = f.store.events("out-2").await.unwrap();
    assert_eq!(
        (events[0].name.as_str(), &events[0].data),
        ("started", &json!({}))
    );
    assert!(f.store.calls_for_number(CALLER).await.unwrap().is_empty());
    // The other caller is untouched.
    assert_eq!(f.store.transcript("other-3").await.unwrap().len(), 2);
    assert_eq!(f.store.callbacks_for_number(OTHER).await.unwrap().len(), 1);
    assert_eq!(
        f.store
            .call_rows("qa_results", "other-3")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(f.data.join("recordings/other-3.wav").exists());
    assert!(!f.data.join("recordings/in-1_10.0.0.5.wav.enc").exists());
    assert!(!f.data.join("voicemail/sales/out-2.wav").exists());

    // No byte of the number, the transcript or the QA note is left in any database file.
    f.store.close().await;
    let digits = CALLER.trim_start_matches('+');
    let mut files = 0;
    for entry in std::fs::read_dir(&f.data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("ivr.db") {
            continue;
        }
        // SQLite removes its -wal and -shm files as the last connection closes.
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{name}: {e}"),
        };
        files += 1;
        for needle in [digits, "Ravensworth", "Zhangjiakou"] {
            assert!(!contains(&bytes, needle), "{needle} found in {name}");
        }
        if name == "ivr.db" {
            assert!(contains(&bytes, OTHER), "the other caller is still there");
            assert!(contains(&bytes, &report.token));
        }
    }
    assert!(files >= 1);
    assert_eq!(std::fs::metadata(&f.db).unwrap().len() % 4096, 0);

    // The event log: the caller's lines are scrubbed in place, the others kept.
    let log = std::fs::read_to_string(f.data.join("events.jsonl")).unwrap();
    assert!(!log.contains(digits), "{log}");
    assert!(log.contains(OTHER));
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["erased"], true);
    assert_eq!(lines[0]["event"], "incoming");
}

#[tokio::test]
async fn erasing_a_number_with_no_calls_changes_nothing() {
    let f = fixture().await;
    let report = erase_caller(&f.store, &f.data, "+440000000000")
        .await
        .unwrap();
    assert_eq!(report.counts, ErasureCounts::default());
    assert!(report.files_deleted.is_empty());
    assert_eq!(f.store.calls_for_number(CALLER).await.unwrap().len(), 2);
}

#[test]
fn erasure_tokens_differ_each_time_and_do_not_show_the_number() {
    let a = erasure_token(CALLER);
    let b = erasure_token(CALLER);
    assert_ne!(a, b);
    assert!(!a.contains("138"));
}

#[test]
fn event_log_scrub_keeps_line_lengths_and_other_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("events.jsonl");
    let lines = [
        json!({"ts": "t", "call_id": "a", "event": "incoming", "from": CALLER}).to_string(),
        "not json at all".to_string(),
        json!({"ts": "t", "call_id": "b", "event": "incoming", "from": OTHER}).to_string(),
        json!({"call_id": "a", "event": "x"}).to_string(),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&p, &text).unwrap();
    let ids: HashSet<String> = ["a".to_string()].into();
    assert_eq!(scrub_event_log(&p, &ids).unwrap(), 2);
    let after = std::fs::read_to_string(&p).unwrap();
    assert_eq!(after.len(), text.len());
    assert!(!after.contains(CALLER));
    assert!(after.contains(OTHER) && after.contains("not json at all"));
    for (old, new) in text.lines().zip(after.lines()) {
        assert_eq!(old.len(), new.len());
    }
    // Scrubbing again finds nothing new.
    assert_eq!(scrub_event_log(&p, &ids).unwrap(), 0);
}

fn api(tokens: &[(&str, Role)]) -> ApiConfig {
    ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: tokens
            .iter()
            .map(|(p, r)| TokenConfig {
                token: Some("0123456789abcdef0123".into()),
                token_env: None,
                principal: p.to_string(),
                role: *r,
            })
            .collect(),
        tls: None,
    }
}

#[test]
fn only_configured_supervisors_and_admins_are_authorised() {
    let a = api(&[
        ("alice", Role::Admin),
        ("sam", Role::Supervisor),
        ("bob", Role::Agent),
        ("sam", Role::Agent),
    ]);
    let both = [Role::Admin, Role::Supervisor];
    assert_eq!(
        authorise(Some(&a), "alice", &both, "x").unwrap(),
        Role::Admin
    );
    assert_eq!(
        authorise(Some(&a), "sam", &both, "x").unwrap(),
        Role::Supervisor
    );
    let err = authorise(Some(&a), "bob", &both, "export a recording").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bob") && msg.contains("admin or supervisor") && msg.contains("it has agent"),
        "{msg}"
    );
    assert!(matches!(
        authorise(Some(&a), "mallory", &both, "x"),
        Err(RightsError::NotAuthorised { found: None, .. })
    ));
    assert!(authorise(Some(&a), "sam", &[Role::Admin], "erase").is_err());
    assert!(matches!(
        authorise(None, "alice", &both, "x"),
        Err(RightsError::NoApiConfig)
    ));
}

#[test]
fn a_sealed_call_recording_is_read_only_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    std::fs::create_dir_all(data.join("recordings")).unwrap();
    let wav = crate::privacy::recording::tests::real_wav(&data.join("recordings"), "c-9");
    let plain = std::fs::read(&wav).unwrap();
    let ring = Keyring::parse(KEY, "test").unwrap();
    crate::privacy::recording::seal(&wav, &ring).unwrap();
    let (source, bytes) = read_call_recording(data, "c-9", Some(&ring)).unwrap();
    assert_eq!(bytes, plain);
    assert!(source.ends_with("c-9.wav.enc"));
    let msg = read_call_recording(data, "c-9", None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("key k1"), "{msg}");
    assert!(matches!(
        read_call_recording(data, "nope", Some(&ring)),
        Err(RightsError::NoRecording { .. })
    ));
    let out = data.join("out.wav");
    write_private_file(&out, &bytes).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), plain);
}
