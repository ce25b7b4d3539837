//! PocketSphinx recognition of real (synthetic, telephone-quality) speech, directly and through
//! the worker pool.

mod asr_audio;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use asr_audio::{
    frames_16k, frames_8k, telephone, Voice, GB_140, GB_170, US_140, US_170, US_NOISY,
};
use ivr_dialplans::nlu::extract_digits;
use ivr_speech::asr::{
    transcribe_wav, AsrError, AsrPool, Grammar, Recognizer, SlotClass, Transcript,
};
use ivr_speech::pocketsphinx::{PocketSphinx, PocketSphinxConfig};

fn engine() -> &'static PocketSphinx {
    static ENGINE: OnceLock<PocketSphinx> = OnceLock::new();
    ENGINE
        .get_or_init(|| PocketSphinx::open(PocketSphinxConfig::default()).expect("model installed"))
}

fn recognise(grammar: &Grammar, text: &str, voice: Voice) -> Transcript {
    let audio = telephone(text, voice);
    let mut stream = engine().open(grammar).expect("open");
    for f in frames_16k(&audio) {
        stream.push(&f).expect("push");
    }
    stream.finish().expect("finish")
}

const BANK_PHRASES: &[&str] = &[
    "check my balance",
    "what's my balance",
    "how much money do I have",
    "I lost my card",
    "my card was stolen",
    "transfer money",
    "make a transfer",
    "recent transactions",
    "change my pin",
    "what are your opening hours",
    "talk to a person",
    "speak to an agent",
    "repeat that",
    "help",
    "goodbye",
];

#[test]
fn intent_phrases_said_word_for_word_are_recognised_in_four_voices() {
    let g = Grammar::phrases("en-US", BANK_PHRASES);
    let mut right = 0;
    let mut misses = Vec::new();
    for voice in [US_140, US_170, GB_140, GB_170] {
        for phrase in [
            "check my balance",
            "I lost my card",
            "speak to an agent",
            "change my pin",
        ] {
            let t = recognise(&g, phrase, voice);
            assert!(t.is_final);
            assert!((0.0..=1.0).contains(&t.confidence));
            if t.text == phrase.to_lowercase() {
                right += 1;
            } else {
                misses.push(format!("{voice:?} {phrase}: {t:?}"));
            }
        }
    }
    // Measured: 9 to 11 of 16 with the phrase bigram, depending on which decoder (and so
    // which running cepstral mean) a stream gets; the misses lose or swap the first word.
    assert!(right >= 8, "{right}/16 right; misses: {misses:#?}");
}

#[test]
fn spoken_digits_come_out_as_the_digit_string() {
    let g = Grammar::slot("en-US", SlotClass::Digits { min: 4, max: 4 });
    let mut right = 0;
    for voice in [US_140, US_170, GB_140, GB_170, US_NOISY] {
        let t = recognise(&g, "four two nine one", voice);
        // The grammar allows exactly four digits.
        assert_eq!(t.words.len(), 4, "{voice:?}: {t:?}");
        assert!(
            t.words.windows(2).all(|w| w[0].start_ms < w[1].start_ms),
            "{t:?}"
        );
        if extract_digits(&t.text).as_deref() == Some("4291") {
            right += 1;
        } else {
            // espeak-ng's "seven" is heard as "one" in every voice, so the test avoids it.
            println!("{voice:?}: {t:?}");
        }
    }
    // Measured 2 to 3 of 5: synthetic digits through the telephone channel are the weakest
    // case ("nine" heard as "five" or "eight"); the count guards against regressions.
    assert!(right >= 2, "{right}/5 digit strings right");
}

/// Whether a yes/no grammar result means yes (`Some(true)`), no, or neither.
fn polarity(text: &str) -> Option<bool> {
    let first = text.split(' ').next()?;
    match first {
        "yes" | "yeah" | "yep" | "sure" | "correct" | "right" | "that's" | "of" | "absolutely"
        | "okay" => Some(!text.contains("wrong") && !text.contains("not")),
        "no" | "nope" | "not" | "wrong" | "incorrect" | "negative" => Some(false),
        _ => None,
    }
}

