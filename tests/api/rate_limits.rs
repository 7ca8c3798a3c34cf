//! Rate limits: per client address before authentication, per caller by role after; 429
//! with Retry-After over the limit; probes are never limited.

use clearway::auth::Role;

use super::support::TestApp;

/// The IETF RateLimit fields as a structured-field parser reads them: for each list item,
/// the policy's name and its integer parameters.
fn fields(headers: &reqwest::header::HeaderMap, name: &str) -> Vec<(String, Vec<(String, i64)>)> {
    let raw = headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .as_bytes();
    let list: sfv::List = sfv::Parser::new(raw)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    list.into_iter()
        .map(|entry| {
            let sfv::ListEntry::Item(item) = entry else {
                panic!("{name}: an inner list")
            };
            let sfv::BareItem::String(policy) = &item.bare_item else {
                panic!("{name}: the policy is not a string")
            };
            let params = item
                .params
                .iter()
                .map(|(key, value)| match value {
                    sfv::BareItem::Integer(n) => (key.as_str().to_owned(), i64::from(*n)),
                    other => panic!("{name}: {key:?} = {other:?}"),
                })
                .collect();
            (policy.as_str().to_owned(), params)
        })
        .collect()
}

fn param(params: &[(String, i64)], key: &str) -> i64 {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap()
}

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
    // Each answer says where the client stands: the address's policy, then the role's.
    let list = || {
        app.client
            .get(app.url("/v1/clearance-requests"))
            .bearer_auth(&alice)
            .send()
    };
    for remaining in (0..3).rev() {
        let response = list().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let policies = fields(response.headers(), "ratelimit-policy");
        let names: Vec<&str> = policies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ip", "traveller"]);
        assert_eq!(
            (param(&policies[1].1, "q"), param(&policies[1].1, "w")),
            (3, 60)
        );
        let state = fields(response.headers(), "ratelimit");
        assert_eq!(state[1].0, "traveller");
        assert_eq!(param(&state[1].1, "r"), remaining);
        let reset = param(&state[1].1, "t");
        assert!((1..=60).contains(&reset), "{reset}");
    }
    let response = list().await.unwrap();
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
    let state = fields(response.headers(), "ratelimit");
    assert_eq!(state.len(), 1);
    assert_eq!(param(&state[0].1, "r"), 0);
    assert!(param(&state[0].1, "t") >= retry_after as i64);
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
    // Probes are never limited, however often they come, and say nothing of limits.
    for _ in 0..20 {
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers().get("ratelimit").is_none());
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
