//! Embedded, deterministic language understanding for dial plans: intent matching and slot
//! values.
//!
//! * [`normalize`] and [`tokenize`] — canonical text (case, punctuation, full-width characters,
//!   contractions) and weighted tokens (stemmed English words; Chinese characters and bigrams).
//! * [`Matcher`] — ranks an utterance against a plan's intents (BM25 over the examples, fuzzy
//!   words, synonyms) and calibrates a confidence for `intent_threshold`; see [`matcher`] for
//!   the method.
//! * [`fixtures`] — sample intent sets (bank, clinic in English and Chinese, delivery) shared by
//!   the accuracy test and the example plans.
//! * [`entities`] — slot values for `collect`: digits, numbers, currency, dates, times, yes/no
//!   and phone numbers, in English and Chinese.
//!
//! Nothing here does I/O or reads a clock: dates are resolved against a `today` the caller
//! passes in.
#![warn(missing_docs)]

pub mod entities;
pub mod fixtures;
pub mod fuzzy;
pub mod matcher;
pub mod normalize;
pub mod tokenize;

pub use entities::{extract_digits, parse_slot, SlotKind};
pub use matcher::{IntentSpec, Matcher, Ranking, Scored, Scratch};
pub use normalize::normalize;
