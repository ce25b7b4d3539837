//! The call store: call detail records, call events, transcripts, agent state history, queue
//! callbacks and the audit log, in SQLite (a file, by default) or PostgreSQL (by URL).
//!
//! * [`Store`] opens the database, applies the schema migrations (see `schema.rs`) and offers
//!   a typed, awaiting method per insert, update and query.
//! * [`StoreWriter`] is what call tasks hold: its methods never wait. Records go over channels
//!   to a writer task that commits them in batches, a transaction at a time. Events and
//!   transcript turns share a bounded queue and are counted and dropped when it is full; call
//!   records, wrap-ups, agent states, callbacks and audit entries are never dropped. A finished
//!   call's record is committed as soon as the writer gets to it (milliseconds), so a crash of
//!   the process afterwards loses nothing; [`StoreWriter::flush`] and
//!   [`StoreWriter::shutdown`] wait until everything sent is on disk.
//!
//! What the store is given must already be redacted (masked slots, transcripts without card
//! numbers): it writes what it gets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ivr_core::store::StoreError> {
//! use ivr_core::store::{CallStart, Cdr, Direction, Store, StoreWriter, WriterConfig};
//!
//! let store = Store::open("data/ivr.db").await?;
//! let writer = StoreWriter::start(store.clone(), WriterConfig::default());
//! let start = CallStart {
//!     call_id: "c-1".into(),
//!     direction: Direction::Inbound,
//!     from_number: "+15550100".into(),
//!     to_number: "+15550199".into(),
//!     trunk: "main".into(),
//!     started_at_unix_ms: 1_700_000_000_000,
//!     dial_plan: "bank".into(),
//!     dial_plan_version: "3".into(),
//! };
//! writer.begin_call(start.clone());
//! let mut cdr = Cdr::started(start);
//! cdr.ended_at_unix_ms = Some(1_700_000_060_000);
//! writer.finish_call(cdr);
//! writer.shutdown().await?;
//! # Ok(()) }
//! ```

mod db;
mod model;
mod schema;
mod writer;

pub use db::Store;
pub use model::{
    now_unix_ms, unix_ms, AgentStateChange, AgentStateSpan, AuditEntry, CallEvent, CallStart,
    Callback, CallbackStatus, Cdr, CdrCursor, CdrFilter, Direction, HangupSide, IntentScore,
    Outcome, SlotValue, Speaker, Turn,
};
pub use model::{
    AttemptOutcome, AttemptRecord, AttemptResult, CampaignContact, CampaignProgress,
    CampaignRecord, CampaignState, ContactStatus, ContactUpdate, NewCampaign, NewContact,
};
pub use model::{QaFilter, QaRecord};
pub use writer::{StoreWriter, WriterConfig, WriterStats};

use std::path::PathBuf;

/// Which database a [`Store`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The column type of an auto-numbered primary key.
    fn auto_id(self) -> &'static str {
        match self {
            Backend::Sqlite => "INTEGER PRIMARY KEY",
            Backend::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }
}

/// What can go wrong with the call store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location is neither a file path, a `sqlite:` URL nor a `postgres://` URL.
    #[error(
        "unsupported call store location {url:?}: give a file path (data/ivr.db), \
         sqlite://PATH or postgres://USER:PASSWORD@HOST/DB"
    )]
    UnsupportedUrl {
        /// The location, password removed.
        url: String,
    },
    /// The folder for the SQLite file could not be created.
    #[error("cannot create the folder {path} for the call store: {source}; check the store path and permissions")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened or connected to.
    #[error("cannot open the call store at {location}: {source}; check the store location in the configuration")]
    Open {
        /// Where (password removed).
        location: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A schema migration failed; the database is left at the previous version.
    #[error("call store schema migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's number.
        version: i64,
        /// What it does.
        name: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// The database was created by a newer version of ivr.
    #[error(
        "the call store at {location} has schema version {found}, newer than this ivr knows \
         ({known}); run a newer ivr or point the store elsewhere"
    )]
    SchemaTooNew {
        /// Where (password removed).
        location: String,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A statement failed.
    #[error("call store query on {what} failed: {source}")]
    Query {
        /// The table or operation.
        what: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A column could not be read as the expected type.
    #[error("call store column {table}.{column} cannot be read: {source}")]
    Column {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A stored value is not one this version understands.
    #[error("call store column {table}.{column} holds {value:?}, which this version cannot read")]
    BadValue {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The value (first 80 characters).
        value: String,
    },
    /// The writer task has stopped (after shutdown, or it panicked).
    #[error("the call store writer has stopped")]
    WriterStopped,
    /// Records could not be written before shutdown finished.
    #[error("{lost} call store records could not be written before shutdown: {last_error}")]
    Unwritten {
        /// How many.
        lost: usize,
        /// The last database error.
        last_error: String,
    },
}
