//! Callers who talk: real espeak-ng speech sent as G.711 RTP from the test's socket while SIPp
//! does the signalling, recognised by the engine's embedded recogniser (PocketSphinx) against
//! the grammar of the dial plan's current step.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ivr_tests::audio::{self, FRAME};
use ivr_tests::codec::{self, G711};
use ivr_tests::{binary, workspace_root, Engine, EngineOptions, Offer, RtpPeer, Sipp, SippChild};

use super::{ms, secs};

/// The bank plan in a fresh folder, its webhooks pointed at a closed port (they fail with
/// `connect`, which the plan handles).
fn bank_plan() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace_root().join("examples/bank.yaml")).unwrap();
    let text = text.replace("127.0.0.1:8089", "127.0.0.1:9");
    std::fs::write(dir.path().join("bank.yaml"), text).unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// A caller on the line: SIPp's dialog, the test's RTP socket.
struct Caller {
    peer: RtpPeer,
    engine_rtp: std::net::SocketAddr,
    sipp: Option<SippChild>,
    scratch: tempfile::TempDir,
}

impl Caller {
    /// Calls `engine` and waits for its first RTP packet; stays on the line `hold` at most.
    fn call(engine: &Engine, hold: Duration) -> Caller {
        Caller::call_offering(engine, hold, Offer::new)
    }

