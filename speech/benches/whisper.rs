//! Whisper benchmark (placeholder during setup).
fn main() {}
