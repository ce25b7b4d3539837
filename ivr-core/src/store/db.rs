//! [`Store`]: opening the database, and every insert, update and query as a typed method.
//!
//! The statements are shared with the [`super::StoreWriter`]'s batches through the
//! `pub(super)` functions taking a connection, so a batch and a direct call write the same rows.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool, Connection as _, Executor as _, Row as _};

use super::model::{
    now_unix_ms, AgentStateChange, AgentStateSpan, AuditEntry, CallEvent, CallStart, Callback,
    CallbackStatus, Cdr, CdrFilter, Direction, HangupSide, IntentScore, Outcome, SlotValue,
    Speaker, Turn,
};
use super::model::{QaFilter, QaRecord};
use super::{schema, Backend, StoreError};

/// The call store: a pool of connections to SQLite (a file) or PostgreSQL.
///
/// Cheap to clone. Every method awaits the database; the call path uses
/// [`super::StoreWriter`] instead, which never waits.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    location: String,
}

impl Store {
    /// Opens the store at `location` and brings its schema up to date.
    ///
    /// `location` is a file path (`data/ivr.db`; the file and its folder are created), a
    /// `sqlite://PATH` URL, or a `postgres://user:password@host/db` URL. SQLite files run in WAL
    /// mode with `synchronous=NORMAL`: a committed record survives a crash of the process.
    pub async fn open(location: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = resolve(location)?;
        let shown = redact(location);
        let open_failed = |source| StoreError::Open {
            location: shown.clone(),
            source,
        };

        // One connection first: switching to WAL needs the database to itself, and the
        // migrations must finish before the pool hands out connections.
        let mut conn = AnyConnection::connect(&url).await.map_err(open_failed)?;
        if backend == Backend::Sqlite {
            conn.execute("PRAGMA journal_mode=WAL")
                .await
                .map_err(open_failed)?;
        }
        schema::migrate(&mut conn, backend, &shown).await?;
        conn.close().await.map_err(open_failed)?;

        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA synchronous=NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(open_failed)?;
        Ok(Store {
            pool,
            backend,
            location: shown,
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the store is, for messages (passwords removed from URLs).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The newest schema version applied.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(failed("schema_version"))?;
        Ok(v.unwrap_or(0))
    }

    /// Closes every connection, waiting for queries in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    #[cfg(test)]
    pub(super) fn pool_for_tests(&self) -> AnyPool {
        self.pool.clone()
    }

    pub(super) async fn connection(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        self.pool.acquire().await.map_err(failed("acquire"))
    }

    /// Records that a call started (kept if the call is already recorded).
    pub async fn begin_call(&self, start: &CallStart) -> Result<(), StoreError> {
        begin_call(&mut *self.connection().await?, start).await
    }

    /// Writes the complete record of a call, replacing what [`Store::begin_call`] wrote. A
    /// disposition already recorded by [`Store::record_wrap_up`] is kept if `cdr` has none.
    pub async fn finish_call(&self, cdr: &Cdr) -> Result<(), StoreError> {
        finish_call(&mut *self.connection().await?, cdr).await
    }

    /// Records the wrap-up of a call; false if the call is not recorded.
    pub async fn record_wrap_up(
        &self,
        call_id: &str,
        disposition: &str,
        notes: &str,
    ) -> Result<bool, StoreError> {
        record_wrap_up(&mut *self.connection().await?, call_id, disposition, notes).await
    }

    /// Appends an event to a call's log.
    pub async fn append_event(&self, event: &CallEvent) -> Result<(), StoreError> {
        append_event(&mut *self.connection().await?, event).await
    }

    /// Appends a transcript turn (a turn with the same call and `seq` is kept once).
    pub async fn append_turn(&self, turn: &Turn) -> Result<(), StoreError> {
        append_turn(&mut *self.connection().await?, turn).await
    }

    /// Records an agent entering a state, closing the span of their previous state.
    pub async fn record_agent_state(&self, change: &AgentStateChange) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(failed("agent_states"))?;
        record_agent_state(&mut tx, change).await?;
        tx.commit().await.map_err(failed("agent_states"))
    }

    /// Saves a callback (inserting it, or updating the one with the same id).
    pub async fn save_callback(&self, callback: &Callback) -> Result<(), StoreError> {
        save_callback(&mut *self.connection().await?, callback).await
    }

    /// Sets a callback's status (usually Done, Failed or Cancelled); false if there is no such
    /// callback.
    pub async fn complete_callback(
        &self,
        id: &str,
        status: CallbackStatus,
    ) -> Result<bool, StoreError> {
        complete_callback(&mut *self.connection().await?, id, status, now_unix_ms()).await
    }

    /// Appends an entry to the audit log.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        audit(&mut *self.connection().await?, entry).await
    }

