//! Idempotency keys: claimed, completed with the response to replay, released, pruned.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::PostgresStore;
use crate::store::IdempotencyStore;
use crate::store::encoding::{CLAIM_IDEMPOTENCY_KEY, KeyRow, claimed_request_id, existing_claim};
use crate::store::{IdempotencyClaim, IdempotencyKey, StoreError, StoredResponse};

#[async_trait]
impl IdempotencyStore for PostgresStore {
    #[tracing::instrument(name = "store.claim_idempotency_key", level = "debug", skip_all)]
    async fn claim_idempotency_key(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
        abandoned_before: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        // Two instances claiming the same key at once: the second waits on the first's insert
        // (unique index), then finds the key taken and reads it below.
        let claimed: Option<String> = sqlx::query_scalar(CLAIM_IDEMPOTENCY_KEY)
            .bind(&key.subject)
            .bind(&key.key)
            .bind(&key.fingerprint)
            .bind(now)
            .bind(expired_before)
            .bind(abandoned_before)
            .bind(Uuid::now_v7().to_string())
            .bind(&key.roles)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(id) = claimed {
            return Ok(IdempotencyClaim::Proceed {
                request_id: claimed_request_id(&id)?,
            });
        }
        let row = sqlx::query(
            "SELECT fingerprint, status, content_type, location, body, roles FROM idempotency_keys WHERE subject = $1 AND key = $2",
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

    #[tracing::instrument(name = "store.complete_idempotency_key", level = "debug", skip_all)]
    async fn complete_idempotency_key(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, content_type = $2, location = $3, body = $4 WHERE subject = $5 AND key = $6",
        )
        .bind(i64::from(response.status))
        .bind(&response.content_type)
        .bind(&response.location)
        .bind(&response.body)
        .bind(&key.subject)
        .bind(&key.key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.release_idempotency_key", level = "debug", skip_all)]
    async fn release_idempotency_key(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE subject = $1 AND key = $2 AND status IS NULL",
        )
        .bind(&key.subject)
        .bind(&key.key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.prune_idempotency_keys", level = "debug", skip_all)]
    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
