//! espeak-ng through the FFI module renders what the espeak-ng command renders.

use std::process::Command;
use std::time::Instant;

use ivr_speech::tts::{CachedSynthesizer, EspeakSynthesizer, SpeakRequest, Synthesizer};

fn cli_render(voice: &str, rate: u32, text: &str) -> (Vec<i16>, u32) {
    let dir = tempfile_dir();
    let wav = dir.join("cli.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &rate.to_string(), "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng is installed (scripts/setup.sh)");
    assert!(status.success());
    let mut r = hound::WavReader::open(&wav).unwrap();
    let rate = r.spec().sample_rate;
    let s = r.samples::<i16>().map(Result::unwrap).collect();
    std::fs::remove_dir_all(dir).unwrap();
    (s, rate)
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ivr-espeak-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Energy per 20 ms window: the same speech gives the same envelope even though espeak-ng's
/// waveform generator carries its phase from one utterance to the next (so only a process's
/// first utterance is sample-identical to the command's).
fn envelope(x: &[i16], rate: u32) -> Vec<i16> {
    let w = (rate / 50) as usize;
    x.chunks(w)
        .map(|c| {
            let e = c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / c.len() as f64;
            (e.sqrt().min(32767.0)) as i16
        })
        .collect()
}

fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let n = a.len().min(b.len());
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for i in 0..n {
        let (x, y) = (f64::from(a[i]), f64::from(b[i]));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

#[tokio::test]
async fn english_and_mandarin_match_the_espeak_command() {
    let tts = EspeakSynthesizer::start(8).expect("libespeak-ng initialises");
    for (lang, voice, text) in [
        (
            "en-US",
            "en-us",
            "Your balance is one hundred and twenty dollars.",
        ),
        ("zh-CN", "cmn", "您好，欢迎致电。"),
    ] {
        let req = SpeakRequest {
            rate: Some(165),
            ..SpeakRequest::new(text, lang)
        };
        let started = Instant::now();
        let (ours, rate) = tts.render(&req).await.unwrap();
        let took = started.elapsed();
        let (cli, cli_rate) = cli_render(voice, 165, text);
        assert_eq!(rate, cli_rate);
        let len_ratio = ours.len() as f64 / cli.len() as f64;
        assert!(
            (0.95..1.05).contains(&len_ratio),
            "{lang}: {} vs {} samples",
            ours.len(),
            cli.len()
        );
        let c = correlation(&envelope(&ours, rate), &envelope(&cli, rate));
        assert!(
            c > 0.95,
            "{lang}: envelope correlation {c:.3} with the espeak-ng command"
        );
        let other = if lang == "en-US" {
            "您好，欢迎致电。"
        } else {
            "Your balance is one hundred and twenty dollars."
        };
        let (wrong, _) = cli_render(if lang == "en-US" { "cmn" } else { "en-us" }, 165, other);
        let c_wrong = correlation(&envelope(&ours, rate), &envelope(&wrong, rate));
        assert!(
            c_wrong < c - 0.1,
            "{lang}: other speech correlates {c_wrong:.3}, ours {c:.3}"
        );
        println!(
            "{lang}: {:.2} s of audio rendered in {took:?}",
            ours.len() as f64 / f64::from(rate)
        );
    }
}

#[tokio::test]
async fn unknown_voices_are_refused_and_the_engine_keeps_working() {
    let tts = EspeakSynthesizer::start(8).unwrap();
    let bad = SpeakRequest {
        voice: Some("no-such-voice".into()),
        ..SpeakRequest::new("hello", "en-US")
    };
    assert!(tts.render(&bad).await.is_err());
    let (ok, _) = tts
        .render(&SpeakRequest::new("hello", "en-US"))
        .await
        .unwrap();
    assert!(ok.len() > 4000);
}

#[tokio::test]
async fn cached_speech_is_8k_and_pre_encoded() {
    let cache = CachedSynthesizer::new(EspeakSynthesizer::start(8).unwrap(), None);
    let s = cache
        .speak(&SpeakRequest::new("Press one for billing.", "en-US"))
        .await
        .unwrap();
    let frames = s.prompt.len_frames();
    assert!(frames > 40, "{frames} frames");
    assert_eq!(s.encoded.len_frames(), frames);
    let started = Instant::now();
    let again = cache
        .speak(&SpeakRequest::new("Press one for billing.", "en-US"))
        .await
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&s, &again));
    println!("cached lookup took {:?}", started.elapsed());
}
