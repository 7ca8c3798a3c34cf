//! The loss check: every request the server acknowledged (201) must be in the store, with the
//! outcome the client was told (its first audit entry records it, whatever happened later).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Acknowledgements as the client saw them: request id and status.
#[derive(Default)]
pub struct Acks {
    seen: Mutex<Vec<(String, String)>>,
}

impl Acks {
    pub fn record(&self, id: String, status: String) {
        self.seen.lock().expect("not poisoned").push((id, status));
    }

    pub fn len(&self) -> usize {
        self.seen.lock().expect("not poisoned").len()
    }

    /// The acknowledgements so far.
    fn snapshot(&self) -> Vec<(String, String)> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub acknowledged: usize,
    pub verified: usize,
    pub lost: usize,
    pub mismatched: usize,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.mismatched == 0 && self.verified == self.acknowledged
    }
}

/// `db` is the service's SQLite file, or its PostgreSQL database URL.
pub async fn against_store(db: &str, acks: &Acks) -> anyhow::Result<Verification> {
    check(db, &acks.snapshot()).await
}

/// What the checks made while the service was serving found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WhileServing {
    pub checks: usize,
    /// Acknowledgements the last check looked for.
    pub acknowledged: usize,
    pub lost: usize,
    pub mismatched: usize,
    /// SQLite: `PRAGMA quick_check` answers other than `ok`.
    pub damaged: Vec<String>,
}

impl WhileServing {
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.mismatched == 0 && self.damaged.is_empty()
    }
}

/// Reads the store from this process, a second one beside the server, every `every` until
/// `stop`: every request acknowledged before each read must be there, and on SQLite the file
/// must pass `quick_check`. The connections are read-write, as the `sqlite3` shell's are:
/// when such a connection closes believing it is the last, SQLite checkpoints and deletes
/// the log, which is how a read beside an earlier version of the server broke it.
pub async fn while_serving(
    db: String,
    acks: std::sync::Arc<Acks>,
    every: std::time::Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> WhileServing {
    let mut found = WhileServing::default();
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return found,
        }
        let seen = acks.snapshot();
        match check(&db, &seen).await {
            Ok(v) => {
                found.checks += 1;
                found.acknowledged = v.acknowledged;
                found.lost += v.lost;
                found.mismatched += v.mismatched;
            }
            Err(e) => found.damaged.push(format!("reading the store: {e}")),
        }
        if !clearway::store::is_postgres(&db) {
            match quick_check(&db).await {
                Ok(answer) if answer == "ok" => {}
                Ok(answer) => found.damaged.push(answer),
                Err(e) => found.damaged.push(format!("quick_check: {e}")),
            }
        }
    }
}

async fn quick_check(db: &str) -> anyhow::Result<String> {
    let mut connection = SqliteConnectOptions::new().filename(db).connect().await?;
    let answer: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut connection)
        .await?;
    connection.close().await?;
    Ok(answer)
}

async fn check(db: &str, seen: &[(String, String)]) -> anyhow::Result<Verification> {
    const FIRST_ENTRIES: &str =
        "SELECT CAST(request_id AS TEXT), to_status FROM audit_log WHERE seq = 1";
    let rows: Vec<(String, String)> = if clearway::store::is_postgres(db) {
        let mut connection = PgConnection::connect(db).await?;
        sqlx::query_as(FIRST_ENTRIES)
            .fetch_all(&mut connection)
            .await?
    } else {
        let mut connection = SqliteConnectOptions::new().filename(db).connect().await?;
        sqlx::query_as(FIRST_ENTRIES)
            .fetch_all(&mut connection)
            .await?
    };
    let stored: HashMap<String, String> = rows.into_iter().collect();
    let mut result = Verification {
        acknowledged: seen.len(),
        verified: 0,
        lost: 0,
        mismatched: 0,
    };
    for (id, status) in seen.iter() {
        match stored.get(id) {
            None => result.lost += 1,
            Some(s) if s != status => result.mismatched += 1,
            Some(_) => result.verified += 1,
        }
    }
    Ok(result)
}

impl Acks {
    /// Some acknowledged id, spread over the list by `salt`: what a traveller polls.
    pub fn seen_id(&self, salt: usize) -> Option<String> {
        let seen = self.seen.lock().expect("not poisoned");
        if seen.is_empty() {
            return None;
        }
        let index = (seen.len() - 1).saturating_sub(salt * 7) % seen.len();
        Some(seen[index].0.clone())
    }
}
