//! PostgreSQL only: the statistics its query planner needs for a re-screening job.

use std::time::Duration;

use super::support::{Submission, TestApp, eventually, rescreened};

const CHANGED_SINCE_ANALYZE: &str = "SELECT coalesce(max(n_mod_since_analyze), -1) \
     FROM pg_stat_user_tables WHERE relid = 'request_legs'::regclass";

/// A job on a table that changed far more than its statistics know (a fresh or restored
/// database, or a burst before autovacuum's round) gathers them before its first page: with
/// none, PostgreSQL guesses an area has a few dozen legs and sorts all of them for every
/// page instead of walking the area's index in request order.
#[tokio::test]
async fn a_re_screening_job_gathers_stale_planner_statistics_first() {
    let app = TestApp::spawn().await;
    // Autovacuum's own round must not come first.
    app.db
        .execute(
            "ALTER TABLE request_legs SET (autovacuum_enabled = false)",
            &[],
        )
        .await
        .unwrap();
    let area = app.area("TST-STATS", Some("low")).await;
    let token = app.traveller("t-1", "UNICEF");
    let (status, body) = app
        .submit(
            &token,
            &Submission::for_traveller("t-1", "UNICEF").leg("TST-STATS", 5, 8),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap();
    // 2,000 legs come and go: 4,000 changes the statistics do not know of.
    app.db
        .execute(
            "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure) \
             SELECT $1::uuid, g, 'TST-STATS', current_date, current_date FROM generate_series(100, 2099) g",
            &[id],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "DELETE FROM request_legs WHERE request_id = $1::uuid AND seq >= 100",
            &[id],
        )
        .await
        .unwrap();
    // A session reports its changes to the statistics when it next idles.
    assert!(
        eventually(Duration::from_secs(10), async || app
            .db
            .scalar(CHANGED_SINCE_ANALYZE, &[])
            .await
            >= 4000)
        .await,
        "the server never counted the changes"
    );

    let change = area.publish(2, "very_high", -1, 90, false, &[]).await;
    assert_eq!(rescreened(&app, &change).await, 1);
    let changed = app.db.scalar(CHANGED_SINCE_ANALYZE, &[]).await;
    assert!(
        (0..4000).contains(&changed),
        "the job ran on stale statistics: {changed} changes since they were gathered"
    );
}