    /// One call's record.
    pub async fn call(&self, call_id: &str) -> Result<Option<Cdr>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CDR_COLUMNS} FROM calls WHERE call_id = $1"
        ))
        .bind(call_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("calls"))?;
        row.as_ref().map(cdr_from_row).transpose()
    }

    /// Call records matching `filter`, newest first (ties by call id, descending).
    pub async fn query_calls(&self, filter: &CdrFilter) -> Result<Vec<Cdr>, StoreError> {
        let mut sql = format!("SELECT {CDR_COLUMNS} FROM calls WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        // Placeholders are numbered in the order the values are bound below.
        if filter.from_unix_ms.is_some() {
            sql += &format!(" AND started_at >= ${}", next());
        }
        if filter.to_unix_ms.is_some() {
            sql += &format!(" AND started_at < ${}", next());
        }
        if filter.number.is_some() {
            let i = next();
            sql += &format!(" AND (from_number = ${i} OR to_number = ${i})");
        }
        if filter.queue.is_some() {
            sql += &format!(" AND queue = ${}", next());
        }
        if filter.agent_id.is_some() {
            sql += &format!(" AND agent_id = ${}", next());
        }
        if filter.disposition.is_some() {
            sql += &format!(" AND disposition = ${}", next());
        }
        if filter.finished_only {
            sql += " AND ended_at IS NOT NULL";
        }
        if filter.before.is_some() {
            let (t, id) = (next(), next());
            sql += &format!(" AND (started_at < ${t} OR (started_at = ${t} AND call_id < ${id}))");
        }
        sql += &format!(
            " ORDER BY started_at DESC, call_id DESC LIMIT {}",
            filter.effective_limit()
        );

        let mut query = sqlx::query(&sql);
        if let Some(t) = filter.from_unix_ms {
            query = query.bind(t);
        }
        if let Some(t) = filter.to_unix_ms {
            query = query.bind(t);
        }
        for text in [
            &filter.number,
            &filter.queue,
            &filter.agent_id,
            &filter.disposition,
        ]
        .into_iter()
        .flatten()
        {
            query = query.bind(text.as_str());
        }
        if let Some(cursor) = &filter.before {
            query = query
                .bind(cursor.started_at_unix_ms)
                .bind(cursor.call_id.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(failed("calls"))?;
        rows.iter().map(cdr_from_row).collect()
    }

    /// A call's events, in the order they were appended.
    pub async fn events(&self, call_id: &str) -> Result<Vec<CallEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT call_id, ts, name, data FROM call_events WHERE call_id = $1 ORDER BY id",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("call_events"))?;
        rows.iter()
            .map(|row| {
                Ok(CallEvent {
                    call_id: get(row, "call_events", "call_id")?,
                    at_unix_ms: get(row, "call_events", "ts")?,
                    name: get(row, "call_events", "name")?,
                    data: json_column(row, "call_events", "data")?,
                })
            })
            .collect()
    }

    /// A call's transcript, in order.
    pub async fn transcript(&self, call_id: &str) -> Result<Vec<Turn>, StoreError> {
        let rows = sqlx::query(
            "SELECT call_id, seq, who, text, node, at_ms FROM transcripts \
             WHERE call_id = $1 ORDER BY seq",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("transcripts"))?;
        rows.iter()
            .map(|row| {
                let seq: i64 = get(row, "transcripts", "seq")?;
                let at_ms: i64 = get(row, "transcripts", "at_ms")?;
                Ok(Turn {
                    call_id: get(row, "transcripts", "call_id")?,
                    seq: u32::try_from(seq).unwrap_or(u32::MAX),
                    who: parse_enum(row, "transcripts", "who", Speaker::parse)?,
                    text: get(row, "transcripts", "text")?,
                    node: get(row, "transcripts", "node")?,
                    at_ms: u64::try_from(at_ms).unwrap_or(0),
                })
            })
            .collect()
    }

    /// An agent's state history from `since_unix_ms` on, oldest first.
    pub async fn agent_states(
        &self,
        agent_id: &str,
        since_unix_ms: i64,
    ) -> Result<Vec<AgentStateSpan>, StoreError> {
        let rows = sqlx::query(
            "SELECT agent_id, state, reason, from_ts, to_ts FROM agent_states \
             WHERE agent_id = $1 AND (to_ts IS NULL OR to_ts >= $2) ORDER BY from_ts, id",
        )
        .bind(agent_id)
        .bind(since_unix_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("agent_states"))?;
        rows.iter()
            .map(|row| {
                Ok(AgentStateSpan {
                    agent_id: get(row, "agent_states", "agent_id")?,
                    state: get(row, "agent_states", "state")?,
                    reason: get(row, "agent_states", "reason")?,
                    from_unix_ms: get(row, "agent_states", "from_ts")?,
                    to_unix_ms: get(row, "agent_states", "to_ts")?,
                })
            })
            .collect()
    }

    /// Pending callbacks (of one queue, or all), in the order to serve them: highest priority
    /// first, then longest waiting.
    pub async fn callbacks_pending(
        &self,
        queue: Option<&str>,
    ) -> Result<Vec<Callback>, StoreError> {
        let mut sql = String::from(
            "SELECT id, queue, number, priority, enqueued_at, context, status FROM callbacks \
             WHERE status = $1",
        );
        if queue.is_some() {
            sql += " AND queue = $2";
        }
        sql += " ORDER BY priority DESC, enqueued_at, id";
        let mut query = sqlx::query(&sql).bind(CallbackStatus::Pending.as_str());
        if let Some(queue) = queue {
            query = query.bind(queue);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(failed("callbacks"))?;
        rows.iter().map(callback_from_row).collect()
    }

    /// Audit entries from `since_unix_ms` on, oldest first, at most `limit`.
    pub async fn audit_entries(
        &self,
        since_unix_ms: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT actor, role, action, target, ts, details FROM audit \
             WHERE ts >= $1 ORDER BY ts, id LIMIT {limit}"
        ))
        .bind(since_unix_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("audit"))?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    actor: get(row, "audit", "actor")?,
                    role: get(row, "audit", "role")?,
                    action: get(row, "audit", "action")?,
                    target: get(row, "audit", "target")?,
                    at_unix_ms: get(row, "audit", "ts")?,
                    details: json_column(row, "audit", "details")?,
                })
            })
            .collect()
    }

    /// Saves a call's quality-inspection result, replacing the one scored with the same rule
    /// set (`result.rules_fingerprint`).
    pub async fn save_qa_result(
        &self,
        result: &crate::qa::QaResult,
        scored_at_unix_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO qa_results (call_id, rules, score, findings, scored_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (call_id, rules) DO UPDATE SET score = excluded.score, \
             findings = excluded.findings, scored_at = excluded.scored_at",
        )
        .bind(result.call_id.as_str())
        .bind(result.rules_fingerprint.as_str())
        .bind(i64::from(result.score))
        .bind(to_json(&result.findings))
        .bind(scored_at_unix_ms)
        .execute(&self.pool)
        .await
        .map_err(failed("qa_results"))?;
        Ok(())
    }

    /// Quality-inspection results matching `filter`, newest scored first (ties by call id).
    pub async fn qa_results(&self, filter: &QaFilter) -> Result<Vec<QaRecord>, StoreError> {
        const T: &str = "qa_results";
        let mut sql = String::from(
            "SELECT q.call_id, q.rules, q.score, q.findings, q.scored_at, c.agent_id, \
             c.started_at FROM qa_results q LEFT JOIN calls c ON c.call_id = q.call_id \
             WHERE 1 = 1",
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        // Placeholders are numbered in the order the values are bound below.
        if filter.call_id.is_some() {
            sql += &format!(" AND q.call_id = ${}", next());
        }
        if filter.rules_fingerprint.is_some() {
            sql += &format!(" AND q.rules = ${}", next());
        }
        if filter.from_unix_ms.is_some() {
            sql += &format!(" AND c.started_at >= ${}", next());
        }
        if filter.to_unix_ms.is_some() {
            sql += &format!(" AND c.started_at < ${}", next());
        }
        if filter.below_score.is_some() {
            sql += &format!(" AND q.score < ${}", next());
        }
        sql += " ORDER BY q.scored_at DESC, q.call_id DESC";
        if filter.limit > 0 {
            sql += &format!(" LIMIT {}", filter.limit);
        }
        let mut query = sqlx::query(&sql);
        for text in [&filter.call_id, &filter.rules_fingerprint]
            .into_iter()
            .flatten()
        {
            query = query.bind(text.as_str());
        }
        for t in [filter.from_unix_ms, filter.to_unix_ms]
            .into_iter()
            .flatten()
        {
            query = query.bind(t);
        }
        if let Some(s) = filter.below_score {
            query = query.bind(i64::from(s));
        }
        let rows = query.fetch_all(&self.pool).await.map_err(failed(T))?;
        rows.iter()
            .map(|row| {
                let score: i64 = get(row, T, "score")?;
                Ok(QaRecord {
                    result: crate::qa::QaResult {
                        call_id: get(row, T, "call_id")?,
                        score: u8::try_from(score.clamp(0, 100)).unwrap_or(0),
                        findings: json_column(row, T, "findings")?,
                        rules_fingerprint: get(row, T, "rules")?,
                    },
                    scored_at_unix_ms: get(row, T, "scored_at")?,
                    agent_id: get(row, "calls", "agent_id")?,
                    started_at_unix_ms: get(row, "calls", "started_at")?,
                })
            })
            .collect()
    }

    /// Every call that started in `[from_unix_ms, to_unix_ms)`, oldest first.
    pub async fn calls_between(
        &self,
        from_unix_ms: i64,
        to_unix_ms: i64,
    ) -> Result<Vec<Cdr>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CDR_COLUMNS} FROM calls WHERE started_at >= $1 AND started_at < $2 \
             ORDER BY started_at, call_id"
        ))
        .bind(from_unix_ms)
        .bind(to_unix_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("calls"))?;
        rows.iter().map(cdr_from_row).collect()
    }

    /// The events called `name` of every call that started in `[from_unix_ms, to_unix_ms)`,
    /// by call and then in the order they were appended.
    pub async fn events_named_between(
        &self,
        name: &str,
        from_unix_ms: i64,
        to_unix_ms: i64,
    ) -> Result<Vec<CallEvent>, StoreError> {
        const T: &str = "call_events";
        let rows = sqlx::query(
            "SELECT e.call_id, e.ts, e.name, e.data FROM call_events e \
             JOIN calls c ON c.call_id = e.call_id \
             WHERE e.name = $1 AND c.started_at >= $2 AND c.started_at < $3 \
             ORDER BY e.call_id, e.id",
        )
        .bind(name)
        .bind(from_unix_ms)
        .bind(to_unix_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(failed(T))?;
        rows.iter()
            .map(|row| {
                Ok(CallEvent {
                    call_id: get(row, T, "call_id")?,
                    at_unix_ms: get(row, T, "ts")?,
                    name: get(row, T, "name")?,
                    data: json_column(row, T, "data")?,
                })
            })
            .collect()
    }

    /// The turns spoken by `who` in every call that started in `[from_unix_ms, to_unix_ms)`,
    /// by call and then in order.
    pub async fn turns_between(
        &self,
        who: Speaker,
        from_unix_ms: i64,
        to_unix_ms: i64,
    ) -> Result<Vec<Turn>, StoreError> {
        const T: &str = "transcripts";
        let rows = sqlx::query(
            "SELECT t.call_id, t.seq, t.who, t.text, t.node, t.at_ms FROM transcripts t \
             JOIN calls c ON c.call_id = t.call_id \
             WHERE t.who = $1 AND c.started_at >= $2 AND c.started_at < $3 \
             ORDER BY t.call_id, t.seq",
        )
        .bind(who.as_str())
        .bind(from_unix_ms)
        .bind(to_unix_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(failed(T))?;
        rows.iter()
            .map(|row| {
                let seq: i64 = get(row, T, "seq")?;
                let at_ms: i64 = get(row, T, "at_ms")?;
                Ok(Turn {
                    call_id: get(row, T, "call_id")?,
                    seq: u32::try_from(seq).unwrap_or(u32::MAX),
                    who: parse_enum(row, T, "who", Speaker::parse)?,
                    text: get(row, T, "text")?,
                    node: get(row, T, "node")?,
                    at_ms: u64::try_from(at_ms).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Every callback (whatever its status) whose caller was queued in
    /// `[from_unix_ms, to_unix_ms)`, oldest first.
    pub async fn callbacks_between(
        &self,
        from_unix_ms: i64,
        to_unix_ms: i64,
    ) -> Result<Vec<Callback>, StoreError> {
        const T: &str = "callbacks";
        let rows = sqlx::query(
            "SELECT id, queue, number, priority, enqueued_at, context, status FROM callbacks \
             WHERE enqueued_at >= $1 AND enqueued_at < $2 ORDER BY enqueued_at, id",
        )
        .bind(from_unix_ms)
        .bind(to_unix_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(failed(T))?;
        rows.iter()
            .map(|row| {
                let priority: i64 = get(row, T, "priority")?;
                Ok(Callback {
                    id: get(row, T, "id")?,
                    queue: get(row, T, "queue")?,
                    number: get(row, T, "number")?,
                    priority: i32::try_from(priority).unwrap_or(0),
                    enqueued_at_unix_ms: get(row, T, "enqueued_at")?,
                    context: json_column(row, T, "context")?,
                    status: parse_enum(row, T, "status", CallbackStatus::parse)?,
                })
            })
            .collect()
    }
}

// ---- statements, shared with the writer's batches ----

pub(super) async fn begin_call(
    conn: &mut AnyConnection,
    start: &CallStart,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO calls (call_id, direction, from_number, to_number, trunk, started_at, \
         dial_plan, dial_plan_version, node_path, intents, slots, wait_ms, talk_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]', '[]', '[]', 0, 0) \
         ON CONFLICT (call_id) DO NOTHING",
    )
    .bind(start.call_id.as_str())
    .bind(start.direction.as_str())
    .bind(start.from_number.as_str())
    .bind(start.to_number.as_str())
    .bind(start.trunk.as_str())
    .bind(start.started_at_unix_ms)
    .bind(start.dial_plan.as_str())
    .bind(start.dial_plan_version.as_str())
    .execute(conn)
    .await
    .map_err(failed("calls"))?;
    Ok(())
}

pub(super) async fn finish_call(conn: &mut AnyConnection, cdr: &Cdr) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO calls (call_id, direction, from_number, to_number, trunk, started_at, \
         answered_at, ended_at, dial_plan, dial_plan_version, node_path, intents, slots, outcome, \
         queue, wait_ms, agent_id, talk_ms, disposition, notes, hangup_cause, hangup_side, amd) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $23) \
         ON CONFLICT (call_id) DO UPDATE SET direction = excluded.direction, \
         from_number = excluded.from_number, to_number = excluded.to_number, \
         trunk = excluded.trunk, started_at = excluded.started_at, \
         answered_at = excluded.answered_at, ended_at = excluded.ended_at, \
         dial_plan = excluded.dial_plan, dial_plan_version = excluded.dial_plan_version, \
         node_path = excluded.node_path, intents = excluded.intents, slots = excluded.slots, \
         outcome = excluded.outcome, queue = excluded.queue, wait_ms = excluded.wait_ms, \
         agent_id = excluded.agent_id, talk_ms = excluded.talk_ms, \
         disposition = COALESCE(excluded.disposition, calls.disposition), \
         notes = COALESCE(excluded.notes, calls.notes), \
         hangup_cause = excluded.hangup_cause, hangup_side = excluded.hangup_side, \
         amd = excluded.amd",
    )
    .bind(cdr.call_id.as_str())
    .bind(cdr.direction.as_str())
    .bind(cdr.from_number.as_str())
    .bind(cdr.to_number.as_str())
    .bind(cdr.trunk.as_str())
    .bind(cdr.started_at_unix_ms)
    .bind(cdr.answered_at_unix_ms)
    .bind(cdr.ended_at_unix_ms)
    .bind(cdr.dial_plan.as_str())
    .bind(cdr.dial_plan_version.as_str())
    .bind(to_json(&cdr.node_path))
    .bind(to_json(&cdr.intents))
    .bind(to_json(&cdr.slots))
    .bind(cdr.outcome.map(Outcome::as_str))
    .bind(cdr.queue.as_deref())
    .bind(ms_to_i64(cdr.wait_ms))
    .bind(cdr.agent_id.as_deref())
    .bind(ms_to_i64(cdr.talk_ms))
    .bind(cdr.disposition.as_deref())
    .bind(cdr.notes.as_deref())
    .bind(cdr.hangup_cause.as_deref())
    .bind(cdr.hangup_side.map(HangupSide::as_str))
    .bind(cdr.amd.as_deref())
    .execute(conn)
    .await
    .map_err(failed("calls"))?;
    Ok(())
}

pub(super) async fn record_wrap_up(
    conn: &mut AnyConnection,
    call_id: &str,
    disposition: &str,
    notes: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE calls SET disposition = $2, notes = $3 WHERE call_id = $1")
        .bind(call_id)
        .bind(disposition)
        .bind(notes)
        .execute(conn)
        .await
        .map_err(failed("calls"))?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn append_event(
    conn: &mut AnyConnection,
    event: &CallEvent,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO call_events (call_id, ts, name, data) VALUES ($1, $2, $3, $4)")
        .bind(event.call_id.as_str())
        .bind(event.at_unix_ms)
        .bind(event.name.as_str())
        .bind(to_json(&event.data))
        .execute(conn)
        .await
        .map_err(failed("call_events"))?;
    Ok(())
}

pub(super) async fn append_turn(conn: &mut AnyConnection, turn: &Turn) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO transcripts (call_id, seq, who, text, node, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id, seq) DO NOTHING",
    )
    .bind(turn.call_id.as_str())
    .bind(i64::from(turn.seq))
    .bind(turn.who.as_str())
    .bind(turn.text.as_str())
    .bind(turn.node.as_deref())
    .bind(ms_to_i64(turn.at_ms))
    .execute(conn)
    .await
    .map_err(failed("transcripts"))?;
    Ok(())
}

/// Two statements: run it inside a transaction.
pub(super) async fn record_agent_state(
    conn: &mut AnyConnection,
    change: &AgentStateChange,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE agent_states SET to_ts = $2 WHERE agent_id = $1 AND to_ts IS NULL")
        .bind(change.agent_id.as_str())
        .bind(change.at_unix_ms)
        .execute(&mut *conn)
        .await
        .map_err(failed("agent_states"))?;
    sqlx::query(
        "INSERT INTO agent_states (agent_id, state, reason, from_ts) VALUES ($1, $2, $3, $4)",
    )
    .bind(change.agent_id.as_str())
    .bind(change.state.as_str())
    .bind(change.reason.as_str())
    .bind(change.at_unix_ms)
    .execute(conn)
    .await
    .map_err(failed("agent_states"))?;
    Ok(())
}

pub(super) async fn save_callback(
    conn: &mut AnyConnection,
    cb: &Callback,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO callbacks (id, queue, number, priority, enqueued_at, context, status, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, number = excluded.number, \
         priority = excluded.priority, enqueued_at = excluded.enqueued_at, \
         context = excluded.context, status = excluded.status, updated_at = excluded.updated_at",
    )
    .bind(cb.id.as_str())
    .bind(cb.queue.as_str())
    .bind(cb.number.as_str())
    .bind(i64::from(cb.priority))
    .bind(cb.enqueued_at_unix_ms)
    .bind(to_json(&cb.context))
    .bind(cb.status.as_str())
    .bind(now_unix_ms())
    .execute(conn)
    .await
    .map_err(failed("callbacks"))?;
    Ok(())
}

pub(super) async fn complete_callback(
    conn: &mut AnyConnection,
    id: &str,
    status: CallbackStatus,
    at_unix_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE callbacks SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .bind(at_unix_ms)
        .execute(conn)
        .await
        .map_err(failed("callbacks"))?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn audit(conn: &mut AnyConnection, entry: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit (actor, role, action, target, ts, details) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.actor.as_str())
    .bind(entry.role.as_str())
    .bind(entry.action.as_str())
    .bind(entry.target.as_str())
    .bind(entry.at_unix_ms)
    .bind(to_json(&entry.details))
    .execute(conn)
    .await
    .map_err(failed("audit"))?;
    Ok(())
}

// ---- helpers ----

fn callback_from_row(row: &AnyRow) -> Result<Callback, StoreError> {
    let priority: i64 = get(row, "callbacks", "priority")?;
    Ok(Callback {
        id: get(row, "callbacks", "id")?,
        queue: get(row, "callbacks", "queue")?,
        number: get(row, "callbacks", "number")?,
        priority: i32::try_from(priority).unwrap_or(0),
        enqueued_at_unix_ms: get(row, "callbacks", "enqueued_at")?,
        context: json_column(row, "callbacks", "context")?,
        status: parse_enum(row, "callbacks", "status", CallbackStatus::parse)?,
    })
}

const CDR_COLUMNS: &str = "call_id, direction, from_number, to_number, trunk, started_at, \
    answered_at, ended_at, dial_plan, dial_plan_version, node_path, intents, slots, outcome, \
    queue, wait_ms, agent_id, talk_ms, disposition, notes, hangup_cause, hangup_side, amd";

fn cdr_from_row(row: &AnyRow) -> Result<Cdr, StoreError> {
    const T: &str = "calls";
    let wait_ms: i64 = get(row, T, "wait_ms")?;
    let talk_ms: i64 = get(row, T, "talk_ms")?;
    let outcome: Option<String> = get(row, T, "outcome")?;
    let side: Option<String> = get(row, T, "hangup_side")?;
    Ok(Cdr {
        call_id: get(row, T, "call_id")?,
        direction: parse_enum(row, T, "direction", Direction::parse)?,
        from_number: get(row, T, "from_number")?,
        to_number: get(row, T, "to_number")?,
        trunk: get(row, T, "trunk")?,
        started_at_unix_ms: get(row, T, "started_at")?,
        answered_at_unix_ms: get(row, T, "answered_at")?,
        ended_at_unix_ms: get(row, T, "ended_at")?,
        dial_plan: get(row, T, "dial_plan")?,
        dial_plan_version: get(row, T, "dial_plan_version")?,
        node_path: json_column::<Vec<String>>(row, T, "node_path")?,
        intents: json_column::<Vec<IntentScore>>(row, T, "intents")?,
        slots: json_column::<Vec<SlotValue>>(row, T, "slots")?,
        outcome: outcome
            .map(|o| Outcome::parse(&o).ok_or_else(|| bad_value(T, "outcome", &o)))
            .transpose()?,
        queue: get(row, T, "queue")?,
        wait_ms: u64::try_from(wait_ms).unwrap_or(0),
        agent_id: get(row, T, "agent_id")?,
        talk_ms: u64::try_from(talk_ms).unwrap_or(0),
        disposition: get(row, T, "disposition")?,
        notes: get(row, T, "notes")?,
        hangup_cause: get(row, T, "hangup_cause")?,
        hangup_side: side
            .map(|s| HangupSide::parse(&s).ok_or_else(|| bad_value(T, "hangup_side", &s)))
            .transpose()?,
        amd: get(row, T, "amd")?,
    })
}

fn get<'r, V>(row: &'r AnyRow, table: &'static str, column: &'static str) -> Result<V, StoreError>
where
    V: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(|source| StoreError::Column {
        table,
        column,
        source,
    })
}

