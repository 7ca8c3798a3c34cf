//! Searching the request list: by traveller, area and travel dates, with status, within
//! what the caller may see, page by page.

use serde_json::Value;

use super::support::{Submission, TestApp, day};

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["traveller"]["id"].as_str().unwrap().to_owned()
                + ":"
                + r["legs"][0]["area"].as_str().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn the_list_filters_by_traveller_area_and_dates_within_the_callers_scope() {
    let app = TestApp::spawn().await;
    app.area("TST-A", Some("low")).await;
    app.area("TST-B", Some("low")).await;
    let desk = app.token(
        "unicef-desk",
        &[clearway::auth::Role::TravelUnit],
        Some("UNICEF"),
    );
    for (traveller, area, from) in [
        ("amina", "TST-A", 3),
        ("omar", "TST-B", 10),
        ("amina", "TST-B", 20),
    ] {
        let trip = Submission::for_traveller(traveller, "UNICEF").leg(area, from, from + 2);
        let (status, body) = app.submit(&desk, &trip).await;
        assert_eq!(status, 201, "{body}");
    }
    let list = |query: &str| {
        let desk = desk.clone();
        let app = &app;
        let query = query.to_owned();
        async move {
            app.get(&format!("/v1/clearance-requests?{query}"), &desk)
                .await
        }
    };
    let cases = [
        ("area=TST-B", vec!["amina:TST-B", "omar:TST-B"]),
        ("traveller=amina", vec!["amina:TST-B", "amina:TST-A"]),
        ("traveller=amina&area=TST-B", vec!["amina:TST-B"]),
        (
            &*format!("travel_from={}&travel_until={}", day(9), day(13)),
            vec!["omar:TST-B"],
        ),
        (
            &*format!("travel_from={}", day(6)),
            vec!["amina:TST-B", "omar:TST-B"],
        ),
        (&*format!("travel_until={}", day(4)), vec!["amina:TST-A"]),
        ("area=tst-a&status=cleared", vec!["amina:TST-A"]),
        ("area=TST-A&status=held", vec![]),
    ];
    for (query, expected) in cases {
        let (status, body) = list(query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body), expected, "{query}");
    }

    // Page by page, the filter holds across the cursor.
    let (_, first) = list("area=TST-B&limit=1").await;
    assert_eq!(ids(&first), ["amina:TST-B"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = list(&format!("area=TST-B&limit=1&cursor={cursor}")).await;
    assert_eq!(ids(&second), ["omar:TST-B"]);
    assert!(second.get("next_cursor").is_none(), "{second}");

    // Nobody finds what they may not see.
    let wfp = app.token("wfp-desk", &[clearway::auth::Role::TravelUnit], Some("WFP"));
    let (_, other) = app.get("/v1/clearance-requests?area=TST-B", &wfp).await;
    assert_eq!(ids(&other), Vec::<String>::new());
    let amina = app.traveller("amina", "UNICEF");
    let (_, own) = app
        .get("/v1/clearance-requests?traveller=omar", &amina)
        .await;
    assert_eq!(ids(&own), Vec::<String>::new());
    let (_, mine) = app.get("/v1/clearance-requests?area=TST-B", &amina).await;
    assert_eq!(ids(&mine), ["amina:TST-B"]);

    // A malformed filter names itself.
    for (query, field) in [
        ("area=no%20spaces", "area"),
        ("travel_from=tomorrow", "travel_from"),
        ("traveller=a%20b", "traveller"),
    ] {
        let (status, body) = list(query).await;
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (400, Some("invalid_query"), Some(field)),
            "{query}"
        );
    }
}
