//! E-mail (issue 29) through a real SMTP server the test starts (aiosmtpd, with STARTTLS and
//! a password), read back with a MIME parser: who got which message, in which language,
//! with which link; an outage queues the messages and they catch up.

use std::time::Duration;

use clearway::auth::Role;
use clearway::config::Settings;
use clearway::notify::mail::settings::SmtpTls;
use serde_json::{Value, json};

use super::support::{Submission, TestApp, eventually, rescreened, test_certificates};
use crate::smtp_server::{Received, SmtpOptions, SmtpServer, free_port};

const PUBLIC_URL: &str = "https://clearway.test";

/// Mail on, to the server on `port`, quick to retry, digests due at once.
pub fn mail_to(settings: &mut Settings, port: u16) {
    let mail = &mut settings.mail;
    mail.enabled = true;
    mail.smtp_host = "127.0.0.1".into();
    mail.smtp_port = port;
    mail.tls = SmtpTls::None;
    mail.from = "Clearway <clearway@clearway.test>".into();
    mail.public_url = PUBLIC_URL.into();
    mail.poll_interval_ms = 50;
    mail.backoff_base_ms = 100;
    mail.backoff_max_secs = 1;
    mail.timeout_ms = 3000;
    mail.digest_hour_utc = 0;
}

fn subject(message: &Received) -> String {
    message.parsed().subject().unwrap_or_default().to_owned()
}

fn to(message: &Received) -> String {
    message.rcpt_tos.join(",")
}

fn find<'a>(messages: &'a [Received], rcpt: &str, subject_starts: &str) -> &'a Received {
    messages
        .iter()
        .find(|m| to(m) == rcpt && subject(m).starts_with(subject_starts))
        .unwrap_or_else(|| {
            let seen: Vec<(String, String)> =
                messages.iter().map(|m| (to(m), subject(m))).collect();
            panic!("no message to {rcpt} starting {subject_starts:?}; got {seen:?}")
        })
}

async fn put_person(app: &TestApp, subject: &str, body: Value) {
    let (status, answer) = app
        .put(&format!("/v1/people/{subject}"), &app.admin(), &body)
        .await;
    assert_eq!(status, 201, "{answer}");
}

