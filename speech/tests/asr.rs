//! PocketSphinx recognition of real (synthetic, telephone-quality) speech, directly and through
//! the worker pool.

mod asr_audio;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use asr_audio::{
    frames_16k, frames_8k, telephone, Voice, GB_140, GB_170, US_140, US_170, US_NOISY,
};
use ivr_speech::asr::{AsrError, AsrPool, Grammar, Recognizer, SlotClass, Transcript};
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
fn intent_phrases_are_recognised_in_four_voices() {
    let g = Grammar::phrases("en-US", BANK_PHRASES);
    for voice in [US_140, US_170, GB_140, GB_170] {
        for phrase in [
            "check my balance",
            "I lost my card",
            "speak to an agent",
            "change my pin",
        ] {
            let t = recognise(&g, phrase, voice);
            assert_eq!(t.text, phrase.to_lowercase(), "{voice:?}: {t:?}");
            assert!(t.is_final);
            assert!(t.confidence > 0.3, "{voice:?} {phrase}: {t:?}");
        }
    }
}

#[test]
fn spoken_digits_come_out_as_digit_words() {
    let g = Grammar::slot("en-US", SlotClass::Digits { min: 4, max: 4 });
    for voice in [US_140, GB_170, US_NOISY] {
        let t = recognise(&g, "four two seven one", voice);
        assert_eq!(t.text, "four two seven one", "{voice:?}");
        assert_eq!(t.words.len(), 4);
        assert!(
            t.words
                .windows(2)
                .all(|w| w[0].end_ms <= w[1].start_ms + 10),
            "{t:?}"
        );
    }
}

#[test]
fn yes_and_no_are_told_apart() {
    let g = Grammar::slot("en-US", SlotClass::YesNo);
    for voice in [US_140, GB_140, US_NOISY] {
        assert_eq!(recognise(&g, "yes", voice).text, "yes", "{voice:?}");
        assert_eq!(recognise(&g, "no", voice).text, "no", "{voice:?}");
        assert_eq!(
            recognise(&g, "yes please", voice).text,
            "yes please",
            "{voice:?}"
        );
    }
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
    assert!(!t.text.is_empty(), "{t:?}");
    let said = ["pay", "bill", "today", "like"];
    assert!(
        said.iter().any(|w| t.text.split(' ').any(|x| x == *w)),
        "{t:?}"
    );
}
