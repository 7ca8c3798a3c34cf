//! Durable state behind one interface: SQLite embedded (the default, one instance), or
//! PostgreSQL for several instances sharing one database.

mod encoding;
mod postgres;
mod sqlite;
mod write_stop;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::domain::area::{Area, AreaCode, Suspension};
use crate::domain::audit::{AuditDraft, AuditEntry};
use crate::domain::request::{OrgId, RequestRecord, RequestStatus, TravellerId};
use crate::domain::sra::{AreaRisk, Sra, SraStatus};
use crate::domain::webhook::Webhook;

pub use encoding::NewRequest;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use sqlite::backup::{BackupReport, backup as backup_sqlite};
pub use sqlite::instance_lock::{InstanceLock, LockError};

use crate::config::DatabaseSettings;

/// Whether `url` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the store `settings.url` names: `postgres://...` or `postgresql://...` for
/// PostgreSQL, anything else (`sqlite://path`) for SQLite. Migrations are not applied.
pub async fn connect(settings: &DatabaseSettings) -> Result<Arc<dyn Store>, StoreError> {
    Ok(if is_postgres(&settings.url) {
        Arc::new(PostgresStore::connect(settings).await?)
    } else {
        Arc::new(SqliteStore::connect(settings).await?)
    })
}

/// Takes the one-server lock of the SQLite file `settings.url` names (`instance_lock`);
/// `None` for PostgreSQL, which several instances share, and for an in-memory database.
pub fn lock_instance(
    settings: &DatabaseSettings,
    holder: &str,
) -> Result<Option<InstanceLock>, LockError> {
    if is_postgres(&settings.url) {
        return Ok(None);
    }
    let options =
        <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&settings.url)
            .map_err(|e| LockError::Io {
                path: settings.url.clone(),
                source: std::io::Error::other(e),
            })?;
    let file = options.get_filename();
    if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
        return Ok(None);
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    sqlite::instance_lock::lock(file, holder).map(Some)
}

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
    /// The commit failed in a way that leaves it unknown whether it was stored (a failed
    /// flush of the log, a connection lost during COMMIT): a retry must carry the same
    /// `Idempotency-Key`, which finds what was stored.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
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
            _ => {
                crate::metrics::STORE_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                StoreError::Unavailable(e.to_string())
            }
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
        match &e {
            rusqlite::Error::SqliteFailure(failure, message)
                if matches!(
                    failure.extended_code,
                    SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                StoreError::Conflict(message.clone().unwrap_or_else(|| e.to_string()))
            }
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..) => StoreError::Corrupt(e.to_string()),
            _ => {
                crate::metrics::STORE_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                StoreError::Unavailable(e.to_string())
            }
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
    /// One traveller: a traveller id is unique only within its organisation.
    Traveller(OrgId, TravellerId),
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

/// A change to a stored request: `record` is the new state, written only if the stored
/// version is still `record.version - 1`; otherwise `Conflict` and nothing changes.
#[derive(Debug, Clone)]
pub struct RequestChange<'a> {
    pub record: &'a RequestRecord,
    /// The itinerary changed (an amendment): the legs are rewritten too.
    pub legs_changed: bool,
    pub audit: AuditDraft,
}

/// Where the next page of a stage's queue starts: after this (travel start, submission, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePosition {
    pub first_arrival: NaiveDate,
    pub submitted_at: DateTime<Utc>,
    pub id: Uuid,
}

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

/// A durable re-screening job: every pending or cleared request with a leg in `area` on or
/// after `from` (and up to `until`, when set) is decided again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RescreenJob {
    pub id: Uuid,
    pub area: AreaCode,
    /// The change that called for it, in words; it goes into each moved request's audit entry.
    pub reason: String,
    pub actor: String,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    pub status: String,
    pub total: i64,
    pub processed: i64,
    pub changed: i64,
    #[serde(skip)]
    pub cursor: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl RescreenJob {
    /// A job over the area's legs from `from` (never before today: finished trips stay as
    /// they were decided) up to `until`.
    pub fn new(
        area: AreaCode,
        reason: String,
        actor: &str,
        from: NaiveDate,
        until: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            area,
            reason,
            actor: actor.to_owned(),
            from: from.max(now.date_naive()),
            until,
            status: "pending".into(),
            total: 0,
            processed: 0,
            changed: 0,
            cursor: None,
            created_at: now,
            finished_at: None,
        }
    }
}

