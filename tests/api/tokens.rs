//! Tokens are fully validated: signature, algorithm, expiry, issuer, audience.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::support::{Submission, TestApp};

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
    let secret =
        secrecy::ExposeSecret::expose_secret(app.settings.auth.hs256_secret.as_ref().unwrap())
            .to_owned();
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
        (
            "audiences that leave ours out",
            sign(
                &with(good.clone(), "aud", json!(["other-api", "another-api"])),
                &secret,
            ),
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
    // An audience array that holds ours is accepted (RFC 7519 section 4.1.3; issue 25).
    let audience = app.settings.auth.audience.clone();
    let several = sign(&with(good, "aud", json!(["other-api", audience])), &secret);
    let (status, body) = app.submit(&several, &trip).await;
    assert_eq!(status, 201, "{body}");
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

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Production keys: RS256 and ES256 public keys from PEM files; no HS256 at all.
async fn app_with_public_keys() -> TestApp {
    TestApp::spawn_with(|s| {
        s.auth.hs256_secret = None;
        s.auth.rs256_public_key_file = Some(fixture("jwt-rs256-public.pem"));
        s.auth.es256_public_key_file = Some(fixture("jwt-es256-public.pem"));
    })
    .await
}

async fn list_with(app: &TestApp, token: &str) -> (u16, Value) {
    app.get("/v1/clearance-requests", token).await
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_an_identity_provider_are_accepted() {
    let app = app_with_public_keys().await;
    let good = claims(&app);
    for (alg, key) in [
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&std::fs::read(fixture("jwt-rs256-private.pem")).unwrap())
                .unwrap(),
        ),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&std::fs::read(fixture("jwt-es256-private.pem")).unwrap())
                .unwrap(),
        ),
    ] {
        let token = jsonwebtoken::encode(&Header::new(alg), &good, &key).unwrap();
        let (status, body) = list_with(&app, &token).await;
        assert_eq!(status, 200, "{alg:?}: {body}");
    }
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_refused() {
    let app = app_with_public_keys().await;
    let good = claims(&app);
    // Algorithm confusion: the attacker knows the public key and uses it as an HMAC secret.
    let public_pem = std::fs::read(fixture("jwt-rs256-public.pem")).unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let (status, body) = list_with(&app, &forged).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    // And the development secret means nothing to a production configuration.
    let dev = sign(&good, clearway::config::DEVELOPMENT_SECRET);
    let (status, _) = list_with(&app, &dev).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_oversized_token_and_a_token_in_the_url_are_refused() {
    let app = TestApp::spawn().await;
    let valid = app.traveller("alice", "UNICEF");
    let huge = format!("{valid}{}", "A".repeat(100 * 1024));
    let response = app
        .client
        .get(app.url("/v1/clearance-requests"))
        .bearer_auth(&huge)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );

    // In the query string it is refused, alone or beside a valid header.
    for with_header in [false, true] {
        let mut request = app
            .client
            .get(app.url(&format!("/v1/clearance-requests?access_token={valid}")));
        if with_header {
            request = request.bearer_auth(&valid);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_token")),
            "header too: {with_header}: {body}"
        );
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("Authorization header")
        );
    }
    // The same token in the header alone is fine: the refusals above are for where it was.
    assert_eq!(app.get("/v1/clearance-requests", &valid).await.0, 200);
}
