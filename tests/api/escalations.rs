//! The approval chain: HQ then the DG's office, with claims, four-eyes rules, returns and
//! amendments, withdrawals, the live queue and the audit trail.

use std::time::Duration;

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{Submission, TestApp};

const HQ: &[Role] = &[Role::ApproverHq];
const DG: &[Role] = &[Role::ApproverDg];

struct Chain {
    app: TestApp,
    traveller: String,
}

impl Chain {
    async fn new() -> Chain {
        Self::with(|_| {}).await
    }

    async fn with(adjust: impl FnOnce(&mut clearway::config::Settings)) -> Chain {
        let app = TestApp::spawn_with(adjust).await;
        app.area("TST-VHIGH", Some("very_high")).await;
        app.area("TST-LOW", Some("low")).await;
        let traveller = app.traveller("alice", "UNICEF");
        Chain { app, traveller }
    }

    fn trip(&self, start: i64) -> Submission {
        Submission::for_traveller("alice", "UNICEF")
            .pc("PC1")
            .mission_sra("MSRA-2026-114")
            .leg("TST-VHIGH", start, start + 3)
    }

    async fn escalate(&self, start: i64) -> String {
        let (status, body) = self.app.submit(&self.traveller, &self.trip(start)).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (201, Some("escalated")),
            "{body}"
        );
        body["id"].as_str().unwrap().to_owned()
    }

    async fn act(&self, who: &str, roles: &[Role], id: &str, action: &str) -> (u16, Value) {
        let token = self.app.token(who, roles, None);
        self.app
            .post(
                &format!("/v1/escalations/{id}/{action}"),
                &token,
                &json!({}),
            )
            .await
    }

    async fn decide(
        &self,
        who: &str,
        roles: &[Role],
        id: &str,
        decision: &str,
        comment: &str,
    ) -> (u16, Value) {
        let token = self.app.token(who, roles, None);
        self.app
            .post(
                &format!("/v1/escalations/{id}/decision"),
                &token,
                &json!({"decision": decision, "comment": comment}),
            )
            .await
    }

    /// Claims and decides in one go, asserting both succeed.
    async fn claim_and_decide(&self, who: &str, roles: &[Role], id: &str, decision: &str) -> Value {
        let (status, body) = self.act(who, roles, id, "claim").await;
        assert_eq!(status, 200, "{who} claims: {body}");
        let (status, body) = self
            .decide(who, roles, id, decision, &format!("{who}: {decision}"))
            .await;
        assert_eq!(status, 200, "{who} decides: {body}");
        body
    }

    async fn request(&self, id: &str) -> Value {
        let (status, body) = self
            .app
            .get(&format!("/v1/clearance-requests/{id}"), &self.traveller)
            .await;
        assert_eq!(status, 200);
        body
    }

    async fn queue(&self, stage: &str, roles: &[Role]) -> Vec<Value> {
        let token = self.app.token("watcher", roles, None);
        let (status, body) = self
            .app
            .get(&format!("/v1/escalations?stage={stage}"), &token)
            .await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn a_very_high_risk_trip_needs_hq_then_dg_approval() {
    let chain = Chain::new().await;
    let id = chain.escalate(10).await;
    let hq_queue = chain.queue("hq", HQ).await;
    assert_eq!(hq_queue.len(), 1);
    assert_eq!(hq_queue[0]["request"]["id"], id.as_str());
    assert_eq!(
        hq_queue[0]["request"]["decision"]["legs"][0]["risk"],
        "very_high"
    );
    assert!(hq_queue[0]["request"]["decision"]["legs"][0]["sra"]["id"].is_string());
    assert!(chain.queue("dg", DG).await.is_empty());

    let after_hq = chain
        .claim_and_decide("hq-officer", HQ, &id, "approve")
        .await;
    assert_eq!(after_hq["status"], "escalated");
    assert_eq!(after_hq["approval"]["stage"], "dg");
    assert!(chain.queue("hq", HQ).await.is_empty());
    assert_eq!(chain.queue("dg", DG).await.len(), 1);

    let approved = chain
        .claim_and_decide("dg-office", DG, &id, "approve")
        .await;
    assert_eq!(approved["status"], "approved");

    // The traveller sees who decided what, with the comments.
    let seen = chain.request(&id).await;
    assert_eq!(seen["status"], "approved");
    let decisions = seen["approval"]["decisions"].as_array().unwrap();
    let who: Vec<_> = decisions
        .iter()
        .map(|d| {
            (
                d["stage"].clone(),
                d["approver"].clone(),
                d["verdict"].clone(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            (json!("hq"), json!("hq-officer"), json!("approve")),
            (json!("dg"), json!("dg-office"), json!("approve"))
        ]
    );
    assert_eq!(decisions[1]["comment"], "dg-office: approve");

    let (status, trail) = chain
        .app
        .get(
            &format!("/v1/clearance-requests/{id}/audit"),
            &chain.traveller,
        )
        .await;
    assert_eq!(status, 200);
    let steps: Vec<_> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}->{}",
                e["action"].as_str().unwrap(),
                e["from"].as_str().unwrap_or("-"),
                e["to"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "submitted -->escalated",
            "claimed escalated->escalated",
            "approved escalated->escalated",
            "claimed escalated->escalated",
            "approved escalated->approved"
        ]
    );
    assert!(chain.queue("dg", DG).await.is_empty());

    // Approvers read escalated requests and their trails; not others.
    let hq = chain.app.token("hq-officer", HQ, None);
    let (status, _) = chain
        .app
        .get(&format!("/v1/clearance-requests/{id}/audit"), &hq)
        .await;
    assert_eq!(status, 200);
    let (_, cleared) = chain
        .app
        .submit(
            &chain.traveller,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 2),
        )
        .await;
    let (status, _) = chain
        .app
        .get(
            &format!("/v1/clearance-requests/{}", cleared["id"].as_str().unwrap()),
            &hq,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_rejection_at_either_stage_ends_the_chain() {
    let chain = Chain::new().await;
    let at_hq = chain.escalate(5).await;
    let body = chain.claim_and_decide("hq-1", HQ, &at_hq, "reject").await;
    assert_eq!(body["status"], "rejected");

    let at_dg = chain.escalate(6).await;
    chain.claim_and_decide("hq-1", HQ, &at_dg, "approve").await;
    let body = chain.claim_and_decide("dg-1", DG, &at_dg, "reject").await;
    assert_eq!(body["status"], "rejected");
    let (status, body) = chain.act("dg-2", DG, &at_dg, "claim").await;
    assert_eq!((status, body["code"].as_str()), (409, Some("not_pending")));
}

#[tokio::test]
async fn a_returned_request_is_amended_and_re_enters_the_chain_at_hq() {
    let chain = Chain::new().await;
    let id = chain.escalate(8).await;
    chain.claim_and_decide("hq-1", HQ, &id, "approve").await;
    let returned = chain.claim_and_decide("dg-1", DG, &id, "return").await;
    assert_eq!(returned["status"], "returned");

    let moved = chain.trip(9).set("/traveller/org", json!("WFP"));
    let response = chain
        .app
        .client
        .patch(chain.app.url(&format!("/v1/clearance-requests/{id}")))
        .bearer_auth(chain.app.traveller("alice", "UNICEF"))
        .json(&moved.json)
        .send()
        .await
        .unwrap();
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["field"], "/traveller/org",
        "a request cannot move to another organisation"
    );

    // A day later, and with a second leg: the stored legs are replaced, not added to.
    let amended = chain.trip(9).leg("TST-LOW", 13, 14).set(
        "/purpose",
        json!("Distribution monitoring, with the requested security plan"),
    );
    let response = chain
        .app
        .client
        .patch(chain.app.url(&format!("/v1/clearance-requests/{id}")))
        .bearer_auth(&chain.traveller)
        .json(&amended.json)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "escalated");
    assert_eq!(body["approval"]["stage"], "hq");
    assert_eq!(body["legs"][0]["arrival"], crate::support::day(9));
    let legs_at = |area: &'static str, day: i64| {
        let (id, arrival) = (id.clone(), crate::support::day(day));
        let db = &chain.app.db;
        async move {
            db.scalar(
                "SELECT COUNT(*) FROM request_legs WHERE CAST(request_id AS TEXT) = $1 \
                 AND area_code = $2 AND CAST(arrival AS TEXT) = $3",
                &[&id, area, &arrival],
            )
            .await
        }
    };
    let stored = "SELECT COUNT(*) FROM request_legs WHERE CAST(request_id AS TEXT) = $1";
    assert_eq!(chain.app.db.scalar(stored, &[&id]).await, 2);
    assert_eq!(legs_at("TST-VHIGH", 9).await, 1);
    assert_eq!(legs_at("TST-LOW", 13).await, 1);
    assert_eq!(legs_at("TST-VHIGH", 8).await, 0, "the old leg is gone");
    assert_eq!(chain.queue("hq", HQ).await.len(), 1);
    // A new pass: the earlier HQ approver may decide it again.
    let body = chain.claim_and_decide("hq-1", HQ, &id, "approve").await;
    assert_eq!(body["approval"]["stage"], "dg");

    // Only returned or held requests are amended.
    let response = chain
        .app
        .client
        .patch(chain.app.url(&format!("/v1/clearance-requests/{id}")))
        .bearer_auth(&chain.traveller)
        .json(&amended.json)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn a_claim_is_a_lease_that_blocks_others_and_lapses_by_itself() {
    let chain = Chain::with(|s| s.approval.lease_seconds = 1).await;
    let id = chain.escalate(4).await;
    let (status, _) = chain.act("hq-1", HQ, &id, "claim").await;
    assert_eq!(status, 200);
    let (status, body) = chain.act("hq-2", HQ, &id, "claim").await;
    assert_eq!(
        (status, body["code"].as_str(), body["holder"].as_str()),
        (409, Some("claimed_by_another"), Some("hq-1"))
    );
    assert!(body["until"].is_string());
    let queue = chain.queue("hq", HQ).await;
    assert_eq!(queue[0]["claim"]["holder"], "hq-1");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = chain.decide("hq-1", HQ, &id, "approve", "too late").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("claim_lapsed")),
        "{body}"
    );
    let (status, _) = chain.act("hq-2", HQ, &id, "claim").await;
    assert_eq!(status, 200, "a lapsed lease is free to claim");
    let (status, body) = chain.decide("hq-1", HQ, &id, "approve", "mine?").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("claimed_by_another"))
    );

    let (status, _) = chain.act("hq-2", HQ, &id, "release").await;
    assert_eq!(status, 200);
    let (status, _) = chain.act("hq-1", HQ, &id, "claim").await;
    assert_eq!(status, 200, "a released claim is free at once");
}

