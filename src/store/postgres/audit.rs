//! The audit trail: appended with each change, read per request, its hash chain verified.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::Utc;
use futures_util::TryStreamExt;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use super::rows::audit_from_row;
use crate::domain::audit::AuditEntry;
use crate::store::AuditStore;
use crate::store::encoding::{ChainWalk, action_text, missing_trail};
use crate::store::{AuditReport, RequestChange, StoreError};

/// Appends each change's entry to its request's chain, in two statements for the set: the
/// chains' last entries read together, the new entries written together. The caller has
/// already updated the request rows, whose locks keep other writers out of the chains.
pub(super) async fn append_audits(
    tx: &mut PgConnection,
    changes: &[RequestChange<'_>],
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = changes.iter().map(|c| c.record.id).collect();
    let last: HashMap<Uuid, (i64, String)> = sqlx::query_as::<_, (Uuid, i64, String)>(
        "SELECT DISTINCT ON (request_id) request_id, seq, hash FROM audit_log \
         WHERE request_id = ANY($1) ORDER BY request_id, seq DESC",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, seq, hash)| (id, (seq, hash)))
    .collect();
    let now = Utc::now();
    let entries: Vec<AuditEntry> = changes
        .iter()
        .map(|change| {
            let prev = last
                .get(&change.record.id)
                .map(|(seq, hash)| (*seq, hash.as_str()));
            AuditEntry::chain(change.record.id, prev, now, change.audit.clone())
        })
        .collect();
    let actions = entries
        .iter()
        .map(|e| action_text(e.action))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "INSERT INTO audit_log (request_id, seq, at, actor, action, from_status, to_status, stage, comment, prev_hash, hash, on_behalf_of) \
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                              $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])",
    )
    .bind(&ids)
    .bind(entries.iter().map(|e| e.seq).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.at.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>())
    .bind(actions)
    .bind(entries.iter().map(|e| e.from.map(|s| s.as_str())).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.to.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.stage.as_deref()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.comment.as_deref()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.prev_hash.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.hash.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.on_behalf_of.as_deref()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
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
