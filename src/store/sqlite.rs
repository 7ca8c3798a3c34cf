//! The SQLite store: one file, WAL journal, `synchronous` as configured (FULL by default).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use super::{RequestQuery, RequestScope, Store, StoreError};
use crate::config::DatabaseSettings;
use crate::domain::area::{Area, AreaCode, Suspension, SuspensionReason};
use crate::domain::request::RequestRecord;
use crate::domain::sra::{AreaRisk, SecurityLevel, Sra};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file named by `settings.url`.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&settings.url)?;
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        let synchronous = match settings.synchronous.as_str() {
            "normal" => SqliteSynchronous::Normal,
            "extra" => SqliteSynchronous::Extra,
            _ => SqliteSynchronous::Full,
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(Duration::from_millis(settings.busy_timeout_ms));
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn published_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sras WHERE status = 'published' AND (?1 IS NULL OR area_code = ?1) ORDER BY area_code, version",
        )
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sra_from_row).collect()
    }
}

fn area_from_row(row: &SqliteRow) -> Result<Area, StoreError> {
    let code: String = row.try_get("code")?;
    let reason: Option<String> = row.try_get("suspension_reason")?;
    let since: Option<NaiveDate> = row.try_get("suspended_since")?;
    let suspension = match (reason, since) {
        (Some(reason), Some(since)) => Some(Suspension {
            reason: serde_json::from_value::<SuspensionReason>(serde_json::Value::String(reason))?,
            since,
        }),
        _ => None,
    };
    Ok(Area {
        code: AreaCode::parse("code", &code).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name: row.try_get("name")?,
        country: row.try_get("country")?,
        suspension,
    })
}

fn sra_from_row(row: &SqliteRow) -> Result<Sra, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let code: String = row.try_get("area_code")?;
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let risk: String = row.try_get("residual_risk")?;
    let threats: String = row.try_get("threats")?;
    let measures: String = row.try_get("mandatory_measures")?;
    Ok(Sra {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        area: AreaCode::parse("area_code", &code).map_err(|e| corrupt(e.to_string()))?,
        version: row
            .try_get::<i64, _>("version")?
            .try_into()
            .map_err(|_| corrupt("version".into()))?,
        status: status.parse().map_err(corrupt)?,
        effective_from: row.try_get("effective_from")?,
        review_due: row.try_get("review_due")?,
        security_level: SecurityLevel::new("security_level", row.try_get("security_level")?)
            .map_err(|e| corrupt(e.to_string()))?,
        residual_risk: risk.parse().map_err(corrupt)?,
        threats: serde_json::from_str(&threats)?,
        mandatory_measures: serde_json::from_str(&measures)?,
        requires_ssafe: row.try_get("requires_ssafe")?,
        published_at: row.try_get::<Option<DateTime<Utc>>, _>("published_at")?,
    })
}

fn request_from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let request: String = row.try_get("request")?;
    let decision: String = row.try_get("decision")?;
    Ok(RequestRecord {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        status: status.parse().map_err(corrupt)?,
        submitted_at: row.try_get("submitted_at")?,
        submitted_by: row.try_get("submitted_by")?,
        request: serde_json::from_str(&request)?,
        decision: serde_json::from_str(&decision)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_area(&self, area: &Area) -> Result<(), StoreError> {
        let suspension = area.suspension.as_ref();
        sqlx::query(
            "INSERT INTO areas (code, name, country, suspension_reason, suspended_since, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(area.code.as_str())
        .bind(&area.name)
        .bind(&area.country)
        .bind(suspension.map(|s| reason_text(s.reason)))
        .bind(suspension.map(|s| s.since))
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("area {} already exists", area.code)),
            other => other,
        })?;
        Ok(())
    }

    async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE areas SET suspension_reason = ?, suspended_since = ? WHERE code = ?",
        )
        .bind(suspension.map(|s| reason_text(s.reason)))
        .bind(suspension.map(|s| s.since))
        .bind(code.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("area {code}")));
        }
        Ok(())
    }

    async fn list_areas(&self) -> Result<Vec<AreaRisk>, StoreError> {
        let areas = sqlx::query("SELECT * FROM areas ORDER BY code")
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

    async fn area_risk(&self, code: &AreaCode) -> Result<Option<AreaRisk>, StoreError> {
        let Some(row) = sqlx::query("SELECT * FROM areas WHERE code = ?")
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

    async fn insert_sra(&self, sra: &Sra) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM areas WHERE code = ?")
            .bind(sra.area.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("area {}", sra.area)));
        }
        sqlx::query(
            "INSERT INTO sras (id, area_code, version, status, effective_from, review_due, security_level, residual_risk, threats, mandatory_measures, requires_ssafe, published_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("version {} of the SRA for {} exists", sra.version, sra.area))
            }
            other => other,
        })?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sras WHERE (?1 IS NULL OR area_code = ?1) ORDER BY area_code, version",
        )
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sra_from_row).collect()
    }

    async fn insert_request(&self, record: &RequestRecord) -> Result<(), StoreError> {
        let request = &record.request;
        let id = record.id.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality, first_arrival, last_departure, submitted_at, updated_at, request, decision) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(request.traveller.id.as_str())
        .bind(request.traveller.org.as_str())
        .bind(&record.submitted_by)
        .bind(record.status.as_str())
        .bind(request.programme_criticality.as_str())
        .bind(request.legs.first_arrival())
        .bind(request.legs.last_departure())
        .bind(record.submitted_at)
        .bind(record.submitted_at)
        .bind(serde_json::to_string(request)?)
        .bind(serde_json::to_string(&record.decision)?)
        .execute(&mut *tx)
        .await?;
        let mut legs = QueryBuilder::<Sqlite>::new(
            "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure) ",
        );
        legs.push_values(
            request.legs.legs().iter().enumerate(),
            |mut row, (seq, leg)| {
                row.push_bind(&id)
                    .push_bind(seq as i64)
                    .push_bind(leg.area.as_str())
                    .push_bind(leg.arrival)
                    .push_bind(leg.departure);
            },
        );
        legs.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError> {
        sqlx::query("SELECT * FROM clearance_requests WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(request_from_row)
            .transpose()
    }

    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM clearance_requests WHERE 1 = 1");
        match &query.scope {
            RequestScope::All => {}
            RequestScope::Traveller(id) => {
                sql.push(" AND traveller_id = ").push_bind(id.as_str());
            }
            RequestScope::Org(org) => {
                sql.push(" AND org = ").push_bind(org.as_str());
            }
        }
        if let Some(status) = query.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(before) = query.before {
            sql.push(" AND id < ").push_bind(before.to_string());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        sql.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(request_from_row)
            .collect()
    }
}

fn reason_text(reason: SuspensionReason) -> &'static str {
    match reason {
        SuspensionReason::Relocation => "relocation",
        SuspensionReason::Evacuation => "evacuation",
        SuspensionReason::ProgrammeSuspension => "programme_suspension",
    }
}
