//! The air operator list.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::rescreening::{create_rescreen_job, rescreen_scope};
use super::rows::{parse_ts, ts};
use crate::domain::air_operator::{AirOperator, OperatorCode};
use crate::store::encoding::{AirOperatorColumns, air_operator};
use crate::store::{AirOperatorStore, RescreenJob, StoreError};

fn operator_from_row(row: &SqliteRow) -> Result<AirOperator, StoreError> {
    air_operator(AirOperatorColumns {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        assessment: row.try_get("assessment")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        note: row.try_get("note")?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        updated_by: row.try_get("updated_by")?,
    })
}

#[async_trait]
impl AirOperatorStore for SqliteStore {
    #[tracing::instrument(name = "store.put_air_operator", level = "debug", skip_all)]
    async fn put_air_operator(
        &self,
        o: &AirOperator,
        rescreen: &RescreenJob,
    ) -> Result<(bool, i64), StoreError> {
        let in_scope = rescreen_scope(&self.pool, Some(rescreen)).await?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        // A write first: the transaction takes SQLite's write lock at once (waiting its
        // busy timeout for another process's writer), where a read first would have to be
        // upgraded and fail with SQLITE_BUSY if that writer committed meanwhile.
        let inserted = sqlx::query(
            "INSERT INTO air_operators (code, name, assessment, valid_from, valid_until, note, updated_at, updated_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING",
        )
        .bind(o.code.as_str())
        .bind(&o.name)
        .bind(o.assessment.as_str())
        .bind(o.from)
        .bind(o.until)
        .bind(&o.note)
        .bind(ts(o.updated_at))
        .bind(&o.updated_by)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            sqlx::query(
                "UPDATE air_operators SET name = ?, assessment = ?, valid_from = ?, valid_until = ?, \
                 note = ?, updated_at = ?, updated_by = ? WHERE code = ?",
            )
            .bind(&o.name)
            .bind(o.assessment.as_str())
            .bind(o.from)
            .bind(o.until)
            .bind(&o.note)
            .bind(ts(o.updated_at))
            .bind(&o.updated_by)
            .bind(o.code.as_str())
            .execute(&mut *tx)
            .await?;
        }
        create_rescreen_job(&mut tx, rescreen, in_scope).await?;
        turn.commit(tx).await?;
        Ok((inserted, in_scope))
    }

    #[tracing::instrument(name = "store.get_air_operator", level = "debug", skip_all)]
    async fn get_air_operator(
        &self,
        code: &OperatorCode,
    ) -> Result<Option<AirOperator>, StoreError> {
        sqlx::query("SELECT * FROM air_operators WHERE code = ?")
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
