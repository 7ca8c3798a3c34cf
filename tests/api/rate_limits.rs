//! Rate limits: per client address before authentication, per caller by role after; 429
//! with Retry-After over the limit; probes are never limited.

use clearway::auth::Role;

use super::support::TestApp;

fn strict(s: &mut clearway::config::Settings) {
    s.rate_limits.enabled = true;
    s.rate_limits.per_ip = "1000/min".into();
    s.rate_limits.per_ip_burst = 1000;
    for quota in s.rate_limits.roles.values_mut() {
        quota.rate = "3/min".into();
        quota.burst = 3;
    }
}

#[tokio::test]
async fn a_caller_over_its_quota_gets_429_with_retry_after_and_others_do_not() {
    let app = TestApp::spawn_with(strict).await;
    let alice = app.traveller("alice", "UNICEF");
    for _ in 0..3 {
        let (status, _) = app.get("/v1/clearance-requests", &alice).await;
        assert_eq!(status, 200);
    }
    let response = app
        .client
        .get(app.url("/v1/clearance-requests"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["retry_after_seconds"], retry_after);

    // Quotas are per caller: Bob, and an analyst, still get through.
    let (status, _) = app
        .get("/v1/clearance-requests", &app.traveller("bob", "UNICEF"))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .get(
            "/v1/areas",
            &app.token("analyst-9", &[Role::SecurityAnalyst], None),
        )
        .await;
    assert_eq!(status, 200);
    // Probes are never limited, however often they come.
    for _ in 0..20 {
        let (status, _) = app.get("/healthz", "").await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn an_address_over_its_limit_is_refused_before_authentication() {
    let app = TestApp::spawn_with(|s| {
        strict(s);
        s.rate_limits.per_ip = "2/min".into();
        s.rate_limits.per_ip_burst = 2;
    })
    .await;
    for _ in 0..2 {
        let (status, body) = app.get("/v1/areas", "not-a-token").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_token"))
        );
    }
    let (status, body) = app.get("/v1/areas", "not-a-token").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    let (status, _) = app.get("/readyz", "").await;
    assert_eq!(status, 200);
}
