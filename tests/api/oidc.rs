//! Identity from a real OpenID Provider (issue 25): discovery, its keys fetched and followed
//! through a rotation without a restart, its claims mapped to callers, and a provider that is
//! down at start or later.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clearway::config::OidcIssuerSettings;
use serde_json::{Value, json};

use super::support::{App, Submission, TestApp, eventually, readiness, reserved_port};
use crate::identity_provider::{IdentityProvider, client};

fn issuer(idp_issuer: &str, adjust: impl FnOnce(&mut OidcIssuerSettings)) -> OidcIssuerSettings {
    let mut settings = OidcIssuerSettings {
        issuer: idp_issuer.to_owned(),
        // provider.mjs's default audience.
        audience: Some("clearway".into()),
        orgs: Vec::new(),
        refresh_secs: 3600,
        min_refresh_secs: 1,
        max_key_age_secs: 86_400,
        timeout_ms: 2_000,
    };
    adjust(&mut settings);
    settings
}

/// A provider with one client, UNICEF's traveller `alice`, and a service that trusts it.
async fn alice_and_her_provider(
    adjust: impl FnOnce(&mut OidcIssuerSettings),
) -> (IdentityProvider, TestApp) {
    let idp = IdentityProvider::start(
        json!([client("alice", &["traveller"], Some("UNICEF"))]),
        &[],
    )
    .await;
    let settings = issuer(&idp.issuer, adjust);
    let app = TestApp::spawn_with(|s| s.auth.oidc = vec![settings]).await;
    (idp, app)
}

async fn list_status(app: &App, token: &str) -> u16 {
    app.get("/v1/clearance-requests", token).await.0
}

fn header(token: &str) -> Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
}

#[tokio::test]
async fn tokens_of_real_openid_providers_are_accepted_through_discovery() {
    let unicef = IdentityProvider::start(
        json!([
            client("alice", &["traveller"], Some("UNICEF")),
            client("unicef-desk", &["travel-unit"], Some("UNICEF")),
            client("no-org", &["traveller"], None),
        ]),
        &[],
    )
    .await;
    // A second provider that names roles as Entra ID groups would, in `groups`, signs ES256
    // and adds roles of its own.
    let undss = IdentityProvider::start(
        json!([client(
            "hana",
            &["Clearway.HQ", "offline_access", "admin"],
            Some("UNDSS")
        )]),
        &[("ROLES_CLAIM", "groups"), ("ALG", "ES256")],
    )
    .await;
    let app = TestApp::spawn_with(|s| {
        s.auth.oidc = vec![
            issuer(&unicef.issuer, |i| i.orgs = vec!["UNICEF".into()]),
            issuer(&undss.issuer, |i| i.orgs = vec!["UNDSS".into()]),
        ];
        s.auth.claims.roles = vec!["roles".into(), "groups".into()];
        s.auth.claims.role_map = [
            ("traveller", "traveller"),
            ("travel-unit", "travel-unit"),
            ("Clearway.HQ", "approver-hq"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    })
    .await;
    app.area("TST-LOW", Some("low")).await;

    let alice = unicef.token("alice").await;
    assert_eq!(header(&alice)["typ"], "at+jwt");
    let (status, body) = app
        .submit(
            &alice,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 2),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let desk = unicef.token("unicef-desk").await;
    let (status, page) = app.get("/v1/clearance-requests", &desk).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], id.as_str(), "{page}");

    // The other provider's approver: mapped from `groups`; its unmapped `admin` grants nothing.
    let hana = undss.token("hana").await;
    assert_eq!(header(&hana)["alg"], "ES256");
    assert_eq!(app.get("/v1/escalations?stage=hq", &hana).await.0, 200);
    let (status, body) = app.get("/v1/clearance-requests", &hana).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));

    // A traveller token that names no organisation submits nothing.
    let no_org = unicef.token("no-org").await;
    let (status, body) = app
        .submit(
            &no_org,
            &Submission::for_traveller("no-org", "UNICEF").leg("TST-LOW", 1, 2),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("token_org_required"))
    );

    // The provider's token for another API is refused.
    let elsewhere = unicef
        .token_for("alice", Some("https://other-api.example.org"))
        .await;
    let (status, body) = app.get("/v1/clearance-requests", &elsewhere).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );

    // A rogue administrator of UNDSS's provider signs with its real key: naming UNICEF's
    // provider as issuer, or UNICEF as its organisation, gets nowhere.
    let now = chrono::Utc::now().timestamp();
    let claims = |iss: &str| {
        json!({"iss": iss, "aud": "clearway", "sub": "unicef-desk", "org": "UNICEF",
               "roles": ["travel-unit"], "iat": now, "exp": now + 300})
    };
    for (what, forged) in [
        ("UNICEF's issuer", undss.sign(&claims(&unicef.issuer)).await),
        (
            "UNICEF as its organisation",
            undss.sign(&claims(&undss.issuer)).await,
        ),
    ] {
        let (status, body) = app.get("/v1/clearance-requests", &forged).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_token")),
            "{what}: {body}"
        );
    }
    // The same key signing for its own organisation is taken: the refusals are for the claims.
    let mut own = claims(&undss.issuer);
    own["org"] = "UNDSS".into();
    assert_eq!(list_status(&app, &undss.sign(&own).await).await, 200);

    let (status, ready) = readiness(&app).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["identity"][0]["state"], "up", "{ready}");
    assert_eq!(ready["identity"][1]["state"], "up", "{ready}");
    assert_eq!(app.stored_rows().await, (1, 1));
}

