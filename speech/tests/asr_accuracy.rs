//! Intent accuracy of speech in grammar mode: spoken paraphrases of the bank and delivery
//! menus (none identical to an intent example), recognised by PocketSphinx against a grammar of
//! the intents' examples, then ranked by the dial plan's intent matcher, as a call does it.
//!
//! Prints the figures: `cargo test --release -p ivr-speech --test asr_accuracy -- --nocapture`.
//! Each figure comes with its tuning half and held-out half (see `held_out`). Environment
//! variables for trying settings without rebuilding: `IVR_ASR_ARGS="-topn 6"` (decoder
//! arguments), `IVR_ASR_FEAT="-upperf 3800"` (acoustic front end, `feat.params`),
//! `IVR_ASR_FRESH=1` (a new decoder per utterance), `IVR_ASR_FAST=0` (the library's own
//! acoustic scorer), `IVR_ASR_NOISE=-45` or `off` (the noise floor added to the audio, in
//! dBFS), `IVR_ASR_ALL_VOICES=1` (every paraphrase in
//! every voice: 280 utterances instead of 56, for tuning with less noise; the assertions
//! below hold for the default of one voice per paraphrase).

mod asr_audio;

use asr_audio::{frames_16k, telephone, Voice, GB_140, GB_170, US_140, US_170, US_NOISY};
use ivr_dialplans::model::Settings;
use ivr_dialplans::nlu::fixtures::{specs, FixtureIntent, BANK_EN, DELIVERY_EN};
use ivr_dialplans::nlu::Matcher;
use ivr_speech::asr::{Grammar, Recognizer, Transcript};
use ivr_speech::pocketsphinx::{
    IntentGrammar, PocketSphinx, PocketSphinxConfig, TELEPHONE_CMN_WITHOUT_NOISE_FLOOR,
};

const BANK: &[(&str, &str)] = &[
    ("I want to check my account balance", "balance"),
    ("how much money is in my account", "balance"),
    ("what is the balance on my checking account", "balance"),
    ("can you tell me my balance", "balance"),
    ("how much do I have in checking", "balance"),
    ("balance please", "balance"),
    ("my available balance", "balance"),
    ("I think I lost my debit card", "lost_card"),
    ("someone stole my credit card", "lost_card"),
    ("please block my card", "lost_card"),
    ("my card is lost", "lost_card"),
    ("I need to freeze my card", "lost_card"),
    ("I want to report a stolen card", "lost_card"),
    ("I want to transfer money to my savings", "transfer_money"),
    ("move money between my accounts", "transfer_money"),
    ("I need to send money to another bank", "transfer_money"),
    ("can I make a transfer please", "transfer_money"),
    ("transfer funds to my savings account", "transfer_money"),
    ("what are my recent transactions", "recent_transactions"),
    ("show me my last payments", "recent_transactions"),
    ("I want to hear my latest purchases", "recent_transactions"),
    ("there is a charge on my account", "recent_transactions"),
    ("I want to change my pin", "change_pin"),
    ("I forgot my pin number", "change_pin"),
    ("can I reset my pin", "change_pin"),
    ("I need a new pin for my card", "change_pin"),
    ("when does the branch open", "opening_hours"),
    ("what time do you close", "opening_hours"),
    ("are you open on sunday", "opening_hours"),
    ("what are the branch opening hours", "opening_hours"),
    ("I want to talk to a person", "agent"),
    ("can I speak to a representative", "agent"),
    ("let me talk to an agent", "agent"),
    ("customer service please", "agent"),
    ("I need a human", "agent"),
    ("can you say that again", "repeat"),
    ("please repeat the options", "repeat"),
    ("sorry can you repeat that", "repeat"),
    ("I need some help", "help"),
    ("what are the options", "help"),
    ("help me please", "help"),
    ("that's all goodbye", "goodbye"),
    ("no that's all thank you", "goodbye"),
    ("bye bye", "goodbye"),
];

