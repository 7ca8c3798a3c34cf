//! The real `clearway` binary as a process of the test's own, on a SQLite file that outlives
//! it, and clients that submit until it stops answering: for signals and crashes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clearway::auth::{Role, issue_development_token};
use clearway::config::Settings;
use serde_json::Value;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::support::{Submission, config_dir, redis_url, reserved_port};

/// Requests the server answered 201: id and status.
pub type Acknowledged = Arc<Mutex<Vec<(String, String)>>>;

/// Submissions the server answered 503 ("not stored, retry").
pub type Refused = Arc<std::sync::atomic::AtomicUsize>;

pub struct Server {
    child: Child,
    pub base: String,
    pub db: PathBuf,
}

/// The binary to run: `CLEARWAY_BIN` (a release build, say, as deployed), or the one cargo
/// built for this test run.
fn binary() -> std::path::PathBuf {
    std::env::var_os("CLEARWAY_BIN")
        .filter(|p| !p.is_empty())
        .map_or_else(|| env!("CARGO_BIN_EXE_clearway").into(), Into::into)
}

impl Server {
    /// Starts `clearway serve --demo` on `db` (created if new) and waits until it is ready.
    pub async fn start(db: &Path) -> Server {
        Self::start_with(db, &[]).await
    }

    /// `start`, with more environment variables for the process.
    pub async fn start_with(db: &Path, env: &[(&str, &str)]) -> Server {
        let port = reserved_port();
        // The server's log, beside its database, for a test to show when it fails.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(db))
            .unwrap();
        let child = clearway_command(db, &["serve", "--demo"])
            .env("CLEARWAY__SERVER__PORT", port.to_string())
            .env("CLEARWAY__SERVER__SHUTDOWN_TIMEOUT_SECS", "10")
            .env("CLEARWAY__LOG__FILTER", "info,clearway=debug")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the clearway binary starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db: db.to_owned(),
        };
        clearway::startup::install_tls_provider();
        let client = reqwest::Client::new();
        let started = Instant::now();
        while !client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// A development token for this server (every `Server` runs the development settings).
    pub fn token(&self, sub: &str, roles: &[Role], org: Option<&str>) -> String {
        let auth = Settings::load(&config_dir(), "development").unwrap().auth;
        issue_development_token(&auth, sub, roles, org, 10).unwrap()
    }

    /// What every server started on this database logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(log_path(&self.db)).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to end; returns its status and how long that took.
    pub async fn wait(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(started.elapsed() < within, "the server did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `n` clients submitting low-risk trips until the server stops answering; each 201 is
    /// recorded in `acknowledged`, each 503 counted in `refused`.
    pub fn submit_until_down(
        &self,
        n: usize,
        acknowledged: &Acknowledged,
        refused: &Refused,
    ) -> Vec<JoinHandle<()>> {
        clearway::startup::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        let auth = Settings::load(&config_dir(), "development").unwrap().auth;
        (0..n)
            .map(|i| {
                let (client, base, acknowledged, refused) = (
                    client.clone(),
                    self.base.clone(),
                    acknowledged.clone(),
                    refused.clone(),
                );
                let traveller = format!("traveller-{i}");
                let token = issue_development_token(
                    &auth,
                    &traveller,
                    &[Role::Traveller],
                    Some("UNICEF"),
                    10,
                )
                .unwrap();
                let trip = Submission::for_traveller(&traveller, "UNICEF").leg("CHE-GVA", 3, 6);
                tokio::spawn(async move {
                    // A refused or broken connection ends the loop: the server is gone.
                    while let Ok(response) = client
                        .post(format!("{base}/v1/clearance-requests"))
                        .bearer_auth(&token)
                        .json(&trip.json)
                        .send()
                        .await
                    {
                        let status = response.status().as_u16();
                        let Ok(body) = response.text().await else {
                            break;
                        };
                        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        if status == 201 {
                            acknowledged.lock().unwrap().push((
                                body["id"].as_str().unwrap().to_owned(),
                                body["status"].as_str().unwrap().to_owned(),
                            ));
                        } else {
                            assert_eq!(status, 503, "only 'not stored, retry' may fail: {body}");
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect()
    }
}

/// `clearway ARGS` on `db`, in development, with a Redis prefix of its own.
fn clearway_command(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env("CLEARWAY_CONFIG_DIR", config_dir())
        .env("CLEARWAY_ENV", "development")
        .env("CLEARWAY__SERVER__PORT", "0")
        .env(
            "CLEARWAY__DATABASE__URL",
            format!("sqlite://{}", db.display()),
        )
        .env("CLEARWAY__REDIS__URL", redis_url())
        .env(
            "CLEARWAY__REDIS__KEY_PREFIX",
            format!("clearway-test:{}:", Uuid::new_v4().simple()),
        )
        .env("CLEARWAY__RATE_LIMITS__ENABLED", "false")
        .env("CLEARWAY__LOG__FILTER", "warn")
        .env("RUST_BACKTRACE", "0");
    command
}

/// Runs `clearway ARGS` against `db` as an operator would beside a running server.
pub fn clearway(db: &Path, args: &[&str]) -> std::process::Output {
    clearway_command(db, args)
        .output()
        .expect("the clearway binary runs")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every acknowledged request is stored with the decision it was answered with, and no
/// request is stored half: each has its legs and its first audit entry. Returns the number of
/// requests stored.
pub async fn assert_all_stored(db: &Path, acknowledged: &[(String, String)]) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let stored: HashMap<String, String> =
        sqlx::query_as("SELECT request_id, to_status FROM audit_log WHERE seq = 1")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    for (id, status) in acknowledged {
        assert_eq!(
            stored.get(id),
            Some(status),
            "acknowledged {id} is stored as answered"
        );
    }
    let half_written: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM clearance_requests r \
         WHERE NOT EXISTS (SELECT 1 FROM request_legs l WHERE l.request_id = r.id) \
            OR NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id AND a.seq = 1)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        half_written, 0,
        "no request is stored without its legs and audit entry"
    );
    let requests: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clearance_requests")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    requests
}

/// Every stored request is in the requests-by-traveller table, as a start leaves it: the
/// entries a killed server held only in memory are indexed again.
pub async fn assert_all_indexed(db: &Path) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let unindexed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM clearance_requests r WHERE NOT EXISTS \
         (SELECT 1 FROM requests_by_traveller t WHERE t.traveller_id = r.traveller_id AND t.id = r.id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(unindexed, 0, "every request is listed for its traveller");
}

fn log_path(db: &Path) -> PathBuf {
    db.with_extension("server.log")
}
