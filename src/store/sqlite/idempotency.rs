//! Idempotency keys: claimed, completed with the response to replay, released, pruned.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::ts;
use crate::store::IdempotencyStore;
use crate::store::encoding::{CLAIM_IDEMPOTENCY_KEY, KeyRow, claimed_request_id, existing_claim};
use crate::store::{IdempotencyClaim, IdempotencyKey, StoreError, StoredResponse};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    #[tracing::instrument(name = "store.claim_idempotency_key", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.complete_idempotency_key", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.release_idempotency_key", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.prune_idempotency_keys", level = "debug", skip_all)]
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
}
