//! The engine's SIMD acoustic scorer gives exactly the library's results: the same audio,
//! decoded by an engine with it and one without, yields the same words, timings and
//! confidences, for intent phrases (n-gram search) and digits (JSGF), in every test voice.

mod asr_audio;

use asr_audio::{bank_grammars, frames_16k, telephone, GB_140, GB_170, US_140, US_170, US_NOISY};
use ivr_speech::asr::{Grammar, Recognizer, Transcript};
use ivr_speech::pocketsphinx::{PocketSphinx, PocketSphinxConfig};

fn engine(fast_scoring: bool) -> PocketSphinx {
    PocketSphinx::open(PocketSphinxConfig {
        fast_scoring,
        ..PocketSphinxConfig::default()
    })
    .expect("model installed")
}

fn decode(engine: &PocketSphinx, grammar: &Grammar, audio: &[i16]) -> Transcript {
    let mut stream = engine.open(grammar).expect("open");
    for f in frames_16k(audio) {
        stream.push(&f).expect("push");
    }
    stream.finish().expect("finish")
}

/// What must match: everything but the engine's own latency.
fn result(t: &Transcript) -> String {
    let words: Vec<String> = t.words.iter().map(|w| format!("{w:?}")).collect();
    format!(
        "{:?} {} [{}]",
        t.text,
        t.confidence.to_bits(),
        words.join(", ")
    )
}

#[test]
fn the_simd_scorer_hears_exactly_what_the_library_hears() {
    let fast = engine(true);
    let library = engine(false);
    let (intents, digits) = bank_grammars();
    let cases = [
        (&intents, "I want to check my account balance"),
        (&intents, "someone stole my credit card"),
        (&intents, "can I speak to a representative"),
        (&intents, "what time does the branch open on saturday"),
        (&intents, "I forgot my pin number"),
        (&intents, "please repeat the options"),
        (&digits, "four two seven one nine"),
        (&digits, "one two three four five six"),
    ];
    let voices = [US_140, US_170, GB_140, GB_170, US_NOISY];
    let mut heard = 0;
    for (i, (grammar, said)) in cases.iter().enumerate() {
        for voice in [voices[i % voices.len()], voices[(i + 2) % voices.len()]] {
            let audio = telephone(said, voice);
            let a = decode(&fast, grammar, &audio);
            let b = decode(&library, grammar, &audio);
            assert_eq!(
                result(&a),
                result(&b),
                "{said:?} in {} at {} wpm",
                voice.name,
                voice.speed
            );
            heard += usize::from(!a.text.is_empty());
        }
    }
    // The comparison means something only if the two engines scored differently and heard
    // words.
    assert!(fast.simd_scoring(), "the SIMD scorer was not installed");
    assert!(!library.simd_scoring());
    assert!(heard >= 12, "only {heard} of 16 utterances recognised");
}
