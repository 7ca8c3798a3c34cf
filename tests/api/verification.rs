//! The link printed on a clearance: anyone may open it, without an account, and see whether
//! the clearance holds today; a link the service did not sign, or signed for another
//! request, opens nothing; a clearance no longer held says so.

use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

use super::support::{Submission, TestApp, eventually};

async fn open(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Alice's request to TST-LOW as submitted, and as she reads it alone.
async fn cleared_for_alice(app: &TestApp, alice: &str) -> (Value, Value) {
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 3, 6);
    let (status, cleared) = app.submit(alice, &trip).await;
    assert_eq!((status, cleared["status"].as_str()), (201, Some("cleared")));
    let path = format!("/v1/clearance-requests/{}", cleared["id"].as_str().unwrap());
    let (_, read) = app.get(&path, alice).await;
    (cleared, read)
}

#[tokio::test]
async fn a_printed_clearance_is_checked_by_anyone_with_its_link_and_by_nobody_without() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    app.area("TST-NOSRA", None).await;
    let alice = app.traveller("alice", "UNICEF");
    let (cleared, read) = cleared_for_alice(&app, &alice).await;
    let id = cleared["id"].as_str().unwrap();
    let link = read["verification_url"]
        .as_str()
        .expect("a clearance carries its link");
    assert!(link.starts_with(&format!("/verify/{id}.")), "{link}");
    assert_eq!(
        cleared["verification_url"], link,
        "the submission's answer differs"
    );
    // Lists do not sign every item; a held request is no clearance and has no link.
    let (_, list) = app.get("/v1/clearance-requests", &alice).await;
    assert!(list["items"][0].get("verification_url").is_none());
    let (_, held) = app
        .submit(
            &alice,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-NOSRA", 3, 6),
        )
        .await;
    let (_, held) = app
        .get(
            &format!("/v1/clearance-requests/{}", held["id"].as_str().unwrap()),
            &alice,
        )
        .await;
    assert_eq!(held["status"], "held");
    assert!(held.get("verification_url").is_none());

    // No token: the link alone.
    let (status, checked) = open(&app, link).await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["status"], "cleared");
    assert_eq!(checked["traveller_name"], cleared["traveller"]["name"]);
    assert_eq!(checked["org"], "UNICEF");
    assert_eq!(checked["legs"][0]["area"], "TST-LOW");
    assert_eq!(checked["valid_until"], cleared["legs"][0]["departure"]);
    // What the paper needs to be compared with, and nothing more.
    for private in [
        "purpose",
        "traveller",
        "decision",
        "approval",
        "mission_sra_reference",
    ] {
        assert!(
            checked.get(private).is_none(),
            "{private} is public: {checked}"
        );
    }

    // A person's browser gets a page, in their language, with no script.
    let page = app
        .client
        .get(app.url(link))
        .header(ACCEPT, "text/html,application/xhtml+xml;q=0.9")
        .header(ACCEPT_LANGUAGE, "fr-CH, fr;q=0.9, en;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<html lang="fr">"#) && html.contains("Valable."),
        "{html}"
    );
    assert!(!html.contains("<script"), "the page runs a script");

    // Forged, altered or re-spelled links open nothing; a browser is told so in a page.
    let token = link.trim_start_matches("/verify/");
    let (_, tags) = token.split_once('.').unwrap();
    let (id_tag, legs_tag) = tags.split_once('.').unwrap();
    for forged in [
        format!("/verify/{}.{tags}", Uuid::now_v7()),
        format!("/verify/{id}.{}.{legs_tag}", &id_tag[..id_tag.len() - 1]),
        format!("/verify/{}.{tags}", id.to_uppercase()),
        format!("/verify/{id}.{id_tag}"),
        format!("/verify/{token}.x"),
        format!("/verify/{id}"),
        "/verify/x".to_owned(),
    ] {
        let (status, problem) = open(&app, &forged).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("not_found")),
            "{forged}"
        );
    }
    let page = app
        .client
        .get(app.url(&format!("/verify/{id}.{id_tag}")))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("does not verify any clearance")
    );
    // Signed with another key: what a deployment with a leaked test key would hand out.
    let other = clearway::domain::verification::seal(
        b"some other key of at least thirty-two bytes",
        Uuid::parse_str(id).unwrap(),
        &[],
    );
    assert_eq!(open(&app, &format!("/verify/{other}")).await.0, 404);

    // When the area is suspended the clearance is held, and the same link says so.
    let analyst = app.analyst();
    let suspension = "/v1/areas/TST-LOW/suspension";
    let (status, body) = app
        .post(suspension, &analyst, &json!({"reason": "evacuation"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let held = eventually(Duration::from_secs(10), async || {
        open(&app, link).await.1["status"] == "held"
    })
    .await;
    assert!(held, "the clearance still holds after the suspension");
    assert_eq!(open(&app, link).await.1["valid"], false);

    // Held, it is amended to other dates and cleared again once the suspension is lifted:
    // the old paper names the old itinerary and is not valid; the new one is.
    let amended = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 4, 8);
    let response = app
        .client
        .patch(app.url(&format!("/v1/clearance-requests/{id}")))
        .bearer_auth(&alice)
        .json(&amended.json)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let lifted = app
        .client
        .delete(app.url(suspension))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 200);
    let cleared_again = eventually(Duration::from_secs(10), async || {
        open(&app, link).await.1["status"] == "cleared"
    })
    .await;
    assert!(cleared_again, "the amended request was not cleared again");
    let (_, old) = open(&app, link).await;
    assert_eq!(
        (old["valid"].as_bool(), old["as_printed"].as_bool()),
        (Some(false), Some(false)),
        "{old}"
    );
    let (_, read) = app
        .get(&format!("/v1/clearance-requests/{id}"), &alice)
        .await;
    let new_link = read["verification_url"].as_str().unwrap();
    assert_ne!(new_link, link);
    let (_, new) = open(&app, new_link).await;
    assert_eq!(
        (new["valid"].as_bool(), new["as_printed"].as_bool()),
        (Some(true), Some(true)),
        "{new}"
    );
}

#[tokio::test]
async fn without_a_verification_key_clearances_carry_no_link() {
    let app = TestApp::spawn_with(|s| s.server.verification_key = None).await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let (cleared, read) = cleared_for_alice(&app, &alice).await;
    let id = cleared["id"].as_str().unwrap();
    assert_eq!(read["status"], "cleared");
    assert!(read.get("verification_url").is_none(), "{read}");
    let legs =
        serde_json::from_value::<Vec<clearway::domain::itinerary::Leg>>(read["legs"].clone())
            .unwrap();
    let token = clearway::domain::verification::seal(
        b"clearway-development-verification-key-not-for-production-use",
        Uuid::parse_str(id).unwrap(),
        &legs,
    );
    assert_eq!(open(&app, &format!("/verify/{token}")).await.0, 404);
}
