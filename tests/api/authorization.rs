//! The authorization matrix: every route of the service's own route table, called by every
//! kind of caller, on every kind of resource it may or may not own. A route added to the
//! table without a rule here fails the test, so no route can be forgotten.
//!
//! Each cell gets fresh resources where the call changes them, so the order of the cells
//! does not matter and a refused call is also checked to have changed nothing.

use clearway::auth::Role;
use clearway::http::ROUTES;
use serde_json::{Value, json};

use std::time::Duration;

use super::support::{Submission, TestApp, day, eventually};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Traveller,
    UnitSameOrg,
    UnitOtherOrg,
    Analyst,
    ApproverHq,
    ApproverDg,
    Admin,
    Aviation,
    Anonymous,
}

const EVERYONE: [Who; 9] = [
    Who::Traveller,
    Who::UnitSameOrg,
    Who::UnitOtherOrg,
    Who::Analyst,
    Who::ApproverHq,
    Who::ApproverDg,
    Who::Admin,
    Who::Aviation,
    Who::Anonymous,
];

/// Whose resource a cell works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Routes without a resource id, or resources nobody owns (areas, SRAs).
    Shared,
    /// The traveller's own request, escalated to HQ.
    OwnEscalated,
    /// The traveller's own request, cleared at once (never in the approval chain).
    OwnCleared,
    /// Another organisation's traveller's request, escalated.
    OtherEscalated,
    /// A webhook of the traveller's organisation, and one of the other organisation.
    OwnOrgWebhook,
    OtherOrgWebhook,
    /// A team the traveller leads (with a colleague of her organisation), escalated to HQ.
    OwnTeam,
    /// Another organisation's team, submitted by its travel unit, escalated.
    OtherTeam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past authentication and authorization (the answer may still be a 409 or 422 of state).
    Allow,
    /// 403 `forbidden`.
    Deny,
    /// 404: the resource exists but is not this caller's to know of.
    Hidden,
    /// 401: no token.
    Unauthenticated,
}

use Expect::{Allow, Deny, Hidden};

fn cases(path: &str) -> &'static [Case] {
    if path.starts_with("/v1/clearance-requests/{id}") {
        &[Case::OwnEscalated, Case::OwnCleared, Case::OtherEscalated]
    } else if path.starts_with("/v1/escalations/{id}") {
        &[Case::OwnEscalated, Case::OwnCleared]
    } else if path.starts_with("/v1/webhooks/{id}") {
        &[Case::OwnOrgWebhook, Case::OtherOrgWebhook]
    } else if path.starts_with("/v1/teams/{id}") {
        &[Case::OwnTeam, Case::OtherTeam]
    } else {
        &[Case::Shared]
    }
}

