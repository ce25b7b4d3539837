//! Whisper through the worker pool, with a tiny model of random weights written by the test
//! (its transcripts are nonsense; what is tested is loading, the pool, errors and deadlines),
//! and, when `$WHISPER_MODEL` names a real ggml model, ignored accuracy tests on espeak-ng
//! speech (`cargo test -p ivr-speech --features whisper -- --ignored`).
#![cfg(feature = "whisper")]

mod asr_audio;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use asr_audio::{frames_8k, telephone, Voice, US_140};
use ivr_media::audio::Frame8k;
use ivr_speech::asr::{AsrError, AsrPool, AsrStream, Grammar, Recognizer, Transcript};
use ivr_speech::whisper::ggml::{write_random_model, Hparams};
use ivr_speech::whisper::{Whisper, WhisperConfig};

/// How long one recognition with the tiny model may take, queueing included.
const DEADLINE: Duration = Duration::from_secs(60);

/// Where the tests' files live: inside the target directory, shared by the test processes
/// (nextest runs each test in its own), so a run leaves one copy of each model and nothing in
/// the system temp directory.
fn temp_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("whisper-test");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A random-weight model named `name`, written once (to a private file, then renamed into
/// place, so a process never reads another's half-written copy) and reused after that.
fn random_model(name: &str, hparams: &Hparams, seed: u64) -> PathBuf {
    let path = temp_dir().join(name);
    if !path.exists() {
        let part = temp_dir().join(format!("{name}.{}.part", std::process::id()));
        write_random_model(&part, hparams, seed).expect("write model");
        std::fs::rename(&part, &path).expect("rename model");
    }
    path
}

fn tiny_model() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| random_model("ggml-tiny-random.bin", &Hparams::tiny_random(), 42))
}

fn engine() -> &'static Whisper {
    static ENGINE: OnceLock<Whisper> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = WhisperConfig::new(tiny_model());
        config.threads = 1;
        Whisper::open(config).expect("the tiny random model loads")
    })
}

fn pool() -> AsrPool {
    AsrPool::start(Arc::new(engine().clone()), 2, 8)
}

/// Hands `frame` over, waiting while the stream's two-second buffer is full: the tests push
/// faster than real time, and on a loaded machine the worker may not have drained it yet.
fn push(stream: &mut AsrStream, frame: &Frame8k) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match stream.push(frame) {
            Ok(()) => return,
            Err(AsrError::Busy) if Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => panic!("push: {e}"),
        }
    }
}

async fn recognise(pool: &AsrPool, grammar: Grammar, samples: &[i16]) -> Transcript {
    let mut stream = pool.open(grammar).expect("open");
    for f in frames_8k(samples) {
        push(&mut stream, &f);
    }
    tokio::time::timeout(DEADLINE, stream.finish())
        .await
        .expect("recognition finished within the deadline")
        .expect("recognition succeeded")
}

fn assert_well_formed(t: &Transcript) {
    assert!(t.is_final);
    assert!((0.0..=1.0).contains(&t.confidence), "{t:?}");
    assert_eq!(t.text.is_empty(), t.words.is_empty(), "{t:?}");
    assert_eq!(t.text, t.text.to_lowercase());
    for w in &t.words {
        assert!(w.start_ms <= w.end_ms, "{w:?}");
    }
}

#[test]
fn the_tiny_random_model_loads_and_reports_its_shape() {
    let e = engine();
    assert_eq!(e.name(), "whisper");
    let info = e.model();
    assert_eq!(info.hparams, Hparams::tiny_random());
    assert_eq!(info.hparams.size_name(), "custom");
    assert!(info.file_bytes > 1_000_000, "{info:?}");
}

