//! Signals and crashes while submissions pour in. SIGTERM: the server stops taking new
//! connections, finishes what it has and exits 0. SIGKILL: nothing is finished, yet after a
//! restart every request that was acknowledged is there, and none is there by halves.

use std::time::Duration;

use super::process::{Acknowledged, Refused, Server, assert_all_indexed, assert_all_stored};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("clearway.db")).await;
    let acknowledged = Acknowledged::default();
    let submitters = server.submit_until_down(16, &acknowledged, &Refused::default());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = acknowledged.lock().unwrap().len();
    assert!(before > 0, "submissions were flowing before the signal");
    server.signal("-TERM");
    let (exit, took) = server.wait(Duration::from_secs(20)).await;
    assert!(exit.success(), "exit status {exit:?}");
    for submitter in submitters {
        submitter.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_all_stored(&server.db, &acknowledged).await;
    println!(
        "{} acknowledged ({before} before SIGTERM), all stored; stopped in {took:?}",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_moment_loses_no_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clearway.db");
    let acknowledged = Acknowledged::default();
    // Different moments each round, on the same database: each restart also recovers it.
    for (round, after_ms) in [(1, 150), (2, 420), (3, 77), (4, 900)] {
        let mut server = Server::start(&db).await;
        let submitters = server.submit_until_down(16, &acknowledged, &Refused::default());
        let jitter = jitter_ms(round);
        tokio::time::sleep(Duration::from_millis(after_ms + jitter)).await;
        server.signal("-KILL");
        let (exit, _) = server.wait(Duration::from_secs(10)).await;
        assert!(!exit.success(), "killed, not exited");
        for submitter in submitters {
            submitter.await.unwrap();
        }
        drop(server);
        // The restarted server must come up on what the killed one left, and index by
        // traveller what the killed one held in memory.
        let survivor = Server::start(&db).await;
        drop(survivor);
        assert_all_indexed(&db).await;
        let seen = acknowledged.lock().unwrap().clone();
        let stored = assert_all_stored(&db, &seen).await;
        println!(
            "kill {round} after {} ms: {} acknowledged so far, all stored ({stored} requests in the store)",
            after_ms + jitter,
            seen.len()
        );
    }
}

/// A few milliseconds that differ from run to run, so the kills land at new moments.
fn jitter_ms(round: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    (nanos ^ round.wrapping_mul(0x9e37_79b9)) % 50
}

/// SIGTERM while approvers watch the live queue: the streams end at once, so the server
/// stops within seconds rather than waiting out its shutdown timeout (10 s here) for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_open_event_streams_exits_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("clearway.db")).await;
    let token = server.token("hq-1", &[clearway::auth::Role::ApproverHq], None);
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let stream = client
            .get(format!("{}/v1/escalations/stream", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        streams.push(stream);
    }
    server.signal("-TERM");
    let (exit, took) = server.wait(Duration::from_secs(20)).await;
    assert!(exit.success(), "exit status {exit:?}");
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    for mut stream in streams {
        let ended = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(Some(_)) = stream.chunk().await {}
        })
        .await;
        assert!(ended.is_ok(), "a stream outlived the server");
    }
    println!("SIGTERM with 3 open event streams: stopped in {took:?}");
}

/// Stopping the application stops its background tasks too (re-screening, webhook delivery,
/// key pruning, the cache's Redis listener and probe): it returns within seconds, not after
/// its shutdown timeout, and the cache's subscription on Redis is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_every_background_task_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        clearway::config::Settings::load(&crate::support::config_dir(), "development").unwrap();
    settings.server.port = 0;
    settings.server.workers = 1;
    settings.server.shutdown_timeout_secs = 20;
    settings.database.url = format!("sqlite://{}", dir.path().join("clearway.db").display());
    settings.redis.url = crate::support::redis_url();
    settings.redis.key_prefix = format!("clearway-test:{}:", uuid::Uuid::new_v4().simple());
    settings.rescreening.run = true;
    settings.webhooks.deliver = true;
    let channel = format!("{}area-changed", settings.redis.key_prefix);
    let subscribers = || {
        let channel = channel.clone();
        async move {
            let client = redis::Client::open(crate::support::redis_url()).unwrap();
            let mut redis = client.get_multiplexed_async_connection().await.unwrap();
            let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut redis)
                .await
                .unwrap();
            counts[0].1
        }
    };
    let app = clearway::startup::Application::build(&settings)
        .await
        .expect("the application builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while subscribers().await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(25), running)
        .await
        .expect("the application stops")
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while subscribers().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache's Redis listener outlived the application"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("stopped with its background tasks in {took:?}");
}
