//! The people directory (issue 29): admins keep it, people read their own entry and set
//! their preferences, and bad addresses, languages or stages change nothing.

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::TestApp;

fn hana() -> Value {
    json!({"name": "Hana Sato", "email": "hana.sato@undss.example", "language": "fr",
           "stages": ["hq"], "notifications": "daily_digest"})
}

#[tokio::test]
async fn admins_keep_the_directory_and_people_read_their_own_entry() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let (status, body) = app.put("/v1/people/hana", &admin, &hana()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["subject"], "hana");
    assert_eq!(body["stages"], json!(["hq"]));
    assert_eq!(body["language"], "fr");
    assert_eq!(body["notifications"], "daily_digest");
    // Replacing is a PUT again: 200, and an entry without `notifications` is immediate.
    let mut again = hana();
    again.as_object_mut().unwrap().remove("notifications");
    let (status, body) = app.put("/v1/people/hana", &admin, &again).await;
    assert_eq!(
        (status, body["notifications"].as_str()),
        (200, Some("immediate"))
    );
    let (status, body) = app
        .put(
            "/v1/people/unicef-desk",
            &admin,
            &json!({"name": "UNICEF travel desk", "email": "travel@unicef.example",
                    "language": "en", "follows_org": "UNICEF"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let (_, list) = app.get("/v1/people", &admin).await;
    let subjects: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["hana", "unicef-desk"]);
    let (_, hq) = app.get("/v1/people?stage=hq", &admin).await;
    assert_eq!(hq["items"].as_array().unwrap().len(), 1);
    let (status, body) = app.get("/v1/people?stage=nope", &admin).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_query"))
    );

    // Hana reads her entry and sets her preferences; she cannot read anyone else's.
    let hana_token = app.token("hana", &[Role::ApproverHq], None);
    let (status, body) = app.get("/v1/people/hana", &hana_token).await;
    assert_eq!(
        (status, body["email"].as_str()),
        (200, Some("hana.sato@undss.example"))
    );
    let (status, body) = app
        .put(
            "/v1/people/hana/preferences",
            &hana_token,
            &json!({"notifications": "off", "language": "en"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["notifications"].as_str(), body["language"].as_str()),
        (Some("off"), Some("en"))
    );
    assert_eq!(
        body["stages"],
        json!(["hq"]),
        "preferences leave the rest alone"
    );
    let (status, _) = app.get("/v1/people/unicef-desk", &hana_token).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .put(
            "/v1/people/unicef-desk/preferences",
            &hana_token,
            &json!({"notifications": "off"}),
        )
        .await;
    assert_eq!(status, 404);
    // Nor write the directory or list it.
    let (status, body) = app.put("/v1/people/hana", &hana_token, &hana()).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = app.get("/v1/people", &hana_token).await;
    assert_eq!(status, 403);

    let (status, _) = app.delete("/v1/people/hana", &admin).await;
    assert_eq!(status, 204);
    let (status, _) = app.get("/v1/people/hana", &admin).await;
    assert_eq!(status, 404);
    let (status, _) = app.delete("/v1/people/hana", &admin).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_addresses_languages_and_stages_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let cases = [
        ("/email", json!("hana.sato"), "invalid_email"),
        ("/email", json!("hana@localhost"), "invalid_email"),
        (
            "/email",
            json!("a@b.example\r\nBcc: x@y.example"),
            "invalid_email",
        ),
        ("/language", json!("de"), "unsupported_language"),
        ("/stages/0", json!(["ops"]), "invalid_field"),
        ("/name", json!("  "), "invalid_field"),
    ];
    for (field, value, code) in cases {
        let mut body = hana();
        let key = field.trim_start_matches('/').split('/').next().unwrap();
        body[key] = value.clone();
        let (status, problem) = app.put("/v1/people/hana", &admin, &body).await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (422, Some(code), Some(field)),
            "{value}: {problem}"
        );
    }
    let (_, list) = app.get("/v1/people", &admin).await;
    assert_eq!(list["items"], json!([]), "nothing was written");

    // The traveller's address and language on a request are checked the same way.
    app.area("TST-LOW", Some("low")).await;
    let traveller = app.traveller("alice", "UNICEF");
    for (field, value, code) in [
        ("/traveller/email", "alice", "invalid_email"),
        ("/traveller/language", "es", "unsupported_language"),
    ] {
        let submission = super::support::Submission::for_traveller("alice", "UNICEF")
            .leg("TST-LOW", 3, 5)
            .set(field, json!(value));
        let (status, problem) = app.submit(&traveller, &submission).await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (422, Some(code), Some(field)),
            "{problem}"
        );
    }
    assert_eq!(app.stored_rows().await.0, 0, "no request was stored");
}
