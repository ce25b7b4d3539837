//! The YAML dial-plan language: typed model, loader with positions, validator, intent matcher and a
//! pure interpreter.
//!
//! The crate is empty until the dial-plan language is built; `ivr serve` runs a built-in demo flow
//! meanwhile.
#![forbid(unsafe_code)]

pub mod nlu;
