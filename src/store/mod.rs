//! Durable state behind one interface: SQLite embedded (the default, one instance), or
//! PostgreSQL for several instances sharing one database.

mod air_operators;
mod areas;
mod audit;
mod delegations;
mod encoding;
mod escalations;
mod idempotency;
mod incidents;
pub mod mail;
mod people;
mod postgres;
mod requests;
mod rescreening;
pub mod settings;
mod sqlite;
mod webhooks;
mod write_stop;

use std::sync::Arc;

use async_trait::async_trait;

pub use air_operators::AirOperatorStore;
pub use areas::AreaStore;
pub use audit::{AuditReport, AuditStore, BrokenLink};
pub use delegations::DelegationStore;
pub use encoding::NewRequest;
pub use escalations::{EscalationStore, QueuePosition};
pub use idempotency::{IdempotencyClaim, IdempotencyKey, IdempotencyStore, StoredResponse};
pub use incidents::{
    Ask, IncidentClosing, IncidentOpening, IncidentStore, RecordedAnswer, Reminders, RollQuery,
};
pub use mail::MailStore;
pub use people::PeopleStore;
pub use postgres::PostgresStore;
pub use requests::{
    LegFilter, PersonnelEntry, RequestChange, RequestFilter, RequestQuery, RequestScope,
    RequestStore,
};
pub use rescreening::{RescreenJob, RescreenStore};
pub use sqlite::SqliteStore;
pub use sqlite::backup::{BackupReport, backup as backup_sqlite};
pub use sqlite::instance_lock::{InstanceLock, LockError};
pub use webhooks::{Attempt, AttemptResult, DeliveryView, DueDelivery, WebhookStore};

use settings::DatabaseSettings;

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
                crate::metrics::STORE_ERRORS.inc();
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
                crate::metrics::STORE_ERRORS.inc();
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

/// Opening, migrating and closing the store, and its figures for `/metrics`.
#[async_trait]
pub trait StoreLifecycle: Send + Sync {
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
    /// Queue depth and age per stage, outbox backlog and re-screening left: for `/metrics`.
    async fn figures(&self) -> Result<crate::metrics::StoreFigures, StoreError>;
}

/// Everything the services keep: one trait per aggregate, so each backend has a file per
/// aggregate and a service names only what it uses.
pub trait Store:
    StoreLifecycle
    + AreaStore
    + RescreenStore
    + RequestStore
    + EscalationStore
    + WebhookStore
    + IdempotencyStore
    + AuditStore
    + PeopleStore
    + MailStore
    + DelegationStore
    + IncidentStore
    + AirOperatorStore
    + 'static
{
}

impl<T> Store for T where
    T: StoreLifecycle
        + AreaStore
        + RescreenStore
        + RequestStore
        + EscalationStore
        + WebhookStore
        + IdempotencyStore
        + AuditStore
        + PeopleStore
        + MailStore
        + DelegationStore
        + IncidentStore
        + AirOperatorStore
        + 'static
{
}
