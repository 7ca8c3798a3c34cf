//! The SRA lifecycle, area suspension, re-screening of issued clearances, and the crisis locator.

use std::time::{Duration, Instant};

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{Submission, TestApp, day, eventually};

fn sra(area: &str, version: u32, risk: &str, from: i64) -> Value {
    json!({
        "area": area, "version": version, "effective_from": day(from), "review_due": day(300),
        "security_level": 4, "residual_risk": risk, "threats": [], "mandatory_measures": [],
    })
}

async fn sra_count(app: &TestApp) -> i64 {
    app.db.scalar("SELECT COUNT(*) FROM sras", &[]).await
}

async fn version_of(app: &TestApp, id: &str) -> i64 {
    app.db
        .scalar(
            "SELECT version FROM clearance_requests WHERE CAST(id AS TEXT) = $1",
            &[id],
        )
        .await
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let (_, body) = app
        .get(&format!("/v1/clearance-requests/{id}"), &app.admin())
        .await;
    body["status"].as_str().unwrap().to_owned()
}

/// Waits for a re-screening job to finish and returns it.
async fn finished(app: &TestApp, job: &Value) -> Value {
    let path = format!("/v1/rescreening/{}", job["id"].as_str().unwrap());
    let mut last = Value::Null;
    let done = eventually(Duration::from_secs(10), async || {
        last = app.get(&path, &app.analyst()).await.1;
        last["status"] == "done"
    })
    .await;
    assert!(done, "the job did not finish: {last}");
    last
}

#[tokio::test]
async fn an_sra_is_drafted_endorsed_approved_then_published_and_only_then_counts() {
    let app = TestApp::spawn().await;
    app.area("TST-LIFE", None).await;
    let alice = app.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LIFE", 3, 4);
    let analyst = app.analyst();

    let (status, draft) = app
        .post("/v1/sras/drafts", &analyst, &sra("TST-LIFE", 1, "low", -5))
        .await;
    assert_eq!(
        (status, draft["status"].as_str()),
        (201, Some("draft")),
        "{draft}"
    );
    let id = draft["id"].as_str().unwrap();
    let (_, held) = app.submit(&alice, &trip).await;
    assert_eq!(
        held["decision"]["code"], "no_sra_in_force",
        "a draft decides nothing"
    );

    let step = |path: &str| format!("/v1/sras/{id}/{path}");
    let (status, body) = app.post(&step("publish"), &analyst, &json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("sra_not_endorsed"))
    );
    let (status, body) = app
        .post(
            &step("approval"),
            &analyst,
            &json!({"by": "DO Testland", "on": day(0)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("sra_not_endorsed"))
    );
    let (status, body) = app
        .post(
            &step("endorsement"),
            &analyst,
            &json!({"by": "SMT Testland", "on": day(-1)}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("endorsed")),
        "{body}"
    );
    assert_eq!(
        body["endorsement"],
        json!({"by": "SMT Testland", "on": day(-1)})
    );
    let (status, body) = app.post(&step("publish"), &analyst, &json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("sra_not_approved"))
    );
    let (status, body) = app
        .post(
            &step("approval"),
            &analyst,
            &json!({"by": "DO Testland", "on": day(1)}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("/on")),
        "no sign-off from the future"
    );
    app.post(
        &step("approval"),
        &analyst,
        &json!({"by": "DO Testland", "on": day(0)}),
    )
    .await;
    let (status, published) = app.post(&step("publish"), &analyst, &json!({})).await;
    assert_eq!(
        (status, published["status"].as_str()),
        (200, Some("published")),
        "{published}"
    );
    assert_eq!(
        published["rescreening"]["requests"], 1,
        "the held request is screened again"
    );
    let (status, body) = app
        .post(
            &step("endorsement"),
            &analyst,
            &json!({"by": "SMT", "on": day(0)}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_sra_transition"))
    );

    let (_, cleared) = app.submit(&alice, &trip).await;
    assert_eq!(cleared["status"], "cleared");
    let (status, _) = app.post(&step("publish"), &alice, &json!({})).await;
    assert_eq!(status, 403);

    // Withdrawn, the SRA no longer counts: what it cleared is held again.
    let (status, withdrawn) = app.post(&step("withdraw"), &analyst, &json!({})).await;
    assert_eq!(
        (status, withdrawn["status"].as_str()),
        (200, Some("withdrawn")),
        "{withdrawn}"
    );
    assert_eq!(withdrawn["rescreening"]["requests"], 2);
    finished(&app, &withdrawn["rescreening"]).await;
    for id in [
        held["id"].as_str().unwrap(),
        cleared["id"].as_str().unwrap(),
    ] {
        assert_eq!(status_of(&app, id).await, "held");
    }
    let (_, view) = app.get("/v1/areas/TST-LIFE", &alice).await;
    assert!(view["in_force"].is_null());

    // Both jobs are listed, the withdrawal's first (newest), finished.
    finished(&app, &published["rescreening"]).await;
    let (status, jobs) = app.get("/v1/rescreening", &analyst).await;
    assert_eq!(status, 200, "{jobs}");
    let listed: Vec<(&str, &str)> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j["status"].as_str().unwrap()))
        .collect();
    let ids = [&withdrawn, &published].map(|c| c["rescreening"]["id"].as_str().unwrap());
    assert_eq!(listed, ids.map(|id| (id, "done")), "{jobs}");
    let (_, one) = app.get("/v1/rescreening?limit=1", &analyst).await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    let (status, _) = app.get("/v1/rescreening", &alice).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn contradicting_the_matrix_or_overlapping_a_version_is_refused_and_stores_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-RULES", Some("low")).await;
    let analyst = app.analyst();
    let before = sra_count(&app).await;
    let mut contradicting = sra("TST-RULES", 2, "low", 10);
    contradicting["threats"] =
        json!([{"name": "Armed conflict", "likelihood": "likely", "impact": "severe"}]);
    let (status, body) = app.post("/v1/sras", &analyst, &contradicting).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (
            422,
            Some("residual_risk_contradicts_matrix"),
            Some("/residual_risk")
        )
    );
    let (status, body) = app
        .post("/v1/sras", &analyst, &sra("TST-RULES", 2, "high", -30))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("sra_overlap")),
        "v1 takes effect on the same day"
    );
    let (status, body) = app.post("/v1/sras", &analyst, &json!({"area": "TST-RULES", "version": 3, "effective_from": day(10), "review_due": day(5), "security_level": 2, "residual_risk": "low"})).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("/review_due")));
    let (status, body) = app
        .post("/v1/sras", &analyst, &sra("ZZZ-NONE", 1, "low", 0))
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("unknown_area")));
    assert_eq!(sra_count(&app).await, before);

    contradicting["residual_risk_justification"] =
        json!("Armoured movement, escorts and a bunker reduce the residual risk");
    let (status, body) = app.post("/v1/sras", &analyst, &contradicting).await;
    assert_eq!(
        (status, body["residual_risk"].as_str()),
        (201, Some("low")),
        "{body}"
    );
}

