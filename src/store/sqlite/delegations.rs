//! Delegations of approvers' stage authority.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{parse_ts, ts};
use crate::domain::Invalid;
use crate::domain::delegation::{Delegation, check};
use crate::store::{DelegationStore, StoreError};

fn delegation_from_row(row: &SqliteRow) -> Result<Delegation, StoreError> {
    let id: String = row.try_get("id")?;
    Ok(Delegation {
        id: Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        stage: row.try_get("stage")?,
        delegator: row.try_get("delegator")?,
        delegate: row.try_get("delegate")?,
        from: row.try_get("starts_on")?,
        until: row.try_get("ends_on")?,
        created_by: row.try_get("created_by")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        revoked_at: row
            .try_get::<Option<String>, _>("revoked_at")?
            .map(|raw| parse_ts(&raw))
            .transpose()?,
    })
}

#[async_trait]
impl DelegationStore for SqliteStore {
    #[tracing::instrument(name = "store.add_delegation", level = "debug", skip_all)]
    async fn add_delegation(&self, new: &Delegation) -> Result<Result<(), Invalid>, StoreError> {
        // The write turn: no other write, so no other delegation, between the read and the insert.
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let existing: Vec<Delegation> =
            sqlx::query("SELECT * FROM delegations WHERE stage = ? AND revoked_at IS NULL")
                .bind(&new.stage)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(delegation_from_row)
                .collect::<Result<_, _>>()?;
        if let Err(refused) = check(new, &existing) {
            return Ok(Err(refused));
        }
        sqlx::query(
            "INSERT INTO delegations (id, stage, delegator, delegate, starts_on, ends_on, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.id.to_string())
        .bind(&new.stage)
        .bind(&new.delegator)
        .bind(&new.delegate)
        .bind(new.from)
        .bind(new.until)
        .bind(&new.created_by)
        .bind(ts(new.created_at))
        .execute(&mut *tx)
        .await?;
        turn.commit(tx).await?;
        Ok(Ok(()))
    }

    #[tracing::instrument(name = "store.list_delegations", level = "debug", skip_all)]
    async fn list_delegations(&self, subject: Option<&str>) -> Result<Vec<Delegation>, StoreError> {
        sqlx::query(
            "SELECT * FROM delegations WHERE ?1 IS NULL OR delegator = ?1 OR delegate = ?1 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delegation_from_row)
        .collect()
    }

    #[tracing::instrument(name = "store.get_delegation", level = "debug", skip_all)]
    async fn get_delegation(&self, id: Uuid) -> Result<Option<Delegation>, StoreError> {
        sqlx::query("SELECT * FROM delegations WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(delegation_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.revoke_delegation", level = "debug", skip_all)]
    async fn revoke_delegation(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let turn = self.turn().await?;
        let done = sqlx::query(
            "UPDATE delegations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| turn.judge(e))?;
        Ok(done.rows_affected() > 0)
    }

    #[tracing::instrument(name = "store.delegations_on", level = "debug", skip_all)]
    async fn delegations_on(
        &self,
        stage: Option<&str>,
        on: NaiveDate,
    ) -> Result<Vec<Delegation>, StoreError> {
        sqlx::query(
            "SELECT * FROM delegations WHERE revoked_at IS NULL AND starts_on <= ?2 AND ends_on >= ?2 \
             AND (?1 IS NULL OR stage = ?1)",
        )
        .bind(stage)
        .bind(on)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delegation_from_row)
        .collect()
    }
}
