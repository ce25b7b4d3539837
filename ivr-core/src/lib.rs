//! The IVR engine.
#![forbid(unsafe_code)]
