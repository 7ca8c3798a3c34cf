//! Areas and their SRAs: created, suspended, published, withdrawn, read for decisions.

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::SqliteStore;
use super::rescreening::{create_rescreen_job, rescreen_scope};
use super::rows::{area_from_row, sra_from_row};
use crate::domain::area::{Area, AreaCode, Location, Suspension};
use crate::domain::sra::{AreaRisk, Sra, SraStatus};
use crate::store::AreaStore;
use crate::store::encoding::AREA_COLUMNS;
use crate::store::encoding::reason_text;
use crate::store::{RescreenJob, StoreError};

#[async_trait]
impl AreaStore for SqliteStore {
    #[tracing::instrument(name = "store.create_area", level = "debug", skip_all)]
    async fn create_area(&self, area: &Area) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let suspension = area.suspension.as_ref();
        sqlx::query(
            "INSERT INTO areas (code, name, country, suspension_reason, suspended_since, created_at, latitude, longitude) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(area.code.as_str())
        .bind(&area.name)
        .bind(&area.country)
        .bind(suspension.map(|s| reason_text(s.reason)))
        .bind(suspension.map(|s| s.since))
        .bind(Utc::now())
        .bind(area.location.map(|l| l.degrees().latitude))
        .bind(area.location.map(|l| l.degrees().longitude))
        .execute(&self.pool)
        .await
        .map_err(|e| match turn.judge(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("area {} already exists", area.code)),
            other => other,
        })?;
        Ok(())
    }

    #[tracing::instrument(name = "store.set_location", level = "debug", skip_all)]
    async fn set_location(
        &self,
        code: &AreaCode,
        location: Option<Location>,
    ) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let done = sqlx::query("UPDATE areas SET latitude = ?, longitude = ? WHERE code = ?")
            .bind(location.map(|l| l.degrees().latitude))
            .bind(location.map(|l| l.degrees().longitude))
            .bind(code.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| turn.judge(e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("area {code}")));
        }
        Ok(())
    }

    #[tracing::instrument(name = "store.set_suspension", level = "debug", skip_all)]
    async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE areas SET suspension_reason = ?, suspended_since = ? WHERE code = ?",
        )
        .bind(suspension.map(|s| reason_text(s.reason)))
        .bind(suspension.map(|s| s.since))
        .bind(code.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("area {code}")));
        }
        if let Some(job) = rescreen {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        turn.commit(tx).await?;
        Ok(in_scope)
    }

    #[tracing::instrument(name = "store.list_areas", level = "debug", skip_all)]
    async fn list_areas(&self) -> Result<Vec<AreaRisk>, StoreError> {
        let areas = sqlx::query(&format!(
            "SELECT {AREA_COLUMNS} FROM areas a ORDER BY a.code"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(area_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let sras = self.published_sras(None).await?;
        Ok(areas
            .into_iter()
            .map(|area| {
                let own: Vec<Sra> = sras
                    .iter()
                    .filter(|s| s.area == area.code)
                    .cloned()
                    .collect();
                AreaRisk::new(area, &own)
            })
            .collect())
    }

    #[tracing::instrument(name = "store.area_risk", level = "debug", skip_all)]
    async fn area_risk(&self, code: &AreaCode) -> Result<Option<AreaRisk>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {AREA_COLUMNS} FROM areas a WHERE a.code = ?"
        ))
        .bind(code.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let area = area_from_row(&row)?;
        let sras = self.published_sras(Some(code)).await?;
        Ok(Some(AreaRisk::new(area, &sras)))
    }

    #[tracing::instrument(name = "store.insert_sra", level = "debug", skip_all)]
    async fn insert_sra(
        &self,
        sra: &Sra,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sras (id, area_code, version, status, effective_from, review_due, security_level, residual_risk, threats, \
             mandatory_measures, requires_ssafe, published_at, residual_risk_justification, endorsed_by, endorsed_on, approved_by, \
             approved_on, withdrawn_at, briefing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sra.id.to_string())
        .bind(sra.area.as_str())
        .bind(i64::from(sra.version))
        .bind(sra.status.as_str())
        .bind(sra.effective_from)
        .bind(sra.review_due)
        .bind(i64::from(sra.security_level.get()))
        .bind(sra.residual_risk.as_str())
        .bind(serde_json::to_string(&sra.threats)?)
        .bind(serde_json::to_string(&sra.mandatory_measures)?)
        .bind(sra.requires_ssafe)
        .bind(sra.published_at)
        .bind(&sra.residual_risk_justification)
        .bind(sra.endorsement.as_ref().map(|s| s.by.clone()))
        .bind(sra.endorsement.as_ref().map(|s| s.on))
        .bind(sra.approval.as_ref().map(|s| s.by.clone()))
        .bind(sra.approval.as_ref().map(|s| s.on))
        .bind(sra.withdrawn_at)
        .bind(
            sra.briefing
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound(format!("area {}", sra.area))
            }
            e => match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "version {} of the SRA for {} exists",
                    sra.version, sra.area
                )),
                other => other,
            },
        })?;
        if let Some(job) = rescreen {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        turn.commit(tx).await?;
        Ok(in_scope)
    }

    #[tracing::instrument(name = "store.update_sra", level = "debug", skip_all)]
    async fn update_sra(
        &self,
        sra: &Sra,
        expected: SraStatus,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sras SET status = ?, published_at = ?, endorsed_by = ?, endorsed_on = ?, approved_by = ?, approved_on = ?, \
             withdrawn_at = ? WHERE id = ? AND status = ?",
        )
        .bind(sra.status.as_str())
        .bind(sra.published_at)
        .bind(sra.endorsement.as_ref().map(|s| s.by.clone()))
        .bind(sra.endorsement.as_ref().map(|s| s.on))
        .bind(sra.approval.as_ref().map(|s| s.by.clone()))
        .bind(sra.approval.as_ref().map(|s| s.on))
        .bind(sra.withdrawn_at)
        .bind(sra.id.to_string())
        .bind(expected.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "SRA {} changed meanwhile",
                sra.id
            )));
        }
        if let Some(job) = rescreen {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        turn.commit(tx).await?;
        Ok(in_scope)
    }

    #[tracing::instrument(name = "store.get_sra", level = "debug", skip_all)]
    async fn get_sra(&self, id: Uuid) -> Result<Option<Sra>, StoreError> {
        sqlx::query("SELECT * FROM sras WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sra_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.list_sras", level = "debug", skip_all)]
    async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sras WHERE (?1 IS NULL OR area_code = ?1) ORDER BY area_code, version",
        )
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sra_from_row).collect()
    }
}