/// The policy, written out: who may call what, on whose resource.
fn rule(method: &str, path: &str, who: Who, case: Case) -> Option<Expect> {
    use Who::*;
    // Public, and a token this service did not sign (the template's own) names nothing.
    if path == "/verify/{token}" || path == "/check-in/{token}" {
        return Some(Hidden);
    }
    if who == Anonymous {
        let public = matches!(
            path,
            "/healthz"
                | "/readyz"
                | "/openapi.json"
                | "/"
                | "/app.js"
                | "/app.css"
                | "/i18n/{language}"
                | "/map/world.svg"
                | "/dev/token"
        );
        return Some(if public {
            Allow
        } else {
            Expect::Unauthenticated
        });
    }
    let only = |allowed: &[Who]| if allowed.contains(&who) { Allow } else { Deny };
    let approver = matches!(who, ApproverHq | ApproverDg);
    Some(match (method, path) {
        (
            "get",
            "/healthz" | "/readyz" | "/openapi.json" | "/" | "/app.js" | "/app.css"
            | "/i18n/{language}" | "/map/world.svg",
        ) => Allow,
        // The test service runs in development, where the page may mint tokens.
        ("post", "/dev/token") => Allow,
        ("get", "/metrics") => only(&[Admin]),
        ("post", "/v1/clearance-requests") => only(&[Traveller, UnitSameOrg]),
        ("get", "/v1/clearance-requests") => only(&[Traveller, UnitSameOrg, UnitOtherOrg, Admin]),
        ("get", "/v1/clearance-requests/stream") => {
            only(&[Traveller, UnitSameOrg, UnitOtherOrg, Admin])
        }
        // Reading one request: its traveller, their organisation's travel unit, an admin, and
        // the approvers of the stage it waits at (HQ here; DG approvers took no part in
        // it). Others who read requests are told it does not exist; roles that read no
        // requests at all are refused.
        ("get", "/v1/clearance-requests/{id}" | "/v1/clearance-requests/{id}/audit") => {
            match (who, case) {
                (Admin, _) => Allow,
                (Analyst | Aviation, _) => Deny,
                (ApproverHq, Case::OwnEscalated | Case::OtherEscalated) => Allow,
                (_, _) if approver => Hidden,
                (Traveller | UnitSameOrg, Case::OwnEscalated | Case::OwnCleared) => Allow,
                (UnitOtherOrg, Case::OtherEscalated) => Allow,
                (Traveller | UnitSameOrg | UnitOtherOrg, _) => Hidden,
                _ => return None,
            }
        }
        // Changing one: its traveller or their organisation's travel unit only.
        ("patch", "/v1/clearance-requests/{id}")
        | ("post", "/v1/clearance-requests/{id}/withdraw") => {
            match (who, case) {
                (Traveller | UnitSameOrg, Case::OwnEscalated | Case::OwnCleared) => Allow,
                (UnitOtherOrg, Case::OtherEscalated) => Allow,
                (Traveller | UnitSameOrg | UnitOtherOrg, _) => Hidden,
                // Approvers may read a request at their stage, not change it.
                (ApproverHq, Case::OwnEscalated | Case::OtherEscalated) => Deny,
                (ApproverHq | ApproverDg, _) => Hidden,
                (Admin | Analyst | Aviation, _) => Deny,
                _ => return None,
            }
        }
        // Acknowledging a briefing: the traveller's own word; whoever else may read the
        // request is refused, whoever may not is told it does not exist.
        ("post", "/v1/clearance-requests/{id}/acknowledgement") => match (who, case) {
            (Traveller, Case::OwnEscalated | Case::OwnCleared) => Allow,
            (UnitSameOrg, Case::OwnEscalated | Case::OwnCleared) => Deny,
            (UnitOtherOrg, Case::OtherEscalated) => Deny,
            (Traveller | UnitSameOrg | UnitOtherOrg, _) => Hidden,
            (ApproverHq, Case::OwnEscalated | Case::OtherEscalated) => Deny,
            (ApproverHq | ApproverDg, _) => Hidden,
            (Admin | Analyst | Aviation, _) => Deny,
            _ => return None,
        },
        // A team: a travel unit for its organisation's travellers, a traveller for one they
        // travel in.
        ("post", "/v1/teams") => only(&[Traveller, UnitSameOrg]),
        // Reading a team: the members the caller may read; a team with none is not theirs to
        // know of. HQ's approvers read the members waiting at their stage.
        ("get", "/v1/teams/{id}") => match (who, case) {
            (Admin | ApproverHq, _) => Allow,
            (Traveller | UnitSameOrg, Case::OwnTeam) | (UnitOtherOrg, Case::OtherTeam) => Allow,
            (Traveller | UnitSameOrg | UnitOtherOrg | ApproverDg, _) => Hidden,
            (Analyst | Aviation, _) => Deny,
            _ => return None,
        },
        // Changing a team: the traveller who leads it, or its organisation's travel unit.
        ("patch", "/v1/teams/{id}") | ("post", "/v1/teams/{id}/withdraw") => match (who, case) {
            (Traveller | UnitSameOrg, Case::OwnTeam) | (UnitOtherOrg, Case::OtherTeam) => Allow,
            (Traveller | UnitSameOrg | UnitOtherOrg | ApproverDg, _) => Hidden,
            (Admin | ApproverHq | Analyst | Aviation, _) => Deny,
            _ => return None,
        },
        // Deciding a team: the approvers of the stage its members wait at (HQ); to other
        // approvers it is not there.
        ("post", "/v1/teams/{id}/decision") => match who {
            ApproverHq => Allow,
            ApproverDg => Hidden,
            _ => Deny,
        },
        ("get", "/v1/escalations") => only(&[ApproverHq, Admin]), // the `hq` stage
        // `?stage=hq`: DG approvers watch their own stage only.
        ("get", "/v1/escalations/stream") => only(&[ApproverHq, Admin]),
        // The HQ stage is worked by HQ approvers; a request outside the chain is nobody's item.
        (
            "post",
            "/v1/escalations/{id}/claim"
            | "/v1/escalations/{id}/release"
            | "/v1/escalations/{id}/decision",
        ) => match (who, case) {
            (ApproverHq, Case::OwnEscalated) => Allow,
            // Approvers see only what reached the chain; anything else does not exist.
            (ApproverHq | ApproverDg, Case::OwnCleared) => Hidden,
            _ => Deny,
        },
        ("post" | "get", "/v1/webhooks") => only(&[UnitSameOrg, UnitOtherOrg]),
        ("delete", "/v1/webhooks/{id}") | ("get", "/v1/webhooks/{id}/deliveries") => {
            match (who, case) {
                (UnitSameOrg, Case::OwnOrgWebhook) | (UnitOtherOrg, Case::OtherOrgWebhook) => Allow,
                (UnitSameOrg | UnitOtherOrg, _) => Hidden,
                _ => Deny,
            }
        }
        ("post", "/v1/areas") => only(&[Analyst, Admin]),
        ("get", "/v1/areas" | "/v1/areas/{code}") => Allow,
        ("post" | "delete", "/v1/areas/{code}/suspension") => only(&[Analyst]),
        ("get", "/v1/areas/{code}/personnel" | "/v1/headcounts") => only(&[Analyst, Admin]),
        ("put", "/v1/areas/{code}/location") => only(&[Analyst, Admin]),
        ("post", "/v1/sras" | "/v1/sras/drafts") => only(&[Analyst]),
        (
            "post",
            "/v1/sras/{id}/endorsement"
            | "/v1/sras/{id}/approval"
            | "/v1/sras/{id}/publish"
            | "/v1/sras/{id}/withdraw",
        ) => only(&[Analyst]),
        ("get", "/v1/sras" | "/v1/sras/{id}") => only(&[Analyst, ApproverHq, ApproverDg, Admin]),
        ("get", "/v1/rescreening/{id}" | "/v1/rescreening") => only(&[Analyst, Admin, Aviation]),
        ("get", "/v1/air-operators" | "/v1/air-operators/{designator}") => Allow,
        ("put", "/v1/air-operators/{designator}") => only(&[Aviation]),
        ("get", "/v1/people" | "/v1/mail") => only(&[Admin]),
        // An `hq` delegation: HQ's approvers give their own; an admin names the delegator.
        ("post", "/v1/delegations") => only(&[ApproverHq]),
        ("get", "/v1/delegations") => Allow,
        // One hq-1 gave: theirs or an admin's to end, nobody else's to know of.
        ("delete", "/v1/delegations/{id}") => match who {
            ApproverHq | Admin => Allow,
            _ => Hidden,
        },
        ("put" | "delete", "/v1/people/{subject}") => only(&[Admin]),
        // The entry is HQ approver `hq-1`'s: theirs to read and set, nobody else's to know of.
        ("get", "/v1/people/{subject}") | ("put", "/v1/people/{subject}/preferences") => {
            match who {
                Admin | ApproverHq => Allow,
                _ => Hidden,
            }
        }
        ("post", "/v1/incidents" | "/v1/incidents/{id}/close") => only(&[Analyst]),
        ("get", "/v1/incidents" | "/v1/incidents/{id}" | "/v1/incidents/{id}/people") => {
            only(&[UnitSameOrg, UnitOtherOrg, Analyst, Admin])
        }
        ("get", "/v1/incidents/{id}/timeline") => only(&[Analyst, Admin]),
        // The entry is UNICEF traveller alice's: hers, her unit's or an analyst's to answer;
        // nobody else's to know of.
        ("post", "/v1/incidents/{id}/people/{entry}/answer") => match who {
            Traveller | UnitSameOrg | Analyst => Allow,
            _ => Hidden,
        },
        ("get", "/v1/check-ins") => only(&[Traveller]),
        _ => return None,
    })
}

