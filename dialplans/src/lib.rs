//! The YAML dial-plan language: typed model, loader with positions, validator, intent matcher and a
//! pure interpreter.
//!
//! The language itself is described in `docs/dialplans.md`. This crate does no I/O except through
//! an explicit [`SourceProvider`] when loading plan files, and reads no clock: times are
//! parameters.
//!
//! - [`model`]: the typed plan ([`Plan`], [`Node`], [`Step`], …).
//! - [`template`]: `{{ path | filter }}` prompt templates.
//! - [`expr`]: the condition language of `branch` and templates.
//! - [`calendar`]: business hours and holidays.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calendar;
pub mod expr;
pub mod model;
pub mod template;

pub use calendar::Calendar;
pub use expr::{EvalError, Expr, Vars};
pub use model::*;
pub use template::Template;
