//! `clearway backup FILE`: an online copy of the SQLite database, consistent and complete,
//! taken beside a serving instance at full load.
//!
//! `VACUUM INTO` reads one snapshot through SQLite (a read transaction, so writers go on and
//! only the log's checkpoint waits for it) and writes a compact copy. It is written to
//! `FILE.partial`, flushed, checked, and only then renamed to `FILE`: a backup that exists is
//! whole.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::store::StoreError;

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub requests: i64,
}

/// Copies the database `url` names into `target`, which must not exist yet.
pub async fn backup(url: &str, target: &Path) -> Result<BackupReport, StoreError> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("{what} {}: {e}", target.display()))
    };
    if target.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists: a backup never overwrites a file",
            target.display()
        )));
    }
    let mut partial = target.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    // A partial copy is left only by a backup that died; it is never a backup.
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(unavailable("removing the stale partial copy of", &e));
        }
        _ => {}
    }
    let options = SqliteConnectOptions::from_str(url)?.create_if_missing(false);
    let mut source = options.connect().await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(partial.to_string_lossy().into_owned())
        .execute(&mut source)
        .await;
    source.close().await?;
    copied?;
    // The copy is a file of its own, not the live database: opening it here is safe.
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| unavailable("flushing", &e))?;
    let mut copy = SqliteConnectOptions::new()
        .filename(&partial)
        .read_only(true)
        .connect()
        .await?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await?;
    let requests: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clearance_requests")
        .fetch_one(&mut copy)
        .await?;
    copy.close().await?;
    if integrity != "ok" {
        return Err(StoreError::Corrupt(format!(
            "the copy in {} failed its integrity check: {integrity}",
            partial.display()
        )));
    }
    std::fs::rename(&partial, target).map_err(|e| unavailable("naming", &e))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| unavailable("flushing the directory of", &e))?;
    }
    let bytes = std::fs::metadata(target)
        .map_err(|e| unavailable("reading", &e))?
        .len();
    Ok(BackupReport {
        path: target.to_owned(),
        bytes,
        requests,
    })
}
