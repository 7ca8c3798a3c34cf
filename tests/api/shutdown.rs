//! SIGTERM while submissions pour in: the server stops taking new connections, finishes what
//! it has, exits 0, and every request it acknowledged is in the store.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clearway::auth::{Role, issue_development_token};
use clearway::config::Settings;
use serde_json::Value;
use uuid::Uuid;

use super::support::{Submission, config_dir, read, redis_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clearway.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_clearway"))
        .args(["serve", "--demo"])
        .env("CLEARWAY_CONFIG_DIR", config_dir())
        .env("CLEARWAY_ENV", "development")
        .env("CLEARWAY__SERVER__PORT", port.to_string())
        .env("CLEARWAY__SERVER__SHUTDOWN_TIMEOUT_SECS", "10")
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the clearway binary starts");
    let base = format!("http://127.0.0.1:{port}");
    clearway::startup::install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let started = Instant::now();
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let auth = Settings::load(&config_dir(), "development").unwrap().auth;
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let submitters: Vec<_> = (0..16)
        .map(|n| {
            let (client, base, acknowledged) = (client.clone(), base.clone(), acknowledged.clone());
            let traveller = format!("traveller-{n}");
            let token =
                issue_development_token(&auth, &traveller, &[Role::Traveller], Some("UNICEF"), 10)
                    .unwrap();
            let trip = Submission::for_traveller(&traveller, "UNICEF").leg("CHE-GVA", 3, 6);
            tokio::spawn(async move {
                // Until the server stops answering: refused connections end the loop.
                while let Ok(response) = client
                    .post(format!("{base}/v1/clearance-requests"))
                    .bearer_auth(&token)
                    .json(&trip.json)
                    .send()
                    .await
                {
                    let (status, body): (u16, Value) = read(response).await;
                    if status == 201 {
                        acknowledged.lock().unwrap().push((
                            body["id"].as_str().unwrap().to_owned(),
                            body["status"].as_str().unwrap().to_owned(),
                        ));
                    } else {
                        assert_eq!(status, 503, "only 'not stored, retry' may fail: {body}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = acknowledged.lock().unwrap().len();
    assert!(before > 0, "submissions were flowing before the signal");
    let terminated = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let stopped = Instant::now();
    let exit = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(20),
            "the server did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    for submitter in submitters {
        submitter.await.unwrap();
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let stored: std::collections::HashMap<String, String> =
        sqlx::query_as("SELECT request_id, to_status FROM audit_log WHERE seq = 1")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    for (id, status) in &acknowledged {
        assert_eq!(
            stored.get(id),
            Some(status),
            "acknowledged {id} is stored as answered"
        );
    }
    println!(
        "{} acknowledged ({} before SIGTERM), all stored; stopped in {:?}",
        acknowledged.len(),
        before,
        stopped.elapsed()
    );
}
