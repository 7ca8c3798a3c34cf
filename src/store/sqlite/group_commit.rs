//! New requests reach SQLite through one writer that commits them in groups: one COMMIT, and
//! so one flush of the log, serves every request that arrived while the last group was
//! written. (One file: the writer's loop, its batching and its failure handling are one
//! piece of state; about 70 lines are its tests.)
//!
//! The writer's connection keeps the configured `synchronous` (FULL by default), so SQLite
//! itself flushes the log inside COMMIT and an answer follows only a durable commit. Nothing
//! here opens the database or its `-wal`/`-shm` files outside SQLite: closing any descriptor
//! of a file drops every POSIX lock the process holds on it (sqlite.org, "How To Corrupt An
//! SQLite Database File", 2.2), and the next process to open it would then delete the log.
//! SQLite's own checkpointer runs in this connection after a commit fills the log past
//! `wal_autocheckpoint` pages; since this is the only connection writing new requests, the
//! checkpoint catches up and the next group starts the log again from its beginning.
//!
//! A COMMIT that fails with an I/O error (a failed fsync) may or may not have stored the
//! group: its requests are answered `OutcomeUnknown` and the store stops taking writes until
//! it is restarted (`WriteStop`), as PostgreSQL does after a failed fsync.
//!
//! The writer runs on a thread of its own and calls SQLite directly (rusqlite, over the same
//! SQLite library sqlx links). Through sqlx every statement is a message to the connection's worker
//! thread and an answer back, two thread wake-ups each; a group takes half a dozen
//! statements, and at a steady 2,000 requests a second, one or two per group, those
//! wake-ups cost more CPU than SQLite's own work.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{CachedStatement, Connection, OpenFlags, ToSql, params};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::rows::ts;
use super::sql_text::{date_text, timestamp_text};
use super::traveller_index::{Batching, Drain, Pending, Slice};
use crate::domain::audit::AuditDraft;
use crate::domain::request::RequestRecord;
use crate::domain::webhook::event_for;
use crate::metrics;
use crate::store::StoreError;
use crate::store::encoding::{PendingInsert, leg_operator, queue_stage, subscribes};
use crate::store::write_stop::{WriteStop, is_sqlite_io_error};

/// A group write slower than this is logged (at debug), so a latency tail can be
/// timed against what else the service did.
const SLOW: Duration = Duration::from_millis(10);

/// Most requests one transaction carries, unless one team alone has more.
const MAX_GROUP: usize = 256;

/// Page cache of the writer's connection: 512 pages hold the upper levels of the indexes new
/// requests go into; the leaves they land on are mostly new or read from the OS's cache of
/// the file. Larger costs more: SQLite walks the whole cache's hash table at the end of any
/// transaction that split a B-tree page, which made some group writes slow with a 16 MiB
/// cache at a fixed 2,000 requests a second.
const WRITER_CACHE_KIB: u32 = 2 * 1024;

/// Prepared statements the writer keeps: three tables in seven sizes, in two fault modes, and
/// a few more.
const STATEMENT_CACHE: usize = 64;

/// A group's answers, with when each request was queued.
type Answers = Vec<(
    oneshot::Sender<Result<(), StoreError>>,
    Result<(), StoreError>,
    Instant,
)>;

/// Where the writer's connection goes, how long it waits for a lock held elsewhere, and how
/// long a request may wait for others to share its commit.
#[derive(Clone)]
pub(super) struct Target {
    pub database: PathBuf,
    /// The `synchronous` pragma: FULL makes SQLite flush the log inside each COMMIT.
    pub synchronous: &'static str,
    pub busy_timeout: Duration,
    pub commit_window: Duration,
    /// How the requests-by-traveller entries are batched (see `traveller_index`).
    pub batching: Batching,
}

