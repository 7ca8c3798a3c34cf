//! One `clearway serve` per SQLite file. A second one would keep its own in-memory state (the
//! writer's turn, the traveller index's newest entries) beside the first, so it refuses to
//! start and names the instance that holds the file.
//!
//! The lock is an `flock` on a file of its own beside the database (`clearway.db.lock`), never
//! on the database or its `-wal`/`-shm`: SQLite's POSIX locks on those belong to SQLite alone.
//! `flock` is released by the kernel when the process ends, however it ends.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held for as long as the instance serves.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another clearway is serving {database}: {holder}. Stop it first, or give this one \
         another database.url (several instances share a PostgreSQL database, not a SQLite file)"
    )]
    Held { database: String, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Takes the lock of `database`, writing who holds it (`holder`, e.g. pid and address) into
/// the lock file for the next one to read.
pub fn lock(database: &Path, holder: &str) -> Result<InstanceLock, LockError> {
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let io = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    if !try_flock(&file).map_err(io)? {
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        return Err(LockError::Held {
            database: database.display().to_string(),
            holder: Some(text.trim().to_owned())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "an instance that has not said who it is".into()),
        });
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{holder}").map_err(io)?;
    Ok(InstanceLock { _file: file, path })
}

/// An exclusive `flock` without waiting: `Ok(false)` when another process holds it.
fn try_flock(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor `file` keeps open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("clearway.db");
        let first = lock(&db, "pid 41, http://127.0.0.1:8080").unwrap();
        // flock is per open file: a second open in this process conflicts as another
        // process would.
        let refused = lock(&db, "pid 42").unwrap_err().to_string();
        assert!(
            refused.contains("pid 41, http://127.0.0.1:8080"),
            "{refused}"
        );
        drop(first);
        lock(&db, "pid 42").expect("free again once the first is dropped");
    }
}
