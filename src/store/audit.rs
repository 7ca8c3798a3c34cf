//! The audit trail: appended with each change, read per request, its hash chain verified.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::domain::audit::AuditEntry;

/// What `clearway audit verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub requests: u64,
    pub entries: u64,
    pub first_broken: Option<BrokenLink>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub request_id: Uuid,
    pub seq: i64,
    pub reason: String,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// A request's audit trail, oldest first.
    async fn audit_trail(&self, id: Uuid) -> Result<Vec<AuditEntry>, StoreError>;
    /// Checks every request's chain; reports the first broken link.
    async fn verify_audit(&self) -> Result<AuditReport, StoreError>;
}
