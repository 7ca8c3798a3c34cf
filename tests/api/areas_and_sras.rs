//! Analysts register areas and publish SRAs; the next decision follows at once.

use clearway::auth::Role;
use serde_json::json;

use super::support::{Submission, TestApp, day};

#[tokio::test]
async fn publishing_an_sra_changes_the_next_decision_immediately() {
    let app = TestApp::spawn().await;
    let area = app.area("TST-SHIFT", Some("medium")).await;
    let token = app.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-SHIFT", 3, 5);
    let (_, before) = app.submit(&token, &trip).await;
    assert_eq!(before["status"], "cleared");

    let v2 = area
        .publish(2, "high", -1, 200, false, &["Armoured vehicle"])
        .await;
    let (_, after) = app.submit(&token, &trip).await;
    assert_eq!(after["status"], "refused", "{after}");
    assert_eq!(after["decision"]["legs"][0]["sra"]["id"], v2["id"]);
    assert_eq!(after["decision"]["legs"][0]["sra"]["version"], 2);
}

#[tokio::test]
async fn a_future_version_applies_only_from_its_effective_date() {
    let app = TestApp::spawn().await;
    let area = app.area("TST-LATER", Some("low")).await;
    area.publish(2, "high", 20, 300, false, &[]).await;
    let token = app.traveller("alice", "UNICEF");
    let (_, soon) = app
        .submit(
            &token,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LATER", 2, 5),
        )
        .await;
    assert_eq!(soon["status"], "cleared");
    let (_, later) = app
        .submit(
            &token,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LATER", 18, 22),
        )
        .await;
    assert_eq!(
        later["status"], "refused",
        "a stay across the change takes the worse version"
    );
    assert_eq!(later["decision"]["legs"][0]["sra"]["version"], 2);
}

#[tokio::test]
async fn an_area_shows_the_risk_in_force_today_and_the_sra_behind_it() {
    let app = TestApp::spawn().await;
    let area = app.area("TST-AREA", Some("medium")).await;
    let v2 = area
        .publish(2, "high", 0, 100, true, &["SSAFE certificate"])
        .await;
    app.area("TST-EMPTY", None).await;
    let token = app.traveller("alice", "UNICEF");

    let (status, body) = app.get("/v1/areas/tst-area", &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "TST-AREA");
    assert_eq!(body["in_force"]["risk"], "high");
    assert_eq!(
        body["in_force"]["sra"],
        json!({"id": v2["id"], "version": 2})
    );
    assert_eq!(body["in_force"]["review_due"], day(100));
    assert_eq!(body["published"].as_array().unwrap().len(), 2);

    let (_, empty) = app.get("/v1/areas/TST-EMPTY", &token).await;
    assert_eq!(empty["in_force"], json!(null));
    let (status, body) = app.get("/v1/areas/NOPE-NOPE", &token).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    let (status, list) = app.get("/v1/areas", &token).await;
    assert_eq!(status, 200);
    let codes: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].clone())
        .collect();
    assert_eq!(codes, [json!("TST-AREA"), json!("TST-EMPTY")]);
}

#[tokio::test]
async fn only_analysts_publish_and_bad_sras_store_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-AREA", Some("low")).await;
    let sra = json!({
        "area": "TST-AREA", "version": 2, "effective_from": day(0), "review_due": day(90),
        "security_level": 3, "threats": [{"name": "Crime", "likelihood": "likely", "impact": "severe"}],
        "mandatory_measures": [], "requires_ssafe": false,
    });
    let count = async || -> i64 { app.db.scalar("SELECT COUNT(*) FROM sras", &[]).await };
    for token in [app.traveller("alice", "UNICEF"), app.admin()] {
        let (status, body) = app.post("/v1/sras", &token, &sra).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    }
    let (status, body) = app
        .post(
            "/v1/areas",
            &app.traveller("alice", "UNICEF"),
            &json!({"code": "X-1", "name": "X", "country": "Y"}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));

    let bad = |key: &str, value: serde_json::Value| {
        let mut body = sra.clone();
        body[key] = value;
        body
    };
    let cases = [
        (bad("area", json!("ZZZ-NONE")), 422, "unknown_area", "/area"),
        (
            bad("version", json!(1)),
            409,
            "sra_version_exists",
            "/version",
        ),
        (bad("version", json!(0)), 422, "invalid_field", "/version"),
        (
            bad("review_due", json!(day(-1))),
            422,
            "invalid_field",
            "/review_due",
        ),
        (
            bad("security_level", json!(7)),
            422,
            "invalid_field",
            "/security_level",
        ),
        (
            bad("residual_risk", json!("extreme")),
            422,
            "invalid_field",
            "/residual_risk",
        ),
        (
            bad(
                "threats",
                json!([{"name": "X", "likelihood": "sometimes", "impact": "minor"}]),
            ),
            422,
            "invalid_field",
            "/threats/0/likelihood",
        ),
    ];
    let before = count().await;
    for (body, status, code, field) in cases {
        let (got, problem) = app.post("/v1/sras", &app.analyst(), &body).await;
        assert_eq!(
            (got, problem["code"].as_str(), problem["field"].as_str()),
            (status, Some(code), Some(field)),
            "{problem}"
        );
        assert_eq!(count().await, before);
    }

    // Residual risk computed from the matrix when not given: likely x severe is Very High.
    let (status, published) = app.post("/v1/sras", &app.analyst(), &sra).await;
    assert_eq!(status, 201, "{published}");
    assert_eq!(published["residual_risk"], "very_high");
    let (_, listed) = app.get("/v1/sras?area=TST-AREA", &app.analyst()).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let (status, _) = app.get("/v1/sras", &app.traveller("alice", "UNICEF")).await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post(
            "/v1/areas",
            &app.analyst(),
            &json!({"code": "TST-AREA", "name": "Again", "country": "Y"}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("area_exists")));
}

