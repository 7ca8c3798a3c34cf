//! Idempotency keys: claimed, completed with the response to replay, released, pruned.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;

/// A caller's `Idempotency-Key` and the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The caller: their organisation and token subject. Keys of different callers never meet.
    pub subject: String,
    /// The caller's roles, comma-separated: a replay goes only to a caller who still holds
    /// every role the first request was made with.
    pub roles: String,
    pub key: String,
    /// SHA-256 (hex) of the method, path and body.
    pub fingerprint: String,
}

/// The response the first request with a key got, as replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: String,
}

/// What a key's claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new, expired, or was left by an attempt that died: the caller goes ahead
    /// and then completes or releases it. A request it creates takes `request_id`: the same
    /// id as the abandoned attempt's, if it was one, so a stored one is found, not repeated.
    Proceed { request_id: Uuid },
    /// The first request finished: its response.
    Replay(StoredResponse),
    /// The key came with a different request before.
    Mismatch,
    /// The first request is still being worked on.
    InProgress,
    /// The first request finished, but the caller no longer holds a role it was made with:
    /// its answer is not theirs to see again.
    RolesWithdrawn,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` at `now`. A stored key created before `expired_before` counts as new, and
    /// so does one still in progress since before `abandoned_before`.
    async fn claim_idempotency_key(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        expired_before: DateTime<Utc>,
        abandoned_before: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError>;
    /// Records the response to replay for a claimed key.
    async fn complete_idempotency_key(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;
    /// Forgets a claimed key whose request failed, so that a retry runs it again.
    async fn release_idempotency_key(&self, key: &IdempotencyKey) -> Result<(), StoreError>;
    /// Deletes keys created before `before`; returns how many.
    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