#[tokio::test]
async fn a_key_rotation_is_followed_without_a_restart_and_a_withdrawn_key_is_refused() {
    let (idp, app) = alice_and_her_provider(|i| i.refresh_secs = 1).await;
    let old = idp.token("alice").await;
    assert_eq!(list_status(&app, &old).await, 200);

    let kids = idp.rotate().await;
    let new = idp.token("alice").await;
    assert_eq!(header(&new)["kid"], kids[0].as_str());
    assert_ne!(header(&new)["kid"], header(&old)["kid"]);
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), async || list_status(&app, &new)
            .await
            == 200)
        .await,
        "a token signed with the new key is accepted"
    );
    println!("the rotated key was accepted after {:?}", started.elapsed());
    assert_eq!(
        list_status(&app, &old).await,
        200,
        "the old key is still published"
    );

    idp.retire_old().await;
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), async || list_status(&app, &old)
            .await
            == 401)
        .await,
        "a token of the withdrawn key is refused, remembered or not"
    );
    println!(
        "the withdrawn key was refused after {:?}",
        started.elapsed()
    );
    assert_eq!(list_status(&app, &new).await, 200);
}

#[tokio::test]
async fn unknown_key_ids_do_not_make_the_service_hammer_the_provider() {
    let (idp, app) = alice_and_her_provider(|i| i.min_refresh_secs = 30).await;
    let alice = idp.token("alice").await;
    assert_eq!(list_status(&app, &alice).await, 200);
    let before = idp.jwks_requests().await;
    let (_, rest) = alice.split_once('.').unwrap();
    for i in 0..50 {
        let head = json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("garbage-{i}")});
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(head.to_string()));
        let (status, body) = app.get("/v1/clearance-requests", &forged).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_token"))
        );
    }
    let fetched = idp.jwks_requests().await - before;
    println!("50 unknown kids made {fetched} key-set fetches");
    assert!(fetched <= 1, "{fetched} fetches");
    assert_eq!(list_status(&app, &alice).await, 200);
}

#[tokio::test]
async fn a_provider_down_at_start_or_later_is_reported_and_its_cached_keys_serve_until_they_expire()
{
    // A port nothing listens on yet: the provider will come up there later.
    let port = reserved_port();
    // The provider is the only source of tokens, as in production.
    let app = TestApp::spawn_with(|s| {
        s.auth.hs256_secret = None;
        s.auth.oidc = vec![issuer(&format!("http://127.0.0.1:{port}"), |i| {
            i.refresh_secs = 1;
            i.max_key_age_secs = 8;
        })];
    })
    .await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, ready) = readiness(&app).await;
    assert_eq!(
        (status, &ready["identity"][0]["state"]),
        (503, &json!("down")),
        "{ready}"
    );

    let mut idp = IdentityProvider::start_on(
        port,
        json!([client("alice", &["traveller"], Some("UNICEF"))]),
        &[],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), async || readiness(&app).await.0
            == 200)
        .await,
        "ready once the provider answers"
    );
    let used = idp.token("alice").await;
    let unused = idp.token("alice").await;
    assert_ne!(used, unused);
    assert_eq!(list_status(&app, &used).await, 200);

    idp.stop();
    // Keys already fetched still verify tokens, even one not seen before.
    assert_eq!(list_status(&app, &unused).await, 200);
    assert!(
        eventually(Duration::from_secs(6), async || {
            let (status, ready) = readiness(&app).await;
            status == 200 && ready["identity"][0]["state"] == "stale"
        })
        .await,
        "a provider that stopped answering is reported, the service stays ready"
    );
    // ...until they are older than max_key_age_secs.
    assert!(
        eventually(Duration::from_secs(15), async || list_status(&app, &used)
            .await
            == 401)
        .await,
        "keys unconfirmed past their age are no longer trusted"
    );
    let (status, ready) = readiness(&app).await;
    assert_eq!(
        (status, &ready["identity"][0]["state"]),
        (503, &json!("down")),
        "{ready}"
    );

    idp.restart().await;
    assert!(
        eventually(Duration::from_secs(10), async || list_status(&app, &used)
            .await
            == 200)
        .await,
        "the same keys are trusted again once the provider is back"
    );
    assert_eq!(readiness(&app).await.0, 200);
}
