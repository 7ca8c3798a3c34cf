//! Several instances on one PostgreSQL database and one Redis, as behind a load balancer:
//! submissions, claims, decisions, re-screening and webhook deliveries spread across them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use clearway::auth::Role;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::support::{Submission, TestApp, day, eventually};
use super::webhooks::Receiver;

const SUBMITTERS: usize = 6;
const EACH: usize = 30;

/// Submits `EACH` requests, spread over the instances; returns (id, status) of those acknowledged.
async fn submit_many(app: &TestApp, bases: &[String], n: usize) -> Vec<(String, String)> {
    let mut acknowledged = Vec::new();
    for i in 0..EACH {
        let traveller = format!("traveller-{n}-{}", i % 3);
        let token = app.traveller(&traveller, "UNICEF");
        // One in four goes to the Very High area and so into the escalation queue.
        let submission = if i % 4 == 0 {
            Submission::for_traveller(&traveller, "UNICEF")
                .pc("PC1")
                .mission_sra("MSRA-2026-114")
                .leg("TST-VHIGH", 5 + (i % 20) as i64, 8 + (i % 20) as i64)
        } else {
            Submission::for_traveller(&traveller, "UNICEF").leg("TST-LOW", 3, 6)
        };
        let base = &bases[(n + i) % bases.len()];
        let (status, body) = app
            .post_at(base, "/v1/clearance-requests", &token, &submission.json)
            .await;
        assert_eq!(status, 201, "{body}");
        acknowledged.push((
            body["id"].as_str().unwrap().to_owned(),
            body["status"].as_str().unwrap().to_owned(),
        ));
    }
    acknowledged
}