#[test]
fn yes_and_no_are_told_apart() {
    // Decoders are reused from caller to caller and keep their adapted audio level, so a
    // result can vary with what ran before; the bound is the rate measured across runs.
    let g = Grammar::slot("en-US", SlotClass::YesNo);
    let mut wrong = Vec::new();
    for voice in [US_140, GB_140, US_NOISY] {
        for (said, meaning) in [
            ("yes", true),
            ("no", false),
            ("yes please", true),
            ("no thanks", false),
        ] {
            let t = recognise(&g, said, voice);
            if polarity(&t.text) != Some(meaning) {
                wrong.push(format!("{voice:?} {said}: {t:?}"));
            }
        }
    }
    assert!(
        wrong.len() <= 2,
        "{} of 12 wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn noisy_telephone_speech_still_matches_the_phrase() {
    let g = Grammar::phrases("en-US", BANK_PHRASES);
    let t = recognise(&g, "I lost my card", US_NOISY);
    assert_eq!(t.text, "i lost my card", "{t:?}");
}

#[test]
fn dictation_gives_text() {
    let t = recognise(
        &Grammar::dictation("en-US"),
        "I would like to pay my bill today",
        US_140,
    );
    assert!(t.text.split(' ').count() >= 3, "{t:?}");
}

#[test]
fn a_wav_file_is_transcribed() {
    let audio = telephone("speak to an agent", US_140);
    let path = std::env::temp_dir().join(format!("ivr-asr-wav-{}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for s in &audio {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
    let t = transcribe_wav(engine(), &path, &Grammar::phrases("en-US", BANK_PHRASES));
    let _ = std::fs::remove_file(&path);
    assert_eq!(t.unwrap().text, "speak to an agent");
}

fn pool(workers: usize, max_streams: usize) -> AsrPool {
    AsrPool::start(Arc::new(engine().clone()), workers, max_streams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_returns_the_result_within_a_deadline() {
    let pool = pool(2, 8);
    let mut stream = pool.open(Grammar::phrases("en-US", BANK_PHRASES)).unwrap();
    for f in frames_8k(&telephone("check my balance", US_170)) {
        stream.push(&f).unwrap();
    }
    let started = Instant::now();
    let t = tokio::time::timeout(Duration::from_secs(5), stream.finish())
        .await
        .expect("result within 5 s")
        .unwrap();
    assert!(t.text.ends_with("my balance"), "{t:?}");
    assert!(t.latency <= started.elapsed());
    let stats = pool.stats();
    assert_eq!(
        (stats.opened, stats.finished, stats.active_streams),
        (1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_busy_at_max_streams_until_a_stream_ends() {
    let pool = pool(1, 2);
    let g = Grammar::slot("en-US", SlotClass::YesNo);
    let a = pool.open(g.clone()).unwrap();
    let _b = pool.open(g.clone()).unwrap();
    assert_eq!(pool.open(g.clone()).err(), Some(AsrError::Busy));
    assert_eq!(pool.stats().rejected_busy, 1);
    // Finishing releases the slot before the result is delivered.
    let t = a.finish().await.unwrap();
    assert_eq!(t.text, "");
    assert!(pool.open(g).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_is_cancelled_and_frees_its_slot() {
    let pool = pool(1, 1);
    let g = Grammar::slot("en-US", SlotClass::Digits { min: 1, max: 4 });
    let mut s = pool.open(g.clone()).unwrap();
    for f in frames_8k(&telephone("four two", US_140)).iter().take(20) {
        s.push(f).unwrap();
    }
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.stats().active_streams > 0 {
        assert!(
            Instant::now() < deadline,
            "cancel not processed: {:?}",
            pool.stats()
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(pool.stats().cancelled, 1);
    assert!(pool.open(g).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_results_arrive_while_audio_is_pushed() {
    let pool = pool(1, 4);
    let mut s = pool.open(Grammar::phrases("en-US", BANK_PHRASES)).unwrap();
    for f in frames_8k(&telephone("what are your opening hours", US_140)) {
        // Faster than real time the stream's buffer can fill: wait for the worker then.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(e) = s.push(&f) {
            assert_eq!(e, AsrError::Busy);
            assert!(Instant::now() < deadline, "the worker stopped taking audio");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let partial = loop {
        if let Some(p) = s.partial() {
            break p;
        }
        assert!(Instant::now() < deadline, "no partial result");
        tokio::task::yield_now().await;
    };
    assert!(!partial.is_final);
    assert!(!partial.text.is_empty());
    let t = s.finish().await.unwrap();
    assert_eq!(t.text, "what are your opening hours", "{t:?}");
}

#[test]
fn a_mandarin_grammar_is_refused_at_once_by_the_pool() {
    let pool = pool(1, 4);
    let err = pool.open(Grammar::phrases("zh-CN", &["查余额"])).err();
    assert_eq!(
        err,
        Some(AsrError::Unsupported {
            language: "zh-CN".into()
        })
    );
    assert_eq!(pool.stats().active_streams, 0);
}

#[test]
fn a_missing_model_directory_is_reported_by_path() {
    let err = PocketSphinx::open(PocketSphinxConfig {
        model_dir: "/opt/no/such/model".into(),
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("/opt/no/such/model"), "{err}");
}
