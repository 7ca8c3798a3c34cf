//! Property tests through the real service: arbitrary JSON values, arbitrary bytes, and valid
//! bodies with one member replaced by anything, sent to every route that takes a body, and
//! arbitrary query strings sent to every GET route. Whatever arrives, the answer is never a
//! 5xx, and a refused request leaves every table as it was.
//!
//! `FUZZ_CASES` sets the number of cases per property (default 500).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use clearway::auth::Role;
use clearway::http::ROUTES;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

use std::time::Duration;

use super::support::{Submission, TestApp, day, eventually};

/// Member names the bodies use, so generated objects reach past "unknown field".
const NAMES: &[&str] = &[
    "traveller",
    "id",
    "name",
    "org",
    "purpose",
    "programme_criticality",
    "legs",
    "area",
    "arrival",
    "departure",
    "mission_sra_reference",
    "bsafe_valid_until",
    "ssafe_valid_until",
    "decision",
    "comment",
    "stage",
    "url",
    "events",
    "secret",
    "code",
    "country",
    "reason",
    "since",
    "version",
    "effective_from",
    "review_due",
    "security_level",
    "residual_risk",
    "threats",
    "likelihood",
    "impact",
    "by",
    "on",
    "endorsement",
    "approval",
    "location",
    "latitude",
    "longitude",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "(20[0-9]{2}-[01][0-9]-[0-3][0-9])".prop_map(Value::from),
        "(PC[0-9]|low|high|very_high|approve|reject|return|hq|dg|relocation)".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            proptest::sample::select(NAMES).prop_map(str::to_owned),
            ".{0,12}"
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every JSON pointer of a value, so a mutation can land anywhere in a valid body.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                let path = format!("{at}/{name}");
                out.push(path.clone());
                pointers(member, path, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{at}/{i}");
                out.push(path.clone());
                pointers(item, path, out);
            }
        }
        _ => {}
    }
}