/// Who holds a clearance for an area on a date: the duty-of-care list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PersonnelEntry {
    pub request_id: Uuid,
    pub traveller_id: String,
    pub traveller_name: String,
    pub org: String,
    pub status: String,
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
}

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
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), StoreError>;
    /// Brings the schema up to date; safe to run from several instances at once.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Closes the connections, waiting for those in use.
    async fn close(&self);
    /// Why the store takes no more writes until restarted (a commit failed with an I/O
    /// error), if it does not.
    fn writes_stopped(&self) -> Option<String> {
        None
    }

    /// Adds an area; `Conflict` if the code exists.
    async fn create_area(&self, area: &Area) -> Result<(), StoreError>;
    /// Suspends or lifts; with `rescreen`, the job is created in the same transaction and the
    /// number of requests it will look at is returned.
    async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError>;
    /// Every area with its published SRAs, by code.
    async fn list_areas(&self) -> Result<Vec<AreaRisk>, StoreError>;
    async fn area_risk(&self, code: &AreaCode) -> Result<Option<AreaRisk>, StoreError>;

    /// Stores an SRA; `NotFound` for an unknown area, `Conflict` if the version exists.
    /// With `rescreen`, creates the job in the same transaction and returns its size.
    async fn insert_sra(
        &self,
        sra: &Sra,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError>;
    /// Replaces an SRA that still has status `expected`; `Conflict` otherwise.
    async fn update_sra(
        &self,
        sra: &Sra,
        expected: SraStatus,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError>;
    async fn get_sra(&self, id: Uuid) -> Result<Option<Sra>, StoreError>;

    /// Leases the oldest unfinished re-screening job, if any.
    async fn claim_rescreen_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<RescreenJob>, StoreError>;
    /// The next requests a job must look at, after its cursor, in id order.
    async fn rescreen_candidates(
        &self,
        job: &RescreenJob,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError>;
    /// Records progress (and renews the lease); `done` closes the job.
    async fn advance_rescreen_job(
        &self,
        job: &RescreenJob,
        lease_until: DateTime<Utc>,
        done: bool,
    ) -> Result<(), StoreError>;
    async fn get_rescreen_job(&self, id: Uuid) -> Result<Option<RescreenJob>, StoreError>;

    /// Travellers holding a cleared or approved request with a leg in `area` on `on`.
    async fn personnel(
        &self,
        area: &AreaCode,
        on: NaiveDate,
    ) -> Result<Vec<PersonnelEntry>, StoreError>;
    async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError>;

    /// Stores a request, its legs, its decision and its first audit entry in one transaction.
    async fn insert_request(&self, new: Arc<NewRequest>) -> Result<(), StoreError>;
    /// Applies a change and appends its audit entry in one transaction; `Conflict` if the
    /// request changed since it was read.
    async fn update_request(&self, change: RequestChange<'_>) -> Result<(), StoreError>;
    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError>;
    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError>;

    /// Escalated requests awaiting `stage`: soonest travel first, then oldest submission.
    async fn escalation_queue(
        &self,
        stage: &str,
        after: Option<QueuePosition>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError>;

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
    async fn finish_attempt(
        &self,
        delivery_id: i64,
        attempt: &Attempt,
        result: AttemptResult,
    ) -> Result<(), StoreError>;
    async fn list_deliveries(
        &self,
        webhook_id: Uuid,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, StoreError>;

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

    /// Queue depth and age per stage, outbox backlog and re-screening left: for `/metrics`.
    async fn figures(&self) -> Result<crate::metrics::StoreFigures, StoreError>;

    /// A request's audit trail, oldest first.
    async fn audit_trail(&self, id: Uuid) -> Result<Vec<AuditEntry>, StoreError>;
    /// Checks every request's chain; reports the first broken link.
    async fn verify_audit(&self) -> Result<AuditReport, StoreError>;
}
