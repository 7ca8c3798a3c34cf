//! Nobody sees another traveller's data: travellers their own, travel units their
//! organisation's, admins everything; someone else's id is a 404.

use std::collections::HashSet;

use clearway::auth::Role;
use serde_json::Value;

use super::support::{Submission, TestApp};

async fn submit_as(app: &TestApp, traveller: &str, org: &str) -> String {
    let token = app.traveller(traveller, org);
    let (status, body) = app
        .submit(
            &token,
            &Submission::for_traveller(traveller, org).leg("TST-LOW", 1, 2),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> HashSet<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_traveller_cannot_read_another_travellers_request() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let alices = submit_as(&app, "alice", "UNICEF").await;
    let bobs = submit_as(&app, "bob", "UNICEF").await;
    let alice = app.traveller("alice", "UNICEF");

    let (status, _) = app
        .get(&format!("/v1/clearance-requests/{alices}"), &alice)
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .get(&format!("/v1/clearance-requests/{bobs}"), &alice)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "another's id looks like no id"
    );
    let (status, _) = app.get("/v1/clearance-requests/not-a-uuid", &alice).await;
    assert_eq!(status, 404);

    let (_, page) = app.get("/v1/clearance-requests", &alice).await;
    assert_eq!(ids(&page), HashSet::from([alices]));
}

#[tokio::test]
async fn a_travel_unit_sees_only_its_organisations_requests_and_an_admin_sees_all() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let unicef = [
        submit_as(&app, "alice", "UNICEF").await,
        submit_as(&app, "bob", "UNICEF").await,
    ];
    let wfp = submit_as(&app, "carl", "WFP").await;
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));

    let (_, page) = app.get("/v1/clearance-requests", &unit).await;
    assert_eq!(ids(&page), HashSet::from(unicef.clone()));
    let (status, _) = app
        .get(&format!("/v1/clearance-requests/{wfp}"), &unit)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get(&format!("/v1/clearance-requests/{}", unicef[1]), &unit)
        .await;
    assert_eq!(status, 200);

    let (_, page) = app.get("/v1/clearance-requests", &app.admin()).await;
    assert_eq!(ids(&page).len(), 3);

    for (token, code) in [
        (app.analyst(), "forbidden"),
        (
            app.token("unit-without-org", &[Role::TravelUnit], None),
            "token_org_required",
        ),
    ] {
        let (status, body) = app
            .get(&format!("/v1/clearance-requests/{wfp}"), &token)
            .await;
        assert_eq!((status, body["code"].as_str()), (403, Some(code)));
        let (status, body) = app.get("/v1/clearance-requests", &token).await;
        assert_eq!((status, body["code"].as_str()), (403, Some(code)));
    }
}

#[tokio::test]
async fn lists_are_paginated_newest_first_and_filter_by_status() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    app.area("TST-NOSRA", None).await;
    let alice = app.traveller("alice", "UNICEF");
    let mut submitted = Vec::new();
    for i in 0..5 {
        let area = if i % 2 == 0 { "TST-LOW" } else { "TST-NOSRA" };
        let (_, body) = app
            .submit(
                &alice,
                &Submission::for_traveller("alice", "UNICEF").leg(area, 1, 2),
            )
            .await;
        submitted.push(body["id"].as_str().unwrap().to_owned());
    }
    // The next page's URL is also an RFC 8288 Link, the query kept, the cursor set.
    let first = app
        .client
        .get(app.url("/v1/clearance-requests?limit=2&status=cleared"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    let page: Value = first.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_eq!(
        link,
        format!("</v1/clearance-requests?limit=2&status=cleared&cursor={cursor}>; rel=\"next\"")
    );
    // Five requests in pages of five: one full page, and no cursor to an empty one.
    let (_, whole) = app.get("/v1/clearance-requests?limit=5", &alice).await;
    assert_eq!(whole["items"].as_array().unwrap().len(), 5);
    assert!(whole.get("next_cursor").is_none(), "{whole}");
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut path = "/v1/clearance-requests?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path, &alice).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/clearance-requests?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    submitted.reverse();
    assert_eq!(seen, submitted);
    assert_eq!(pages, 3, "2 + 2 + 1");

    let (_, held) = app.get("/v1/clearance-requests?status=held", &alice).await;
    assert_eq!(held["items"].as_array().unwrap().len(), 2);
    assert!(
        held["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "held")
    );

    for bad in [
        "status=pending",
        "limit=0",
        "limit=1000",
        "cursor=%%%",
        "stauts=held",
    ] {
        let (status, body) = app
            .get(&format!("/v1/clearance-requests?{bad}"), &alice)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_query")),
            "{bad}: {body}"
        );
    }
}

/// A traveller id is unique only within its organisation: WFP's alice and UNICEF's alice
/// are two people, and neither sees, lists or withdraws the other's requests.
#[tokio::test]
async fn a_traveller_is_their_organisation_and_their_id_together() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let wfp_unit = app.token("wfp-desk", &[Role::TravelUnit], Some("WFP"));
    let (status, body) = app
        .submit(
            &wfp_unit,
            &Submission::for_traveller("alice", "WFP").leg("TST-LOW", 1, 2),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let wfps = body["id"].as_str().unwrap().to_owned();
    let unicefs = submit_as(&app, "alice", "UNICEF").await;

    let unicef_alice = app.traveller("alice", "UNICEF");
    let (_, page) = app.get("/v1/clearance-requests", &unicef_alice).await;
    assert_eq!(ids(&page), HashSet::from([unicefs.clone()]));
    for path in [
        format!("/v1/clearance-requests/{wfps}"),
        format!("/v1/clearance-requests/{wfps}/audit"),
    ] {
        let (status, _) = app.get(&path, &unicef_alice).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = app
        .post(
            &format!("/v1/clearance-requests/{wfps}/withdraw"),
            &unicef_alice,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 404);

    let wfp_alice = app.traveller("alice", "WFP");
    let (_, page) = app.get("/v1/clearance-requests", &wfp_alice).await;
    assert_eq!(ids(&page), HashSet::from([wfps.clone()]));
    let (_, request) = app
        .get(&format!("/v1/clearance-requests/{wfps}"), &wfp_alice)
        .await;
    assert_eq!(
        request["status"], "cleared",
        "the withdrawal changed nothing"
    );
}

/// A traveller token must say which organisation it acts in: without one it submits and
/// reads nothing, and nothing it sent shows in any organisation's list.
#[tokio::test]
async fn a_traveller_token_without_an_organisation_submits_nothing() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    let before = app.stored_rows().await;
    let no_org = app.token("alice", &[Role::Traveller], None);
    let (status, body) = app
        .submit(
            &no_org,
            &Submission::for_traveller("alice", "UNICEF").leg("TST-LOW", 1, 2),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("token_org_required")),
        "{body}"
    );
    assert_eq!(app.stored_rows().await, before);
    let unit = app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF"));
    let (_, page) = app.get("/v1/clearance-requests", &unit).await;
    assert!(ids(&page).is_empty());
}