const DELIVERY: &[(&str, &str)] = &[
    ("yes that's fine", "confirm"),
    ("yes I will be home", "confirm"),
    ("please deliver it", "confirm"),
    ("I won't be home today", "reschedule"),
    ("can you deliver it tomorrow", "reschedule"),
    ("please change the delivery date", "reschedule"),
    ("send it to a different address", "change_address"),
    ("please deliver it to my work", "change_address"),
    ("I didn't order this", "not_me"),
    ("you have the wrong number", "not_me"),
    ("where is my parcel", "delivery_status"),
    ("when will my package arrive", "delivery_status"),
];

/// Paraphrases written after the decoder settings were chosen and never used to choose them:
/// measured once per configuration, as a check that the settings did not just fit the sets above.
const NEW_BANK: &[(&str, &str)] = &[
    ("what's the balance of my account", "balance"),
    ("how much is in my savings", "balance"),
    ("my debit card was stolen", "lost_card"),
    ("I can't find my card anywhere", "lost_card"),
    ("I'd like to move some money", "transfer_money"),
    ("send money to my checking account", "transfer_money"),
    ("show my recent payments", "recent_transactions"),
    ("I want a new pin", "change_pin"),
    ("what time do you open tomorrow", "opening_hours"),
    ("put me through to an operator", "agent"),
    ("could you repeat that please", "repeat"),
    ("I don't know what to say", "help"),
    ("goodbye thank you", "goodbye"),
];

const NEW_DELIVERY: &[(&str, &str)] = &[
    ("yes that sounds good", "confirm"),
    ("please come another day", "reschedule"),
    ("deliver it to my neighbor", "change_address"),
    ("I never ordered anything", "not_me"),
    ("where is the driver", "delivery_status"),
];

/// Sentences no menu of the bank is about, for how often the recogniser, held to the menu's
/// vocabulary, makes an intent of them anyway.
const OUT_OF_DOMAIN: &[&str] = &[
    "the weather is lovely today",
    "my grandmother grows tomatoes",
    "purple elephants dance slowly",
    "the train was late again",
    "I like to play football on saturday",
    "where did you buy those shoes",
    "the cat is sleeping on the sofa",
    "we are going to the beach next week",
    "turn left at the traffic lights",
    "this soup needs more salt",
    "the concert was amazing last night",
    "my brother is learning the guitar",
];

const VOICES: &[Voice] = &[US_140, GB_170, US_170, GB_140, US_NOISY];

/// Right answers out of the utterances of one group.
#[derive(Default)]
struct Tally {
    right: usize,
    total: usize,
}

impl Tally {
    fn add(&mut self, right: bool) {
        self.total += 1;
        self.right += usize::from(right);
    }

    fn rate(&self) -> f64 {
        self.right as f64 / self.total.max(1) as f64
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} = {:.1}%",
            self.right,
            self.total,
            self.rate() * 100.0
        )
    }
}

/// The tuning half is what the voices at 140 and 150 words a minute say (both accents, one
/// noisy), the held-out half what the voices at 170 say. Each paraphrase is spoken by one voice,
/// so the halves share no utterance; decoder settings were chosen on the tuning half.
fn held_out(voice: Voice) -> bool {
    voice.speed == 170
}

#[derive(Default)]
struct Score {
    whole: Tally,
    tuning: Tally,
    held_out: Tally,
    wrong: Vec<String>,
}

/// A menu of `intents` as a call's `listen` has it: the dial plan's matcher, and the recogniser's
/// grammar of the intents' examples.
fn menu(intents: &[FixtureIntent]) -> (Matcher, Grammar) {
    let phrases: Vec<&str> = intents
        .iter()
        .flat_map(|i| i.examples.iter().copied())
        .collect();
    (
        Matcher::new("en-US", &specs(intents)),
        Grammar::phrases("en-US", &phrases),
    )
}

fn score(
    engine: &PocketSphinx,
    intents: &[FixtureIntent],
    set: &[(&str, &str)],
    offset: usize,
    s: &mut Score,
) {
    let (matcher, grammar) = menu(intents);
    for ((said, intent), voice) in spoken(set, offset) {
        let t = hear(engine, &grammar, said, voice);
        let best = matcher.rank(&t.text, None).best.map(|b| b.intent);
        let right = best.as_deref() == Some(*intent);
        s.whole.add(right);
        if held_out(voice) {
            s.held_out.add(right);
        } else {
            s.tuning.add(right);
        }
        if !right {
            s.wrong.push(format!(
                "{said:?} ({} {}) heard {:?} (conf {:.2}) -> {best:?}, expected {intent}",
                voice.name, voice.speed, t.text, t.confidence
            ));
        }
    }
}

