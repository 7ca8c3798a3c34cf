//! The SQLite store stays whole while other processes use it, and tells the truth when its
//! disk fails: the sqlite3 shell, its `.backup`, the CLI and a second server beside a serving
//! instance at load; `clearway backup` restored; a log flush that fails.
//!
//! Each test runs the real binary (`process::Server`) on a database of its own and uses the
//! outside tools as an operator would: Debian's `sqlite3` (`.ci/run` installs it).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clearway::auth::Role;
use serde_json::{Value, json};

use super::process::{
    Acknowledged, Refused, Server, assert_all_indexed, assert_all_stored, clearway,
};
use super::support::Submission;

/// `sqlite3 DB SQL` from a second process; its output, or a failure with what it said.
fn sqlite3(db: &Path, sql: &str) -> String {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 is installed (Debian's package sqlite3)");
    assert!(
        output.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn succeeded(what: &str, output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The log and its index exist while the server has the database open: SQLite's to manage.
fn assert_log_in_place(db: &Path, after: &str) {
    for suffix in ["-wal", "-shm"] {
        let mut file = db.as_os_str().to_owned();
        file.push(suffix);
        assert!(
            Path::new(&file).exists(),
            "{} vanished after {after}",
            Path::new(&file).display()
        );
    }
}

/// An area of its own with one published SRA, in the import file's format.
fn import_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("side-import.json");
    let file = json!({
        "areas": [{"code": "TST-SIDE", "name": "Side import", "country": "Testland"}],
        "sras": [{
            "area": "TST-SIDE", "version": 1,
            "effective_from": "today-10d", "review_due": "today+300d",
            "security_level": 1,
            "threats": [{"name": "Petty crime", "likelihood": "unlikely", "impact": "minor"}],
            "mandatory_measures": [], "requires_ssafe": false
        }]
    });
    std::fs::write(&path, file.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_processes_on_the_live_database_change_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clearway.db");
    let mut server = Server::start(&db).await;
    let (acknowledged, refused) = (Acknowledged::default(), Refused::default());
    let submitters = server.submit_until_down(8, &acknowledged, &refused);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let count: i64 = sqlite3(&db, "SELECT count(*) FROM clearance_requests")
        .parse()
        .unwrap();
    assert!(count > 0, "submissions were flowing");
    assert_log_in_place(&db, "a sqlite3 read");

    let shell_backup = dir.path().join("shell-backup.db");
    sqlite3(&db, &format!(".backup '{}'", shell_backup.display()));
    assert_log_in_place(&db, "sqlite3 .backup");

    let verified = succeeded(
        "clearway audit verify",
        &clearway(&db, &["audit", "verify"]),
    );
    assert!(verified.contains("audit trail intact"), "{verified}");
    assert_log_in_place(&db, "clearway audit verify");

    let file = import_file(dir.path());
    let imported = succeeded(
        "clearway sra import",
        &clearway(&db, &["sra", "import", file.to_str().unwrap()]),
    );
    assert!(imported.contains("1 areas created"), "{imported}");
    assert_log_in_place(&db, "clearway sra import");

    let second = clearway(&db, &["serve"]);
    assert!(!second.status.success(), "a second server on the same file");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("another clearway is serving")
            && said.contains(&format!("pid {}", server.pid())),
        "the refusal names the running instance: {said}"
    );
    assert_log_in_place(&db, "a second clearway serve");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_kill = acknowledged.lock().unwrap().len();
    server.signal("-KILL");
    server.wait(Duration::from_secs(10)).await;
    for submitter in submitters {
        submitter.await.unwrap();
    }
    drop(server);
    assert_eq!(
        refused.load(Ordering::Relaxed),
        0,
        "no submission was refused while the others used the database"
    );
    assert!(
        before_kill > count as usize,
        "submissions went on after the others"
    );

    let survivor = Server::start(&db).await;
    drop(survivor);
    assert_eq!(sqlite3(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(sqlite3(&shell_backup, "PRAGMA integrity_check"), "ok");
    assert_all_indexed(&db).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored = assert_all_stored(&db, &acknowledged).await;
    assert_eq!(
        sqlite3(
            &db,
            "SELECT count(*) FROM sras WHERE area_code = 'TST-SIDE'"
        ),
        "1",
        "the import beside the server was kept"
    );
    println!(
        "{} acknowledged beside sqlite3, .backup, audit verify, sra import and a second serve; \
         all stored after SIGKILL ({stored} in the store)",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_holds_every_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clearway.db");
    let mut server = Server::start(&db).await;
    let (acknowledged, refused) = (Acknowledged::default(), Refused::default());
    let submitters = server.submit_until_down(8, &acknowledged, &refused);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before_backup = acknowledged.lock().unwrap().clone();
    assert!(!before_backup.is_empty(), "submissions were flowing");
    let backup = dir.path().join("backups").join("clearway-backup.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let said = succeeded(
        "clearway backup",
        &clearway(&db, &["backup", backup.to_str().unwrap()]),
    );
    assert!(said.contains("integrity ok"), "{said}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("-TERM");
    server.wait(Duration::from_secs(20)).await;
    for submitter in submitters {
        submitter.await.unwrap();
    }
    assert_eq!(
        refused.load(Ordering::Relaxed),
        0,
        "the backup refused nothing"
    );

    // Restore as the operations guide says: the copy becomes the database of a new server.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored = restored_dir.path().join("clearway.db");
    std::fs::copy(&backup, &restored).unwrap();
    let server = Server::start(&restored).await;
    let (some_id, _) = before_backup.last().unwrap().clone();
    let token = server.token("traveller-0", &[Role::Admin], None);
    let response = reqwest::Client::new()
        .get(format!("{}/v1/clearance-requests/{some_id}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the restored server serves {some_id}"
    );
    drop(server);
    assert_eq!(sqlite3(&restored, "PRAGMA integrity_check"), "ok");
    let stored = assert_all_stored(&restored, &before_backup).await;
    assert!(stored as usize >= before_backup.len());
    println!(
        "backup under load: {} acknowledged before it began, all in the restored copy ({stored} requests)",
        before_backup.len()
    );
}

/// An `LD_PRELOAD` library that makes `fsync` and `fdatasync` of any `-wal` file by the
/// new-request writer's thread fail with EIO once the file `$CLEARWAY_TEST_FAIL_FSYNC_WHEN`
/// exists: a disk that loses the flush of a new request's commit, under the real binary and
/// the real SQLite, with no seam in the service itself. (The writer's thread, so that the
/// fault hits the request's commit, not its Idempotency-Key's claim just before it.)
fn failing_fsync_library(dir: &Path) -> std::path::PathBuf {
    let source = dir.join("failing_fsync.c");
    std::fs::write(
        &source,
        r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int failing(int fd) {
    const char *trigger = getenv("CLEARWAY_TEST_FAIL_FSYNC_WHEN");
    if (!trigger || access(trigger, F_OK) != 0) return 0;
    char thread[17] = {0};
    prctl(PR_GET_NAME, thread);
    if (strcmp(thread, "clearway-writer") != 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 4) return 0;
    path[n] = 0;
    return strcmp(path + n - 4, "-wal") == 0;
}

int fsync(int fd) {
    if (failing(fd)) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    if (failing(fd)) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
"#,
    )
    .unwrap();
    let library = dir.join("libfailing_fsync.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output()
        .expect("a C compiler (cc) is installed");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    library
}

async fn submit(server: &Server, token: &str, trip: &Value, key: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/clearance-requests", server.base))
        .bearer_auth(token)
        .json(trip);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_log_flush_answers_outcome_unknown_and_the_retry_finds_the_stored_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clearway.db");
    let library = failing_fsync_library(dir.path());
    let trigger = dir.path().join("fail-now");
    let mut server = Server::start_with(
        &db,
        &[
            ("LD_PRELOAD", library.to_str().unwrap()),
            ("CLEARWAY_TEST_FAIL_FSYNC_WHEN", trigger.to_str().unwrap()),
        ],
    )
    .await;
    let token = server.token("alice", &[Role::Traveller], Some("UNICEF"));
    let trip = Submission::for_traveller("alice", "UNICEF")
        .leg("CHE-GVA", 3, 6)
        .set("/purpose", json!("the trip whose flush fails"))
        .json;
    let (status, body) = submit(&server, &token, &trip, None).await;
    assert_eq!(status, 201, "before the fault: {body}");

    std::fs::write(&trigger, b"").unwrap();
    let (status, body) = submit(&server, &token, &trip, Some("trip-42")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_outcome_unknown")),
        "{body}"
    );
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "not ready once writes stopped");
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["store"], "stopped", "{ready}");
    assert!(
        ready["reason"].as_str().unwrap_or("").contains("restart"),
        "{ready}"
    );
    // The disk is fine again, but the service does not build on a log it cannot trust.
    std::fs::remove_file(&trigger).unwrap();
    let (status, body) = submit(&server, &token, &trip, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "writes stay stopped until restart: {body}"
    );
    server.signal("-KILL");
    server.wait(Duration::from_secs(10)).await;
    drop(server);

    // "Outcome unknown" is exactly that: SQLite syncs the log's header before a commit's
    // frames when the log starts again from its beginning, and its frames after; a failed
    // header sync leaves the commit unwritten, a failed frame sync leaves it written and
    // recovered at restart. Either way the retry with the same key ends with one copy.
    let server = Server::start(&db).await;
    let stored = || {
        sqlite3(
            &db,
            "SELECT id FROM clearance_requests WHERE traveller_id = 'alice' \
             AND json_extract(request, '$.purpose') = 'the trip whose flush fails' ORDER BY id",
        )
    };
    let ids: Vec<String> = stored().lines().map(str::to_owned).collect();
    assert!(
        (1..=2).contains(&ids.len()),
        "the first trip, and the one of unknown outcome at most once: {ids:?}; the servers' log:\n{}",
        server.log()
    );
    let (status, body) = submit(&server, &token, &trip, Some("trip-42")).await;
    assert_eq!(status, 201, "the retry is answered as stored: {body}");
    let after: Vec<String> = stored().lines().map(str::to_owned).collect();
    assert_eq!(
        after.len(),
        2,
        "one copy of each trip after the retry: {after:?}"
    );
    if ids.len() == 2 {
        assert_eq!(
            body["id"].as_str(),
            Some(ids[1].as_str()),
            "the retry returns the request the first attempt stored"
        );
    }
    println!(
        "the commit of unknown outcome was {} at restart",
        if ids.len() == 2 {
            "recovered"
        } else {
            "not written"
        }
    );
    let (status, again) = submit(&server, &token, &trip, Some("trip-42")).await;
    assert_eq!(
        (status, &again["id"]),
        (201, &body["id"]),
        "replayed from now on"
    );
    drop(server);
    assert_eq!(sqlite3(&db, "PRAGMA integrity_check"), "ok");
}
