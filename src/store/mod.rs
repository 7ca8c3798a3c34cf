//! Durable state behind one interface; SQLite is the embedded implementation.

mod sqlite;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::area::{Area, AreaCode, Suspension};
use crate::domain::request::{OrgId, RequestRecord, RequestStatus, TravellerId};
use crate::domain::sra::{AreaRisk, Sra};

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write would break a uniqueness rule; the text says which.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The database could not be reached or refused the operation; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back: a bug or a hand-edited database.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Whose requests a list may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestScope {
    All,
    Traveller(TravellerId),
    Org(OrgId),
}

#[derive(Debug, Clone)]
pub struct RequestQuery {
    pub scope: RequestScope,
    pub status: Option<RequestStatus>,
    /// Newest first: only requests older than this id (the previous page's last).
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), StoreError>;

    /// Adds an area; `Conflict` if the code exists.
    async fn create_area(&self, area: &Area) -> Result<(), StoreError>;
    async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
    ) -> Result<(), StoreError>;
    /// Every area with its published SRAs, by code.
    async fn list_areas(&self) -> Result<Vec<AreaRisk>, StoreError>;
    async fn area_risk(&self, code: &AreaCode) -> Result<Option<AreaRisk>, StoreError>;

    /// Stores an SRA; `NotFound` for an unknown area, `Conflict` if the version exists.
    async fn insert_sra(&self, sra: &Sra) -> Result<(), StoreError>;
    async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError>;

    /// Stores a request, its legs and its decision in one transaction.
    async fn insert_request(&self, record: &RequestRecord) -> Result<(), StoreError>;
    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError>;
    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError>;
}
