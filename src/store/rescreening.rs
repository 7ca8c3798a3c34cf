//! Re-screening jobs: leased, advanced through the requests they cover, finished.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::air_operator::OperatorCode;
use crate::domain::area::AreaCode;

/// A durable re-screening job: every pending or cleared request with a leg in `area` (or
/// flown with `operator`) on or after `from` (and up to `until`, when set) is decided again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RescreenJob {
    pub id: Uuid,
    /// The area whose change called for it; absent for an air operator's.
    pub area: Option<AreaCode>,
    /// The air operator whose assessment changed; absent for an area's change.
    pub operator: Option<OperatorCode>,
    /// The change that called for it, in words; it goes into each moved request's audit entry.
    pub reason: String,
    pub actor: String,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    pub status: String,
    /// The requests it covers: counted when the change was made, raised by those submitted
    /// since that it screens too, so `processed` never exceeds it; exact once `done`.
    pub total: i64,
    /// The requests decided again so far.
    pub processed: i64,
    /// Of those, the ones whose status (or briefing) moved.
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
            area: Some(area),
            operator: None,
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

impl RescreenJob {
    /// A job over the legs flown with `operator` from today on.
    pub fn for_operator(
        operator: OperatorCode,
        reason: String,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            area: None,
            operator: Some(operator),
            reason,
            actor: actor.to_owned(),
            from: now.date_naive(),
            until: None,
            status: "pending".into(),
            total: 0,
            processed: 0,
            changed: 0,
            cursor: None,
            created_at: now,
            finished_at: None,
        }
    }

    /// The legs' column the job selects on, and the value: a static column name, so both
    /// backends can put it into the statement and keep the index's seek.
    pub fn scope(&self) -> (&'static str, &str) {
        match (&self.area, &self.operator) {
            (_, Some(operator)) => ("operator", operator.as_str()),
            (Some(area), None) => ("area_code", area.as_str()),
            (None, None) => ("area_code", ""),
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
