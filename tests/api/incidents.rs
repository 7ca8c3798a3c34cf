//! Incidents (issue 30): everyone in the area found, asked through their travel unit's
//! webhook, their personal link and their own page; answers on the board; reminders; closing.

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{Submission, TestApp, eventually};
use super::webhooks::Receiver;

const SECRET: &str = "unicef-webhook-secret-0123456789";

/// An app whose incidents may start up to 72 h ahead (so a test can place one on a day it
/// knows, two days from now) and whose webhooks are quick.
async fn app_with(adjust: impl FnOnce(&mut clearway::config::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.incidents.max_ahead_hours = 72;
        s.webhooks.poll_interval_ms = 50;
        s.webhooks.backoff_base_ms = 100;
        adjust(s);
    })
    .await
}

async fn hook(app: &TestApp, org: &str, url: &str) {
    let unit = app.token(&format!("{org}-desk"), &[Role::TravelUnit], Some(org));
    let (status, body) = app
        .post(
            "/v1/webhooks",
            &unit,
            &json!({"url": url, "events": ["incident.check_requested"], "secret": SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn cleared(app: &TestApp, who: &str, org: &str, submission: Submission) -> String {
    let (status, body) = app.submit(&app.traveller(who, org), &submission).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("cleared")),
        "{body}"
    );
    body["id"].as_str().unwrap().to_owned()
}

async fn open(app: &TestApp, areas: &[&str], hours_ahead: i64) -> Value {
    let started = Utc::now() + Span::hours(hours_ahead);
    let (status, body) = app
        .post(
            "/v1/incidents",
            &app.analyst(),
            &json!({"areas": areas, "started_at": started.to_rfc3339(),
                    "description": "Armed clashes near the airport"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn entry_of<'a>(roll: &'a Value, traveller: &str) -> &'a Value {
    roll["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["traveller_id"] == traveller)
        .unwrap_or_else(|| panic!("{traveller} is not on the roll-call: {roll}"))
}

/// A browser's form post to a personal link.
async fn post_form(
    app: &TestApp,
    url: &str,
    form: &[(&str, &str)],
    bearer: Option<&str>,
) -> (u16, String) {
    let mut request = app
        .client
        .post(url)
        .header("Accept", "text/html")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn everyone_in_the_area_is_found_asked_and_accounted_for() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let app = app_with(|_| {}).await;
    for code in ["TST-MOG", "TST-KIS", "TST-ELSE"] {
        app.area(code, Some("low")).await;
    }
    app.area("TST-NOSRA", None).await;
    hook(&app, "UNICEF", &receiver.url).await;
    // The incident begins two days from now (day 2).
    cleared(
        &app,
        "alice",
        "UNICEF",
        Submission::for_traveller("alice", "UNICEF")
            .leg("TST-MOG", 1, 4)
            .set(
                "/traveller/dependants",
                json!([{"name": "Sam Martin", "relationship": "child"}, {"name": "Lou Martin"}]),
            ),
    )
    .await;
    cleared(
        &app,
        "bob",
        "WFP",
        Submission::for_traveller("bob", "WFP").leg("TST-MOG", 0, 3),
    )
    .await;
    // Her trip ends in the area the day before: nothing shows her leaving.
    cleared(
        &app,
        "carol",
        "UNICEF",
        Submission::for_traveller("carol", "UNICEF")
            .leg("TST-ELSE", 0, 0)
            .leg("TST-KIS", 0, 1),
    )
    .await;
    // Left for elsewhere the day before; arrives only later; held: none of them is listed.
    cleared(
        &app,
        "dave",
        "UNICEF",
        Submission::for_traveller("dave", "UNICEF")
            .leg("TST-MOG", 0, 1)
            .leg("TST-ELSE", 1, 3),
    )
    .await;
    cleared(
        &app,
        "erin",
        "UNICEF",
        Submission::for_traveller("erin", "UNICEF").leg("TST-MOG", 5, 6),
    )
    .await;
    let (status, held) = app
        .submit(
            &app.traveller("frank", "UNICEF"),
            &Submission::for_traveller("frank", "UNICEF")
                .leg("TST-MOG", 1, 2)
                .leg("TST-NOSRA", 2, 3),
        )
        .await;
    assert_eq!((status, held["status"].as_str()), (201, Some("held")));

    let opened = open(&app, &["TST-MOG", "tst-kis"], 48).await;
    assert_eq!(opened["people"], 3, "{opened}");
    let id = opened["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(opened["incident"]["areas"], json!(["TST-MOG", "TST-KIS"]));
    assert_eq!(opened["incident"]["status"], "open");

    // The roll-call: present, or may still be there; each with their travel unit.
    let (status, roll) = app
        .get(&format!("/v1/incidents/{id}/people"), &app.analyst())
        .await;
    assert_eq!(status, 200, "{roll}");
    assert_eq!(roll["count"], 3, "{roll}");
    let carol = entry_of(&roll, "carol");
    assert_eq!(carol["presence"], "may_still_be_there");
    assert_eq!(carol["trip_ends_in_area"], true);
    assert_eq!(carol["area"], "TST-KIS");
    assert_eq!(entry_of(&roll, "alice")["presence"], "present");
    // Her children travel with her: they are on her entry.
    assert_eq!(
        entry_of(&roll, "alice")["dependants"],
        json!([{"name": "Sam Martin", "relationship": "child"}, {"name": "Lou Martin", "relationship": null}])
    );
    assert_eq!(entry_of(&roll, "bob")["submitted_by"], "bob");
    assert!(
        roll["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["state"] == "no_answer" && e["asks"] == 1)
    );

    // UNICEF's webhook is asked about its two people, each with their own link; WFP has none.
    assert!(
        eventually(Duration::from_secs(10), async || receiver.delivered().len()
            >= 2)
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asks: Vec<Value> = receiver.delivered().iter().map(|r| r.json()).collect();
    assert_eq!(asks.len(), 2, "{asks:?}");
    let mut asked: Vec<&str> = asks
        .iter()
        .map(|a| a["person"]["traveller_id"].as_str().unwrap())
        .collect();
    asked.sort();
    assert_eq!(asked, ["alice", "carol"]);
    let carol_ask = asks
        .iter()
        .find(|a| a["person"]["traveller_id"] == "carol")
        .unwrap();
    assert_eq!(carol_ask["event"], "incident.check_requested");
    assert_eq!(carol_ask["incident"]["id"], id.as_str());
    assert_eq!(carol_ask["ask"], 1);
    let carol_link = carol_ask["check_in_url"].as_str().unwrap().to_owned();
    let carol_path = carol_link
        .split_once("/check-in/")
        .map(|(_, t)| format!("/check-in/{t}"))
        .unwrap();

    // Alice answers on her own page (signed in).
    let alice = app.traveller("alice", "UNICEF");
    let (status, mine) = app.get("/v1/check-ins", &alice).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    let alice_entry = mine["items"][0]["entry"]["id"].as_str().unwrap().to_owned();
    let answer = format!("/v1/incidents/{id}/people/{alice_entry}/answer");
    // Nobody else reads or answers for her.
    let (status, _) = app
        .post(
            &answer,
            &app.traveller("mallory", "UNICEF"),
            &json!({"state": "safe"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post(
            &answer,
            &app.token("wfp-desk", &[Role::TravelUnit], Some("WFP")),
            &json!({"state": "safe", "how": "phone"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app.post(&answer, &alice, &json!({"state": "safe"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["state"].as_str(), body["answered_via"].as_str()),
        (Some("safe"), Some("signed"))
    );

    // Carol opens her link on a phone: a small page, no script, in her language (English here).
    let response = app
        .client
        .get(app.url(&carol_path))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("form-action 'self'") && !policy.contains("script-src"),
        "{policy}"
    );
    let page = response.text().await.unwrap();
    assert!(page.len() < 30_000 && !page.contains("<script"), "{page}");
    assert!(
        page.contains("Armed clashes near the airport") && page.contains("I need assistance"),
        "{page}"
    );
    let (status, page) = post_form(
        &app,
        &app.url(&carol_path),
        &[
            ("state", "needs_assistance"),
            ("message", "Injured ankle,\nat the guesthouse"),
            ("callback", "+252 61 555 0101"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Thank you, your answer is recorded"),
        "{page}"
    );

    // WFP's unit answers for Bob, saying how it heard from him.
    let (_, roll) = app
        .get(&format!("/v1/incidents/{id}/people"), &app.analyst())
        .await;
    let bob_entry = entry_of(&roll, "bob")["id"].as_str().unwrap().to_owned();
    let wfp = app.token("wfp-desk", &[Role::TravelUnit], Some("WFP"));
    let bob_answer = format!("/v1/incidents/{id}/people/{bob_entry}/answer");
    let (status, body) = app.post(&bob_answer, &wfp, &json!({"state": "safe"})).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("invalid_field"), Some("/how"))
    );
    let (status, body) = app
        .post(&bob_answer, &wfp, &json!({"state": "safe", "how": "phone"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["answered_by"], "wfp-desk");

    // The board: by area and organisation; a travel unit sees its own organisation only.
    let (status, board) = app
        .get(&format!("/v1/incidents/{id}"), &app.analyst())
        .await;
    assert_eq!(status, 200, "{board}");
    assert_eq!(
        (
            &board["totals"]["people"],
            &board["totals"]["accounted_for"],
            &board["totals"]["needs_assistance"],
            &board["totals"]["no_answer"]
        ),
        (&json!(3), &json!(2), &json!(1), &json!(0)),
        "{board}"
    );
    assert_eq!(board["totals"]["dependants"], 2, "{board}");
    let lines: Vec<(String, String)> = board["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["area"].as_str().unwrap().to_owned(),
                l["org"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("TST-KIS".into(), "UNICEF".into()),
            ("TST-MOG".into(), "UNICEF".into()),
            ("TST-MOG".into(), "WFP".into())
        ]
    );
    let (_, unicef_board) = app
        .get(
            &format!("/v1/incidents/{id}"),
            &app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF")),
        )
        .await;
    assert_eq!(unicef_board["totals"]["people"], 2, "{unicef_board}");
    let (status, _) = app.get(&format!("/v1/incidents/{id}"), &alice).await;
    assert_eq!(status, 403, "travellers do not read the board");

    // Those needing assistance, with what they said; the CSV export.
    let (_, help) = app
        .get(
            &format!("/v1/incidents/{id}/people?state=needs_assistance"),
            &app.analyst(),
        )
        .await;
    assert_eq!(help["count"], 1);
    assert_eq!(
        help["items"][0]["message"],
        "Injured ankle, at the guesthouse"
    );
    assert_eq!(help["items"][0]["callback"], "+252 61 555 0101");
    assert_eq!(help["items"][0]["answered_via"], "link");
    let export = app
        .client
        .get(app.url(&format!("/v1/incidents/{id}/people")))
        .bearer_auth(app.analyst())
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rows = csv::ReaderBuilder::new().from_reader(export.as_bytes());
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3, "{export}");
    assert!(
        records
            .iter()
            .any(|r| &r[1] == "alice" && &r[17] == "Sam Martin; Lou Martin"),
        "{export}"
    );
    assert!(
        records.iter().any(|r| &r[1] == "carol"
            && &r[6] == "needs_assistance"
            && &r[10] == "Injured ankle, at the guesthouse"),
        "{export}"
    );

    // Close it: the timeline tells the story; nothing more is taken.
    let (status, closed) = app
        .post(
            &format!("/v1/incidents/{id}/close"),
            &app.analyst(),
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, closed["status"].as_str()),
        (200, Some("closed")),
        "{closed}"
    );
    let (status, again) = app
        .post(
            &format!("/v1/incidents/{id}/close"),
            &app.analyst(),
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("incident_closed"))
    );
    let (status, late) = app
        .post(&answer, &alice, &json!({"state": "needs_assistance"}))
        .await;
    assert_eq!(
        (status, late["code"].as_str()),
        (409, Some("incident_closed")),
        "{late}"
    );
    let (status, page) = post_form(&app, &app.url(&carol_path), &[("state", "safe")], None).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("This incident is closed"), "{page}");
    let (_, help) = app
        .get(
            &format!("/v1/incidents/{id}/people?state=needs_assistance"),
            &app.analyst(),
        )
        .await;
    assert_eq!(help["count"], 1, "the late answer changed nothing");
    let (status, timeline) = app
        .get(&format!("/v1/incidents/{id}/timeline"), &app.analyst())
        .await;
    assert_eq!(status, 200, "{timeline}");
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["opened", "answered", "answered", "answered", "closed"],
        "{timeline}"
    );
    assert_eq!(timeline["items"][3]["actor"], "wfp-desk");
    assert_eq!(timeline["items"][3]["detail"], "safe, via phone");
    let (_, mine) = app.get("/v1/check-ins", &alice).await;
    assert_eq!(mine["items"], json!([]), "a closed incident asks nothing");
}

#[tokio::test]
async fn requests_to_an_area_in_an_incident_are_held_until_it_closes() {
    let app = app_with(|_| {}).await;
    app.area("TST-MOG", Some("low")).await;
    let before = cleared(
        &app,
        "alice",
        "UNICEF",
        Submission::for_traveller("alice", "UNICEF").leg("TST-MOG", 1, 4),
    )
    .await;
    let opened = open(&app, &["TST-MOG"], 0).await;
    let id = opened["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(opened["rescreening"].as_array().unwrap().len(), 1);

    // New requests are held; the clearance issued before is screened again and held too.
    let (status, body) = app
        .submit(
            &app.traveller("bob", "WFP"),
            &Submission::for_traveller("bob", "WFP").leg("TST-MOG", 2, 3),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("held")),
        "{body}"
    );
    assert_eq!(body["decision"]["code"], "area_in_incident", "{body}");
    let status_of = async |id: &str| {
        app.get(&format!("/v1/clearance-requests/{id}"), &app.admin())
            .await
            .1["status"]
            .clone()
    };
    assert!(
        eventually(Duration::from_secs(10), async || status_of(&before).await
            == "held")
        .await
    );
    let (_, area) = app.get("/v1/areas/TST-MOG", &app.analyst()).await;
    assert_eq!(area["incident"]["id"], id.as_str(), "{area}");

    // Closed: the area is decided without it again.
    let (status, _) = app
        .post(
            &format!("/v1/incidents/{id}/close"),
            &app.analyst(),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        eventually(Duration::from_secs(10), async || status_of(&before).await
            == "cleared")
        .await
    );
    let (status, body) = app
        .submit(
            &app.traveller("carol", "WFP"),
            &Submission::for_traveller("carol", "WFP").leg("TST-MOG", 2, 3),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("cleared")),
        "{body}"
    );
}

#[tokio::test]
async fn bad_incidents_are_refused_and_change_nothing() {
    let app = app_with(|_| {}).await;
    app.area("TST-MOG", Some("low")).await;
    let started = (Utc::now() + Span::hours(1)).to_rfc3339();
    let cases = [
        (
            app.analyst(),
            json!({"areas": ["TST-MOG", "TST-NONE"], "started_at": started, "description": "x"}),
            422,
            "unknown_area",
            Some("/areas/1"),
        ),
        (
            app.analyst(),
            json!({"areas": [], "started_at": started, "description": "x"}),
            422,
            "invalid_field",
            Some("/areas"),
        ),
        (
            app.analyst(),
            json!({"areas": ["TST-MOG"], "started_at": (Utc::now() + Span::hours(73)).to_rfc3339(), "description": "x"}),
            422,
            "incident_in_future",
            Some("/started_at"),
        ),
        // Too long ago, and at the edge of what a date can be: refused, not overflowed.
        (
            app.analyst(),
            json!({"areas": ["TST-MOG"], "started_at": "2000-01-01T00:00:00Z", "description": "x"}),
            422,
            "invalid_field",
            Some("/started_at"),
        ),
        (
            app.analyst(),
            json!({"areas": ["TST-MOG"], "started_at": "-262143-01-01T00:00:00Z", "description": "x"}),
            422,
            "invalid_field",
            Some("/started_at"),
        ),
        (
            app.analyst(),
            json!({"areas": ["TST-MOG"], "started_at": started, "description": " "}),
            422,
            "invalid_field",
            Some("/description"),
        ),
        (
            app.traveller("alice", "UNICEF"),
            json!({"areas": ["TST-MOG"], "started_at": started, "description": "x"}),
            403,
            "forbidden",
            None,
        ),
        (
            app.admin(),
            json!({"areas": ["TST-MOG"], "started_at": started, "description": "x"}),
            403,
            "forbidden",
            None,
        ),
    ];
    for (token, body, status, code, field) in cases {
        let (got, problem) = app.post("/v1/incidents", &token, &body).await;
        assert_eq!(
            (got, problem["code"].as_str(), problem["field"].as_str()),
            (status, Some(code), field),
            "{body}: {problem}"
        );
    }
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM incidents", &[]).await,
        0
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM incident_areas", &[])
            .await,
        0
    );
    let (_, list) = app.get("/v1/incidents", &app.analyst()).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_personal_link_answers_for_its_person_only() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let app = app_with(|_| {}).await;
    app.area("TST-MOG", Some("low")).await;
    hook(&app, "UNICEF", &receiver.url).await;
    cleared(
        &app,
        "alice",
        "UNICEF",
        Submission::for_traveller("alice", "UNICEF").leg("TST-MOG", 0, 4),
    )
    .await;
    let opened = open(&app, &["TST-MOG"], 0).await;
    let id = opened["incident"]["id"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(10), async || !receiver
            .delivered()
            .is_empty())
        .await
    );
    let link = receiver.delivered()[0].json()["check_in_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = link.rsplit_once('/').unwrap().1.to_owned();
    let (entry, tag) = token.split_once('.').unwrap();

    // Forged, altered or re-spelled links open nothing.
    let forged = [
        format!("{}.{tag}", uuid::Uuid::new_v4()),
        format!("{entry}.{}", tag.chars().rev().collect::<String>()),
        format!("{}.{tag}", entry.to_uppercase()),
        entry.to_owned(),
        format!("/{id}"),
    ];
    for bad in &forged {
        let response = app
            .client
            .get(app.url(&format!("/check-in/{bad}")))
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{bad}");
        let (status, _) = post_form(
            &app,
            &app.url(&format!("/check-in/{bad}")),
            &[("state", "safe")],
            None,
        )
        .await;
        assert_eq!(status, 404, "{bad}");
    }
    // Someone else signed in may not use it; the person may.
    let path = format!("/check-in/{token}");
    let mallory = app.traveller("mallory", "UNICEF");
    let (status, page) =
        post_form(&app, &app.url(&path), &[("state", "safe")], Some(&mallory)).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("another person"), "{page}");
    let response = app
        .client
        .post(app.url(&path))
        .bearer_auth(&mallory)
        .header("Accept", "application/json")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("state=safe")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "check_in_not_yours");
    // A bad answer is refused with the field at fault, and nothing is recorded.
    let (status, page) = post_form(&app, &app.url(&path), &[("state", "maybe")], None).await;
    assert_eq!(status, 422, "{page}");
    let (_, roll) = app
        .get(&format!("/v1/incidents/{id}/people"), &app.analyst())
        .await;
    assert_eq!(roll["items"][0]["state"], "no_answer");
    let (status, _) = post_form(
        &app,
        &app.url(&path),
        &[("state", "safe")],
        Some(&app.traveller("alice", "UNICEF")),
    )
    .await;
    assert_eq!(status, 200);
    // The link opened the person's entry and nothing else.
    let (status, _) = app.get(&format!("/v1/incidents/{id}"), &token).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_a_verification_key_asks_carry_no_link() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let app = app_with(|s| s.server.verification_key = None).await;
    app.area("TST-MOG", Some("low")).await;
    hook(&app, "UNICEF", &receiver.url).await;
    cleared(
        &app,
        "alice",
        "UNICEF",
        Submission::for_traveller("alice", "UNICEF").leg("TST-MOG", 0, 4),
    )
    .await;
    open(&app, &["TST-MOG"], 0).await;
    assert!(
        eventually(Duration::from_secs(10), async || !receiver
            .delivered()
            .is_empty())
        .await
    );
    assert_eq!(receiver.delivered()[0].json()["check_in_url"], Value::Null);
}

#[tokio::test]
async fn those_who_do_not_answer_are_reminded_until_they_do() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let app = app_with(|s| {
        s.incidents.remind_every = "1s".into();
        s.incidents.reminder_interval_secs = 1;
        s.incidents.max_asks = 3;
    })
    .await;
    app.area("TST-MOG", Some("low")).await;
    hook(&app, "UNICEF", &receiver.url).await;
    cleared(
        &app,
        "alice",
        "UNICEF",
        Submission::for_traveller("alice", "UNICEF").leg("TST-MOG", 0, 4),
    )
    .await;
    cleared(
        &app,
        "bob",
        "UNICEF",
        Submission::for_traveller("bob", "UNICEF").leg("TST-MOG", 0, 4),
    )
    .await;
    let opened = open(&app, &["TST-MOG"], 0).await;
    let id = opened["incident"]["id"].as_str().unwrap().to_owned();
    // Alice answers at once; Bob never does: he is asked three times in all, then left.
    let (_, mine) = app
        .get("/v1/check-ins", &app.traveller("alice", "UNICEF"))
        .await;
    let entry = mine["items"][0]["entry"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/v1/incidents/{id}/people/{entry}/answer"),
            &app.traveller("alice", "UNICEF"),
            &json!({"state": "safe"}),
        )
        .await;
    assert_eq!(status, 200);
    let asks_of = |who: &str| {
        receiver
            .delivered()
            .iter()
            .map(|r| r.json())
            .filter(|a| a["person"]["traveller_id"] == who)
            .map(|a| a["ask"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(20), async || asks_of("bob").len() >= 3).await,
        "{:?}",
        asks_of("bob")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(asks_of("bob"), [1, 2, 3]);
    assert_eq!(asks_of("alice"), [1], "an answer stops the reminders");
    let (_, roll) = app
        .get(
            &format!("/v1/incidents/{id}/people?state=no_answer"),
            &app.analyst(),
        )
        .await;
    assert_eq!(roll["items"][0]["asks"], 3);
    let (_, timeline) = app
        .get(&format!("/v1/incidents/{id}/timeline"), &app.analyst())
        .await;
    let reminded = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "reminded")
        .count();
    assert_eq!(reminded, 2, "{timeline}");
}

#[tokio::test]
async fn everyone_with_an_address_is_asked_by_email_with_their_own_link() {
    use crate::smtp_server::{SmtpOptions, SmtpServer};
    let server = SmtpServer::start(SmtpOptions::default());
    let app = app_with(|s| {
        super::mail::mail_to(s, server.port);
        s.incidents.remind_every = "1s".into();
        s.incidents.reminder_interval_secs = 1;
        s.incidents.max_asks = 2;
    })
    .await;
    app.area("TST-MOG", Some("low")).await;
    // Alice's address is on her request; Bob's in the directory; Carol has none.
    cleared(
        &app,
        "alice",
        "UNICEF",
        Submission::for_traveller("alice", "UNICEF")
            .leg("TST-MOG", 0, 4)
            .set("/traveller/email", json!("alice@unicef.example"))
            .set("/traveller/language", json!("fr")),
    )
    .await;
    let (status, body) = app
        .put(
            "/v1/people/bob",
            &app.admin(),
            &json!({"name": "Bob", "email": "bob@wfp.example", "language": "en", "notifications": "off"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    cleared(
        &app,
        "bob",
        "WFP",
        Submission::for_traveller("bob", "WFP").leg("TST-MOG", 0, 4),
    )
    .await;
    cleared(
        &app,
        "carol",
        "WFP",
        Submission::for_traveller("carol", "WFP").leg("TST-MOG", 0, 4),
    )
    .await;
    open(&app, &["TST-MOG"], 0).await;

    let asks = |to: &str| {
        server
            .received()
            .into_iter()
            .filter(|m| m.rcpt_tos.join(",") == to)
            .map(|m| {
                let parsed = m.parsed();
                (
                    parsed.subject().unwrap_or_default().to_owned(),
                    parsed.body_text(0).unwrap_or_default().into_owned(),
                )
            })
            .filter(|(subject, _)| subject.contains("sécurité") || subject.contains("safe"))
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(15), async || !asks(
            "alice@unicef.example"
        )
        .is_empty()
            && !asks("bob@wfp.example").is_empty())
        .await,
        "{:?}",
        server
            .received()
            .iter()
            .map(|m| m.rcpt_tos.clone())
            .collect::<Vec<_>>()
    );
    let (subject, text) = asks("alice@unicef.example").remove(0);
    assert_eq!(
        subject,
        "Êtes-vous en sécurité ? Armed clashes near the airport"
    );
    assert!(
        text.contains("Bonjour alice") || text.contains("Bonjour Traveller alice"),
        "{text}"
    );
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("https://clearway.test/check-in/"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned();
    let path = link.trim_start_matches("https://clearway.test");
    // Her link opens her page, in French, and takes her answer.
    let page = app
        .client
        .get(app.url(path))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<html lang=\"fr\">") && page.contains("Je suis en sécurité"),
        "{page}"
    );
    let (status, _) = post_form(&app, &app.url(path), &[("state", "safe")], None).await;
    assert_eq!(status, 200);
    // Bob, who never answers, is reminded once (two asks in all); Alice is not; Carol has
    // no address and is asked by her unit's webhook only.
    assert!(
        eventually(Duration::from_secs(15), async || asks("bob@wfp.example")
            .len()
            >= 2)
        .await
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bob: Vec<String> = asks("bob@wfp.example")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        bob,
        [
            "Are you safe? Armed clashes near the airport",
            "Reminder, are you safe? Armed clashes near the airport"
        ]
    );
    assert_eq!(asks("alice@unicef.example").len(), 1);
    let (_, mail) = app.get("/v1/mail", &app.admin()).await;
    assert!(
        !mail["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["recipient"].as_str().unwrap().contains("carol")),
        "{mail}"
    );
}

#[tokio::test]
async fn dependants_are_checked_like_any_input() {
    let app = app_with(|_| {}).await;
    app.area("TST-MOG", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"name": format!("Child {i}")}))
        .collect();
    let cases = [
        (json!(many), "/traveller/dependants"),
        (json!([{"name": " "}]), "/traveller/dependants/0/name"),
        (
            json!([{"name": "Sam", "relationship": "x".repeat(51)}]),
            "/traveller/dependants/0/relationship",
        ),
        (
            json!([{"name": "Sam", "age": 7}]),
            "/traveller/dependants/0/age",
        ),
    ];
    for (dependants, field) in cases {
        let trip = Submission::for_traveller("alice", "UNICEF")
            .leg("TST-MOG", 1, 2)
            .set("/traveller/dependants", dependants);
        let (status, problem) = app.submit(&alice, &trip).await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (422, Some("invalid_field"), Some(field)),
            "{problem}"
        );
    }
    assert_eq!(app.stored_rows().await.0, 0, "nothing stored");
}
