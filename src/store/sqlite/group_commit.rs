//! New requests reach SQLite through one writer that commits them in groups, and through a
//! syncer that makes each group durable before anyone hears back.
//!
//! The writer has its own connection with `synchronous=NORMAL`, so COMMIT returns as soon as
//! the group's WAL frames are written, and the writer starts on the next group at once. The
//! syncer then `fdatasync`s the WAL and only after that answers the group's waiters: one
//! flush covers every group committed before it began. An acknowledged request is therefore
//! exactly as durable as with `synchronous=FULL`, but the disk flush no longer holds the
//! write lock, so writing the next group and flushing the last overlap.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::enqueue_event;
use crate::metrics;
use crate::store::StoreError;
use crate::store::encoding::{PendingInsert, queue_stage};

/// Most requests one transaction carries.
const MAX_GROUP: usize = 256;

/// A committed group's answers, held until the WAL is flushed.
type Answers = Vec<(
    oneshot::Sender<Result<(), StoreError>>,
    Result<(), StoreError>,
)>;

/// Starts the writer on `conn`. With `wal` set, answers wait for an fsync of that file (the
/// connection must then run with `synchronous=NORMAL`); without it, the connection's own
/// `synchronous` setting is the whole guarantee.
///
/// The writer holds `write_turn` while it writes a group, so whoever takes it (the
/// checkpointer, another writer) has the database to itself between two groups.
pub(super) fn start(
    options: SqliteConnectOptions,
    conn: SqliteConnection,
    wal: Option<PathBuf>,
    write_turn: Arc<Mutex<()>>,
) -> Result<mpsc::Sender<PendingInsert>, StoreError> {
    let (writer, queue) = mpsc::channel(4 * MAX_GROUP);
    let synced = wal.map(|wal| {
        // A few groups may be in flight to the syncer; beyond that the writer waits for it.
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(flush_then_answer(wal, rx));
        tx
    });
    // The writer drives a dozen statements per group through the connection's worker thread;
    // on a thread of its own it is ready for each answer at once instead of queueing behind
    // HTTP handlers on the shared runtime. It ends when the store is dropped.
    let unavailable = |e: std::io::Error| StoreError::Unavailable(format!("writer thread: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(unavailable)?;
    std::thread::Builder::new()
        .name("clearway-writer".into())
        .spawn(move || runtime.block_on(write_in_groups(options, conn, queue, synced, write_turn)))
        .map_err(unavailable)?;
    Ok(writer)
}

/// Commits whatever arrived while the previous group was being written as the next group, so
/// under load one commit serves many requests, and alone a request is committed at once.
async fn write_in_groups(
    options: SqliteConnectOptions,
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<PendingInsert>,
    synced: Option<mpsc::Sender<Answers>>,
    write_turn: Arc<Mutex<()>>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let results = {
            let _turn = write_turn.lock().await;
            let results = commit_group(&mut conn, &group).await;
            if results.iter().any(Result::is_err) {
                // A failed COMMIT (a full disk, say) can leave SQLite inside a transaction
                // that sqlx counts as ended: the next group's BEGIN would become a savepoint
                // in it and its COMMIT would commit nothing, yet be acknowledged. A fresh
                // connection starts clean; closing the old one rolls back what it held.
                conn = reopen(&options, conn).await;
            }
            results
        };
        let answers: Answers = group
            .drain(..)
            .map(|pending| pending.done)
            .zip(results)
            .collect();
        match &synced {
            Some(syncer) => {
                if let Err(mpsc::error::SendError(answers)) = syncer.send(answers).await {
                    answer(answers, Err("the WAL syncer has stopped".into()));
                }
            }
            None => answer(answers, Ok(())),
        }
    }
}

async fn reopen(options: &SqliteConnectOptions, old: SqliteConnection) -> SqliteConnection {
    if let Err(e) = old.close().await {
        tracing::warn!(error = %e, "closing the writer's connection after a failed group");
    }
    loop {
        match options.connect().await {
            Ok(conn) => return conn,
            Err(e) => {
                tracing::error!(error = %e, "the writer cannot reopen the database; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Flushes the WAL, then answers every group committed before the flush began. Groups that
/// queue up during one flush share the next.
async fn flush_then_answer(wal: PathBuf, mut committed: mpsc::Receiver<Answers>) {
    let mut groups = Vec::new();
    while committed.recv_many(&mut groups, 64).await > 0 {
        let path = wal.clone();
        let flushed = tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_data())
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        let outcome = flushed.map_err(|e| {
            // The rows are committed but may not survive a power cut: say the write failed, as
            // PostgreSQL would, rather than acknowledge what may be lost.
            tracing::error!(error = %e, wal = %wal.display(), "fsync of the WAL failed");
            format!("could not flush the write-ahead log: {e}")
        });
        for answers in groups.drain(..) {
            answer(answers, outcome.clone());
        }
    }
}

fn answer(answers: Answers, flushed: Result<(), String>) {
    for (done, result) in answers {
        let result = match &flushed {
            Ok(()) => result,
            Err(e) => Err(StoreError::Unavailable(e.clone())),
        };
        let _ = done.send(result);
    }
}

/// Boxed as `Send` here, where the lifetimes are concrete: the compiler cannot prove it for
/// the spawned writer otherwise (rust-lang/rust#102211).
///
/// Transactions are begun and ended with plain statements, not sqlx's `Transaction`: after a
/// failed COMMIT (a full disk, say) sqlx's count of open transactions can disagree with
/// SQLite's, and its next "commit" would release a savepoint inside a transaction still open,
/// acknowledging rows that were never committed. Here a COMMIT that returns Ok committed, and
/// after any failure a ROLLBACK leaves nothing open.
fn commit_group<'a>(
    conn: &'a mut SqliteConnection,
    group: &'a [PendingInsert],
) -> BoxFuture<'a, Vec<Result<(), StoreError>>> {
    Box::pin(async move {
        // The whole group in a few multi-row statements; should any row fail, the group is
        // written again one savepoint per request, so only the faulty request is refused.
        let together = async {
            run(conn, "BEGIN").await?;
            insert_all(conn, group, OnFault::RollBackAll).await?;
            run(conn, "COMMIT").await
        };
        match Box::pin(together).await {
            Ok(()) => {
                metrics::group_committed(group.len());
                group.iter().map(|_| Ok(())).collect()
            }
            // If the database itself is the trouble, the second pass fails the same way.
            Err(_) => {
                abandon(conn).await;
                Box::pin(commit_one_by_one(conn, group)).await
            }
        }
    })
}

async fn commit_one_by_one(
    conn: &mut SqliteConnection,
    group: &[PendingInsert],
) -> Vec<Result<(), StoreError>> {
    if let Err(e) = run(conn, "BEGIN").await {
        return failed_all(group.len(), &e);
    }
    let mut results = Vec::with_capacity(group.len());
    for pending in group {
        let step = async {
            run(conn, "SAVEPOINT request").await?;
            let written = Box::pin(insert_all(
                conn,
                std::slice::from_ref(pending),
                OnFault::UndoStatement,
            ))
            .await;
            if written.is_err() {
                run(conn, "ROLLBACK TO request").await?;
            }
            run(conn, "RELEASE request").await?;
            Ok::<_, StoreError>(written)
        };
        match Box::pin(step).await {
            Ok(written) => results.push(written),
            Err(e) => {
                abandon(conn).await;
                return failed_all(group.len(), &e);
            }
        }
    }
    match run(conn, "COMMIT").await {
        Ok(()) => {
            let stored = results.iter().filter(|r| r.is_ok()).count();
            if stored > 0 {
                metrics::group_committed(stored);
            }
            results
        }
        Err(e) => {
            abandon(conn).await;
            failed_all(group.len(), &e)
        }
    }
}

async fn run(conn: &mut SqliteConnection, statement: &'static str) -> Result<(), StoreError> {
    sqlx::query(statement).execute(&mut *conn).await?;
    Ok(())
}

/// Rolls back whatever is open; an error only means nothing was.
async fn abandon(conn: &mut SqliteConnection) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
}

/// Most rows per multi-row statement: even the largest stays well inside SQLite's limit on
/// bound parameters.
const ROWS_PER_STATEMENT: usize = 64;

/// Splits `rows` into statements of 64, 32, 16, ... 1 rows: each table then needs at most seven
/// statement shapes, which stay prepared in the connection's cache. Chunks of any length would
/// need a new 64-row statement parsed and planned for almost every group.
fn statement_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let size = ROWS_PER_STATEMENT.min(1 << rows.len().ilog2());
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// What a row that breaks a constraint undoes.
#[derive(Clone, Copy)]
enum OnFault {
    /// The whole transaction (`INSERT OR ROLLBACK`): the group is then written again one
    /// request at a time. SQLite then keeps no statement journal, a copy of every page each
    /// multi-row statement touches, which it would need only to undo a failed statement alone.
    RollBackAll,
    /// The failing statement only, so the savepoint around it can be rolled back.
    UndoStatement,
}

impl OnFault {
    fn insert(self) -> &'static str {
        match self {
            Self::RollBackAll => "INSERT OR ROLLBACK INTO",
            Self::UndoStatement => "INSERT INTO",
        }
    }
}

/// Writes a group of new requests with a handful of statements: requests, legs and audit
/// entries as multi-row inserts, and webhook events only for organisations that have webhooks.
async fn insert_all(
    tx: &mut SqliteConnection,
    group: &[PendingInsert],
    on_fault: OnFault,
) -> Result<(), StoreError> {
    for chunk in statement_chunks(group) {
        let mut requests = QueryBuilder::<Sqlite>::new(on_fault.insert());
        requests.push(
            " clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality, first_arrival, \
             last_departure, submitted_at, updated_at, request, decision, escalation, stage, version) ",
        );
        requests.push_values(chunk, |mut row, pending| {
            let record = &pending.record;
            let r = &record.request;
            let text = &pending.rendered;
            row.push_bind(text.id.as_str())
                .push_bind(r.traveller.id.as_str())
                .push_bind(r.traveller.org.as_str())
                .push_bind(record.submitted_by.as_str())
                .push_bind(record.status.as_str())
                .push_bind(r.programme_criticality.as_str())
                .push_bind(r.legs.first_arrival())
                .push_bind(r.legs.last_departure())
                .push_bind(record.submitted_at)
                .push_bind(record.submitted_at)
                .push_bind(text.request.as_str())
                .push_bind(text.decision.as_str())
                .push_bind(text.escalation.as_deref())
                .push_bind(queue_stage(record))
                .push_bind(record.version);
        });
        requests.build().execute(&mut *tx).await?;
    }
    let legs: Vec<(&str, usize, &crate::domain::itinerary::Leg)> = group
        .iter()
        .flat_map(|pending| {
            let id = pending.rendered.id.as_str();
            pending
                .record
                .request
                .legs
                .legs()
                .iter()
                .enumerate()
                .map(move |(seq, leg)| (id, seq, leg))
        })
        .collect();
    for chunk in statement_chunks(&legs) {
        let mut rows = QueryBuilder::<Sqlite>::new(on_fault.insert());
        rows.push(" request_legs (request_id, seq, area_code, arrival, departure) ");
        rows.push_values(chunk, |mut row, (id, seq, leg)| {
            row.push_bind(*id)
                .push_bind(*seq as i64)
                .push_bind(leg.area.as_str())
                .push_bind(leg.arrival)
                .push_bind(leg.departure);
        });
        rows.build().execute(&mut *tx).await?;
    }
    for chunk in statement_chunks(group) {
        let mut rows = QueryBuilder::<Sqlite>::new(on_fault.insert());
        rows.push(
            " audit_log (request_id, seq, at, actor, action, from_status, to_status, stage, comment, prev_hash, hash) ",
        );
        rows.push_values(chunk, |mut row, pending| {
            let (e, action) = (&pending.rendered.entry, &pending.rendered.action);
            row.push_bind(pending.rendered.id.as_str())
                .push_bind(e.seq)
                .push_bind(e.at.as_str())
                .push_bind(e.actor.as_str())
                .push_bind(action.as_str())
                .push_bind(e.from.map(|s| s.as_str()))
                .push_bind(e.to.as_str())
                .push_bind(e.stage.as_deref())
                .push_bind(e.comment.as_deref())
                .push_bind(e.prev_hash.as_str())
                .push_bind(e.hash.as_str());
        });
        rows.build().execute(&mut *tx).await?;
    }
    // Most organisations have no webhook: one query tells which do.
    let mut orgs: Vec<&str> = group
        .iter()
        .map(|p| p.record.request.traveller.org.as_str())
        .collect();
    orgs.sort_unstable();
    orgs.dedup();
    let mut hooked =
        QueryBuilder::<Sqlite>::new("SELECT DISTINCT org FROM webhooks WHERE org IN (");
    let mut list = hooked.separated(", ");
    for org in &orgs {
        list.push_bind(*org);
    }
    hooked.push(")");
    let with_webhooks: Vec<String> = hooked.build_query_scalar().fetch_all(&mut *tx).await?;
    for pending in group {
        if with_webhooks
            .iter()
            .any(|o| o == pending.record.request.traveller.org.as_str())
        {
            enqueue_event(&mut *tx, &pending.record, &pending.audit).await?;
        }
    }
    Ok(())
}

fn failed_all(n: usize, e: &StoreError) -> Vec<Result<(), StoreError>> {
    (0..n)
        .map(|_| Err(StoreError::Unavailable(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::statement_chunks;

    #[test]
    fn statements_come_in_powers_of_two_up_to_64_rows() {
        let sizes = |n: usize| {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows).collect();
            assert_eq!(chunks.concat(), rows, "every row once, in order");
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(70), [64, 4, 2]);
        assert_eq!(sizes(63), [32, 16, 8, 4, 2, 1]);
        assert_eq!(sizes(200), [64, 64, 64, 8]);
    }
}