/// Each item of `set` with the voice that says it: one voice per item, taking turns from the
/// `offset`-th, or every voice with `IVR_ASR_ALL_VOICES=1` (five times the utterances).
fn spoken<T>(set: &[T], offset: usize) -> impl Iterator<Item = (&T, Voice)> {
    let all = std::env::var("IVR_ASR_ALL_VOICES").is_ok();
    set.iter().enumerate().flat_map(move |(i, item)| {
        let voices: Vec<Voice> = if all {
            VOICES.to_vec()
        } else {
            vec![VOICES[(i + offset) % VOICES.len()]]
        };
        voices.into_iter().map(move |v| (item, v))
    })
}

/// What `engine` hears of `said` in `voice` over the telephone, with `grammar`.
fn hear(engine: &PocketSphinx, grammar: &Grammar, said: &str, voice: Voice) -> Transcript {
    let audio = telephone(said, voice);
    let mut stream = engine.open(grammar).expect("open");
    for f in frames_16k(&audio) {
        stream.push(&f).expect("push");
    }
    stream.finish().expect("finish")
}

/// Scores the bank and delivery sets (`bank`, `delivery`) and prints the figures.
fn run_sets(
    config: PocketSphinxConfig,
    label: &str,
    bank: &[(&str, &str)],
    delivery: &[(&str, &str)],
) -> Score {
    let engine = PocketSphinx::open(config).expect("model installed");
    let mut s = Score::default();
    score(&engine, BANK_EN, bank, 0, &mut s);
    score(&engine, DELIVERY_EN, delivery, 1, &mut s);
    println!(
        "{label}: top-1 {} (tuning half {}, held-out half {})",
        s.whole, s.tuning, s.held_out
    );
    for w in &s.wrong {
        println!("  miss: {w}");
    }
    s
}

fn run(config: PocketSphinxConfig, label: &str) -> f64 {
    run_sets(config, label, BANK, DELIVERY).whole.rate()
}

fn configured() -> PocketSphinxConfig {
    let mut config = PocketSphinxConfig::default();
    let pairs = |var: &str| -> Option<Vec<(String, String)>> {
        let args = std::env::var(var).ok()?;
        let parts: Vec<&str> = args.split_whitespace().collect();
        Some(
            parts
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| (c[0].to_string(), c[1].to_string()))
                .collect(),
        )
    };
    // Settings to try without rebuilding: IVR_ASR_ARGS="-lw 8", IVR_ASR_FEAT="-upperf 3800".
    if let Some(args) = pairs("IVR_ASR_ARGS") {
        config.extra_args = args;
    }
    if let Some(feat) = pairs("IVR_ASR_FEAT") {
        config.feat_params = feat;
    }
    if std::env::var("IVR_ASR_FRESH").is_ok() {
        config.max_idle_decoders = 0;
    }
    if std::env::var("IVR_ASR_FAST").as_deref() == Ok("0") {
        config.fast_scoring = false;
    }
    // IVR_ASR_NOISE=-45 (dBFS) or off.
    if let Ok(level) = std::env::var("IVR_ASR_NOISE") {
        config.noise_floor_dbfs = level.parse().ok();
        if config.noise_floor_dbfs.is_none() {
            config.cmn_init = Some(TELEPHONE_CMN_WITHOUT_NOISE_FLOOR.into());
        }
    }
    config
}

/// A paraphrase must not be one of the intents' own examples (the grammar is built from them).
fn assert_not_an_example(said: &str) {
    let mut examples = BANK_EN
        .iter()
        .chain(DELIVERY_EN)
        .flat_map(|i| i.examples.iter());
    assert!(
        examples.all(|e| !e.eq_ignore_ascii_case(said)),
        "{said} is an example"
    );
}

