//! Sentiment of one caller turn, from what was said and how.
//!
//! [`score`] reads the turn's text against a lexicon (English and Chinese, in `en.tsv` and
//! `zh.tsv` beside this file) and, when given one, the turn's [`Prosody`] from a
//! [`ProsodyTracker`] fed the utterance's frames.
//!
//! **Text.** Latin-script words are looked up in the English lexicon (two-word terms first: "thank
//! you", "rip off"); Han characters are segmented by forward maximum matching against the Chinese
//! lexicon, so "不错" (not bad: good) wins over the negator "不". Each valence word `v` (-1..1)
//! counts as
//!
//! ```text
//! v × k (an intensifier within 2 tokens before: "very" 1.5, "非常" 1.6, "有点" 0.6)
//!   × -0.7 (a negator within 3 tokens before, in the same clause: "not", "不", "没有")
//!   × 1.3 (written in capitals: "USELESS")
//! ```
//!
//! Valence after a contrast word ("but", "但是") weighs 1.5, before it 0.5. Each exclamation
//! mark (up to three) adds 10%. The sum `s` is squashed into `text = squash(s)`, where
//! `squash(s) = s / sqrt(s² + 1)`.
//!
//! **Prosody.** [`Prosody::arousal`] (0..1) rises with loudness, pitch variability and speaking
//! rate. It makes a negative text stronger and leaves the rest alone:
//!
//! ```text
//! score = squash(s × (1 + 0.8 × arousal))   when s < 0
//! score = squash(s)                          otherwise
//! ```
//!
//! (Strengthening the sum before squashing keeps the score below -1 never and monotonic always:
//! even a strongly negative text gets more negative with a more agitated voice.)
//!
//! A shouted "this is useless" scores more negative than a calm one, while a shouted "thank you"
//! stays as positive as the words say (loud joy is not anger).

mod lexicon;
pub mod prosody;

pub use prosody::{Prosody, ProsodyTracker};

/// How much full arousal strengthens a negative text score.
const AROUSAL_GAIN: f32 = 0.8;
/// Scores closer to zero than this are [`Polarity::Neutral`].
const NEUTRAL_BAND: f32 = 0.05;

/// The sentiment of one turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentiment {
    /// The combined score, -1 (very negative) to 1 (very positive).
    pub score: f32,
    /// The score of the words alone, -1..1.
    pub text_score: f32,
    /// How agitated the voice sounded, 0..1 (0 without prosody).
    pub arousal: f32,
    /// Lexicon words that carried valence.
    pub matched_words: u16,
    /// Whether the language has a lexicon; if not, only prosody could speak (and it only
    /// strengthens a negative text, so the score is 0).
    pub language_supported: bool,
}

/// The sign of a [`Sentiment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polarity {
    /// Score below -0.05.
    Negative,
    /// Score within ±0.05.
    Neutral,
    /// Score above 0.05.
    Positive,
}

impl Sentiment {
    /// Negative, neutral or positive.
    pub fn polarity(&self) -> Polarity {
        if self.score < -NEUTRAL_BAND {
            Polarity::Negative
        } else if self.score > NEUTRAL_BAND {
            Polarity::Positive
        } else {
            Polarity::Neutral
        }
    }
}

/// Whether `language` (a BCP 47 tag such as `en-US`, `zh-CN`, `cmn`) has a lexicon.
pub fn language_supported(language: &str) -> bool {
    let primary = language
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(primary.as_str(), "en" | "zh" | "cmn" | "yue")
}

