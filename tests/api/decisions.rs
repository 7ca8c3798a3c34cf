//! Each outcome a traveller can get, explained leg by leg, and stored as acknowledged.

use serde_json::json;

use super::support::{Submission, TestApp, day};

#[tokio::test]
async fn a_low_risk_trip_clears_at_once_with_the_sras_conditions() {
    let app = TestApp::spawn().await;
    let area = app.area("TST-LOW", Some("low")).await;
    let token = app.traveller("alice", "UNICEF");
    let (status, body) = app
        .submit(
            &token,
            &Submission::for_traveller("alice", "UNICEF").leg(&area.code, 5, 9),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "cleared");
    assert_eq!(body["decision"]["outcome"], "cleared");
    assert_eq!(body["decision"]["code"], "within_accepted_risk");
    let leg = &body["decision"]["legs"][0];
    assert_eq!(leg["risk"], "low");
    assert_eq!(leg["sra"]["version"], 1);
    assert!(leg["sra"]["id"].is_string());
    assert_eq!(leg["conditions"], json!(["Security briefing"]));
    assert!(leg["reason"].as_str().unwrap().contains("Low"), "{leg}");

    // Acknowledged means stored: reading it back gives the same decision.
    let id = body["id"].as_str().unwrap();
    let (status, stored) = app
        .get(&format!("/v1/clearance-requests/{id}"), &token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(stored, body);
}

#[tokio::test]
async fn a_high_risk_trip_clears_for_pc2_and_is_refused_for_pc3() {
    let app = TestApp::spawn().await;
    app.area("TST-HIGH", Some("high")).await;
    let token = app.traveller("bob", "WFP");
    let trip = Submission::for_traveller("bob", "WFP").leg("TST-HIGH", 3, 6);

    let (_, cleared) = app.submit(&token, &trip.clone().pc("PC2")).await;
    assert_eq!(cleared["status"], "cleared", "{cleared}");
    assert_eq!(cleared["decision"]["legs"][0]["risk"], "high");

    let (status, refused) = app.submit(&token, &trip.pc("PC3")).await;
    assert_eq!(
        status, 201,
        "a refusal is a decision, stored like any other"
    );
    assert_eq!(refused["status"], "refused");
    assert_eq!(
        refused["decision"]["code"],
        "risk_exceeds_programme_criticality"
    );
}

#[tokio::test]
async fn a_very_high_risk_trip_needs_pc1_a_mission_sra_and_then_hq_and_dg() {
    let app = TestApp::spawn().await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let token = app.traveller("carla", "UNHCR");
    let trip = Submission::for_traveller("carla", "UNHCR").leg("TST-VHIGH", 10, 14);

    let (_, escalated) = app
        .submit(&token, &trip.clone().pc("PC1").mission_sra("MSRA-2026-114"))
        .await;
    assert_eq!(escalated["status"], "escalated", "{escalated}");
    assert_eq!(escalated["decision"]["code"], "escalation_required");
    assert_eq!(escalated["decision"]["approval_chain"], json!(["hq", "dg"]));
    assert_eq!(escalated["mission_sra_reference"], "MSRA-2026-114");

    let (_, held) = app.submit(&token, &trip.clone().pc("PC1")).await;
    assert_eq!(held["status"], "held");
    assert_eq!(held["decision"]["code"], "mission_sra_required");

    let (_, refused) = app
        .submit(&token, &trip.pc("PC2").mission_sra("MSRA-2026-114"))
        .await;
    assert_eq!(refused["status"], "refused");
    assert_eq!(
        refused["decision"]["code"],
        "risk_exceeds_programme_criticality"
    );
}

#[tokio::test]
async fn an_unacceptable_risk_is_refused_even_for_pc1() {
    let app = TestApp::spawn().await;
    app.area("TST-UNACC", Some("unacceptable")).await;
    let token = app.traveller("dan", "UNDP");
    let trip = Submission::for_traveller("dan", "UNDP")
        .pc("PC1")
        .mission_sra("M-1")
        .leg("TST-UNACC", 2, 3);
    let (_, body) = app.submit(&token, &trip).await;
    assert_eq!(body["status"], "refused");
    assert_eq!(body["decision"]["code"], "unacceptable_risk");
}

#[tokio::test]
async fn trips_are_held_until_what_is_missing_is_there() {
    let app = TestApp::spawn().await;
    app.area("TST-NOSRA", None).await;
    let ssafe_area = app.area("TST-SSAFE", None).await;
    ssafe_area
        .publish(1, "medium", -10, 300, true, &["SSAFE certificate"])
        .await;
    let expiring = app.area("TST-EXPIRES", None).await;
    expiring.publish(1, "low", -10, 7, false, &[]).await;
    app.area("TST-OK", Some("low")).await;
    let token = app.traveller("eve", "UNFPA");
    let base = Submission::for_traveller("eve", "UNFPA");

    let cases = [
        (base.clone().leg("TST-NOSRA", 1, 2), "no_sra_in_force"),
        (base.clone().leg("TST-EXPIRES", 5, 9), "no_sra_in_force"),
        (
            base.clone()
                .leg("TST-SSAFE", 1, 2)
                .set("/traveller/ssafe_valid_until", json!(null)),
            "ssafe_missing",
        ),
        (
            base.clone()
                .leg("TST-OK", 1, 20)
                .set("/traveller/bsafe_valid_until", json!(day(10))),
            "bsafe_missing",
        ),
        (
            base.clone()
                .leg("TST-OK", 1, 2)
                .without("/traveller/bsafe_valid_until"),
            "bsafe_missing",
        ),
    ];
    for (trip, code) in cases {
        let (status, body) = app.submit(&token, &trip).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            (body["status"].as_str(), body["decision"]["code"].as_str()),
            (Some("held"), Some(code)),
            "{body}"
        );
    }
    // Within the expiring SRA's window the same area clears.
    let (_, body) = app.submit(&token, &base.leg("TST-EXPIRES", 1, 7)).await;
    assert_eq!(body["status"], "cleared", "{body}");
}

