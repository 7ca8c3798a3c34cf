//! Tokens are fully validated: signature, algorithm, expiry, issuer, audience.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{Submission, TestApp};

fn claims(app: &TestApp) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": "alice", "roles": ["traveller"], "org": "UNICEF",
        "iss": app.settings.auth.issuer, "aud": app.settings.auth.audience,
        "iat": now, "nbf": now, "exp": now + 600,
    })
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401_and_a_stable_code() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let secret = app.settings.auth.hs256_secret.clone().unwrap();
    let good = claims(&app);
    let now = Utc::now().timestamp();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let valid = sign(&good, &secret);
    let (head, _, signature) = {
        let parts: Vec<&str> = valid.split('.').collect();
        (
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        )
    };
    let tampered = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(with(good.clone(), "sub", json!("mallory")).to_string())
    );
    let mut without_sub = good.clone();
    without_sub.as_object_mut().unwrap().remove("sub");

    let cases = [
        ("alg none", unsigned, "invalid_token"),
        (
            "wrong secret",
            sign(&good, "another-secret-of-at-least-32-bytes!!"),
            "invalid_token",
        ),
        ("tampered payload", tampered, "invalid_token"),
        (
            "expired",
            sign(&with(good.clone(), "exp", json!(now - 3600)), &secret),
            "token_expired",
        ),
        (
            "not yet valid",
            sign(&with(good.clone(), "nbf", json!(now + 3600)), &secret),
            "invalid_token",
        ),
        (
            "wrong issuer",
            sign(&with(good.clone(), "iss", json!("someone-else")), &secret),
            "invalid_token",
        ),
        (
            "wrong audience",
            sign(&with(good.clone(), "aud", json!("other-api")), &secret),
            "invalid_token",
        ),
        ("missing sub", sign(&without_sub, &secret), "invalid_token"),
        (
            "unknown role",
            sign(&with(good.clone(), "roles", json!(["superuser"])), &secret),
            "invalid_token",
        ),
        ("garbage", "not.a.token".to_owned(), "invalid_token"),
    ];
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 2);
    for (name, token, code) in cases {
        let response = app
            .client
            .post(app.url("/v1/clearance-requests"))
            .bearer_auth(&token)
            .json(&trip.json)
            .send()
            .await
            .unwrap();
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{name}"
        );
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some(code)),
            "{name}: {body}"
        );
    }
    assert_eq!(app.stored_rows().await, (0, 0));

    // The same request with the genuine token goes through: the cases above fail for their reason.
    let (status, _) = app.submit(&valid, &trip).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_request_without_a_bearer_token_is_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/v1/clearance-requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "missing_token");
    let response = app
        .client
        .get(app.url("/v1/areas"))
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
