//! The escalation queue: requests awaiting a stage, soonest travel first.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use super::rows::request_from_row;
use crate::domain::request::RequestRecord;
use crate::store::EscalationStore;
use crate::store::{QueuePosition, StoreError};

#[async_trait]
impl EscalationStore for SqliteStore {
    #[tracing::instrument(name = "store.escalation_queue", level = "debug", skip_all)]
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
}
