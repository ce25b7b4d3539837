//! Privacy primitives for regulated deployments (PIPL, GDPR, PCI DSS style duties).
//!
//! * [`redact`] — masks card numbers, phones, resident IDs, e-mails, bank accounts and
//!   spoken digits in transcripts and logs before they are stored or shown.
//! * [`crypt`] — encrypts call recordings at rest (AES-256-GCM, chunked, with key rotation).
//! * [`audit`] — an append-only, hash-chained log of who did what to personal data.
//! * [`retention`] — deletes recordings older than the retention period.
//!
//! These are library pieces with no global state; the engine decides where to call them.

pub mod audit;
pub mod crypt;
pub mod redact;
pub mod retention;
