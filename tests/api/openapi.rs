//! The API description at /openapi.json: OpenAPI 3.1, and it describes exactly the routes
//! the service answers, no more and no fewer.

use std::collections::BTreeSet;

use clearway::http::ROUTES;
use serde_json::Value;

use super::support::TestApp;

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_route_is_described_and_every_description_is_a_route() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let undescribed: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undescribed.is_empty(),
        "routes missing from the document: {undescribed:?}"
    );
    assert!(
        unserved.is_empty(),
        "described but not served: {unserved:?}"
    );

    // The table is what the server answers: no route falls through to the 404 of unknown paths.
    for (method, path) in ROUTES {
        // Without a printed clearance's real token its only answer is 404 (not_found);
        // tests/api/verification.rs reaches it with one. So for a personal check-in link
        // (tests/api/incidents.rs).
        if *path == "/verify/{token}" || *path == "/check-in/{token}" {
            continue;
        }
        let concrete = path
            .replace("{id}", "0190d6a4-0000-7000-8000-000000000000")
            .replace("{code}", "TST-NONE")
            .replace("{language}", "en");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status != 404 && status != 405,
            "{method} {concrete} is in the table but answers {status} {body}"
        );
        let op = &doc["paths"][*path][method.as_str().to_lowercase()];
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            assert_eq!(status, 401, "{method} {concrete} needs a token: {body}");
        }
    }
    println!("{} routes described and served", ROUTES.len());
}

#[tokio::test]
async fn every_operation_documents_its_success_and_its_problems() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let codes: BTreeSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success response"
            );
            assert!(responses.contains_key("500"), "{method} {path}: no 500");
            for (status, response) in responses {
                let Some(listed) = response.get("x-problem-codes") else {
                    continue;
                };
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
                for code in listed.as_array().unwrap() {
                    assert!(
                        codes.contains(code.as_str().unwrap()),
                        "{method} {path}: {code}"
                    );
                }
            }
            if matches!(method.as_str(), "post" | "patch" | "delete")
                && op["security"].as_array().is_some_and(|s| !s.is_empty())
            {
                let params = op["parameters"].as_array().unwrap();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
                    "{method} {path}: Idempotency-Key is not described"
                );
            }
        }
    }
}
