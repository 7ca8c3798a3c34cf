//! Flight legs and the air operator list (issue 31, item 2): a flight is decided on its
//! operator's assessment for the day, UNHAS and road are not looked up, and a change of the
//! list decides again every request flying with the operator.

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{Submission, TestApp, day, rescreened};

fn flight(traveller: &str, travel: Value) -> Submission {
    Submission::for_traveller(traveller, "WFP")
        .leg("TST-LOW", 3, 6)
        .set("/legs/0/travel", travel)
}

fn on(operator: &str) -> Value {
    json!({"mode": "flight", "operator": operator, "flight_number": format!("{}310", &operator[..2])})
}

/// Writes an operator's assessment and waits for its re-screening job, so that each job
/// decides again on the list as that change left it.
async fn assess(app: &TestApp, code: &str, assessment: &str) -> (u16, Value, i64) {
    let armo = app.token("armo-1", &[Role::AviationRisk], None);
    let body = json!({"name": format!("Operator {code}"), "assessment": assessment,
                      "from": day(0), "until": day(365), "note": "ARMO 2027-014"});
    let (status, change) = app
        .put(&format!("/v1/air-operators/{code}"), &armo, &body)
        .await;
    let moved = rescreened(app, &change).await;
    (status, change, moved)
}

#[tokio::test]
async fn a_flight_is_decided_on_its_operator_and_again_when_the_list_changes() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let (status, added, _) = assess(&app, "kqa", "assessed").await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["operator"]["code"], "KQA");
    assert_eq!(added["rescreening"]["requests"], 0);
    let (status, _, _) = assess(&app, "BAD", "restricted").await;
    assert_eq!(status, 201);

    let token = |who: &str| app.traveller(who, "WFP");
    let submit = async |who: &str, travel: Value| {
        let (status, body) = app.submit(&token(who), &flight(who, travel)).await;
        assert_eq!(status, 201, "{body}");
        body
    };
    let on_kqa = submit("kim", on("KQA")).await;
    assert_eq!(on_kqa["status"], "cleared", "{on_kqa}");
    assert_eq!(
        on_kqa["legs"][0]["travel"],
        json!({"mode": "flight", "operator": "KQA", "flight_number": "KQ310"})
    );
    let on_bad = submit("bea", on("BAD")).await;
    assert_eq!(
        (&on_bad["status"], &on_bad["decision"]["code"]),
        (&json!("held"), &json!("air_operator_restricted"))
    );
    let on_unlisted = submit("uma", on("ZZZ")).await;
    assert_eq!(on_unlisted["decision"]["code"], "air_operator_not_assessed");
    let unhas = submit("una", json!({"mode": "unhas", "flight_number": "UNO123"})).await;
    assert_eq!(unhas["status"], "cleared", "{unhas}");
    let road = submit("rod", json!({"mode": "road"})).await;
    assert_eq!(road["status"], "cleared", "{road}");

    // ARMO restricts KQA: Kim's clearance is held; nobody else moves.
    let (status, restricted, moved) = assess(&app, "KQA", "restricted").await;
    assert_eq!(status, 200, "{restricted}");
    assert_eq!(restricted["rescreening"]["requests"], 1, "{restricted}");
    assert_eq!(moved, 1);
    let read = |id: &Value, who: &str| {
        let path = format!("/v1/clearance-requests/{}", id.as_str().unwrap());
        let token = token(who);
        let app = &app;
        async move { app.get(&path, &token).await.1 }
    };
    let kim = read(&on_kqa["id"], "kim").await;
    assert_eq!(
        (&kim["status"], &kim["decision"]["code"]),
        (&json!("held"), &json!("air_operator_restricted")),
        "{kim}"
    );
    let (_, trail) = app
        .get(
            &format!(
                "/v1/clearance-requests/{}/audit",
                on_kqa["id"].as_str().unwrap()
            ),
            &token("kim"),
        )
        .await;
    let last = trail["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "rescreened", "{trail}");
    assert!(
        last["comment"]
            .as_str()
            .unwrap()
            .contains("air operator KQA restricted"),
        "{last}"
    );

    // ZZZ is assessed: Uma's held request clears.
    let (_, _, moved) = assess(&app, "ZZZ", "assessed").await;
    assert_eq!(moved, 1);
    assert_eq!(read(&on_unlisted["id"], "uma").await["status"], "cleared");

    // Anyone signed in reads the list; only the aviation-risk role writes it.
    let (status, list) = app.get("/v1/air-operators", &token("kim")).await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["BAD", "KQA", "ZZZ"]);
    let (status, one) = app.get("/v1/air-operators/kqa", &token("kim")).await;
    assert_eq!(
        (status, &one["assessment"]),
        (200, &json!("restricted")),
        "{one}"
    );
    assert_eq!(one["updated_by"], "armo-1");
    let (status, _) = app.get("/v1/air-operators/QQQ", &token("kim")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_flights_and_assessments_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let token = app.traveller("kim", "WFP");
    let cases = [
        (
            json!({"mode": "flight", "flight_number": "KQ310"}),
            "/legs/0/travel/operator",
        ),
        (
            json!({"mode": "flight", "operator": "KQ", "flight_number": "KQ310"}),
            "/legs/0/travel/operator",
        ),
        (
            json!({"mode": "flight", "operator": "KQA"}),
            "/legs/0/travel/flight_number",
        ),
        (
            json!({"mode": "flight", "operator": "KQA", "flight_number": "310"}),
            "/legs/0/travel/flight_number",
        ),
        (
            json!({"mode": "unhas", "operator": "UNO"}),
            "/legs/0/travel/operator",
        ),
        (
            json!({"mode": "road", "flight_number": "KQ310"}),
            "/legs/0/travel/flight_number",
        ),
    ];
    let before = app.store_snapshot().await;
    for (travel, field) in cases {
        let (status, problem) = app.submit(&token, &flight("kim", travel.clone())).await;
        assert_eq!(
            (status, &problem["code"], &problem["field"]),
            (422, &json!("invalid_field"), &json!(field)),
            "{travel}: {problem}"
        );
    }
    let (status, problem) = app
        .submit(&token, &flight("kim", json!({"mode": "balloon"})))
        .await;
    assert_eq!(status, 422, "{problem}");

    let armo = app.token("armo-1", &[Role::AviationRisk], None);
    let (status, problem) = app
        .put(
            "/v1/air-operators/KQA",
            &armo,
            &json!({"name": "Kenya Airways", "assessment": "assessed", "from": day(10), "until": day(9)}),
        )
        .await;
    assert_eq!(
        (status, &problem["code"], &problem["field"]),
        (422, &json!("invalid_date_range"), &json!("/until")),
        "{problem}"
    );
    let (status, problem) = app
        .put(
            "/v1/air-operators/K1",
            &armo,
            &json!({"name": "Kenya Airways", "assessment": "assessed", "from": day(0)}),
        )
        .await;
    assert_eq!(
        (status, &problem["code"]),
        (422, &json!("invalid_field")),
        "{problem}"
    );
    let (status, problem) = app
        .put(
            "/v1/air-operators/KQA",
            &armo,
            &json!({"name": "Kenya Airways", "assessment": "grounded", "from": day(0)}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let (status, problem) = app
        .put(
            "/v1/air-operators/KQA",
            &app.analyst(),
            &json!({"name": "Kenya Airways", "assessment": "assessed", "from": day(0)}),
        )
        .await;
    assert_eq!(
        (status, &problem["code"]),
        (403, &json!("forbidden")),
        "{problem}"
    );
    assert_eq!(
        app.store_snapshot().await,
        before,
        "a refusal changed the store"
    );
}

/// The headcount rule (issue 31, item 1): more travellers of one organisation on one flight
/// than the policy allows need the named stage, counting the requests already stored.
#[tokio::test]
async fn more_of_an_organisation_on_one_flight_than_the_policy_allows_need_a_stage() {
    let (_dir, policy) =
        super::support::policy_with("[headcount]\nper_flight = 2\nstage = \"hq\"\n");
    let app = TestApp::spawn_with(|s| s.policy.file = policy.clone()).await;
    app.area("TST-LOW", Some("low")).await;
    assess(&app, "KQA", "assessed").await;
    let submit = async |who: &str, org: &str, number: &str| {
        let trip = Submission::for_traveller(who, org)
            .leg("TST-LOW", 3, 6)
            .set(
                "/legs/0/travel",
                json!({"mode": "flight", "operator": "KQA", "flight_number": number}),
            );
        let (status, body) = app.submit(&app.traveller(who, org), &trip).await;
        assert_eq!(status, 201, "{body}");
        body
    };
    for who in ["u1", "u2"] {
        assert_eq!(submit(who, "UNDP", "KQ310").await["status"], "cleared");
    }
    let third = submit("u3", "UNDP", "KQ310").await;
    assert_eq!(
        (
            &third["status"],
            &third["decision"]["code"],
            &third["decision"]["approval_chain"]
        ),
        (
            &json!("escalated"),
            &json!("headcount_approval_required"),
            &json!(["hq"])
        ),
        "{third}"
    );
    assert!(
        third["decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("3 travellers of UNDP on flight KQ310"),
        "{third}"
    );
    // Another organisation, or another flight, is counted apart.
    assert_eq!(submit("w1", "WFP", "KQ310").await["status"], "cleared");
    assert_eq!(submit("u4", "UNDP", "KQ312").await["status"], "cleared");
    // Decided again (the operator's entry rewritten): those who booked first stay cleared,
    // the third still needs HQ.
    let (_, _, moved) = assess(&app, "KQA", "assessed").await;
    assert_eq!(moved, 0, "deciding again moved someone");
    // HQ's approvers see it in their queue.
    let hq = app.token("hq-1", &[Role::ApproverHq], None);
    let (_, queue) = app.get("/v1/escalations?stage=hq", &hq).await;
    assert_eq!(queue["items"][0]["request"]["id"], third["id"], "{queue}");
}

/// Re-screening decides a batch of requests together, but a request the headcount rule counts
/// is decided after the moves before it are written: one revoked frees its seat.
#[tokio::test]
async fn a_re_screening_counts_heads_after_the_moves_before_them() {
    let (_dir, policy) =
        super::support::policy_with("[headcount]\nper_flight = 2\nstage = \"hq\"\n");
    let app = TestApp::spawn_with(|s| s.policy.file = policy.clone()).await;
    app.area("TST-RISING", Some("low")).await;
    assess(&app, "KQA", "assessed").await;
    let mut ids = Vec::new();
    for (who, pc) in [("u1", "PC3"), ("u2", "PC1"), ("u3", "PC1")] {
        let trip = Submission::for_traveller(who, "UNDP")
            .pc(pc)
            .leg("TST-RISING", 3, 6)
            .set(
                "/legs/0/travel",
                json!({"mode": "flight", "operator": "KQA", "flight_number": "KQ410"}),
            );
        let (status, body) = app.submit(&app.traveller(who, "UNDP"), &trip).await;
        assert_eq!(status, 201, "{body}");
        ids.push((
            body["id"].as_str().unwrap().to_owned(),
            body["status"].clone(),
        ));
    }
    assert_eq!(
        ids.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        [json!("cleared"), json!("cleared"), json!("escalated")]
    );
    // High: PC3's clearance is revoked, PC1's stand; the third is now the second on board.
    let (status, published) = app
        .post(
            "/v1/sras",
            &app.analyst(),
            &json!({
                "area": "TST-RISING", "version": 2, "effective_from": day(0), "review_due": day(300),
                "security_level": 4, "residual_risk": "high", "threats": [], "mandatory_measures": [],
            }),
        )
        .await;
    assert_eq!(status, 201, "{published}");
    assert_eq!(rescreened(&app, &published).await, 2);
    let mut statuses = Vec::new();
    for (id, _) in &ids {
        let (_, body) = app
            .get(&format!("/v1/clearance-requests/{id}"), &app.admin())
            .await;
        statuses.push(body["status"].clone());
    }
    assert_eq!(
        statuses,
        [json!("revoked"), json!("cleared"), json!("cleared")]
    );
}
