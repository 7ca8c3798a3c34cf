//! Clocks (issue 29, item 3): a request pending when its first leg begins expires (audited,
//! notified, its webhook written; one made on its travel day has that day); a request made
//! inside its lead time is flagged late; a
//! stage's approvers are reminded at half its response time and when it has passed, and then
//! the escalation contact too. E-mail goes through a real SMTP server the test starts.

use std::time::Duration;

use clearway::auth::Role;
use serde_json::json;

use super::mail::mail_to;
use super::support::{Submission, TestApp, eventually};
use crate::smtp_server::{SmtpOptions, SmtpServer};

fn escalated(traveller: &str, arrival: i64) -> Submission {
    Submission::for_traveller(traveller, "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", arrival, arrival + 3)
        .set(
            "/traveller/email",
            json!(format!("{traveller}@unicef.example")),
        )
}

#[tokio::test]
async fn a_request_still_pending_when_its_first_leg_begins_expires() {
    let server = SmtpServer::start(SmtpOptions::default());
    let app = TestApp::spawn_with(|s| {
        mail_to(s, server.port);
        s.approval.clock_interval_secs = 1;
    })
    .await;
    app.area("TST-VHIGH", Some("very_high")).await;
    app.area("TST-NOSRA", None).await;
    app.area("TST-LOW", Some("low")).await;
    let desk = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &desk,
            &json!({"url": "http://127.0.0.1:9/hooks", "events": ["request.expired"],
                    "secret": "unicef-webhook-secret-0123456789"}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");

    // Travel starts today: escalated (waiting for HQ) and held (no SRA) expire; a clearance
    // and a request starting tomorrow do not.
    let submit = async |who: &str, submission: Submission| {
        let (status, body) = app.submit(&app.traveller(who, "UNICEF"), &submission).await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["status"].as_str().unwrap().to_owned(),
        )
    };
    let (waiting, status) = submit("ana", escalated("ana", 0)).await;
    assert_eq!(status, "escalated");
    let (held, status) = submit(
        "ben",
        Submission::for_traveller("ben", "UNICEF").leg("TST-NOSRA", 0, 2),
    )
    .await;
    assert_eq!(status, "held");
    let (cleared, _) = submit(
        "cai",
        Submission::for_traveller("cai", "UNICEF").leg("TST-LOW", 0, 2),
    )
    .await;
    let (tomorrow, _) = submit("dee", escalated("dee", 1)).await;
    // Made today, for today: it has the rest of the day to be decided.
    let (same_day, _) = submit("eli", escalated("eli", 0)).await;
    // The first two were made before their travel day (as if yesterday).
    for id in [&waiting, &held] {
        let sql = if app.db.is_postgres() {
            "UPDATE clearance_requests SET submitted_at = submitted_at - interval '1 day' WHERE id = $1::uuid"
        } else {
            "UPDATE clearance_requests SET submitted_at = '2000-01-01T00:00:00+00:00' WHERE id = $1"
        };
        assert_eq!(app.db.execute(sql, &[id.as_str()]).await.unwrap(), 1);
    }

    let admin = app.admin();
    let status_of = async |id: &str| {
        let (_, body) = app
            .get(&format!("/v1/clearance-requests/{id}"), &admin)
            .await;
        body["status"].as_str().unwrap().to_owned()
    };
    assert!(
        eventually(Duration::from_secs(10), async || {
            status_of(&waiting).await == "expired" && status_of(&held).await == "expired"
        })
        .await,
        "both pending requests starting today expired"
    );
    assert_eq!(status_of(&cleared).await, "cleared");
    assert_eq!(status_of(&tomorrow).await, "escalated");
    assert_eq!(status_of(&same_day).await, "escalated");

    // Audited, as the service's own act.
    let (_, trail) = app
        .get(&format!("/v1/clearance-requests/{waiting}/audit"), &admin)
        .await;
    let last = trail["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["action"].as_str(),
            last["actor"].as_str(),
            last["from"].as_str(),
            last["to"].as_str()
        ),
        (
            Some("expired"),
            Some("clearway"),
            Some("escalated"),
            Some("expired")
        ),
        "{last}"
    );
    // Out of the queue.
    let hq = app.token("hq-1", &[Role::ApproverHq], None);
    let (_, queue) = app.get("/v1/escalations?stage=hq", &hq).await;
    let ids: Vec<&str> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["request"]["id"].as_str().unwrap())
        .collect();
    let mut want_queue = vec![tomorrow.as_str(), same_day.as_str()];
    let mut ids = ids;
    ids.sort();
    want_queue.sort();
    assert_eq!(ids, want_queue);
    // The webhook event, written with the change.
    let (_, deliveries) = app
        .get(
            &format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()),
            &desk,
        )
        .await;
    let mut expired: Vec<&str> = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["event"], "request.expired");
            d["request_id"].as_str().unwrap()
        })
        .collect();
    expired.sort();
    let mut want = vec![waiting.as_str(), held.as_str()];
    want.sort();
    assert_eq!(expired, want);
    // And the traveller told.
    let got = server.wait_for(4, Duration::from_secs(10)).await;
    let subjects: Vec<String> = got
        .iter()
        .filter(|m| m.rcpt_tos == ["ana@unicef.example"])
        .map(|m| m.parsed().subject().unwrap_or_default().to_owned())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Expired: Traveller ana, TST-VHIGH")),
        "{subjects:?}"
    );
    // An expired request can no longer be decided.
    let (status, body) = app
        .post(&format!("/v1/escalations/{waiting}/claim"), &hq, &json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_pending")),
        "{body}"
    );
}

