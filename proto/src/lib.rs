//! Generated gRPC code for package `ivr.v1` (agent, supervisor and admin services).
//!
//! The crate is empty until the gRPC API is built.
#![forbid(unsafe_code)]
