//! Entity tags and `If-Match`: a change made on what a caller read applies only while the
//! request is still as they read it (RFC 9110 §13.1.1); otherwise 412 and nothing changes.

use reqwest::Method;
use serde_json::json;

use clearway::auth::Role;

use super::support::{Submission, TestApp, read};

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_change_on_a_stale_read_is_refused_with_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-NOSRA", None).await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    // No SRA: held, which the traveller may amend.
    let held = Submission::for_traveller("alice", "UNICEF").leg("TST-NOSRA", 3, 5);
    let response = app
        .client
        .post(app.url("/v1/clearance-requests"))
        .bearer_auth(&alice)
        .json(&held.json)
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&response), "\"v1\"");
    let (status, body) = read(response).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("held")));
    let id = body["id"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/v1/clearance-requests/{id}"));

    // A read gives the same tag; HEAD too.
    let read_tag = etag(
        &app.client
            .get(&url)
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(read_tag, "\"v1\"");
    let head = app
        .client
        .head(&url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&head), read_tag);

    // Amended on what was read: applies, and answers the new tag.
    let amend = |trip: Submission, tag: &str| {
        app.client
            .patch(&url)
            .bearer_auth(&alice)
            .header("if-match", tag)
            .json(&trip.json)
            .send()
    };
    let amended = Submission::for_traveller("alice", "UNICEF").leg("TST-NOSRA", 4, 6);
    let response = amend(amended, &read_tag).await.unwrap();
    assert_eq!(etag(&response), "\"v2\"");
    assert_eq!(read(response).await.0, 200);

    // The same stale tag again, from another tab: 412, and the request is as it was.
    let other = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 7, 9);
    let response = amend(other, &read_tag).await.unwrap();
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (412, Some("precondition_failed"), Some("If-Match")),
        "{body}"
    );
    assert_eq!(body["current_version"], 2);
    let (_, now) = app
        .get(&format!("/v1/clearance-requests/{id}"), &alice)
        .await;
    assert_eq!(
        (now["version"].as_i64(), now["legs"][0]["area"].as_str()),
        (Some(2), Some("TST-NOSRA"))
    );

    // A list of tags matches any; weak tags never do (If-Match compares strongly).
    let withdraw = app.url(&format!("/v1/clearance-requests/{id}/withdraw"));
    let weak = app
        .client
        .post(&withdraw)
        .bearer_auth(&alice)
        .header("if-match", "W/\"v2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status().as_u16(), 412);
    let response = app
        .client
        .post(&withdraw)
        .bearer_auth(&alice)
        .header("if-match", "\"v1\", \"v2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&response), "\"v3\"");
    let (status, body) = read(response).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("withdrawn")));
}

#[tokio::test]
async fn approvers_acting_on_the_same_read_cannot_both_win() {
    let app = TestApp::spawn().await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let alice = app.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", 5, 8);
    let (status, body) = app.submit(&alice, &trip).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("escalated")));
    let id = body["id"].as_str().unwrap().to_owned();
    // Both approvers read the queue item at the same version.
    let seen = format!("\"v{}\"", body["version"]);
    let act = |who: &str, what: &str, tag: &str| {
        app.client
            .request(
                Method::POST,
                app.url(&format!("/v1/escalations/{id}/{what}")),
            )
            .bearer_auth(app.token(who, &[Role::ApproverHq], None))
            .header("if-match", tag.to_owned())
    };
    let (status, _) = read(act("hq-1", "claim", &seen).send().await.unwrap()).await;
    assert_eq!(status, 200);
    // The second approver's claim was decided on a read that is no longer true.
    let (status, body) = read(act("hq-2", "claim", &seen).send().await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (412, Some("precondition_failed"))
    );
    // The holder decides on the version the claim answered.
    let (_, item) = app
        .get(&format!("/v1/clearance-requests/{id}"), &alice)
        .await;
    let current = format!("\"v{}\"", item["version"]);
    let response = act("hq-1", "decision", &current)
        .json(&json!({"decision": "approve", "comment": "mission critical"}))
        .send()
        .await
        .unwrap();
    let next = etag(&response);
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(next, format!("\"v{}\"", body["version"]));
}

#[tokio::test]
async fn other_single_resources_carry_a_tag_that_follows_their_content() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let analyst = app.analyst();
    let tag = |response: reqwest::Response| etag(&response);
    let get = || {
        app.client
            .get(app.url("/v1/areas/TST-LOW"))
            .bearer_auth(&analyst)
            .send()
    };
    let first = tag(get().await.unwrap());
    assert_eq!(
        first,
        tag(get().await.unwrap()),
        "the same content, the same tag"
    );
    let (status, body) = app
        .post(
            "/v1/areas/TST-LOW/suspension",
            &analyst,
            &json!({"reason": "relocation"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(first, tag(get().await.unwrap()), "suspended: another tag");
}
