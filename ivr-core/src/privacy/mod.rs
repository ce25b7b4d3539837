//! Privacy primitives for regulated deployments (PIPL, GDPR, PCI DSS style duties).
//!
//! * [`redact`] — masks card numbers, phones, resident IDs, e-mails, bank accounts and
//!   spoken digits in transcripts and logs before they are stored or shown.
//! * [`crypt`] — encrypts call recordings at rest (AES-256-GCM, chunked, with key rotation).
//! * [`audit`] — an append-only, hash-chained log of who did what to personal data.
//! * [`recording`] — the keyring from `[privacy]`, sealing finished recordings, opening them.
//! * [`retention`] — deletes recordings and transcripts older than their retention periods.
//! * [`rights`] — the data subject's rights: export and erasure of a caller's data, and the
//!   authorised export of one recording.
//!
//! These are library pieces with no global state; the engine decides where to call them.

pub mod audit;
pub mod cli;
pub mod crypt;
pub mod recording;
pub mod redact;
pub mod retention;
pub mod rights;
