//! What an operator reads in the server's log: with span timings on, each store and cache
//! call appears with its time, under the id of the request that made it.

use std::time::Duration;

use super::process::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_cache_calls_are_logged_under_their_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("clearway.db"),
        &[
            ("CLEARWAY__LOG__FORMAT", "json"),
            ("CLEARWAY__LOG__SPAN_TIMINGS", "true"),
        ],
    )
    .await;
    let token = server.token("analyst-1", &[clearway::auth::Role::SecurityAnalyst], None);
    let client = reqwest::Client::new();
    for (path, id) in [
        ("/v1/areas", "trace-list-areas-1"),
        ("/v1/areas/SSD-JUB", "trace-area-risk-2"),
    ] {
        let response = client
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .header("X-Request-Id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let logged_under = |span: &str, id: &str| {
        server.log().lines().any(|line| {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
                return false;
            };
            let spans = entry["spans"].as_array().cloned().unwrap_or_default();
            entry["span"]["name"] == span
                && entry["time.busy"].is_string()
                && spans.iter().any(|s| s["request_id"] == id)
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !(logged_under("store.list_areas", "trace-list-areas-1")
        && logged_under("cache.get", "trace-area-risk-2"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no span lines under the request ids; the log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Capability links (a printed clearance's, a person's check-in) stay out of the log:
    // their paths are logged without the token.
    for path in [
        "/verify/0190d6a4-0000-7000-8000-000000000000.secret-tag-one.x",
        "/check-in/0190d6a4-0000-7000-8000-000000000000.secret-tag-two",
    ] {
        let response = client
            .get(format!("{}{path}", server.base))
            .header("X-Request-Id", "trace-capability-link")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !server.log().contains("/check-in/…") {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = server.log();
    assert!(
        !log.contains("secret-tag-one") && !log.contains("secret-tag-two"),
        "a link's token in the log:\n{log}"
    );
}