#[tokio::test]
async fn a_suspended_area_holds_every_trip_there() {
    let app = TestApp::spawn().await;
    app.area("TST-OK", Some("low")).await;
    let json = json!({
        "areas": [{"code": "TST-GONE", "name": "Gone", "country": "Testland",
                   "suspension": {"reason": "evacuation", "since": "today-1d"}}],
        "sras": [{"area": "TST-GONE", "version": 1, "effective_from": "today-10d", "review_due": "today+100d",
                  "security_level": 3, "residual_risk": "low"}]
    });
    // Suspension is set through the import (the suspension API comes with the SRA lifecycle).
    let services = clearway::startup::Services::open(&app.settings)
        .await
        .unwrap();
    clearway::cli::sra_import::import(
        &services.publishing,
        &services.air_operators,
        &services.clearing,
        &json.to_string(),
        chrono::Utc::now().date_naive(),
    )
    .await
    .unwrap();
    let token = app.traveller("fay", "OCHA");
    let trip = Submission::for_traveller("fay", "OCHA")
        .leg("TST-OK", 1, 2)
        .leg("TST-GONE", 2, 4);
    let (_, body) = app.submit(&token, &trip).await;
    assert_eq!(body["status"], "held", "{body}");
    assert_eq!(body["decision"]["code"], "area_suspended");
    assert!(
        body["decision"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Leg 2 (TST-GONE)")
    );
    assert_eq!(body["decision"]["legs"][0]["outcome"], "cleared");
}

#[tokio::test]
async fn the_strictest_leg_decides_a_multi_leg_trip() {
    let app = TestApp::spawn().await;
    for (code, risk) in [
        ("TST-A", "low"),
        ("TST-B", "very_high"),
        ("TST-C", "high"),
        ("TST-D", "unacceptable"),
    ] {
        app.area(code, Some(risk)).await;
    }
    let token = app.traveller("gus", "IOM");
    let trip = Submission::for_traveller("gus", "IOM")
        .pc("PC1")
        .mission_sra("M-7");
    let (_, body) = app
        .submit(
            &token,
            &trip
                .clone()
                .leg("TST-A", 1, 3)
                .leg("TST-B", 3, 5)
                .leg("TST-C", 5, 8),
        )
        .await;
    assert_eq!(body["status"], "escalated", "{body}");
    let outcomes: Vec<_> = body["decision"]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [json!("cleared"), json!("escalated"), json!("cleared")]
    );

    let (_, body) = app
        .submit(
            &token,
            &trip
                .leg("TST-A", 1, 3)
                .leg("TST-B", 3, 5)
                .leg("TST-D", 5, 8),
        )
        .await;
    assert_eq!(body["status"], "refused");
    assert_eq!(body["decision"]["code"], "unacceptable_risk");
}

