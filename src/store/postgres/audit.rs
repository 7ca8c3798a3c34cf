//! The audit trail: appended with each change, read per request, its hash chain verified.

use async_trait::async_trait;
use chrono::Utc;
use futures_util::TryStreamExt;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use super::rows::audit_from_row;
use crate::domain::audit::{AuditDraft, AuditEntry};
use crate::store::AuditStore;
use crate::store::encoding::{ChainWalk, action_text, missing_trail};
use crate::store::{AuditReport, StoreError};

/// Appends an entry to the request's chain, after its current last entry. The caller has
/// already updated the request row, whose lock keeps other writers out of the chain meanwhile.
pub(super) async fn append_audit(
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
        "INSERT INTO audit_log (request_id, seq, at, actor, action, from_status, to_status, stage, comment, prev_hash, hash, on_behalf_of) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
    .bind(&entry.on_behalf_of)
    .execute(&mut *tx)
    .await?;
    Ok(entry)
}

#[async_trait]
impl AuditStore for PostgresStore {
    #[tracing::instrument(name = "store.audit_trail", level = "debug", skip_all)]
    async fn audit_trail(&self, id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query("SELECT * FROM audit_log WHERE request_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    #[tracing::instrument(name = "store.verify_audit", level = "debug", skip_all)]
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
}