    /// [`Caller::call`] with the SDP offer made by `offer` for the caller's RTP port.
    fn call_offering(engine: &Engine, hold: Duration, offer: impl Fn(u16) -> Offer) -> Caller {
        let peer = RtpPeer::bind();
        let sipp = Sipp::new("call_talk", engine.sip_udp)
            .offer(&offer(peer.port()))
            .template("HOLD", &hold.as_millis().to_string())
            .timeout(hold + secs(15))
            .spawn();
        let engine_rtp = peer.engine_addr(secs(10));
        Caller {
            peer,
            engine_rtp,
            sipp: Some(sipp),
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// Says `text` (espeak-ng, US English) in real time, followed by a second of silence.
    fn say(&mut self, text: &str) {
        let mut samples = audio::speech_in(text, "en-us", 150, self.scratch.path());
        samples.extend(audio::silence(1000));
        self.peer.send_audio(self.engine_rtp, G711::Pcmu, &samples);
    }

    /// Waits until the engine has finished speaking (no RTP for 700 ms).
    fn hear_out(&self) {
        self.peer.wait_quiet(ms(700), secs(30));
    }

    fn hang_up(mut self) {
        if let Some(s) = self.sipp.take() {
            drop(s.wait());
        }
    }

    /// Drops off the line without waiting for SIPp's hold time.
    fn drop_off(mut self) {
        if let Some(s) = self.sipp.take() {
            s.kill();
        }
    }
}

/// Renders `text` with `ivr say` and returns its G.711 µ-law frames (what the engine's cache
/// sends for the same sentence), without the padded last frame.
fn spoken_frames(text: &str, dir: &Path) -> Vec<Vec<u8>> {
    let wav = dir.join("reply.wav");
    let out = std::process::Command::new(binary())
        .args(["say", text, "-o"])
        .arg(&wav)
        .output()
        .expect("run ivr say");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = audio::read_wav(&wav);
    samples
        .chunks_exact(FRAME)
        .map(|f| codec::encode(G711::Pcmu, f))
        .collect()
}

#[test]
fn a_caller_talks_over_the_welcome_and_reaches_the_card_menu_by_voice() {
    let (_dir, plans) = bank_plan();
    let engine = Engine::start(EngineOptions {
        plans: Some(plans),
        ..EngineOptions::default()
    });
    let mut caller = Caller::call(&engine, secs(60));
    let answered = Instant::now();
    // A second into the twelve-second welcome, the caller says what they want.
    std::thread::sleep(ms(1000));
    caller.say("I lost my card");
    let text = || engine.events_text();
    engine.wait_event("barge_in", secs(5), |_| true);
    let intent = engine.wait_event("intent", secs(10), |_| true);
    assert_eq!(intent.str("name"), Some("lost_card"), "{}", text());
    assert!(
        answered.elapsed() < secs(8),
        "the welcome was not cut short: {:?}",
        answered.elapsed()
    );
    let heard = engine.wait_event("recognized", secs(5), |_| true);
    assert!(heard.f64("confidence").is_some(), "{}", text());
    // Heard through the engine's own acoustic scorer (speech.pocketsphinx_simd, on by default).
    let log = engine.stderr();
    let scoring = log
        .lines()
        .find(|l| l.contains("PocketSphinx acoustic scoring"));
    assert!(scoring.is_some_and(|l| l.contains("\"simd\"")), "{log}");

    // The last four digits of the card, spoken.
    caller.hear_out();
    caller.say("four two five one");
    let slot = engine.wait_event("slot", secs(10), |_| true);
    assert_eq!(slot.str("value"), Some("4251"), "{}", text());

    // "Is that right? Say yes or no."
    caller.hear_out();
    caller.say("yes");
    engine.wait_event("node", secs(10), |e| e.str("node") == Some("block_card"));
    caller.drop_off();
}

#[test]
fn what_the_caller_hears_is_the_synthesized_reply() {
    let (_dir, plans) = bank_plan();
    let engine = Engine::start(EngineOptions {
        plans: Some(plans),
        ..EngineOptions::default()
    });
    let mut caller = Caller::call(&engine, secs(40));
    caller.hear_out();
    let before = caller.peer.received().len();
    caller.say("check my balance");
    engine.wait_event("intent", secs(10), |e| e.str("name") == Some("balance"));
    caller.hear_out();
    let reply: Vec<Vec<u8>> = caller.peer.received()[before..]
        .iter()
        .filter_map(|r| r.packet.as_ref().map(|p| p.payload.clone()))
        .collect();
    let expected = spoken_frames(
        "Please key in or say your eight digit account number.",
        caller.scratch.path(),
    );
    // The reply is the same synthesis: espeak-ng carries a little state from sentence to
    // sentence (pauses shift by a few milliseconds), so compare the loudness envelopes (per 20 ms
    // frame), not bytes; and it is not some other sentence.
    let envelope = |frames: &[Vec<u8>]| -> Vec<i16> {
        frames
            .iter()
            .map(|f| {
                let pcm = codec::decode(G711::Pcmu, f);
                let e = pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / pcm.len() as f64;
                (10.0 * (e + 1.0).log10() * 100.0) as i16
            })
            .collect()
    };
    let heard = envelope(&reply);
    let best = |frames: &[Vec<u8>]| -> f64 {
        let want = envelope(frames);
        (0..=heard.len().saturating_sub(want.len()))
            .map(|k| audio::correlation(&heard[k..], &want))
            .fold(0.0, f64::max)
    };
    let same = best(&expected);
    let other = best(&spoken_frames(
        "Sorry, I didn't get that.",
        caller.scratch.path(),
    ));
    assert!(
        same > 0.95 && other < 0.8,
        "the caller did not hear the synthesized question: correlation {same:.2} with it, {other:.2} with another sentence ({} frames heard)",
        reply.len()
    );
    caller.drop_off();
}

#[test]
fn a_caller_whose_language_has_no_recogniser_is_asked_for_keys_and_carries_on() {
    // PocketSphinx has no Mandarin model: speech cannot be recognised, the keypad still works.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zh.yaml"),
        r#"version: 1
name: zh-line
language: zh-CN
intents:
  hours: { examples: ["营业时间"], dtmf: "1" }
start: main
nodes:
  main:
    say: "您好。查询营业时间请按一。"
    listen: { intents: [hours], timeout: 8s }
    on: { hours: bye }
  bye:
    hangup: { say: "再见。" }
"#,
    )
    .unwrap();
    let engine = Engine::start(EngineOptions {
        plans: Some(dir.path().to_path_buf()),
        ..EngineOptions::default()
    });
    let mut caller = Caller::call(&engine, secs(30));
    caller.hear_out();
    caller.say("hello is anybody there");
    let e = engine.wait_event("asr_unavailable", secs(5), |_| true);
    assert!(
        e.str("error").is_some_and(|t| t.contains("zh")),
        "{}",
        engine.events_text()
    );
    // The engine says to use the keypad, then the key works.
    caller.hear_out();
    caller.peer.send_event(caller.engine_rtp, 101, 1, 6);
    let intent = engine.wait_event("intent", secs(5), |_| true);
    assert_eq!(
        intent.str("name"),
        Some("hours"),
        "{}",
        engine.events_text()
    );
    engine.wait_event("hangup", secs(10), |e| e.str("by") == Some("engine"));
    caller.hang_up();
}

#[test]
fn a_caller_the_plan_cannot_understand_reaches_a_person_after_two_tries() {
    let (_dir, plans) = bank_plan();
    let engine = Engine::start(EngineOptions {
        plans: Some(plans),
        ..EngineOptions::default()
    });
    let mut caller = Caller::call(&engine, secs(90));
    // The caller talks about something else; when the engine guesses ("did you mean …?"), they
    // say no. The plan must give up on them and hand them over, not loop.
    // (Sentences the recogniser, held to the bank's vocabulary, maps to no intent with
    // confidence in any test voice: see the out-of-domain set in speech/tests/asr_accuracy.rs.)
    let nonsense = [
        "the weather is lovely today",
        "the cat is sleeping on the sofa",
        "the train was late again",
        "we are going to the beach next week",
    ];
    for said in nonsense {
        caller.hear_out();
        if !engine.events_named("escalation").is_empty() {
            break;
        }
        let guessed = engine
            .events()
            .iter()
            .rev()
            .find(|e| matches!(e.name(), "did_you_mean" | "no_match" | "no_input"))
            .is_some_and(|e| e.name() == "did_you_mean");
        caller.say(if guessed { "no" } else { said });
    }
    let esc = engine.wait_event("escalation", secs(15), |_| true);
    assert_eq!(
        esc.str("reason"),
        Some("retries"),
        "{}",
        engine.events_text()
    );
    // The bank hands over to the support queue in opening hours and to voicemail outside them;
    // either way, what the caller said is in the handover.
    let handed = engine
        .try_wait_event(secs(20), |e| {
            e.name() == "enqueued" || e.str("node") == Some("after_hours")
        })
        .unwrap_or_else(|| panic!("no handover:\n{}", engine.events_text()));
    if handed.name() == "enqueued" {
        let transcript = handed.0["context"]["transcript"].to_string();
        assert!(transcript.contains("weather"), "{transcript}");
    }
    caller.drop_off();
}

#[test]
fn without_a_speech_model_the_engine_starts_and_callers_use_the_keypad() {
    let (_dir, plans) = bank_plan();
    let engine = Engine::start(EngineOptions {
        plans: Some(plans),
        extra_toml: "[speech]\npocketsphinx_model = \"/nonexistent/pocketsphinx-model\"\n".into(),
        ..EngineOptions::default()
    });
    // The log says what is missing and what happens instead.
    let log = engine.stderr();
    assert!(
        log.contains("/nonexistent/pocketsphinx-model") && log.contains("keypad"),
        "{log}"
    );
    let mut caller = Caller::call(&engine, secs(30));
    std::thread::sleep(ms(500));
    // Speech is not heard (no recogniser), keys are.
    caller.say("check my balance");
    assert!(engine.events_named("recognized").is_empty());
    caller.peer.send_event(caller.engine_rtp, 101, 1, 6);
    let intent = engine.wait_event("intent", secs(5), |_| true);
    assert_eq!(
        intent.str("name"),
        Some("balance"),
        "{}",
        engine.events_text()
    );
    caller.drop_off();
}

#[test]
fn the_recording_is_encrypted_and_has_silence_where_a_sensitive_number_was_keyed() {
    let (dir, plans) = bank_plan();
    // A recording key in a file (the engine reads it at start; the file name is in the config).
    let key = dir.path().join("k1.key");
    std::fs::write(&key, "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=").unwrap();
    let engine = Engine::start(EngineOptions {
        plans: Some(plans),
        recording: true,
        extra_toml: format!(
            r#"
[api]
listen = "127.0.0.1:0"
tokens = [ {{ token = "admin-token-0123456789", principal = "root", role = "admin" }} ]

[privacy]
active_key = "k1"
[privacy.recording_keys]
k1 = {{ file = "{}" }}
"#,
            key.display()
        ),
        ..EngineOptions::default()
    });
    // No telephone-event: the keys are tones in the audio, which a recording would keep.
    let mut caller = Caller::call_offering(&engine, secs(25), Offer::pcmu_only);
    std::thread::sleep(ms(500));
    let tones = |keys: &str| audio::dtmf_tones(keys, 120, 120);
    caller
        .peer
        .send_audio(caller.engine_rtp, G711::Pcmu, &tones("1"));
    engine.wait_event("intent", secs(5), |e| e.str("name") == Some("balance"));
    caller.hear_out();
    // The eight-digit account number: a sensitive slot.
    caller
        .peer
        .send_audio(caller.engine_rtp, G711::Pcmu, &tones("23456789"));
    let slot = engine.wait_event("slot", secs(5), |_| true);
    assert_eq!(
        slot.str("value"),
        Some("****6789"),
        "{}",
        engine.events_text()
    );
    caller.hang_up();

    let ended = engine.wait_event("ended", secs(10), |_| true);
    let sealed = engine.wait_event("recording_sealed", secs(10), |_| true);
    let path = sealed.str("path").expect("the sealed file").to_string();
    assert_eq!(ended.str("recording"), Some(path.as_str()));
    assert!(path.ends_with(".wav.enc"), "{path}");
    assert!(
        !std::path::Path::new(path.trim_end_matches(".enc")).exists(),
        "no plain copy is left"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(!bytes.starts_with(b"RIFF"), "the file at rest is not a WAV");
    // An administrator exports it, decrypted.
    let out = engine.dir().join("export.wav");
    let export = std::process::Command::new(binary())
        .args(["recording", "export", ended.call_id(), "-o"])
        .arg(&out)
        .arg("--config")
        .arg(engine.dir().join("ivr.toml"))
        .arg("--data")
        .arg(engine.data_dir())
        .args(["--principal", "root"])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let mut wav = hound::WavReader::open(&out).unwrap();
    let left: Vec<i16> = wav
        .samples::<i16>()
        .map(Result::unwrap)
        .step_by(2)
        .collect();
    // Bursts of sound on the caller's side: the menu key is there, the account digits are not.
    let loud: Vec<bool> = left
        .chunks(FRAME)
        .map(|f| f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / FRAME as f64 > 1e5)
        .collect();
    let bursts = loud.windows(2).filter(|w| !w[0] && w[1]).count()
        + usize::from(loud.first() == Some(&true));
    assert_eq!(
        bursts, 1,
        "the caller's side of the recording should hold the menu key only, not the account number"
    );
}