fn parse_enum<T>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = get(row, table, column)?;
    parse(&text).ok_or_else(|| bad_value(table, column, &text))
}

fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    let text: String = get(row, table, column)?;
    serde_json::from_str(&text).map_err(|_| bad_value(table, column, &text))
}

fn bad_value(table: &'static str, column: &'static str, value: &str) -> StoreError {
    StoreError::BadValue {
        table,
        column,
        value: value.chars().take(80).collect(),
    }
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Strings, numbers, vectors of derived structs and `serde_json::Value` always serialize.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

fn ms_to_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn failed(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// The backend and connection URL for a location given by the user.
///
/// For SQLite only the file is taken from a `sqlite:` URL; the URL handed to sqlx is rebuilt
/// from the absolute path (so that no path can be misread as a host and port).
fn resolve(location: &str) -> Result<(Backend, String), StoreError> {
    let unsupported = || StoreError::UnsupportedUrl {
        url: redact(location),
    };
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        return Ok((Backend::Postgres, location.to_string()));
    }
    let file = if location.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(location).map_err(|_| unsupported())?;
        options.get_filename().to_path_buf()
    } else if location.contains("://") {
        return Err(unsupported());
    } else {
        PathBuf::from(location)
    };
    let name = file.to_string_lossy();
    // sqlx names in-memory databases `file:sqlx-in-memory-N`: each connection of the pool
    // would get its own, so they cannot hold the store.
    if name.is_empty() || name == ":memory:" || name.starts_with("file:sqlx-in-memory") {
        return Err(unsupported());
    }
    let file = std::path::absolute(&file).map_err(|source| StoreError::CreateDir {
        path: file.clone(),
        source,
    })?;
    create_parent(&file)?;
    Ok((Backend::Sqlite, sqlite_url(&file)))
}

