//! A second real client: baresip dials the engine, speaks a tone from a WAV file and records what
//! it hears (its `sndfile` module dumps the decoded audio). With recording on, the engine's stereo
//! WAV must hold the caller on the left and the prompt on the right.

use std::path::{Path, PathBuf};
use std::process::Command;

use ivr_tests::{audio, ports, Engine, EngineOptions};

use super::secs;

/// The caller's tone.
const TONE_HZ: f64 = 440.0;

fn have_baresip() -> bool {
    Command::new("baresip").arg("-h").output().is_ok()
}

/// Writes a baresip configuration that speaks `say` and dumps what it hears into `rec`.
fn baresip_config(dir: &Path, say: &Path, rec: &Path) -> u16 {
    let port = ports::free_sip_port("127.0.0.1");
    std::fs::create_dir_all(rec).unwrap();
    let config = format!(
        "poll_method epoll\n\
         sip_listen 127.0.0.1:{port}\n\
         audio_player aufile,{rec}/unused.wav\n\
         audio_source aufile,{say}\n\
         audio_alert aufile,/dev/null\n\
         audio_srate 8000\n\
         audio_channels 1\n\
         snd_path {rec}\n\
         module_path /usr/lib/baresip/modules\n\
         module stdio.so\n\
         module g711.so\n\
         module aufile.so\n\
         module sndfile.so\n\
         module_app account.so\n\
         module_app menu.so\n",
        rec = rec.display(),
        say = say.display(),
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("accounts"), "<sip:baresip@127.0.0.1>;regint=0\n").unwrap();
    port
}

fn sox_tone(path: &Path, secs: f64) {
    let status = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed"])
        .arg(path)
        .args([
            "synth",
            &format!("{secs}"),
            "sine",
            &format!("{TONE_HZ}"),
            "vol",
            "0.3",
        ])
        .status()
        .expect("sox runs");
    assert!(status.success());
}

/// The best correlation of `heard` against `reference` over lags 0..max_lag.
fn best_alignment(heard: &[i16], reference: &[i16], max_lag: usize) -> (usize, f64) {
    (0..max_lag.min(heard.len()))
        .step_by(1)
        .map(|lag| (lag, audio::correlation(&heard[lag..], reference)))
        .fold((0, f64::MIN), |best, x| if x.1 > best.1 { x } else { best })
}

/// Relative power of `hz` in `x` (Goertzel), 0..1 of the signal's power.
fn tone_share(x: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &v in x {
        let v = f64::from(v);
        energy += v * v;
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        0.0
    } else {
        2.0 * power / (x.len() as f64 * energy)
    }
}

fn only_file_with_suffix(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one *{suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

#[test]
fn baresip_hears_the_prompt_and_the_engine_records_both_sides() {
    if !have_baresip() {
        panic!("baresip is not installed: run scripts/setup.sh");
    }
    let engine = Engine::start(EngineOptions {
        recording: true,
        prompt_frames: 150,
        ..EngineOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let say = dir.path().join("say.wav");
    sox_tone(&say, 4.0);
    let rec = dir.path().join("rec");
    baresip_config(dir.path(), &say, &rec);

    // baresip hangs up when its 4 s source file ends; -t bounds the whole run.
    let out = Command::new("timeout")
        .args(["30", "baresip", "-f"])
        .arg(dir.path())
        .args([
            "-e",
            &format!("/dial sip:100@{}", engine.sip_udp),
            "-t",
            "8",
        ])
        .output()
        .expect("baresip runs");
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Call established"),
        "baresip log:\n{log}\n{}",
        engine.diagnostics()
    );

    let ended = engine.wait_event("ended", secs(15), |_| true);
    let answered = &engine.events_named("answered")[0];
    assert_eq!(
        answered.str("codec"),
        Some("PCMU"),
        "{}",
        engine.events_text()
    );
    assert_eq!(
        answered.u64("telephone_event_pt"),
        Some(101),
        "baresip offers telephone-event/8000 at 101"
    );
    let rx = ended.u64("rtp_rx").unwrap();
    assert!(
        (150..=215).contains(&rx),
        "about 4 s of caller RTP expected, got {rx}\n{}",
        engine.events_text()
    );
    assert_eq!(ended.0["rtp_lost"], 0, "{}", engine.events_text());
    assert_eq!(ended.u64("rtp_tx"), Some(150), "the 150-frame prompt, once");

    // What the caller heard is the prompt (µ-law round trip; baresip's jitter buffer adds delay).
    let heard = audio::read_wav(&only_file_with_suffix(&rec, "-dec.wav"));
    let prompt = engine.prompt();
    let (lag, corr) = best_alignment(&heard, prompt, 8000);
    assert!(
        corr > 0.98,
        "heard audio correlates {corr:.3} with the prompt at best (lag {lag})"
    );

    // The engine's recording: stereo 8 kHz, caller (the tone) left, engine (the prompt) right.
    let path = ended
        .str("recording")
        .expect("recording path in the ended event")
        .to_string();
    let mut wav = hound::WavReader::open(&path).unwrap();
    let spec = wav.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    assert!(
        left.len() >= 150 * 160,
        "recording too short: {} samples",
        left.len()
    );
    // Middle second of the caller side is the 440 Hz tone.
    let mid = &left[8000..16000];
    assert!(
        tone_share(mid, TONE_HZ) > 0.8,
        "left channel is not the caller's tone"
    );
    // The engine side is the prompt, from the first answered frame.
    let (rlag, rcorr) = best_alignment(&right, prompt, 4000);
    assert!(
        rcorr > 0.98,
        "right channel correlates {rcorr:.3} with the prompt (lag {rlag})"
    );
    assert!(tone_share(mid, 1000.0) < 0.05);
}
