//! The SQLite store: one file, WAL journal, `synchronous` as configured (FULL by default).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::encoding::{
    CLAIM_IDEMPOTENCY_KEY, ChainWalk, KeyRow, PendingInsert, RESCREENED, action_from_text,
    action_text, claimed_request_id, corrupt, existing_claim, missing_trail, queue_stage,
    reason_text, subscribes, suspension,
};
use super::{
    Attempt, AttemptResult, AuditReport, DeliveryView, DueDelivery, IdempotencyClaim,
    IdempotencyKey, NewRequest, PersonnelEntry, QueuePosition, RequestChange, RequestQuery,
    RequestScope, RescreenJob, Store, StoreError, StoredResponse,
};
use crate::config::DatabaseSettings;
use crate::domain::area::{Area, AreaCode, Suspension};
use crate::domain::audit::{AuditDraft, AuditEntry};
use crate::domain::request::{OrgId, RequestRecord, TravellerId};
use crate::domain::sra::{AreaRisk, SecurityLevel, Signoff, Sra, SraStatus};
use crate::domain::webhook::{Webhook, event_for};
use crate::metrics::StoreFigures;
use crate::store::write_stop::{WriteStop, is_sqlite_io_error};

pub mod backup;
mod group_commit;
pub mod instance_lock;
mod sql_text;
mod traveller_index;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// New requests go to one writer task that commits them in groups (see `group_commit`).
    writer: mpsc::Sender<PendingInsert>,
    /// Whose turn it is to write. SQLite takes one writer at a time and makes the others poll
    /// with growing sleeps, which under a busy group writer can starve a decision for seconds;
    /// taking turns here instead queues every writer (the group writer,
    /// decisions, SRA changes, webhook bookkeeping) in arrival order.
    write_turn: Arc<Mutex<()>>,
    /// Requests-by-traveller entries the writer has not yet moved into their table.
    traveller_index: Arc<traveller_index::Pending>,
    /// Set by the first commit that failed with an I/O error: no write after it.
    stop: Arc<WriteStop>,
}

/// A writer's turn (`SqliteStore::turn`): its commits are judged by the store's `WriteStop`.
struct Turn<'a> {
    _turn: tokio::sync::MutexGuard<'a, ()>,
    stop: &'a WriteStop,
}

impl Turn<'_> {
    async fn commit(&self, tx: sqlx::Transaction<'_, Sqlite>) -> Result<(), StoreError> {
        tx.commit().await.map_err(|e| self.judge(e))
    }

    /// Judges the failure of a statement that committed on its own (no transaction open).
    fn judge(&self, e: sqlx::Error) -> StoreError {
        let io = match &e {
            sqlx::Error::Database(db) => db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(is_sqlite_io_error),
            _ => false,
        };
        self.stop.judge_commit(e.into(), io)
    }
}

/// Whether a connection going back to the pool holds no transaction. After a failed COMMIT
/// (a full disk, say) SQLite may keep the transaction open while sqlx counts it as ended: the
/// connection's next BEGIN would become a savepoint inside it, its COMMIT would commit
/// nothing, and the open transaction would hold the write lock. A ROLLBACK that succeeds
/// found such a transaction: the connection is closed rather than reused.
fn nothing_left_open(
    conn: &mut sqlx::SqliteConnection,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move { Ok(sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()) })
}

/// Appends a list's status filter and page, newest first, on the `status` and `id` columns
/// named (with a table's alias, or with `+`, which keeps SQLite from choosing an index).
fn push_page(
    sql: &mut QueryBuilder<'_, Sqlite>,
    query: &RequestQuery,
    [status_column, id_column]: [&str; 2],
) {
    if let Some(status) = query.status {
        sql.push(format!(" AND {status_column} = "))
            .push_bind(status.as_str());
    }
    if let Some(before) = query.before {
        sql.push(format!(" AND {id_column} < "))
            .push_bind(before.to_string());
    }
    sql.push(format!(" ORDER BY {id_column} DESC LIMIT "))
        .push_bind(i64::from(query.limit));
}

