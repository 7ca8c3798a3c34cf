//! Re-screening jobs: leased, advanced through the requests they cover, finished.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use super::PostgresStore;
use super::rows::job_from_row;
use crate::store::RescreenStore;
use crate::store::encoding::RESCREENED;
use crate::store::{RescreenJob, StoreError};

/// How many requests a re-screening job will look at: its progress denominator, counted
/// before the change's transaction so that the transaction stays short.
pub(super) async fn rescreen_scope(
    pool: &PgPool,
    job: Option<&RescreenJob>,
) -> Result<i64, StoreError> {
    let Some(job) = job else {
        return Ok(0);
    };
    let (column, value) = job.scope();
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT l.request_id) FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
         WHERE l.{column} = $1 AND l.departure >= $2 AND ($3::date IS NULL OR l.arrival <= $3) AND r.status IN {RESCREENED}"
    ))
    .bind(value)
    .bind(job.from)
    .bind(job.until)
    .fetch_one(pool)
    .await?)
}

pub(super) async fn create_rescreen_job(
    tx: &mut PgConnection,
    job: &RescreenJob,
    total: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rescreen_jobs (id, area_code, operator, reason, actor, window_from, window_until, status, total, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)",
    )
    .bind(job.id)
    .bind(job.area.as_ref().map(|a| a.as_str()))
    .bind(job.operator.as_ref().map(|o| o.as_str()))
    .bind(&job.reason)
    .bind(&job.actor)
    .bind(job.from)
    .bind(job.until)
    .bind(total)
    .bind(job.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl RescreenStore for PostgresStore {
    #[tracing::instrument(name = "store.claim_rescreen_job", level = "debug", skip_all)]
    async fn claim_rescreen_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<RescreenJob>, StoreError> {
        // SKIP LOCKED: an instance passes over a job another is claiming this very moment
        // instead of waiting for it; the lease then keeps it from the others.
        let job = sqlx::query(
            "UPDATE rescreen_jobs SET locked_until = $2 WHERE id = ( \
               SELECT id FROM rescreen_jobs WHERE status = 'pending' AND (locked_until IS NULL OR locked_until <= $1) \
               ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
        )
        .bind(now)
        .bind(now + lease)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(job_from_row)
        .transpose()?;
        // Only the plan depends on it: the job goes on without, at the old pace.
        if job.is_some()
            && let Err(e) = self.analyze_if_stale().await
        {
            tracing::warn!(error = %e, "re-screening: could not bring the planner's statistics up to date");
        }
        Ok(job)
    }

    #[tracing::instrument(name = "store.rescreen_candidates", level = "debug", skip_all)]
    async fn rescreen_candidates(
        &self,
        job: &RescreenJob,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let (column, value) = job.scope();
        Ok(sqlx::query_scalar(&format!(
            "SELECT DISTINCT l.request_id FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.{column} = $1 AND l.departure >= $2 AND ($3::date IS NULL OR l.arrival <= $3) AND r.status IN {RESCREENED} \
             AND l.request_id > $4 AND r.id > $4 ORDER BY l.request_id LIMIT $5"
        ))
        .bind(value)
        .bind(job.from)
        .bind(job.until)
        // Every id sorts after the nil one: a plain range the index can seek to, where
        // `$4 IS NULL OR` would make each page read the area from its start. Said of both
        // tables, since the planner does not carry a range across the join: without it a
        // merge join reads the requests from the first one at every page.
        .bind(job.cursor.unwrap_or(Uuid::nil()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(name = "store.advance_rescreen_job", level = "debug", skip_all)]
    async fn advance_rescreen_job(
        &self,
        job: &RescreenJob,
        lease_until: DateTime<Utc>,
        done: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rescreen_jobs SET cursor = $1, processed = $2, changed = $3, status = $4, locked_until = $5, \
             finished_at = $6, total = $8 WHERE id = $7",
        )
        .bind(job.cursor)
        .bind(job.processed)
        .bind(job.changed)
        .bind(if done { "done" } else { "pending" })
        .bind((!done).then_some(lease_until))
        .bind(done.then(Utc::now))
        .bind(job.id)
        .bind(job.total)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.get_rescreen_job", level = "debug", skip_all)]
    async fn get_rescreen_job(&self, id: Uuid) -> Result<Option<RescreenJob>, StoreError> {
        sqlx::query("SELECT * FROM rescreen_jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.recent_rescreen_jobs", level = "debug", skip_all)]
    async fn recent_rescreen_jobs(&self, limit: u32) -> Result<Vec<RescreenJob>, StoreError> {
        sqlx::query(
            "SELECT * FROM rescreen_jobs ORDER BY status = 'done', created_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(job_from_row)
        .collect()
    }
}

impl PostgresStore {
    /// Brings the planner's statistics of the legs and requests up to date if many rows
    /// came since they were last gathered: a fresh or restored database, or a burst before
    /// autovacuum's next round (a minute by default). Without them PostgreSQL guesses an
    /// area holds a few dozen legs and reads all of them, sorted, for every page of a job
    /// (50 ms a page at 10,000 legs) instead of walking the area's index in request order.
    async fn analyze_if_stale(&self) -> Result<(), StoreError> {
        let stale: bool = sqlx::query_scalar(
            "SELECT coalesce(bool_or(n_mod_since_analyze > greatest(1000, n_live_tup / 5)), false) \
             FROM pg_stat_user_tables WHERE relid IN ('request_legs'::regclass, 'clearance_requests'::regclass)",
        )
        .fetch_one(&self.pool)
        .await?;
        if stale {
            let started = std::time::Instant::now();
            sqlx::query("ANALYZE request_legs, clearance_requests")
                .execute(&self.pool)
                .await?;
            // A role that does not own the tables is refused with a warning only: the check
            // then stays true and each job asks again, at the cost of that warning.
            tracing::info!(took = ?started.elapsed(), "re-screening: ANALYZE of requests and legs, their statistics lagging");
        }
        Ok(())
    }
}
