//! The escalation queue: requests awaiting a stage, soonest travel first.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::request::RequestRecord;

/// Where the next page of a stage's queue starts: after this (travel start, submission, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePosition {
    pub first_arrival: NaiveDate,
    pub submitted_at: DateTime<Utc>,
    pub id: Uuid,
}

#[async_trait]
pub trait EscalationStore: Send + Sync {
    /// Escalated requests awaiting `stage`: soonest travel first, then oldest submission.
    async fn escalation_queue(
        &self,
        stage: &str,
        after: Option<QueuePosition>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError>;
}
