//! The PostgreSQL store: several stateless instances share one database.
//!
//! The same tables as SQLite in native types (UUID, DATE, TIMESTAMPTZ, JSONB). What SQLite gets
//! from having one writer, PostgreSQL gets from row locks: leases on webhook deliveries and
//! re-screening jobs are taken with `FOR UPDATE SKIP LOCKED`, and request changes update only
//! the version they read, so instances never double-claim or overwrite each other's work.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use super::StoreError;
use super::encoding::PendingInsert;
use crate::domain::area::AreaCode;
use crate::domain::sra::Sra;
use crate::metrics::StoreFigures;
use crate::store::StoreLifecycle;
use crate::store::settings::DatabaseSettings;
use rows::sra_from_row;

mod air_operators;
mod areas;
mod audit;
mod batch;
mod delegations;
mod escalations;
mod idempotency;
mod incidents;
mod mail;
mod people;
mod requests;
mod rescreening;
mod rows;
mod webhooks;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Columns of a request as `request_from_row` reads them (JSONB back as text).
const REQUEST_COLUMNS: &str = "id, status, submitted_at, submitted_by, request::text AS request, \
     decision::text AS decision, escalation::text AS escalation, version, team_id";

const SRA_COLUMNS: &str = "id, area_code, version, status, effective_from, review_due, security_level, \
     residual_risk, threats::text AS threats, mandatory_measures::text AS mandatory_measures, requires_ssafe, \
     published_at, residual_risk_justification, endorsed_by, endorsed_on, approved_by, approved_on, withdrawn_at, briefing";

const WEBHOOK_COLUMNS: &str =
    "id, org, url, events::text AS events, secret, created_by, created_at";

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// New requests go to a batcher that commits them in groups (see `batch`).
    writer: mpsc::Sender<PendingInsert>,
    /// Each change writes its e-mail notice (`DatabaseSettings::mail_notices`).
    mail_notices: bool,
}

impl PostgresStore {
    /// Connects to the database named by `settings.url` (`postgres://...`).
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)?.application_name("clearway");
        let connections = settings.max_connections.max(2);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        // Half the pool may be committing groups of new requests; the rest serves reads and
        // decisions, which therefore never queue behind a burst of submissions.
        let writer = batch::start(pool.clone(), (connections / 2).max(1) as usize);
        Ok(Self {
            pool,
            writer,
            mail_notices: settings.mail_notices,
        })
    }

    async fn published_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SRA_COLUMNS} FROM sras WHERE status = 'published' AND ($1::text IS NULL OR area_code = $1) \
             ORDER BY area_code, version"
        ))
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sra_from_row)
        .collect()
    }
}

/// Commits. A COMMIT that got no answer (the connection broke) may have committed: the
/// outcome is unknown, and a retry must carry the same Idempotency-Key. A database error
/// means the server refused it, and nothing was stored.
pub(super) async fn commit(tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| match e {
        sqlx::Error::Database(_) => StoreError::from(e),
        other => StoreError::OutcomeUnknown(format!("no answer to COMMIT: {other}")),
    })
}

#[async_trait]
impl StoreLifecycle for PostgresStore {
    #[tracing::instrument(name = "store.ping", level = "debug", skip_all)]
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.migrate", level = "debug", skip_all)]
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx holds an advisory lock while migrating: instances starting together take turns.
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    #[tracing::instrument(name = "store.close", level = "debug", skip_all)]
    async fn close(&self) {
        self.pool.close().await;
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
