//! The audit trail: appended with each change, read per request, its hash chain verified.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::Utc;
use futures_util::TryStreamExt;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::rows::audit_from_row;
use crate::domain::audit::AuditEntry;
use crate::store::AuditStore;
use crate::store::encoding::{ChainWalk, action_text, corrupt, missing_trail};
use crate::store::{AuditReport, RequestChange, StoreError};

/// Appends each change's entry to its request's chain, in two statements for the set: the
/// chains' last entries read together, the new entries written together.
pub(super) async fn append_audits(
    tx: &mut SqliteConnection,
    changes: &[RequestChange<'_>],
) -> Result<(), StoreError> {
    let ids: Vec<String> = changes.iter().map(|c| c.record.id.to_string()).collect();
    // With max(), SQLite takes the bare column `hash` from the row holding the maximum.
    let last: HashMap<String, (i64, String)> = sqlx::query_as::<_, (String, i64, String)>(
        "SELECT request_id, MAX(seq), hash FROM audit_log \
         WHERE request_id IN (SELECT value FROM json_each(?)) GROUP BY request_id",
    )
    .bind(serde_json::to_string(&ids)?)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, seq, hash)| (id, (seq, hash)))
    .collect();
    let now = Utc::now();
    let rows = changes
        .iter()
        .zip(&ids)
        .map(|(change, id)| {
            let prev = last.get(id).map(|(seq, hash)| (*seq, hash.as_str()));
            let entry = AuditEntry::chain(change.record.id, prev, now, change.audit.clone());
            Ok(serde_json::json!([
                id,
                entry.seq,
                entry.at,
                entry.actor,
                action_text(entry.action)?,
                entry.from.map(|s| s.as_str()),
                entry.to.as_str(),
                entry.stage,
                entry.comment,
                entry.prev_hash,
                entry.hash,
                entry.on_behalf_of,
            ]))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    sqlx::query(
        "INSERT INTO audit_log (request_id, seq, at, actor, action, from_status, to_status, stage, comment, prev_hash, hash, on_behalf_of) \
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
                json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
                json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), \
                json_extract(value, '$[9]'), json_extract(value, '$[10]'), json_extract(value, '$[11]') \
         FROM json_each(?)",
    )
    .bind(serde_json::to_string(&rows)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl AuditStore for SqliteStore {
    #[tracing::instrument(name = "store.audit_trail", level = "debug", skip_all)]
    async fn audit_trail(&self, id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query("SELECT * FROM audit_log WHERE request_id = ? ORDER BY seq")
            .bind(id.to_string())
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
            let orphan: Option<String> = sqlx::query_scalar(
                "SELECT id FROM clearance_requests r WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id) LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            broken = orphan
                .map(|id| Uuid::parse_str(&id).map(missing_trail).map_err(corrupt))
                .transpose()?;
        }
        Ok(walk.finish(broken))
    }
}
