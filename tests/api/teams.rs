//! Team requests (issue 31, item 1): one mission for several travellers, stored as one,
//! each member decided on their own prerequisites and counted as a person; approvers decide
//! the team as one item with per-member exceptions; amended and withdrawn per team and per
//! traveller.

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{TestApp, day, rescreened};

fn member(id: &str, org: &str, bsafe_days: i64) -> Value {
    json!({"id": id, "name": format!("Traveller {id}"), "org": org,
           "bsafe_valid_until": day(bsafe_days), "ssafe_valid_until": day(700)})
}

fn team(members: Vec<Value>, area: &str) -> Value {
    json!({
        "travellers": members,
        "purpose": "Joint assessment mission",
        "programme_criticality": "PC1",
        "mission_sra_reference": "MSRA-2026-114",
        "legs": [{"area": area, "arrival": day(3), "departure": day(6)}],
    })
}

fn unit(app: &TestApp, org: &str) -> String {
    app.token(&format!("unit-{org}"), &[Role::TravelUnit], Some(org))
}

fn ids(team: &Value) -> Vec<String> {
    team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn statuses(team: &Value) -> Vec<&str> {
    team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    super::support::read(response).await
}

#[tokio::test]
async fn a_team_is_stored_as_one_and_each_member_is_decided_and_counted_on_their_own() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let wfp = unit(&app, "WFP");
    // The second member's BSAFE lapses before the trip: held, while the others clear.
    let body = team(
        vec![
            member("ana", "WFP", 700),
            member("ben", "WFP", 1),
            member("cyd", "WFP", 700),
        ],
        "TST-LOW",
    );
    let response = app
        .client
        .post(app.url("/v1/teams"))
        .bearer_auth(&wfp)
        .json(&body)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, created) = super::support::read(response).await;
    assert_eq!(status, 201, "{created}");
    let team_id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/teams/{team_id}"));
    assert_eq!(
        statuses(&created),
        ["cleared", "held", "cleared"],
        "{created}"
    );
    assert_eq!(created["members"][1]["decision"]["code"], "bsafe_missing");
    let members = ids(&created);
    for m in created["members"].as_array().unwrap() {
        assert_eq!(m["team_id"], team_id, "{m}");
    }
    assert_eq!(app.stored_rows().await.0, 3, "one request per member");

    // The unit reads the team, and each member as a request of its own.
    let (status, read) = app.get(&location, &wfp).await;
    assert_eq!((status, ids(&read)), (200, members.clone()), "{read}");
    let (status, one) = app
        .get(&format!("/v1/clearance-requests/{}", members[1]), &wfp)
        .await;
    assert_eq!((status, &one["team_id"]), (200, &json!(team_id)), "{one}");
    // A member reads only themselves; another organisation's unit reads nothing.
    let (status, own) = app.get(&location, &app.traveller("ben", "WFP")).await;
    assert_eq!(
        (status, ids(&own)),
        (200, vec![members[1].clone()]),
        "{own}"
    );
    let (status, other) = app.get(&location, &unit(&app, "UNDP")).await;
    assert_eq!(status, 404, "{other}");

    // The locator counts each person who holds a clearance.
    let (_, here) = app
        .get(
            &format!("/v1/areas/TST-LOW/personnel?on={}", day(4)),
            &app.analyst(),
        )
        .await;
    let mut found: Vec<&str> = here["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["traveller_id"].as_str().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, ["ana", "cyd"], "{here}");
}

#[tokio::test]
async fn a_team_that_cannot_be_stored_whole_stores_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let wfp = unit(&app, "WFP");
    let before = app.store_snapshot().await;
    let refused = [
        (
            team(
                vec![
                    member("ana", "WFP", 700),
                    member("ben", "WFP", 700),
                    member("ana", "WFP", 700),
                ],
                "TST-LOW",
            ),
            422,
            "duplicate_traveller",
            "/travellers/2/id",
        ),
        (
            team(vec![member("ana", "WFP", 700)], "TST-LOW"),
            422,
            "team_size",
            "/travellers",
        ),
        (
            team(
                vec![member("ana", "WFP", 700), member("uma", "UNDP", 700)],
                "TST-LOW",
            ),
            403,
            "forbidden",
            "/travellers/1/org",
        ),
        (
            team(
                vec![member("ana", "WFP", 700), member("ben", "WFP", 700)],
                "TST-NONE",
            ),
            422,
            "unknown_area",
            "/legs/0/area",
        ),
        (
            team(
                vec![
                    member("ana", "WFP", 700),
                    json!({"id": "ben", "org": "WFP"}),
                ],
                "TST-LOW",
            ),
            422,
            "invalid_field",
            "/travellers/1/name",
        ),
    ];
    for (body, status, code, field) in refused {
        let (got, problem) = app.post("/v1/teams", &wfp, &body).await;
        assert_eq!(
            (got, &problem["code"], &problem["field"]),
            (status, &json!(code), &json!(field)),
            "{problem}"
        );
    }
    assert_eq!(
        app.store_snapshot().await,
        before,
        "a refused team wrote something"
    );
}