async fn decide(app: &TestApp, who: &str, roles: &[Role], id: &str) {
    let token = app.token(who, roles, None);
    let claim = format!("/v1/escalations/{id}/claim");
    let (status, body) = app.post(&claim, &token, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let decision = format!("/v1/escalations/{id}/decision");
    let (status, body) = app
        .post(
            &decision,
            &token,
            &json!({"decision": "approve", "comment": "Vu. Route OK"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn travellers_desks_and_approvers_are_written_to_in_their_language_over_starttls() {
    let certs = test_certificates();
    let server = SmtpServer::start(SmtpOptions {
        tls: Some((
            certs.path().join("server.crt"),
            certs.path().join("server.key"),
        )),
        login: Some(("clearway".into(), "relay-secret".into())),
    });
    let app = TestApp::spawn_with(|s| {
        mail_to(s, server.port);
        s.mail.tls = SmtpTls::Starttls;
        s.mail.ca_file = Some(certs.path().join("ca.crt"));
        s.mail.username = "clearway".into();
        s.mail.password = "relay-secret".to_owned().into();
    })
    .await;
    app.area("TST-VHIGH", Some("very_high")).await;
    put_person(
        &app,
        "hana",
        json!({"name": "Hana Sato", "email": "hana@undss.example",
        "language": "fr", "stages": ["hq"]}),
    )
    .await;
    put_person(
        &app,
        "dg-1",
        json!({"name": "Dara Gil", "email": "dara@dg.example",
        "language": "en", "stages": ["dg"], "notifications": "daily_digest"}),
    )
    .await;
    put_person(
        &app,
        "unicef-desk",
        json!({"name": "UNICEF travel desk",
        "email": "travel@unicef.example", "language": "en", "follows_org": "UNICEF"}),
    )
    .await;
    // Someone of another organisation's desk hears nothing of UNICEF's requests.
    put_person(
        &app,
        "wfp-desk",
        json!({"name": "WFP desk", "email": "travel@wfp.example",
        "language": "en", "follows_org": "WFP"}),
    )
    .await;

    let submission = Submission::for_traveller("alice", "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", 10, 13)
        .set("/traveller/name", json!("Alice <Martin> & co"))
        .set("/traveller/email", json!("alice@unicef.example"))
        .set("/traveller/language", json!("fr"));
    let (status, body) = app
        .submit(&app.traveller("alice", "UNICEF"), &submission)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("escalated")),
        "{body}"
    );
    assert_eq!(body["traveller"]["email"], "alice@unicef.example");
    let id = body["id"].as_str().unwrap().to_owned();
    let link = format!("{PUBLIC_URL}/#request={id}");

    let got = server.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 3, "the traveller, HQ and the desk");
    // The traveller, in French, with her request's link in both parts.
    let alice = find(
        &got,
        "alice@unicef.example",
        "En attente d'approbation : Alice <Martin> & co, TST-VHIGH",
    );
    assert!(
        alice.tls && alice.authenticated,
        "sent over STARTTLS, authenticated"
    );
    let parsed = alice.parsed();
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains("Bonjour Alice <Martin> & co,"), "{text}");
    assert!(text.contains("doit être approuvée par hq, dg"), "{text}");
    assert!(
        text.contains(&format!("Ouvrir la demande : {link}")),
        "{text}"
    );
    let html = parsed.body_html(0).unwrap();
    assert!(html.contains(&format!("<a href=\"{link}\">")), "{html}");
    assert!(
        html.contains("Alice &lt;Martin&gt; &amp; co"),
        "names are escaped: {html}"
    );
    assert!(html.contains("<html lang=\"fr\">"));
    assert_eq!(
        parsed.from().unwrap().first().unwrap().address().unwrap(),
        "clearway@clearway.test"
    );
    assert!(
        parsed
            .message_id()
            .is_some_and(|id| id.ends_with("@clearway.test"))
    );
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    // HQ's approver, in French, told of her stage's queue.
    let hana = find(
        &got,
        "hana@undss.example",
        "Approbation requise (hq) : Alice <Martin> & co",
    );
    assert!(hana.parsed().body_text(0).unwrap().contains("PC1"));
    // The desk, in English.
    find(
        &got,
        "travel@unicef.example",
        "Awaiting approval: Alice <Martin> & co, TST-VHIGH from ",
    );

    // HQ approves: the DG's approver, who takes a daily digest, gets one message listing it.
    decide(&app, "hana", &[Role::ApproverHq], &id).await;
    let got = server.wait_for(4, Duration::from_secs(20)).await;
    let digest = find(
        &got,
        "dara@dg.example",
        "Clearway: 1 request entered your queue",
    );
    let text = digest.parsed().body_text(0).unwrap().into_owned();
    assert!(
        text.contains("Approval needed (dg): Alice <Martin> & co"),
        "{text}"
    );
    assert!(text.contains(&link), "{text}");

    // The DG approves: the traveller and the desk hear of it; HQ's approval told them nothing.
    decide(&app, "dg-1", &[Role::ApproverDg], &id).await;
    let got = server.wait_for(6, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 6);
    let approved = find(&got, "alice@unicef.example", "Approuvée : ");
    let text = approved.parsed().body_text(0).unwrap().into_owned();
    assert!(text.contains("Commentaire : Vu. Route OK"), "{text}");
    find(&got, "travel@unicef.example", "Approved: ");
    assert!(!got.iter().any(|m| to(m) == "travel@wfp.example"));

    // Admins see each message and its state. The relay has the last message a moment before
    // the sender records its answer, so the list is read until that answer is in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let states = loop {
        let (status, list) = app
            .get(&format!("/v1/mail?request_id={id}"), &app.admin())
            .await;
        assert_eq!(status, 200, "{list}");
        let states: Vec<(String, String)> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["recipient"].as_str().unwrap().to_owned(),
                    m["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let settled = states.iter().all(|(_, s)| s != "pending");
        if settled || tokio::time::Instant::now() > deadline {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        states.contains(&("dara@dg.example".into(), "digested".into())),
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|(_, s)| s == "sent").count(),
        5,
        "{states:?}"
    );
}

#[tokio::test]
async fn an_smtp_outage_queues_the_messages_and_they_catch_up() {
    let port = free_port();
    let app = TestApp::spawn_with(|s| mail_to(s, port)).await;
    app.area("TST-LOW", Some("low")).await;
    let submission = Submission::for_traveller("bob", "WFP")
        .leg("TST-LOW", 3, 5)
        .set("/traveller/email", json!("bob@wfp.example"));
    let (status, body) = app.submit(&app.traveller("bob", "WFP"), &submission).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("cleared")));
    let id = body["id"].as_str().unwrap().to_owned();
    let mail = || async {
        let (_, list) = app
            .get(&format!("/v1/mail?request_id={id}"), &app.admin())
            .await;
        list["items"][0].clone()
    };
    // Nobody listens: the message waits, with the error, and is tried again.
    assert!(
        eventually(Duration::from_secs(10), async || mail().await["attempts"]
            .as_u64()
            >= Some(2))
        .await,
        "{}",
        mail().await
    );
    let waiting = mail().await;
    assert_eq!(waiting["status"], "pending");
    assert!(
        waiting["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{waiting}"
    );

    let server = SmtpServer::start_on(port, SmtpOptions::default());
    let got = server.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    find(
        &got,
        "bob@wfp.example",
        "Cleared: Traveller bob, TST-LOW from ",
    );
    assert!(
        eventually(Duration::from_secs(5), async || mail().await["status"]
            == "sent")
        .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.received().len(), 1, "sent once");
}

