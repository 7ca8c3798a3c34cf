//! `/metrics`: what operators scrape, and who may.

use clearway::auth::Role;

use super::support::{Submission, TestApp};

const SCRAPE_TOKEN: &str = "prometheus-scrape-token-0123456789abcdef";

#[tokio::test]
async fn metrics_count_requests_decisions_and_the_queue_for_operators_only() {
    let app = TestApp::spawn_with(|s| s.metrics.bearer_token = SCRAPE_TOKEN.into()).await;
    app.area("TST-LOW", Some("low")).await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let alice = app.traveller("alice", "UNICEF");
    let cleared = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 3, 6);
    let escalated = Submission::for_traveller("alice", "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", 5, 8);
    for submission in [&cleared, &cleared, &escalated] {
        let (status, body) = app.submit(&alice, submission).await;
        assert_eq!(status, 201, "{body}");
    }

    let (status, body) = app.get("/metrics", "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, body) = app.get("/metrics", &alice).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));

    for token in [
        app.token("ops", &[Role::Admin], None),
        SCRAPE_TOKEN.to_owned(),
    ] {
        let response = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text; version=1.0.0")
        );
        let text = response.text().await.unwrap();
        for line in [
            r#"clearway_http_requests_total{method="POST",route="/v1/clearance-requests",status="201"} 3"#,
            r#"clearway_decisions_total{outcome="cleared"} 2"#,
            r#"clearway_decisions_total{outcome="escalated"} 1"#,
            r#"clearway_escalation_queue_depth{stage="hq"} 1"#,
            "clearway_store_up 1",
            "clearway_rescreen_jobs_pending 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        let age = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(r#"clearway_escalation_queue_oldest_age_seconds{stage="hq"} "#)
            })
            .and_then(|v| v.parse::<f64>().ok())
            .expect("the oldest item's age");
        assert!((0.0..60.0).contains(&age), "{age}");
        let lookups: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("clearway_area_risk_lookups_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(lookups >= 3, "each submission looked its area up\n{text}");
        // The SQLite store's histograms are per process, shared with the tests running
        // alongside: at least this test's three new requests went through the group writer.
        let on_sqlite = app.settings.database.url.starts_with("sqlite:");
        let count = |series: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix("_count "))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("missing {series}\n{text}"))
        };
        if on_sqlite {
            assert!(count("clearway_store_new_request_seconds") >= 3, "{text}");
            let series = "clearway_store_group_write_seconds";
            assert!(count(series) >= 1, "{series}\n{text}");
        }
        assert!(
            text.contains(r#"route="/v1/areas/{code}""#) || text.contains(r#"route="/v1/areas""#)
        );
    }
    let (status, _) = app
        .get("/metrics", "not-the-scrape-token-0123456789abcdef")
        .await;
    assert_eq!(status, 401);
}
