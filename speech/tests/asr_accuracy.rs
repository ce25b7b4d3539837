//! Intent accuracy of speech in grammar mode: spoken paraphrases of the bank and delivery
//! menus (none identical to an intent example), recognised by PocketSphinx against a grammar of
//! the intents' examples, then ranked by the dial plan's intent matcher, as a call does it.
//!
//! Prints the figures: `cargo test -p ivr-speech --test asr_accuracy -- --nocapture`.

mod asr_audio;

use asr_audio::{frames_16k, telephone, Voice, GB_140, GB_170, US_140, US_170, US_NOISY};
use ivr_dialplans::nlu::fixtures::{specs, FixtureIntent, BANK_EN, DELIVERY_EN};
use ivr_dialplans::nlu::Matcher;
use ivr_speech::asr::{Grammar, Recognizer};
use ivr_speech::pocketsphinx::{IntentGrammar, PocketSphinx, PocketSphinxConfig};

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

const VOICES: &[Voice] = &[US_140, GB_170, US_170, GB_140, US_NOISY];

struct Score {
    right: usize,
    total: usize,
    wrong: Vec<String>,
}

fn score(
    engine: &PocketSphinx,
    intents: &[FixtureIntent],
    set: &[(&str, &str)],
    offset: usize,
) -> Score {
    let matcher = Matcher::new("en-US", &specs(intents));
    let phrases: Vec<&str> = intents
        .iter()
        .flat_map(|i| i.examples.iter().copied())
        .collect();
    let grammar = Grammar::phrases("en-US", &phrases);
    let mut s = Score {
        right: 0,
        total: 0,
        wrong: Vec::new(),
    };
    for (i, (said, intent)) in set.iter().enumerate() {
        let voice = VOICES[(i + offset) % VOICES.len()];
        let audio = telephone(said, voice);
        let mut stream = engine.open(&grammar).expect("open");
        for f in frames_16k(&audio) {
            stream.push(&f).expect("push");
        }
        let t = stream.finish().expect("finish");
        let best = matcher.rank(&t.text, None).best.map(|b| b.intent);
        s.total += 1;
        if best.as_deref() == Some(*intent) {
            s.right += 1;
        } else {
            s.wrong.push(format!(
                "{said:?} ({} {}) heard {:?} (conf {:.2}) -> {best:?}, expected {intent}",
                voice.name, voice.speed, t.text, t.confidence
            ));
        }
    }
    s
}

fn run(config: PocketSphinxConfig, label: &str) -> f64 {
    let engine = PocketSphinx::open(config).expect("model installed");
    let bank = score(&engine, BANK_EN, BANK, 0);
    let delivery = score(&engine, DELIVERY_EN, DELIVERY, 1);
    let right = bank.right + delivery.right;
    let total = bank.total + delivery.total;
    let accuracy = right as f64 / total as f64;
    println!(
        "{label}: top-1 {right}/{total} = {:.1}% (bank {}/{}, delivery {}/{})",
        accuracy * 100.0,
        bank.right,
        bank.total,
        delivery.right,
        delivery.total
    );
    for w in bank.wrong.iter().chain(&delivery.wrong) {
        println!("  miss: {w}");
    }
    accuracy
}

#[test]
fn spoken_paraphrases_reach_the_right_intent_at_the_measured_rate() {
    assert!(BANK.len() + DELIVERY.len() >= 40);
    for (said, _) in BANK.iter().chain(DELIVERY) {
        let examples = BANK_EN
            .iter()
            .chain(DELIVERY_EN)
            .flat_map(|i| i.examples.iter());
        assert!(
            examples.clone().all(|e| !e.eq_ignore_ascii_case(said)),
            "{said} is an example"
        );
    }
    let mut config = PocketSphinxConfig::default();
    if let Ok(args) = std::env::var("IVR_ASR_ARGS") {
        let parts: Vec<&str> = args.split_whitespace().collect();
        config.extra_args = parts
            .chunks(2)
            .map(|c| (c[0].to_string(), c[1].to_string()))
            .collect();
    }
    let accuracy = run(config, "bigram over the phrases (default)");
    // Measured 83.9% (47/56); the goal is 90%. This floor catches regressions.
    assert!(
        accuracy >= 0.75,
        "top-1 accuracy {:.1}% < 75%",
        accuracy * 100.0
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
    // Measured 33.9%: callers' paraphrases mostly have no path through whole phrases.
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
    // Measured 53.6%: the free loop inserts short words.
    assert!(
        accuracy < 0.8,
        "the word loop now reaches {:.1}%; revisit the default",
        accuracy * 100.0
    );
}
