//! Webhook subscriptions and their outbox: deliveries claimed, attempted, listed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use super::rows::webhook_from_row;
use super::{WEBHOOK_COLUMNS, commit};
use crate::domain::audit::AuditDraft;
use crate::domain::request::{OrgId, RequestRecord};
use crate::domain::webhook::{Webhook, event_for};
use crate::store::WebhookStore;
use crate::store::encoding::{events_of, one_each, subscribed_events, subscribes};
use crate::store::{Attempt, AttemptResult, DeliveryView, DueDelivery, StoreError};

/// Writes the change's event to the outbox, with one delivery per subscribed webhook of the
/// organisation, in the change's own transaction: no event without its change, and none lost.
pub(super) async fn enqueue_event(
    tx: &mut PgConnection,
    record: &RequestRecord,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let Some(event) = event_for(record, audit, now) else {
        return Ok(());
    };
    let subscribed = subscribed_hooks(tx, event.org.as_str(), event.name).await?;
    enqueue_outbox(
        tx,
        &subscribed,
        event.request_id,
        event.org.as_str(),
        event.name,
        &event.payload,
        now,
    )
    .await
}

/// The events of several changes, as `enqueue_event` writes one: a query for the
/// organisations' webhooks and one statement for every event and its deliveries, so a batch
/// costs two round trips rather than two per request. Each request may appear once; several
/// changes to one request go one by one, in order.
pub(super) async fn enqueue_events(
    tx: &mut PgConnection,
    changes: &[(&RequestRecord, &AuditDraft)],
) -> Result<(), StoreError> {
    if !one_each(changes) {
        for (record, audit) in changes {
            enqueue_event(&mut *tx, record, audit).await?;
        }
        return Ok(());
    }
    let now = Utc::now();
    let events = events_of(changes, now);
    if events.is_empty() {
        return Ok(());
    }
    let orgs: Vec<&str> = events.iter().map(|e| e.org.as_str()).collect();
    let hooks: Vec<(Uuid, String, String)> =
        sqlx::query_as("SELECT id, org, events::text FROM webhooks WHERE org = ANY($1)")
            .bind(&orgs)
            .fetch_all(&mut *tx)
            .await?;
    let (written, deliveries) = subscribed_events(&events, &hooks)?;
    if written.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH event AS ( \
           INSERT INTO outbox (request_id, org, event, payload, created_at) \
           SELECT request_id, org, event, payload, $5 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]) \
             AS t(request_id, org, event, payload) \
           RETURNING id, request_id) \
         INSERT INTO webhook_deliveries (webhook_id, outbox_id, request_id, status, next_attempt_at) \
         SELECT d.webhook_id, event.id, event.request_id, 'pending', $5 \
         FROM UNNEST($6::uuid[], $7::uuid[]) AS d(request_id, webhook_id) JOIN event USING (request_id)",
    )
    .bind(written.iter().map(|e| e.request_id).collect::<Vec<_>>())
    .bind(written.iter().map(|e| e.org.as_str()).collect::<Vec<_>>())
    .bind(written.iter().map(|e| e.name).collect::<Vec<_>>())
    .bind(written.iter().map(|e| e.payload.to_string()).collect::<Vec<_>>())
    .bind(now)
    .bind(deliveries.iter().map(|d| d.0).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.1).collect::<Vec<Uuid>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The organisation's webhooks that subscribe to `name`.
pub(super) async fn subscribed_hooks(
    tx: &mut PgConnection,
    org: &str,
    name: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let hooks: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, events::text FROM webhooks WHERE org = $1")
            .bind(org)
            .fetch_all(&mut *tx)
            .await?;
    let mut subscribed = Vec::new();
    for (id, events) in hooks {
        if subscribes(&events, name)? {
            subscribed.push(id);
        }
    }
    Ok(subscribed)
}

/// One event in the outbox with a delivery per webhook of `subscribed`.
pub(super) async fn enqueue_outbox(
    tx: &mut PgConnection,
    subscribed: &[Uuid],
    request_id: Uuid,
    org: &str,
    name: &str,
    payload: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if subscribed.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH event AS (INSERT INTO outbox (request_id, org, event, payload, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id) \
         INSERT INTO webhook_deliveries (webhook_id, outbox_id, request_id, status, next_attempt_at) \
         SELECT w, event.id, $1, 'pending', $5 FROM event, UNNEST($6::uuid[]) AS w",
    )
    .bind(request_id)
    .bind(org)
    .bind(name)
    .bind(payload.to_string())
    .bind(now)
    .bind(subscribed)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl WebhookStore for PostgresStore {
    #[tracing::instrument(name = "store.create_webhook", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.list_webhooks", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.get_webhook", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.delete_webhook", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.claim_due_deliveries", level = "debug", skip_all)]
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

    #[tracing::instrument(name = "store.finish_attempts", level = "debug", skip_all)]
    async fn finish_attempts(
        &self,
        results: &[(i64, Attempt, AttemptResult)],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        // The round's outcomes as columns of arrays: one statement, one round trip and one
        // commit for the round, however many deliveries it attempted.
        let mut ids = Vec::with_capacity(results.len());
        let mut numbers = Vec::with_capacity(results.len());
        let mut ats = Vec::with_capacity(results.len());
        let mut codes = Vec::with_capacity(results.len());
        let mut errors = Vec::with_capacity(results.len());
        let mut durations = Vec::with_capacity(results.len());
        let mut statuses = Vec::with_capacity(results.len());
        let mut nexts = Vec::with_capacity(results.len());
        let mut delivereds = Vec::with_capacity(results.len());
        for (delivery_id, attempt, result) in results {
            let (status, next, delivered) = match *result {
                AttemptResult::Delivered => ("delivered", None, Some(attempt.at)),
                AttemptResult::RetryAt(at) => ("pending", Some(at), None),
                AttemptResult::GiveUp => ("failed", None, None),
            };
            ids.push(*delivery_id);
            numbers.push(i64::from(attempt.attempt));
            ats.push(attempt.at);
            codes.push(attempt.status_code.map(i64::from));
            errors.push(attempt.error.clone());
            durations.push(attempt.duration_ms);
            statuses.push(status);
            nexts.push(next);
            delivereds.push(delivered);
        }
        sqlx::query(
            "WITH t AS (SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bigint[], \
                          $5::text[], $6::bigint[], $7::text[], $8::timestamptz[], $9::timestamptz[]) \
                        AS t(id, attempt, at, status_code, error, duration_ms, status, next, delivered)), \
             attempts AS (INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
                          SELECT id, attempt, at, status_code, error, duration_ms FROM t) \
             UPDATE webhook_deliveries d SET status = t.status, attempts = t.attempt, \
             next_attempt_at = COALESCE(t.next, d.next_attempt_at), locked_until = NULL, delivered_at = t.delivered \
             FROM t WHERE d.id = t.id",
        )
        .bind(&ids)
        .bind(&numbers)
        .bind(&ats)
        .bind(&codes)
        .bind(&errors)
        .bind(&durations)
        .bind(&statuses)
        .bind(&nexts)
        .bind(&delivereds)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.list_deliveries", level = "debug", skip_all)]
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