/// An approver at `stage` working the queue from every instance in turn until `stop` and the
/// queue is empty; returns how many items this approver decided.
async fn work_queue(
    app: &TestApp,
    bases: &[String],
    who: &str,
    stage: &str,
    role: Role,
    stop: Arc<Mutex<bool>>,
) -> usize {
    let token = app.token(who, &[role], None);
    let mut decided = 0;
    for round in 0.. {
        let base = &bases[round % bases.len()];
        let (status, body) = app
            .get_at(
                base,
                &format!("/v1/escalations?stage={stage}&limit=20"),
                &token,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().unwrap().clone();
        if items.is_empty() {
            if *stop.lock().await {
                return decided;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for (i, item) in items.iter().enumerate() {
            let id = item["request"]["id"].as_str().unwrap();
            // Claim on one instance, decide on the next: the claim must hold across them.
            let claim_at = &bases[(round + i) % bases.len()];
            let decide_at = &bases[(round + i + 1) % bases.len()];
            let (status, _) = app
                .post_at(
                    claim_at,
                    &format!("/v1/escalations/{id}/claim"),
                    &token,
                    &json!({}),
                )
                .await;
            if status != 200 {
                // Another desk got there first: it holds the item (409), or already decided
                // it, so that it has moved on to a stage this desk does not decide (403).
                assert!(status == 409 || status == 403, "claim: {status}");
                continue;
            }
            let (status, body) = app
                .post_at(
                    decide_at,
                    &format!("/v1/escalations/{id}/decision"),
                    &token,
                    &json!({"decision": "approve", "comment": format!("{who} approves")}),
                )
                .await;
            assert_eq!(status, 200, "{who} decides {id}: {body}");
            decided += 1;
        }
    }
    decided
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_lose_nothing_and_do_nothing_twice() {
    let app = TestApp::spawn_with(|s| {
        s.webhooks.poll_interval_ms = 20;
        s.webhooks.backoff_base_ms = 100;
    })
    .await;
    let bases = vec![
        app.address.clone(),
        app.another_instance().await,
        app.another_instance().await,
    ];
    app.area("TST-LOW", Some("low")).await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let receiver = Receiver::start(0, Duration::ZERO);
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let (status, body) = app
        .post(
            "/v1/webhooks",
            &unit,
            &json!({"url": receiver.url, "events": ["*"], "secret": "unicef-webhook-secret-0123456789"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let stop = Arc::new(Mutex::new(false));
    let desks: Vec<_> = [
        ("hq-1", "hq"),
        ("hq-2", "hq"),
        ("dg-1", "dg"),
        ("dg-2", "dg"),
    ]
    .into_iter()
    .map(|(who, stage)| {
        let (app, bases, stop) = (&app, &bases, stop.clone());
        let role = if stage == "hq" {
            Role::ApproverHq
        } else {
            Role::ApproverDg
        };
        async move { (stage, work_queue(app, bases, who, stage, role, stop).await) }
    })
    .collect();
    let submitters =
        futures_util::future::join_all((0..SUBMITTERS).map(|n| submit_many(&app, &bases, n)));
    // Halfway, an analyst publishes a new SRA for the low area: a re-screen over requests
    // that are still arriving, worked by whichever instance leases it.
    let analyst = app.analyst();
    let publish = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = app
            .post_at(
                &bases[2],
                "/v1/sras",
                &analyst,
                &json!({
                    "area": "TST-LOW", "version": 2, "effective_from": day(0), "review_due": day(200),
                    "security_level": 2, "residual_risk": "low", "threats": [],
                    "mandatory_measures": ["Security briefing"], "requires_ssafe": false,
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["rescreening"]["id"].as_str().unwrap().to_owned()
    };
    let work = async {
        let (acknowledged, job) = tokio::join!(submitters, publish);
        *stop.lock().await = true;
        (acknowledged.concat(), job)
    };
    let ((acknowledged, job), decided) = tokio::join!(work, futures_util::future::join_all(desks));

    // Every acknowledged request exists exactly once.
    assert_eq!(acknowledged.len(), SUBMITTERS * EACH);
    let stored = app
        .db
        .scalar("SELECT COUNT(*) FROM clearance_requests", &[])
        .await;
    assert_eq!(stored as usize, acknowledged.len());
    let distinct: BTreeSet<&str> = acknowledged.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(distinct.len(), acknowledged.len());

    // Every escalation was decided exactly once at each stage, by one of the desks.
    let escalated: Vec<&str> = acknowledged
        .iter()
        .filter(|(_, status)| status == "escalated")
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(escalated.len(), SUBMITTERS * EACH.div_ceil(4));
    let mut per_stage: BTreeMap<&str, usize> = BTreeMap::new();
    for (stage, n) in &decided {
        *per_stage.entry(stage).or_default() += n;
    }
    assert_eq!(per_stage["hq"], escalated.len());
    assert_eq!(per_stage["dg"], escalated.len());
    for id in &escalated {
        for stage in ["hq", "dg"] {
            let decisions = app
                .db
                .scalar(
                    "SELECT COUNT(*) FROM audit_log WHERE CAST(request_id AS TEXT) = $1 AND stage = $2 AND action = 'approved'",
                    &[id, stage],
                )
                .await;
            assert_eq!(decisions, 1, "{id} at {stage}");
        }
    }
    let approved = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM clearance_requests WHERE status = 'approved'",
            &[],
        )
        .await;
    assert_eq!(approved as usize, escalated.len());

    // The re-screen ran once to the end, wherever it ran.
    let path = format!("/v1/rescreening/{job}");
    let done = eventually(Duration::from_secs(10), async || {
        app.get(&path, &analyst).await.1["status"] == "done"
    })
    .await;
    assert!(done, "the re-screen finished");

    // Every event reached the receiver; any event received twice was the same bytes.
    let events = app.db.scalar("SELECT COUNT(*) FROM outbox", &[]).await;
    assert!(events as usize >= acknowledged.len() + 2 * escalated.len());
    let arrived = eventually(Duration::from_secs(20), async || {
        let ids: BTreeSet<String> = receiver
            .delivered()
            .iter()
            .map(|r| r.json()["event_id"].as_str().unwrap().to_owned())
            .collect();
        ids.len() as i64 == events
    })
    .await;
    assert!(arrived, "every event was delivered");
    let mut bodies: BTreeMap<String, Value> = BTreeMap::new();
    for received in receiver.delivered() {
        let body = received.json();
        let id = body["event_id"].as_str().unwrap().to_owned();
        if let Some(earlier) = bodies.insert(id, body.clone()) {
            assert_eq!(earlier, body, "an event delivered twice changed");
        }
    }

    // A client retrying one submission on every instance at once creates it once.
    let alice = app.traveller("alice", "UNICEF");
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 3, 6);
    let retries = futures_util::future::join_all((0..9).map(|i| {
        app.client
            .post(format!("{}/v1/clearance-requests", bases[i % bases.len()]))
            .bearer_auth(&alice)
            .header("Idempotency-Key", "alice-trip-1")
            .json(&trip.json)
            .send()
    }))
    .await;
    let mut ids = BTreeSet::new();
    for response in retries {
        let response = response.unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one request, whichever instance answered");
    let stored = app
        .db
        .scalar("SELECT COUNT(*) FROM clearance_requests", &[])
        .await;
    assert_eq!(stored as usize, acknowledged.len() + 1);

    // And the audit chain of every request verifies.
    let store = clearway::store::connect(&app.settings.database)
        .await
        .unwrap();
    let report = store.verify_audit().await.unwrap();
    assert_eq!(report.first_broken, None);
    assert_eq!(report.requests as usize, acknowledged.len() + 1);
    store.close().await;
}

/// Both instances plan and send e-mail from the one database: each message goes once.
#[tokio::test]
async fn two_instances_send_each_message_once() {
    use crate::smtp_server::{SmtpOptions, SmtpServer};
    const N: usize = 40;
    let server = SmtpServer::start(SmtpOptions::default());
    let app = TestApp::spawn_with(|s| {
        super::mail::mail_to(s, server.port);
        // Small batches, polled often: both instances compete for every notice and message.
        s.mail.batch = 3;
        s.mail.poll_interval_ms = 10;
    })
    .await;
    let other = app.another_instance().await;
    app.area("TST-LOW", Some("low")).await;
    let bases = [app.address.clone(), other];
    for i in 0..N {
        let traveller = format!("t-{i}");
        let submission = Submission::for_traveller(&traveller, "UNICEF")
            .leg("TST-LOW", 3, 5)
            .set(
                "/traveller/email",
                json!(format!("{traveller}@unicef.example")),
            );
        let (status, body) = app
            .post_at(
                &bases[i % 2],
                "/v1/clearance-requests",
                &app.traveller(&traveller, "UNICEF"),
                &submission.json,
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    server.wait_for(N, Duration::from_secs(30)).await;
    // Time for a second sending, were there one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = server.received();
    let recipients: BTreeSet<String> = got.iter().map(|m| m.rcpt_tos.join(",")).collect();
    let ids: BTreeSet<String> = got
        .iter()
        .map(|m| m.parsed().message_id().unwrap().to_owned())
        .collect();
    assert_eq!(got.len(), N, "each message once");
    assert_eq!((recipients.len(), ids.len()), (N, N));
}

/// A traveller following her requests on one instance hears of changes made on another.
#[tokio::test]
async fn a_change_on_one_instance_reaches_a_stream_on_another() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    app.area("TST-LOW", Some("low")).await;
    let alice = app.traveller("alice", "UNICEF");
    let mut follower = super::live::Follower::open(&app.client, &app.address, &alice).await;
    let trip = Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 3, 5);
    let (status, body) = app
        .post_at(&other, "/v1/clearance-requests", &alice, &trip.json)
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(
        follower
            .until(|seen| seen.contains(&id), Duration::from_secs(5))
            .await,
        "{}",
        follower.seen
    );
    // Once: the instance that made the change does not hear its own relay again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    follower.until(|_| false, Duration::from_millis(200)).await;
    assert_eq!(follower.changes().len(), 1, "{}", follower.seen);
}
