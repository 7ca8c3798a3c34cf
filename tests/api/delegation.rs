//! Delegation (issue 29, item 4): an approver hands their stage to a colleague for some
//! days; the delegate's acts name both in the audit trail; four-eyes holds for both; loops,
//! self-delegation, long chains and reversed ranges are refused and change nothing.

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{Submission, TestApp, day};

const HQ: &[Role] = &[Role::ApproverHq];
const DG: &[Role] = &[Role::ApproverDg];
/// A colleague with no approver role of their own.
const COLLEAGUE: &[Role] = &[Role::SecurityAnalyst];

async fn escalate(app: &TestApp, traveller: &str) -> String {
    let trip = Submission::for_traveller(traveller, "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", 10, 12);
    let (status, body) = app.submit(&app.traveller(traveller, "UNICEF"), &trip).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("escalated")),
        "{body}"
    );
    body["id"].as_str().unwrap().to_owned()
}

async fn act(app: &TestApp, who: &str, roles: &[Role], id: &str, step: &str) -> (u16, Value) {
    let body = if step == "decision" {
        json!({"decision": "approve", "comment": format!("{who} approves")})
    } else {
        json!({})
    };
    app.post(
        &format!("/v1/escalations/{id}/{step}"),
        &app.token(who, roles, None),
        &body,
    )
    .await
}

async fn delegate(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.post("/v1/delegations", token, &body).await
}

fn dg_to(delegate: &str) -> Value {
    json!({"stage": "dg", "delegate": delegate, "from": day(0), "until": day(5)})
}