impl SqliteStore {
    /// Waits for the turn to write; refused, with nothing stored, once writes have stopped.
    async fn turn(&self) -> Result<Turn<'_>, StoreError> {
        self.stop.check()?;
        Ok(Turn {
            _turn: self.write_turn.lock().await,
            stop: &self.stop,
        })
    }

    /// A traveller's requests: those in the requests-by-traveller table, and those whose
    /// entries the writer still holds in memory, read first (`Pending::ids_of` says why).
    async fn travellers_requests(
        &self,
        org: &OrgId,
        traveller: &TravellerId,
        query: &RequestQuery,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        // The index is by traveller id; the organisation is checked on the request itself.
        let recent = self.traveller_index.ids_of(traveller.as_str());
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT r.* FROM requests_by_traveller t JOIN clearance_requests r ON r.id = t.id \
             WHERE t.traveller_id = ",
        );
        sql.push_bind(traveller.as_str());
        sql.push(" AND r.org = ").push_bind(org.as_str());
        push_page(&mut sql, query, ["r.status", "t.id"]);
        let mut rows = sql.build().fetch_all(&self.pool).await?;
        if !recent.is_empty() {
            let ids: Vec<String> = recent.iter().map(Uuid::to_string).collect();
            let mut sql = QueryBuilder::<Sqlite>::new(
                "SELECT * FROM clearance_requests WHERE id IN (SELECT value FROM json_each(",
            );
            sql.push_bind(serde_json::to_string(&ids)?).push("))");
            sql.push(" AND +org = ").push_bind(org.as_str());
            // Found by id: an index on status or on the page would scan far more rows.
            push_page(&mut sql, query, ["+status", "+id"]);
            rows.extend(sql.build().fetch_all(&self.pool).await?);
        }
        let mut records = rows
            .iter()
            .map(request_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // Ids are UUIDv7, ordered as their text is: newest first, each once.
        records.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
        records.dedup_by_key(|r| r.id);
        records.truncate(query.limit as usize);
        Ok(records)
    }

    /// Indexes by traveller every request after the last one the table surely holds. The
    /// writer keeps the newest entries in memory (`traveller_index`), and a process that
    /// stopped took them with it. Runs at every start, with the migrations.
    async fn index_travellers_again(&self) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let indexed = sqlx::query(
            "INSERT OR IGNORE INTO requests_by_traveller (traveller_id, id) \
             SELECT traveller_id, id FROM clearance_requests \
             WHERE rowid > (SELECT merged_through FROM traveller_index)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE traveller_index SET merged_through = \
             (SELECT coalesce(max(rowid), 0) FROM clearance_requests) WHERE only_row = 1",
        )
        .execute(&mut *tx)
        .await?;
        turn.commit(tx).await?;
        if indexed > 0 {
            tracing::info!(indexed, "requests indexed by traveller again at start");
        }
        Ok(())
    }

    /// Opens (creating if needed) the database file named by `settings.url`.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&settings.url)?;
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        let (synchronous, pragma) = match settings.synchronous.as_str() {
            "normal" => (SqliteSynchronous::Normal, "NORMAL"),
            "extra" => (SqliteSynchronous::Extra, "EXTRA"),
            _ => (SqliteSynchronous::Full, "FULL"),
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_millis(settings.busy_timeout_ms));
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .after_release(|conn, _| nothing_left_open(conn))
            .connect_with(options.clone())
            .await?;
        let write_turn = Arc::new(Mutex::new(()));
        let traveller_index = Arc::new(traveller_index::Pending::default());
        let stop = Arc::new(WriteStop::default());
        // New requests have a connection of their own (see `group_commit`).
        let writer = group_commit::start(
            group_commit::Target {
                database: options.get_filename().to_owned(),
                synchronous: pragma,
                busy_timeout: Duration::from_millis(settings.busy_timeout_ms),
                commit_window: Duration::from_micros(settings.commit_window_us),
                batching: traveller_index::Batching {
                    seal_at: settings.traveller_index_batch,
                    seal_after: Duration::from_millis(settings.traveller_index_wait_ms),
                    ..traveller_index::Batching::DEFAULT
                },
            },
            write_turn.clone(),
            traveller_index.clone(),
            stop.clone(),
        )?;
        Ok(Self {
            pool,
            writer,
            write_turn,
            traveller_index,
            stop,
        })
    }

    async fn published_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sras WHERE status = 'published' AND (?1 IS NULL OR area_code = ?1) ORDER BY area_code, version",
        )
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sra_from_row).collect()
    }
}

fn area_from_row(row: &SqliteRow) -> Result<Area, StoreError> {
    let code: String = row.try_get("code")?;
    let suspension = suspension(
        row.try_get("suspension_reason")?,
        row.try_get("suspended_since")?,
    )?;
    Ok(Area {
        code: AreaCode::parse("code", &code).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name: row.try_get("name")?,
        country: row.try_get("country")?,
        suspension,
    })
}

fn sra_from_row(row: &SqliteRow) -> Result<Sra, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let code: String = row.try_get("area_code")?;
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let risk: String = row.try_get("residual_risk")?;
    let threats: String = row.try_get("threats")?;
    let measures: String = row.try_get("mandatory_measures")?;
    Ok(Sra {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        area: AreaCode::parse("area_code", &code).map_err(|e| corrupt(e.to_string()))?,
        version: row
            .try_get::<i64, _>("version")?
            .try_into()
            .map_err(|_| corrupt("version".into()))?,
        status: status.parse().map_err(corrupt)?,
        effective_from: row.try_get("effective_from")?,
        review_due: row.try_get("review_due")?,
        security_level: SecurityLevel::new("security_level", row.try_get("security_level")?)
            .map_err(|e| corrupt(e.to_string()))?,
        residual_risk: risk.parse().map_err(corrupt)?,
        threats: serde_json::from_str(&threats)?,
        mandatory_measures: serde_json::from_str(&measures)?,
        requires_ssafe: row.try_get("requires_ssafe")?,
        published_at: row.try_get::<Option<DateTime<Utc>>, _>("published_at")?,
        residual_risk_justification: row.try_get("residual_risk_justification")?,
        endorsement: signoff(row, "endorsed_by", "endorsed_on")?,
        approval: signoff(row, "approved_by", "approved_on")?,
        withdrawn_at: row.try_get::<Option<DateTime<Utc>>, _>("withdrawn_at")?,
    })
}

