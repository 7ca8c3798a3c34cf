//! The PostgreSQL store: several stateless instances share one database.
//!
//! The same tables as SQLite in native types (UUID, DATE, TIMESTAMPTZ, JSONB). What SQLite gets
//! from having one writer, PostgreSQL gets from row locks: leases on webhook deliveries and
//! re-screening jobs are taken with `FOR UPDATE SKIP LOCKED`, and request changes update only
//! the version they read, so instances never double-claim or overwrite each other's work.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::encoding::{
    CLAIM_IDEMPOTENCY_KEY, ChainWalk, KeyRow, PendingInsert, RESCREENED, action_from_text,
    action_text, claimed_request_id, corrupt, existing_claim, missing_trail, queue_stage,
    reason_text, subscribes, suspension,
};
use super::{
    Attempt, AttemptResult, AuditReport, DeliveryView, DueDelivery, IdempotencyClaim,
    IdempotencyKey, NewRequest, PersonnelEntry, QueuePosition, RequestChange, RequestQuery,
    RequestScope, RescreenJob, Store, StoreError, StoredResponse,
};
use crate::config::DatabaseSettings;
use crate::domain::area::{Area, AreaCode, Suspension};
use crate::domain::audit::{AuditDraft, AuditEntry};
use crate::domain::request::{OrgId, RequestRecord};
use crate::domain::sra::{AreaRisk, SecurityLevel, Signoff, Sra, SraStatus};
use crate::domain::webhook::{Webhook, event_for};
use crate::metrics::StoreFigures;

mod batch;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Columns of a request as `request_from_row` reads them (JSONB back as text).
const REQUEST_COLUMNS: &str = "id, status, submitted_at, submitted_by, request::text AS request, \
     decision::text AS decision, escalation::text AS escalation, version";

const SRA_COLUMNS: &str = "id, area_code, version, status, effective_from, review_due, security_level, \
     residual_risk, threats::text AS threats, mandatory_measures::text AS mandatory_measures, requires_ssafe, \
     published_at, residual_risk_justification, endorsed_by, endorsed_on, approved_by, approved_on, withdrawn_at";

const WEBHOOK_COLUMNS: &str =
    "id, org, url, events::text AS events, secret, created_by, created_at";

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// New requests go to a batcher that commits them in groups (see `batch`).
    writer: mpsc::Sender<PendingInsert>,
}

impl PostgresStore {
    /// Connects to the database named by `settings.url` (`postgres://...`).
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)?.application_name("clearway");
        let connections = settings.max_connections.max(2);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        // Half the pool may be committing groups of new requests; the rest serves reads and
        // decisions, which therefore never queue behind a burst of submissions.
        let writer = batch::start(pool.clone(), (connections / 2).max(1) as usize);
        Ok(Self { pool, writer })
    }

    async fn published_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SRA_COLUMNS} FROM sras WHERE status = 'published' AND ($1::text IS NULL OR area_code = $1) \
             ORDER BY area_code, version"
        ))
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sra_from_row)
        .collect()
    }
}

fn area_from_row(row: &PgRow) -> Result<Area, StoreError> {
    let code: String = row.try_get("code")?;
    Ok(Area {
        code: AreaCode::parse("code", &code).map_err(corrupt)?,
        name: row.try_get("name")?,
        country: row.try_get("country")?,
        suspension: suspension(
            row.try_get("suspension_reason")?,
            row.try_get("suspended_since")?,
        )?,
    })
}