/// A delegate hears of the items entering the stage they stand in for (issue 29, item 4).
#[tokio::test]
async fn a_delegate_is_told_of_the_items_of_the_stage_they_stand_in_for() {
    let server = SmtpServer::start(SmtpOptions::default());
    let app = TestApp::spawn_with(|s| mail_to(s, server.port)).await;
    app.area("TST-VHIGH", Some("very_high")).await;
    put_person(
        &app,
        "deputy",
        json!({"name": "Deputy", "email": "deputy@undss.example",
        "language": "en"}),
    )
    .await;
    let hq = app.token("hq-1", &[Role::ApproverHq], None);
    let (status, body) = app
        .post(
            "/v1/delegations",
            &hq,
            &json!({"stage": "hq", "delegate": "deputy", "from": super::support::day(0),
                    "until": super::support::day(3)}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let submission = Submission::for_traveller("gus", "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", 10, 13);
    let (status, _) = app
        .submit(&app.traveller("gus", "UNICEF"), &submission)
        .await;
    assert_eq!(status, 201);
    let got = server.wait_for(1, Duration::from_secs(10)).await;
    find(
        &got,
        "deputy@undss.example",
        "Approval needed (hq): Traveller gus",
    );
}

/// A burst larger than a round's batch (a re-screening writes one notice per moved request,
/// all in one transaction) goes out in back-to-back rounds, several messages at a time, not
/// a batch per poll.
#[tokio::test]
async fn a_burst_of_messages_goes_out_without_waiting_for_the_next_poll() {
    const TRAVELLERS: usize = 25;
    let server = SmtpServer::start(SmtpOptions::default());
    let app = TestApp::spawn_with(|s| {
        mail_to(s, server.port);
        s.mail.poll_interval_ms = 4_000;
        s.mail.batch = 10;
        s.mail.connections = 4;
    })
    .await;
    let area = app.area("TST-RISE", Some("low")).await;
    for n in 0..TRAVELLERS {
        let traveller = format!("t-{n}");
        let submission = Submission::for_traveller(&traveller, "WFP")
            .leg("TST-RISE", 3, 5)
            .set(
                "/traveller/email",
                json!(format!("{traveller}@wfp.example")),
            );
        let (status, body) = app
            .submit(&app.traveller(&traveller, "WFP"), &submission)
            .await;
        assert_eq!((status, body["status"].as_str()), (201, Some("cleared")));
    }
    // Each is told of their clearance, at whatever pace.
    let cleared = server.wait_for(TRAVELLERS, Duration::from_secs(30)).await;
    assert_eq!(cleared.len(), TRAVELLERS);

    // One job moves them all, writing their notices together.
    let change = area.publish(2, "very_high", -1, 90, false, &[]).await;
    assert_eq!(rescreened(&app, &change).await, TRAVELLERS as i64);
    let first = server
        .wait_for(TRAVELLERS + 1, Duration::from_secs(15))
        .await;
    assert!(first.len() > TRAVELLERS, "nothing was sent of the moves");
    // A batch a poll would take two more polls (8 s) for the rest.
    let all = server
        .wait_for(2 * TRAVELLERS, Duration::from_secs(3))
        .await;
    let mut moved: Vec<String> = all[TRAVELLERS.min(all.len())..].iter().map(to).collect();
    moved.sort();
    moved.dedup();
    assert_eq!(
        (all.len(), moved.len()),
        (2 * TRAVELLERS, TRAVELLERS),
        "each traveller told of the move once, in one go"
    );
}