/// `sqlite:///ABSOLUTE/PATH?mode=rwc`, every byte of the path other than `A-Z a-z 0-9 - . _ ~ /`
/// percent-encoded.
fn sqlite_url(absolute: &Path) -> String {
    let mut url = String::from("sqlite://");
    for &b in absolute.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    url
}

fn create_parent(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: PathBuf::from(dir),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// `location` with any password in a URL replaced by `***`.
pub(super) fn redact(location: &str) -> String {
    match reqwest::Url::parse(location) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => location.to_string(),
    }
}

// ---- privacy: a caller's data (export, erasure) and retention ----

/// Tables created by the store's own migrations for calls; rows of any *other* table with a
/// `call_id` column (QA results, campaign attempts, …) are included in a caller's export and
/// deleted with their erasure.
const CORE_CALL_TABLES: &[&str] = &["calls", "call_events", "transcripts"];

/// The calls of a number, as caller or called party.
const CALLS_OF_NUMBER: &str = "SELECT call_id FROM calls WHERE from_number = $1 OR to_number = $1";

impl Store {
    /// Every call from or to `number` (exact match), oldest first, without a limit.
    pub async fn calls_for_number(&self, number: &str) -> Result<Vec<Cdr>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CDR_COLUMNS} FROM calls WHERE from_number = $1 OR to_number = $1 \
             ORDER BY started_at, call_id"
        ))
        .bind(number)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("calls"))?;
        rows.iter().map(cdr_from_row).collect()
    }

    /// Every callback to `number`, whatever its status, oldest first.
    pub async fn callbacks_for_number(&self, number: &str) -> Result<Vec<Callback>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, queue, number, priority, enqueued_at, context, status FROM callbacks \
             WHERE number = $1 ORDER BY enqueued_at, id",
        )
        .bind(number)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("callbacks"))?;
        rows.iter().map(callback_from_row).collect()
    }

    /// Tables other than the calls, events and transcripts that have a `call_id` column
    /// (added by later migrations or by other tools: QA results, campaign attempts, …).
    pub async fn other_call_tables(&self) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND p.name = 'call_id' ORDER BY m.name"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.columns \
                 WHERE column_name = 'call_id' AND table_schema = current_schema() \
                 ORDER BY table_name"
            }
        };
        let names: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(failed("catalogue"))?;
        Ok(names
            .into_iter()
            .filter(|n| !CORE_CALL_TABLES.contains(&n.as_str()))
            .collect())
    }

    /// The rows of `table` (one of [`Store::other_call_tables`]) for `call_id`, each as a
    /// JSON object of its columns (integers, reals, text; other types as null).
    pub async fn call_rows(
        &self,
        table: &str,
        call_id: &str,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
        use sqlx::Column as _;
        let rows = sqlx::query(&format!(
            "SELECT * FROM {} WHERE call_id = $1",
            quote_ident(table)
        ))
        .bind(call_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("call rows"))?;
        Ok(rows
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .map(|c| {
                        let i = c.ordinal();
                        let value = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                            v.map_or(serde_json::Value::Null, serde_json::Value::from)
                        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                            v.map_or(serde_json::Value::Null, serde_json::Value::from)
                        } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                            v.map_or(serde_json::Value::Null, serde_json::Value::from)
                        } else {
                            serde_json::Value::Null
                        };
                        (c.name().to_string(), value)
                    })
                    .collect()
            })
            .collect())
    }

    /// Erases what is held about `number`, in one transaction: its calls' transcripts and the
    /// rows of [`Store::other_call_tables`] for them are deleted, their events keep their name
    /// and time but lose their data, callbacks to the number are deleted, and in the call
    /// records the number is replaced by `token` and the slots and wrap-up notes are cleared
    /// (times, durations, outcomes, queues and dispositions stay for statistics). Then the
    /// freed space is overwritten ([`Store::reclaim_space`]).
    pub async fn erase_caller(
        &self,
        number: &str,
        token: &str,
    ) -> Result<crate::privacy::rights::ErasureCounts, StoreError> {
        let others = self.other_call_tables().await?;
        let mut counts = crate::privacy::rights::ErasureCounts::default();
        let mut tx = self.pool.begin().await.map_err(failed("erase"))?;
        for table in &others {
            let done = sqlx::query(&format!(
                "DELETE FROM {} WHERE call_id IN ({CALLS_OF_NUMBER})",
                quote_ident(table)
            ))
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(failed("erase other tables"))?;
            counts.other_rows += done.rows_affected();
        }
        let done = sqlx::query(&format!(
            "DELETE FROM transcripts WHERE call_id IN ({CALLS_OF_NUMBER})"
        ))
        .bind(number)
        .execute(&mut *tx)
        .await
        .map_err(failed("transcripts"))?;
        counts.turns = done.rows_affected();
        let done = sqlx::query(&format!(
            "UPDATE call_events SET data = '{{}}' WHERE call_id IN ({CALLS_OF_NUMBER})"
        ))
        .bind(number)
        .execute(&mut *tx)
        .await
        .map_err(failed("call_events"))?;
        counts.events = done.rows_affected();
        let done = sqlx::query("DELETE FROM callbacks WHERE number = $1")
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(failed("callbacks"))?;
        counts.callbacks = done.rows_affected();
        let done = sqlx::query(
            "UPDATE calls SET \
             from_number = CASE WHEN from_number = $1 THEN $2 ELSE from_number END, \
             to_number = CASE WHEN to_number = $1 THEN $2 ELSE to_number END, \
             slots = '[]', notes = NULL \
             WHERE from_number = $1 OR to_number = $1",
        )
        .bind(number)
        .bind(token)
        .execute(&mut *tx)
        .await
        .map_err(failed("calls"))?;
        counts.calls = done.rows_affected();
        tx.commit().await.map_err(failed("erase"))?;
        self.reclaim_space().await?;
        Ok(counts)
    }

    /// Deletes the transcript turns of calls that started before `cutoff_unix_ms` (the call
    /// records stay); returns how many turns were deleted.
    pub async fn delete_transcripts_before(&self, cutoff_unix_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM transcripts WHERE call_id IN \
             (SELECT call_id FROM calls WHERE started_at < $1)",
        )
        .bind(cutoff_unix_ms)
        .execute(&self.pool)
        .await
        .map_err(failed("transcripts"))?;
        Ok(done.rows_affected())
    }

    /// Rewrites the database so that deleted and overwritten values no longer exist in its
    /// files: SQLite checkpoints and truncates its write-ahead log, `VACUUM`s (rebuilding the
    /// file without free pages) and truncates the log again; PostgreSQL runs `VACUUM` (dead
    /// rows become reusable space, overwritten later by the server, not at once).
    pub async fn reclaim_space(&self) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let statements: &[&str] = match self.backend {
            Backend::Sqlite => &[
                "PRAGMA wal_checkpoint(TRUNCATE)",
                "VACUUM",
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ],
            Backend::Postgres => &["VACUUM calls, call_events, transcripts, callbacks"],
        };
        for s in statements {
            conn.execute(*s).await.map_err(failed("vacuum"))?;
        }
        Ok(())
    }
}

