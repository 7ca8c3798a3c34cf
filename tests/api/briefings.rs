//! Security briefings acknowledged (issue 31, item 3): a clearance under an SRA version with a
//! briefing is `cleared_pending_acknowledgement` until its traveller acknowledges it; a new
//! version asks again; a first leg that begins unacknowledged is told to the traveller's unit.

use std::time::Duration;

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{Submission, TestApp, day, eventually};
use super::webhooks::Receiver;

const SECRET: &str = "unicef-webhook-secret-0123456789";

async fn publish(app: &TestApp, area: &str, version: i64, from: i64, text: &str) -> Value {
    let (status, body) = app
        .post(
            "/v1/sras",
            &app.analyst(),
            &json!({"area": area, "version": version, "effective_from": day(from),
                    "review_due": day(300), "security_level": 2, "residual_risk": "low",
                    "briefing": {"text": text, "url": "https://briefings.example.org/ken"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Waits until every re-screening job is done.
async fn settled(app: &TestApp) {
    let analyst = app.analyst();
    assert!(
        eventually(Duration::from_secs(10), async || {
            let (_, jobs) = app.get("/v1/rescreening", &analyst).await;
            jobs["items"]
                .as_array()
                .is_some_and(|j| j.iter().all(|j| j["status"] == "done"))
        })
        .await
    );
}

#[tokio::test]
async fn a_clearance_waits_for_its_briefing_and_a_new_version_asks_again() {
    let app = TestApp::spawn().await;
    app.area("TST-BRF", None).await;
    publish(
        &app,
        "TST-BRF",
        1,
        -1,
        "Stay in the compound after dark.\nCarry your radio.",
    )
    .await;
    let kim = app.traveller("kim", "WFP");
    let (status, body) = app
        .submit(
            &kim,
            &Submission::for_traveller("kim", "WFP").leg("TST-BRF", 3, 6),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "cleared_pending_acknowledgement", "{body}");
    let due = &body["decision"]["briefings"][0];
    assert_eq!(due["area"], "TST-BRF");
    assert_eq!(due["sra"]["version"], 1);
    assert_eq!(
        due["briefing"]["text"],
        "Stay in the compound after dark.\nCarry your radio."
    );
    assert_eq!(due["briefing"]["url"], "https://briefings.example.org/ken");
    let id = body["id"].as_str().unwrap().to_owned();
    let acknowledge = format!("/v1/clearance-requests/{id}/acknowledgement");

    // The locator finds her: she may be travelling.
    let (_, found) = app
        .get(
            &format!("/v1/areas/TST-BRF/personnel?on={}", day(4)),
            &app.analyst(),
        )
        .await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");

    // Her travel unit cannot acknowledge for her; she can, once.
    let desk = app.token("wfp-desk", &[Role::TravelUnit], Some("WFP"));
    let (status, problem) = app.post(&acknowledge, &desk, &json!({})).await;
    assert_eq!(
        (status, &problem["code"]),
        (403, &json!("forbidden")),
        "{problem}"
    );
    let (status, issued) = app.post(&acknowledge, &kim, &json!({})).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["status"], "cleared");
    assert_eq!(issued["decision"]["acknowledged"][0]["sra"]["version"], 1);
    assert_eq!(issued["decision"]["acknowledged"][0]["by"], "kim");
    let (status, problem) = app.post(&acknowledge, &kim, &json!({})).await;
    assert_eq!(
        (status, &problem["code"]),
        (409, &json!("no_briefing_due")),
        "{problem}"
    );
    let (_, trail) = app
        .get(&format!("/v1/clearance-requests/{id}/audit"), &kim)
        .await;
    let last = trail["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            &last["action"],
            &last["from"],
            &last["to"],
            &last["comment"]
        ),
        (
            &json!("acknowledged"),
            &json!("cleared_pending_acknowledgement"),
            &json!("cleared"),
            &json!("briefing of TST-BRF SRA v1 acknowledged")
        ),
        "{last}"
    );

    // Version 2 takes effect during the stay with a briefing of its own: asked again.
    publish(&app, "TST-BRF", 2, 4, "New curfew from 18:00.").await;
    settled(&app).await;
    let (_, again) = app.get(&format!("/v1/clearance-requests/{id}"), &kim).await;
    assert_eq!(
        again["status"], "cleared_pending_acknowledgement",
        "{again}"
    );
    let (status, issued) = app.post(&acknowledge, &kim, &json!({})).await;
    assert_eq!(
        (status, &issued["status"]),
        (200, &json!("cleared")),
        "{issued}"
    );
    let versions: Vec<i64> = issued["decision"]["acknowledged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sra"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);

    // A version without a briefing asks nothing: an ordinary clearance.
    app.area("TST-PLAIN", Some("low")).await;
    let (_, plain) = app
        .submit(
            &kim,
            &Submission::for_traveller("kim", "WFP").leg("TST-PLAIN", 3, 6),
        )
        .await;
    assert_eq!(plain["status"], "cleared", "{plain}");
    assert!(plain["decision"].get("briefings").is_none(), "{plain}");
}

/// A version that replaces the one whose briefing still waits: the traveller is shown, and
/// acknowledges, the briefing in force.
#[tokio::test]
async fn a_waiting_briefing_replaced_by_a_new_version_is_the_one_to_acknowledge() {
    let app = TestApp::spawn().await;
    app.area("TST-BRF", None).await;
    publish(&app, "TST-BRF", 1, -2, "Version one.").await;
    let kim = app.traveller("kim", "WFP");
    let (_, body) = app
        .submit(
            &kim,
            &Submission::for_traveller("kim", "WFP").leg("TST-BRF", 3, 6),
        )
        .await;
    assert_eq!(body["status"], "cleared_pending_acknowledgement", "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    publish(&app, "TST-BRF", 2, -1, "Version two.").await;
    settled(&app).await;
    let (_, waiting) = app.get(&format!("/v1/clearance-requests/{id}"), &kim).await;
    assert_eq!(waiting["status"], "cleared_pending_acknowledgement");
    let briefed: Vec<(i64, &str)> = waiting["decision"]["briefings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["sra"]["version"].as_i64().unwrap(),
                b["briefing"]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(briefed, [(2, "Version two.")], "{waiting}");
    let (status, issued) = app
        .post(
            &format!("/v1/clearance-requests/{id}/acknowledgement"),
            &kim,
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, &issued["status"]),
        (200, &json!("cleared")),
        "{issued}"
    );
    assert_eq!(issued["decision"]["acknowledged"][0]["sra"]["version"], 2);
}

#[tokio::test]
async fn travel_that_begins_unacknowledged_is_told_to_the_traveller_and_their_unit_once() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let app = TestApp::spawn_with(|s| {
        s.approval.clock_interval_secs = 1;
        s.webhooks.poll_interval_ms = 50;
    })
    .await;
    app.area("TST-BRF", None).await;
    publish(&app, "TST-BRF", 1, -1, "Stay in the compound after dark.").await;
    let desk = app.token("wfp-desk", &[Role::TravelUnit], Some("WFP"));
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &desk,
            &json!({"url": receiver.url, "events": ["request.briefing_overdue", "request.acknowledged"],
                    "secret": SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let kim = app.traveller("kim", "WFP");
    // Travel begins today; a trip next week waits quietly.
    let (_, today) = app
        .submit(
            &kim,
            &Submission::for_traveller("kim", "WFP").leg("TST-BRF", 0, 2),
        )
        .await;
    let (_, later) = app
        .submit(
            &kim,
            &Submission::for_traveller("kim", "WFP").leg("TST-BRF", 7, 9),
        )
        .await;
    assert_eq!(
        today["status"], "cleared_pending_acknowledgement",
        "{today}"
    );
    let id = today["id"].as_str().unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || !receiver
            .delivered()
            .is_empty())
        .await,
        "no webhook"
    );
    // Two more rounds of the clock: still told once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let events: Vec<Value> = receiver.delivered().iter().map(|r| r.json()).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "request.briefing_overdue");
    assert_eq!(events[0]["request"]["id"], *id, "{}", events[0]);
    let (_, trail) = app
        .get(&format!("/v1/clearance-requests/{id}/audit"), &kim)
        .await;
    let overdue: Vec<&Value> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "briefing_overdue")
        .collect();
    assert_eq!(overdue.len(), 1, "{trail}");
    assert_eq!(overdue[0]["actor"], "clearway");
    // She may still acknowledge; her unit hears of it.
    let (status, issued) = app
        .post(
            &format!("/v1/clearance-requests/{id}/acknowledgement"),
            &kim,
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, &issued["status"]),
        (200, &json!("cleared")),
        "{issued}"
    );
    assert!(
        eventually(Duration::from_secs(10), async || receiver.delivered().len()
            >= 2)
        .await
    );
    assert_eq!(
        receiver.delivered()[1].json()["event"],
        "request.acknowledged"
    );
    let (_, later) = app
        .get(
            &format!("/v1/clearance-requests/{}", later["id"].as_str().unwrap()),
            &kim,
        )
        .await;
    assert_eq!(later["status"], "cleared_pending_acknowledgement");
}

#[tokio::test]
async fn bad_briefings_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-BRF", None).await;
    let before = app.store_snapshot().await;
    let long = "x".repeat(5001);
    for (briefing, field) in [
        (json!({"text": long}), "/briefing/text"),
        (json!({"text": "Bell\u{7}"}), "/briefing/text"),
        (
            json!({"url": "ftp://briefings.example.org/x"}),
            "/briefing/url",
        ),
        (json!({"url": "not a link"}), "/briefing/url"),
    ] {
        let (status, problem) = app
            .post(
                "/v1/sras",
                &app.analyst(),
                &json!({"area": "TST-BRF", "version": 1, "effective_from": day(0),
                        "review_due": day(300), "security_level": 2, "residual_risk": "low",
                        "briefing": briefing}),
            )
            .await;
        assert_eq!(
            (status, &problem["code"], &problem["field"]),
            (422, &json!("invalid_field"), &json!(field)),
            "{problem}"
        );
    }
    assert_eq!(app.store_snapshot().await, before);
}
