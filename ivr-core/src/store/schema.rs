//! The schema, as a list of numbered migrations applied in order when the store opens.
//!
//! The SQL is written once for SQLite and PostgreSQL: only `TEXT` and `BIGINT` columns
//! (instants are Unix milliseconds, JSON is text), `$n` placeholders, and `{id}` standing for
//! the auto-numbered key each database spells differently. Applied versions are kept in
//! `schema_migrations`, so opening a store twice applies nothing the second time. Migrations
//! are never edited once released: a change is a new migration.

use sqlx::{AnyConnection, Connection as _, Executor as _};

use super::{Backend, StoreError};

/// One schema change.
struct Migration {
    /// Its number; applied in increasing order.
    version: i64,
    /// What it does.
    name: &'static str,
    /// Statements separated by `;` (no `;` inside them).
    sql: &'static str,
}

/// Every migration, oldest first.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "calls, events, transcripts, agent states, callbacks, audit",
        sql: r#"
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    trunk TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT,
    dial_plan TEXT NOT NULL,
    dial_plan_version TEXT NOT NULL,
    node_path TEXT NOT NULL,
    intents TEXT NOT NULL,
    slots TEXT NOT NULL,
    outcome TEXT,
    queue TEXT,
    wait_ms BIGINT NOT NULL,
    agent_id TEXT,
    talk_ms BIGINT NOT NULL,
    disposition TEXT,
    notes TEXT,
    hangup_cause TEXT,
    hangup_side TEXT
);
CREATE INDEX calls_started ON calls (started_at, call_id);
CREATE INDEX calls_from ON calls (from_number, started_at);
CREATE INDEX calls_to ON calls (to_number, started_at);
CREATE INDEX calls_queue ON calls (queue, started_at);
CREATE INDEX calls_agent ON calls (agent_id, started_at);
CREATE INDEX calls_disposition ON calls (disposition, started_at);
CREATE TABLE call_events (
    id {id},
    call_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX call_events_call ON call_events (call_id, id);
CREATE TABLE transcripts (
    call_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    who TEXT NOT NULL,
    text TEXT NOT NULL,
    node TEXT,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE agent_states (
    id {id},
    agent_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    from_ts BIGINT NOT NULL,
    to_ts BIGINT
);
CREATE INDEX agent_states_agent ON agent_states (agent_id, from_ts);
CREATE TABLE callbacks (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    number TEXT NOT NULL,
    priority BIGINT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    context TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX callbacks_status ON callbacks (status, queue, priority, enqueued_at);
CREATE TABLE audit (
    id {id},
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    ts BIGINT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_ts ON audit (ts)
"#,
    },
    Migration {
        version: 2,
        name: "quality inspection results",
        sql: r#"
CREATE TABLE qa_results (
    call_id TEXT NOT NULL,
    rules TEXT NOT NULL,
    score BIGINT NOT NULL,
    findings TEXT NOT NULL,
    scored_at BIGINT NOT NULL,
    PRIMARY KEY (call_id, rules)
);
CREATE INDEX qa_results_scored ON qa_results (scored_at)
"#,
    },
    Migration {
        version: 3,
        name: "outbound campaigns, their contacts and call attempts",
        sql: r#"
CREATE TABLE campaigns (
    id {id},
    name TEXT NOT NULL,
    plan TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE campaign_contacts (
    id {id},
    campaign_id BIGINT NOT NULL,
    number TEXT NOT NULL,
    name TEXT,
    vars TEXT NOT NULL,
    timezone TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_outcome TEXT,
    sip_code BIGINT,
    result TEXT,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX campaign_contacts_number ON campaign_contacts (campaign_id, number);
CREATE INDEX campaign_contacts_ready ON campaign_contacts (campaign_id, status, id);
CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, status, next_attempt_at);
CREATE TABLE campaign_attempts (
    id {id},
    campaign_id BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    attempt_no BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT NOT NULL,
    sip_code BIGINT,
    call_id TEXT
);
CREATE UNIQUE INDEX campaign_attempts_once ON campaign_attempts (contact_id, attempt_no);
CREATE INDEX campaign_attempts_outcome ON campaign_attempts (campaign_id, outcome)
"#,
    },
    Migration {
        version: 4,
        name: "answering-machine verdict on call records",
        sql: r#"
ALTER TABLE calls ADD COLUMN amd TEXT
"#,
    },
];

/// The newest schema version this build knows.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the schema up to date; returns the number of migrations applied.
pub(super) async fn migrate(
    conn: &mut AnyConnection,
    backend: Backend,
    location: &str,
) -> Result<usize, StoreError> {
    let query = |source| StoreError::Query {
        what: "schema_migrations",
        source,
    };
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(query)?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await
        .map_err(query)?;
    let current = current.unwrap_or(0);
    if current > latest_version() {
        return Err(StoreError::SchemaTooNew {
            location: location.to_string(),
            found: current,
            known: latest_version(),
        });
    }
    let mut applied = 0;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let sql = m.sql.replace("{id}", backend.auto_id());
        let mut tx = conn.begin().await.map_err(failed)?;
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            tx.execute(statement).await.map_err(failed)?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(super::model::now_unix_ms())
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        applied += 1;
    }
    Ok(applied)
}
