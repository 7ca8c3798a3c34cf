//! Bad input gets problem+json with the right status, a stable code and the field at fault,
//! and changes nothing in the store.

use serde_json::{Value, json};

use super::support::{Submission, TestApp, read};

async fn post_raw(
    app: &TestApp,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value, String) {
    let response = app
        .client
        .post(app.url("/v1/clearance-requests"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let (status, body) = read(response).await;
    (status, body, content_type)
}

#[tokio::test]
async fn each_bad_submission_is_refused_with_its_code_and_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let token = app.traveller("alice", "UNICEF");
    let good = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 3);
    let (status, _) = app.submit(&token, &good).await;
    assert_eq!(status, 201);
    let before = app.stored_rows().await;

    let many_legs = (0..21).fold(Submission::for_traveller("alice", "UNICEF"), |s, i| {
        s.leg("TST-LOW", i + 1, i + 1)
    });
    let cases: Vec<(&str, Submission, u16, &str, Option<&str>)> = vec![
        (
            "missing purpose",
            good.clone().without("/purpose"),
            422,
            "invalid_field",
            Some("/purpose"),
        ),
        (
            "missing traveller id",
            good.clone().without("/traveller/id"),
            422,
            "invalid_field",
            Some("/traveller/id"),
        ),
        (
            "empty purpose",
            good.clone().set("/purpose", json!("  ")),
            422,
            "invalid_field",
            Some("/purpose"),
        ),
        (
            "unknown PC",
            good.clone().set("/programme_criticality", json!("PC5")),
            422,
            "invalid_field",
            Some("/programme_criticality"),
        ),
        (
            "legs not a list",
            good.clone().set("/legs", json!({})),
            422,
            "invalid_field",
            Some("/legs"),
        ),
        (
            "bad date",
            good.clone().set("/legs/0/arrival", json!("2026-02-30")),
            422,
            "invalid_field",
            Some("/legs/0/arrival"),
        ),
        (
            "bad area code",
            good.clone().set("/legs/0/area", json!("no such area!")),
            422,
            "invalid_field",
            Some("/legs/0/area"),
        ),
        (
            "unknown area",
            good.clone().leg("ZZZ-NONE", 3, 4),
            422,
            "unknown_area",
            Some("/legs/1/area"),
        ),
        (
            "departure before arrival",
            Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 5, 4),
            422,
            "invalid_itinerary",
            Some("/legs/0/departure"),
        ),
        (
            "overlapping legs",
            good.clone().leg("TST-LOW", 2, 6),
            422,
            "invalid_itinerary",
            Some("/legs/1/arrival"),
        ),
        (
            "unordered legs",
            Submission::for_traveller("alice", "UNICEF")
                .leg("TST-LOW", 9, 10)
                .leg("TST-LOW", 1, 2),
            422,
            "invalid_itinerary",
            Some("/legs/1/arrival"),
        ),
        (
            "no legs",
            Submission::for_traveller("alice", "UNICEF"),
            422,
            "invalid_itinerary",
            Some("/legs"),
        ),
        (
            "leg in the past",
            Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", -1, 2),
            422,
            "leg_in_past",
            Some("/legs/0/arrival"),
        ),
        ("21 legs", many_legs, 422, "too_many_legs", Some("/legs")),
        (
            "someone else's request",
            Submission::for_traveller("bob", "UNICEF").leg("TST-LOW", 1, 2),
            403,
            "forbidden",
            Some("/traveller/id"),
        ),
        (
            "another organisation",
            Submission::for_traveller("alice", "WFP").leg("TST-LOW", 1, 2),
            403,
            "forbidden",
            Some("/traveller/org"),
        ),
    ];
    let mut expected_rows = before;
    for (name, submission, status, code, field) in cases {
        let (got, body) = app.submit(&token, &submission).await;
        assert_eq!(got, status, "{name}: {body}");
        if status == 201 {
            expected_rows = app.stored_rows().await;
            continue;
        }
        assert_eq!(body["code"], code, "{name}: {body}");
        assert_eq!(body["status"], status, "{name}");
        assert_eq!(body["field"].as_str(), field, "{name}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        assert_eq!(
            app.stored_rows().await,
            expected_rows,
            "{name} changed the store"
        );
    }

    let mut with_extra = good.clone();
    with_extra.json["purposee"] = json!("typo");
    let (status, body) = app.submit(&token, &with_extra).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("invalid_field"), Some("/purposee"))
    );
    assert_eq!(app.stored_rows().await, expected_rows);
}

#[tokio::test]
async fn malformed_oversized_or_non_json_bodies_are_refused_early() {
    let app = TestApp::spawn().await;
    let token = app.traveller("alice", "UNICEF");
    let big = format!("{{\"purpose\": \"{}\"}}", "x".repeat(70 * 1024));
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "truncated",
            "application/json",
            b"{\"traveller\": {".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "not json",
            "application/json",
            b"traveller=alice".to_vec(),
            400,
            "malformed_json",
        ),
        // Refused at the first level that does not fit the schema, long before serde's depth limit.
        (
            "deeply nested",
            "application/json",
            nested.into_bytes(),
            422,
            "invalid_field",
        ),
        (
            "over 64 KiB",
            "application/json",
            big.into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "form encoded",
            "application/x-www-form-urlencoded",
            b"a=b".to_vec(),
            415,
            "unsupported_media_type",
        ),
    ];
    for (name, content_type, body, status, code) in cases {
        let (got, body, response_type) = post_raw(&app, &token, content_type, body).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{name}: {body}"
        );
        assert_eq!(response_type, "application/problem+json", "{name}");
    }
    assert_eq!(app.stored_rows().await, (0, 0));
}

#[tokio::test]
async fn roles_that_may_not_submit_are_forbidden() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 2);
    for token in [
        app.analyst(),
        app.admin(),
        app.token("alice", &[clearway::auth::Role::ApproverHq], Some("UNICEF")),
    ] {
        let (status, body) = app.submit(&token, &trip).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    assert_eq!(app.stored_rows().await, (0, 0));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problem_json() {
    let app = TestApp::spawn().await;
    let token = app.admin();
    let (status, body) = app.get("/v1/nothing-here", &token).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let response = app
        .client
        .delete(app.url("/v1/clearance-requests"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // RFC 9110: a 405 says which methods the resource answers.
    assert_eq!(response.headers()["allow"], "POST, GET, HEAD");
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    // HEAD answers wherever GET does: the head of the answer, without its body.
    let head = app
        .client
        .head(app.url("/v1/areas"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().contains_key("x-request-id"));
    assert!(head.bytes().await.unwrap().is_empty());
}