fn signoff(row: &SqliteRow, by: &str, on: &str) -> Result<Option<Signoff>, StoreError> {
    let by: Option<String> = row.try_get(by)?;
    let on: Option<NaiveDate> = row.try_get(on)?;
    Ok(by.zip(on).map(|(by, on)| Signoff { by, on }))
}

fn job_from_row(row: &SqliteRow) -> Result<RescreenJob, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id: String = row.try_get("id")?;
    let area: String = row.try_get("area_code")?;
    let cursor: Option<String> = row.try_get("cursor")?;
    let created_at: String = row.try_get("created_at")?;
    let finished_at: Option<String> = row.try_get("finished_at")?;
    Ok(RescreenJob {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        area: AreaCode::parse("area_code", &area).map_err(|e| corrupt(e.to_string()))?,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        from: row.try_get("window_from")?,
        until: row.try_get("window_until")?,
        status: row.try_get("status")?,
        total: row.try_get("total")?,
        processed: row.try_get("processed")?,
        changed: row.try_get("changed")?,
        cursor: cursor
            .map(|c| Uuid::parse_str(&c))
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
        created_at: parse_ts(&created_at)?,
        finished_at: finished_at.as_deref().map(parse_ts).transpose()?,
    })
}

/// How many requests a re-screening job will look at: its progress denominator. Counted
/// before the change takes its write turn, since on a large store the count takes a while and
/// submissions would wait behind it; requests submitted meanwhile are decided on the new SRA.
async fn rescreen_scope(pool: &SqlitePool, job: Option<&RescreenJob>) -> Result<i64, StoreError> {
    let Some(job) = job else {
        return Ok(0);
    };
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT l.request_id) FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
         WHERE l.area_code = ?1 AND l.departure >= ?2 AND (?3 IS NULL OR l.arrival <= ?3) AND r.status IN {RESCREENED}"
    ))
    .bind(job.area.as_str())
    .bind(job.from)
    .bind(job.until)
    .fetch_one(pool)
    .await?)
}

