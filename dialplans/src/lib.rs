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
//! - [`load`](mod@load): YAML to plan, with every problem positioned ([`diagnostics`]).
//! - [`validate`](mod@validate): the checks of `ivr check` on a loaded plan.
//! - [`interpreter`]: runs a plan for one call ([`interpreter::Session`]), a pure state machine.
//! - [`testing`]: conversation tests (`ivr test`) and the text chat (`ivr chat`).
//!
//! ```
//! let yaml = r#"
//! version: 1
//! name: hello
//! language: en-US
//! settings: { escalate_to: bye }
//! start: main
//! nodes:
//!   main:
//!     say: "Hello {{ caller.name | default(\"there\") }}."
//!     next: bye
//!   bye:
//!     hangup: { say: "Goodbye." }
//! "#;
//! let plan = ivr_dialplans::load_str("hello.yaml", yaml).expect("loads");
//! assert!(ivr_dialplans::validate(&plan).is_empty());
//!
//! let main = plan.node(plan.start.node).unwrap();
//! let say = main.say.as_ref().unwrap().text("en-US", &plan.language, 0).unwrap();
//! assert_eq!(say.render(&|_: &ivr_dialplans::VarPath| None), "Hello there.");
//!
//! // Problems come back all at once, positioned, with a hint.
//! let broken = yaml.replace("next: bye", "nxt: bye");
//! let problems = ivr_dialplans::load_str("hello.yaml", &broken).unwrap_err();
//! assert_eq!(
//!     problems.iter().next().unwrap().to_string(),
//!     "hello.yaml:10:5: unknown key `nxt` in node `main` — did you mean `next`?"
//! );
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calendar;
pub mod diagnostics;
pub mod expr;
pub mod interpreter;
pub mod load;
pub mod model;
pub mod nlu;
pub mod template;
pub mod testing;
pub mod validate;

pub use calendar::Calendar;
pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use expr::{EvalError, Expr, Vars};
pub use load::{load, load_str, FsProvider, MemoryProvider, SourceProvider};
pub use model::*;
pub use template::Template;
pub use validate::{check, check_paths, compile, validate};
