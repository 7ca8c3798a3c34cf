//! The database unreachable under load (PostgreSQL, so it runs with the PostgreSQL suite):
//! requests are refused with 503 while it is, nothing acknowledged is lost, and the service
//! recovers without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::support::{
    CuttableProxy, Submission, TestApp, assert_all_stored, readiness, submit_until,
};

/// PostgreSQL behind a proxy the test cuts: every connection dropped, new ones refused, for two
/// seconds under load; then restored.
#[tokio::test]
async fn the_database_unreachable_under_load_refuses_with_503_and_recovers() {
    let proxy = CuttableProxy::start("127.0.0.1:5432").await;
    let through = format!("127.0.0.1:{}", proxy.port);
    let app = TestApp::spawn_with(|s| {
        s.database.url = s.database.url.replace("127.0.0.1:5432", &through);
    })
    .await;
    app.area("TST-PG", Some("low")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let app = &app;
        async move { submit_until(app, "TST-PG", 8, stop).await }
    };
    let partition = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        let during = readiness(&app).await;
        proxy.restore();
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        stop.store(true, Ordering::Relaxed);
        during
    };
    let (outcome, during) = tokio::join!(load, partition);
    assert!(
        outcome.unexpected.is_empty(),
        "{:?}",
        &outcome.unexpected[..outcome.unexpected.len().min(5)]
    );
    assert_eq!(
        (during.0, during.1["store"].as_str()),
        (503, Some("down")),
        "{:?}",
        during.1
    );
    assert!(
        outcome.statuses.get(&503).is_some_and(|n| *n > 0),
        "nothing was refused: {:?}",
        outcome.statuses
    );
    assert_all_stored(&app, &outcome).await;
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-PG", 2, 4);
    let (status, body) = app.submit(&app.traveller("alice", "UNICEF"), &trip).await;
    assert_eq!(status, 201, "recovered without a restart: {body}");
    println!(
        "database unreachable under load: {} acknowledged, all stored; answers {:?}",
        outcome.acknowledged.len(),
        outcome.statuses
    );
}