async fn create_rescreen_job(
    tx: &mut SqliteConnection,
    job: &RescreenJob,
    total: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rescreen_jobs (id, area_code, reason, actor, window_from, window_until, status, total, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
    )
    .bind(job.id.to_string())
    .bind(job.area.as_str())
    .bind(&job.reason)
    .bind(&job.actor)
    .bind(job.from)
    .bind(job.until)
    .bind(total)
    .bind(ts(job.created_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn request_from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let request: String = row.try_get("request")?;
    let decision: String = row.try_get("decision")?;
    let escalation: Option<String> = row.try_get("escalation")?;
    Ok(RequestRecord {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        status: status.parse().map_err(corrupt)?,
        submitted_at: row.try_get("submitted_at")?,
        submitted_by: row.try_get("submitted_by")?,
        request: serde_json::from_str(&request)?,
        decision: serde_json::from_str(&decision)?,
        escalation: escalation
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        version: row.try_get("version")?,
    })
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let request_id: String = row.try_get("request_id")?;
    let action: String = row.try_get("action")?;
    let from: Option<String> = row.try_get("from_status")?;
    let to: String = row.try_get("to_status")?;
    Ok(AuditEntry {
        request_id: Uuid::parse_str(&request_id).map_err(|e| corrupt(e.to_string()))?,
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: action_from_text(action)?,
        from: from.map(|f| f.parse()).transpose().map_err(corrupt)?,
        to: to.parse().map_err(corrupt)?,
        stage: row.try_get("stage")?,
        comment: row.try_get("comment")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

async fn insert_legs(tx: &mut SqliteConnection, record: &RequestRecord) -> Result<(), StoreError> {
    let id = record.id.to_string();
    let mut legs = QueryBuilder::<Sqlite>::new(
        "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure) ",
    );
    legs.push_values(
        record.request.legs.legs().iter().enumerate(),
        |mut row, (seq, leg)| {
            row.push_bind(id.clone())
                .push_bind(seq as i64)
                .push_bind(leg.area.as_str())
                .push_bind(leg.arrival)
                .push_bind(leg.departure);
        },
    );
    legs.build().execute(&mut *tx).await?;
    Ok(())
}

/// Fixed-width UTC timestamps, so that text comparison in SQL is time order.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {raw}: {e}")))
}

/// Writes the change's event to the outbox, with one delivery per subscribed webhook of the
/// organisation, in the change's own transaction: no event without its change, and none lost.
async fn enqueue_event(
    tx: &mut SqliteConnection,
    record: &RequestRecord,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let Some(event) = event_for(record, audit, now) else {
        return Ok(());
    };
    let hooks: Vec<(String, String)> =
        sqlx::query_as("SELECT id, events FROM webhooks WHERE org = ?")
            .bind(event.org.as_str())
            .fetch_all(&mut *tx)
            .await?;
    let mut subscribed = Vec::new();
    for (id, events) in hooks {
        if subscribes(&events, event.name)? {
            subscribed.push(id);
        }
    }
    if subscribed.is_empty() {
        return Ok(());
    }
    let outbox_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (request_id, org, event, payload, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(event.request_id.to_string())
    .bind(event.org.as_str())
    .bind(event.name)
    .bind(event.payload.to_string())
    .bind(ts(now))
    .fetch_one(&mut *tx)
    .await?;
    for webhook_id in subscribed {
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, outbox_id, request_id, status, next_attempt_at, public_id) VALUES (?, ?, ?, 'pending', ?, ?)",
        )
        .bind(webhook_id)
        .bind(outbox_id)
        .bind(event.request_id.to_string())
        .bind(ts(now))
        .bind(Uuid::new_v4().to_string())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn webhook_from_row(row: &SqliteRow) -> Result<Webhook, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id: String = row.try_get("id")?;
    let org: String = row.try_get("org")?;
    let events: String = row.try_get("events")?;
    let created_at: String = row.try_get("created_at")?;
    Ok(Webhook {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        org: OrgId::parse("org", &org).map_err(|e| corrupt(e.to_string()))?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events)?,
        secret: row.try_get("secret")?,
        created_by: row.try_get("created_by")?,
        created_at: parse_ts(&created_at)?,
    })
}

/// Appends an entry to the request's chain, after its current last entry.
/// `first` says the request is new, so there is no earlier entry to look up.
async fn append_audit(
    tx: &mut SqliteConnection,
    request_id: Uuid,
    draft: AuditDraft,
    first: bool,
) -> Result<AuditEntry, StoreError> {
    let last: Option<(i64, String)> = if first {
        None
    } else {
        sqlx::query_as(
            "SELECT seq, hash FROM audit_log WHERE request_id = ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(request_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
    };
    let entry = AuditEntry::chain(
        request_id,
        last.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        Utc::now(),
        draft,
    );
    sqlx::query(
        "INSERT INTO audit_log (request_id, seq, at, actor, action, from_status, to_status, stage, comment, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(entry.request_id.to_string())
    .bind(entry.seq)
    .bind(&entry.at)
    .bind(&entry.actor)
    .bind(action_text(entry.action)?)
    .bind(entry.from.map(|s| s.as_str()))
    .bind(entry.to.as_str())
    .bind(&entry.stage)
    .bind(&entry.comment)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *tx)
    .await?;
    Ok(entry)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        self.index_travellers_again().await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn writes_stopped(&self) -> Option<String> {
        self.stop.reason().map(str::to_owned)
    }

    async fn create_area(&self, area: &Area) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let suspension = area.suspension.as_ref();
        sqlx::query(
            "INSERT INTO areas (code, name, country, suspension_reason, suspended_since, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(area.code.as_str())
        .bind(&area.name)
        .bind(&area.country)
        .bind(suspension.map(|s| reason_text(s.reason)))
        .bind(suspension.map(|s| s.since))
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(|e| match turn.judge(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("area {} already exists", area.code)),
            other => other,
        })?;
        Ok(())
    }

    async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE areas SET suspension_reason = ?, suspended_since = ? WHERE code = ?",
        )
        .bind(suspension.map(|s| reason_text(s.reason)))
        .bind(suspension.map(|s| s.since))
        .bind(code.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("area {code}")));
        }
        if let Some(job) = rescreen {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        turn.commit(tx).await?;
        Ok(in_scope)
    }

    async fn list_areas(&self) -> Result<Vec<AreaRisk>, StoreError> {
        let areas = sqlx::query("SELECT * FROM areas ORDER BY code")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(area_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let sras = self.published_sras(None).await?;
        Ok(areas
            .into_iter()
            .map(|area| {
                let own: Vec<Sra> = sras
                    .iter()
                    .filter(|s| s.area == area.code)
                    .cloned()
                    .collect();
                AreaRisk::new(area, &own)
            })
            .collect())
    }

    async fn area_risk(&self, code: &AreaCode) -> Result<Option<AreaRisk>, StoreError> {
        let Some(row) = sqlx::query("SELECT * FROM areas WHERE code = ?")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let area = area_from_row(&row)?;
        let sras = self.published_sras(Some(code)).await?;
        Ok(Some(AreaRisk::new(area, &sras)))
    }

    async fn insert_sra(
        &self,
        sra: &Sra,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sras (id, area_code, version, status, effective_from, review_due, security_level, residual_risk, threats, \
             mandatory_measures, requires_ssafe, published_at, residual_risk_justification, endorsed_by, endorsed_on, approved_by, \
             approved_on, withdrawn_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sra.id.to_string())
        .bind(sra.area.as_str())
        .bind(i64::from(sra.version))
        .bind(sra.status.as_str())
        .bind(sra.effective_from)
        .bind(sra.review_due)
        .bind(i64::from(sra.security_level.get()))
        .bind(sra.residual_risk.as_str())
        .bind(serde_json::to_string(&sra.threats)?)
        .bind(serde_json::to_string(&sra.mandatory_measures)?)
        .bind(sra.requires_ssafe)
        .bind(sra.published_at)
        .bind(&sra.residual_risk_justification)
        .bind(sra.endorsement.as_ref().map(|s| s.by.clone()))
        .bind(sra.endorsement.as_ref().map(|s| s.on))
        .bind(sra.approval.as_ref().map(|s| s.by.clone()))
        .bind(sra.approval.as_ref().map(|s| s.on))
        .bind(sra.withdrawn_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound(format!("area {}", sra.area))
            }
            e => match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "version {} of the SRA for {} exists",
                    sra.version, sra.area
                )),
                other => other,
            },
        })?;
        if let Some(job) = rescreen {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        turn.commit(tx).await?;
        Ok(in_scope)
    }

    async fn update_sra(
        &self,
        sra: &Sra,
        expected: SraStatus,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sras SET status = ?, published_at = ?, endorsed_by = ?, endorsed_on = ?, approved_by = ?, approved_on = ?, \
             withdrawn_at = ? WHERE id = ? AND status = ?",
        )
        .bind(sra.status.as_str())
        .bind(sra.published_at)
        .bind(sra.endorsement.as_ref().map(|s| s.by.clone()))
        .bind(sra.endorsement.as_ref().map(|s| s.on))
        .bind(sra.approval.as_ref().map(|s| s.by.clone()))
        .bind(sra.approval.as_ref().map(|s| s.on))
        .bind(sra.withdrawn_at)
        .bind(sra.id.to_string())
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "SRA {} changed meanwhile",
                sra.id
            )));
        }
        if let Some(job) = rescreen {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        turn.commit(tx).await?;
        Ok(in_scope)
    }

    async fn get_sra(&self, id: Uuid) -> Result<Option<Sra>, StoreError> {
        sqlx::query("SELECT * FROM sras WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sra_from_row)
            .transpose()
    }

    async fn claim_rescreen_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<RescreenJob>, StoreError> {
        let turn = self.turn().await?;
        let id: Option<String> = sqlx::query_scalar(
            "UPDATE rescreen_jobs SET locked_until = ?2 WHERE id = ( \
               SELECT id FROM rescreen_jobs WHERE status = 'pending' AND (locked_until IS NULL OR locked_until <= ?1) \
               ORDER BY created_at LIMIT 1) RETURNING id",
        )
        .bind(ts(now))
        .bind(ts(now + lease))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        match id {
            Some(id) => {
                self.get_rescreen_job(
                    Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                )
                .await
            }
            None => Ok(None),
        }
    }

    async fn rescreen_candidates(
        &self,
        job: &RescreenJob,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT l.request_id FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = ?1 AND l.departure >= ?2 AND (?3 IS NULL OR l.arrival <= ?3) AND r.status IN {RESCREENED} \
             AND l.request_id > ?4 ORDER BY l.request_id LIMIT ?5"
        ))
        .bind(job.area.as_str())
        .bind(job.from)
        .bind(job.until)
        // Every id sorts after the empty string: a plain range the legs' key can seek to,
        // where `?4 IS NULL OR` would make each page scan the area from its start.
        .bind(job.cursor.map(|c| c.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        ids.iter()
            .map(|id| Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn advance_rescreen_job(
        &self,
        job: &RescreenJob,
        lease_until: DateTime<Utc>,
        done: bool,
    ) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        sqlx::query(
            "UPDATE rescreen_jobs SET cursor = ?, processed = ?, changed = ?, status = ?, locked_until = ?, finished_at = ? WHERE id = ?",
        )
        .bind(job.cursor.map(|c| c.to_string()))
        .bind(job.processed)
        .bind(job.changed)
        .bind(if done { "done" } else { "pending" })
        .bind(if done { None } else { Some(ts(lease_until)) })
        .bind(done.then(|| ts(Utc::now())))
        .bind(job.id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        Ok(())
    }

    async fn get_rescreen_job(&self, id: Uuid) -> Result<Option<RescreenJob>, StoreError> {
        sqlx::query("SELECT * FROM rescreen_jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn personnel(
        &self,
        area: &AreaCode,
        on: NaiveDate,
    ) -> Result<Vec<PersonnelEntry>, StoreError> {
        // CROSS JOIN makes SQLite start from the area's legs; left to choose, it would walk
        // every cleared request and look each one up in the area. The unary `+` has each leg
        // find its request by id, once, rather than probe the status index once per status.
        // SQLite hands the whole list over as one JSON array: ten thousand rows, each copied
        // out value by value and passed across sqlx's worker thread, took three times as long
        // as the query.
        let list: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(r.id, r.traveller_id, r.request ->> '$.traveller.name', r.org, \
             r.status, l.arrival, l.departure) ORDER BY r.org, r.traveller_id, l.arrival) \
             FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = ?1 AND l.arrival <= ?2 AND l.departure >= ?2 AND +r.status IN ('cleared', 'approved')",
        )
        .bind(area.as_str())
        .bind(on)
        .fetch_one(&self.pool)
        .await?;
        type Person = (
            String,
            String,
            Option<String>,
            String,
            String,
            NaiveDate,
            NaiveDate,
        );
        let rows: Vec<Person> =
            serde_json::from_str(&list).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rows.into_iter()
            .map(
                |(id, traveller_id, name, org, status, arrival, departure)| {
                    Ok(PersonnelEntry {
                        request_id: Uuid::parse_str(&id)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        traveller_id,
                        traveller_name: name.unwrap_or_default(),
                        org,
                        status,
                        arrival,
                        departure,
                    })
                },
            )
            .collect()
    }

    async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sras WHERE (?1 IS NULL OR area_code = ?1) ORDER BY area_code, version",
        )
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sra_from_row).collect()
    }

    async fn insert_request(&self, new: Arc<NewRequest>) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let job = PendingInsert {
            new,
            done,
            queued: std::time::Instant::now(),
        };
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before committing".into()))?
    }

    async fn update_request(&self, change: RequestChange<'_>) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let record = change.record;
        let request = &record.request;
        let mut tx = self.pool.begin().await?;
        if change.legs_changed {
            // Legs are keyed by area first: the old ones are found through the areas the stored
            // itinerary names, so this runs before the new itinerary replaces it.
            sqlx::query(
                "DELETE FROM request_legs WHERE request_id = ?1 AND area_code IN \
                 (SELECT json_extract(leg.value, '$.area') FROM clearance_requests AS r, \
                 json_each(r.request, '$.legs') AS leg WHERE r.id = ?1)",
            )
            .bind(record.id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        let updated = sqlx::query(
            "UPDATE clearance_requests SET status = ?, programme_criticality = ?, first_arrival = ?, last_departure = ?, \
             updated_at = ?, request = ?, decision = ?, escalation = ?, stage = ?, version = ? \
             WHERE id = ? AND version = ?",
        )
        .bind(record.status.as_str())
        .bind(request.programme_criticality.as_str())
        .bind(request.legs.first_arrival())
        .bind(request.legs.last_departure())
        .bind(Utc::now())
        .bind(serde_json::to_string(request)?)
        .bind(serde_json::to_string(&record.decision)?)
        .bind(record.escalation.as_ref().map(serde_json::to_string).transpose()?)
        .bind(queue_stage(record))
        .bind(record.version)
        .bind(record.id.to_string())
        .bind(record.version - 1)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "request {} changed meanwhile",
                record.id
            )));
        }
        if change.legs_changed {
            insert_legs(&mut tx, record).await?;
        }
        enqueue_event(&mut tx, record, &change.audit).await?;
        append_audit(&mut tx, record.id, change.audit, false).await?;
        turn.commit(tx).await?;
        Ok(())
    }

    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError> {
        sqlx::query("SELECT * FROM clearance_requests WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(request_from_row)
            .transpose()
    }

    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM clearance_requests WHERE 1 = 1");
        match &query.scope {
            RequestScope::All => {}
            RequestScope::Traveller(org, id) => {
                return self.travellers_requests(org, id, query).await;
            }
            RequestScope::Org(org) => {
                sql.push(" AND org = ").push_bind(org.as_str());
            }
        }
        push_page(&mut sql, query, ["status", "id"]);
        sql.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(request_from_row)
            .collect()
    }

    async fn escalation_queue(
        &self,
        stage: &str,
        after: Option<QueuePosition>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT * FROM clearance_requests WHERE status = 'escalated' AND stage = ",
        );
        sql.push_bind(stage);
        if let Some(after) = after {
            sql.push(" AND (first_arrival, submitted_at, id) > (")
                .push_bind(after.first_arrival)
                .push(", ")
                .push_bind(after.submitted_at)
                .push(", ")
                .push_bind(after.id.to_string())
                .push(")");
        }
        sql.push(" ORDER BY first_arrival, submitted_at, id LIMIT ")
            .push_bind(i64::from(limit));
        sql.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(request_from_row)
            .collect()
    }

    async fn audit_trail(&self, id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query("SELECT * FROM audit_log WHERE request_id = ? ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn claim_idempotency_key(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
        abandoned_before: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        let turn = self.turn().await?;
        let claimed: Option<String> = sqlx::query_scalar(CLAIM_IDEMPOTENCY_KEY)
            .bind(&key.subject)
            .bind(&key.key)
            .bind(&key.fingerprint)
            .bind(ts(now))
            .bind(ts(expired_before))
            .bind(ts(abandoned_before))
            .bind(Uuid::now_v7().to_string())
            .bind(&key.roles)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| turn.judge(e))?;
        if let Some(id) = claimed {
            return Ok(IdempotencyClaim::Proceed {
                request_id: claimed_request_id(&id)?,
            });
        }
        let row = sqlx::query(
            "SELECT fingerprint, status, content_type, location, body, roles FROM idempotency_keys WHERE subject = ? AND key = ?",
        )
        .bind(&key.subject)
        .bind(&key.key)
        .fetch_one(&self.pool)
        .await?;
        Ok(existing_claim(
            key,
            KeyRow {
                fingerprint: row.try_get("fingerprint")?,
                status: row.try_get("status")?,
                content_type: row.try_get("content_type")?,
                location: row.try_get("location")?,
                body: row.try_get("body")?,
                roles: row.try_get("roles")?,
            },
        ))
    }

    async fn complete_idempotency_key(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        sqlx::query(
            "UPDATE idempotency_keys SET status = ?, content_type = ?, location = ?, body = ? WHERE subject = ? AND key = ?",
        )
        .bind(i64::from(response.status))
        .bind(&response.content_type)
        .bind(&response.location)
        .bind(&response.body)
        .bind(&key.subject)
        .bind(&key.key)
        .execute(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        Ok(())
    }

    async fn release_idempotency_key(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE subject = ? AND key = ? AND status IS NULL",
        )
        .bind(&key.subject)
        .bind(&key.key)
        .execute(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        Ok(())
    }

    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let turn = self.turn().await?;
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
                .bind(ts(before))
                .execute(&self.pool)
                .await
                .map_err(|e| turn.judge(e))?
                .rows_affected(),
        )
    }

    async fn figures(&self) -> Result<StoreFigures, StoreError> {
        let queue: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT stage, COUNT(*), MIN(submitted_at) FROM clearance_requests WHERE status = 'escalated' \
             AND stage IS NOT NULL GROUP BY stage ORDER BY stage",
        )
        .fetch_all(&self.pool)
        .await?;
        let outbox_pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        let (rescreen_jobs_pending, rescreen_requests_remaining): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(total - processed), 0) AS BIGINT) FROM rescreen_jobs WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(StoreFigures {
            queue,
            outbox_pending,
            rescreen_jobs_pending,
            rescreen_requests_remaining,
        })
    }

    async fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        let mut walk = ChainWalk::default();
        let mut rows = sqlx::query(
            "SELECT a.*, r.version AS request_version FROM audit_log a JOIN clearance_requests r ON r.id = a.request_id \
             ORDER BY a.request_id, a.seq",
        )
        .fetch(&self.pool);
        let mut broken = None;
        while let Some(row) = rows.try_next().await? {
            if let Err(link) = walk.push(audit_from_row(&row)?, row.try_get("request_version")?) {
                broken = Some(link);
                break;
            }
        }
        drop(rows);
        if broken.is_none() {
            let orphan: Option<String> = sqlx::query_scalar(
                "SELECT id FROM clearance_requests r WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id) LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            broken = orphan
                .map(|id| Uuid::parse_str(&id).map(missing_trail).map_err(corrupt))
                .transpose()?;
        }
        Ok(walk.finish(broken))
    }

    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        sqlx::query("INSERT INTO webhooks (id, org, url, events, secret, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(webhook.id.to_string())
            .bind(webhook.org.as_str())
            .bind(&webhook.url)
            .bind(serde_json::to_string(&webhook.events)?)
            .bind(&webhook.secret)
            .bind(&webhook.created_by)
            .bind(ts(webhook.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| turn.judge(e))?;
        Ok(())
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError> {
        sqlx::query("SELECT * FROM webhooks WHERE org = ? ORDER BY created_at, id")
            .bind(org.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(webhook_from_row)
            .collect()
    }

    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        sqlx::query("SELECT * FROM webhooks WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(webhook_from_row)
            .transpose()
    }

    async fn delete_webhook(&self, id: Uuid) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let id = id.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        turn.commit(tx).await?;
        Ok(())
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        // Lease first, in one statement: a transaction that starts by writing never has to
        // upgrade a read snapshot, which SQLite may refuse under concurrent writers.
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE webhook_deliveries SET locked_until = ?3 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d \
               WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND (d.locked_until IS NULL OR d.locked_until <= ?1) \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                               AND e.request_id = d.request_id AND e.status = 'pending' AND e.id < d.id) \
               ORDER BY d.id LIMIT ?2) \
             RETURNING id",
        )
        .bind(ts(now))
        .bind(i64::from(limit))
        .bind(ts(now + lease))
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(
                "SELECT d.id, d.public_id, d.attempts, d.webhook_id, w.url, w.secret, o.event, o.payload FROM webhook_deliveries d \
                 JOIN webhooks w ON w.id = d.webhook_id JOIN outbox o ON o.id = d.outbox_id WHERE d.id = ?",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let webhook_id: String = row.try_get("webhook_id")?;
            let public_id: String = row.try_get("public_id")?;
            due.push(DueDelivery {
                id,
                public_id: Uuid::parse_str(&public_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                attempts: row
                    .try_get::<i64, _>("attempts")?
                    .try_into()
                    .unwrap_or(u32::MAX),
                webhook_id: Uuid::parse_str(&webhook_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                url: row.try_get("url")?,
                secret: row.try_get("secret")?,
                event: row.try_get("event")?,
                payload: row.try_get("payload")?,
            });
        }
        turn.commit(tx).await?;
        Ok(due)
    }

    async fn finish_attempt(
        &self,
        delivery_id: i64,
        attempt: &Attempt,
        result: AttemptResult,
    ) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(delivery_id)
            .bind(i64::from(attempt.attempt))
            .bind(ts(attempt.at))
            .bind(attempt.status_code.map(i64::from))
            .bind(&attempt.error)
            .bind(attempt.duration_ms)
            .execute(&mut *tx)
            .await?;
        let (status, next, delivered) = match result {
            AttemptResult::Delivered => ("delivered", None, Some(ts(attempt.at))),
            AttemptResult::RetryAt(at) => ("pending", Some(ts(at)), None),
            AttemptResult::GiveUp => ("failed", None, None),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = COALESCE(?, next_attempt_at), \
             locked_until = NULL, delivered_at = ? WHERE id = ?",
        )
        .bind(status)
        .bind(i64::from(attempt.attempt))
        .bind(next)
        .bind(delivered)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        turn.commit(tx).await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        webhook_id: Uuid,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.public_id, d.request_id, d.status, d.next_attempt_at, d.delivered_at, o.event FROM webhook_deliveries d \
             JOIN outbox o ON o.id = d.outbox_id WHERE d.webhook_id = ? ORDER BY d.id DESC LIMIT ?",
        )
        .bind(webhook_id.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let public_id: String = row.try_get("public_id")?;
            let request_id: String = row.try_get("request_id")?;
            let status: String = row.try_get("status")?;
            let next: String = row.try_get("next_attempt_at")?;
            let delivered: Option<String> = row.try_get("delivered_at")?;
            let attempts = sqlx::query(
                "SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|a| {
                let at: String = a.try_get("at")?;
                Ok(Attempt {
                    attempt: a
                        .try_get::<i64, _>("attempt")?
                        .try_into()
                        .unwrap_or(u32::MAX),
                    at: parse_ts(&at)?,
                    status_code: a
                        .try_get::<Option<i64>, _>("status_code")?
                        .and_then(|c| u16::try_from(c).ok()),
                    error: a.try_get("error")?,
                    duration_ms: Some(a.try_get("duration_ms")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
            views.push(DeliveryView {
                id: Uuid::parse_str(&public_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                event: row.try_get("event")?,
                request_id: Uuid::parse_str(&request_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                next_attempt_at: (status == "pending").then(|| parse_ts(&next)).transpose()?,
                status,
                delivered_at: delivered.as_deref().map(parse_ts).transpose()?,
                attempts,
            });
        }
        Ok(views)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    /// Migration 0007 rebuilds the legs and the audit trail: a store written by the schema
    /// before it keeps every row, and the trail stays append-only.
    #[tokio::test]
    async fn rebuilding_the_legs_and_the_audit_trail_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("before-0007");
        std::fs::create_dir(&before).unwrap();
        for entry in std::fs::read_dir("migrations/sqlite").unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.as_str() < "0007" {
                std::fs::copy(&path, before.join(name)).unwrap();
            }
        }
        let mut conn = SqliteConnectOptions::new()
            .filename(dir.path().join("store.db"))
            .create_if_missing(true)
            .foreign_keys(true)
            .connect()
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        for (id, legs) in [("r1", 3), ("r2", 1)] {
            sqlx::query(
                "INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality, \
                 first_arrival, last_departure, submitted_at, updated_at, request, decision) \
                 VALUES (?, 't', 'WFP', 'u', 'cleared', 'PC2', '2026-12-01', '2026-12-09', 'now', 'now', '{}', '{}')",
            )
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
            for seq in 0..legs {
                sqlx::query(
                    "INSERT INTO request_legs VALUES (?, ?, ?, '2026-12-01', '2026-12-03')",
                )
                .bind(id)
                .bind(seq)
                .bind(format!("AREA-{seq}"))
                .execute(&mut conn)
                .await
                .unwrap();
            }
            sqlx::query(
                "INSERT INTO audit_log VALUES (?, 1, 'now', 'u', 'submitted', NULL, 'cleared', NULL, NULL, 'p', 'h')",
            )
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        let legs = "SELECT request_id, seq, area_code, arrival, departure FROM request_legs ORDER BY request_id, seq";
        let trail = "SELECT request_id, seq, action, hash FROM audit_log ORDER BY request_id, seq";
        type Leg = (String, i64, String, String, String);
        type Entry = (String, i64, String, String);
        let legs_before: Vec<Leg> = sqlx::query_as(legs).fetch_all(&mut conn).await.unwrap();
        let trail_before: Vec<Entry> = sqlx::query_as(trail).fetch_all(&mut conn).await.unwrap();

        super::MIGRATOR.run(&mut conn).await.unwrap();

        let legs_after: Vec<Leg> = sqlx::query_as(legs).fetch_all(&mut conn).await.unwrap();
        let trail_after: Vec<Entry> = sqlx::query_as(trail).fetch_all(&mut conn).await.unwrap();
        assert_eq!((legs_after.len(), trail_after.len()), (4, 2));
        assert_eq!(legs_after, legs_before);
        assert_eq!(trail_after, trail_before);
        let changed = sqlx::query("UPDATE audit_log SET actor = 'someone-else'")
            .execute(&mut conn)
            .await;
        assert!(
            changed.is_err_and(|e| e.to_string().contains("append-only")),
            "the audit trail must stay append-only after the rebuild"
        );
        let deleted = sqlx::query("DELETE FROM audit_log")
            .execute(&mut conn)
            .await;
        assert!(deleted.is_err_and(|e| e.to_string().contains("append-only")));
        conn.close().await.unwrap();
    }
}