#[tokio::test]
async fn an_overdue_review_holds_everyone_and_the_area_list_says_so() {
    let app = TestApp::spawn().await;
    let area = app.area("TST-STALE", None).await;
    area.publish(1, "low", -200, -1, false, &[]).await;
    let (_, view) = app.get("/v1/areas/TST-STALE", &app.analyst()).await;
    assert_eq!(
        (view["review_overdue"].as_bool(), view["in_force"].is_null()),
        (Some(true), true),
        "{view}"
    );
    let (_, body) = app
        .submit(
            &app.traveller("alice", "UNICEF"),
            &Submission::for_traveller("alice", "UNICEF").leg("TST-STALE", 1, 2),
        )
        .await;
    assert_eq!(body["decision"]["code"], "no_sra_in_force");
}

#[tokio::test]
async fn suspending_an_area_holds_new_and_issued_clearances_and_lifting_restores_them() {
    let app = TestApp::spawn_with(|s| s.rescreening.poll_interval_ms = 50).await;
    app.area("TST-SUSP", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-SUSP", 3, 6);
    let (_, issued) = app.submit(&alice, &trip).await;
    let id = issued["id"].as_str().unwrap();
    assert_eq!(issued["status"], "cleared");

    let (status, body) = app
        .post(
            "/v1/areas/TST-SUSP/suspension",
            &app.analyst(),
            &json!({"reason": "evacuation"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["area"]["suspension"]["reason"], "evacuation");
    assert_eq!(body["rescreening"]["requests"], 1);
    finished(&app, &body["rescreening"]).await;
    assert_eq!(
        status_of(&app, id).await,
        "held",
        "a clearance for an evacuated area does not stand"
    );
    let (_, new) = app.submit(&alice, &trip).await;
    assert_eq!(new["decision"]["code"], "area_suspended");

    let response = app
        .client
        .delete(app.url("/v1/areas/TST-SUSP/suspension"))
        .bearer_auth(app.analyst())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body["area"]["suspension"].is_null());
    let job = finished(&app, &body["rescreening"]).await;
    assert_eq!(job["changed"], 2);
    assert_eq!(status_of(&app, id).await, "cleared");

    let (status, _) = app
        .post(
            "/v1/areas/TST-SUSP/suspension",
            &alice,
            &json!({"reason": "relocation"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post(
            "/v1/areas/TST-SUSP/suspension",
            &app.analyst(),
            &json!({"reason": "holiday"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("/reason")));
}

#[tokio::test]
async fn re_screening_moves_requests_in_every_direction_with_audit_and_notification() {
    let app = TestApp::spawn_with(|s| {
        s.rescreening.poll_interval_ms = 50;
        s.webhooks.poll_interval_ms = 50;
    })
    .await;
    app.area("TST-NEW", None).await;
    app.area("TST-RISE", Some("low")).await;
    app.area("TST-WORSE", Some("very_high")).await;
    let calls = super::webhooks::Receiver::start(0, Duration::ZERO);
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    app.post("/v1/webhooks", &unit, &json!({"url": calls.url, "events": ["request.rescreened"], "secret": "0123456789abcdef0123"})).await;
    let alice = app.traveller("alice", "UNICEF");
    let pc1 = Submission::for_traveller("alice", "UNICEF")
        .pc("PC1")
        .mission_sra("M-9");

    let (_, held) = app.submit(&alice, &pc1.clone().leg("TST-NEW", 2, 4)).await;
    let (_, cleared) = app.submit(&alice, &pc1.clone().leg("TST-RISE", 2, 4)).await;
    let (_, approved) = app
        .submit(&alice, &pc1.clone().leg("TST-WORSE", 2, 4))
        .await;
    let approved_id = approved["id"].as_str().unwrap();
    for (who, role) in [("hq-1", Role::ApproverHq), ("dg-1", Role::ApproverDg)] {
        let token = app.token(who, &[role], None);
        app.post(
            &format!("/v1/escalations/{approved_id}/claim"),
            &token,
            &json!({}),
        )
        .await;
        app.post(
            &format!("/v1/escalations/{approved_id}/decision"),
            &token,
            &json!({"decision": "approve", "comment": "ok"}),
        )
        .await;
    }
    assert_eq!(status_of(&app, approved_id).await, "approved");

    let analyst = app.analyst();
    let (_, a) = app
        .post("/v1/sras", &analyst, &sra("TST-NEW", 1, "medium", 0))
        .await;
    let (_, b) = app
        .post("/v1/sras", &analyst, &sra("TST-RISE", 2, "very_high", 0))
        .await;
    let (_, c) = app
        .post(
            "/v1/sras",
            &analyst,
            &sra("TST-WORSE", 2, "unacceptable", 0),
        )
        .await;
    for job in [&a, &b, &c] {
        assert_eq!(job["rescreening"]["requests"], 1, "{job}");
        let done = finished(&app, &job["rescreening"]).await;
        assert_eq!(
            (done["processed"].as_i64(), done["changed"].as_i64()),
            (Some(1), Some(1)),
            "{done}"
        );
    }
    let held_id = held["id"].as_str().unwrap();
    let cleared_id = cleared["id"].as_str().unwrap();
    assert_eq!(status_of(&app, held_id).await, "cleared");
    assert_eq!(status_of(&app, cleared_id).await, "escalated");
    assert_eq!(status_of(&app, approved_id).await, "revoked");

    let hq = app.token("hq-2", &[Role::ApproverHq], None);
    let (_, queue) = app.get("/v1/escalations?stage=hq", &hq).await;
    assert_eq!(
        queue["items"][0]["request"]["id"], cleared_id,
        "the escalated clearance re-entered the chain"
    );

    let (_, trail) = app
        .get(
            &format!("/v1/clearance-requests/{approved_id}/audit"),
            &alice,
        )
        .await;
    let last = trail["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["action"].as_str(),
            last["from"].as_str(),
            last["to"].as_str()
        ),
        (Some("rescreened"), Some("approved"), Some("revoked"))
    );
    assert!(
        last["comment"]
            .as_str()
            .unwrap()
            .contains("SRA v2 for TST-WORSE published"),
        "{last}"
    );

    assert!(
        eventually(Duration::from_secs(10), async || calls.delivered().len()
            == 3)
        .await
    );
    let mut moved: Vec<String> = calls
        .delivered()
        .iter()
        .map(|c| c.json()["request"]["status"].as_str().unwrap().to_owned())
        .collect();
    moved.sort();
    assert_eq!(moved, ["cleared", "escalated", "revoked"]);

    // A publication that changes nothing changes nothing.
    let version_before = version_of(&app, held_id).await;
    let (_, same) = app
        .post("/v1/sras", &analyst, &sra("TST-NEW", 2, "medium", 1))
        .await;
    let done = finished(&app, &same["rescreening"]).await;
    assert_eq!(
        (done["processed"].as_i64(), done["changed"].as_i64()),
        (Some(1), Some(0))
    );
    let version_after = version_of(&app, held_id).await;
    assert_eq!(version_before, version_after);
}

#[tokio::test]
async fn an_interrupted_re_screen_finishes_after_a_restart() {
    let first = TestApp::spawn_with(|s| s.rescreening.run = false).await;
    first.area("TST-LATE", None).await;
    let alice = first.traveller("alice", "UNICEF");
    let mut ids = Vec::new();
    for start in 1..=3 {
        let (_, body) = first
            .submit(
                &alice,
                &Submission::for_traveller("alice", "UNICEF").leg("TST-LATE", start, start),
            )
            .await;
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (_, published) = first
        .post("/v1/sras", &first.analyst(), &sra("TST-LATE", 1, "low", 0))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job_path = format!(
        "/v1/rescreening/{}",
        published["rescreening"]["id"].as_str().unwrap()
    );
    let (_, job) = first.get(&job_path, &first.analyst()).await;
    assert_eq!(
        (
            job["status"].as_str(),
            job["processed"].as_i64(),
            job["total"].as_i64()
        ),
        (Some("pending"), Some(0), Some(3))
    );
    // Submitted after the change was counted: screened too (a stale cache elsewhere may have
    // decided them on the old SRA), and counted, so `processed` never passes `total`.
    for start in 4..=5 {
        let (_, body) = first
            .submit(
                &alice,
                &Submission::for_traveller("alice", "UNICEF").leg("TST-LATE", start, start),
            )
            .await;
        assert_eq!(body["status"], "cleared", "{body}");
    }

    let url = first.settings.database.url.clone();
    let prefix = first.settings.redis.key_prefix.clone();
    let second = TestApp::spawn_with(|s| {
        s.database.url = url;
        s.redis.key_prefix = prefix;
        s.rescreening.poll_interval_ms = 50;
        // Three batches: the cursor carries the job from one to the next.
        s.rescreening.batch = 2;
    })
    .await;
    let job = finished(&second, &published["rescreening"]).await;
    assert_eq!(
        (
            job["total"].as_i64(),
            job["processed"].as_i64(),
            job["changed"].as_i64()
        ),
        (Some(5), Some(5), Some(3)),
        "{job}"
    );
    for id in ids {
        assert_eq!(status_of(&second, &id).await, "cleared");
    }
}

#[tokio::test]
async fn the_crisis_locator_lists_who_is_in_an_area_on_a_date_fast_even_for_ten_thousand() {
    let app = TestApp::spawn().await;
    app.area("TST-CRISIS", Some("low")).await;
    app.area("TST-ELSEWHERE", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let (_, there) = app
        .submit(
            &alice,
            &Submission::for_traveller("alice", "UNICEF")
                .set("/traveller/name", json!("=Doe, Jane"))
                .leg("TST-CRISIS", 3, 6),
        )
        .await;
    app.submit(
        &alice,
        &Submission::for_traveller("alice", "UNICEF").leg("TST-ELSEWHERE", 4, 5),
    )
    .await;
    app.submit(
        &alice,
        &Submission::for_traveller("alice", "UNICEF").leg("TST-CRISIS", 8, 9),
    )
    .await;

    let analyst = app.analyst();
    let (status, body) = app
        .get(
            &format!("/v1/areas/TST-CRISIS/personnel?on={}", day(4)),
            &analyst,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    assert_eq!(body["items"][0]["request_id"], there["id"]);
    assert_eq!(body["items"][0]["arrival"], day(3));

    let csv = app
        .client
        .get(app.url(&format!("/v1/areas/TST-CRISIS/personnel?on={}", day(4))))
        .bearer_auth(&analyst)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert!(
        text.starts_with("traveller_id,traveller_name,org,status,arrival,departure,request_id\r\n")
    );
    assert!(
        text.contains("alice,\"'=Doe, Jane\",UNICEF,cleared"),
        "{text}"
    );

    for (token, status) in [
        (alice.clone(), 403),
        (app.token("hq", &[Role::ApproverHq], None), 403),
    ] {
        let (got, _) = app.get("/v1/areas/TST-CRISIS/personnel", &token).await;
        assert_eq!(got, status);
    }
    let (status, _) = app
        .get("/v1/areas/TST-CRISIS/personnel?on=tomorrow", &analyst)
        .await;
    assert_eq!(status, 400);

    // Ten thousand active clearances in the area: copies of the real one, written directly.
    let started = Instant::now();
    copy_clearances(&app, there["id"].as_str().unwrap(), 10_000).await;
    println!("built 10,000 clearances in {:?}", started.elapsed());

    let path = format!("/v1/areas/TST-CRISIS/personnel?on={}", day(4));
    app.get(&path, &analyst).await; // warm the connection and the page cache
    // Timed from the request to the last byte of the answer, as a client receives it; the
    // check parses it afterwards (this test's debug build would take longer to parse 2 MB of
    // JSON than the release server takes to write it).
    let mut timings = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&analyst)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        timings.push(started.elapsed());
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((status, body["count"].as_i64()), (200, Some(10_001)));
        assert_eq!(body["items"].as_array().map(Vec::len), Some(10_001));
        // Listed by organisation, then traveller, then arrival, whatever builds the list.
        let keys: Vec<(&str, &str, &str)> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let field = |name: &str| p[name].as_str().unwrap_or_default();
                (field("org"), field("traveller_id"), field("arrival"))
            })
            .collect();
        assert!(
            keys.is_sorted() && keys.first() != keys.last(),
            "the locator's list is out of order"
        );
    }
    timings.sort();
    // SQLite keeps dates as ISO text, which a CAST to DATE would turn into a number.
    let on = if app.db.is_postgres() {
        "CAST($1 AS DATE)"
    } else {
        "$1"
    };
    let started = Instant::now();
    let rows = app
        .db
        .scalar(
            &format!(
                "SELECT COUNT(*) FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
                 WHERE l.area_code = 'TST-CRISIS' AND l.arrival <= {on} AND l.departure >= {on} \
                 AND r.status IN ('cleared', 'approved')"
            ),
            &[&day(4)],
        )
        .await;
    assert_eq!(rows, 10_001, "the locator's query counted by hand");
    println!(
        "the locator's query alone: {} rows in {:?}",
        rows,
        started.elapsed()
    );
    let started = Instant::now();
    let csv = app
        .client
        .get(app.url(&path))
        .bearer_auth(&analyst)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!("as CSV: {} bytes in {:?}", csv.len(), started.elapsed());
    println!(
        "crisis locator, 10,001 people in the area: median {:?}, worst {:?} (JSON, over HTTP, this build)",
        timings[2], timings[4]
    );
}

/// Writes `n` copies of the cleared request `id` (other travellers, 40 organisations, one leg
/// in TST-CRISIS) straight into the database: the API would take minutes for as many.
async fn copy_clearances(app: &TestApp, id: &str, n: i64) {
    let (requests, legs) = if app.db.is_postgres() {
        (
            "INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality, first_arrival, \
             last_departure, submitted_at, updated_at, request, decision, escalation, stage, version) \
             SELECT CAST(format('00000000-0000-7000-8000-%s', lpad(i::text, 12, '0')) AS uuid), 'traveller-' || i, 'ORG-' || (i % 40), \
             submitted_by, 'cleared', programme_criticality, first_arrival, last_departure, submitted_at, updated_at, request, \
             decision, NULL, NULL, 1 FROM clearance_requests, generate_series(1, CAST($2 AS INTEGER)) AS i WHERE CAST(id AS TEXT) = $1",
            "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure) \
             SELECT id, 0, 'TST-CRISIS', first_arrival, last_departure FROM clearance_requests \
             WHERE CAST(id AS TEXT) LIKE '00000000-0000-7000-8000-%'",
        )
    } else {
        (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < CAST($2 AS INTEGER)) \
             INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality, first_arrival, \
             last_departure, submitted_at, updated_at, request, decision, escalation, stage, version) \
             SELECT printf('00000000-0000-7000-8000-%012d', i), 'traveller-' || i, 'ORG-' || (i % 40), submitted_by, 'cleared', \
             programme_criticality, first_arrival, last_departure, submitted_at, updated_at, request, decision, NULL, NULL, 1 \
             FROM clearance_requests, n WHERE id = $1",
            "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure) \
             SELECT id, 0, 'TST-CRISIS', first_arrival, last_departure FROM clearance_requests \
             WHERE id LIKE '00000000-0000-7000-8000-%'",
        )
    };
    let copied = app
        .db
        .execute(requests, &[id, &n.to_string()])
        .await
        .unwrap();
    assert_eq!(copied, n as u64);
    app.db.execute(legs, &[]).await.unwrap();
}
