//! The engine's own prompts (used when the plan does not give one), in English and Chinese.

/// A prompt the engine says on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    /// Before hanging up on a stuck caller, or for the global `goodbye` intent.
    Goodbye,
    /// After silence, when the step has no `no_input` prompt.
    NoInput,
    /// After an unrecognised answer, when the step has no `no_match`/`retry` prompt.
    NoMatch,
    /// After an FAQ question that matched nothing.
    NoAnswer,
    /// After an FAQ answer, when the step has no `confirm` prompt.
    Answered,
}

/// Every built-in prompt, for TTS warm-up.
pub(crate) const BUILTIN_ALL: [Builtin; 5] = [
    Builtin::Goodbye,
    Builtin::NoInput,
    Builtin::NoMatch,
    Builtin::NoAnswer,
    Builtin::Answered,
];

impl Builtin {
    /// The text in a language (Chinese for `zh*`, English otherwise).
    pub(crate) fn text(self, language: &str) -> &'static str {
        let zh = language.starts_with("zh");
        match (self, zh) {
            (Builtin::Goodbye, false) => "Goodbye.",
            (Builtin::Goodbye, true) => "再见。",
            (Builtin::NoInput, false) => "Sorry, I didn't hear you.",
            (Builtin::NoInput, true) => "抱歉，我没有听到。",
            (Builtin::NoMatch, false) => "Sorry, I didn't get that.",
            (Builtin::NoMatch, true) => "抱歉，我没有听懂。",
            (Builtin::NoAnswer, false) => "Sorry, I don't have an answer to that.",
            (Builtin::NoAnswer, true) => "抱歉，这个问题我无法回答。",
            (Builtin::Answered, false) => "Did that answer your question?",
            (Builtin::Answered, true) => "这回答了您的问题吗？",
        }
    }
}

/// "Did you mean …?" for an intent described by `label`.
pub(crate) fn did_you_mean(label: &str, language: &str) -> String {
    if language.starts_with("zh") {
        format!("您是说“{label}”吗？")
    } else {
        format!("Did you mean {label}?")
    }
}

/// The read-back of a collected value.
pub(crate) fn read_back(value: &str, language: &str) -> String {
    if language.starts_with("zh") {
        format!("您说的是{value}，对吗？")
    } else {
        format!("You said {value}. Is that right?")
    }
}

/// Hints for a yes/no question.
pub(crate) fn yes_no_hints(language: &str) -> Vec<String> {
    let words: &[&str] = if language.starts_with("zh") {
        &["是", "对", "不是", "不对"]
    } else {
        &["yes", "no", "yeah", "nope", "that's right"]
    };
    words.iter().map(|w| (*w).to_owned()).collect()
}
