//! Whether the store still takes writes. A COMMIT that failed with an I/O error (a failed
//! fsync, above all) may or may not have reached the disk, and the kernel may have dropped the
//! pages it could not write: carrying on would build on a log nobody can trust. So the first
//! such failure stops every write until the process is restarted and SQLite recovers the log
//! from the file, as PostgreSQL does after a failed fsync (`data_sync_retry = off`).

use std::sync::OnceLock;

use super::StoreError;

#[derive(Debug, Default)]
pub struct WriteStop {
    reason: OnceLock<String>,
}

impl WriteStop {
    /// Stops writes for good (the first reason stays) and says what the operator must do.
    pub fn stop(&self, why: &str) {
        if self.reason.set(why.to_owned()).is_ok() {
            tracing::error!(
                reason = why,
                "a commit failed with an I/O error: writes are stopped until clearway is \
                 restarted. Check the disk (dmesg, free space, the volume), then restart; \
                 clients retry with the same Idempotency-Key"
            );
        }
    }

    /// Why writes stopped, if they did.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// Refuses a write, with nothing stored, once writes have stopped.
    pub fn check(&self) -> Result<(), StoreError> {
        match self.reason() {
            None => Ok(()),
            Some(why) => Err(StoreError::Unavailable(format!(
                "writes are stopped until restart after {why}"
            ))),
        }
    }

    /// Judges a failed COMMIT: an I/O error (SQLite's SQLITE_IOERR family) leaves the outcome
    /// unknown and stops writes; any other failure (a full disk, a lock) stored nothing.
    pub fn judge_commit(&self, error: StoreError, io_error: bool) -> StoreError {
        if !io_error {
            return error;
        }
        let why = error.to_string();
        self.stop(&why);
        StoreError::OutcomeUnknown(why)
    }
}

/// Whether an SQLite result code (primary or extended) is one of the SQLITE_IOERR family.
pub fn is_sqlite_io_error(code: i32) -> bool {
    code & 0xff == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_io_error_at_commit_stops_writes_and_leaves_the_outcome_unknown() {
        let stop = WriteStop::default();
        assert!(stop.check().is_ok());
        let full = stop.judge_commit(StoreError::Unavailable("disk full".into()), false);
        assert!(
            matches!(full, StoreError::Unavailable(_)),
            "a full disk stored nothing"
        );
        assert!(stop.check().is_ok(), "and does not stop writes");
        let fsync = stop.judge_commit(StoreError::Unavailable("fsync: EIO".into()), true);
        assert!(matches!(fsync, StoreError::OutcomeUnknown(_)));
        assert!(matches!(stop.check(), Err(StoreError::Unavailable(_))));
        stop.stop("a later failure");
        assert!(
            stop.reason().unwrap().contains("fsync: EIO"),
            "the first reason stays"
        );
    }

    #[test]
    fn sqlite_io_errors_are_told_by_their_primary_code() {
        assert!(is_sqlite_io_error(10)); // SQLITE_IOERR
        assert!(is_sqlite_io_error(1034)); // SQLITE_IOERR_FSYNC
        assert!(!is_sqlite_io_error(13)); // SQLITE_FULL
        assert!(!is_sqlite_io_error(5)); // SQLITE_BUSY
        assert!(!is_sqlite_io_error(2067)); // SQLITE_CONSTRAINT_UNIQUE
    }
}
