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