struct Matrix {
    app: TestApp,
    next: u32,
    rescreening: String,
}

impl Matrix {
    fn token(&self, who: Who) -> Option<String> {
        let app = &self.app;
        Some(match who {
            Who::Traveller => app.traveller("alice", "UNICEF"),
            Who::UnitSameOrg => app.token("unicef-desk", &[Role::TravelUnit], Some("UNICEF")),
            Who::UnitOtherOrg => app.token("wfp-desk", &[Role::TravelUnit], Some("WFP")),
            Who::Analyst => app.analyst(),
            Who::ApproverHq => app.token("hq-1", &[Role::ApproverHq], None),
            Who::ApproverDg => app.token("dg-1", &[Role::ApproverDg], None),
            Who::Admin => app.admin(),
            Who::Aviation => app.token("armo-1", &[Role::AviationRisk], None),
            Who::Anonymous => return None,
        })
    }

    fn trip(traveller: &str, org: &str, escalated: bool) -> Submission {
        let trip = Submission::for_traveller(traveller, org);
        if escalated {
            trip.pc("PC1")
                .mission_sra("MSRA-2026-114")
                .leg("TST-VHIGH", 5, 8)
        } else {
            trip.leg("TST-LOW", 5, 8)
        }
    }

    async fn request(&self, traveller: &str, org: &str, escalated: bool) -> String {
        let token = self.app.traveller(traveller, org);
        let (status, body) = self
            .app
            .submit(&token, &Self::trip(traveller, org, escalated))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A team of `first` and a colleague of `org`, escalated, submitted by `who`.
    async fn team(&self, who: Who, org: &str, first: &str) -> String {
        let body = Self::team_body(org, first, true);
        let (status, body) = self
            .app
            .post("/v1/teams", &self.token(who).unwrap(), &body)
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    fn team_body(org: &str, first: &str, escalated: bool) -> Value {
        let trip = Self::trip(first, org, escalated).json;
        let colleague = json!({"id": format!("{first}-colleague"), "name": "Colleague", "org": org,
                               "bsafe_valid_until": day(700), "ssafe_valid_until": day(700)});
        json!({"travellers": [trip["traveller"], colleague], "purpose": trip["purpose"],
               "programme_criticality": trip["programme_criticality"],
               "mission_sra_reference": trip["mission_sra_reference"], "legs": trip["legs"]})
    }

    async fn webhook(&self, who: Who) -> String {
        let (status, body) = self
            .app
            .post(
                "/v1/webhooks",
                &self.token(who).unwrap(),
                &self.webhook_body(),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    fn webhook_body(&self) -> Value {
        json!({"url": "https://hooks.example.org/clearway", "events": ["request.submitted"],
               "secret": "a-secret-of-sixteen-bytes-or-more"})
    }

    async fn draft(&mut self) -> String {
        self.next += 1;
        let (status, body) = self
            .app
            .post("/v1/sras/drafts", &self.app.analyst(), &self.sra_body())
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    fn delegation_body() -> Value {
        json!({"stage": "hq", "delegate": "deputy", "from": day(0), "until": day(2)})
    }

    fn incident_body(area: &str) -> Value {
        json!({"areas": [area], "started_at": chrono::Utc::now().to_rfc3339(),
               "description": "Clashes"})
    }

    /// Waits for every re-screening job to finish, so that none changes the store while a
    /// cell is checked.
    async fn settle(&self) {
        let analyst = self.app.analyst();
        let done = eventually(Duration::from_secs(10), async || {
            let (_, jobs) = self.app.get("/v1/rescreening", &analyst).await;
            jobs["items"]
                .as_array()
                .is_some_and(|jobs| jobs.iter().all(|j| j["status"] == "done"))
        })
        .await;
        assert!(done, "re-screening did not finish");
    }

    fn operator_body() -> Value {
        json!({"name": "Kenya Airways", "assessment": "assessed", "from": day(0)})
    }

    fn person_body() -> Value {
        json!({"name": "H. Q. Approver", "email": "hq-1@undss.example", "language": "en",
               "stages": ["hq"]})
    }

    fn sra_body(&self) -> Value {
        json!({"area": "TST-SRA", "version": self.next, "effective_from": day(self.next as i64),
               "review_due": day(self.next as i64 + 400), "security_level": 2, "residual_risk": "low"})
    }

    /// The concrete path and body for one cell, with fresh resources where it needs them.
    async fn prepare(&mut self, method: &str, path: &str, case: Case) -> (String, Option<Value>) {
        let mut entry = None;
        let id = match case {
            Case::OwnEscalated => Some(self.request("alice", "UNICEF", true).await),
            Case::OwnCleared => Some(self.request("alice", "UNICEF", false).await),
            Case::OtherEscalated => Some(self.request("bob", "WFP", true).await),
            Case::OwnOrgWebhook => Some(self.webhook(Who::UnitSameOrg).await),
            Case::OwnTeam => Some(self.team(Who::Traveller, "UNICEF", "alice").await),
            Case::OtherTeam => Some(self.team(Who::UnitOtherOrg, "WFP", "bob").await),
            Case::OtherOrgWebhook => Some(self.webhook(Who::UnitOtherOrg).await),
            Case::Shared if path.starts_with("/v1/sras/{id}") => Some(self.draft().await),
            Case::Shared if path.starts_with("/v1/rescreening/") => Some(self.rescreening.clone()),
            Case::Shared if path.starts_with("/v1/delegations/{id}") => {
                let hq = self.app.token("hq-1", &[Role::ApproverHq], None);
                let (status, body) = self
                    .app
                    .post("/v1/delegations", &hq, &Self::delegation_body())
                    .await;
                assert_eq!(status, 201, "{body}");
                Some(body["id"].as_str().unwrap().to_owned())
            }
            Case::Shared if path.starts_with("/v1/incidents/{id}") => {
                // A fresh area with alice in it, so that each incident finds her.
                let area = format!("TST-I{}", self.next);
                self.next += 1;
                self.app.area(&area, Some("low")).await;
                let trip = Submission::for_traveller("alice", "UNICEF").leg(&area, 0, 3);
                let (status, body) = self
                    .app
                    .submit(&self.app.traveller("alice", "UNICEF"), &trip)
                    .await;
                assert_eq!(status, 201, "{body}");
                let (status, body) = self
                    .app
                    .post(
                        "/v1/incidents",
                        &self.app.analyst(),
                        &Self::incident_body(&area),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                let id = body["incident"]["id"].as_str().unwrap().to_owned();
                let (_, roll) = self
                    .app
                    .get(&format!("/v1/incidents/{id}/people"), &self.app.analyst())
                    .await;
                entry = roll["items"][0]["id"].as_str().map(str::to_owned);
                self.settle().await;
                Some(id)
            }
            Case::Shared if path.starts_with("/v1/people/{subject}") => {
                let (status, body) = self
                    .app
                    .put("/v1/people/hq-1", &self.app.admin(), &Self::person_body())
                    .await;
                assert!(matches!(status, 200 | 201), "{body}");
                None
            }
            Case::Shared if path.starts_with("/v1/air-operators/{designator}") => {
                let aviation = self.token(Who::Aviation).unwrap();
                let (status, body) = self
                    .app
                    .put("/v1/air-operators/KQA", &aviation, &Self::operator_body())
                    .await;
                assert!(matches!(status, 200 | 201), "{body}");
                self.settle().await;
                None
            }
            Case::Shared => None,
        };
        let concrete = path
            .replace("{id}", id.as_deref().unwrap_or(""))
            .replace("{code}", "TST-LOW")
            .replace("{designator}", "KQA")
            .replace("{language}", "en")
            .replace("{subject}", "hq-1")
            .replace("{entry}", entry.as_deref().unwrap_or(""));
        let concrete = match path {
            "/v1/escalations" | "/v1/escalations/stream" => format!("{concrete}?stage=hq"),
            _ => concrete,
        };
        self.next += 1;
        let body = match (method, path) {
            (_, "/v1/clearance-requests" | "/v1/clearance-requests/{id}") => {
                Some(Self::trip("alice", "UNICEF", false).json)
            }
            ("post", "/v1/webhooks") => Some(self.webhook_body()),
            ("post", "/v1/teams") => Some(Self::team_body("UNICEF", "alice", false)),
            ("patch", "/v1/teams/{id}") => {
                let team = Self::team_body("UNICEF", "alice", false);
                Some(
                    json!({"purpose": team["purpose"], "programme_criticality": "PC3",
                            "legs": team["legs"]}),
                )
            }
            ("post", "/v1/teams/{id}/decision") => {
                Some(json!({"decision": "approve", "comment": "Reviewed"}))
            }
            ("post", "/v1/areas") => {
                Some(json!({"code": format!("TST-N{}", self.next), "name": "New", "country": "X"}))
            }
            ("post", "/v1/areas/{code}/suspension") => Some(json!({"reason": "relocation"})),
            ("put", "/v1/areas/{code}/location") => {
                Some(json!({"latitude": 2.0469, "longitude": 45.3182}))
            }
            ("post", "/v1/sras" | "/v1/sras/drafts") => Some(self.sra_body()),
            ("post", "/v1/sras/{id}/endorsement" | "/v1/sras/{id}/approval") => {
                Some(json!({"by": "A. Official", "on": day(0)}))
            }
            ("put", "/v1/people/{subject}") => Some(Self::person_body()),
            ("put", "/v1/air-operators/{designator}") => Some(Self::operator_body()),
            ("post", "/v1/delegations") => Some(Self::delegation_body()),
            ("post", "/v1/incidents") => Some(Self::incident_body("TST-INC")),
            ("post", "/v1/incidents/{id}/people/{entry}/answer") => Some(json!({"state": "safe"})),
            ("put", "/v1/people/{subject}/preferences") => Some(json!({"notifications": "off"})),
            ("post", "/v1/escalations/{id}/decision") => {
                Some(json!({"decision": "approve", "comment": "Reviewed"}))
            }
            ("post", _) => Some(json!({})),
            _ => None,
        };
        (concrete, body)
    }
}

#[tokio::test]
async fn every_route_for_every_caller_and_owner_answers_as_the_policy_says() {
    let app = TestApp::spawn().await;
    app.area("TST-LOW", Some("low")).await;
    app.area("TST-VHIGH", Some("very_high")).await;
    app.area("TST-SRA", None).await;
    app.area("TST-INC", Some("low")).await;
    let published = app
        .area("TST-PUB", None)
        .await
        .publish(1, "low", -5, 300, false, &[])
        .await;
    let rescreening = published["rescreening"]["id"].as_str().unwrap().to_owned();
    let mut matrix = Matrix {
        app,
        next: 1,
        rescreening,
    };

    let mut cells = 0;
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (method, path) in ROUTES {
        for &case in cases(path) {
            for who in EVERYONE {
                let expect = rule(method, path, who, case).unwrap_or_else(|| {
                    panic!("no authorization rule for {method} {path} ({who:?}, {case:?}): add one")
                });
                let (concrete, body) = matrix.prepare(method, path, case).await;
                let app = &matrix.app;
                let verb = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut request = app.client.request(verb, app.url(&concrete));
                if let Some(token) = matrix.token(who) {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let before = matrix.app.store_snapshot().await;
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let answer: Value = if path.ends_with("/stream") && status == 200 {
                    Value::Null // an open event stream: the status is the answer
                } else {
                    response.json().await.unwrap_or(Value::Null)
                };
                let ok = match expect {
                    Allow => !matches!(status, 401 | 403 | 404) && status < 500,
                    Deny => status == 403 && answer["code"] == "forbidden",
                    Hidden => status == 404 && answer["code"] == "not_found",
                    Expect::Unauthenticated => status == 401 && answer["code"] == "missing_token",
                };
                // A change that starts a re-screening goes on in the background: let it finish,
                // so that the next cell's snapshot sees only what that cell did.
                if let Some(job) = answer["rescreening"]["id"].as_str() {
                    let path = format!("/v1/rescreening/{job}");
                    let analyst = matrix.app.analyst();
                    let done = eventually(Duration::from_secs(10), async || {
                        matrix.app.get(&path, &analyst).await.1["status"] == "done"
                    })
                    .await;
                    assert!(done, "re-screening {job} did not finish");
                }
                if expect != Allow && matrix.app.store_snapshot().await != before {
                    failures.push(format!(
                        "{method} {path} as {who:?} on {case:?} was refused but changed the store"
                    ));
                }
                if !ok {
                    failures.push(format!(
                        "{method} {path} as {who:?} on {case:?}: expected {expect:?}, got {status} {answer}"
                    ));
                }
                *counts.entry(format!("{expect:?}")).or_default() += 1;
                cells += 1;
            }
        }
    }
    println!(
        "authorization matrix: {cells} cells checked over {} routes: {counts:?}",
        ROUTES.len()
    );
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
