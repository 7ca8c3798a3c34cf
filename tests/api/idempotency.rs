//! `Idempotency-Key`: a retried POST gets the first response and does nothing twice.

use std::time::Duration;

use serde_json::Value;

use clearway::auth::Role;

use super::support::{App, Submission, TestApp, read};

async fn submit_with_key(app: &App, token: &str, key: &str, body: &Value) -> (u16, Value, bool) {
    let response = app
        .client
        .post(app.url("/v1/clearance-requests"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let (status, body) = read(response).await;
    (status, body, replayed)
}

fn trip(traveller: &str) -> Value {
    Submission::for_traveller(traveller, "UNICEF")
        .leg("TST-LOW", 3, 6)
        .json
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_first_response_and_creates_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");

    let (status, first, replayed) = submit_with_key(&app, &alice, "key-1", &trip("alice")).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, again, replayed) = submit_with_key(&app, &alice, "key-1", &trip("alice")).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again, first, "the same status and body");
    assert_eq!(app.stored_rows().await, (1, 1));

    // The same key with another body is a client bug, refused; nothing is stored.
    let other = Submission::for_traveller("alice", "UNICEF")
        .leg("TST-LOW", 4, 7)
        .json;
    let (status, body, _) = submit_with_key(&app, &alice, "key-1", &other).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("idempotency_key_reused"), Some("Idempotency-Key"))
    );
    assert_eq!(app.stored_rows().await, (1, 1));

    // Keys are the caller's own: another traveller's identical key is another request.
    let bob = app.traveller("bob", "UNICEF");
    let (status, theirs, replayed) = submit_with_key(&app, &bob, "key-1", &trip("bob")).await;
    assert_eq!((status, replayed), (201, false));
    assert_ne!(theirs["id"], first["id"]);

    // A refusal is an answer too: replayed, not re-judged.
    let bad = Submission::for_traveller("alice", "UNICEF").json;
    let (status, refused, _) = submit_with_key(&app, &alice, "key-2", &bad).await;
    assert_eq!(status, 422);
    let (status, again, replayed) = submit_with_key(&app, &alice, "key-2", &bad).await;
    assert_eq!((status, replayed, again), (422, true, refused));
    assert_eq!(app.stored_rows().await, (2, 2));

    // Without a key nothing is remembered; a malformed key is refused before anything runs.
    let (status, body) = app
        .submit(
            &alice,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 3, 6),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for key in ["", &"k".repeat(256), "with space"] {
        let (status, body, _) = submit_with_key(&app, &alice, key, &trip("alice")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_idempotency_key")),
            "{key:?}"
        );
    }
    assert_eq!(app.stored_rows().await, (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_create_exactly_one_request() {
    let app = TestApp::spawn_with(|s| s.server.workers = 4).await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let body = trip("alice");
    let answers = futures_util::future::join_all(
        (0..24).map(|_| submit_with_key(&app, &alice, "retry-storm", &body)),
    )
    .await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body, _)| {
            assert_eq!(*status, 201, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry got the one request");
    assert_eq!(
        answers.iter().filter(|(_, _, replayed)| !replayed).count(),
        1
    );
    assert_eq!(app.stored_rows().await, (1, 1));
}

#[tokio::test]
async fn a_key_expires_after_the_window() {
    let app = TestApp::spawn_with(|s| s.idempotency.window_secs = 1).await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let (_, first, _) = submit_with_key(&app, &alice, "short-lived", &trip("alice")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, second, replayed) =
        submit_with_key(&app, &alice, "short-lived", &trip("alice")).await;
    assert_eq!((status, replayed), (201, false));
    assert_ne!(first["id"], second["id"]);
    assert_eq!(app.stored_rows().await, (2, 2));
}

/// A replay is an answer to the caller the first request was authorized for: the same
/// organisation and subject, still holding every role it was made with. A token that lost
/// its role, or names another organisation, gets no replay (issue 25, finding 3).
#[tokio::test]
async fn a_replay_is_authorized_again() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let (status, first, _) = submit_with_key(&app, &alice, "key-1", &trip("alice")).await;
    assert_eq!(status, 201, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();

    let roleless = app.token("alice", &[], Some("UNICEF"));
    let (status, body, replayed) = submit_with_key(&app, &roleless, "key-1", &trip("alice")).await;
    assert_eq!((status, replayed), (403, false), "{body}");
    assert_eq!(body["code"], "forbidden");
    // Another organisation's alice is another person: her own key space, her own refusal.
    let wfp_alice = app.traveller("alice", "WFP");
    let (status, body, replayed) = submit_with_key(&app, &wfp_alice, "key-1", &trip("alice")).await;
    assert_eq!((status, replayed), (403, false), "{body}");
    // A token with more roles than the first still gets its answer: nothing runs twice.
    let more = app.token("alice", &[Role::Traveller, Role::Admin], Some("UNICEF"));
    let (status, again, replayed) = submit_with_key(&app, &more, "key-1", &trip("alice")).await;
    assert_eq!((status, replayed, &again), (201, true, &first));
    assert_eq!(app.stored_rows().await, (1, 1));

    // The same for a withdrawal: its replay to a token with no roles is refused.
    let withdraw = |token: String| {
        let app = &app;
        let url = app.url(&format!("/v1/clearance-requests/{id}/withdraw"));
        async move {
            let response = app
                .client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "withdraw-1")
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let (status, body) = read(response).await;
            (status, replayed, body)
        }
    };
    // (A cleared request cannot be withdrawn: the 409 is the answer a retry gets again.)
    let (first, replayed, body) = withdraw(alice.clone()).await;
    assert_eq!((first, replayed), (409, false), "{body}");
    let (status, replayed, body) = withdraw(app.token("alice", &[], Some("UNICEF"))).await;
    assert_eq!((status, replayed), (403, false), "{body}");
    assert_eq!(body["code"], "forbidden");
    let (status, replayed, _) = withdraw(alice).await;
    assert_eq!((status, replayed), (first, true));
}