#[tokio::test]
async fn a_delegate_decides_with_the_approvers_authority_and_the_trail_names_both() {
    let app = TestApp::spawn().await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let id = escalate(&app, "alice").await;
    let (status, _) = act(&app, "hq-1", HQ, &id, "claim").await;
    assert_eq!(status, 200);
    let (status, body) = act(&app, "hq-1", HQ, &id, "decision").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("escalated")),
        "{body}"
    );

    // Before: the colleague may not touch the DG's queue.
    let deputy = app.token("deputy", COLLEAGUE, None);
    let (status, _) = app.get("/v1/escalations?stage=dg", &deputy).await;
    assert_eq!(status, 403);
    let (status, _) = act(&app, "deputy", COLLEAGUE, &id, "claim").await;
    assert_eq!(status, 403);
    let (status, _) = app
        .get(&format!("/v1/clearance-requests/{id}"), &deputy)
        .await;
    assert_eq!(status, 403);

    let dg = app.token("dg-1", DG, None);
    let (status, given) = delegate(&app, &dg, dg_to("deputy")).await;
    assert_eq!(status, 201, "{given}");
    assert_eq!(
        (given["delegator"].as_str(), given["created_by"].as_str()),
        (Some("dg-1"), Some("dg-1"))
    );

    // After: the request (the link in their e-mail), the queue, the claim and the decision,
    // with dg-1's authority.
    let (status, _) = app
        .get(&format!("/v1/clearance-requests/{id}"), &deputy)
        .await;
    assert_eq!(status, 200);
    let (status, queue) = app.get("/v1/escalations?stage=dg", &deputy).await;
    assert_eq!(
        (status, queue["items"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, _) = act(&app, "deputy", COLLEAGUE, &id, "claim").await;
    assert_eq!(status, 200);
    let (status, body) = act(&app, "deputy", COLLEAGUE, &id, "decision").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    let decision = &body["approval"]["decisions"][1];
    assert_eq!(
        (
            decision["approver"].as_str(),
            decision["on_behalf_of"].as_str()
        ),
        (Some("deputy"), Some("dg-1"))
    );
    let (_, trail) = app
        .get(&format!("/v1/clearance-requests/{id}/audit"), &app.admin())
        .await;
    let last = trail["items"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (
            last["action"].as_str(),
            last["actor"].as_str(),
            last["on_behalf_of"].as_str()
        ),
        (Some("approved"), Some("deputy"), Some("dg-1"))
    );
    // The trail still verifies: the new field is in the hash of the entries that carry it.
    let hq_entry = &trail["items"].as_array().unwrap()[2];
    assert_eq!(hq_entry["on_behalf_of"], Value::Null);

    // Each sees the delegation; a stranger does not, nor can end it.
    let (_, mine) = app.get("/v1/delegations", &deputy).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let stranger = app.token("someone", DG, None);
    let (_, theirs) = app.get("/v1/delegations", &stranger).await;
    assert_eq!(theirs["items"], json!([]));
    let path = format!("/v1/delegations/{}", given["id"].as_str().unwrap());
    let (status, _) = app.delete(&path, &stranger).await;
    assert_eq!(status, 404);
    // Revoked, it holds no more.
    let (status, revoked) = app.delete(&path, &dg).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = app.get("/v1/escalations?stage=dg", &deputy).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn four_eyes_holds_for_the_delegate_and_for_the_approver_it_acts_for() {
    let app = TestApp::spawn().await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let admin = app.admin();
    let id = escalate(&app, "alice").await;
    act(&app, "hq-1", HQ, &id, "claim").await;
    let (status, _) = act(&app, "hq-1", HQ, &id, "decision").await;
    assert_eq!(status, 200);

    // HQ's approver, made the DG's delegate, decided the earlier stage.
    let (status, body) = delegate(
        &app,
        &admin,
        json!({"stage": "dg", "delegator": "dg-1",
        "delegate": "hq-1", "from": day(0), "until": day(3)}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = act(&app, "hq-1", HQ, &id, "claim").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("four_eyes_same_approver")),
        "{body}"
    );

    // A delegate acting with the traveller's own authority (an admin's mistake) is refused too.
    let (status, body) = delegate(
        &app,
        &admin,
        json!({"stage": "dg", "delegator": "alice",
        "delegate": "deputy", "from": day(0), "until": day(3)}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = act(&app, "deputy", COLLEAGUE, &id, "claim").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("four_eyes_own_request")),
        "{body}"
    );
}

#[tokio::test]
async fn bad_delegations_are_refused_with_their_codes_and_change_nothing() {
    let app = TestApp::spawn().await;
    let dg = app.token("dg-1", DG, None);
    let admin = app.admin();
    let cases = [
        (
            &dg,
            json!({"stage": "dg", "delegate": "dg-1", "from": day(0), "until": day(2)}),
            422,
            "delegation_to_self",
            "/delegate",
        ),
        (
            &dg,
            json!({"stage": "dg", "delegate": "deputy", "from": day(3), "until": day(1)}),
            422,
            "invalid_date_range",
            "/until",
        ),
        (
            &dg,
            json!({"stage": "dg", "delegate": "deputy", "from": day(-9), "until": day(-2)}),
            422,
            "invalid_date_range",
            "/until",
        ),
        (
            &dg,
            json!({"stage": "ops", "delegate": "deputy", "from": day(0), "until": day(2)}),
            422,
            "invalid_field",
            "/stage",
        ),
        (
            &dg,
            json!({"stage": "dg", "delegate": "a b", "from": day(0), "until": day(2)}),
            422,
            "invalid_field",
            "/delegate",
        ),
    ];
    for (token, body, status, code, field) in cases {
        let (got, problem) = delegate(&app, token, body.clone()).await;
        assert_eq!(
            (got, problem["code"].as_str(), problem["field"].as_str()),
            (status, Some(code), Some(field)),
            "{body}: {problem}"
        );
    }
    // Not one's stage, or someone else's authority without being an admin.
    let hq = app.token("hq-1", HQ, None);
    let (status, _) = delegate(&app, &hq, dg_to("deputy")).await;
    assert_eq!(status, 403);
    let (status, _) = delegate(
        &app,
        &hq,
        json!({"stage": "dg", "delegator": "dg-1",
        "delegate": "deputy", "from": day(0), "until": day(2)}),
    )
    .await;
    assert_eq!(status, 403);
    let (_, all) = app.get("/v1/delegations", &admin).await;
    assert_eq!(all["items"], json!([]), "nothing was stored");

    // dg-1 -> deputy -> backup is a chain of two; back to dg-1 is a loop, one more too long.
    assert_eq!(delegate(&app, &dg, dg_to("deputy")).await.0, 201);
    let via = |delegator: &str, delegate: &str| json!({"stage": "dg", "delegator": delegator, "delegate": delegate, "from": day(0), "until": day(2)});
    let (status, body) = delegate(&app, &admin, via("deputy", "dg-1")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("delegation_loop")),
        "{body}"
    );
    let (status, body) = delegate(&app, &admin, via("deputy", "backup")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = delegate(&app, &admin, via("backup", "dg-1")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("delegation_loop")),
        "{body}"
    );
    let (status, body) = delegate(&app, &admin, via("backup", "third")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("delegation_chain_too_long")),
        "{body}"
    );
    let (_, all) = app.get("/v1/delegations", &admin).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // The chain's far end acts with the root approver's authority.
    app.area("TST-VHIGH", Some("very_high")).await;
    let id = escalate(&app, "bob").await;
    act(&app, "hq-1", HQ, &id, "claim").await;
    act(&app, "hq-1", HQ, &id, "decision").await;
    assert_eq!(act(&app, "backup", COLLEAGUE, &id, "claim").await.0, 200);
    let (status, body) = act(&app, "backup", COLLEAGUE, &id, "decision").await;
    assert_eq!(
        (
            status,
            body["approval"]["decisions"][1]["on_behalf_of"].as_str()
        ),
        (200, Some("dg-1"))
    );
    // Four-eyes holds for every hand in the chain: deputy's own request cannot be approved
    // by backup with authority that passed through deputy.
    let own = escalate(&app, "deputy").await;
    act(&app, "hq-1", HQ, &own, "claim").await;
    act(&app, "hq-1", HQ, &own, "decision").await;
    let (status, body) = act(&app, "backup", COLLEAGUE, &own, "claim").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("four_eyes_own_request")),
        "{body}"
    );
}
