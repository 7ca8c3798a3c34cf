//! How the store is reached and tuned, and the limits its background tasks need.

use anyhow::bail;
use serde::Deserialize;

pub use limits::*;

/// Bounds the checks enforce (public so the tests can probe the edges).
pub mod limits {
    /// Longest accepted commit window: beyond it a request alone would wait visibly for company.
    pub const MAX_COMMIT_WINDOW_US: u64 = 100_000;
    /// Largest traveller-index batch: the writer holds up to two batches of entries in memory.
    pub const MAX_TRAVELLER_INDEX_BATCH: usize = 1_000_000;
    /// Longest a traveller entry may wait in memory: entries still there at a crash are indexed
    /// again at the next start, from the rows after the last batch.
    pub const MAX_TRAVELLER_INDEX_WAIT_MS: u64 = 600_000;
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// SQLite `synchronous` pragma: `full` (durable on power loss) or `normal`.
    pub synchronous: String,
    pub busy_timeout_ms: u64,
    /// SQLite: how long a new request may wait for others to share its commit.
    pub commit_window_us: u64,
    /// SQLite: how many new requests' traveller entries the writer gathers before it moves
    /// them into the requests-by-traveller table, in key order...
    #[serde(default = "default_traveller_index_batch")]
    pub traveller_index_batch: usize,
    /// ...or how long the oldest waits for the others.
    #[serde(default = "default_traveller_index_wait_ms")]
    pub traveller_index_wait_ms: u64,
    /// Write each change's e-mail notice with it. Not a setting of its own: startup sets it
    /// from `mail.enabled`, so a service without e-mail pays nothing for it.
    #[serde(skip, default = "default_mail_notices")]
    pub mail_notices: bool,
}

fn default_mail_notices() -> bool {
    true
}

fn default_traveller_index_batch() -> usize {
    32_768
}

fn default_traveller_index_wait_ms() -> u64 {
    2_000
}

impl DatabaseSettings {
    /// Refuses timings the writer and the traveller index cannot run with.
    pub fn check(&self) -> anyhow::Result<()> {
        if !matches!(self.synchronous.as_str(), "full" | "normal" | "extra") {
            bail!("database.synchronous must be full, extra or normal");
        }
        // A window past the clock's range would stop the writer.
        if self.commit_window_us > MAX_COMMIT_WINDOW_US {
            bail!("database.commit_window_us must be at most {MAX_COMMIT_WINDOW_US} (100 ms)");
        }
        if !(1..=MAX_TRAVELLER_INDEX_BATCH).contains(&self.traveller_index_batch) {
            bail!("database.traveller_index_batch must be from 1 to {MAX_TRAVELLER_INDEX_BATCH}");
        }
        if self.traveller_index_wait_ms > MAX_TRAVELLER_INDEX_WAIT_MS {
            bail!(
                "database.traveller_index_wait_ms must be at most {MAX_TRAVELLER_INDEX_WAIT_MS} (10 minutes)"
            );
        }
        Ok(())
    }
}

/// A PostgreSQL URL may carry a password: settings print with it masked.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_password(&self.url))
            .field("max_connections", &self.max_connections)
            .field("synchronous", &self.synchronous)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("commit_window_us", &self.commit_window_us)
            .field("traveller_index_batch", &self.traveller_index_batch)
            .field("traveller_index_wait_ms", &self.traveller_index_wait_ms)
            .finish()
    }
}

/// The URL with any password replaced, for logs and `Debug`.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // A bare path (`data/clearway.db`) is not a URL; anything that could hold
        // credentials (`user:secret@host`) is not shown.
        Err(_) if url.contains('@') => "<unparsable URL>".to_owned(),
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_in_urls_never_print() {
        let shown = redact_password("postgres://clearway:hunter2@db.example:5432/clearway");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("clearway:REDACTED@db.example"), "{shown}");
        assert_eq!(
            redact_password("sqlite://clearway.db"),
            "sqlite://clearway.db"
        );
        assert!(!redact_password("redis://:s3cret@cache:6379").contains("s3cret"));
    }
}