#[tokio::test]
async fn two_approvers_claiming_at_the_same_instant_one_wins() {
    let chain = Chain::new().await;
    let id = chain.escalate(3).await;
    let claims = (0..8).map(|i| {
        let token = chain.app.token(&format!("hq-{i}"), HQ, None);
        let url = chain.app.url(&format!("/v1/escalations/{id}/claim"));
        let client = chain.app.client.clone();
        async move { client.post(url).bearer_auth(token).send().await.unwrap() }
    });
    let responses = futures_util::future::join_all(claims).await;
    let mut won = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => won += 1,
            409 => {
                let body: Value = response.json().await.unwrap();
                assert!(
                    matches!(
                        body["code"].as_str(),
                        Some("claimed_by_another" | "concurrent_update")
                    ),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1, "exactly one claim wins");
}

#[tokio::test]
async fn four_eyes_and_claim_rules_are_enforced_with_stable_codes() {
    let chain = Chain::new().await;
    let id = chain.escalate(7).await;
    let (status, body) = chain.decide("hq-1", HQ, &id, "approve", "no claim").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("claim_required"))
    );

    // The traveller holding an approver role still cannot approve their own request.
    let (status, body) = chain.act("alice", HQ, &id, "claim").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("four_eyes_own_request"))
    );

    let (status, _) = chain.act("hq-1", HQ, &id, "claim").await;
    assert_eq!(status, 200);
    let (status, body) = chain.decide("hq-1", HQ, &id, "approve", "   ").await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("comment_required"), Some("/comment"))
    );
    let (status, body) = chain
        .decide("dg-1", DG, &id, "approve", "not my stage")
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, body) = chain
        .app
        .post(
            &format!("/v1/escalations/{id}/decision"),
            &chain.app.token("hq-1", HQ, None),
            &json!({"decision": "maybe", "comment": "x"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("/decision")));
    chain.decide("hq-1", HQ, &id, "approve", "ok").await;

    // Someone with both roles who decided HQ cannot decide DG.
    let both = &[Role::ApproverHq, Role::ApproverDg];
    let (status, body) = chain.act("hq-1", both, &id, "claim").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("four_eyes_same_approver"))
    );

    for (who, roles) in [
        ("alice", &[Role::Traveller][..]),
        ("sam", &[Role::SecurityAnalyst][..]),
    ] {
        let (status, _) = chain.act(who, roles, &id, "claim").await;
        assert_eq!(status, 403, "{who}");
    }
    let (status, _) = chain
        .act("dg-1", DG, "00000000-0000-7000-8000-000000000000", "claim")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_traveller_withdraws_a_pending_request_and_it_leaves_the_queue() {
    let chain = Chain::new().await;
    let id = chain.escalate(5).await;
    let (status, body) = chain
        .app
        .post(
            &format!("/v1/clearance-requests/{id}/withdraw"),
            &chain.traveller,
            &json!({"comment": "Mission postponed"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("withdrawn")),
        "{body}"
    );
    assert!(chain.queue("hq", HQ).await.is_empty());
    let (status, body) = chain.act("hq-1", HQ, &id, "claim").await;
    assert_eq!((status, body["code"].as_str()), (409, Some("not_pending")));

    let (_, cleared) = chain
        .app
        .submit(
            &chain.traveller,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 2),
        )
        .await;
    let cleared_id = cleared["id"].as_str().unwrap();
    let (status, body) = chain
        .app
        .post(
            &format!("/v1/clearance-requests/{cleared_id}/withdraw"),
            &chain.traveller,
            &json!({}),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("not_pending")));

    // `null`, what generated clients send for "no body", is no comment, as `{}` is.
    let second = chain.escalate(6).await;
    let (status, body) = chain
        .app
        .post(
            &format!("/v1/clearance-requests/{second}/withdraw"),
            &chain.traveller,
            &Value::Null,
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("withdrawn")),
        "{body}"
    );

    let bob = chain.app.traveller("bob", "UNICEF");
    let (status, _) = chain
        .app
        .post(
            &format!("/v1/clearance-requests/{id}/withdraw"),
            &bob,
            &json!({}),
        )
        .await;
    assert_eq!(
        status, 404,
        "another traveller's request does not exist for them"
    );
}

