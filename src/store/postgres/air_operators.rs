//! The air operator list.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::rescreening::{create_rescreen_job, rescreen_scope};
use crate::domain::air_operator::{AirOperator, OperatorCode};
use crate::store::encoding::{AirOperatorColumns, air_operator};
use crate::store::{AirOperatorStore, RescreenJob, StoreError};

fn operator_from_row(row: &PgRow) -> Result<AirOperator, StoreError> {
    air_operator(AirOperatorColumns {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        assessment: row.try_get("assessment")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        note: row.try_get("note")?,
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

#[async_trait]
impl AirOperatorStore for PostgresStore {
    #[tracing::instrument(name = "store.put_air_operator", level = "debug", skip_all)]
    async fn put_air_operator(
        &self,
        o: &AirOperator,
        rescreen: &RescreenJob,
    ) -> Result<(bool, i64), StoreError> {
        let in_scope = rescreen_scope(&self.pool, Some(rescreen)).await?;
        let mut tx = self.pool.begin().await?;
        // `xmax = 0` only on a row this statement inserted.
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO air_operators (code, name, assessment, valid_from, valid_until, note, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, assessment = excluded.assessment, \
             valid_from = excluded.valid_from, valid_until = excluded.valid_until, note = excluded.note, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by \
             RETURNING (xmax = 0)",
        )
        .bind(o.code.as_str())
        .bind(&o.name)
        .bind(o.assessment.as_str())
        .bind(o.from)
        .bind(o.until)
        .bind(&o.note)
        .bind(o.updated_at)
        .bind(&o.updated_by)
        .fetch_one(&mut *tx)
        .await?;
        create_rescreen_job(&mut tx, rescreen, in_scope).await?;
        tx.commit().await?;
        Ok((inserted, in_scope))
    }

    #[tracing::instrument(name = "store.get_air_operator", level = "debug", skip_all)]
    async fn get_air_operator(
        &self,
        code: &OperatorCode,
    ) -> Result<Option<AirOperator>, StoreError> {
        sqlx::query("SELECT * FROM air_operators WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(operator_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.list_air_operators", level = "debug", skip_all)]
    async fn list_air_operators(&self) -> Result<Vec<AirOperator>, StoreError> {
        sqlx::query("SELECT * FROM air_operators ORDER BY code")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(operator_from_row)
            .collect()
    }
}
