//! What the web page's map reads: where each area lies (set at creation or later, checked,
//! served from the cache like the rest of the area) and how many people are in each area on
//! a day, each person once.

use serde_json::{Value, json};

use super::support::{Submission, TestApp, day};

async fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_area_is_placed_on_the_map_when_created_or_later_and_bad_points_change_nothing() {
    let app = TestApp::spawn().await;
    let analyst = app.analyst();
    let nairobi = json!({"latitude": -1.292066, "longitude": 36.821946});
    let (status, created) = app
        .post(
            "/v1/areas",
            &analyst,
            &json!({"code": "TST-NBO", "name": "Nairobi", "country": "Kenya", "location": nairobi}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["location"], nairobi);
    let (_, read) = app.get("/v1/areas/TST-NBO", &analyst).await;
    assert_eq!(read["location"], nairobi, "{read}");

    // Created without a point, placed later; the cached area follows at once.
    app.area("TST-MOG", Some("low")).await;
    let (_, before) = app.get("/v1/areas/TST-MOG", &analyst).await;
    assert_eq!(before["location"], Value::Null);
    let mogadishu = json!({"latitude": 2.046934, "longitude": 45.318162});
    let (status, placed) = put(&app, "/v1/areas/TST-MOG/location", &analyst, &mogadishu).await;
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["location"], mogadishu);
    let (_, after) = app.get("/v1/areas/TST-MOG", &analyst).await;
    assert_eq!(after["location"], mogadishu, "the cache kept the old area");
    let (_, listed) = app.get("/v1/areas", &analyst).await;
    let listed = listed["items"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|a| a["code"] == "TST-MOG" && a["location"] == mogadishu)
    );

    // Out of range or not a number: the field is named, nothing changes.
    let snapshot = app.store_snapshot().await;
    for (body, field) in [
        (json!({"latitude": 90.5, "longitude": 0}), "/latitude"),
        (json!({"latitude": 0, "longitude": -180.01}), "/longitude"),
    ] {
        let (status, problem) = put(&app, "/v1/areas/TST-MOG/location", &analyst, &body).await;
        assert_eq!(
            (status, problem["code"].as_str(), problem["field"].as_str()),
            (422, Some("invalid_field"), Some(field)),
            "{problem}"
        );
    }
    for body in [
        json!({"latitude": "2.0", "longitude": 45}),
        json!({"latitude": 2}),
        json!({"latitude": 2, "longitude": 45, "altitude": 9}),
    ] {
        let (status, problem) = put(&app, "/v1/areas/TST-MOG/location", &analyst, &body).await;
        assert!(
            matches!(status, 400 | 422) && problem["code"].is_string(),
            "{body}: {status} {problem}"
        );
    }
    let (status, problem) = app
        .post(
            "/v1/areas",
            &analyst,
            &json!({"code": "TST-BAD", "name": "Bad", "country": "X",
                    "location": {"latitude": -91, "longitude": 0}}),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("/location/latitude"))
    );
    assert_eq!(app.store_snapshot().await, snapshot);
    let (_, unchanged) = app.get("/v1/areas/TST-MOG", &analyst).await;
    assert_eq!(unchanged["location"], mogadishu);

    let (status, problem) = put(&app, "/v1/areas/TST-NONE/location", &analyst, &mogadishu).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn headcounts_count_each_person_in_each_area_once_as_the_locator_finds_them() {
    let app = TestApp::spawn().await;
    app.area("TST-A", Some("low")).await;
    app.area("TST-B", Some("low")).await;
    app.area("TST-VH", Some("very_high")).await;
    let desk = app.token(
        "unicef-desk",
        &[clearway::auth::Role::TravelUnit],
        Some("UNICEF"),
    );
    let trips = [
        Submission::for_traveller("amina", "UNICEF").leg("TST-A", 3, 6),
        // Amina again, on a second clearance for the same days: one person.
        Submission::for_traveller("amina", "UNICEF").leg("TST-A", 4, 5),
        Submission::for_traveller("omar", "UNICEF").leg("TST-A", 2, 4),
        Submission::for_traveller("omar", "UNICEF").leg("TST-B", 5, 9),
        // Escalated, not cleared: nobody is there on its account.
        Submission::for_traveller("lina", "UNICEF")
            .pc("PC1")
            .mission_sra("MSRA-1")
            .leg("TST-VH", 3, 6),
    ];
    for trip in &trips {
        let (status, body) = app.submit(&desk, trip).await;
        assert_eq!(status, 201, "{body}");
    }
    let analyst = app.analyst();
    let counts = |on: i64| {
        let app = &app;
        let analyst = analyst.clone();
        async move {
            let (status, body) = app
                .get(&format!("/v1/headcounts?on={}", day(on)), &analyst)
                .await;
            assert_eq!(status, 200, "{body}");
            let people: Vec<(String, i64)> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h["area"].as_str().unwrap().to_owned(),
                        h["people"].as_i64().unwrap(),
                    )
                })
                .collect();
            (people, body["total"].as_i64().unwrap())
        }
    };
    let area = |people: &[(String, i64)], code: &str| {
        people.iter().find(|(c, _)| c == code).map(|(_, n)| *n)
    };
    let (on_4, total) = counts(4).await;
    assert_eq!(area(&on_4, "TST-A"), Some(2), "{on_4:?}");
    assert_eq!(area(&on_4, "TST-B"), Some(0));
    assert_eq!(
        area(&on_4, "TST-VH"),
        Some(0),
        "an escalated request counted"
    );
    assert_eq!(total, 2);
    // The locator lists every clearance (three for TST-A that day); the count is of people.
    let (_, located) = app
        .get(
            &format!("/v1/areas/TST-A/personnel?on={}", day(4)),
            &analyst,
        )
        .await;
    assert_eq!(located["count"], 3);
    let (on_5, total) = counts(5).await;
    assert_eq!(
        (area(&on_5, "TST-A"), area(&on_5, "TST-B"), total),
        (Some(1), Some(1), 2)
    );
    let (on_30, total) = counts(30).await;
    assert!(on_30.iter().all(|(_, n)| *n == 0) && total == 0);

    let (status, problem) = app.get("/v1/headcounts?on=someday", &analyst).await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (400, Some("invalid_query"), Some("on"))
    );
}