/// A table name as an SQL identifier (double quotes, inner quotes doubled).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// ---- outbound campaigns ----

use super::model::{
    AttemptOutcome, AttemptRecord, AttemptResult, CampaignContact, CampaignProgress,
    CampaignRecord, CampaignState, ContactStatus, ContactUpdate, NewCampaign, NewContact,
};

/// Contacts written per `INSERT` statement (4 parameters each, under SQLite's 999).
const CONTACTS_PER_STATEMENT: usize = 200;

const CONTACT_COLUMNS: &str = "id, campaign_id, number, name, timezone, vars, status, attempts, \
    next_attempt_at, last_outcome, sip_code, result";

impl Store {
    /// Creates a campaign in state `created`; returns its id.
    pub async fn create_campaign(&self, campaign: &NewCampaign) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO campaigns (name, plan, config, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(campaign.name.as_str())
        .bind(campaign.plan.as_str())
        .bind(to_json(&campaign.config))
        .bind(CampaignState::Created.as_str())
        .bind(campaign.created_at_unix_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(failed("campaigns"))
    }

    /// One campaign.
    pub async fn campaign(&self, id: i64) -> Result<Option<CampaignRecord>, StoreError> {
        const T: &str = "campaigns";
        let row = sqlx::query(
            "SELECT id, name, plan, config, state, created_at, updated_at FROM campaigns \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed(T))?;
        row.map(|row| {
            Ok(CampaignRecord {
                id: get(&row, T, "id")?,
                name: get(&row, T, "name")?,
                plan: get(&row, T, "plan")?,
                config: json_column(&row, T, "config")?,
                state: parse_enum(&row, T, "state", CampaignState::parse)?,
                created_at_unix_ms: get(&row, T, "created_at")?,
                updated_at_unix_ms: get(&row, T, "updated_at")?,
            })
        })
        .transpose()
    }

    /// The campaigns to run: created or running, oldest first.
    pub async fn active_campaigns(&self) -> Result<Vec<i64>, StoreError> {
        sqlx::query_scalar("SELECT id FROM campaigns WHERE state = $1 OR state = $2 ORDER BY id")
            .bind(CampaignState::Created.as_str())
            .bind(CampaignState::Running.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(failed("campaigns"))
    }

    /// Sets a campaign's state; false if there is no such campaign.
    pub async fn set_campaign_state(
        &self,
        id: i64,
        state: CampaignState,
        at_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE campaigns SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(at_unix_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(failed("campaigns"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds contacts to a campaign in one transaction, due at once; a number already in the
    /// campaign is left out. Returns how many were added.
    pub async fn insert_contacts(
        &self,
        campaign_id: i64,
        contacts: &[NewContact],
        at_unix_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("campaign_contacts"))?;
        let mut added = 0;
        for chunk in contacts.chunks(CONTACTS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO campaign_contacts (campaign_id, number, name, timezone, vars, \
                 status, attempts, next_attempt_at, updated_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let p = 3 + 4 * i;
                if i > 0 {
                    sql.push(',');
                }
                sql += &format!(
                    "($1, ${}, ${}, ${}, ${}, 'pending', 0, 0, $2)",
                    p,
                    p + 1,
                    p + 2,
                    p + 3
                );
            }
            sql += " ON CONFLICT (campaign_id, number) DO NOTHING";
            let mut query = sqlx::query(&sql).bind(campaign_id).bind(at_unix_ms);
            for c in chunk {
                query = query
                    .bind(c.number.as_str())
                    .bind(c.name.as_deref())
                    .bind(c.timezone.as_deref())
                    .bind(to_json(&c.vars));
            }
            let done = query
                .execute(&mut *tx)
                .await
                .map_err(failed("campaign_contacts"))?;
            added += done.rows_affected();
        }
        tx.commit().await.map_err(failed("campaign_contacts"))?;
        Ok(added)
    }

    /// Pending contacts due by `due_by_unix_ms` with an id above `after_id`, by id, at most
    /// `limit`: one page of a pass over the campaign's ready contacts.
    pub async fn ready_contacts(
        &self,
        campaign_id: i64,
        due_by_unix_ms: i64,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<CampaignContact>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 \
             AND status = $2 AND id > $3 AND next_attempt_at <= $4 ORDER BY id LIMIT {limit}"
        ))
        .bind(campaign_id)
        .bind(ContactStatus::Pending.as_str())
        .bind(after_id)
        .bind(due_by_unix_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("campaign_contacts"))?;
        rows.iter().map(contact_from_row).collect()
    }

    /// The earliest time after `after_unix_ms` a pending contact comes due, if any.
    pub async fn next_due(
        &self,
        campaign_id: i64,
        after_unix_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM campaign_contacts WHERE campaign_id = $1 \
             AND status = $2 AND next_attempt_at > $3",
        )
        .bind(campaign_id)
        .bind(ContactStatus::Pending.as_str())
        .bind(after_unix_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(failed("campaign_contacts"))
    }

    /// One contact.
    pub async fn campaign_contact(&self, id: i64) -> Result<Option<CampaignContact>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("campaign_contacts"))?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// Records that attempt `attempt_no` of a pending contact is being dialed, before the
    /// dialer gets it. False (and nothing written) if that attempt was begun before or the
    /// contact is not pending: the attempt must not be dialed.
    pub async fn begin_attempt(
        &self,
        campaign_id: i64,
        contact_id: i64,
        attempt_no: u32,
        at_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("campaign_attempts"))?;
        let inserted = sqlx::query(
            "INSERT INTO campaign_attempts (campaign_id, contact_id, attempt_no, started_at, \
             outcome) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (contact_id, attempt_no) DO NOTHING",
        )
        .bind(campaign_id)
        .bind(contact_id)
        .bind(i64::from(attempt_no))
        .bind(at_unix_ms)
        .bind(AttemptOutcome::Dialing.as_str())
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_attempts"))?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        let updated = sqlx::query(
            "UPDATE campaign_contacts SET status = $1, attempts = $2, updated_at = $3 \
             WHERE id = $4 AND campaign_id = $5 AND status = $6",
        )
        .bind(ContactStatus::Dialing.as_str())
        .bind(i64::from(attempt_no))
        .bind(at_unix_ms)
        .bind(contact_id)
        .bind(campaign_id)
        .bind(ContactStatus::Pending.as_str())
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_contacts"))?;
        if updated.rows_affected() == 0 {
            return Ok(false); // the transaction rolls back when dropped
        }
        tx.commit().await.map_err(failed("campaign_attempts"))?;
        Ok(true)
    }

    /// Takes back an attempt that was begun but never placed (the engine was draining): the
    /// attempt row goes and the contact is pending again with its earlier attempt count, due
    /// at once. False if the attempt is not in progress.
    pub async fn unbegin_attempt(
        &self,
        campaign_id: i64,
        contact_id: i64,
        attempt_no: u32,
        at_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("campaign_attempts"))?;
        let deleted = sqlx::query(
            "DELETE FROM campaign_attempts WHERE campaign_id = $1 AND contact_id = $2 \
             AND attempt_no = $3 AND outcome = $4",
        )
        .bind(campaign_id)
        .bind(contact_id)
        .bind(i64::from(attempt_no))
        .bind(AttemptOutcome::Dialing.as_str())
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_attempts"))?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE campaign_contacts SET status = $1, attempts = $2, updated_at = $3 \
             WHERE id = $4 AND campaign_id = $5 AND status = $6",
        )
        .bind(ContactStatus::Pending.as_str())
        .bind(i64::from(attempt_no.saturating_sub(1)))
        .bind(at_unix_ms)
        .bind(contact_id)
        .bind(campaign_id)
        .bind(ContactStatus::Dialing.as_str())
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_contacts"))?;
        tx.commit().await.map_err(failed("campaign_attempts"))?;
        Ok(true)
    }

    /// Writes an attempt's result and what becomes of its contact, together. False (nothing
    /// written) if the attempt is not in progress (never begun, or already ended).
    pub async fn record_attempt_result(&self, result: &AttemptResult) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("campaign_attempts"))?;
        let ended = sqlx::query(
            "UPDATE campaign_attempts SET ended_at = $1, outcome = $2, sip_code = $3, \
             call_id = $4 WHERE contact_id = $5 AND attempt_no = $6 AND outcome = $7",
        )
        .bind(result.ended_at_unix_ms)
        .bind(result.outcome.as_str())
        .bind(result.sip_code.map(i64::from))
        .bind(result.call_id.as_deref())
        .bind(result.contact_id)
        .bind(i64::from(result.attempt_no))
        .bind(AttemptOutcome::Dialing.as_str())
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_attempts"))?;
        if ended.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE campaign_contacts SET status = $1, next_attempt_at = $2, last_outcome = $3, \
             sip_code = $4, result = COALESCE($5, result), updated_at = $6 WHERE id = $7",
        )
        .bind(result.contact.status.as_str())
        .bind(result.contact.next_attempt_at_unix_ms)
        .bind(result.outcome.as_str())
        .bind(result.sip_code.map(i64::from))
        .bind(result.contact.result.as_ref().map(to_json))
        .bind(result.ended_at_unix_ms)
        .bind(result.contact_id)
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_contacts"))?;
        tx.commit().await.map_err(failed("campaign_attempts"))?;
        Ok(true)
    }

    /// Sets a contact's status and next attempt time (a deferral to the calling window, or
    /// the decision after a recovered attempt). The result is kept unless `update` has one.
    pub async fn update_contact(
        &self,
        contact_id: i64,
        update: &ContactUpdate,
        at_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE campaign_contacts SET status = $1, next_attempt_at = $2, \
             result = COALESCE($3, result), updated_at = $4 WHERE id = $5",
        )
        .bind(update.status.as_str())
        .bind(update.next_attempt_at_unix_ms)
        .bind(update.result.as_ref().map(to_json))
        .bind(at_unix_ms)
        .bind(contact_id)
        .execute(&self.pool)
        .await
        .map_err(failed("campaign_contacts"))?;
        Ok(done.rows_affected() > 0)
    }

    /// After a restart: every attempt of the campaign still `dialing` becomes `unknown` (ended
    /// now), and the contacts left `dialing` are returned with their attempt count, for the
    /// retry rules to decide. Those contacts stay `dialing` (never handed out again) until
    /// [`Store::update_contact`] settles them; calling this again returns them again.
    pub async fn recover_dialing(
        &self,
        campaign_id: i64,
        at_unix_ms: i64,
    ) -> Result<Vec<CampaignContact>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(failed("campaign_attempts"))?;
        sqlx::query(
            "UPDATE campaign_attempts SET outcome = $1, ended_at = $2 \
             WHERE campaign_id = $3 AND outcome = $4",
        )
        .bind(AttemptOutcome::Unknown.as_str())
        .bind(at_unix_ms)
        .bind(campaign_id)
        .bind(AttemptOutcome::Dialing.as_str())
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_attempts"))?;
        sqlx::query(
            "UPDATE campaign_contacts SET last_outcome = $1 WHERE campaign_id = $2 AND status = $3",
        )
        .bind(AttemptOutcome::Unknown.as_str())
        .bind(campaign_id)
        .bind(ContactStatus::Dialing.as_str())
        .execute(&mut *tx)
        .await
        .map_err(failed("campaign_contacts"))?;
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 \
             AND status = $2 ORDER BY id"
        ))
        .bind(campaign_id)
        .bind(ContactStatus::Dialing.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(failed("campaign_contacts"))?;
        tx.commit().await.map_err(failed("campaign_attempts"))?;
        rows.iter().map(contact_from_row).collect()
    }

    /// A contact's attempts, oldest first.
    pub async fn attempts(&self, contact_id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        const T: &str = "campaign_attempts";
        let rows = sqlx::query(
            "SELECT contact_id, attempt_no, started_at, ended_at, outcome, sip_code, call_id \
             FROM campaign_attempts WHERE contact_id = $1 ORDER BY attempt_no",
        )
        .bind(contact_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed(T))?;
        rows.iter()
            .map(|row| {
                let attempt_no: i64 = get(row, T, "attempt_no")?;
                let sip_code: Option<i64> = get(row, T, "sip_code")?;
                Ok(AttemptRecord {
                    contact_id: get(row, T, "contact_id")?,
                    attempt_no: u32::try_from(attempt_no).unwrap_or(u32::MAX),
                    started_at_unix_ms: get(row, T, "started_at")?,
                    ended_at_unix_ms: get(row, T, "ended_at")?,
                    outcome: parse_enum(row, T, "outcome", AttemptOutcome::parse)?,
                    sip_code: sip_code.and_then(|c| u16::try_from(c).ok()),
                    call_id: get(row, T, "call_id")?,
                })
            })
            .collect()
    }

    /// A campaign's figures: contacts by status, attempts by outcome.
    pub async fn campaign_progress(
        &self,
        campaign_id: i64,
    ) -> Result<CampaignProgress, StoreError> {
        let mut progress = CampaignProgress::default();
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM campaign_contacts WHERE campaign_id = $1 \
             GROUP BY status",
        )
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("campaign_contacts"))?;
        for row in &rows {
            let n: i64 = get(row, "campaign_contacts", "n")?;
            let n = u64::try_from(n).unwrap_or(0);
            progress.contacts += n;
            match parse_enum(row, "campaign_contacts", "status", ContactStatus::parse)? {
                ContactStatus::Pending => progress.pending += n,
                ContactStatus::Dialing => progress.dialing += n,
                ContactStatus::Completed => progress.completed += n,
                ContactStatus::GaveUp => progress.gave_up += n,
            }
        }
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS n FROM campaign_attempts WHERE campaign_id = $1 \
             GROUP BY outcome",
        )
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("campaign_attempts"))?;
        for row in &rows {
            let n: i64 = get(row, "campaign_attempts", "n")?;
            let n = u64::try_from(n).unwrap_or(0);
            progress.attempts += n;
            let outcome: String = get(row, "campaign_attempts", "outcome")?;
            progress.outcomes.insert(outcome, n);
        }
        Ok(progress)
    }

    /// A page of a campaign's contacts with their results, by id, after `after_id`: export
    /// them page by page to stream a campaign of any size.
    pub async fn campaign_results(
        &self,
        campaign_id: i64,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<CampaignContact>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 AND id > $2 \
             ORDER BY id LIMIT {limit}"
        ))
        .bind(campaign_id)
        .bind(after_id)
        .fetch_all(&self.pool)
        .await
        .map_err(failed("campaign_contacts"))?;
        rows.iter().map(contact_from_row).collect()
    }
}

