//! Webhook subscriptions and their outbox: deliveries claimed, attempted, listed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{parse_ts, ts, webhook_from_row};
use crate::domain::audit::AuditDraft;
use crate::domain::request::{OrgId, RequestRecord};
use crate::domain::webhook::{Webhook, event_for};
use crate::store::WebhookStore;
use crate::store::encoding::{events_of, one_each, subscribed_events, subscribes};
use crate::store::{Attempt, AttemptResult, DeliveryView, DueDelivery, StoreError};

/// Writes the change's event to the outbox, with one delivery per subscribed webhook of the
/// organisation, in the change's own transaction: no event without its change, and none lost.
pub(super) async fn enqueue_event(
    tx: &mut SqliteConnection,
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
/// organisations' webhooks, one statement for every event and one for every delivery, where
/// each request took three or more of its own. Each request may appear once; several changes
/// to one request go one by one, in order.
pub(super) async fn enqueue_events(
    tx: &mut SqliteConnection,
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
    let hooks: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, org, events FROM webhooks WHERE org IN (SELECT value FROM json_each(?))",
    )
    .bind(serde_json::to_string(&orgs)?)
    .fetch_all(&mut *tx)
    .await?;
    let (written, deliveries) = subscribed_events(&events, &hooks)?;
    if written.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = written
        .iter()
        .map(|e| {
            serde_json::json!([
                e.request_id.to_string(),
                e.org.as_str(),
                e.name,
                e.payload.to_string()
            ])
        })
        .collect();
    let outbox: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO outbox (request_id, org, event, payload, created_at) \
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, ? FROM json_each(?) \
         RETURNING id, request_id",
    )
    .bind(ts(now))
    .bind(serde_json::to_string(&rows)?)
    .fetch_all(&mut *tx)
    .await?;
    let mut rows = Vec::with_capacity(deliveries.len());
    for (request_id, hook) in deliveries {
        let request_id = request_id.to_string();
        let outbox_id = outbox
            .iter()
            .find(|(_, r)| *r == request_id)
            .map(|(id, _)| *id)
            .ok_or_else(|| StoreError::Corrupt(format!("no outbox row for {request_id}")))?;
        rows.push(serde_json::json!([
            hook,
            outbox_id,
            request_id,
            Uuid::new_v4().to_string()
        ]));
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, outbox_id, request_id, status, next_attempt_at, public_id) \
         SELECT value ->> 0, value ->> 1, value ->> 2, 'pending', ?, value ->> 3 FROM json_each(?)",
    )
    .bind(ts(now))
    .bind(serde_json::to_string(&rows)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The organisation's webhooks that subscribe to `name`.
pub(super) async fn subscribed_hooks(
    tx: &mut SqliteConnection,
    org: &str,
    name: &str,
) -> Result<Vec<String>, StoreError> {
    let hooks: Vec<(String, String)> =
        sqlx::query_as("SELECT id, events FROM webhooks WHERE org = ?")
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
    tx: &mut SqliteConnection,
    subscribed: &[String],
    request_id: Uuid,
    org: &str,
    name: &str,
    payload: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if subscribed.is_empty() {
        return Ok(());
    }
    let outbox_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (request_id, org, event, payload, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(request_id.to_string())
    .bind(org)
    .bind(name)
    .bind(payload.to_string())
    .bind(ts(now))
    .fetch_one(&mut *tx)
    .await?;
    for webhook_id in subscribed {
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, outbox_id, request_id, status, next_attempt_at, public_id) VALUES (?, ?, ?, 'pending', ?, ?)",
        )
        .bind(webhook_id)
        .bind(outbox_id)
        .bind(request_id.to_string())
        .bind(ts(now))
        .bind(Uuid::new_v4().to_string())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl WebhookStore for SqliteStore {
    #[tracing::instrument(name = "store.create_webhook", level = "debug", skip_all)]
    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        sqlx::query("INSERT INTO webhooks (id, org, url, events, secret, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(webhook.id.to_string())
            .bind(webhook.org.as_str())
            .bind(&webhook.url)
            .bind(serde_json::to_string(&webhook.events)?)
            .bind(&webhook.secret)
            .bind(&webhook.created_by)
            .bind(ts(webhook.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| turn.judge(e))?;
        Ok(())
    }

    #[tracing::instrument(name = "store.list_webhooks", level = "debug", skip_all)]
    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError> {
        sqlx::query("SELECT * FROM webhooks WHERE org = ? ORDER BY created_at, id")
            .bind(org.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(webhook_from_row)
            .collect()
    }

    #[tracing::instrument(name = "store.get_webhook", level = "debug", skip_all)]
    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError> {
        sqlx::query("SELECT * FROM webhooks WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(webhook_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.delete_webhook", level = "debug", skip_all)]
    async fn delete_webhook(&self, id: Uuid) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let id = id.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = ?")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("webhook {id}")));
        }
        turn.commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.claim_due_deliveries", level = "debug", skip_all)]
    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        // Lease first, in one statement: a transaction that starts by writing never has to
        // upgrade a read snapshot, which SQLite may refuse under concurrent writers.
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE webhook_deliveries SET locked_until = ?3 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d \
               WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND (d.locked_until IS NULL OR d.locked_until <= ?1) \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                               AND e.request_id = d.request_id AND e.status = 'pending' AND e.id < d.id) \
               ORDER BY d.id LIMIT ?2) \
             RETURNING id",
        )
        .bind(ts(now))
        .bind(i64::from(limit))
        .bind(ts(now + lease))
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            turn.commit(tx).await?;
            return Ok(Vec::new());
        }
        // What the leased deliveries carry, read in one statement (the rows are this
        // transaction's own now).
        let rows = sqlx::query(
            "SELECT d.id, d.public_id, d.attempts, d.webhook_id, w.url, w.secret, o.event, o.payload FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id JOIN outbox o ON o.id = d.outbox_id \
             WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.id",
        )
        .bind(serde_json::to_string(&ids)?)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let webhook_id: String = row.try_get("webhook_id")?;
            let public_id: String = row.try_get("public_id")?;
            due.push(DueDelivery {
                id: row.try_get("id")?,
                public_id: Uuid::parse_str(&public_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                attempts: row
                    .try_get::<i64, _>("attempts")?
                    .try_into()
                    .unwrap_or(u32::MAX),
                webhook_id: Uuid::parse_str(&webhook_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                url: row.try_get("url")?,
                secret: row.try_get("secret")?,
                event: row.try_get("event")?,
                payload: row.try_get("payload")?,
            });
        }
        turn.commit(tx).await?;
        Ok(due)
    }

    #[tracing::instrument(name = "store.finish_attempts", level = "debug", skip_all)]
    async fn finish_attempts(
        &self,
        results: &[(i64, Attempt, AttemptResult)],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        // The round's outcomes as one JSON array: two statements and one commit for the
        // round, however many deliveries it attempted, so the writer's turn stays short.
        let rows = results
            .iter()
            .map(|(delivery_id, attempt, result)| {
                let (status, next, delivered) = match *result {
                    AttemptResult::Delivered => ("delivered", None, Some(ts(attempt.at))),
                    AttemptResult::RetryAt(at) => ("pending", Some(ts(at)), None),
                    AttemptResult::GiveUp => ("failed", None, None),
                };
                serde_json::json!([
                    delivery_id,
                    attempt.attempt,
                    ts(attempt.at),
                    attempt.status_code,
                    attempt.error,
                    attempt.duration_ms,
                    status,
                    next,
                    delivered,
                ])
            })
            .collect::<Vec<_>>();
        let rows = serde_json::to_string(&rows)?;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
                    json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]') \
             FROM json_each(?)",
        )
        .bind(&rows)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries AS d SET status = t.status, attempts = t.attempt, \
             next_attempt_at = coalesce(t.next, d.next_attempt_at), locked_until = NULL, delivered_at = t.delivered \
             FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS attempt, \
                          json_extract(value, '$[6]') AS status, json_extract(value, '$[7]') AS next, \
                          json_extract(value, '$[8]') AS delivered FROM json_each(?)) AS t \
             WHERE d.id = t.id",
        )
        .bind(&rows)
        .execute(&mut *tx)
        .await?;
        turn.commit(tx).await?;
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
             JOIN outbox o ON o.id = d.outbox_id WHERE d.webhook_id = ? ORDER BY d.id DESC LIMIT ?",
        )
        .bind(webhook_id.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let public_id: String = row.try_get("public_id")?;
            let request_id: String = row.try_get("request_id")?;
            let status: String = row.try_get("status")?;
            let next: String = row.try_get("next_attempt_at")?;
            let delivered: Option<String> = row.try_get("delivered_at")?;
            let attempts = sqlx::query(
                "SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|a| {
                let at: String = a.try_get("at")?;
                Ok(Attempt {
                    attempt: a
                        .try_get::<i64, _>("attempt")?
                        .try_into()
                        .unwrap_or(u32::MAX),
                    at: parse_ts(&at)?,
                    status_code: a
                        .try_get::<Option<i64>, _>("status_code")?
                        .and_then(|c| u16::try_from(c).ok()),
                    error: a.try_get("error")?,
                    duration_ms: Some(a.try_get("duration_ms")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
            views.push(DeliveryView {
                id: Uuid::parse_str(&public_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                event: row.try_get("event")?,
                request_id: Uuid::parse_str(&request_id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                next_attempt_at: (status == "pending").then(|| parse_ts(&next)).transpose()?,
                status,
                delivered_at: delivered.as_deref().map(parse_ts).transpose()?,
                attempts,
            });
        }
        Ok(views)
    }
}
