//! Every error code the API description lists is triggered here, through the real service:
//! each answers with its documented status, as `application/problem+json`, and the operation
//! that produced it lists the code among its responses. A code added to the catalogue
//! without a way to trigger it here fails the test.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use clearway::auth::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use super::support::{Submission, TestApp, day, stalled_body};

/// What one trigger saw, and the operation (method, path template) it called.
struct Seen {
    op: Option<(&'static str, &'static str)>,
    status: u16,
    content_type: String,
    body: Value,
}

async fn seen(op: Option<(&'static str, &'static str)>, request: RequestBuilder) -> Seen {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    Seen {
        op,
        status,
        content_type,
        body,
    }
}

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
    app.client.request(method, app.url(path)).bearer_auth(token)
}

async fn escalate(app: &TestApp, token: &str, traveller: &str) -> String {
    let trip = Submission::for_traveller(traveller, "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", 5, 8);
    let (status, body) = app.submit(token, &trip).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("escalated")),
        "{body}"
    );
    body["id"].as_str().unwrap().to_owned()
}

/// A draft SRA for `area` as version `version`; returns its id.
async fn draft(app: &TestApp, area: &str, version: u32) -> String {
    let (status, body) = app
        .post(
            "/v1/sras/drafts",
            &app.analyst(),
            &json!({"area": area, "version": version, "effective_from": day(-1),
                    "review_due": day(300), "security_level": 2, "residual_risk": "low"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Runs the statements of the test database's dialect.
async fn install(app: &TestApp, sqlite: &[&str], postgres: &[&str]) {
    let statements = if app.db.is_postgres() {
        postgres
    } else {
        sqlite
    };
    for sql in statements {
        app.db.execute(sql, &[]).await.unwrap();
    }
}

/// Makes every update of a request row silently do nothing, as if another writer always got
/// there first.
async fn stall_request_updates(app: &TestApp) {
    install(
        app,
        &["CREATE TRIGGER stall BEFORE UPDATE ON clearance_requests BEGIN SELECT RAISE(IGNORE); END"],
        &[
            "CREATE FUNCTION stall() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER stall BEFORE UPDATE ON clearance_requests FOR EACH ROW EXECUTE FUNCTION stall()",
        ],
    )
    .await;
}

/// Makes the store refuse new requests, as a broken database would.
async fn refuse_inserts(app: &TestApp) {
    install(
        app,
        &["CREATE TRIGGER refuse BEFORE INSERT ON clearance_requests BEGIN SELECT RAISE(ABORT, 'refused'); END"],
        &[
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON clearance_requests FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
    )
    .await;
}

#[tokio::test]
async fn every_documented_error_code_is_triggered_and_answers_as_documented() {
    let app = TestApp::spawn_with(|s| s.server.body_timeout_ms = 300).await;
    app.area("TST-LOW", Some("low")).await;
    app.area("TST-VHIGH", Some("very_high")).await;
    app.area("TST-SRA", None).await;
    let alice = app.traveller("alice", "UNICEF");
    let analyst = app.analyst();
    let hq = |who: &str| app.token(who, &[Role::ApproverHq], None);
    let low_trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 2);
    let mut seen_codes: BTreeMap<&'static str, Seen> = BTreeMap::new();
    let mut record = |code: &'static str, s: Seen| {
        assert!(
            seen_codes.insert(code, s).is_none(),
            "{code} triggered twice"
        );
    };
    const SUBMIT: Option<(&str, &str)> = Some(("post", "/v1/clearance-requests"));
    const LIST: Option<(&str, &str)> = Some(("get", "/v1/clearance-requests"));
    const CLAIM: Option<(&str, &str)> = Some(("post", "/v1/escalations/{id}/claim"));
    const DECIDE: Option<(&str, &str)> = Some(("post", "/v1/escalations/{id}/decision"));
    const WITHDRAW: Option<(&str, &str)> = Some(("post", "/v1/clearance-requests/{id}/withdraw"));

    // Input.
    let post = |path: &str| call(&app, Method::POST, path, &alice);
    let desk = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    record(
        "webhook_target_forbidden",
        seen(
            Some(("post", "/v1/webhooks")),
            call(&app, Method::POST, "/v1/webhooks", &desk).json(&json!({
                "url": "https://10.0.0.1/hooks", "events": ["*"],
                "secret": "unicef-webhook-secret-0123456789"
            })),
        )
        .await,
    );
    record(
        "malformed_json",
        seen(
            SUBMIT,
            post("/v1/clearance-requests")
                .header("content-type", "application/json")
                .body("{"),
        )
        .await,
    );
    record(
        "invalid_query",
        seen(
            LIST,
            call(
                &app,
                Method::GET,
                "/v1/clearance-requests?colour=red",
                &alice,
            ),
        )
        .await,
    );
    record(
        "invalid_idempotency_key",
        seen(
            SUBMIT,
            post("/v1/clearance-requests")
                .header("idempotency-key", "k".repeat(300))
                .json(&low_trip.json),
        )
        .await,
    );
    record(
        "payload_too_large",
        seen(
            SUBMIT,
            post("/v1/clearance-requests")
                .header("content-type", "application/json")
                .body(vec![b' '; app.settings.server.max_body_bytes + 1]),
        )
        .await,
    );
    // A body that stops arriving: raw TCP, since an HTTP client sends what it declares.
    let (raw, _) = stalled_body(&app.address, "POST /v1/clearance-requests", &alice, "").await;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    record(
        "request_timeout",
        Seen {
            op: SUBMIT,
            status: head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
            content_type: head
                .lines()
                .find_map(|l| l.strip_prefix("content-type: "))
                .unwrap_or_default()
                .to_owned(),
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        },
    );
    record(
        "unsupported_media_type",
        seen(
            SUBMIT,
            post("/v1/clearance-requests")
                .header("content-type", "text/plain")
                .body("hello"),
        )
        .await,
    );
    record(
        "invalid_field",
        seen(
            SUBMIT,
            post("/v1/clearance-requests").json(&low_trip.clone().without("/purpose").json),
        )
        .await,
    );
    record(
        "invalid_email",
        seen(
            Some(("put", "/v1/people/{subject}")),
            call(&app, Method::PUT, "/v1/people/hana", &app.admin()).json(&json!({
                "name": "Hana Sato", "email": "hana.sato", "language": "en"
            })),
        )
        .await,
    );
    record(
        "unsupported_language",
        seen(
            SUBMIT,
            post("/v1/clearance-requests").json(
                &low_trip
                    .clone()
                    .set("/traveller/language", json!("tlh"))
                    .json,
            ),
        )
        .await,
    );
    let dg = app.token("dg-1", &[Role::ApproverDg], None);
    let delegation = |body: Value| {
        seen(
            Some(("post", "/v1/delegations")),
            call(&app, Method::POST, "/v1/delegations", &dg).json(&body),
        )
    };
    record(
        "delegation_to_self",
        delegation(json!({"stage": "dg", "delegate": "dg-1", "from": day(0), "until": day(1)}))
            .await,
    );
    record(
        "invalid_date_range",
        delegation(json!({"stage": "dg", "delegate": "deputy", "from": day(2), "until": day(1)}))
            .await,
    );
    let given =
        delegation(json!({"stage": "dg", "delegate": "deputy", "from": day(0), "until": day(1)}))
            .await;
    assert_eq!(given.status, 201, "{}", given.body);
    let admin_delegates = |body: Value| {
        seen(
            Some(("post", "/v1/delegations")),
            call(&app, Method::POST, "/v1/delegations", &app.admin()).json(&body),
        )
    };
    record(
        "delegation_loop",
        admin_delegates(json!({"stage": "dg", "delegator": "deputy", "delegate": "dg-1", "from": day(0), "until": day(1)})).await,
    );
    let second = admin_delegates(json!({"stage": "dg", "delegator": "deputy", "delegate": "backup", "from": day(0), "until": day(1)})).await;
    assert_eq!(second.status, 201, "{}", second.body);
    record(
        "delegation_chain_too_long",
        admin_delegates(json!({"stage": "dg", "delegator": "backup", "delegate": "third", "from": day(0), "until": day(1)})).await,
    );
    // Incidents, on an area of their own: an open one holds its area's requests.
    app.area("TST-INC", Some("low")).await;
    let (status, body) = app
        .submit(
            &alice,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-INC", 0, 2),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let open_incident = |hours: i64| {
        seen(
            Some(("post", "/v1/incidents")),
            call(&app, Method::POST, "/v1/incidents", &analyst).json(&json!({
                "areas": ["TST-INC"], "description": "Clashes",
                "started_at": (Utc::now() + chrono::Duration::hours(hours)).to_rfc3339(),
            })),
        )
    };
    record("incident_in_future", open_incident(30).await);
    let opened = open_incident(0).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    let incident = opened.body["incident"]["id"].as_str().unwrap().to_owned();
    let (_, roll) = app
        .get(&format!("/v1/incidents/{incident}/people"), &analyst)
        .await;
    let entry = uuid::Uuid::parse_str(roll["items"][0]["id"].as_str().unwrap()).unwrap();
    let key = {
        use secrecy::ExposeSecret;
        let key = app.settings.server.verification_key.as_ref().unwrap();
        key.expose_secret().as_bytes().to_vec()
    };
    let link = format!(
        "/check-in/{}",
        clearway::domain::check_in_link::seal(&key, entry)
    );
    record(
        "check_in_not_yours",
        seen(
            Some(("post", "/check-in/{token}")),
            app.client
                .post(app.url(&link))
                .bearer_auth(app.traveller("mallory", "UNICEF"))
                .header("Accept", "application/json")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("state=safe"),
        )
        .await,
    );
    let close = format!("/v1/incidents/{incident}/close");
    let closed = seen(
        None,
        call(&app, Method::POST, &close, &analyst).json(&json!({})),
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    record(
        "incident_closed",
        seen(
            Some(("post", "/v1/incidents/{id}/close")),
            call(&app, Method::POST, &close, &analyst).json(&json!({})),
        )
        .await,
    );
    record(
        "invalid_itinerary",
        seen(
            SUBMIT,
            post("/v1/clearance-requests").json(&Submission::for_traveller("alice", "UNICEF").json),
        )
        .await,
    );
    record(
        "leg_in_past",
        seen(
            SUBMIT,
            post("/v1/clearance-requests").json(
                &Submission::for_traveller("alice", "UNICEF")
                    .leg("TST-LOW", -10, -5)
                    .json,
            ),
        )
        .await,
    );
    let team = |ids: &[&str]| {
        let travellers: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "name": "Member", "org": "UNICEF"}))
            .collect();
        json!({"travellers": travellers, "purpose": "Mission", "programme_criticality": "PC3",
               "legs": [{"area": "TST-LOW", "arrival": day(1),
                         "departure": day(2)}]})
    };
    const TEAM: Option<(&str, &str)> = Some(("post", "/v1/teams"));
    record(
        "team_size",
        seen(TEAM, post("/v1/teams").json(&team(&["alice"]))).await,
    );
    record(
        "duplicate_traveller",
        seen(
            TEAM,
            post("/v1/teams").json(&team(&["alice", "bob", "alice"])),
        )
        .await,
    );
    let mut many = Submission::for_traveller("alice", "UNICEF");
    for i in 0..21 {
        many = many.leg("TST-LOW", 1 + 2 * i, 2 + 2 * i);
    }
    record(
        "too_many_legs",
        seen(SUBMIT, post("/v1/clearance-requests").json(&many.json)).await,
    );
    record(
        "unknown_area",
        seen(
            SUBMIT,
            post("/v1/clearance-requests").json(
                &Submission::for_traveller("alice", "UNICEF")
                    .leg("TST-NOWHERE", 1, 2)
                    .json,
            ),
        )
        .await,
    );

    // Authentication and authorization.
    record(
        "missing_token",
        seen(LIST, app.client.get(app.url("/v1/clearance-requests"))).await,
    );
    let now = Utc::now().timestamp();
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "alice", "roles": ["traveller"], "org": "UNICEF",
                "iss": app.settings.auth.issuer, "aud": app.settings.auth.audience,
                "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
        &EncodingKey::from_secret(
            secrecy::ExposeSecret::expose_secret(app.settings.auth.hs256_secret.as_ref().unwrap())
                .as_bytes(),
        ),
    )
    .unwrap();
    record(
        "token_expired",
        seen(
            LIST,
            call(&app, Method::GET, "/v1/clearance-requests", &expired),
        )
        .await,
    );
    record(
        "invalid_token",
        seen(
            LIST,
            call(&app, Method::GET, "/v1/clearance-requests", "not.a.token"),
        )
        .await,
    );
    let alice_without_org = app.token("alice", &[Role::Traveller], None);
    record(
        "token_org_required",
        seen(
            LIST,
            call(
                &app,
                Method::GET,
                "/v1/clearance-requests",
                &alice_without_org,
            ),
        )
        .await,
    );
    record(
        "forbidden",
        seen(
            Some(("post", "/v1/areas")),
            post("/v1/areas").json(&json!({"code": "TST-NEW", "name": "New", "country": "X"})),
        )
        .await,
    );
    record(
        "not_found",
        seen(
            Some(("get", "/v1/clearance-requests/{id}")),
            call(
                &app,
                Method::GET,
                &format!("/v1/clearance-requests/{}", uuid::Uuid::now_v7()),
                &alice,
            ),
        )
        .await,
    );
    record(
        "method_not_allowed",
        seen(
            None,
            call(&app, Method::PUT, "/v1/areas", &analyst).json(&json!({})),
        )
        .await,
    );

    // The request lifecycle.
    let (status, body) = app.submit(&alice, &low_trip).await;
    assert_eq!(status, 201, "{body}");
    let low_id = body["id"].as_str().unwrap().to_owned();
    // A cleared request is no longer pending: there is nothing to withdraw.
    let withdraw = format!("/v1/clearance-requests/{low_id}/withdraw");
    record(
        "not_pending",
        seen(WITHDRAW, post(&withdraw).json(&json!({}))).await,
    );
    // Its SRA carries no briefing: nothing to acknowledge.
    record(
        "no_briefing_due",
        seen(
            Some(("post", "/v1/clearance-requests/{id}/acknowledgement")),
            post(&format!("/v1/clearance-requests/{low_id}/acknowledgement")),
        )
        .await,
    );
    // Conditional changes: an If-Match that is not one, and one naming an older version.
    record(
        "invalid_if_match",
        seen(WITHDRAW, post(&withdraw).header("if-match", "v1")).await,
    );
    record(
        "precondition_failed",
        seen(WITHDRAW, post(&withdraw).header("if-match", "\"v0\"")).await,
    );

    // Idempotency keys.
    let keyed = |key: &str, trip: &Submission| {
        post("/v1/clearance-requests")
            .header("idempotency-key", key)
            .json(&trip.json)
    };
    assert_eq!(seen(SUBMIT, keyed("key-1", &low_trip)).await.status, 201);
    let other_trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 3, 4);
    record(
        "idempotency_key_reused",
        seen(SUBMIT, keyed("key-1", &other_trip)).await,
    );
    assert_eq!(seen(SUBMIT, keyed("key-2", &low_trip)).await.status, 201);
    // As if the first request with key-2 were still running: a retry waits for it, then gives up.
    app.db
        .execute(
            "UPDATE idempotency_keys SET status = NULL WHERE key = $1",
            &["key-2"],
        )
        .await
        .unwrap();
    record(
        "idempotency_key_in_progress",
        seen(SUBMIT, keyed("key-2", &low_trip)).await,
    );

    // The approval chain.
    let id = escalate(&app, &alice, "alice").await;
    let (status, body) = app
        .post(
            &format!("/v1/escalations/{id}/claim"),
            &hq("hq-1"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    record(
        "claimed_by_another",
        seen(
            CLAIM,
            call(
                &app,
                Method::POST,
                &format!("/v1/escalations/{id}/claim"),
                &hq("hq-2"),
            )
            .json(&json!({})),
        )
        .await,
    );
    let unclaimed = escalate(&app, &alice, "alice").await;
    record(
        "claim_required",
        seen(
            DECIDE,
            call(
                &app,
                Method::POST,
                &format!("/v1/escalations/{unclaimed}/decision"),
                &hq("hq-2"),
            )
            .json(&json!({"decision": "approve", "comment": "fine"})),
        )
        .await,
    );
    record(
        "comment_required",
        seen(
            DECIDE,
            call(
                &app,
                Method::POST,
                &format!("/v1/escalations/{id}/decision"),
                &hq("hq-1"),
            )
            .json(&json!({"decision": "reject", "comment": "  "})),
        )
        .await,
    );
    let both = app.token("both-1", &[Role::ApproverHq, Role::ApproverDg], None);
    let (status, body) = app
        .post(
            &format!("/v1/escalations/{id}/release"),
            &hq("hq-1"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(&format!("/v1/escalations/{id}/claim"), &both, &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    record(
        "wrong_stage",
        seen(
            DECIDE,
            call(
                &app,
                Method::POST,
                &format!("/v1/escalations/{id}/decision"),
                &both,
            )
            .json(&json!({"decision": "approve", "comment": "fine", "stage": "dg"})),
        )
        .await,
    );
    let (status, body) = app
        .post(
            &format!("/v1/escalations/{id}/decision"),
            &both,
            &json!({"decision": "approve", "comment": "fine", "stage": "hq"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    record(
        "four_eyes_same_approver",
        seen(
            CLAIM,
            call(
                &app,
                Method::POST,
                &format!("/v1/escalations/{id}/claim"),
                &both,
            )
            .json(&json!({})),
        )
        .await,
    );
    let carol = app.token(
        "carol",
        &[Role::Traveller, Role::ApproverHq],
        Some("UNICEF"),
    );
    let own = escalate(&app, &carol, "carol").await;
    record(
        "four_eyes_own_request",
        seen(
            CLAIM,
            call(
                &app,
                Method::POST,
                &format!("/v1/escalations/{own}/claim"),
                &carol,
            )
            .json(&json!({})),
        )
        .await,
    );

    // Areas and SRAs.
    record(
        "area_exists",
        seen(
            Some(("post", "/v1/areas")),
            call(&app, Method::POST, "/v1/areas", &analyst)
                .json(&json!({"code": "TST-LOW", "name": "Again", "country": "X"})),
        )
        .await,
    );
    let sra = |version: u32, from: i64, risk: &str| {
        json!({"area": "TST-LOW", "version": version, "effective_from": day(from),
               "review_due": day(300), "security_level": 2, "residual_risk": risk})
    };
    record(
        "sra_version_exists",
        seen(
            Some(("post", "/v1/sras")),
            call(&app, Method::POST, "/v1/sras", &analyst).json(&sra(1, 10, "low")),
        )
        .await,
    );
    // The fixture's version 1 takes effect 30 days ago.
    record(
        "sra_overlap",
        seen(
            Some(("post", "/v1/sras")),
            call(&app, Method::POST, "/v1/sras", &analyst).json(&sra(2, -30, "low")),
        )
        .await,
    );
    let mut contradicting = sra(3, 20, "low");
    contradicting["threats"] =
        json!([{"name": "Armed conflict", "likelihood": "very_likely", "impact": "severe"}]);
    record(
        "residual_risk_contradicts_matrix",
        seen(
            Some(("post", "/v1/sras")),
            call(&app, Method::POST, "/v1/sras", &analyst).json(&contradicting),
        )
        .await,
    );
    let signoff = json!({"by": "A. Official", "on": day(0)});
    let first = draft(&app, "TST-SRA", 1).await;
    record(
        "sra_not_endorsed",
        seen(
            Some(("post", "/v1/sras/{id}/approval")),
            call(
                &app,
                Method::POST,
                &format!("/v1/sras/{first}/approval"),
                &analyst,
            )
            .json(&signoff),
        )
        .await,
    );
    let (status, body) = app
        .post(&format!("/v1/sras/{first}/endorsement"), &analyst, &signoff)
        .await;
    assert_eq!(status, 200, "{body}");
    record(
        "sra_not_approved",
        seen(
            Some(("post", "/v1/sras/{id}/publish")),
            call(
                &app,
                Method::POST,
                &format!("/v1/sras/{first}/publish"),
                &analyst,
            ),
        )
        .await,
    );
    record(
        "invalid_sra_transition",
        seen(
            Some(("post", "/v1/sras/{id}/endorsement")),
            call(
                &app,
                Method::POST,
                &format!("/v1/sras/{first}/endorsement"),
                &analyst,
            )
            .json(&signoff),
        )
        .await,
    );

    // Failures of the store.
    let (status, body) = app.submit(&alice, &low_trip).await;
    assert_eq!(status, 201, "{body}");
    let corrupt = body["id"].as_str().unwrap().to_owned();
    app.db
        .execute(
            "UPDATE clearance_requests SET status = 'bogus' WHERE CAST(id AS TEXT) = $1",
            &[&corrupt],
        )
        .await
        .unwrap();
    record(
        "internal_error",
        seen(
            Some(("get", "/v1/clearance-requests/{id}")),
            call(
                &app,
                Method::GET,
                &format!("/v1/clearance-requests/{corrupt}"),
                &alice,
            ),
        )
        .await,
    );
    let target = escalate(&app, &alice, "alice").await;
    stall_request_updates(&app).await;
    record(
        "concurrent_update",
        seen(
            WITHDRAW,
            post(&format!("/v1/clearance-requests/{target}/withdraw")).json(&json!({})),
        )
        .await,
    );
    let before = app.stored_rows().await;
    refuse_inserts(&app).await;
    record(
        "store_unavailable",
        seen(SUBMIT, post("/v1/clearance-requests").json(&low_trip.json)).await,
    );
    assert_eq!(
        app.stored_rows().await,
        before,
        "a refused request left rows behind"
    );

    // Settings of their own: a lease that lapses at once, and a quota of one request.
    let short = TestApp::spawn_with(|s| s.approval.lease_seconds = 1).await;
    short.area("TST-VHIGH", Some("very_high")).await;
    let id = escalate(&short, &short.traveller("alice", "UNICEF"), "alice").await;
    let approver = short.token("hq-1", &[Role::ApproverHq], None);
    let (status, body) = short
        .post(
            &format!("/v1/escalations/{id}/claim"),
            &approver,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    record(
        "claim_lapsed",
        seen(
            DECIDE,
            call(
                &short,
                Method::POST,
                &format!("/v1/escalations/{id}/decision"),
                &approver,
            )
            .json(&json!({"decision": "approve", "comment": "fine"})),
        )
        .await,
    );
    let limited = TestApp::spawn_with(|s| {
        s.rate_limits.enabled = true;
        for quota in s.rate_limits.roles.values_mut() {
            quota.rate = "1/min".into();
            quota.burst = 1;
        }
    })
    .await;
    let bob = limited.traveller("bob", "UNICEF");
    assert_eq!(limited.get("/v1/clearance-requests", &bob).await.0, 200);
    record(
        "rate_limited",
        seen(
            LIST,
            call(&limited, Method::GET, "/v1/clearance-requests", &bob),
        )
        .await,
    );

    // Now hold what was seen against the document.
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let error_code = &doc["components"]["schemas"]["ErrorCode"];
    for entry in error_code["enum"].as_array().unwrap() {
        let code = entry.as_str().unwrap();
        let status = &error_code["x-status"][code];
        // A failed flush of the log needs a disk that fails: the real binary under a failing
        // fsync triggers it (durability::a_failed_log_flush_answers_outcome_unknown_...).
        if code == "store_outcome_unknown" {
            assert_eq!(*status, 503);
            continue;
        }
        let s = seen_codes
            .remove(code)
            .unwrap_or_else(|| panic!("nothing here triggers the documented code {code}"));
        assert_eq!(
            (s.status, s.body["code"].as_str()),
            (status.as_u64().unwrap() as u16, Some(code)),
            "{code}: {}",
            s.body
        );
        assert_eq!(s.content_type, "application/problem+json", "{code}");
        assert_eq!(s.body["status"], s.status, "{code}");
        assert_eq!(s.body["type"], format!("urn:clearway:problem:{code}"));
        if let Some((method, path)) = s.op {
            let listed =
                &doc["paths"][path][method]["responses"][s.status.to_string()]["x-problem-codes"];
            assert!(
                listed
                    .as_array()
                    .is_some_and(|l| l.iter().any(|c| c == code)),
                "{method} {path} answered {code} but its description does not list it: {listed}"
            );
        }
    }
    assert!(
        seen_codes.is_empty(),
        "triggered but not documented: {:?}",
        seen_codes.keys().collect::<Vec<_>>()
    );
    println!(
        "{} documented error codes triggered",
        error_code["enum"].as_array().map_or(0, Vec::len)
    );
}