#[tokio::test]
async fn a_travel_unit_submits_for_travellers_of_its_organisation() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let unit = app.token(
        "wfp-travel-desk",
        &[clearway::auth::Role::TravelUnit],
        Some("WFP"),
    );
    let (status, body) = app
        .submit(
            &unit,
            &Submission::for_traveller("hana", "WFP").leg("TST-LOW", 1, 2),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .submit(
            &unit,
            &Submission::for_traveller("ivan", "UNICEF").leg("TST-LOW", 1, 2),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(app.stored_rows().await, (1, 1));
}

/// Transit legs (issue 31, item 4): an airside transit is decided as a stay unless the
/// policy says a traveller who stays in the airport needs no clearance; a landside one
/// always is; a transit lasts at most a day.
#[tokio::test]
async fn an_airside_transit_needs_clearance_unless_the_policy_says_otherwise() {
    let transit = |kind: &str, departure: i64| {
        Submission::for_traveller("tia", "WFP")
            .leg("TST-NONE", 3, departure)
            .set("/legs/0/transit", json!(kind))
    };

    let app = TestApp::spawn().await;
    app.area("TST-NONE", None).await;
    let token = app.traveller("tia", "WFP");
    let (status, held) = app.submit(&token, &transit("airside", 4)).await;
    assert_eq!(status, 201, "{held}");
    assert_eq!(
        (&held["status"], &held["decision"]["code"]),
        (&json!("held"), &json!("no_sra_in_force"))
    );
    assert_eq!(held["legs"][0]["transit"], "airside", "{held}");
    let (status, problem) = app.submit(&token, &transit("airside", 5)).await;
    assert_eq!(
        (status, &problem["code"], &problem["field"]),
        (
            422,
            &json!("invalid_itinerary"),
            &json!("/legs/0/departure")
        ),
        "{problem}"
    );
    let (status, problem) = app.submit(&token, &transit("in_orbit", 4)).await;
    assert_eq!(status, 422, "{problem}");

    // The older UN rule: only a traveller who leaves the airport needs clearance.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("risk-policy.toml");
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/risk-policy.toml"),
    )
    .unwrap();
    let old_rule = shipped.replace(
        "airside_needs_clearance = true",
        "airside_needs_clearance = false",
    );
    assert_ne!(old_rule, shipped);
    std::fs::write(&policy, old_rule).unwrap();
    let app = TestApp::spawn_with(|s| s.policy.file = policy.clone()).await;
    app.area("TST-NONE", None).await;
    let token = app.traveller("tia", "WFP");
    let (_, cleared) = app.submit(&token, &transit("airside", 4)).await;
    assert_eq!(
        (&cleared["status"], &cleared["decision"]["code"]),
        (&json!("cleared"), &json!("airside_transit")),
        "{cleared}"
    );
    let (_, landside) = app.submit(&token, &transit("landside", 3)).await;
    assert_eq!(
        landside["decision"]["code"], "no_sra_in_force",
        "{landside}"
    );
}