/// Starts the writer on a connection of its own to `target`. It answers each request once
/// its group's COMMIT returned, which with `synchronous = FULL` includes the log's flush.
///
/// The writer holds `write_turn` while it writes a group, so whoever takes it (another
/// writer) has the database to itself between two groups. Once `stop` is set it writes
/// nothing more.
pub(super) fn start(
    target: Target,
    write_turn: Arc<Mutex<()>>,
    traveller_index: Arc<Pending>,
    stop: Arc<WriteStop>,
) -> Result<mpsc::Sender<PendingInsert>, StoreError> {
    let conn = open(&target)?;
    let (writer, queue) = mpsc::channel(4 * MAX_GROUP);
    // The thread ends when the store is dropped and its queue closes.
    std::thread::Builder::new()
        .name("clearway-writer".into())
        .spawn(move || {
            let drain = Drain::new(traveller_index, target.batching);
            write_in_groups(target, conn, queue, &write_turn, drain, &stop)
        })
        .map_err(|e| StoreError::Unavailable(format!("writer thread: {e}")))?;
    Ok(writer)
}

/// Opens the writer's connection. It does not check foreign keys: it inserts each request
/// with its legs and audit entry in one transaction, so their references to it cannot
/// dangle; checking them would cost a lookup per row and make SQLite keep a statement journal
/// for every multi-row insert. Every other connection keeps enforcing them.
fn open(target: &Target) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        &target.database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(target.busy_timeout)?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = OFF; \
         PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA temp_store = MEMORY;",
        target.synchronous
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Commits whatever arrived while the previous group was being written as the next group, so
/// under load one commit serves many requests, and alone a request is committed at once.
fn write_in_groups(
    target: Target,
    mut conn: Connection,
    mut queue: mpsc::Receiver<PendingInsert>,
    write_turn: &Mutex<()>,
    mut drain: Drain,
    stop: &WriteStop,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = queue.blocking_recv() {
        let due = first.queued + target.commit_window;
        group.push(first);
        gather(&mut queue, &mut group);
        let gathered = group.iter().map(|p| p.unit.len()).sum();
        if let Some(wait) = wait_for_more(due, Instant::now(), gathered) {
            std::thread::sleep(wait);
            gather(&mut queue, &mut group);
        }
        let writing = Instant::now();
        let slice = drain.next_slice(group.len());
        let index_entries = slice.as_ref().map_or(0, |s| s.entries().len());
        let results = {
            let _turn = write_turn.blocking_lock();
            let (results, slice_written) = match stop.check() {
                Ok(()) => commit_group(&conn, &group, slice.as_ref(), stop),
                Err(refused) => (failed_all(group.len(), &refused), false),
            };
            if let Some(slice) = slice.filter(|_| slice_written) {
                drain.committed(&slice);
            }
            // Gathered before anyone hears back, so a traveller's list shows every request
            // they were told is stored.
            drain.gather(
                group
                    .iter()
                    .zip(&results)
                    .filter(|(_, result)| result.is_ok())
                    .flat_map(|(pending, _)| &pending.unit)
                    .map(|new| (new.record.request.traveller.id.as_str(), new.record.id)),
            );
            if drain.due(Instant::now()) {
                match last_request_row(&conn) {
                    Ok(through) => {
                        let entries = drain.seal(through);
                        tracing::debug!(entries, through, "traveller index: run sealed");
                    }
                    Err(e) => tracing::warn!(error = %e, "the traveller index waits: no last row"),
                }
            }
            if !conn.is_autocommit() {
                // A failed COMMIT (a full disk, say) whose ROLLBACK failed too leaves the
                // transaction open; a fresh connection starts clean, and closing the old one
                // rolls back what it held. A refused request (a duplicate id) leaves nothing
                // open and keeps the connection and its prepared statements.
                conn = reopen(&target, conn);
            }
            results
        };
        let took = writing.elapsed();
        metrics::record(&metrics::GROUP_WRITES, took);
        if took > SLOW {
            tracing::debug!(
                ?took,
                units = group.len(),
                index_entries,
                "slow group write"
            );
        }
        let answers: Answers = group
            .drain(..)
            .zip(results)
            .map(|(pending, result)| (pending.done, result, pending.queued))
            .collect();
        answer(answers);
    }
}

