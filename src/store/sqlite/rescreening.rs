//! Re-screening jobs: leased, advanced through the requests they cover, finished.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{job_from_row, ts};
use crate::store::RescreenStore;
use crate::store::encoding::RESCREENED;
use crate::store::{RescreenJob, StoreError};

/// How many requests a re-screening job will look at: its progress denominator. Counted
/// before the change takes its write turn, since on a large store the count takes a while and
/// submissions would wait behind it; requests submitted meanwhile are decided on the new SRA.
pub(super) async fn rescreen_scope(
    pool: &SqlitePool,
    job: Option<&RescreenJob>,
) -> Result<i64, StoreError> {
    let Some(job) = job else {
        return Ok(0);
    };
    let (column, value) = job.scope();
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT l.request_id) FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
         WHERE l.{column} = ?1 AND l.departure >= ?2 AND (?3 IS NULL OR l.arrival <= ?3) AND r.status IN {RESCREENED}"
    ))
    .bind(value)
    .bind(job.from)
    .bind(job.until)
    .fetch_one(pool)
    .await?)
}

pub(super) async fn create_rescreen_job(
    tx: &mut SqliteConnection,
    job: &RescreenJob,
    total: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rescreen_jobs (id, area_code, operator, reason, actor, window_from, window_until, status, total, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
    )
    .bind(job.id.to_string())
    .bind(job.area.as_ref().map(|a| a.as_str()))
    .bind(job.operator.as_ref().map(|o| o.as_str()))
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

#[async_trait]
impl RescreenStore for SqliteStore {
    #[tracing::instrument(name = "store.claim_rescreen_job", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.rescreen_candidates", level = "debug", skip_all)]
    async fn rescreen_candidates(
        &self,
        job: &RescreenJob,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        let (column, value) = job.scope();
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT l.request_id FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.{column} = ?1 AND l.departure >= ?2 AND (?3 IS NULL OR l.arrival <= ?3) AND r.status IN {RESCREENED} \
             AND l.request_id > ?4 ORDER BY l.request_id LIMIT ?5"
        ))
        .bind(value)
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

    #[tracing::instrument(name = "store.advance_rescreen_job", level = "debug", skip_all)]
    async fn advance_rescreen_job(
        &self,
        job: &RescreenJob,
        lease_until: DateTime<Utc>,
        done: bool,
    ) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        sqlx::query(
            "UPDATE rescreen_jobs SET cursor = ?, processed = ?, changed = ?, status = ?, locked_until = ?, finished_at = ?, \
             total = ? WHERE id = ?",
        )
        .bind(job.cursor.map(|c| c.to_string()))
        .bind(job.processed)
        .bind(job.changed)
        .bind(if done { "done" } else { "pending" })
        .bind(if done { None } else { Some(ts(lease_until)) })
        .bind(done.then(|| ts(Utc::now())))
        .bind(job.total)
        .bind(job.id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        Ok(())
    }

    #[tracing::instrument(name = "store.get_rescreen_job", level = "debug", skip_all)]
    async fn get_rescreen_job(&self, id: Uuid) -> Result<Option<RescreenJob>, StoreError> {
        sqlx::query("SELECT * FROM rescreen_jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.recent_rescreen_jobs", level = "debug", skip_all)]
    async fn recent_rescreen_jobs(&self, limit: u32) -> Result<Vec<RescreenJob>, StoreError> {
        sqlx::query(
            "SELECT * FROM rescreen_jobs ORDER BY status = 'done', created_at DESC, id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(job_from_row)
        .collect()
    }
}
