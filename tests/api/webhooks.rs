//! Travel units' webhooks: signed, durable, retried, in order per request, never in the way.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use clearway::auth::Role;
use clearway::domain::webhook::verify_signature;
use serde_json::{Value, json};

use super::support::{Submission, TestApp, eventually, rescreened};

const SECRET: &str = "unicef-webhook-secret-0123456789";

#[derive(Clone, Debug)]
pub struct Received {
    status: u16,
    event: String,
    timestamp: i64,
    signature: String,
    delivery: String,
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature` (Standard Webhooks).
    standard: [String; 3],
    body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A travel unit's endpoint: records every call; fails the first `failures`, then answers
/// 204 (after `delay`).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    calls: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(failures: usize, delay: Duration) -> Receiver {
        Self::start_on("127.0.0.1", failures, delay)
    }

    /// A receiver on another loopback address (Linux answers all of 127/8).
    pub fn start_on(address: &str, failures: usize, delay: Duration) -> Receiver {
        let calls: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind((address, 0)).unwrap();
        let url = format!("http://{}/hooks/clearway", listener.local_addr().unwrap());
        let record = calls.clone();
        let server = HttpServer::new(move || {
            let record = record.clone();
            let seen = seen.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let record = record.clone();
                let seen = seen.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    let status = if seen.fetch_add(1, Ordering::SeqCst) < failures {
                        500
                    } else {
                        204
                    };
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    record.lock().unwrap().push(Received {
                        status,
                        event: header("clearway-event"),
                        timestamp: header("clearway-timestamp").parse().unwrap_or_default(),
                        signature: header("clearway-signature"),
                        delivery: header("clearway-delivery"),
                        standard: [
                            header("webhook-id"),
                            header("webhook-timestamp"),
                            header("webhook-signature"),
                        ],
                        body: body.to_vec(),
                    });
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver { url, calls }
    }

    fn calls(&self) -> Vec<Received> {
        self.calls.lock().unwrap().clone()
    }

    pub fn delivered(&self) -> Vec<Received> {
        self.calls()
            .into_iter()
            .filter(|c| c.status == 204)
            .collect()
    }
}

/// `npm ci` once per test process in tests/webhooks; parallel tests wait for the first.
fn install_receiver_library() -> std::path::PathBuf {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks");
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if !*installed && !dir.join("node_modules/standardwebhooks").is_dir() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js) runs: the webhook tests verify with a Node.js library");
        assert!(status.success(), "npm ci in tests/webhooks failed");
    }
    *installed = true;
    dir
}

/// What the receiver's Standard Webhooks library (`standardwebhooks` on npm) says of a
/// delivery, given the secret it was configured with.
fn verified_by_the_library(secret: &str, call: &Received, body: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = install_receiver_library();
    let [id, timestamp, signature] = &call.standard;
    let input = json!({
        "secret": secret,
        "headers": {"webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature},
        "body": String::from_utf8_lossy(body),
    });
    let mut child = std::process::Command::new("node")
        .arg(dir.join("verify.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(())
    } else {
        Err(said)
    }
}

fn fast_webhooks(s: &mut clearway::config::Settings) {
    s.webhooks.poll_interval_ms = 50;
    s.webhooks.backoff_base_ms = 100;
    s.webhooks.timeout_ms = 2000;
}

async fn register(app: &TestApp, url: &str, events: Value) -> String {
    register_for(app, "UNICEF", url, events).await
}

async fn register_for(app: &TestApp, org: &str, url: &str, events: Value) -> String {
    let unit = app.token(&format!("{org}-desk"), &[Role::TravelUnit], Some(org));
    let (status, body) = app
        .post(
            "/v1/webhooks",
            &unit,
            &json!({"url": url, "events": events, "secret": SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("secret").is_none(), "the secret is never echoed");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_travel_unit_receives_each_status_change_signed_and_in_order() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let app = TestApp::spawn_with(fast_webhooks).await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let hook = register(&app, &receiver.url, json!(["*"])).await;
    let alice = app.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF")
        .pc("PC1")
        .mission_sra("M-1")
        .leg("TST-VHIGH", 5, 8);
    let (_, body) = app.submit(&alice, &trip).await;
    let id = body["id"].as_str().unwrap().to_owned();
    for (who, role) in [("hq-1", Role::ApproverHq), ("dg-1", Role::ApproverDg)] {
        let token = app.token(who, &[role], None);
        let (status, _) = app
            .post(&format!("/v1/escalations/{id}/claim"), &token, &json!({}))
            .await;
        assert_eq!(status, 200);
        let (status, _) = app
            .post(
                &format!("/v1/escalations/{id}/decision"),
                &token,
                &json!({"decision": "approve", "comment": "Security plan adequate"}),
            )
            .await;
        assert_eq!(status, 200);
    }
    // Another organisation's request is none of UNICEF's business.
    let bob = app.traveller("bob", "WFP");
    app.submit(
        &bob,
        &Submission::for_traveller("bob", "WFP")
            .pc("PC1")
            .mission_sra("M-2")
            .leg("TST-VHIGH", 5, 8),
    )
    .await;

    assert!(
        eventually(Duration::from_secs(10), async || receiver.delivered().len()
            >= 3)
        .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered = receiver.delivered();
    assert_eq!(delivered.len(), 3, "exactly UNICEF's three changes");
    let now = chrono::Utc::now().timestamp();
    // A secret given without `whsec_` is the key itself: its Standard Webhooks form.
    let standard_secret = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SECRET)
    );
    for call in &delivered {
        assert_eq!(
            call.standard[0], call.delivery,
            "one id in both header sets"
        );
        verified_by_the_library(&standard_secret, call, &call.body)
            .unwrap_or_else(|why| panic!("{}: {why}", call.event));
        let mut tampered = call.body.clone();
        tampered[0] = b' ';
        assert!(verified_by_the_library(&standard_secret, call, &tampered).is_err());
        assert!(
            verify_signature(
                SECRET,
                &call.signature,
                call.timestamp,
                &call.body,
                now,
                300
            ),
            "bad signature on {}",
            call.event
        );
        assert!(!verify_signature(
            "not-the-secret-0123456789",
            &call.signature,
            call.timestamp,
            &call.body,
            now,
            300
        ));
    }
    let seen: Vec<(String, String, Value)> = delivered
        .iter()
        .map(|c| {
            let json = c.json();
            (
                c.event.clone(),
                json["request"]["status"].as_str().unwrap().to_owned(),
                json["request"]["stage"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("request.submitted".into(), "escalated".into(), json!("hq")),
            ("request.approved".into(), "escalated".into(), json!("dg")),
            ("request.approved".into(), "approved".into(), json!(null)),
        ]
    );
    assert_eq!(delivered[2].json()["comment"], "Security plan adequate");
    assert!(
        delivered
            .iter()
            .all(|c| c.json()["request"]["id"] == id.as_str())
    );
    // Deliveries are named by random ids (issue 25), the same in the header and the list.
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let (_, list) = app
        .get(&format!("/v1/webhooks/{hook}/deliveries"), &unit)
        .await;
    let mut listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let mut sent: Vec<&str> = delivered.iter().map(|c| c.delivery.as_str()).collect();
    listed.sort();
    sent.sort();
    assert_eq!(listed, sent);
    for id in sent {
        let id = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(id.get_version(), Some(uuid::Version::Random), "{id}");
    }
}

/// A re-screening batch writes its events together: each organisation's webhook hears of
/// its own moved requests, once each, and a webhook that did not subscribe hears nothing.
#[tokio::test]
async fn a_re_screening_batch_tells_each_organisation_of_its_own_moves() {
    let unicef = Receiver::start(0, Duration::ZERO);
    let wfp = Receiver::start(0, Duration::ZERO);
    let unsubscribed = Receiver::start(0, Duration::ZERO);
    let app = TestApp::spawn_with(fast_webhooks).await;
    let area = app.area("TST-RISE", Some("low")).await;
    let mut submitted: Vec<(&str, String)> = Vec::new();
    for (n, org) in ["UNICEF", "WFP", "UNICEF", "WFP", "UNICEF"]
        .into_iter()
        .enumerate()
    {
        let traveller = format!("t-{n}");
        let token = app.traveller(&traveller, org);
        let (status, body) = app
            .submit(
                &token,
                &Submission::for_traveller(&traveller, org).leg("TST-RISE", 5, 8),
            )
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (201, Some("cleared")),
            "{body}"
        );
        submitted.push((org, body["id"].as_str().unwrap().to_owned()));
    }
    register_for(&app, "UNICEF", &unicef.url, json!(["request.rescreened"])).await;
    register_for(&app, "WFP", &wfp.url, json!(["*"])).await;
    register_for(
        &app,
        "UNICEF",
        &unsubscribed.url,
        json!(["request.submitted"]),
    )
    .await;

    let change = area.publish(2, "very_high", -1, 90, false, &[]).await;
    assert_eq!(rescreened(&app, &change).await, 5);
    for (receiver, org) in [(&unicef, "UNICEF"), (&wfp, "WFP")] {
        let mut expected: Vec<&str> = submitted
            .iter()
            .filter(|(o, _)| *o == org)
            .map(|(_, id)| id.as_str())
            .collect();
        assert!(
            eventually(Duration::from_secs(10), async || receiver.delivered().len()
                >= expected.len())
            .await,
            "{org}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let delivered = receiver.delivered();
        assert!(delivered.iter().all(|c| c.event == "request.rescreened"));
        let mut heard: Vec<String> = delivered
            .iter()
            .map(|c| c.json()["request"]["id"].as_str().unwrap().to_owned())
            .collect();
        heard.sort();
        expected.sort();
        assert_eq!(heard, expected, "{org} hears of its own moves, once each");
    }
    assert!(unsubscribed.calls().is_empty());
}

#[tokio::test]
async fn a_failing_receiver_gets_every_event_in_order_after_retries() {
    let receiver = Receiver::start(2, Duration::ZERO);
    let app = TestApp::spawn_with(fast_webhooks).await;
    app.area("TST-NOSRA", None).await;
    let hook = register(
        &app,
        &receiver.url,
        json!(["request.submitted", "request.withdrawn"]),
    )
    .await;
    let alice = app.traveller("alice", "UNICEF");
    let (_, held) = app
        .submit(
            &alice,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-NOSRA", 3, 4),
        )
        .await;
    let id = held["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/v1/clearance-requests/{id}/withdraw"),
            &alice,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);

    assert!(
        eventually(Duration::from_secs(10), async || receiver.delivered().len()
            >= 2)
        .await
    );
    let calls: Vec<(u16, String)> = receiver
        .calls()
        .iter()
        .map(|c| (c.status, c.event.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (500, "request.submitted".into()),
            (500, "request.submitted".into()),
            (204, "request.submitted".into()),
            (204, "request.withdrawn".into()),
        ],
        "the withdrawal waits for the submission to get through"
    );

    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    // The receiver has the call before the deliverer records its answer: wait for the record.
    let mut items = Vec::new();
    let recorded = eventually(Duration::from_secs(5), async || {
        let (status, deliveries) = app
            .get(&format!("/v1/webhooks/{hook}/deliveries"), &unit)
            .await;
        assert_eq!(status, 200);
        items = deliveries["items"].as_array().unwrap().clone();
        items.iter().all(|d| d["status"] != "pending")
    })
    .await;
    assert!(recorded, "both deliveries were recorded: {items:?}");
    let attempts: Vec<(String, usize)> = items
        .iter()
        .map(|d| {
            (
                d["event"].as_str().unwrap().to_owned(),
                d["attempts"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            ("request.withdrawn".into(), 1),
            ("request.submitted".into(), 3)
        ]
    );
    assert_eq!(items[1]["attempts"][0]["status_code"], 500);
    assert_eq!(items[1]["status"], "delivered");

    let other = app.token("wfp-desk", &[Role::TravelUnit], Some("WFP"));
    let (status, _) = app
        .get(&format!("/v1/webhooks/{hook}/deliveries"), &other)
        .await;
    assert_eq!(
        status, 404,
        "another organisation's webhook does not exist for it"
    );
}

#[tokio::test]
async fn a_slow_receiver_never_holds_up_decisions() {
    let receiver = Receiver::start(0, Duration::from_secs(10));
    let app = TestApp::spawn_with(|s| {
        fast_webhooks(s);
        s.webhooks.timeout_ms = 300;
    })
    .await;
    app.area("TST-LOW", Some("low")).await;
    let hook = register(&app, &receiver.url, json!(["*"])).await;
    let alice = app.traveller("alice", "UNICEF");
    let started = Instant::now();
    for day in 1..=5 {
        let (status, _) = app
            .submit(
                &alice,
                &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", day, day),
            )
            .await;
        assert_eq!(status, 201);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "decisions waited on the webhook: {:?}",
        started.elapsed()
    );
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let timed_out = eventually(Duration::from_secs(10), async || {
        let (_, body) = app
            .get(&format!("/v1/webhooks/{hook}/deliveries"), &unit)
            .await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["attempts"][0]["error"] == "timed out")
    })
    .await;
    assert!(
        timed_out,
        "the slow receiver's attempts are recorded as timed out"
    );
}

#[tokio::test]
async fn events_written_while_no_deliverer_runs_are_delivered_after_a_restart() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let first = TestApp::spawn_with(|s| s.webhooks.deliver = false).await;
    first.area("TST-LOW", Some("low")).await;
    register(&first, &receiver.url, json!(["*"])).await;
    let alice = first.traveller("alice", "UNICEF");
    let (_, body) = first
        .submit(
            &alice,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 2, 3),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.calls().is_empty());

    let url = first.settings.database.url.clone();
    let _second = TestApp::spawn_with(|s| {
        fast_webhooks(s);
        s.database.url = url;
    })
    .await;
    assert!(
        eventually(Duration::from_secs(10), async || receiver.delivered().len()
            == 1)
        .await
    );
    assert_eq!(receiver.delivered()[0].json()["request"]["id"], body["id"]);
}

#[tokio::test]
async fn only_a_travel_unit_registers_webhooks_and_bad_ones_are_refused() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .post(
            "/v1/webhooks",
            &app.traveller("alice", "UNICEF"),
            &json!({"url": "https://x.org/h", "events": ["*"], "secret": SECRET}),
        )
        .await;
    assert_eq!(status, 403);
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    for (body, field) in [
        (
            json!({"url": "not a url", "events": ["*"], "secret": SECRET}),
            "/url",
        ),
        (
            json!({"url": "https://x.org/h", "events": ["request.exploded"], "secret": SECRET}),
            "/events/0",
        ),
        (
            json!({"url": "https://x.org/h", "events": ["*"], "secret": "short"}),
            "/secret",
        ),
        (
            json!({"url": "https://x.org/h", "events": ["*"], "secret": "whsec_c2hvcnQ="}),
            "/secret",
        ),
        (
            json!({"url": "https://x.org/h", "secret": SECRET}),
            "/events",
        ),
    ] {
        let (status, problem) = app.post("/v1/webhooks", &unit, &body).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some(field)),
            "{problem}"
        );
    }
    let (_, list) = app.get("/v1/webhooks", &unit).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn webhooks_may_not_target_the_services_own_network() {
    let app = TestApp::spawn_with(|s| s.webhooks.allowed_targets.clear()).await;
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    for url in [
        "http://127.0.0.1:6379/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://192.168.1.1/",
        "https://172.16.0.1/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://0.0.0.0/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://[::ffff:169.254.169.254]/",
        "https://localhost/hooks",
        "https://no-such-host.invalid/hooks",
    ] {
        let (status, problem) = app
            .post(
                "/v1/webhooks",
                &unit,
                &json!({"url": url, "events": ["*"], "secret": SECRET}),
            )
            .await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (422, Some("webhook_target_forbidden"), Some("/url")),
            "{url}: {problem}"
        );
    }
    let (status, problem) = app
        .post(
            "/v1/webhooks",
            &unit,
            &json!({"url": "https://hooks.example.org/a\r\nX-Injected: 1", "events": ["*"], "secret": SECRET}),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("/url")),
        "{problem}"
    );
    let (_, list) = app.get("/v1/webhooks", &unit).await;
    assert_eq!(list["items"], json!([]), "nothing was registered");
}

#[tokio::test]
async fn a_webhook_whose_target_turned_internal_is_not_delivered_to() {
    let app = TestApp::spawn_with(fast_webhooks).await;
    app.area("TST-LOW", Some("low")).await;
    let allowed = Receiver::start(0, Duration::ZERO);
    let inside = Receiver::start_on("127.0.0.2", 0, Duration::ZERO);
    let id = register(&app, &allowed.url, json!(["*"])).await;
    // As if the record predated the rule, or its address had changed since registration.
    let moved = app
        .db
        .execute("UPDATE webhooks SET url = $1", &[&inside.url])
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 2, 4);
    let (status, _) = app.submit(&app.traveller("alice", "UNICEF"), &trip).await;
    assert_eq!(status, 201);
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let attempted = eventually(Duration::from_secs(5), async || {
        let (_, deliveries) = app
            .get(&format!("/v1/webhooks/{id}/deliveries"), &unit)
            .await;
        deliveries["items"][0]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    assert!(attempted, "the deliverer tried");
    let (_, deliveries) = app
        .get(&format!("/v1/webhooks/{id}/deliveries"), &unit)
        .await;
    assert_eq!(
        deliveries["items"][0]["attempts"][0]["error"], "could not deliver",
        "{deliveries}"
    );
    // Nor does the time it took tell a refused port from a filtered one.
    assert_eq!(
        deliveries["items"][0]["attempts"][0]["duration_ms"],
        Value::Null,
        "{deliveries}"
    );
    assert!(
        inside.calls().is_empty(),
        "nothing reached the internal address"
    );
    assert!(allowed.calls().is_empty());
}

/// A travel unit that names no secret gets one made for it, once, in the Standard Webhooks
/// form, and verifies every delivery with that specification's library alone.
#[tokio::test]
async fn a_made_secret_is_shown_once_and_verifies_with_the_standard_library() {
    let receiver = Receiver::start(0, Duration::ZERO);
    let app = TestApp::spawn_with(fast_webhooks).await;
    app.area("TST-LOW", Some("low")).await;
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let (status, body) = app
        .post(
            "/v1/webhooks",
            &unit,
            &json!({"url": receiver.url, "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"].as_str().expect("the made secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, listed) = app.get("/v1/webhooks", &unit).await;
    assert!(
        listed["items"][0].get("secret").is_none(),
        "shown once only"
    );
    let alice = app.traveller("alice", "UNICEF");
    app.submit(
        &alice,
        &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 5, 8),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), async || !receiver
            .delivered()
            .is_empty())
        .await
    );
    let call = &receiver.delivered()[0];
    verified_by_the_library(&secret, call, &call.body).unwrap();
    let other = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    assert!(verified_by_the_library(other, call, &call.body).is_err());
    // A whsec_ secret that is not base64, or too short a key, is refused.
    for bad in ["whsec_not base64!", "whsec_c2hvcnQ="] {
        let (status, body) = app
            .post(
                "/v1/webhooks",
                &unit,
                &json!({"url": receiver.url, "events": ["*"], "secret": bad}),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("/secret")),
            "{bad}"
        );
    }
}