#[tokio::test]
async fn a_traveller_leads_a_team_of_their_organisation_and_changes_it() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    // No SRA yet: every member is held.
    app.area("TST-NEW", None).await;
    let lead = app.traveller("ana", "WFP");
    let body = team(
        vec![member("ana", "WFP", 700), member("ben", "WFP", 700)],
        "TST-NEW",
    );
    let (status, created) = app.post("/v1/teams", &lead, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(statuses(&created), ["held", "held"]);
    let id = created["id"].as_str().unwrap().to_owned();
    // A traveller of another organisation with the same id reads nothing of it.
    let namesake = app.traveller("ana", "UNDP");
    let (status, _) = app.get(&format!("/v1/teams/{id}"), &namesake).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get(
            &format!("/v1/clearance-requests/{}", ids(&created)[1]),
            &namesake,
        )
        .await;
    assert_eq!(status, 404);
    // A traveller may not lead a team they are not in.
    let (status, problem) = app
        .post("/v1/teams", &app.traveller("cyd", "WFP"), &body)
        .await;
    assert_eq!(status, 403, "{problem}");
    // The leader reads both members; the other member only themselves and cannot change it.
    let (_, read) = app.get(&format!("/v1/teams/{id}"), &lead).await;
    assert_eq!(read["members"].as_array().unwrap().len(), 2);
    let ben = app.traveller("ben", "WFP");
    let (status, problem) = app
        .post(&format!("/v1/teams/{id}/withdraw"), &ben, &json!({}))
        .await;
    assert_eq!(status, 403, "{problem}");

    // The leader reads and amends a member's request on its own; the member cannot read the
    // leader's.
    let members = ids(&created);
    let ben_path = format!("/v1/clearance-requests/{}", members[1]);
    let (status, ben_request) = app.get(&ben_path, &lead).await;
    assert_eq!(status, 200, "{ben_request}");
    let (status, _) = app
        .get(&format!("/v1/clearance-requests/{}", members[0]), &ben)
        .await;
    assert_eq!(status, 404);
    let alone = json!({"traveller": ben_request["traveller"], "purpose": "Joint assessment, ben's part",
                       "programme_criticality": "PC1", "mission_sra_reference": "MSRA-2026-114",
                       "legs": [{"area": "TST-NEW", "arrival": day(3), "departure": day(7)}]});
    let (status, amended) = patch(&app, &ben_path, &lead, &alone).await;
    assert_eq!(
        (status, &amended["status"]),
        (200, &json!("held")),
        "{amended}"
    );

    // The leader amends the mission for the whole team: both decided again.
    let mission = json!({"purpose": "Joint assessment, moved", "programme_criticality": "PC2",
                         "legs": [{"area": "TST-LOW", "arrival": day(4), "departure": day(8)}]});
    let (status, amended) = patch(&app, &format!("/v1/teams/{id}"), &lead, &mission).await;
    assert_eq!(status, 200, "{amended}");
    assert_eq!(statuses(&amended), ["cleared", "cleared"], "{amended}");
    assert_eq!(amended["members"][1]["purpose"], "Joint assessment, moved");
    assert_eq!(amended["members"][1]["traveller"]["id"], "ben");
    // Cleared members are no longer amended with the team, nor withdrawn.
    let (status, problem) = patch(&app, &format!("/v1/teams/{id}"), &lead, &mission).await;
    assert_eq!((status, &problem["code"]), (409, &json!("not_pending")));
    let (status, problem) = app
        .post(&format!("/v1/teams/{id}/withdraw"), &lead, &json!({}))
        .await;
    assert_eq!((status, &problem["code"]), (409, &json!("not_pending")));
}

