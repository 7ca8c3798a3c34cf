//! Delegations of approvers' stage authority.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::Invalid;
use crate::domain::delegation::Delegation;

#[async_trait]
pub trait DelegationStore: Send + Sync {
    /// Stores `new` if `domain::delegation::check` accepts it against the stage's other
    /// delegations, read and written in one transaction that no other delegation of the
    /// stage interleaves with (two halves of a loop cannot both pass). The inner error is
    /// the check's refusal; nothing is written then.
    async fn add_delegation(&self, new: &Delegation) -> Result<Result<(), Invalid>, StoreError>;
    /// Every delegation (`None`), or those `subject` gave or received, newest first.
    async fn list_delegations(&self, subject: Option<&str>) -> Result<Vec<Delegation>, StoreError>;
    async fn get_delegation(&self, id: Uuid) -> Result<Option<Delegation>, StoreError>;
    /// Marks it revoked at `at`; false if it was already revoked.
    async fn revoke_delegation(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The delegations of `stage` (every stage if `None`) that hold on `on`.
    async fn delegations_on(
        &self,
        stage: Option<&str>,
        on: NaiveDate,
    ) -> Result<Vec<Delegation>, StoreError>;
}
