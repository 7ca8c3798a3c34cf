//! Area risk is read through Redis; when Redis goes away the service keeps deciding from the
//! store, and when it returns the cache catches up.

use std::time::Duration;

use serde_json::Value;

use super::support::{OwnRedis, Submission, TestApp, eventually, redis_entry, reserved_port};

async fn readiness(app: &TestApp) -> Value {
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn publication_writes_the_area_through_to_redis_under_the_instances_prefix() {
    let app = TestApp::spawn().await;
    let area = app.area("TST-CACHED", Some("medium")).await;
    let entry = app
        .redis_entry("TST-CACHED")
        .await
        .expect("written through on publication");
    assert_eq!(entry["sras"][0]["residual_risk"], "medium");
    area.publish(2, "high", 0, 100, false, &[]).await;
    let entry = app.redis_entry("TST-CACHED").await.unwrap();
    assert_eq!(entry["sras"].as_array().unwrap().len(), 2);
    assert_eq!(readiness(&app).await["redis"], "up");
}

#[tokio::test]
async fn the_service_keeps_deciding_when_redis_stops_and_catches_up_when_it_returns() {
    let mut redis = OwnRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(|s| {
        s.redis.url = url.clone();
        s.cache.local_ttl_ms = 100;
    })
    .await;
    let prefix = app.settings.redis.key_prefix.clone();
    let area = app.area("TST-OUTAGE", Some("low")).await;
    let token = app.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-OUTAGE", 2, 4);
    let (_, body) = app.submit(&token, &trip).await;
    assert_eq!(body["status"], "cleared");
    assert!(redis_entry(&url, &prefix, "TST-OUTAGE").await.is_some());

    redis.stop();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(150)).await; // past the in-process TTL: every lookup misses
        let (status, body) = app.submit(&token, &trip).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (201, Some("cleared")),
            "{body}"
        );
    }
    let ready = readiness(&app).await;
    assert_eq!(
        (ready["status"].as_str(), ready["redis"].as_str()),
        (Some("degraded"), Some("down")),
        "{ready}"
    );

    // A publication while Redis is down is decided on at once, from the store.
    area.publish(2, "high", -1, 100, false, &[]).await;
    let (status, body) = app.submit(&token, &trip).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("refused")),
        "{body}"
    );

    redis.restart();
    assert!(
        eventually(
            Duration::from_secs(5),
            async || readiness(&app).await["redis"] == "up"
        )
        .await
    );
    let refilled = eventually(Duration::from_secs(5), async || {
        let _ = app.submit(&token, &trip).await;
        redis_entry(&url, &prefix, "TST-OUTAGE")
            .await
            .is_some_and(|e| e["sras"].as_array().is_some_and(|s| s.len() == 2))
    })
    .await;
    assert!(
        refilled,
        "the cache refills from the store with the version published during the outage"
    );
    let (_, body) = app.submit(&token, &trip).await;
    assert_eq!(body["status"], "refused");
}

#[tokio::test]
async fn the_service_starts_and_decides_without_redis() {
    let closed_port = reserved_port();
    let app =
        TestApp::spawn_with(|s| s.redis.url = format!("redis://127.0.0.1:{closed_port}/0")).await;
    app.area("TST-NOREDIS", Some("low")).await;
    let token = app.traveller("alice", "UNICEF");
    let (status, body) = app
        .submit(
            &token,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-NOREDIS", 1, 2),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (201, Some("cleared")));
    let ready = readiness(&app).await;
    assert_eq!(
        (ready["status"].as_str(), ready["store"].as_str()),
        (Some("degraded"), Some("up"))
    );
}

#[tokio::test]
async fn a_publication_through_one_instance_reaches_the_others_decisions_within_a_second() {
    let a = TestApp::spawn().await;
    let (url, prefix) = (
        a.settings.database.url.clone(),
        a.settings.redis.key_prefix.clone(),
    );
    // Instance B shares A's database and Redis prefix, with a long in-process TTL so that only
    // the announcement can make it see the change in time.
    let b = TestApp::spawn_with(|s| {
        s.database.url = url;
        s.redis.key_prefix = prefix;
        s.cache.local_ttl_ms = 60_000;
    })
    .await;
    let area = a.area("TST-SHARED", Some("medium")).await;
    let token = b.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-SHARED", 3, 5);
    let (_, before) = b.submit(&token, &trip).await;
    assert_eq!(
        before["status"], "cleared",
        "B has the area in its in-process tier now"
    );

    area.publish(2, "high", -1, 100, false, &[]).await;
    let published = std::time::Instant::now();
    let seen = eventually(Duration::from_secs(1), async || {
        let (_, body) = b.submit(&token, &trip).await;
        body["status"] == "refused"
    })
    .await;
    assert!(
        seen,
        "B still decides on the old SRA after {:?}",
        published.elapsed()
    );
}