#[tokio::test]
async fn the_sample_gives_a_realistic_first_run() {
    let app = TestApp::spawn().await;
    let json =
        std::fs::read_to_string(crate::support::config_dir().join("sample-sras.json")).unwrap();
    let services = clearway::startup::Services::open(&app.settings)
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let report = clearway::cli::sra_import::import(
        &services.publishing,
        &services.air_operators,
        &services.clearing,
        &json,
        today,
    )
    .await
    .unwrap();
    assert!(report.areas_created >= 12, "{report:?}");
    let again = clearway::cli::sra_import::import(
        &services.publishing,
        &services.air_operators,
        &services.clearing,
        &json,
        today,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            again.areas_created,
            again.sras_published,
            again.air_operators
        ),
        (0, 0, 0),
        "re-importing adds nothing"
    );
    // The sample's air operators, and the briefing a Yemen clearance waits for.
    assert_eq!(
        (report.air_operators, again.air_operators_existing),
        (2, 2),
        "{report:?}"
    );
    let (_, operators) = app.get("/v1/air-operators", &app.analyst()).await;
    let standing: Vec<(&str, &str)> = operators["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["code"].as_str().unwrap(),
                o["assessment"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(standing, [("ZXA", "assessed"), ("ZXR", "restricted")]);
    // The sample's requests: a team to Kabul on an assessed operator, its member without
    // SSAFE held and the others at HQ; a flight on the restricted operator, held.
    assert_eq!(
        (report.requests, again.requests, again.requests_existing),
        (2, 0, 2),
        "{report:?}"
    );
    let wfp = app.token("wfp-desk", &[Role::TravelUnit], Some("WFP"));
    let (status, team) = app
        .get("/v1/teams/0190a000-0000-7000-8000-000000000031", &wfp)
        .await;
    assert_eq!(status, 200, "{team}");
    let members: Vec<(&str, &str)> = team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["traveller"]["id"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("wfp-amina", "escalated"),
            ("wfp-lars", "escalated"),
            ("wfp-noor", "held")
        ],
        "{team}"
    );
    let unhcr = app.token("unhcr-desk", &[Role::TravelUnit], Some("UNHCR"));
    let (_, flight) = app
        .get(
            "/v1/clearance-requests/0190a000-0000-7000-8000-000000000032",
            &unhcr,
        )
        .await;
    assert_eq!(
        (&flight["status"], &flight["decision"]["code"]),
        (&json!("held"), &json!("air_operator_restricted")),
        "{flight}"
    );
    let pilot = app.traveller("yara", "WFP");
    let (_, to_aden) = app
        .submit(
            &pilot,
            &Submission::for_traveller("yara", "WFP")
                .pc("PC2")
                .leg("YEM-ADE", 2, 5),
        )
        .await;
    assert_eq!(
        to_aden["status"], "cleared_pending_acknowledgement",
        "{to_aden}"
    );

    let (_, list) = app.get("/v1/areas", &app.analyst()).await;
    let areas = list["items"].as_array().unwrap();
    let risks: std::collections::HashSet<&str> = areas
        .iter()
        .filter_map(|a| a["in_force"]["risk"].as_str())
        .collect();
    for level in ["low", "medium", "high", "very_high", "unacceptable"] {
        assert!(risks.contains(level), "no sample area at {level}");
    }
    assert!(
        areas.iter().any(|a| a["suspension"].is_object()),
        "a suspended area"
    );
    assert!(
        areas
            .iter()
            .any(|a| a["published"].as_array().unwrap().is_empty()),
        "an area with no SRA"
    );
    let next_month = day(40);
    assert!(
        areas.iter().any(|a| a["in_force"]["review_due"]
            .as_str()
            .is_some_and(|d| d <= next_month.as_str())),
        "an area whose SRA expires within weeks"
    );
}