#[tokio::test]
async fn an_approver_decides_a_team_as_one_item_but_for_the_exceptions() {
    let app = TestApp::spawn().await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let wfp = unit(&app, "WFP");
    let body = team(
        vec![
            member("ana", "WFP", 700),
            member("ben", "WFP", 700),
            member("cyd", "WFP", 700),
        ],
        "TST-VHIGH",
    );
    let (status, created) = app.post("/v1/teams", &wfp, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(statuses(&created), ["escalated"; 3]);
    let id = created["id"].as_str().unwrap().to_owned();
    let members = ids(&created);
    let hq = app.token("hq-1", &[Role::ApproverHq], None);
    let (_, queue) = app.get("/v1/escalations?stage=hq", &hq).await;
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{queue}");
    assert!(items.iter().all(|i| i["request"]["team_id"] == json!(id)));

    // Another approver holds ben's claim: the team decision decides nobody.
    let hq2 = app.token("hq-2", &[Role::ApproverHq], None);
    let (status, _) = app
        .post(
            &format!("/v1/escalations/{}/claim", members[1]),
            &hq2,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let decision = json!({"decision": "approve", "comment": "Mission essential",
        "exceptions": [{"request_id": members[2], "decision": "reject",
                        "comment": "SSAFE refresher first"}]});
    let path = format!("/v1/teams/{id}/decision");
    let (status, problem) = app.post(&path, &hq, &decision).await;
    assert_eq!(
        (status, &problem["code"], &problem["request_id"]),
        (409, &json!("claimed_by_another"), &json!(members[1])),
        "{problem}"
    );
    let (_, still) = app.get(&format!("/v1/teams/{id}"), &wfp).await;
    assert_eq!(
        statuses(&still),
        ["escalated"; 3],
        "a refused team decision wrote"
    );
    app.post(
        &format!("/v1/escalations/{}/release", members[1]),
        &hq2,
        &json!({}),
    )
    .await;

    // An exception names a member of the team waiting at the stage, and only once.
    let stranger = json!({"decision": "approve", "comment": "ok",
        "exceptions": [{"request_id": uuid::Uuid::now_v7(), "decision": "reject", "comment": "x"}]});
    let (status, problem) = app.post(&path, &hq, &stranger).await;
    assert_eq!(
        (status, &problem["field"]),
        (422, &json!("/exceptions/0/request_id"))
    );

    // An HQ approver who travels in the team decides none of it.
    let (status, problem) = app
        .post(
            &path,
            &app.token("cyd", &[Role::ApproverHq], None),
            &decision,
        )
        .await;
    assert_eq!(
        (status, &problem["code"]),
        (403, &json!("four_eyes_own_request"))
    );
    // Naming the members seen: one fewer than wait now decides nobody.
    let mut partial = decision.clone();
    partial["members"] = json!([members[0], members[2]]);
    let (status, problem) = app.post(&path, &hq, &partial).await;
    assert_eq!(
        (status, &problem["code"]),
        (409, &json!("concurrent_update")),
        "{problem}"
    );
    assert_eq!(problem["waiting"].as_array().unwrap().len(), 3);

    // All but cyd approved at HQ, on to the DG; cyd rejected with their own comment.
    let mut decision = decision;
    decision["members"] = json!(members);
    let (status, decided) = app.post(&path, &hq, &decision).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(statuses(&decided), ["escalated", "escalated", "rejected"]);
    assert_eq!(decided["members"][0]["approval"]["stage"], "dg");
    let (_, trail) = app
        .get(
            &format!("/v1/clearance-requests/{}/audit", members[2]),
            &wfp,
        )
        .await;
    let last = trail["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["action"], &last["actor"], &last["comment"]),
        (
            &json!("rejected"),
            &json!("hq-1"),
            &json!("SSAFE refresher first")
        ),
        "{trail}"
    );
    // The same approver cannot decide the DG stage (not their role); the DG approves the rest.
    let dg = app.token("dg-1", &[Role::ApproverDg], None);
    let (status, decided) = app
        .post(
            &path,
            &dg,
            &json!({"decision": "approve", "comment": "Approved"}),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(statuses(&decided), ["approved", "approved"]);
    // Nothing of the team waits at the DG's stage any more.
    let (status, problem) = app.post(&path, &dg, &decision).await;
    assert_eq!(
        (status, &problem["code"]),
        (404, &json!("not_found")),
        "{problem}"
    );
    // A travel unit cannot decide its own team.
    let (status, _) = app.post(&path, &wfp, &decision).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_team_is_withdrawn_as_one_and_a_member_on_their_own() {
    let app = TestApp::spawn().await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let wfp = unit(&app, "WFP");
    let body = team(
        vec![
            member("ana", "WFP", 700),
            member("ben", "WFP", 700),
            member("cyd", "WFP", 700),
        ],
        "TST-VHIGH",
    );
    let (_, created) = app.post("/v1/teams", &wfp, &body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let members = ids(&created);
    // One member withdrawn on their own, then the rest with the team.
    let (status, _) = app
        .post(
            &format!("/v1/clearance-requests/{}/withdraw", members[0]),
            &wfp,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, withdrawn) = app
        .post(
            &format!("/v1/teams/{id}/withdraw"),
            &wfp,
            &json!({"comment": "Mission cancelled"}),
        )
        .await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(statuses(&withdrawn), ["withdrawn"; 3]);
    let hq = app.token("hq-1", &[Role::ApproverHq], None);
    let (_, queue) = app.get("/v1/escalations?stage=hq", &hq).await;
    assert_eq!(queue["items"], json!([]), "{queue}");
}

#[tokio::test]
async fn a_retried_team_submission_is_stored_once() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let wfp = unit(&app, "WFP");
    let body = team(
        vec![member("ana", "WFP", 700), member("ben", "WFP", 700)],
        "TST-LOW",
    );
    let send = async || {
        let response = app
            .client
            .post(app.url("/v1/teams"))
            .bearer_auth(&wfp)
            .header("Idempotency-Key", "team-retry-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        super::support::read(response).await
    };
    let (first, a) = send().await;
    let (second, b) = send().await;
    assert_eq!((first, second), (201, 201), "{a} {b}");
    assert_eq!(a["id"], b["id"]);
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(app.stored_rows().await.0, 2);
}

/// The headcount rule counts a team's members together, and keeps counting them so when the
/// team is decided again: more of one organisation on a flight than the policy allows need
/// the stage, however the team is split in time.
#[tokio::test]
async fn a_team_over_the_headcount_on_one_flight_needs_the_stage_and_keeps_needing_it() {
    let (_dir, policy) =
        super::support::policy_with("[headcount]\nper_flight = 2\nstage = \"hq\"\n");
    let app = TestApp::spawn_with(|s| s.policy.file = policy.clone()).await;
    app.area("TST-LOW", Some("low")).await;
    let armo = app.token("armo-1", &[Role::AviationRisk], None);
    let assess = json!({"name": "Operator KQA", "assessment": "assessed",
                        "from": day(0), "until": day(365)});
    let (status, _) = app.put("/v1/air-operators/KQA", &armo, &assess).await;
    assert_eq!(status, 201);
    let mut body = team(
        vec![
            member("ana", "WFP", 700),
            member("ben", "WFP", 700),
            member("cyd", "WFP", 700),
        ],
        "TST-LOW",
    );
    body["legs"][0]["travel"] =
        json!({"mode": "flight", "operator": "KQA", "flight_number": "KQ310"});
    let wfp = unit(&app, "WFP");
    let (status, created) = app.post("/v1/teams", &wfp, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(statuses(&created), ["escalated"; 3], "{created}");
    for m in created["members"].as_array().unwrap() {
        assert_eq!(m["decision"]["code"], "headcount_approval_required", "{m}");
    }
    // Decided again (the operator's entry rewritten): the team still counts as three.
    let (_, change) = app.put("/v1/air-operators/KQA", &armo, &assess).await;
    rescreened(&app, &change).await;
    let (_, read) = app
        .get(
            &format!("/v1/teams/{}", created["id"].as_str().unwrap()),
            &wfp,
        )
        .await;
    assert_eq!(statuses(&read), ["escalated"; 3], "{read}");
}

/// A retry under the same `Idempotency-Key` after an unknown outcome (the first attempt was
/// stored, its answer lost) is handed the same team id: it names the same member ids, so the
/// store refuses them and the retry is answered with what the first attempt stored.
#[tokio::test]
async fn a_second_attempt_with_the_same_team_id_finds_the_first_instead_of_storing_twice() {
    use clearway::app::clearing::Mission;
    use clearway::domain::caller::Caller;
    use clearway::domain::criticality::ProgrammeCriticality;
    use clearway::domain::itinerary::{Itinerary, Leg};
    use clearway::domain::request::{OrgId, Traveller, TravellerId};

    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let services = clearway::startup::Services::open(&app.settings)
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let traveller = |id: &str| {
        Traveller::new(
            TravellerId::parse("", id).unwrap(),
            "Member",
            OrgId::parse("", "WFP").unwrap(),
            Some(today + chrono::Days::new(700)),
            Some(today + chrono::Days::new(700)),
        )
        .unwrap()
    };
    let mission = Mission {
        purpose: "Assessment".into(),
        programme_criticality: ProgrammeCriticality::Pc3,
        mission_sra_reference: None,
        legs: Itinerary::parse(
            vec![Leg::stay(
                clearway::domain::area::AreaCode::parse("", "TST-LOW").unwrap(),
                today + chrono::Days::new(3),
                today + chrono::Days::new(6),
            )],
            today,
        )
        .unwrap(),
    };
    let unit = Caller {
        subject: "unit-WFP".into(),
        roles: vec![Role::TravelUnit],
        org: Some(OrgId::parse("", "WFP").unwrap()),
        valid_until: i64::MAX,
    };
    let claimed = uuid::Uuid::now_v7();
    let attempt = async || {
        let (id, unit) = services
            .clearing
            .submit_team(
                &unit,
                mission.clone(),
                vec![traveller("ana"), traveller("ben")],
                Some(claimed),
            )
            .await
            .unwrap();
        (id, unit.iter().map(|n| n.record.id).collect::<Vec<_>>())
    };
    let first = attempt().await;
    let second = attempt().await;
    assert_eq!(first, second);
    assert_eq!(first.0, claimed);
    assert_eq!(app.stored_rows().await.0, 2, "the team was stored twice");
    // Anyone else's attempt with that id is refused, not shown the team.
    let other = Caller {
        subject: "unit-WFP-2".into(),
        ..unit.clone()
    };
    let refused = services
        .clearing
        .submit_team(
            &other,
            mission.clone(),
            vec![traveller("ana"), traveller("ben")],
            Some(claimed),
        )
        .await;
    assert!(refused.is_err(), "another submitter was shown the team");
}

/// A traveller counts once on a flight, however many of their requests name it: a team
/// member who also booked the flight alone is one of the people on board, at submission and
/// when decided again.
#[tokio::test]
async fn a_member_already_booked_on_the_flight_counts_once() {
    let (_dir, policy) =
        super::support::policy_with("[headcount]\nper_flight = 3\nstage = \"hq\"\n");
    let app = TestApp::spawn_with(|s| s.policy.file = policy.clone()).await;
    app.area("TST-LOW", Some("low")).await;
    let armo = app.token("armo-1", &[Role::AviationRisk], None);
    let assess = json!({"name": "Operator KQA", "assessment": "assessed",
                        "from": day(0), "until": day(365)});
    app.put("/v1/air-operators/KQA", &armo, &assess).await;
    let flight = json!({"mode": "flight", "operator": "KQA", "flight_number": "KQ310"});
    let wfp = unit(&app, "WFP");
    let mut alone = super::support::Submission::for_traveller("ana", "WFP").leg("TST-LOW", 3, 6);
    alone = alone.set("/legs/0/travel", flight.clone());
    let (status, first) = app.submit(&wfp, &alone).await;
    assert_eq!((status, &first["status"]), (201, &json!("cleared")));
    let mut body = team(
        vec![
            member("ana", "WFP", 700),
            member("ben", "WFP", 700),
            member("cyd", "WFP", 700),
        ],
        "TST-LOW",
    );
    body["legs"][0]["travel"] = flight;
    let (status, created) = app.post("/v1/teams", &wfp, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(statuses(&created), ["cleared"; 3], "three people, not four");
    // Decided again: still three.
    let (_, change) = app.put("/v1/air-operators/KQA", &armo, &assess).await;
    assert_eq!(rescreened(&app, &change).await, 0, "someone moved");
}