/// How long a group still waits for more requests before it is committed: until its first
/// request has waited the commit window, unless the group is already full.
///
/// Each commit writes every page it touched to the log, about a dozen even for one request,
/// since a request adds to a dozen tables and indexes: sharing commits at moderate rates
/// writes less (docs/operations.md, `database.commit_window_us`, has the figures).
/// Under heavy load the first request has already waited longer than the window while the
/// previous group was written, so nothing waits.
fn wait_for_more(due: Instant, now: Instant, gathered: usize) -> Option<Duration> {
    if gathered >= MAX_GROUP {
        return None;
    }
    due.checked_duration_since(now)
        .filter(|wait| !wait.is_zero())
}

/// Adds what is queued to the group, up to a full group.
fn gather(queue: &mut mpsc::Receiver<PendingInsert>, group: &mut Vec<PendingInsert>) {
    // Counted in requests: a team's members weigh as many.
    let mut requests: usize = group.iter().map(|p| p.unit.len()).sum();
    while requests < MAX_GROUP {
        match queue.try_recv() {
            Ok(next) => {
                requests += next.unit.len();
                group.push(next);
            }
            Err(_) => break,
        }
    }
}

fn reopen(target: &Target, old: Connection) -> Connection {
    if let Err((_, e)) = old.close() {
        tracing::warn!(error = %e, "closing the writer's connection left in a transaction");
    }
    loop {
        match open(target) {
            Ok(conn) => return conn,
            Err(e) => {
                tracing::error!(error = %e, "the writer cannot reopen the database; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

fn answer(answers: Answers) {
    for (done, result, queued) in answers {
        metrics::record(&metrics::NEW_REQUESTS_STORED, queued.elapsed());
        let _ = done.send(result);
    }
}

/// Commits the open transaction. A COMMIT that failed with an I/O error leaves the outcome
/// unknown and stops writes (`WriteStop`); after any other failure nothing was stored.
fn commit(conn: &Connection, stop: &WriteStop) -> Result<(), StoreError> {
    conn.prepare_cached("COMMIT")?.raw_execute().map(drop).map_err(|e| {
        let io = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if is_sqlite_io_error(f.extended_code));
        stop.judge_commit(e.into(), io)
    })
}

/// The last row of `clearance_requests`: every request the writer committed so far is at or
/// before it.
fn last_request_row(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(rowid), 0) FROM clearance_requests")?
        .query_row([], |row| row.get(0))
}

/// Transactions are begun and ended with plain statements. A COMMIT that returns Ok
/// committed, and after any failure a ROLLBACK leaves nothing open. Answers each request's
/// outcome, and whether `slice` of the traveller index was committed with them.
fn commit_group(
    conn: &Connection,
    group: &[PendingInsert],
    slice: Option<&Slice>,
    stop: &WriteStop,
) -> (Vec<Result<(), StoreError>>, bool) {
    // The whole group in a few multi-row statements; should any row fail, the group is
    // written again one savepoint per request, so only the faulty request is refused.
    let together = || {
        run(conn, "BEGIN")?;
        insert_all(conn, group, OnFault::RollBackAll)?;
        if let Some(slice) = slice {
            write_slice(conn, slice)?;
        }
        Ok::<_, StoreError>(())
    };
    match together() {
        Ok(()) => match commit(conn, stop) {
            Ok(()) => {
                metrics::group_committed(PendingInsert::requests(group).len());
                (group.iter().map(|_| Ok(())).collect(), slice.is_some())
            }
            // Never written again: it may be stored already.
            Err(e) => {
                abandon(conn);
                (failed_all(group.len(), &e), false)
            }
        },
        // If the database itself is the trouble, the second pass fails the same way. The
        // slice waits for the next group.
        Err(_) => {
            abandon(conn);
            (commit_one_by_one(conn, group, stop), false)
        }
    }
}

/// Adds a slice of a sealed run to the requests-by-traveller table, and with the run's last
/// slice moves the mark of what the table holds. An entry already there (indexed again at a
/// start) is left as it is.
fn write_slice(conn: &Connection, slice: &Slice) -> Result<(), StoreError> {
    let mut id = Uuid::encode_buffer();
    for chunk in statement_chunks(slice.entries()) {
        let sql = insert_sql(
            "INSERT OR IGNORE INTO",
            "requests_by_traveller",
            &["traveller_id", "id"],
            chunk.len(),
        );
        let mut statement = conn.prepare_cached(&sql)?;
        for (row, (traveller, request)) in chunk.iter().enumerate() {
            let traveller: &str = traveller;
            // Bound text is copied by SQLite, so one buffer serves every row.
            let text: &str = request.hyphenated().encode_lower(&mut id);
            bind_row(&mut statement, row, &[&traveller, &text])?;
        }
        statement.raw_execute()?;
    }
    if let Some(through) = slice.completes_through() {
        conn.prepare_cached(
            "UPDATE traveller_index SET merged_through = max(merged_through, ?) WHERE only_row = 1",
        )?
        .execute([through])?;
    }
    Ok(())
}

fn commit_one_by_one(
    conn: &Connection,
    group: &[PendingInsert],
    stop: &WriteStop,
) -> Vec<Result<(), StoreError>> {
    if let Err(e) = run(conn, "BEGIN") {
        return failed_all(group.len(), &e);
    }
    let mut results = Vec::with_capacity(group.len());
    // A unit (a team's members) is written, or undone, as one.
    for pending in group {
        let step = || {
            run(conn, "SAVEPOINT request")?;
            let written = insert_all(conn, std::slice::from_ref(pending), OnFault::UndoStatement);
            if written.is_err() {
                run(conn, "ROLLBACK TO request")?;
            }
            run(conn, "RELEASE request")?;
            Ok::<_, StoreError>(written)
        };
        match step() {
            Ok(written) => results.push(written),
            Err(e) => {
                abandon(conn);
                return failed_all(group.len(), &e);
            }
        }
    }
    match commit(conn, stop) {
        Ok(()) => {
            let stored = group
                .iter()
                .zip(&results)
                .filter(|(_, r)| r.is_ok())
                .map(|(p, _)| p.unit.len())
                .sum();
            if stored > 0 {
                metrics::group_committed(stored);
            }
            results
        }
        Err(e) => {
            abandon(conn);
            failed_all(group.len(), &e)
        }
    }
}

fn run(conn: &Connection, statement: &'static str) -> Result<(), StoreError> {
    conn.prepare_cached(statement)?.raw_execute()?;
    Ok(())
}

/// Rolls back whatever is open; an error only means nothing was.
fn abandon(conn: &Connection) {
    let _ = conn.execute_batch("ROLLBACK");
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

const REQUEST_COLUMNS: [&str; 16] = [
    "id",
    "traveller_id",
    "org",
    "submitted_by",
    "status",
    "programme_criticality",
    "first_arrival",
    "last_departure",
    "submitted_at",
    "updated_at",
    "request",
    "decision",
    "escalation",
    "stage",
    "version",
    "team_id",
];
const LEG_COLUMNS: [&str; 6] = [
    "request_id",
    "seq",
    "area_code",
    "arrival",
    "departure",
    "operator",
];
const AUDIT_COLUMNS: [&str; 11] = [
    "request_id",
    "seq",
    "at",
    "actor",
    "action",
    "from_status",
    "to_status",
    "stage",
    "comment",
    "prev_hash",
    "hash",
];

/// `INSERT ... VALUES (?, ...), ...` for `rows` rows of `columns`; `insert` is the statement's
/// start, `INSERT INTO` or a variant.
fn insert_sql(insert: &str, table: &str, columns: &[&str], rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "{insert} {table} ({}) VALUES {}",
        columns.join(", "),
        vec![row; rows].join(", ")
    )
}

/// Binds one row's values after those of the `row` rows before it.
fn bind_row(
    statement: &mut CachedStatement<'_>,
    row: usize,
    values: &[&dyn ToSql],
) -> rusqlite::Result<()> {
    let first = row * values.len();
    for (i, value) in values.iter().enumerate() {
        // SQLite numbers parameters from 1.
        statement.raw_bind_parameter(first + i + 1, value)?;
    }
    Ok(())
}

/// Writes a group of new requests with a handful of statements: requests, legs and audit
/// entries as multi-row inserts, and webhook events only for organisations that have webhooks.
fn insert_all(
    conn: &Connection,
    group: &[PendingInsert],
    on_fault: OnFault,
) -> Result<(), StoreError> {
    let requests = PendingInsert::requests(group);
    for chunk in statement_chunks(&requests) {
        let sql = insert_sql(
            on_fault.insert(),
            "clearance_requests",
            &REQUEST_COLUMNS,
            chunk.len(),
        );
        let mut statement = conn.prepare_cached(&sql)?;
        for (row, pending) in chunk.iter().enumerate() {
            let (record, text) = (&pending.record, &pending.rendered);
            let r = &record.request;
            let submitted_at = timestamp_text(record.submitted_at);
            let values: [&dyn ToSql; 16] = [
                &text.id,
                &r.traveller.id.as_str(),
                &r.traveller.org.as_str(),
                &record.submitted_by,
                &record.status.as_str(),
                &r.programme_criticality.as_str(),
                &date_text(r.legs.first_arrival()),
                &date_text(r.legs.last_departure()),
                &submitted_at,
                &submitted_at,
                &text.request,
                &text.decision,
                &text.escalation,
                &queue_stage(record),
                &record.version,
                &text.team,
            ];
            bind_row(&mut statement, row, &values)?;
        }
        statement.raw_execute()?;
    }
    let legs: Vec<(&str, usize, &crate::domain::itinerary::Leg)> = requests
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
        let sql = insert_sql(on_fault.insert(), "request_legs", &LEG_COLUMNS, chunk.len());
        let mut statement = conn.prepare_cached(&sql)?;
        for (row, (id, seq, leg)) in chunk.iter().enumerate() {
            let values: [&dyn ToSql; 6] = [
                id,
                &(*seq as i64),
                &leg.area.as_str(),
                &date_text(leg.arrival),
                &date_text(leg.departure),
                &leg_operator(leg),
            ];
            bind_row(&mut statement, row, &values)?;
        }
        statement.raw_execute()?;
    }
    for chunk in statement_chunks(&requests) {
        let sql = insert_sql(on_fault.insert(), "audit_log", &AUDIT_COLUMNS, chunk.len());
        let mut statement = conn.prepare_cached(&sql)?;
        for (row, pending) in chunk.iter().enumerate() {
            let (e, action) = (&pending.rendered.entry, &pending.rendered.action);
            let values: [&dyn ToSql; 11] = [
                &pending.rendered.id,
                &e.seq,
                &e.at,
                &e.actor,
                action,
                &e.from.map(|s| s.as_str()),
                &e.to.as_str(),
                &e.stage,
                &e.comment,
                &e.prev_hash,
                &e.hash,
            ];
            bind_row(&mut statement, row, &values)?;
        }
        statement.raw_execute()?;
    }
    // Most organisations have no webhook, and there are few webhooks: one look at which
    // organisations have any.
    let mut hooked = conn.prepare_cached("SELECT DISTINCT org FROM webhooks")?;
    let with_webhooks = hooked
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    for pending in group {
        for new in &pending.unit {
            if with_webhooks
                .iter()
                .any(|o| o == new.record.request.traveller.org.as_str())
            {
                enqueue_event(conn, &new.record, &new.audit)?;
            }
            if pending.notice {
                super::mail::enqueue_notice_sync(conn, &new.record, &new.audit)?;
            }
        }
    }
    Ok(())
}

/// Writes the new request's event to the outbox, with one delivery per subscribed webhook of
/// its organisation, in the request's own transaction (as the store's `enqueue_event` does
/// for every other change).
fn enqueue_event(
    conn: &Connection,
    record: &RequestRecord,
    audit: &AuditDraft,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let Some(event) = event_for(record, audit, now) else {
        return Ok(());
    };
    let mut hooks = conn.prepare_cached("SELECT id, events FROM webhooks WHERE org = ?")?;
    let mut subscribed = Vec::new();
    let mut rows = hooks.query([event.org.as_str()])?;
    while let Some(row) = rows.next()? {
        let (id, events): (String, String) = (row.get(0)?, row.get(1)?);
        if subscribes(&events, event.name)? {
            subscribed.push(id);
        }
    }
    if subscribed.is_empty() {
        return Ok(());
    }
    let request_id = event.request_id.to_string();
    let outbox_id: i64 = conn
        .prepare_cached(
            "INSERT INTO outbox (request_id, org, event, payload, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )?
        .query_row(
            params![
                request_id,
                event.org.as_str(),
                event.name,
                event.payload.to_string(),
                ts(now)
            ],
            |row| row.get(0),
        )?;
    let mut delivery = conn.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, outbox_id, request_id, status, next_attempt_at, public_id) VALUES (?, ?, ?, 'pending', ?, ?)",
    )?;
    for webhook_id in subscribed {
        let public_id = uuid::Uuid::new_v4().to_string();
        delivery.execute(params![
            webhook_id,
            outbox_id,
            request_id,
            ts(now),
            public_id
        ])?;
    }
    Ok(())
}

/// The same failure for each of `n` requests: unknown stays unknown, anything else is "not
/// stored".
fn failed_all(n: usize, e: &StoreError) -> Vec<Result<(), StoreError>> {
    let each = || match e {
        StoreError::OutcomeUnknown(why) => StoreError::OutcomeUnknown(why.clone()),
        other => StoreError::Unavailable(other.to_string()),
    };
    (0..n).map(|_| Err(each())).collect()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, Utc};
    use sqlx::Connection;

    use std::time::{Duration, Instant};

    use super::{MAX_GROUP, date_text, statement_chunks, timestamp_text, wait_for_more};

    #[test]
    fn a_group_waits_until_its_first_request_has_waited_the_window() {
        let queued = Instant::now();
        let due = queued + Duration::from_micros(1000);
        let ms = Duration::from_micros;
        assert_eq!(wait_for_more(due, queued + ms(200), 1), Some(ms(800)));
        assert_eq!(wait_for_more(due, queued + ms(1000), 3), None, "due now");
        assert_eq!(
            wait_for_more(due, queued + ms(5000), 1),
            None,
            "waited long enough"
        );
        assert_eq!(wait_for_more(due, queued, MAX_GROUP), None, "full");
        assert_eq!(wait_for_more(queued, queued, 1), None, "no window");
    }

    /// Rows the writer inserts are read, compared and sorted with rows other statements wrote
    /// through sqlx: the text must be the same.
    #[tokio::test]
    async fn dates_and_times_are_written_as_sqlx_writes_them() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        for raw in [
            "2026-11-26T21:30:00.123456789Z",
            "2026-11-26T21:30:00.120Z",
            "2026-11-26T21:30:00Z",
        ] {
            let at = DateTime::parse_from_rfc3339(raw)
                .unwrap()
                .with_timezone(&Utc);
            let text: String = sqlx::query_scalar("SELECT ?")
                .bind(at)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(timestamp_text(at), text, "{raw}");
        }
        let day = NaiveDate::from_ymd_opt(2027, 2, 3).unwrap();
        let text: String = sqlx::query_scalar("SELECT ?")
            .bind(day)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(date_text(day), text);
    }

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