#[test]
fn spoken_paraphrases_reach_the_right_intent_at_the_measured_rate() {
    assert!(BANK.len() + DELIVERY.len() >= 40);
    for (said, _) in BANK.iter().chain(DELIVERY) {
        assert_not_an_example(said);
    }
    let config = configured();
    let accuracy = run(config, "bigram over the phrases (default)");
    // Measured 91.1% (51/56; 87.5% without the noise floor, 83.9% before the bigram discount
    // went from 0.2 to 0.1). The result is the same on every machine (the scorer is
    // bit-exact, the noise seeded), so the floor is the goal itself: 90%.
    assert!(
        accuracy >= 0.90,
        "top-1 accuracy {:.1}% < 90%",
        accuracy * 100.0
    );
}

#[test]
fn out_of_domain_speech_is_mostly_not_taken_for_an_intent() {
    let engine = PocketSphinx::open(configured()).expect("model installed");
    let (matcher, grammar) = menu(BANK_EN);
    // What a `listen` does with the match: take it, ask "did you mean …?", or not match.
    let settings = Settings::default();
    let (mut taken, mut asked, mut unmatched) = (0, 0, 0);
    for (said, voice) in spoken(OUT_OF_DOMAIN, 0) {
        assert_not_an_example(said);
        let t = hear(&engine, &grammar, said, voice);
        let best = matcher.rank(&t.text, None).best;
        let confidence = best.as_ref().map_or(0.0, |b| b.confidence as f64);
        if confidence >= settings.confirm_threshold {
            taken += 1;
            println!(
                "  taken: {said:?} ({} {}) heard {:?} -> {:?} {confidence:.2}",
                voice.name,
                voice.speed,
                t.text,
                best.map(|b| b.intent)
            );
        } else if confidence >= settings.intent_threshold {
            asked += 1;
        } else {
            unmatched += 1;
        }
    }
    let total = taken + asked + unmatched;
    println!(
        "out of domain: {total} utterances, taken for an intent {taken}, \
         \"did you mean\" {asked}, no match {unmatched}"
    );
    // Measured 2 of 12 taken (15 of 60 in every voice; 5 of 12 and 19 of 60 without the noise
    // floor).
    assert!(
        taken * 3 <= total,
        "{taken} of {total} out-of-domain utterances taken for an intent"
    );
}

#[test]
fn whole_phrases_without_the_word_loop_for_comparison() {
    let accuracy = run(
        PocketSphinxConfig {
            intent_grammar: IntentGrammar::Phrases,
            ..Default::default()
        },
        "whole phrases only",
    );
    // Measured 46.4%: callers' paraphrases mostly have no path through whole phrases.
    assert!(
        accuracy < 0.6,
        "whole phrases now reach {:.1}%; revisit the default",
        accuracy * 100.0
    );
}

#[test]
fn phrases_or_a_word_loop_for_comparison() {
    let accuracy = run(
        PocketSphinxConfig {
            intent_grammar: IntentGrammar::PhrasesOrWords { weight: 0.5 },
            ..Default::default()
        },
        "whole phrases or a word loop",
    );
    // Measured 58.9%: the free loop inserts short words.
    assert!(
        accuracy < 0.8,
        "the word loop now reaches {:.1}%; revisit the default",
        accuracy * 100.0
    );
}

#[test]
fn paraphrases_not_used_for_tuning_reach_the_right_intent_at_the_measured_rate() {
    for (said, _) in NEW_BANK.iter().chain(NEW_DELIVERY) {
        assert_not_an_example(said);
        assert!(
            BANK.iter().chain(DELIVERY).all(|(s, _)| s != said),
            "{said} is in the tuning sets"
        );
    }
    let s = run_sets(
        configured(),
        "paraphrases not used for tuning",
        NEW_BANK,
        NEW_DELIVERY,
    );
    // Measured 83.3% (15/18; 77.8% without the noise floor, the same with the old and the new
    // bigram discount). The floor is one utterance below.
    assert!(
        s.whole.rate() >= 0.77,
        "top-1 accuracy {:.1}% < 77%",
        s.whole.rate() * 100.0
    );
}