struct Target {
    app: TestApp,
    token: String,
    ids: Vec<(&'static str, String)>,
    /// A valid body per route path, to mutate.
    bodies: Vec<(&'static str, Value)>,
}

impl Target {
    fn path(&self, template: &str) -> String {
        for (placeholder, id) in &self.ids {
            let (prefix, _) = placeholder.split_once('{').unwrap_or_default();
            if template.starts_with(prefix) {
                return template.replace("{id}", id).replace("{code}", id);
            }
        }
        template.to_owned()
    }

    fn valid_body(&self, template: &str) -> Value {
        self.bodies
            .iter()
            .find(|(path, _)| *path == template)
            .map_or_else(|| json!({}), |(_, body)| body.clone())
    }

    /// Sends one case; fails on a 5xx, or on a refusal that changed the store.
    async fn send(
        &self,
        method: &str,
        template: &str,
        query: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<u16, String> {
        let before = self.app.store_snapshot().await;
        let verb = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut request = self
            .app
            .client
            .request(verb, self.app.url(&self.path(template)))
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let answer = response.text().await.unwrap_or_default();
        if status >= 500 {
            return Err(format!("{method} {template} answered {status}: {answer}"));
        }
        // An accepted change may start a re-screening; let it finish before the next case.
        let started: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        if let Some(job) = started["rescreening"]["id"].as_str() {
            let path = format!("/v1/rescreening/{job}");
            let done = eventually(Duration::from_secs(10), async || {
                self.app.get(&path, &self.app.analyst()).await.1["status"] == "done"
            })
            .await;
            if !done {
                return Err(format!("re-screening {job} did not finish"));
            }
        }
        if status >= 400 && self.app.store_snapshot().await != before {
            return Err(format!(
                "{method} {template} refused with {status} but changed the store"
            ));
        }
        Ok(status)
    }
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn setup(rt: &Runtime) -> Arc<Target> {
    rt.block_on(async {
        // Nothing changes the tables behind the cases' backs: no webhook deliverer.
        let app = TestApp::spawn_with(|s| s.webhooks.deliver = false).await;
        app.area("TST-LOW", Some("low")).await;
        app.area("TST-VHIGH", Some("very_high")).await;
        app.area("TST-SRA", None).await;
        // One caller with every role: the cases reach past authorization into parsing.
        let token = app.token("fuzzer", &Role::ALL, Some("UNICEF"));
        let trip = Submission::for_traveller("fuzzer", "UNICEF")
            .leg("TST-LOW", 3, 6)
            .json;
        let escalated = Submission::for_traveller("alice", "UNICEF")
            .pc("PC1")
            .mission_sra("MSRA-1")
            .leg("TST-VHIGH", 3, 6);
        let (_, request) = app
            .submit(&app.traveller("alice", "UNICEF"), &escalated)
            .await;
        let sra = json!({"area": "TST-SRA", "version": 1, "effective_from": day(1),
                         "review_due": day(300), "security_level": 2, "residual_risk": "low"});
        let (_, draft) = app.post("/v1/sras/drafts", &app.analyst(), &sra).await;
        let hook = json!({"url": "https://hooks.example.org/x", "events": ["request.submitted"],
                          "secret": "sixteen-bytes-at-least"});
        let (_, webhook) = app.post("/v1/webhooks", &token, &hook).await;
        let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
        let ids = vec![
            ("/v1/clearance-requests/{id}", id(&request)),
            ("/v1/escalations/{id}", id(&request)),
            ("/v1/sras/{id}", id(&draft)),
            ("/v1/webhooks/{id}", id(&webhook)),
            ("/v1/rescreening/{id}", id(&draft)),
            ("/v1/areas/{code}", "TST-LOW".to_owned()),
        ];
        let signoff = json!({"by": "A. Official", "on": day(0)});
        let bodies = vec![
            ("/v1/clearance-requests", trip.clone()),
            ("/v1/clearance-requests/{id}", trip),
            (
                "/v1/clearance-requests/{id}/withdraw",
                json!({"comment": "No longer needed"}),
            ),
            (
                "/v1/escalations/{id}/decision",
                json!({"decision": "approve", "comment": "ok", "stage": "hq"}),
            ),
            ("/v1/webhooks", hook),
            (
                "/v1/areas",
                json!({"code": "TST-F1", "name": "Fuzz", "country": "X"}),
            ),
            (
                "/v1/areas/{code}/suspension",
                json!({"reason": "relocation", "since": day(0)}),
            ),
            (
                "/v1/areas/{code}/location",
                json!({"latitude": -1.2921, "longitude": 36.8219}),
            ),
            ("/v1/sras", sra.clone()),
            ("/v1/sras/drafts", sra),
            ("/v1/sras/{id}/endorsement", signoff.clone()),
            ("/v1/sras/{id}/approval", signoff),
        ];
        Arc::new(Target {
            app,
            token,
            ids,
            bodies,
        })
    })
}

fn with_body() -> Vec<(&'static str, &'static str)> {
    ROUTES
        .iter()
        .filter(|(method, _)| matches!(*method, "post" | "patch" | "put"))
        .copied()
        .collect()
}

fn run(
    rt: &Runtime,
    name: &str,
    strategy: impl Strategy<Value = (usize, Vec<u8>)>,
    target: &Target,
    routes: &[(&'static str, &'static str)],
) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = RefCell::new(BTreeMap::<u16, u32>::new());
    let result = runner.run(&strategy, |(route, body)| {
        let (method, path) = routes[route % routes.len()];
        let status = rt
            .block_on(target.send(method, path, &[], Some(body)))
            .map_err(TestCaseError::fail)?;
        *statuses.borrow_mut().entry(status).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    println!(
        "{name}: {} cases, answers by status {:?}",
        cases(),
        statuses.borrow()
    );
}

#[test]
fn arbitrary_json_bytes_and_mutated_bodies_never_get_a_5xx_or_change_anything_when_refused() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let target = setup(&rt);
    let routes = with_body();

    let json_bodies = (any::<usize>(), json_value())
        .prop_map(|(route, value)| (route, serde_json::to_vec(&value).unwrap()));
    run(&rt, "arbitrary JSON", json_bodies, &target, &routes);

    let bytes = (any::<usize>(), prop::collection::vec(any::<u8>(), 0..512))
        .prop_map(|(route, bytes)| (route, bytes));
    run(&rt, "arbitrary bytes", bytes, &target, &routes);

    // A valid body with one member (anywhere in it) replaced by an arbitrary value, or removed.
    let templates: Vec<Value> = routes
        .iter()
        .map(|(_, path)| target.valid_body(path))
        .collect();
    let mutated = (any::<usize>(), any::<usize>(), json_value(), any::<bool>()).prop_map(
        move |(route, at, replacement, remove)| {
            let mut body = templates[route % templates.len()].clone();
            let mut all = Vec::new();
            pointers(&body, String::new(), &mut all);
            if !all.is_empty() {
                let pointer = &all[at % all.len()];
                let (parent, member) = pointer.rsplit_once('/').unwrap();
                let parent = if parent.is_empty() {
                    Some(&mut body)
                } else {
                    body.pointer_mut(parent)
                };
                match parent {
                    Some(Value::Object(members)) if remove => {
                        members.remove(member);
                    }
                    Some(parent) => {
                        if let Some(slot) = parent.pointer_mut(&format!("/{member}")) {
                            *slot = replacement;
                        }
                    }
                    None => {}
                }
            }
            (route, serde_json::to_vec(&body).unwrap())
        },
    );
    run(&rt, "mutated valid bodies", mutated, &target, &routes);
}

#[test]
fn arbitrary_query_strings_never_get_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let target = setup(&rt);
    let routes: Vec<_> = ROUTES
        .iter()
        .filter(|(method, path)| *method == "get" && !path.ends_with("/stream"))
        .copied()
        .collect();
    let names: Vec<&'static str> = vec![
        "status",
        "cursor",
        "limit",
        "stage",
        "area",
        "on",
        "access_token",
        "x",
    ];
    let strategy = (
        any::<usize>(),
        prop::collection::vec(
            (
                proptest::sample::select(names).prop_map(str::to_owned),
                ".{0,30}",
            ),
            0..4,
        ),
    );
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = RefCell::new(BTreeMap::<u16, u32>::new());
    runner
        .run(&strategy, |(route, query)| {
            let (method, path) = routes[route % routes.len()];
            let status = rt
                .block_on(target.send(method, path, &query, None))
                .map_err(TestCaseError::fail)?;
            *statuses.borrow_mut().entry(status).or_default() += 1;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("query strings: {e}"));
    println!(
        "arbitrary query strings: {} cases, answers by status {:?}",
        cases(),
        statuses.borrow()
    );
}