/// Scores one turn: `text` in `language`, optionally with how it was said. See the
/// [module documentation](self) for the formula. For a supported language both lexicons are
/// consulted, since callers mix English words into Chinese and the reverse.
pub fn score(text: &str, language: &str, prosody: Option<&Prosody>) -> Sentiment {
    let supported = language_supported(language);
    let (sum, matched_words) = if supported {
        lexicon::valence_sum(&lexicon::tokenize(text))
    } else {
        (0.0, 0)
    };
    let arousal = prosody.map_or(0.0, Prosody::arousal);
    let text_score = lexicon::squash(sum);
    let score = if sum < 0.0 {
        lexicon::squash(sum * (1.0 + AROUSAL_GAIN * arousal))
    } else {
        text_score
    };
    Sentiment {
        score,
        text_score,
        arousal,
        matched_words,
        language_supported: supported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_files_parse_completely() {
        let count = |src: &str| {
            src.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .count()
        };
        assert_eq!(lexicon::english().len(), count(include_str!("en.tsv")));
        assert_eq!(lexicon::chinese().len(), count(include_str!("zh.tsv")));
    }

    #[test]
    fn sentences_get_the_expected_sign() {
        use Polarity::*;
        let table: &[(&str, &str, Polarity)] = &[
            (
                "en",
                "This is ridiculous, your service is useless.",
                Negative,
            ),
            (
                "en",
                "I am very angry and I want to make a complaint.",
                Negative,
            ),
            ("en", "I'm not happy with this at all.", Negative),
            ("en", "That was not bad actually.", Positive),
            ("en", "Thank you, that was really helpful.", Positive),
            ("en", "Great, the problem is solved.", Positive),
            ("en", "No problem.", Positive),
            ("en", "I would like to check my balance.", Neutral),
            (
                "en",
                "The agent was nice but the wait was terrible.",
                Negative,
            ),
            (
                "en",
                "It was slow but they were very helpful in the end.",
                Positive,
            ),
            ("en", "USELESS!!!", Negative),
            ("en", "I don't like waiting and I'm fed up.", Negative),
            ("zh", "我要投诉，你们的服务太差了！", Negative),
            ("zh", "我很生气，这简直是垃圾。", Negative),
            ("zh", "我对这个结果不满意。", Negative),
            ("zh-CN", "服务不错，谢谢你们。", Positive),
            ("zh", "非常满意，问题解决了。", Positive),
            ("zh", "没问题。", Positive),
            ("zh", "我想查询一下账户余额。", Neutral),
            ("zh", "你好，我想问一下。", Neutral),
            ("cmn", "态度还可以，但是等了太久，太离谱了。", Negative),
            ("zh", "这个app真的没用，useless。", Negative),
        ];
        for &(lang, text, want) in table {
            let s = score(text, lang, None);
            assert_eq!(s.polarity(), want, "{lang} {text:?}: {s:?}");
        }
    }

    #[test]
    fn negation_and_intensifiers_change_strength_in_order() {
        let s = |t| score(t, "en", None).score;
        assert!(s("very bad") < s("bad"));
        assert!(s("bad") < s("not good"));
        assert!(s("not good") < 0.0);
        assert!(s("not bad") > 0.0);
        assert!(s("slightly annoying") > s("annoying"));
        let z = |t| score(t, "zh", None).score;
        assert!(z("非常生气") < z("生气"));
        assert!(z("不满意") < 0.0 && z("满意") > 0.0);
        assert!(z("不太满意") < 0.0);
    }

    #[test]
    fn scores_stay_within_bounds_for_any_text() {
        let long = "useless terrible awful ".repeat(200);
        let s = score(&long, "en", None);
        assert!(s.score >= -1.0 && s.score < -0.99, "{s:?}");
        for t in [
            "",
            "!!!",
            "。。",
            "\u{0}\u{ffff}",
            "a'b'c",
            "不不不不",
            "very very very",
        ] {
            let s = score(t, "zh", None);
            assert!((-1.0..=1.0).contains(&s.score), "{t:?} {s:?}");
        }
    }

    #[test]
    fn an_unsupported_language_scores_zero_text() {
        let s = score("this is useless", "fr-FR", None);
        assert!(!s.language_supported);
        assert_eq!(s.score, 0.0);
        assert_eq!(s.polarity(), Polarity::Neutral);
    }

    #[test]
    fn arousal_strengthens_only_negative_text() {
        let agitated = Prosody {
            frames: 100,
            active_frames: 100,
            voiced_frames: 80,
            energy_mean_dbov: -12.0,
            energy_std_db: 6.0,
            pitch_mean_hz: 220.0,
            pitch_std_hz: 70.0,
            syllables: 14,
            speaking_rate: 7.0,
        };
        assert!((agitated.arousal() - 1.0).abs() < 1e-6);
        let calm = score("this is useless", "en", None);
        let loud = score("this is useless", "en", Some(&agitated));
        assert!(loud.score < calm.score - 0.15, "{calm:?} {loud:?}");
        assert!(loud.score >= -1.0);
        let thanks = score("thank you", "en", Some(&agitated));
        assert_eq!(thanks.score, score("thank you", "en", None).score);
    }
}