#[tokio::test]
async fn the_queue_puts_the_soonest_travel_first_and_flags_the_next_72_hours() {
    let chain = Chain::new().await;
    let later = chain.escalate(30).await;
    let soon = chain.escalate(2).await;
    let also_later = chain.escalate(30).await;
    let queue = chain.queue("hq", HQ).await;
    let order: Vec<_> = queue
        .iter()
        .map(|i| i["request"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, [soon.clone(), later, also_later]);
    assert_eq!(queue[0]["urgent"], true);
    assert_eq!(queue[1]["urgent"], false);
    assert!(queue[0]["seconds_in_queue"].as_i64().unwrap() >= 0);

    let (status, _) = chain
        .app
        .get("/v1/escalations?stage=hq", &chain.traveller)
        .await;
    assert_eq!(status, 403);
    let (status, _) = chain
        .app
        .get(
            "/v1/escalations?stage=hq",
            &chain.app.token("dg-1", DG, None),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = chain
        .app
        .get(
            "/v1/escalations?stage=nowhere",
            &chain.app.token("hq-1", HQ, None),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_query"))
    );
}

#[tokio::test]
async fn approvers_follow_the_queue_live() {
    let chain = Chain::new().await;
    let token = chain.app.token("hq-1", HQ, None);
    let mut stream = chain
        .app
        .client
        .get(chain.app.url("/v1/escalations/stream"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let id = chain.escalate(4).await;
    chain.act("hq-1", HQ, &id, "claim").await;
    let mut seen = String::new();
    let read = async {
        while !(seen.contains("event: new") && seen.contains("event: claimed")) {
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("events arrive within seconds");
    assert!(seen.contains(&id), "{seen}");
}

#[tokio::test]
async fn a_tampered_audit_trail_is_detected_by_audit_verify() {
    let chain = Chain::new().await;
    let id = chain.escalate(6).await;
    chain.claim_and_decide("hq-1", HQ, &id, "approve").await;
    let db = chain.app.settings.database.url.clone();
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_clearway"))
            .args(["audit", "verify"])
            .env("CLEARWAY_CONFIG_DIR", crate::support::config_dir())
            .env("CLEARWAY__DATABASE__URL", &db)
            .env("CLEARWAY__REDIS__URL", "")
            .output()
            .unwrap()
    };
    let intact = verify();
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert!(String::from_utf8_lossy(&intact.stdout).contains("3 entries over 1 requests"));

    // The log refuses edits; someone with the database file drops that guard and edits anyway.
    let database = &chain.app.db;
    let edit = database
        .execute(
            "UPDATE audit_log SET comment = 'nothing happened' WHERE CAST(request_id AS TEXT) = $1 AND seq = 3",
            &[&id],
        )
        .await;
    assert!(edit.is_err(), "the audit log is append-only");
    let drop_guard = if database.is_postgres() {
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_is_append_only"
    } else {
        "DROP TRIGGER audit_log_is_append_only_update"
    };
    database.execute(drop_guard, &[]).await.unwrap();
    let edited = database
        .execute(
            "UPDATE audit_log SET actor = 'someone-else' WHERE CAST(request_id AS TEXT) = $1 AND seq = 2",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(edited, 1);
    let broken = verify();
    assert_eq!(broken.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains(&format!("request {id} entry 2")),
        "{stderr}"
    );
}

/// Approvers read what waits at their stage and what they took part in, nothing else:
/// another HQ approver loses sight of a request once HQ has decided it.
#[tokio::test]
async fn approvers_read_their_stages_items_and_what_they_decided_only() {
    let chain = Chain::new().await;
    let id = chain.escalate(8).await;
    let reads = |who: &'static str, roles: &'static [Role]| {
        let token = chain.app.token(who, roles, None);
        let app = &chain.app;
        let id = id.clone();
        async move {
            let (one, _) = app
                .get(&format!("/v1/clearance-requests/{id}"), &token)
                .await;
            let (trail, _) = app
                .get(&format!("/v1/clearance-requests/{id}/audit"), &token)
                .await;
            assert_eq!(one, trail, "{who}: the request and its trail agree");
            one == 200
        }
    };
    assert!(reads("hq-2", HQ).await, "at HQ: every HQ approver");
    assert!(!reads("dg-1", DG).await, "at HQ: not yet the DG's office");

    chain.claim_and_decide("hq-1", HQ, &id, "approve").await;
    assert!(reads("hq-1", HQ).await, "hq-1 decided it");
    assert!(!reads("hq-2", HQ).await, "hq-2 took no part");
    assert!(reads("dg-2", DG).await, "at DG: every DG approver");

    chain.claim_and_decide("dg-1", DG, &id, "approve").await;
    assert!(reads("dg-1", DG).await, "dg-1 decided it");
    assert!(
        reads("hq-1", HQ).await,
        "hq-1 still: the trail holds the decision"
    );
    assert!(!reads("dg-2", DG).await, "dg-2 took no part");
}

/// A stream lives as long as its token (issue 25, finding 4): when the token expires the
/// approver is told, and the stream ends.
#[tokio::test]
async fn the_live_queue_ends_when_its_token_expires() {
    let chain = Chain::with(|s| s.auth.leeway_secs = 1).await;
    let now = chrono::Utc::now().timestamp();
    let short = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "hq-1", "roles": ["approver-hq"], "iss": chain.app.settings.auth.issuer,
                "aud": chain.app.settings.auth.audience, "iat": now, "nbf": now, "exp": now + 3}),
        &jsonwebtoken::EncodingKey::from_secret(
            secrecy::ExposeSecret::expose_secret(
                chain.app.settings.auth.hs256_secret.as_ref().unwrap(),
            )
            .as_bytes(),
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut stream = chain
        .app
        .client
        .get(chain.app.url("/v1/escalations/stream"))
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its token: {seen}");
    assert!(seen.contains("event: token_expired"), "{seen}");
    let took = started.elapsed();
    // exp is 3 s away (whole seconds) plus 1 s of leeway: not before 2 s after it opened.
    assert!(took >= Duration::from_secs(2), "ended after {took:?}");
    println!("the stream ended {took:?} after it opened");
}
