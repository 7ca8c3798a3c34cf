//! What the services need from the adapters below them, as traits the services own: the
//! area risk picture (`cache` implements it), the live queue (`notify`), and the check of a
//! webhook's target (`notify`). The store's traits are per aggregate in `store`, beside their
//! two backends, as lldap keeps its backend handler traits apart from the SQL handlers.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

use crate::domain::area::AreaCode;
use crate::domain::sra::AreaRisk;
use crate::store::StoreError;

/// Each area's risk picture (the area with its SRAs), however it is kept.
#[async_trait]
pub trait AreaRisks: Send + Sync {
    /// The area's risk picture, or `None` for an area nobody registered.
    async fn risk(&self, code: &AreaCode) -> Result<Option<Arc<AreaRisk>>, StoreError>;
    /// Forgets what is kept for the area after a change, here and on every instance.
    async fn forget(&self, code: &AreaCode) -> Result<(), StoreError>;
}

/// What happened to an item of an escalation queue, for approvers' live screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueEventKind {
    /// A request entered a stage's queue.
    New,
    Claimed,
    Released,
    /// The stage decided; the request left this stage's queue.
    Decided,
    /// The request left the queue without a decision (withdrawn, amended).
    Removed,
}

impl QueueEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueEventKind::New => "new",
            QueueEventKind::Claimed => "claimed",
            QueueEventKind::Released => "released",
            QueueEventKind::Decided => "decided",
            QueueEventKind::Removed => "removed",
        }
    }
}

/// Where queue changes are announced. Announcing never fails and never waits: a screen
/// that misses one reads the queue again.
pub trait QueueEventSink: Send + Sync {
    fn publish(&self, kind: QueueEventKind, request_id: Uuid, stage: &str, actor: &str);
    /// A request was stored or changed: travellers' and travel units' live screens hear of
    /// it (on every instance). Never fails and never waits, like `publish`.
    fn request_changed(&self, change: RequestChanged);
}

/// A request's new state, as the stream of its traveller and travel unit tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RequestChanged {
    pub request_id: Uuid,
    pub version: i64,
    pub status: crate::domain::request::RequestStatus,
    pub traveller_id: crate::domain::request::TravellerId,
    pub org: crate::domain::request::OrgId,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl RequestChanged {
    pub fn of(record: &crate::domain::request::RequestRecord) -> Self {
        Self {
            request_id: record.id,
            version: record.version,
            status: record.status,
            traveller_id: record.request.traveller.id.clone(),
            org: record.request.traveller.org.clone(),
            at: chrono::Utc::now(),
        }
    }
}

/// Whether a webhook may be registered for a URL: the answer is why not, in words.
#[async_trait]
pub trait WebhookTargets: Send + Sync {
    async fn check(&self, url: &str) -> Result<(), String>;
}