#[tokio::test]
async fn speech_is_recognised_through_the_pool_within_the_deadline() {
    let pool = pool();
    let audio = telephone("check my balance", US_140);
    let grammar = Grammar::phrases("en-US", &["check my balance", "speak to an agent"]);
    let t = recognise(&pool, grammar, &audio).await;
    assert_well_formed(&t);
    assert!(t.latency > Duration::ZERO);
    let stats = pool.stats();
    assert_eq!(
        (stats.finished, stats.failed, stats.active_streams),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn mandarin_and_detected_languages_run_on_a_multilingual_model() {
    let pool = pool();
    let audio = telephone("check my balance", US_140);
    assert_eq!(
        engine().language_for(&Grammar::dictation("zh-CN")),
        Ok("zh")
    );
    assert_eq!(engine().language_for(&Grammar::dictation("cmn")), Ok("zh"));
    assert_eq!(engine().language_for(&Grammar::dictation("")), Ok("auto"));
    for grammar in [Grammar::dictation("zh-CN"), Grammar::dictation("auto")] {
        assert_well_formed(&recognise(&pool, grammar, &audio).await);
    }
}

#[tokio::test]
async fn concurrent_utterances_all_finish() {
    let pool = pool();
    let audio = telephone("speak to an agent", US_140);
    // All audio is handed over before any inference starts: a worker busy decoding does not
    // drain its other streams' buffers, and this test pushes faster than real time.
    let mut streams: Vec<_> = (0..4)
        .map(|_| pool.open(Grammar::dictation("en-US")).expect("open"))
        .collect();
    for f in frames_8k(&audio) {
        for s in &mut streams {
            push(s, &f);
        }
    }
    let runs = streams
        .into_iter()
        .map(|s| tokio::spawn(tokio::time::timeout(DEADLINE, s.finish())));
    for run in runs {
        let t = run
            .await
            .expect("task")
            .expect("deadline")
            .expect("recognised");
        assert_well_formed(&t);
    }
    let stats = pool.stats();
    assert_eq!(stats.finished, 4);
    assert_eq!(stats.failed, 0);
}

#[tokio::test]
async fn the_pool_stays_usable_after_refusals_cancellations_and_short_utterances() {
    let pool = pool();
    let unsupported = pool.open(Grammar::dictation("xx-YY")).err();
    assert_eq!(
        unsupported,
        Some(AsrError::Unsupported {
            language: "xx-YY".into()
        })
    );
    let audio = telephone("transfer money", US_140);
    {
        let mut cancelled = pool.open(Grammar::dictation("en-US")).expect("open");
        for f in frames_8k(&audio).into_iter().take(20) {
            push(&mut cancelled, &f);
        }
    }
    // 60 ms of audio: too short to decode, an empty result rather than an error.
    let short = recognise(&pool, Grammar::dictation("en-US"), &audio[..480]).await;
    assert_eq!(short.text, "");
    assert_eq!(short.confidence, 0.0);
    let t = recognise(&pool, Grammar::dictation("en-US"), &audio).await;
    assert_well_formed(&t);
    let stats = pool.stats();
    assert_eq!(stats.finished, 2);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.active_streams, 0);
}

#[test]
fn an_english_only_model_refuses_other_languages_and_detects_english() {
    let mut h = Hparams::tiny_random();
    h.n_vocab = 51864;
    let path = random_model("ggml-tiny-random.en.bin", &h, 3);
    let e = Whisper::open(WhisperConfig::new(&path)).expect("open");
    assert_eq!(e.language_for(&Grammar::dictation("en-GB")), Ok("en"));
    assert_eq!(e.language_for(&Grammar::dictation("")), Ok("en"));
    assert_eq!(
        e.check(&Grammar::dictation("zh-CN")),
        Err(AsrError::Unsupported {
            language: "zh-CN".into()
        })
    );
}

#[test]
fn a_configured_language_overrides_the_grammar() {
    let mut config = WhisperConfig::new(tiny_model());
    config.language = Some("zh".into());
    let e = Whisper::open(config).expect("open");
    assert_eq!(e.language_for(&Grammar::dictation("en-US")), Ok("zh"));
}

#[test]
fn a_missing_model_is_reported_with_its_path() {
    let path = temp_dir().join("no-such-model.bin");
    let err = Whisper::open(WhisperConfig::new(&path))
        .err()
        .expect("error");
    assert_eq!(err, AsrError::ModelMissing { path: path.clone() });
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn corrupt_and_truncated_models_are_invalid_and_never_reach_whisper_cpp() {
    let good = std::fs::read(tiny_model()).expect("read");
    let mut garbage = good[..4].to_vec();
    garbage.extend((0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("half", good[..good.len() / 2].to_vec()),
        ("one-byte-short", good[..good.len() - 1].to_vec()),
        ("garbage-after-magic", garbage),
        ("gguf", b"GGUF\x03\0\0\0".to_vec()),
        ("text", b"<html>404 Not Found</html>".to_vec()),
    ];
    for (name, bytes) in cases {
        let path = temp_dir().join(format!("corrupt-{name}-{}.bin", std::process::id()));
        std::fs::write(&path, bytes).expect("write");
        let opened = Whisper::open(WhisperConfig::new(&path));
        let _ = std::fs::remove_file(&path);
        match opened {
            Err(err @ AsrError::ModelInvalid { .. }) => {
                assert!(
                    err.to_string().contains(&path.display().to_string()),
                    "{name}: {err}"
                );
            }
            Err(other) => panic!("{name}: expected ModelInvalid, got {other:?}"),
            Ok(_) => panic!("{name}: a corrupt model was accepted"),
        }
    }
    // The good model still loads afterwards, in the same process.
    assert!(Whisper::open(WhisperConfig::new(tiny_model())).is_ok());
}

/// A real model from `$WHISPER_MODEL`, if set.
fn real_engine() -> Option<Whisper> {
    let path = std::env::var_os("WHISPER_MODEL")?;
    Some(Whisper::open(WhisperConfig::new(PathBuf::from(path))).expect("$WHISPER_MODEL loads"))
}

#[tokio::test]
#[ignore = "needs a real ggml model in $WHISPER_MODEL"]
async fn a_real_model_transcribes_english_telephone_speech() {
    let Some(e) = real_engine() else {
        panic!("set WHISPER_MODEL to a ggml model (ggml-base.bin)");
    };
    let pool = AsrPool::start(Arc::new(e), 1, 2);
    for phrase in ["check my balance", "I lost my card", "speak to an agent"] {
        let t = recognise(
            &pool,
            Grammar::dictation("en-US"),
            &telephone(phrase, US_140),
        )
        .await;
        assert_eq!(t.text, phrase.to_lowercase(), "{t:?}");
        assert!(t.confidence > 0.5, "{t:?}");
    }
}

#[tokio::test]
#[ignore = "needs a real multilingual ggml model in $WHISPER_MODEL"]
async fn a_real_model_transcribes_mandarin_telephone_speech() {
    let Some(e) = real_engine() else {
        panic!("set WHISPER_MODEL to a multilingual ggml model (ggml-base.bin)");
    };
    let pool = AsrPool::start(Arc::new(e), 1, 2);
    let voice = Voice {
        name: "cmn",
        speed: 140,
        snr_db: None,
    };
    let t = recognise(
        &pool,
        Grammar::dictation("zh-CN"),
        &telephone("我要查余额", voice),
    )
    .await;
    assert!(t.text.contains("余额"), "{t:?}");
}
