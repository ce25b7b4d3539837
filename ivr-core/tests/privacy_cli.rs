//! `ivr recording export`, `ivr privacy export|erase` and `ivr audit-verify`, run as the real
//! binary against a real SQLite store, sealed recordings and an audit log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ivr_core::store::{CallStart, Cdr, Direction, Speaker, Store, Turn};

const CALLER: &str = "+8613912345678";
const KEY1: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const KEY2: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn ivr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(args)
        .output()
        .expect("the ivr binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A configuration with three principals and the given recording keys.
fn write_config(dir: &Path, name: &str, active: &str, keys: &[(&str, &str)]) -> PathBuf {
    let mut toml = String::from(
        "[server]\ndata = \"data\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n\
         tokens = [\n\
           { token = \"alice-token-0123456789\", principal = \"alice\", role = \"admin\" },\n\
           { token = \"sam-token-0123456789ab\", principal = \"sam\", role = \"supervisor\" },\n\
           { token = \"bob-token-0123456789ab\", principal = \"bob\", role = \"agent\" },\n\
         ]\n\n",
    );
    toml += &format!("[privacy]\nactive_key = \"{active}\"\n\n[privacy.recording_keys]\n");
    for (id, key) in keys {
        let file = dir.join(format!("{name}-{id}.key"));
        std::fs::write(&file, key).unwrap();
        toml += &format!("{id} = {{ file = \"{}\" }}\n", file.display());
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml).unwrap();
    path
}

/// A real call recording: espeak-ng speech as a stereo 8 kHz WAV (sox).
fn real_wav(out: &Path) {
    let mono = out.with_extension("mono.wav");
    assert!(Command::new("espeak-ng")
        .args([
            "-w",
            mono.to_str().unwrap(),
            "Your call is important to us."
        ])
        .status()
        .unwrap()
        .success());
    assert!(Command::new("sox")
        .args([mono.to_str().unwrap(), "-r", "8000", "-c", "2", "-b", "16"])
        .arg(out)
        .status()
        .unwrap()
        .success());
    std::fs::remove_file(mono).unwrap();
}

#[tokio::test]
async fn rights_commands_are_authorised_audited_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    std::fs::create_dir_all(data.join("recordings")).unwrap();
    let config = write_config(d, "ivr", "k1", &[("k1", KEY1)]);

    // A call from the caller, with a transcript, and its sealed recording.
    let store = Store::open(data.join("ivr.db").to_str().unwrap())
        .await
        .unwrap();
    let mut cdr = Cdr::started(CallStart {
        call_id: "c-1".into(),
        direction: Direction::Inbound,
        from_number: CALLER.into(),
        to_number: "+861095588".into(),
        trunk: "carrier".into(),
        started_at_unix_ms: 1_700_000_000_000,
        dial_plan: "bank".into(),
        dial_plan_version: "1".into(),
    });
    cdr.talk_ms = 30_000;
    store.finish_call(&cdr).await.unwrap();
    store
        .append_turn(&Turn {
            call_id: "c-1".into(),
            seq: 0,
            who: Speaker::Caller,
            text: "please send it to Quillfeather Lane".into(),
            node: None,
            at_ms: 0,
        })
        .await
        .unwrap();
    store.close().await;
    let wav = data.join("recordings/c-1.wav");
    real_wav(&wav);
    let original = std::fs::read(&wav).unwrap();
    let ring = ivr_core::privacy::crypt::Keyring::parse(&format!("k1:{KEY1}"), "test").unwrap();
    ivr_core::privacy::recording::seal(&wav, &ring).unwrap();

    let cfg = config.to_str().unwrap();
    let out = d.join("out.wav");
    let out_s = out.to_str().unwrap();

    // An agent may not export a recording.
    let o = ivr(&[
        "recording",
        "export",
        "c-1",
        "-o",
        out_s,
        "--config",
        cfg,
        "--principal",
        "bob",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("bob") && err.contains("admin or supervisor"),
        "{err}"
    );
    assert!(!out.exists());
    // Neither may someone the configuration does not name.
    let o = ivr(&[
        "recording",
        "export",
        "c-1",
        "-o",
        out_s,
        "--config",
        cfg,
        "--principal",
        "eve",
    ]);
    assert_eq!(o.status.code(), Some(2));

    // A supervisor may: the decrypted WAV is the original.
    let o = ivr(&[
        "recording",
        "export",
        "c-1",
        "-o",
        out_s,
        "--config",
        cfg,
        "--principal",
        "sam",
        "--reason",
        "ticket 7781",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), original);

    // Without the key the file was sealed with, the error names that key.
    let rotated = write_config(d, "rotated", "k2", &[("k2", KEY2)]);
    let o = ivr(&[
        "recording",
        "export",
        "c-1",
        "-o",
        d.join("x.wav").to_str().unwrap(),
        "--config",
        rotated.to_str().unwrap(),
        "--principal",
        "alice",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("key k1"), "{}", text(&o.stderr));

    // Export of the caller's data.
    let export = d.join("caller.json");
    let o = ivr(&[
        "privacy",
        "export",
        "--caller",
        CALLER,
        "-o",
        export.to_str().unwrap(),
        "--config",
        cfg,
        "--principal",
        "sam",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    assert_eq!(doc["calls"][0]["call_id"], "c-1");
    assert_eq!(
        doc["calls"][0]["transcript"][0]["text"],
        "please send it to Quillfeather Lane"
    );
    assert_eq!(doc["calls"][0]["recordings"][0]["encrypted"], true);

    // Erasure needs an admin.
    let erase = |who: &str| {
        ivr(&[
            "privacy",
            "erase",
            "--caller",
            CALLER,
            "--config",
            cfg,
            "--principal",
            who,
        ])
    };
    assert_eq!(erase("sam").status.code(), Some(2));
    let o = erase("alice");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let result: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let token = result["token"].as_str().unwrap().to_string();
    assert_eq!(result["erased"]["calls"], 1);
    assert!(!data.join("recordings/c-1.wav.enc").exists());

    // The audit log holds every action and refusal, without the number, and verifies.
    let audit = data.join("audit.jsonl");
    let o = ivr(&["audit-verify", audit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("6 entries, chain intact"),
        "{}",
        text(&o.stdout)
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    let digits = CALLER.trim_start_matches('+');
    assert!(!log.contains(digits), "{log}");
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String, bool)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["details"]["refused"] == true,
            )
        })
        .collect();
    let expected = [
        ("bob", "recording.export", true),
        ("eve", "recording.export", true),
        ("sam", "recording.export", false),
        ("sam", "privacy.export", false),
        ("sam", "privacy.erase", true),
        ("alice", "privacy.erase", false),
    ];
    assert_eq!(
        summary,
        expected
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
            .collect::<Vec<_>>()
    );
    assert_eq!(entries[2]["target"], "c-1");
    assert_eq!(entries[2]["details"]["reason"], "ticket 7781");
    assert_eq!(entries[5]["target"], token.as_str());
    assert_eq!(entries[5]["role"], "admin");
}
