//! The SQLite store: one file, WAL journal, `synchronous` as configured (FULL by default).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

use super::encoding::PendingInsert;
use super::{RequestQuery, StoreError};
use crate::domain::area::AreaCode;
use crate::domain::request::{OrgId, RequestRecord, TravellerId};
use crate::domain::sra::Sra;
use crate::metrics::StoreFigures;
use crate::store::StoreLifecycle;
use crate::store::settings::DatabaseSettings;
use crate::store::write_stop::{WriteStop, is_sqlite_io_error};
use rows::{request_from_row, sra_from_row};

mod air_operators;
mod areas;
mod audit;
pub mod backup;
mod delegations;
mod escalations;
mod group_commit;
mod idempotency;
mod incidents;
pub mod instance_lock;
mod mail;
mod people;
mod requests;
mod rescreening;
mod rows;
mod sql_text;
mod traveller_index;
mod webhooks;

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
    /// Each change writes its e-mail notice (`DatabaseSettings::mail_notices`).
    mail_notices: bool,
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
    let legs = &query.legs;
    if !legs.is_empty() {
        // Through the legs' (area, arrival, departure) index, then by id.
        sql.push(format!(
            " AND {id_column} IN (SELECT request_id FROM request_legs WHERE 1 = 1"
        ));
        if let Some(area) = &legs.area {
            sql.push(" AND area_code = ")
                .push_bind(area.as_str().to_owned());
        }
        if let Some(from) = legs.from {
            sql.push(" AND departure >= ").push_bind(from);
        }
        if let Some(until) = legs.until {
            sql.push(" AND arrival <= ").push_bind(until);
        }
        sql.push(")");
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

    /// A traveller's requests (of `org`, or of every organisation): those in the
    /// requests-by-traveller table, and those whose entries the writer still holds in
    /// memory, read first (`Pending::ids_of` says why).
    async fn travellers_requests(
        &self,
        org: Option<&OrgId>,
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
        if let Some(org) = org {
            sql.push(" AND r.org = ").push_bind(org.as_str());
        }
        push_page(&mut sql, query, ["r.status", "t.id"]);
        let mut rows = sql.build().fetch_all(&self.pool).await?;
        if !recent.is_empty() {
            let ids: Vec<String> = recent.iter().map(Uuid::to_string).collect();
            let mut sql = QueryBuilder::<Sqlite>::new(
                "SELECT * FROM clearance_requests WHERE id IN (SELECT value FROM json_each(",
            );
            sql.push_bind(serde_json::to_string(&ids)?).push("))");
            if let Some(org) = org {
                sql.push(" AND +org = ").push_bind(org.as_str());
            }
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
            mail_notices: settings.mail_notices,
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

#[async_trait]
impl StoreLifecycle for SqliteStore {
    #[tracing::instrument(name = "store.ping", level = "debug", skip_all)]
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.migrate", level = "debug", skip_all)]
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        self.index_travellers_again().await
    }

    #[tracing::instrument(name = "store.close", level = "debug", skip_all)]
    async fn close(&self) {
        self.pool.close().await;
    }

    fn writes_stopped(&self) -> Option<String> {
        self.stop.reason().map(str::to_owned)
    }

    #[tracing::instrument(name = "store.figures", level = "debug", skip_all)]
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
        let (mail_pending, mail_failed): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) FROM mail_messages \
             WHERE status IN ('pending', 'failed')",
        )
        .fetch_one(&self.pool)
        .await?;
        let mail_notices_pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_notices")
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
            mail_pending,
            mail_failed,
            mail_notices_pending,
            rescreen_jobs_pending,
            rescreen_requests_remaining,
        })
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