#[tokio::test]
async fn late_requests_are_flagged_and_stages_reminded_then_the_contact() {
    let server = SmtpServer::start(SmtpOptions::default());
    let app = TestApp::spawn_with(|s| {
        mail_to(s, server.port);
        s.approval.clock_interval_secs = 1;
        s.approval.response_time = [("hq".to_owned(), "4s".to_owned())].into_iter().collect();
        s.approval.escalation_contact = "duty@undss.example".into();
    })
    .await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let (status, body) = app
        .put(
            "/v1/people/hana",
            &app.admin(),
            &json!({"name": "Hana", "email": "hana@undss.example", "language": "en", "stages": ["hq"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Very High asks for 7 days of notice (config/risk-policy.toml); 3 are given.
    let (status, body) = app
        .submit(&app.traveller("eve", "UNICEF"), &escalated("eve", 3))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["decision"]["late"],
        json!({"leg": 1, "area": "TST-VHIGH", "risk": "very_high", "required_days": 7, "given_days": 3})
    );
    let (_, on_time) = app
        .submit(&app.traveller("fay", "UNICEF"), &escalated("fay", 20))
        .await;
    assert_eq!(on_time["decision"]["late"], json!(null));
    let id = body["id"].as_str().unwrap();

    let hq = app.token("hana", &[Role::ApproverHq], None);
    let (_, queue) = app.get("/v1/escalations?stage=hq", &hq).await;
    let item = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["request"]["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(item["overdue"], false);
    assert!(
        item["due_at"].is_string() && item["deadline"] == item["due_at"],
        "{item}"
    );

    let subjects_to = |address: &str| -> Vec<String> {
        server
            .received()
            .iter()
            .filter(|m| m.rcpt_tos == [address])
            .map(|m| m.parsed().subject().unwrap_or_default().to_owned())
            .filter(|s| s.contains("Traveller eve"))
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(15), async || {
            subjects_to("duty@undss.example")
                .iter()
                .any(|s| s.starts_with("Overdue (hq)"))
        })
        .await,
        "the contact hears of the overdue item: {:?}",
        subjects_to("duty@undss.example")
    );
    // Time for a second reminder, were there one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hana = subjects_to("hana@undss.example");
    let count = |prefix: &str| hana.iter().filter(|s| s.starts_with(prefix)).count();
    assert_eq!(
        (
            count("Approval needed (hq)"),
            count("Reminder (hq)"),
            count("Overdue (hq)")
        ),
        (1, 1, 1),
        "{hana:?}"
    );
    assert_eq!(subjects_to("duty@undss.example").len(), 1);
    // Messages go out several at a time: eve's is found by its subject, not its turn.
    let first = server
        .received()
        .into_iter()
        .find(|m| {
            m.rcpt_tos == ["hana@undss.example"]
                && m.parsed().subject().is_some_and(|s| {
                    s.starts_with("Approval needed (hq)") && s.contains("Traveller eve")
                })
        })
        .unwrap();
    let text = first.parsed().body_text(0).unwrap().into_owned();
    assert!(
        text.contains("Requested late: leg 1 (TST-VHIGH) is at very high risk, which asks for 7 days of notice; 3 were given."),
        "{text}"
    );
    let (_, queue) = app.get("/v1/escalations?stage=hq", &hq).await;
    let item = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["request"]["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(item["overdue"], true);
}