fn sra_from_row(row: &PgRow) -> Result<Sra, StoreError> {
    let code: String = row.try_get("area_code")?;
    let status: String = row.try_get("status")?;
    let risk: String = row.try_get("residual_risk")?;
    let threats: String = row.try_get("threats")?;
    let measures: String = row.try_get("mandatory_measures")?;
    Ok(Sra {
        id: row.try_get("id")?,
        area: AreaCode::parse("area_code", &code).map_err(corrupt)?,
        version: row
            .try_get::<i64, _>("version")?
            .try_into()
            .map_err(|_| corrupt("version"))?,
        status: status.parse().map_err(corrupt)?,
        effective_from: row.try_get("effective_from")?,
        review_due: row.try_get("review_due")?,
        security_level: SecurityLevel::new("security_level", row.try_get("security_level")?)
            .map_err(corrupt)?,
        residual_risk: risk.parse().map_err(corrupt)?,
        threats: serde_json::from_str(&threats)?,
        mandatory_measures: serde_json::from_str(&measures)?,
        requires_ssafe: row.try_get("requires_ssafe")?,
        published_at: row.try_get("published_at")?,
        residual_risk_justification: row.try_get("residual_risk_justification")?,
        endorsement: signoff(row, "endorsed_by", "endorsed_on")?,
        approval: signoff(row, "approved_by", "approved_on")?,
        withdrawn_at: row.try_get("withdrawn_at")?,
    })
}

fn signoff(row: &PgRow, by: &str, on: &str) -> Result<Option<Signoff>, StoreError> {
    let by: Option<String> = row.try_get(by)?;
    let on: Option<NaiveDate> = row.try_get(on)?;
    Ok(by.zip(on).map(|(by, on)| Signoff { by, on }))
}

