//! Webhook subscriptions and their outbox: deliveries claimed, attempted, listed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::request::OrgId;
use crate::domain::webhook::Webhook;

/// A webhook delivery a deliverer has leased and must attempt now.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    /// What the receiver is told (`Clearway-Delivery`): random, unlike `id`.
    pub public_id: Uuid,
    pub attempts: u32,
    pub webhook_id: Uuid,
    pub url: String,
    pub secret: String,
    pub event: String,
    /// The exact bytes to send and sign.
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// How long the attempt took; absent when no connection was made, so the time does not
    /// tell a refused port from a filtered one.
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// A delivery as a travel unit sees it, with every attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The id the receiver got in `Clearway-Delivery`.
    pub id: Uuid,
    pub event: String,
    pub request_id: Uuid,
    pub status: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: Vec<Attempt>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, webhook: &Webhook) -> Result<(), StoreError>;
    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Webhook>, StoreError>;
    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>, StoreError>;
    /// Removes a webhook; its undelivered events are dropped with it.
    async fn delete_webhook(&self, id: Uuid) -> Result<(), StoreError>;
    /// Leases up to `limit` due deliveries: for each webhook and request only the oldest
    /// undelivered event, so events arrive in order.
    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records a round's attempts and their outcomes, `(delivery id, attempt, result)`, in
    /// one transaction.
    async fn finish_attempts(
        &self,
        results: &[(i64, Attempt, AttemptResult)],
    ) -> Result<(), StoreError>;
    async fn list_deliveries(
        &self,
        webhook_id: Uuid,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError>;
}
