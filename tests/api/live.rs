//! Travellers' live status (issue 29, item 5): a server-sent-events stream of the caller's
//! own requests' changes, scoped as listing is, ending with its token.

use std::time::Duration;

use clearway::auth::Role;
use serde_json::{Value, json};

use super::support::{Submission, TestApp};

/// An open stream and what it has said so far.
pub struct Follower {
    response: reqwest::Response,
    pub seen: String,
}

impl Follower {
    pub async fn open(client: &reqwest::Client, base: &str, token: &str) -> Follower {
        let response = client
            .get(format!("{base}/v1/clearance-requests/stream"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut follower = Follower {
            response,
            seen: String::new(),
        };
        // The greeting: the subscription exists from here on.
        follower
            .until(|seen| seen.contains("\n\n"), Duration::from_secs(5))
            .await;
        follower
    }

    /// Reads until `done` holds or `within` passes; whether it held.
    pub async fn until(&mut self, done: impl Fn(&str) -> bool, within: Duration) -> bool {
        let read = async {
            while !done(&self.seen) {
                match self.response.chunk().await {
                    Ok(Some(chunk)) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => return,
                }
            }
        };
        let _ = tokio::time::timeout(within, read).await;
        done(&self.seen)
    }

    /// The `changed` events' data so far.
    pub fn changes(&self) -> Vec<Value> {
        self.seen
            .split("\n\n")
            .filter_map(|frame| {
                let data = frame.strip_prefix("event: changed\ndata: ")?;
                serde_json::from_str(data).ok()
            })
            .collect()
    }
}

#[tokio::test]
async fn travellers_and_travel_units_follow_their_own_requests_live() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    app.area("TST-VHIGH", Some("very_high")).await;
    let alice = app.traveller("alice", "UNICEF");
    let mut hers = Follower::open(&app.client, &app.address, &alice).await;
    let desk = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let mut unicef = Follower::open(&app.client, &app.address, &desk).await;
    let wfp_desk = app.token("wfp-desk", &[Role::TravelUnit], Some("WFP"));
    let mut wfp = Follower::open(&app.client, &app.address, &wfp_desk).await;

    // Bob (UNICEF too) submits; then Alice, whose request HQ then rejects.
    let bob_trip = Submission::for_traveller("bob", "UNICEF").leg("TST-LOW", 3, 5);
    let (_, bob) = app.submit(&app.traveller("bob", "UNICEF"), &bob_trip).await;
    let trip = Submission::for_traveller("alice", "UNICEF")
        .pc("PC1")
        .mission_sra("MSRA-2026-114")
        .leg("TST-VHIGH", 8, 10);
    let (status, body) = app.submit(&alice, &trip).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("escalated")));
    let id = body["id"].as_str().unwrap().to_owned();
    let hq = app.token("hq-1", &[Role::ApproverHq], None);
    app.post(&format!("/v1/escalations/{id}/claim"), &hq, &json!({}))
        .await;
    let (status, _) = app
        .post(
            &format!("/v1/escalations/{id}/decision"),
            &hq,
            &json!({"decision": "reject", "comment": "Not now"}),
        )
        .await;
    assert_eq!(status, 200);

    assert!(
        hers.until(|s| s.contains("\"rejected\""), Duration::from_secs(5))
            .await,
        "{}",
        hers.seen
    );
    let statuses: Vec<(String, String)> = hers
        .changes()
        .iter()
        .map(|c| {
            (
                c["request_id"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Her own request only, as it was submitted and as it was decided (a claim is no change
    // of status, but it is a change: the version moves).
    assert!(statuses.iter().all(|(r, _)| *r == id), "{statuses:?}");
    assert_eq!(statuses.first().map(|s| s.1.as_str()), Some("escalated"));
    assert_eq!(statuses.last().map(|s| s.1.as_str()), Some("rejected"));
    // The organisation's desk hears of both; another organisation's of neither.
    assert!(
        unicef
            .until(|s| s.contains("\"rejected\""), Duration::from_secs(5))
            .await
    );
    assert!(
        unicef
            .changes()
            .iter()
            .any(|c| c["request_id"] == bob["id"])
    );
    assert!(
        !wfp.until(|s| s.contains("event: changed"), Duration::from_millis(500))
            .await,
        "{}",
        wfp.seen
    );

    // Mail is off here (the default): the changes wrote no e-mail notice.
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM mail_notices", &[])
            .await,
        0
    );

    // Those who list no requests cannot follow them.
    let (status, body) = app.get("/v1/clearance-requests/stream", &hq).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
}