fn job_from_row(row: &PgRow) -> Result<RescreenJob, StoreError> {
    let area: String = row.try_get("area_code")?;
    Ok(RescreenJob {
        id: row.try_get("id")?,
        area: AreaCode::parse("area_code", &area).map_err(corrupt)?,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        from: row.try_get("window_from")?,
        until: row.try_get("window_until")?,
        status: row.try_get("status")?,
        total: row.try_get("total")?,
        processed: row.try_get("processed")?,
        changed: row.try_get("changed")?,
        cursor: row.try_get("cursor")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn request_from_row(row: &PgRow) -> Result<RequestRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let request: String = row.try_get("request")?;
    let decision: String = row.try_get("decision")?;
    let escalation: Option<String> = row.try_get("escalation")?;
    Ok(RequestRecord {
        id: row.try_get("id")?,
        status: status.parse().map_err(corrupt)?,
        submitted_at: row.try_get("submitted_at")?,
        submitted_by: row.try_get("submitted_by")?,
        request: serde_json::from_str(&request)?,
        decision: serde_json::from_str(&decision)?,
        escalation: escalation
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        version: row.try_get("version")?,
    })
}

fn audit_from_row(row: &PgRow) -> Result<AuditEntry, StoreError> {
    let from: Option<String> = row.try_get("from_status")?;
    let to: String = row.try_get("to_status")?;
    Ok(AuditEntry {
        request_id: row.try_get("request_id")?,
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: action_from_text(row.try_get("action")?)?,
        from: from.map(|f| f.parse()).transpose().map_err(corrupt)?,
        to: to.parse().map_err(corrupt)?,
        stage: row.try_get("stage")?,
        comment: row.try_get("comment")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

fn webhook_from_row(row: &PgRow) -> Result<Webhook, StoreError> {
    let org: String = row.try_get("org")?;
    let events: String = row.try_get("events")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        org: OrgId::parse("org", &org).map_err(corrupt)?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events)?,
        secret: row.try_get("secret")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// How many requests a re-screening job will look at: its progress denominator, counted
/// before the change's transaction so that the transaction stays short.
async fn rescreen_scope(pool: &PgPool, job: Option<&RescreenJob>) -> Result<i64, StoreError> {
    let Some(job) = job else {
        return Ok(0);
    };
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT l.request_id) FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
         WHERE l.area_code = $1 AND l.departure >= $2 AND ($3::date IS NULL OR l.arrival <= $3) AND r.status IN {RESCREENED}"
    ))
    .bind(job.area.as_str())
    .bind(job.from)
    .bind(job.until)
    .fetch_one(pool)
    .await?)
}

async fn create_rescreen_job(
    tx: &mut PgConnection,
    job: &RescreenJob,
    total: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rescreen_jobs (id, area_code, reason, actor, window_from, window_until, status, total, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
    )
    .bind(job.id)
    .bind(job.area.as_str())
    .bind(&job.reason)
    .bind(&job.actor)
    .bind(job.from)
    .bind(job.until)
    .bind(total)
    .bind(job.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_legs(tx: &mut PgConnection, record: &RequestRecord) -> Result<(), StoreError> {
    let legs = record.request.legs.legs();
    sqlx::query(
        "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure) \
         SELECT $1, seq - 1, area, arrival, departure \
         FROM UNNEST($2::text[], $3::date[], $4::date[]) WITH ORDINALITY AS t(area, arrival, departure, seq)",
    )
    .bind(record.id)
    .bind(legs.iter().map(|l| l.area.as_str()).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.arrival).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.departure).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes the change's event to the outbox, with one delivery per subscribed webhook of the
/// organisation, in the change's own transaction: no event without its change, and none lost.
async fn enqueue_event(
    tx: &mut PgConnection,
    record: &RequestRecord,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let Some(event) = event_for(record, audit, now) else {
        return Ok(());
    };
    let hooks: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, events::text FROM webhooks WHERE org = $1")
            .bind(event.org.as_str())
            .fetch_all(&mut *tx)
            .await?;
    let mut subscribed = Vec::new();
    for (id, events) in hooks {
        if subscribes(&events, event.name)? {
            subscribed.push(id);
        }
    }
    if subscribed.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH event AS (INSERT INTO outbox (request_id, org, event, payload, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id) \
         INSERT INTO webhook_deliveries (webhook_id, outbox_id, request_id, status, next_attempt_at) \
         SELECT w, event.id, $1, 'pending', $5 FROM event, UNNEST($6::uuid[]) AS w",
    )
    .bind(event.request_id)
    .bind(event.org.as_str())
    .bind(event.name)
    .bind(event.payload.to_string())
    .bind(now)
    .bind(subscribed)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Appends an entry to the request's chain, after its current last entry. The caller has
/// already updated the request row, whose lock keeps other writers out of the chain meanwhile.
async fn append_audit(
    tx: &mut PgConnection,
    request_id: Uuid,
    draft: AuditDraft,
) -> Result<AuditEntry, StoreError> {
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_log WHERE request_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    let entry = AuditEntry::chain(
        request_id,
        last.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        Utc::now(),
        draft,
    );
    sqlx::query(
        "INSERT INTO audit_log (request_id, seq, at, actor, action, from_status, to_status, stage, comment, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(entry.request_id)
    .bind(entry.seq)
    .bind(&entry.at)
    .bind(&entry.actor)
    .bind(action_text(entry.action)?)
    .bind(entry.from.map(|s| s.as_str()))
    .bind(entry.to.as_str())
    .bind(&entry.stage)
    .bind(&entry.comment)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *tx)
    .await?;
    Ok(entry)
}

/// Commits. A COMMIT that got no answer (the connection broke) may have committed: the
/// outcome is unknown, and a retry must carry the same Idempotency-Key. A database error
/// means the server refused it, and nothing was stored.
pub(super) async fn commit(tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| match e {
        sqlx::Error::Database(_) => StoreError::from(e),
        other => StoreError::OutcomeUnknown(format!("no answer to COMMIT: {other}")),
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx holds an advisory lock while migrating: instances starting together take turns.
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn create_area(&self, area: &Area) -> Result<(), StoreError> {
        let suspension = area.suspension.as_ref();
        sqlx::query(
            "INSERT INTO areas (code, name, country, suspension_reason, suspended_since, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("area {} already exists", area.code))
            }
            other => other,
        })?;
        Ok(())
    }

    async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE areas SET suspension_reason = $1, suspended_since = $2 WHERE code = $3",
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
        commit(tx).await?;
        Ok(in_scope)
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
        let Some(row) = sqlx::query("SELECT * FROM areas WHERE code = $1")
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

    async fn insert_sra(
        &self,
        sra: &Sra,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sras (id, area_code, version, status, effective_from, review_due, security_level, residual_risk, threats, \
             mandatory_measures, requires_ssafe, published_at, residual_risk_justification, endorsed_by, endorsed_on, approved_by, \
             approved_on, withdrawn_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(sra.id)
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
        commit(tx).await?;
        Ok(in_scope)
    }

    async fn update_sra(
        &self,
        sra: &Sra,
        expected: SraStatus,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError> {
        let in_scope = rescreen_scope(&self.pool, rescreen).await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sras SET status = $1, published_at = $2, endorsed_by = $3, endorsed_on = $4, approved_by = $5, \
             approved_on = $6, withdrawn_at = $7 WHERE id = $8 AND status = $9",
        )
        .bind(sra.status.as_str())
        .bind(sra.published_at)
        .bind(sra.endorsement.as_ref().map(|s| s.by.clone()))
        .bind(sra.endorsement.as_ref().map(|s| s.on))
        .bind(sra.approval.as_ref().map(|s| s.by.clone()))
        .bind(sra.approval.as_ref().map(|s| s.on))
        .bind(sra.withdrawn_at)
        .bind(sra.id)
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
        commit(tx).await?;
        Ok(in_scope)
    }

    async fn get_sra(&self, id: Uuid) -> Result<Option<Sra>, StoreError> {
        sqlx::query(&format!("SELECT {SRA_COLUMNS} FROM sras WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sra_from_row)
            .transpose()
    }

    async fn claim_rescreen_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<RescreenJob>, StoreError> {
        // SKIP LOCKED: an instance passes over a job another is claiming this very moment
        // instead of waiting for it; the lease then keeps it from the others.
        sqlx::query(
            "UPDATE rescreen_jobs SET locked_until = $2 WHERE id = ( \
               SELECT id FROM rescreen_jobs WHERE status = 'pending' AND (locked_until IS NULL OR locked_until <= $1) \
               ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
        )
        .bind(now)
        .bind(now + lease)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(job_from_row)
        .transpose()
    }

    async fn rescreen_candidates(
        &self,
        job: &RescreenJob,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT DISTINCT l.request_id FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = $1 AND l.departure >= $2 AND ($3::date IS NULL OR l.arrival <= $3) AND r.status IN {RESCREENED} \
             AND ($4::uuid IS NULL OR l.request_id > $4) ORDER BY l.request_id LIMIT $5"
        ))
        .bind(job.area.as_str())
        .bind(job.from)
        .bind(job.until)
        .bind(job.cursor)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn advance_rescreen_job(
        &self,
        job: &RescreenJob,
        lease_until: DateTime<Utc>,
        done: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rescreen_jobs SET cursor = $1, processed = $2, changed = $3, status = $4, locked_until = $5, \
             finished_at = $6 WHERE id = $7",
        )
        .bind(job.cursor)
        .bind(job.processed)
        .bind(job.changed)
        .bind(if done { "done" } else { "pending" })
        .bind((!done).then_some(lease_until))
        .bind(done.then(Utc::now))
        .bind(job.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_rescreen_job(&self, id: Uuid) -> Result<Option<RescreenJob>, StoreError> {
        sqlx::query("SELECT * FROM rescreen_jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn personnel(
        &self,
        area: &AreaCode,
        on: NaiveDate,
    ) -> Result<Vec<PersonnelEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.traveller_id, r.request->'traveller'->>'name' AS traveller_name, r.org, r.status, \
             l.arrival, l.departure FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = $1 AND l.arrival <= $2 AND l.departure >= $2 AND r.status IN ('cleared', 'approved') \
             ORDER BY r.org, r.traveller_id, l.arrival",
        )
        .bind(area.as_str())
        .bind(on)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PersonnelEntry {
                    request_id: row.try_get("id")?,
                    traveller_id: row.try_get("traveller_id")?,
                    traveller_name: row
                        .try_get::<Option<String>, _>("traveller_name")?
                        .unwrap_or_default(),
                    org: row.try_get("org")?,
                    status: row.try_get("status")?,
                    arrival: row.try_get("arrival")?,
                    departure: row.try_get("departure")?,
                })
            })
            .collect()
    }

    async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SRA_COLUMNS} FROM sras WHERE ($1::text IS NULL OR area_code = $1) ORDER BY area_code, version"
        ))
        .bind(area.map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sra_from_row)
        .collect()
    }

    async fn insert_request(&self, new: Arc<NewRequest>) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let job = PendingInsert {
            new,
            done,
            queued: std::time::Instant::now(),
        };
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the batcher has stopped".into()))?;
        committed
            .await
            .map_err(|_| StoreError::Unavailable("the batcher stopped before committing".into()))?
    }

    async fn update_request(&self, change: RequestChange<'_>) -> Result<(), StoreError> {
        let record = change.record;
        let request = &record.request;
        let mut tx = self.pool.begin().await?;
        // The row lock this takes holds off any other instance's change to the request until
        // commit; one that read the same version then finds it gone and gets `Conflict`.
        let updated = sqlx::query(
            "UPDATE clearance_requests SET status = $1, programme_criticality = $2, first_arrival = $3, last_departure = $4, \
             updated_at = $5, request = $6::jsonb, decision = $7::jsonb, escalation = $8::jsonb, stage = $9, version = $10 \
             WHERE id = $11 AND version = $12",
        )
        .bind(record.status.as_str())
        .bind(request.programme_criticality.as_str())
        .bind(request.legs.first_arrival())
        .bind(request.legs.last_departure())
        .bind(Utc::now())
        .bind(serde_json::to_string(request)?)
        .bind(serde_json::to_string(&record.decision)?)
        .bind(record.escalation.as_ref().map(serde_json::to_string).transpose()?)
        .bind(queue_stage(record))
        .bind(record.version)
        .bind(record.id)
        .bind(record.version - 1)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "request {} changed meanwhile",
                record.id
            )));
        }
        if change.legs_changed {
            sqlx::query("DELETE FROM request_legs WHERE request_id = $1")
                .bind(record.id)
                .execute(&mut *tx)
                .await?;
            insert_legs(&mut tx, record).await?;
        }
        enqueue_event(&mut tx, record, &change.audit).await?;
        append_audit(&mut tx, record.id, change.audit).await?;
        commit(tx).await?;
        Ok(())
    }

    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(request_from_row)
        .transpose()
    }

    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests WHERE TRUE"
        ));
        match &query.scope {
            RequestScope::All => {}
            RequestScope::Traveller(org, id) => {
                sql.push(" AND traveller_id = ").push_bind(id.as_str());
                sql.push(" AND org = ").push_bind(org.as_str());
            }
            RequestScope::Org(org) => {
                sql.push(" AND org = ").push_bind(org.as_str());
            }
        }
        if let Some(status) = query.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(before) = query.before {
            sql.push(" AND id < ").push_bind(before);
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

    async fn escalation_queue(
        &self,
        stage: &str,
        after: Option<QueuePosition>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests WHERE status = 'escalated' AND stage = "
        ));
        sql.push_bind(stage);
        if let Some(after) = after {
            sql.push(" AND (first_arrival, submitted_at, id) > (")
                .push_bind(after.first_arrival)
                .push(", ")
                .push_bind(after.submitted_at)
                .push(", ")
                .push_bind(after.id)
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

    async fn audit_trail(&self, id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query("SELECT * FROM audit_log WHERE request_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }

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

    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn figures(&self) -> Result<StoreFigures, StoreError> {
        let queue: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT stage, COUNT(*), MIN(submitted_at) FROM clearance_requests WHERE status = 'escalated' \
             AND stage IS NOT NULL GROUP BY stage ORDER BY stage",
        )
        .fetch_all(&self.pool)
        .await?;
        let outbox_pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        let (rescreen_jobs_pending, rescreen_requests_remaining): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(total - processed), 0) AS BIGINT) FROM rescreen_jobs WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(StoreFigures {
            queue,
            outbox_pending,
            rescreen_jobs_pending,
            rescreen_requests_remaining,
        })
    }

    async fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        let mut walk = ChainWalk::default();
        let mut rows = sqlx::query(
            "SELECT a.*, r.version AS request_version FROM audit_log a JOIN clearance_requests r ON r.id = a.request_id \
             ORDER BY a.request_id, a.seq",
        )
        .fetch(&self.pool);
        let mut broken = None;
        while let Some(row) = rows.try_next().await? {
            if let Err(link) = walk.push(audit_from_row(&row)?, row.try_get("request_version")?) {
                broken = Some(link);
                break;
            }
        }
        drop(rows);
        if broken.is_none() {
            let orphan: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM clearance_requests r WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id) LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            broken = orphan.map(missing_trail);
        }
        Ok(walk.finish(broken))
    }

    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, org, url, events, secret, created_by, created_at) \
             VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)",
        )
        .bind(webhook.id)
        .bind(webhook.org.as_str())
        .bind(&webhook.url)
        .bind(serde_json::to_string(&webhook.events)?)
        .bind(&webhook.secret)
        .bind(&webhook.created_by)
        .bind(webhook.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError> {
        sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org = $1 ORDER BY created_at, id"
        ))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(webhook_from_row)
        .collect()
    }

    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(webhook_from_row)
        .transpose()
    }

    async fn delete_webhook(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = $1)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        commit(tx).await?;
        Ok(())
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        // One statement leases and reads: rows another instance is leasing right now are
        // skipped, and a row leased meanwhile fails the re-checked condition, so no delivery
        // is ever leased twice at once.
        let rows = sqlx::query(
            "WITH leased AS ( \
               UPDATE webhook_deliveries SET locked_until = $3 WHERE id IN ( \
                 SELECT d.id FROM webhook_deliveries d \
                 WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.locked_until IS NULL OR d.locked_until <= $1) \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                                 AND e.request_id = d.request_id AND e.status = 'pending' AND e.id < d.id) \
                 ORDER BY d.id LIMIT $2 FOR UPDATE SKIP LOCKED) \
               RETURNING id, public_id, attempts, webhook_id, outbox_id) \
             SELECT l.id, l.public_id, l.attempts, l.webhook_id, w.url, w.secret, o.event, o.payload FROM leased l \
             JOIN webhooks w ON w.id = l.webhook_id JOIN outbox o ON o.id = l.outbox_id ORDER BY l.id",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(now + lease)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    id: row.try_get("id")?,
                    public_id: row.try_get("public_id")?,
                    attempts: row
                        .try_get::<i64, _>("attempts")?
                        .try_into()
                        .unwrap_or(u32::MAX),
                    webhook_id: row.try_get("webhook_id")?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    event: row.try_get("event")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect()
    }

    async fn finish_attempt(
        &self,
        delivery_id: i64,
        attempt: &Attempt,
        result: AttemptResult,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(delivery_id)
        .bind(i64::from(attempt.attempt))
        .bind(attempt.at)
        .bind(attempt.status_code.map(i64::from))
        .bind(&attempt.error)
        .bind(attempt.duration_ms)
        .execute(&mut *tx)
        .await?;
        let (status, next, delivered) = match result {
            AttemptResult::Delivered => ("delivered", None, Some(attempt.at)),
            AttemptResult::RetryAt(at) => ("pending", Some(at), None),
            AttemptResult::GiveUp => ("failed", None, None),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
             locked_until = NULL, delivered_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(i64::from(attempt.attempt))
        .bind(next)
        .bind(delivered)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        commit(tx).await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        webhook_id: Uuid,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.public_id, d.request_id, d.status, d.next_attempt_at, d.delivered_at, o.event FROM webhook_deliveries d \
             JOIN outbox o ON o.id = d.outbox_id WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let attempts = sqlx::query(
            "SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let status: String = row.try_get("status")?;
            let next: DateTime<Utc> = row.try_get("next_attempt_at")?;
            let own = attempts
                .iter()
                .filter(|a| a.try_get::<i64, _>("delivery_id").ok() == Some(id))
                .map(|a| {
                    Ok(Attempt {
                        attempt: a
                            .try_get::<i64, _>("attempt")?
                            .try_into()
                            .unwrap_or(u32::MAX),
                        at: a.try_get("at")?,
                        status_code: a
                            .try_get::<Option<i64>, _>("status_code")?
                            .and_then(|c| u16::try_from(c).ok()),
                        error: a.try_get("error")?,
                        duration_ms: Some(a.try_get("duration_ms")?),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            views.push(DeliveryView {
                id: row.try_get("public_id")?,
                event: row.try_get("event")?,
                request_id: row.try_get("request_id")?,
                next_attempt_at: (status == "pending").then_some(next),
                status,
                delivered_at: row.try_get("delivered_at")?,
                attempts: own,
            });
        }
        Ok(views)
    }
}