fn contact_from_row(row: &AnyRow) -> Result<CampaignContact, StoreError> {
    const T: &str = "campaign_contacts";
    let attempts: i64 = get(row, T, "attempts")?;
    let last_outcome: Option<String> = get(row, T, "last_outcome")?;
    let sip_code: Option<i64> = get(row, T, "sip_code")?;
    let result: Option<String> = get(row, T, "result")?;
    Ok(CampaignContact {
        id: get(row, T, "id")?,
        campaign_id: get(row, T, "campaign_id")?,
        number: get(row, T, "number")?,
        name: get(row, T, "name")?,
        timezone: get(row, T, "timezone")?,
        vars: json_column(row, T, "vars")?,
        status: parse_enum(row, T, "status", ContactStatus::parse)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at_unix_ms: get(row, T, "next_attempt_at")?,
        last_outcome: last_outcome
            .map(|o| AttemptOutcome::parse(&o).ok_or_else(|| bad_value(T, "last_outcome", &o)))
            .transpose()?,
        sip_code: sip_code.and_then(|c| u16::try_from(c).ok()),
        result: result
            .map(|r| serde_json::from_str(&r).map_err(|_| bad_value(T, "result", &r)))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::CdrCursor;

    pub(crate) fn start(call_id: &str, from: &str, started: i64) -> CallStart {
        CallStart {
            call_id: call_id.into(),
            direction: Direction::Inbound,
            from_number: from.into(),
            to_number: "+15550199".into(),
            trunk: "main".into(),
            started_at_unix_ms: started,
            dial_plan: "bank".into(),
            dial_plan_version: "7".into(),
        }
    }

    pub(crate) fn finished(call_id: &str, from: &str, started: i64) -> Cdr {
        let mut cdr = Cdr::started(start(call_id, from, started));
        cdr.answered_at_unix_ms = Some(started + 500);
        cdr.ended_at_unix_ms = Some(started + 90_000);
        cdr.node_path = vec!["welcome".into(), "main_menu".into(), "cards".into()];
        cdr.intents = vec![IntentScore {
            name: "card_lost".into(),
            score: 0.875,
        }];
        cdr.slots = vec![SlotValue {
            name: "card".into(),
            value: "************1234".into(),
            sensitive: true,
        }];
        cdr.outcome = Some(Outcome::Transferred);
        cdr.queue = Some("cards".into());
        cdr.wait_ms = 12_000;
        cdr.agent_id = Some("a-7".into());
        cdr.talk_ms = 60_000;
        cdr.hangup_cause = Some("normal_clearing".into());
        cdr.hangup_side = Some(HangupSide::Caller);
        cdr.amd = Some("human".into());
        cdr
    }

    async fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/folder/ivr.db");
        let store = Store::open(path.to_str().unwrap()).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn open_creates_the_file_and_its_folders_in_wal_mode() {
        let (dir, store) = temp_store().await;
        assert!(dir.path().join("nested/folder/ivr.db").is_file());
        assert_eq!(store.backend(), Backend::Sqlite);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        assert_eq!(
            store.schema_version().await.unwrap(),
            schema::latest_version()
        );
    }

    #[tokio::test]
    async fn open_accepts_a_sqlite_url() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("u.db").display());
        let store = Store::open(&url).await.unwrap();
        store.begin_call(&start("c-1", "+1", 1)).await.unwrap();
        assert!(dir.path().join("u.db").is_file());
    }

    #[tokio::test]
    async fn open_rejects_unknown_schemes_and_memory_databases() {
        for bad in ["mysql://root@localhost/ivr", "sqlite::memory:", ""] {
            let err = Store::open(bad).await.unwrap_err();
            assert!(
                matches!(err, StoreError::UnsupportedUrl { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn open_accepts_paths_with_characters_urls_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd name #1?:%/host:99/ivr.db");
        let store = Store::open(path.to_str().unwrap()).await.unwrap();
        store.begin_call(&start("c-1", "+1", 1)).await.unwrap();
        assert!(path.is_file());
    }

    #[test]
    fn redact_hides_url_passwords() {
        assert_eq!(
            redact("postgres://ivr:s3cret@db.local/ivr"),
            "postgres://ivr:***@db.local/ivr"
        );
        assert_eq!(redact("data/ivr.db"), "data/ivr.db");
    }

    #[tokio::test]
    async fn begun_call_reads_back_as_unfinished() {
        let (_dir, store) = temp_store().await;
        store
            .begin_call(&start("c-1", "+15550100", 1_000))
            .await
            .unwrap();
        let cdr = store.call("c-1").await.unwrap().unwrap();
        assert_eq!(cdr, Cdr::started(start("c-1", "+15550100", 1_000)));
        assert_eq!(store.call("nope").await.unwrap(), None);
    }

    #[tokio::test]
    async fn finished_call_round_trips_every_field_and_replaces_the_start() {
        let (_dir, store) = temp_store().await;
        store
            .begin_call(&start("c-1", "+15550100", 1_000))
            .await
            .unwrap();
        let cdr = finished("c-1", "+15550100", 1_000);
        store.finish_call(&cdr).await.unwrap();
        assert_eq!(store.call("c-1").await.unwrap(), Some(cdr.clone()));
        // A late begin (duplicate) does not undo the finished record.
        store
            .begin_call(&start("c-1", "+15550100", 1_000))
            .await
            .unwrap();
        assert_eq!(store.call("c-1").await.unwrap(), Some(cdr));
    }

    #[tokio::test]
    async fn wrap_up_is_kept_when_the_record_is_rewritten_without_one() {
        let (_dir, store) = temp_store().await;
        let cdr = finished("c-1", "+15550100", 1_000);
        store.finish_call(&cdr).await.unwrap();
        assert!(store
            .record_wrap_up("c-1", "resolved", "card blocked")
            .await
            .unwrap());
        assert!(!store.record_wrap_up("missing", "x", "").await.unwrap());
        store.finish_call(&cdr).await.unwrap();
        let back = store.call("c-1").await.unwrap().unwrap();
        assert_eq!(back.disposition.as_deref(), Some("resolved"));
        assert_eq!(back.notes.as_deref(), Some("card blocked"));
    }

    #[tokio::test]
    async fn events_and_transcript_round_trip_in_order() {
        let (_dir, store) = temp_store().await;
        for (i, name) in ["answered", "dtmf", "enqueued"].iter().enumerate() {
            let event = CallEvent {
                call_id: "c-1".into(),
                at_unix_ms: 10 + i as i64,
                name: (*name).into(),
                data: json!({"i": i}),
            };
            store.append_event(&event).await.unwrap();
        }
        store
            .append_event(&CallEvent::now("c-2", "other", json!(null)))
            .await
            .unwrap();
        let events = store.events("c-1").await.unwrap();
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["answered", "dtmf", "enqueued"]);
        assert_eq!(events[1].data, json!({"i": 1}));
        assert_eq!(events[2].at_unix_ms, 12);

        let turns = [
            (1, Speaker::Caller, "I lost my card", None),
            (
                0,
                Speaker::Ivr,
                "Welcome to the bank",
                Some("welcome".to_string()),
            ),
        ];
        for (seq, who, text, node) in turns {
            let turn = Turn {
                call_id: "c-1".into(),
                seq,
                who,
                text: text.into(),
                node,
                at_ms: u64::from(seq) * 1500,
            };
            store.append_turn(&turn).await.unwrap();
            // Stored twice (a retry): kept once.
            store.append_turn(&turn).await.unwrap();
        }
        let transcript = store.transcript("c-1").await.unwrap();
        assert_eq!(transcript.len(), 2);
        assert_eq!(transcript[0].who, Speaker::Ivr);
        assert_eq!(transcript[0].node.as_deref(), Some("welcome"));
        assert_eq!(transcript[1].text, "I lost my card");
        assert_eq!(transcript[1].at_ms, 1500);
        assert!(store.transcript("c-2").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn agent_state_history_closes_the_previous_span() {
        let (_dir, store) = temp_store().await;
        for (state, reason, at) in [
            ("paused", "login", 100),
            ("available", "", 200),
            ("on_call", "", 350),
        ] {
            let change = AgentStateChange {
                agent_id: "a-1".into(),
                state: state.into(),
                reason: reason.into(),
                at_unix_ms: at,
            };
            store.record_agent_state(&change).await.unwrap();
        }
        let other = AgentStateChange {
            agent_id: "a-2".into(),
            state: "available".into(),
            reason: String::new(),
            at_unix_ms: 150,
        };
        store.record_agent_state(&other).await.unwrap();
        let spans = store.agent_states("a-1", 0).await.unwrap();
        let got: Vec<(&str, &str, i64, Option<i64>)> = spans
            .iter()
            .map(|s| {
                (
                    s.state.as_str(),
                    s.reason.as_str(),
                    s.from_unix_ms,
                    s.to_unix_ms,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("paused", "login", 100, Some(200)),
                ("available", "", 200, Some(350)),
                ("on_call", "", 350, None),
            ]
        );
        // Spans that ended before `since` are left out.
        assert_eq!(store.agent_states("a-1", 250).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn pending_callbacks_come_by_priority_then_age_and_leave_when_completed() {
        let (_dir, store) = temp_store().await;
        let cb = |id: &str, queue: &str, priority: i32, at: i64| Callback {
            id: id.into(),
            queue: queue.into(),
            number: "+15550100".into(),
            priority,
            enqueued_at_unix_ms: at,
            context: json!({"intent": "card_lost"}),
            status: CallbackStatus::Pending,
        };
        store
            .save_callback(&cb("old", "cards", 0, 100))
            .await
            .unwrap();
        store
            .save_callback(&cb("new", "cards", 0, 200))
            .await
            .unwrap();
        store
            .save_callback(&cb("vip", "cards", 5, 300))
            .await
            .unwrap();
        store
            .save_callback(&cb("loan", "loans", 0, 50))
            .await
            .unwrap();

        let ids = |list: Vec<Callback>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.callbacks_pending(Some("cards")).await.unwrap()),
            ["vip", "old", "new"]
        );
        assert_eq!(
            ids(store.callbacks_pending(None).await.unwrap()),
            ["vip", "loan", "old", "new"]
        );

        assert!(store
            .complete_callback("vip", CallbackStatus::Done)
            .await
            .unwrap());
        assert!(!store
            .complete_callback("nope", CallbackStatus::Done)
            .await
            .unwrap());
        // Saving again updates in place.
        store
            .save_callback(&cb("old", "cards", 9, 100))
            .await
            .unwrap();
        let pending = store.callbacks_pending(Some("cards")).await.unwrap();
        assert_eq!(ids(pending.clone()), ["old", "new"]);
        assert_eq!(pending[0].priority, 9);
        assert_eq!(pending[0].context, json!({"intent": "card_lost"}));
    }

    #[tokio::test]
    async fn audit_entries_round_trip_oldest_first() {
        let (_dir, store) = temp_store().await;
        for (action, at) in [
            ("hangup", 20),
            ("force_logout", 10),
            ("reload_dial_plans", 30),
        ] {
            let entry = AuditEntry {
                actor: "sup-1".into(),
                role: "supervisor".into(),
                action: action.into(),
                target: "c-9".into(),
                at_unix_ms: at,
                details: json!({"why": action}),
            };
            store.audit(&entry).await.unwrap();
        }
        let got = store.audit_entries(15, 10).await.unwrap();
        let actions: Vec<&str> = got.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["hangup", "reload_dial_plans"]);
        assert_eq!(got[0].details, json!({"why": "hangup"}));
        assert_eq!(got[0].role, "supervisor");
        assert_eq!(store.audit_entries(0, 1).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn query_calls_applies_each_filter() {
        let (_dir, store) = temp_store().await;
        let mut a = finished("a", "+1001", 1_000);
        a.queue = Some("cards".into());
        a.agent_id = Some("a-1".into());
        a.disposition = Some("resolved".into());
        let mut b = finished("b", "+1002", 2_000);
        b.queue = Some("loans".into());
        b.agent_id = Some("a-2".into());
        let mut c = Cdr::started(start("c", "+1003", 3_000));
        c.to_number = "+1001".into();
        for cdr in [&a, &b] {
            store.finish_call(cdr).await.unwrap();
        }
        store.finish_call(&c).await.unwrap();

        let ids = |v: Vec<Cdr>| v.into_iter().map(|c| c.call_id).collect::<Vec<_>>();
        let q = |f: CdrFilter| {
            let store = store.clone();
            async move { ids(store.query_calls(&f).await.unwrap()) }
        };
        assert_eq!(q(CdrFilter::default()).await, ["c", "b", "a"]);
        assert_eq!(
            q(CdrFilter {
                from_unix_ms: Some(2_000),
                ..Default::default()
            })
            .await,
            ["c", "b"]
        );
        assert_eq!(
            q(CdrFilter {
                to_unix_ms: Some(2_000),
                ..Default::default()
            })
            .await,
            ["a"]
        );
        // A number matches as caller or as called number.
        assert_eq!(
            q(CdrFilter {
                number: Some("+1001".into()),
                ..Default::default()
            })
            .await,
            ["c", "a"]
        );
        assert_eq!(
            q(CdrFilter {
                queue: Some("loans".into()),
                ..Default::default()
            })
            .await,
            ["b"]
        );
        assert_eq!(
            q(CdrFilter {
                agent_id: Some("a-1".into()),
                ..Default::default()
            })
            .await,
            ["a"]
        );
        assert_eq!(
            q(CdrFilter {
                disposition: Some("resolved".into()),
                ..Default::default()
            })
            .await,
            ["a"]
        );
        assert_eq!(
            q(CdrFilter {
                finished_only: true,
                ..Default::default()
            })
            .await,
            ["b", "a"]
        );
        assert_eq!(
            q(CdrFilter {
                number: Some("+1001".into()),
                queue: Some("cards".into()),
                from_unix_ms: Some(500),
                to_unix_ms: Some(5_000),
                ..Default::default()
            })
            .await,
            ["a"]
        );
    }

    #[tokio::test]
    async fn query_calls_pages_through_ties_without_gaps_or_repeats() {
        let (_dir, store) = temp_store().await;
        // Five calls, three of them starting in the same millisecond.
        for (id, at) in [("p1", 10), ("p2", 20), ("p3", 20), ("p4", 20), ("p5", 30)] {
            store.finish_call(&finished(id, "+1", at)).await.unwrap();
        }
        let mut seen = Vec::new();
        let mut filter = CdrFilter {
            limit: 2,
            ..Default::default()
        };
        loop {
            let page = store.query_calls(&filter).await.unwrap();
            let Some(last) = page.last() else { break };
            filter.before = Some(CdrCursor::after(last));
            seen.extend(page.into_iter().map(|c| c.call_id));
        }
        assert_eq!(seen, ["p5", "p4", "p3", "p2", "p1"]);
    }

    #[tokio::test]
    async fn reopening_the_file_keeps_the_data_and_applies_no_migration_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ivr.db");
        let path = path.to_str().unwrap();
        let store = Store::open(path).await.unwrap();
        let cdr = finished("c-1", "+15550100", 1_000);
        store.finish_call(&cdr).await.unwrap();
        store
            .append_event(&CallEvent::now("c-1", "hangup", json!({"side": "caller"})))
            .await
            .unwrap();
        store.close().await;

        for _ in 0..2 {
            let store = Store::open(path).await.unwrap();
            assert_eq!(store.call("c-1").await.unwrap(), Some(cdr.clone()));
            assert_eq!(store.events("c-1").await.unwrap().len(), 1);
            let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(applied, schema::latest_version());
            store.close().await;
        }
    }

    #[tokio::test]
    async fn a_store_from_a_newer_version_is_refused() {
        let (dir, store) = temp_store().await;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'x', 0)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        store.close().await;
        let path = dir.path().join("nested/folder/ivr.db");
        let err = Store::open(path.to_str().unwrap()).await.unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_damaged_value_is_reported_with_table_and_column() {
        let (_dir, store) = temp_store().await;
        store.finish_call(&finished("c-1", "+1", 1)).await.unwrap();
        sqlx::query("UPDATE calls SET direction = 'sideways'")
            .execute(&store.pool)
            .await
            .unwrap();
        let err = store.call("c-1").await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::BadValue {
                    table: "calls",
                    column: "direction",
                    ..
                }
            ),
            "{err}"
        );
    }

    /// The same schema and statements on PostgreSQL. Run with a throwaway database:
    /// `IVR_TEST_POSTGRES_URL=postgres://USER@127.0.0.1:PORT/DB cargo test -p ivr-core --lib
    /// store -- --ignored`.
    #[tokio::test]
    #[ignore = "needs a PostgreSQL server in IVR_TEST_POSTGRES_URL"]
    async fn postgres_runs_the_same_schema_and_statements() {
        let url = std::env::var("IVR_TEST_POSTGRES_URL")
            .expect("set IVR_TEST_POSTGRES_URL to a throwaway PostgreSQL database");
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        // Opening again applies nothing and keeps working.
        let store2 = Store::open(&url).await.unwrap();
        assert_eq!(
            store2.schema_version().await.unwrap(),
            schema::latest_version()
        );

        let run = now_unix_ms();
        let id = format!("pg-{run}");
        let mut cdr = finished(&id, &format!("+{run}"), run);
        store.begin_call(&start(&id, "+1", run)).await.unwrap();
        store.finish_call(&cdr).await.unwrap();
        assert!(store.record_wrap_up(&id, "resolved", "ok").await.unwrap());
        cdr.disposition = Some("resolved".into());
        cdr.notes = Some("ok".into());
        assert_eq!(store.call(&id).await.unwrap(), Some(cdr.clone()));
        let found = store
            .query_calls(&CdrFilter {
                number: Some(cdr.from_number.clone()),
                from_unix_ms: Some(run),
                finished_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found, [cdr]);

        store
            .append_event(&CallEvent::now(&id, "dtmf", json!({"digit": "1"})))
            .await
            .unwrap();
        assert_eq!(store.events(&id).await.unwrap().len(), 1);
        let turn = Turn {
            call_id: id.clone(),
            seq: 0,
            who: Speaker::Caller,
            text: "hello".into(),
            node: None,
            at_ms: 10,
        };
        store.append_turn(&turn).await.unwrap();
        store.append_turn(&turn).await.unwrap();
        assert_eq!(store.transcript(&id).await.unwrap(), [turn]);

        let agent = format!("agent-{run}");
        for (state, at) in [("available", run), ("on_call", run + 5)] {
            store
                .record_agent_state(&AgentStateChange {
                    agent_id: agent.clone(),
                    state: state.into(),
                    reason: String::new(),
                    at_unix_ms: at,
                })
                .await
                .unwrap();
        }
        let spans = store.agent_states(&agent, 0).await.unwrap();
        assert_eq!(spans[0].to_unix_ms, Some(run + 5));

        let queue = format!("q-{run}");
        store
            .save_callback(&Callback {
                id: format!("cb-{run}"),
                queue: queue.clone(),
                number: "+1".into(),
                priority: 2,
                enqueued_at_unix_ms: run,
                context: json!({"a": 1}),
                status: CallbackStatus::Pending,
            })
            .await
            .unwrap();
        assert_eq!(
            store.callbacks_pending(Some(&queue)).await.unwrap().len(),
            1
        );
        assert!(store
            .complete_callback(&format!("cb-{run}"), CallbackStatus::Done)
            .await
            .unwrap());
        assert!(store
            .callbacks_pending(Some(&queue))
            .await
            .unwrap()
            .is_empty());

        store
            .audit(&AuditEntry {
                actor: "t".into(),
                role: "admin".into(),
                action: "test".into(),
                target: id.clone(),
                at_unix_ms: run,
                details: json!({}),
            })
            .await
            .unwrap();
        assert!(!store.audit_entries(run, 10).await.unwrap().is_empty());

        let writer = crate::store::StoreWriter::start(store.clone(), Default::default());
        let wid = format!("pgw-{run}");
        writer.finish_call(finished(&wid, "+1", run));
        writer.append_event(CallEvent::now(&wid, "x", json!(null)));
        writer.flush().await.unwrap();
        assert!(store.call(&wid).await.unwrap().is_some());
        assert_eq!(writer.shutdown().await.unwrap().written, 2);
    }
}
