//! Re-screening jobs: leased, advanced through the requests they cover, finished.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::area::AreaCode;

/// A durable re-screening job: every pending or cleared request with a leg in `area` on or
/// after `from` (and up to `until`, when set) is decided again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RescreenJob {
    pub id: Uuid,
    pub area: AreaCode,
    /// The change that called for it, in words; it goes into each moved request's audit entry.
    pub reason: String,
    pub actor: String,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub changed: i64,
    #[serde(skip)]
    pub cursor: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl RescreenJob {
    /// A job over the area's legs from `from` (never before today: finished trips stay as
    /// they were decided) up to `until`.
    pub fn new(
        area: AreaCode,
        reason: String,
        actor: &str,
        from: NaiveDate,
        until: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            area,
            reason,
            actor: actor.to_owned(),
            from: from.max(now.date_naive()),
            until,
            status: "pending".into(),
            total: 0,
            processed: 0,
            changed: 0,
            cursor: None,
            created_at: now,
            finished_at: None,
        }
    }
}

#[async_trait]
pub trait RescreenStore: Send + Sync {
    /// Leases the oldest unfinished re-screening job, if any.
    async fn claim_rescreen_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<RescreenJob>, StoreError>;
    /// The next requests a job must look at, after its cursor, in id order.
    async fn rescreen_candidates(
        &self,
        job: &RescreenJob,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError>;
    /// Records progress (and renews the lease); `done` closes the job.
    async fn advance_rescreen_job(
        &self,
        job: &RescreenJob,
        lease_until: DateTime<Utc>,
        done: bool,
    ) -> Result<(), StoreError>;
    async fn get_rescreen_job(&self, id: Uuid) -> Result<Option<RescreenJob>, StoreError>;
    /// The unfinished jobs, then the latest finished, newest first, `limit` in all.
    async fn recent_rescreen_jobs(&self, limit: u32) -> Result<Vec<RescreenJob>, StoreError>;
}
