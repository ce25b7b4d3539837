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
//! - [`load`]: YAML to plan, with every problem positioned ([`diagnostics`]).
//! - [`validate`]: the checks of `ivr check` on a loaded plan.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calendar;
pub mod diagnostics;
pub mod expr;
pub mod load;
pub mod model;
pub mod template;
pub mod validate;

pub use calendar::Calendar;
pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use expr::{EvalError, Expr, Vars};
pub use load::{load, load_str, FsProvider, MemoryProvider, SourceProvider};
pub use model::*;
pub use template::Template;
pub use validate::{check, check_paths, compile, validate};
