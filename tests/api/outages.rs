//! Outages under load: the cache's Redis killed and restarted, the database unreachable, the
//! disk full. Decisions continue where they can; where they cannot, the answer is 503 and
//! nothing is acknowledged that was not stored; and the service recovers without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::support::{
    OwnRedis, Submission, TestApp, assert_all_stored, eventually, readiness, redis_entry,
    submit_until,
};

#[tokio::test]
async fn redis_killed_and_restarted_under_load_costs_no_decision() {
    let mut redis = OwnRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(|s| {
        s.redis.url = url.clone();
        s.cache.local_ttl_ms = 50; // lookups go past the in-process tier all the time
    })
    .await;
    app.area("TST-LOAD", Some("low")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let app = &app;
        async move { submit_until(app, "TST-LOAD", 8, stop).await }
    };
    let outage = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        redis.stop(); // SIGKILL
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let degraded = readiness(&app).await;
        redis.restart();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        stop.store(true, Ordering::Relaxed);
        degraded
    };
    let (outcome, degraded) = tokio::join!(load, outage);
    assert!(
        outcome.unexpected.is_empty(),
        "{:?}",
        &outcome.unexpected[..outcome.unexpected.len().min(5)]
    );
    assert_eq!(
        (degraded.0, degraded.1["redis"].as_str()),
        (200, Some("down")),
        "{:?}",
        degraded.1
    );
    assert!(outcome.acknowledged.values().all(|s| s == "cleared"));
    assert_all_stored(&app, &outcome).await;
    let prefix = app.settings.redis.key_prefix.clone();
    let refilled = eventually(Duration::from_secs(5), async || {
        let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOAD", 2, 4);
        let _ = app.submit(&app.traveller("alice", "UNICEF"), &trip).await;
        redis_entry(&url, &prefix, "TST-LOAD").await.is_some()
    })
    .await;
    assert!(refilled, "the cache did not refill after Redis came back");
    println!(
        "Redis outage under load: {} acknowledged, all stored; answers {:?}",
        outcome.acknowledged.len(),
        outcome.statuses
    );
}

/// A small tmpfs of the test's own, which the test can fill and then grow.
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root: run this test as root"
        );
        SmallDisk { path, _dir: dir }
    }

    fn grow(&self, megabytes: u32) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={megabytes}m")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test]
#[ignore = "mounts a small tmpfs, so needs root; .ci/run runs it (cargo test -- --include-ignored)"]
async fn a_full_disk_refuses_with_503_loses_nothing_acknowledged_and_recovers() {
    let disk = SmallDisk::mount(3);
    let file = disk.path.join("clearway.db");
    let app =
        TestApp::spawn_with(|s| s.database.url = format!("sqlite://{}", file.display())).await;
    app.area("TST-DISK", Some("low")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let app = &app;
        async move { submit_until(app, "TST-DISK", 8, stop).await }
    };
    let fill_then_grow = async {
        // Until the disk is full and refusals have gone on for a while.
        let full = eventually(Duration::from_secs(60), async || disk_nearly_full(&disk)).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        disk.grow(512);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        stop.store(true, Ordering::Relaxed);
        full
    };
    let (outcome, full) = tokio::join!(load, fill_then_grow);
    assert!(full, "the disk never filled up");
    assert!(
        outcome.unexpected.is_empty(),
        "{:?}",
        &outcome.unexpected[..outcome.unexpected.len().min(5)]
    );
    assert!(
        outcome.statuses.get(&503).is_some_and(|n| *n > 0),
        "no request was refused: {:?}",
        outcome.statuses
    );
    assert_all_stored(&app, &outcome).await;
    // Recovered without a restart: new requests are accepted and stored.
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-DISK", 2, 4);
    let (status, body) = app.submit(&app.traveller("alice", "UNICEF"), &trip).await;
    assert_eq!(status, 201, "{body}");
    println!(
        "disk full under load: {} acknowledged, all stored; answers {:?}",
        outcome.acknowledged.len(),
        outcome.statuses
    );
}

fn disk_nearly_full(disk: &SmallDisk) -> bool {
    let output = std::process::Command::new("df")
        .args(["--output=avail", "-k"])
        .arg(&disk.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|kb| kb < 64)
}

/// An idle instance learns within seconds that Redis went away (issue 25, finding 7): it
/// pings Redis while it is up instead of waiting for a call to fail.
#[tokio::test]
async fn readiness_learns_within_seconds_that_an_idle_redis_went_away() {
    let mut redis = OwnRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(|s| {
        s.redis.url = url.clone();
        s.redis.health_check_interval_ms = 500;
    })
    .await;
    assert_eq!(readiness(&app).await.1["redis"], "up");
    redis.stop();
    let started = std::time::Instant::now();
    assert!(
        eventually(Duration::from_secs(5), async || {
            readiness(&app).await.1["redis"] == "down"
        })
        .await,
        "readyz still says Redis is up"
    );
    println!(
        "an idle instance saw Redis down after {:?}",
        started.elapsed()
    );
    redis.restart();
    assert!(
        eventually(
            Duration::from_secs(5),
            async || readiness(&app).await.1["redis"] == "up"
        )
        .await
    );
}

/// Redis reached over TLS (a private CA named by `redis.ca_file`) with a password.
#[tokio::test]
async fn redis_over_tls_with_a_password_caches_area_risk() {
    let redis = OwnRedis::start_with(true, Some("redis-test-password-1"));
    let (url, ca_file) = (redis.url(), redis.ca_file());
    assert!(url.starts_with("rediss://:redis-test-password-1@"));
    let app = TestApp::spawn_with(|s| {
        s.redis.url = url.clone();
        s.redis.ca_file = ca_file.clone();
    })
    .await;
    assert_eq!(readiness(&app).await.1["redis"], "up");
    app.area("TST-TLS", Some("low")).await;
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-TLS", 2, 4);
    let (status, _) = app.submit(&app.traveller("alice", "UNICEF"), &trip).await;
    assert_eq!(status, 201);
    // The entry is in that Redis, read back by redis-cli over TLS with the password.
    let key = format!("{}area:TST-TLS", app.settings.redis.key_prefix);
    let cli = std::process::Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(ca_file.as_ref().unwrap())
        .args(["-p", &redis.port.to_string(), "--no-auth-warning", "-a"])
        .args(["redis-test-password-1", "EXISTS", &key])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&cli.stdout).trim(), "1", "{cli:?}");

    // The wrong password, or a CA that did not sign the server's certificate: Redis is down
    // for this instance (it decides from the store), never used unauthenticated.
    let wrong = url.replace("redis-test-password-1", "wrong-password");
    let other = OwnRedis::start_with(true, None);
    let other_ca = other.ca_file();
    for (url, ca_file) in [(wrong, ca_file.clone()), (url.clone(), other_ca)] {
        let app = TestApp::spawn_with(|s| {
            s.redis.url = url.clone();
            s.redis.ca_file = ca_file.clone();
        })
        .await;
        let (status, ready) = readiness(&app).await;
        assert_eq!(
            (status, &ready["redis"]),
            (200, &serde_json::json!("down")),
            "{url}"
        );
    }
}
