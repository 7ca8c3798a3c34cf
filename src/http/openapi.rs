//! `GET /openapi.json`: the API description (OpenAPI 3.1), generated from the handlers'
//! annotations and the types they read and write, so it cannot drift from the code.
//!
//! What every operation shares (authentication errors, rate limits, idempotency keys, body
//! errors) is added here once, from what the middleware does, instead of on each handler.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::extract::{DEFAULT_PAGE, MAX_PAGE};
use super::{
    air_operators, areas, check_in, clearance_requests, delegations, escalations, health,
    incidents, mail, metrics, people, sras, teams, ui, verification, webhooks,
};
use crate::domain::webhook::EVENTS;
use crate::error_code::Code;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clearway",
        description = "Mission security clearance requests, decided against the Security Risk \
            Assessments in force, with escalation to HQ security and the Director General's office. \
            Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`; \
            `components.schemas.ErrorCode` lists every code with its status."
    ),
    paths(
        health::healthz, health::readyz, metrics::metrics, document,
        ui::index, ui::script, ui::style, ui::strings, ui::world, ui::dev_token, verification::verify,
        check_in::show, check_in::answer,
        clearance_requests::submit, clearance_requests::list, clearance_requests::get,
        clearance_requests::amend, clearance_requests::withdraw, clearance_requests::acknowledge,
        clearance_requests::audit,
        clearance_requests::stream,
        teams::submit, teams::get, teams::amend, teams::withdraw, teams::decide,
        escalations::queue, escalations::stream, escalations::claim, escalations::release,
        escalations::decide, delegations::create, delegations::list, delegations::revoke,
        webhooks::register, webhooks::list, webhooks::remove, webhooks::deliveries,
        people::list, people::get, people::put, people::remove, people::preferences, mail::list,
        areas::create, areas::list, areas::get, areas::suspend, areas::lift, areas::personnel, areas::place, areas::headcounts,
        sras::draft, sras::get, sras::endorse, sras::approve, sras::publish_draft,
        sras::withdraw, sras::publish, sras::list, sras::rescreenings, sras::rescreening,
        incidents::open, incidents::list, incidents::board, incidents::people, incidents::answer,
        incidents::timeline, incidents::close, incidents::check_ins,
        air_operators::list, air_operators::get, air_operators::put,
    ),
    components(schemas(
        crate::domain::webhook::WebhookEvent,
        crate::app::incidents::CheckRequestEvent
    )),
    tags(
        (name = "clearance requests", description = "Travellers and travel units submit and follow requests"),
        (name = "teams", description = "One mission for several travellers, each also a request of their own"),
        (name = "escalations", description = "Approvers work the queue of Very High risk requests"),
        (name = "webhooks", description = "Travel units hear of status changes"),
        (name = "people", description = "Whom the service writes to: approvers with their stages, desks, travellers' preferences"),
        (name = "mail", description = "What the service wrote to whom, and what it could not deliver"),
        (name = "areas", description = "Areas, the risk in force, suspensions, the crisis locator"),
        (name = "air operators", description = "The air operators flights are checked against, and their assessment"),
        (name = "incidents", description = "In a crisis: everyone in the area found, asked whether they are safe, and accounted for"),
        (name = "sras", description = "Security Risk Assessments and the re-screening they start"),
        (name = "operations", description = "Probes, metrics and this document"),
        (name = "web page", description = "The page for people, served from the binary, and its development sign-in"),
    )
)]
struct ApiDoc;

/// This document.
///
/// The OpenAPI 3.1 description of the API, generated from the code. Needs no token.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", body = Object))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json_bytes())
}

/// Built once: the description is fixed for the life of the binary.
pub fn json_bytes() -> &'static [u8] {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_vec(&describe()).unwrap_or_default())
}

/// The full description as JSON.
pub fn describe() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    // Relative: the document is served by the service it describes, wherever it runs.
    // `x-internal: false`: the API is for travel units' systems outside the agency too.
    doc["servers"] = json!([{
        "url": "/",
        "description": "The service serving this document, in whichever environment it runs (production, staging or a local development instance)",
        "x-internal": false,
    }]);
    add_components(&mut doc);
    reference_generic_items(&mut doc);
    declare_input_constraints(&mut doc);
    add_webhooks(&mut doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                name_operation(op);
                add_shared_behaviour(path, method, op);
            }
        }
    }
    doc
}

/// Operation ids are unique, as OpenAPI requires and generators rely on (each names a
/// method or type after it): the resource (the tag) and the handler's verb,
/// `clearance_requests_get`, `areas_list`.
fn name_operation(op: &mut Value) {
    let Some(op) = op.as_object_mut() else { return };
    let tag = op["tags"][0]
        .as_str()
        .unwrap_or("operations")
        .replace(' ', "_");
    let verb = op["operationId"].as_str().unwrap_or_default().to_owned();
    let id = if verb.starts_with(&tag) {
        verb
    } else {
        format!("{tag}_{verb}")
    };
    op.insert("operationId".into(), Value::String(id));
}

/// utoipa inlines a generic's argument (`Items<DeliveryView>` becomes `Items_DeliveryView`
/// with `DeliveryView` copied in): refer to the component instead, so generators make one
/// type of it and nothing is left unused.
fn reference_generic_items(doc: &mut Value) {
    let Some(schemas) = doc["components"]["schemas"].as_object_mut() else {
        return;
    };
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in &names {
        let Some(inner) = name.strip_prefix("Items_") else {
            continue;
        };
        if names.iter().any(|n| n == inner) {
            schemas[name]["properties"]["items"]["items"] =
                json!({"$ref": format!("#/components/schemas/{inner}")});
        }
    }
}

/// Free text as `domain::bounded_text` takes it: at most `max` characters as sent, not
/// blank, no control characters.
fn text(max: usize) -> Value {
    json!({"maxLength": max, "pattern": TEXT_PATTERN})
}
const TEXT_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";
/// `domain::person::EmailAddress`: its limits; the rest of its rule is `invalid_email`'s.
fn email() -> Value {
    json!({"format": "email", "maxLength": 254})
}
/// `domain::person::Language`; `nullable` where it may be left out as null.
fn language(nullable: bool) -> Value {
    let mut tags: Vec<Value> = crate::domain::person::LANGUAGES
        .iter()
        .map(|l| json!(l))
        .collect();
    if nullable {
        tags.push(Value::Null);
    }
    json!({"enum": tags})
}
/// `domain::area::AreaCode`: case-insensitive, 2 to 32 characters.
const AREA_CODE: &str = "^[A-Za-z][A-Za-z0-9-]{0,30}[A-Za-z0-9]$";
/// An ICAO airline designator, as `OperatorCode` parses it.
const OPERATOR_CODE: &str = "^[A-Za-z]{3}$";
/// A flight number as `air_operator::flight_number` takes it (spaces dropped, case raised).
const FLIGHT_NUMBER: &str = "^([A-Za-z0-9][A-Za-z]|[A-Za-z][0-9]|[A-Za-z]{3})[0-9]{1,4}[A-Za-z]?$";
/// RFC 9110's `If-Match`: `*`, or a list of entity tags, weak or strong.
const IF_MATCH: &str = r#"^[ \t]*(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*)[ \t]*$"#;
/// A page's `next_cursor`: base64url, opaque (only one the service issued is accepted).
const CURSOR: &str = "^[A-Za-z0-9_-]{1,128}$";
/// `domain::request::TravellerId`.
const TRAVELLER_ID: &str = "^[A-Za-z0-9._@-]{1,64}$";
/// `domain::request::OrgId`: as a traveller id, with inner spaces.
const ORG_ID: &str = "^[A-Za-z0-9._@-]([A-Za-z0-9._@ -]{0,62}[A-Za-z0-9._@-])?$";

/// The limits the services enforce on what clients send, declared beside the schemas the
/// derive makes (utoipa's attributes take literals only; these follow the domain's
/// constants). Schemathesis then checks both ways: nothing valid here is refused, and the
/// limits hold.
fn declare_input_constraints(doc: &mut Value) {
    use crate::domain::itinerary::MAX_LEGS;
    let area_code = json!({"maxLength": 32, "pattern": AREA_CODE});
    let date = json!({"maxLength": 10});
    let events: Vec<&str> = std::iter::once("*").chain(EVENTS.iter().copied()).collect();
    let roles: Vec<&str> = crate::domain::caller::Role::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    let table: Vec<(&str, &str, Value)> = vec![
        ("AreaBody", "code", area_code.clone()),
        ("AreaBody", "name", text(200)),
        ("AreaBody", "country", text(100)),
        ("SubmitBody", "purpose", text(500)),
        ("SubmitBody", "mission_sra_reference", text(100)),
        (
            "SubmitBody",
            "legs",
            json!({"minItems": 1, "maxItems": MAX_LEGS}),
        ),
        (
            "TravellerBody",
            "id",
            json!({"maxLength": 64, "pattern": TRAVELLER_ID}),
        ),
        ("TravellerBody", "name", text(200)),
        (
            "TravellerBody",
            "org",
            json!({"maxLength": 64, "pattern": ORG_ID}),
        ),
        ("TravellerBody", "bsafe_valid_until", date.clone()),
        ("TravellerBody", "ssafe_valid_until", date.clone()),
        ("TravellerBody", "email", email()),
        ("TravellerBody", "language", language(true)),
        (
            "TravellerBody",
            "dependants",
            json!({"maxItems": crate::domain::request::MAX_DEPENDANTS}),
        ),
        ("DependantBody", "name", text(200)),
        ("DependantBody", "relationship", text(50)),
        ("PersonBody", "name", text(200)),
        ("PersonBody", "email", email()),
        ("PersonBody", "language", language(false)),
        (
            "PersonBody",
            "stages",
            json!({"maxItems": 16, "items": {"type": "string", "maxLength": 64}}),
        ),
        (
            "PersonBody",
            "follows_org",
            json!({"maxLength": 64, "pattern": ORG_ID}),
        ),
        ("PreferencesBody", "language", language(true)),
        ("DelegationBody", "stage", json!({"maxLength": 64})),
        (
            "DelegationBody",
            "delegate",
            json!({"maxLength": 64, "pattern": TRAVELLER_ID}),
        ),
        (
            "DelegationBody",
            "delegator",
            json!({"maxLength": 64, "pattern": TRAVELLER_ID}),
        ),
        ("DelegationBody", "from", date.clone()),
        ("DelegationBody", "until", date.clone()),
        ("LegBody", "area", area_code.clone()),
        ("LegBody", "arrival", date.clone()),
        ("LegBody", "departure", date.clone()),
        ("TeamBody", "purpose", text(500)),
        ("TeamBody", "mission_sra_reference", text(100)),
        (
            "TeamBody",
            "legs",
            json!({"minItems": 1, "maxItems": MAX_LEGS}),
        ),
        (
            "TeamBody",
            "travellers",
            json!({"minItems": 2, "maxItems": crate::domain::team::MAX_MEMBERS}),
        ),
        ("MissionBody", "purpose", text(500)),
        ("MissionBody", "mission_sra_reference", text(100)),
        (
            "MissionBody",
            "legs",
            json!({"minItems": 1, "maxItems": MAX_LEGS}),
        ),
        ("TeamDecisionBody", "comment", json!({"maxLength": 2000})),
        ("TeamDecisionBody", "stage", json!({"maxLength": 64})),
        (
            "TeamDecisionBody",
            "exceptions",
            json!({"maxItems": crate::domain::team::MAX_MEMBERS}),
        ),
        ("ExceptionBody", "comment", json!({"maxLength": 2000})),
        (
            "TeamDecisionBody",
            "members",
            json!({"maxItems": crate::domain::team::MAX_MEMBERS,
                   "items": {"type": "string", "format": "uuid", "maxLength": 36}}),
        ),
        ("ExceptionBody", "request_id", json!({"maxLength": 36})),
        ("DecisionBody", "comment", json!({"maxLength": 2000})),
        ("DecisionBody", "stage", json!({"maxLength": 64})),
        ("WithdrawBody", "comment", text(2000)),
        ("DevTokenBody", "sub", text(100)),
        (
            "DevTokenBody",
            "org",
            json!({"maxLength": 64, "pattern": format!("^$|{ORG_ID}")}),
        ),
        (
            "DevTokenBody",
            "roles",
            json!({"minItems": 1, "maxItems": roles.len(),
            "items": {"type": "string", "enum": roles}}),
        ),
        ("SignoffBody", "by", text(200)),
        ("SignoffBody", "on", date.clone()),
        ("SraBody", "area", area_code),
        (
            "SraBody",
            "version",
            json!({"minimum": 1, "maximum": u32::MAX}),
        ),
        (
            "SraBody",
            "security_level",
            json!({"minimum": 1, "maximum": 6}),
        ),
        ("SraBody", "effective_from", date.clone()),
        ("SraBody", "review_due", date.clone()),
        ("SraBody", "residual_risk_justification", text(2000)),
        ("SraBody", "threats", json!({"maxItems": 50})),
        (
            "SraBody",
            "mandatory_measures",
            json!({"maxItems": 50,
            "items": {"type": "string", "maxLength": 200, "pattern": TEXT_PATTERN}}),
        ),
        ("ThreatBody", "name", text(200)),
        ("SuspensionBody", "since", date),
        (
            "IncidentBody",
            "areas",
            json!({"minItems": 1, "maxItems": crate::domain::incident::MAX_AREAS, "uniqueItems": true,
            "items": {"type": "string", "maxLength": 32, "pattern": AREA_CODE}}),
        ),
        ("IncidentBody", "description", text(2000)),
        // RFC 3339 with a fraction of at most nine digits and an offset: 35 characters.
        ("IncidentBody", "started_at", json!({"maxLength": 64})),
        (
            "AnswerBody",
            "state",
            json!({"enum": ["safe", "needs_assistance"]}),
        ),
        // Line breaks and tabs are folded into spaces; other control characters are refused.
        (
            "AnswerBody",
            "message",
            json!({"maxLength": 1000, "pattern": r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"}),
        ),
        (
            "AnswerBody",
            "callback",
            json!({"maxLength": 32, "pattern": r"^ *$|^[ +().-]*([0-9][ +().-]*){4,20}$"}),
        ),
        (
            "CheckInForm",
            "state",
            json!({"enum": ["safe", "needs_assistance"]}),
        ),
        (
            "CheckInForm",
            "message",
            json!({"maxLength": 1000, "pattern": r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"}),
        ),
        (
            "CheckInForm",
            "callback",
            json!({"maxLength": 32, "pattern": r"^ *$|^[ +().-]*([0-9][ +().-]*){4,20}$"}),
        ),
        (
            "AnswerBody",
            "how",
            json!({"enum": ["phone", "message", "in_person", "other", null]}),
        ),
        // Absolute http(s) URLs only (`domain::webhook`); https outside development.
        (
            "WebhookBody",
            "url",
            json!({"maxLength": 2000, "format": "uri",
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}),
        ),
        (
            "WebhookBody",
            "events",
            json!({"minItems": 1, "maxItems": events.len(),
            "items": {"type": "string", "enum": events}}),
        ),
        (
            "BriefingBody",
            "text",
            json!({"maxLength": crate::domain::sra::MAX_BRIEFING,
            "pattern": r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"}),
        ),
        (
            "BriefingBody",
            "url",
            json!({"maxLength": 2000, "format": "uri", "pattern": "^ *[Hh][Tt][Tt][Pp][Ss]?://"}),
        ),
        ("AirOperatorBody", "name", text(200)),
        ("AirOperatorBody", "from", json!({"maxLength": 10})),
        ("AirOperatorBody", "until", json!({"maxLength": 10})),
        (
            "AirOperatorBody",
            "note",
            text(crate::domain::air_operator::MAX_NOTE),
        ),
        (
            "TravelBody",
            "operator",
            json!({"maxLength": 3, "pattern": OPERATOR_CODE}),
        ),
        (
            "TravelBody",
            "flight_number",
            json!({"maxLength": 16, "pattern": FLIGHT_NUMBER}),
        ),
        (
            "WebhookBody",
            "secret",
            json!({"minLength": 16, "maxLength": 256}),
        ),
    ];
    let schemas = &mut doc["components"]["schemas"];
    for (schema, property, constraints) in table {
        let target = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(property));
        match (target, constraints) {
            (Some(Value::Object(target)), Value::Object(constraints)) => target.extend(constraints),
            // A renamed field: the unit tests build the document and stop here.
            _ => debug_assert!(false, "{schema}.{property} is not in the document"),
        }
    }
}

/// What a travel unit's endpoint receives, one entry per event (OpenAPI 3.1 `webhooks`).
fn add_webhooks(doc: &mut Value) {
    let header = |name: &str, description: &str| {
        json!({"name": name, "in": "header", "required": true,
               "description": description, "schema": {"type": "string"}})
    };
    let mut hooks = Map::new();
    for event in EVENTS {
        let what = match event {
            "request.submitted" => "A request of the organisation was submitted and decided.",
            "request.approved" => "An approval stage approved (the last one clears the request).",
            "request.rejected" => "An approval stage rejected the request.",
            "request.returned" => "An approver returned the request to the traveller for changes.",
            "request.withdrawn" => "The traveller or the travel unit withdrew the request.",
            "request.amended" => "The itinerary changed and the request was decided again.",
            "request.rescreened" => {
                "An SRA change or a suspension decided the request again, and its status changed."
            }
            "request.expired" => {
                "The request was still pending when its first leg began; it can no longer be decided."
            }
            "request.acknowledged" => {
                "The traveller acknowledged the security briefings the clearance waited for: it is issued."
            }
            "request.briefing_overdue" => {
                "The first leg began and the traveller has not acknowledged a security briefing: the clearance is not issued. Sent once per request."
            }
            "incident.check_requested" => {
                "An incident was opened (or its reminder is due) where one of the organisation's people may be: make sure they answer, or answer for them. The body is a CheckRequestEvent."
            }
            _ => "A change to a request.",
        };
        let schema = if event.starts_with("incident.") {
            "#/components/schemas/CheckRequestEvent"
        } else {
            "#/components/schemas/WebhookEvent"
        };
        hooks.insert(
            (*event).to_owned(),
            json!({"post": {
                "operationId": format!("webhook_{}", event.replace('.', "_")),
                "tags": ["webhooks"],
                "summary": format!("`{event}`"),
                "description": format!("{what} Signed per Standard Webhooks: verify with its library and the webhook's secret."),
                "parameters": [
                    header("webhook-id", "The delivery's id, the same on every retry"),
                    header("webhook-timestamp", "Unix seconds"),
                    header("webhook-signature", "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`"),
                    header("Clearway-Event", "The event's name"),
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": schema}}}},
                "responses": {"2XX": {"description": "Acknowledged. Anything else, or no answer within the timeout, is retried with backoff."}},
                // No scheme: the receiver authenticates clearway by the signature.
                "security": [],
            }}),
        );
    }
    doc["webhooks"] = Value::Object(hooks);
}

fn add_components(doc: &mut Value) {
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    // Generators read an `enum`; the meaning of each code goes beside it, in the
    // description and in `x-enum-descriptions` (the extension several generators know).
    let meanings: Map<String, Value> = Code::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), Value::String(c.meaning().to_owned())))
        .collect();
    let statuses: Map<String, Value> = Code::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), json!(c.status())))
        .collect();
    let table = Code::ALL
        .iter()
        .map(|c| format!("- `{}` ({}): {}", c.as_str(), c.status(), c.meaning()))
        .collect::<Vec<_>>()
        .join("\n");
    let components = doc
        .as_object_mut()
        .map(|d| d.entry("components").or_insert_with(|| json!({})));
    let Some(Value::Object(components)) = components else {
        return;
    };
    let schemas = components.entry("schemas").or_insert_with(|| json!({}));
    if let Value::Object(schemas) = schemas {
        schemas.insert(
            "ErrorCode".into(),
            json!({
                "description": format!("Every problem code the service produces, with the HTTP status it comes with:\n\n{table}"),
                "type": "string",
                "enum": codes,
                "x-enum-descriptions": meanings,
                "x-status": statuses,
            }),
        );
        schemas.insert(
            "Problem".into(),
            json!({
                "description": "RFC 9457 problem details. Some codes add members, e.g. `holder` and `until` for `claimed_by_another`, `retry_after_seconds` for `rate_limited`.",
                "type": "object",
                "required": ["type", "title", "status", "detail", "code"],
                "properties": {
                    "type": {"type": "string", "description": "`urn:clearway:problem:` and the code"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string", "description": "For people; do not parse"},
                    "code": {"$ref": "#/components/schemas/ErrorCode"},
                    "field": {"type": "string", "description": "The input at fault: a JSON pointer into the body, a query parameter or a header"},
                },
                "additionalProperties": true,
            }),
        );
    }
    components.insert(
        "securitySchemes".into(),
        json!({
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "RS256 (or HS256 in development) JWT with `sub`, `roles`, `iss`, `aud`, `exp`; travel units also carry `org`. Only in the Authorization header. Validated as RFC8725 (JWT Best Current Practices) asks: the algorithms are pinned by configuration (never `none`, never one the token picks), and issuer, audience, expiry and the signing key (by `kid`, from the provider's JWKS) are always checked."
            }
        }),
    );
}

/// What the middleware and the extractors do for every operation of a kind.
fn add_shared_behaviour(path: &str, method: &str, op: &mut Value) {
    let Some(op) = op.as_object_mut() else { return };
    let authenticated = op.contains_key("security");
    let has_body = op.contains_key("requestBody");
    let changes_state = matches!(method, "post" | "patch" | "delete");
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let in_path = params.iter().any(|p| p["in"] == "path");
    let in_query = params.iter().any(|p| p["in"] == "query");
    let paged = params
        .iter()
        .any(|p| p["in"] == "query" && p["name"] == "cursor");

    // The page size every list takes, with the bounds `extract::page_limit` enforces.
    let mut params = params;
    for param in params
        .iter_mut()
        .filter(|p| p["in"] == "query" && p["name"] == "limit")
    {
        let what = param["description"]
            .as_str()
            .unwrap_or("Page size")
            .to_owned();
        param["description"] = json!(format!("{what}: 1 to {MAX_PAGE} (default {DEFAULT_PAGE})"));
        param["schema"] = json!({
            "type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE,
        });
    }
    let conditional = params
        .iter()
        .any(|p| p["in"] == "header" && p["name"] == "If-Match");
    for param in params
        .iter_mut()
        .filter(|p| p["in"] == "header" && p["name"] == "If-Match")
    {
        *param = json!({
            "name": "If-Match", "in": "header", "required": false,
            "description": "The `ETag` of the request as the caller read it (its `version`: `\"v3\"`), or `*`. The change applies only if the request is still at that version; otherwise 412 `precondition_failed`, and nothing changes.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": IF_MATCH},
        });
    }

    for param in params.iter_mut() {
        bound_parameter(param);
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params.clone()));
    }

    let mut shared: Vec<Code> = vec![Code::InternalError];
    if authenticated {
        shared.extend([Code::MissingToken, Code::TokenExpired, Code::InvalidToken]);
    }
    if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        shared.push(Code::RateLimited);
    }
    if path.starts_with("/v1/") {
        shared.push(Code::StoreUnavailable);
    }
    if in_path {
        shared.push(Code::NotFound);
    }
    // Travellers and travel units act only within the organisation their token names.
    if path.starts_with("/v1/clearance-requests") {
        shared.extend([Code::Forbidden, Code::TokenOrgRequired]);
    }
    if in_query {
        shared.push(Code::InvalidQuery);
    }
    if conditional {
        shared.extend([Code::InvalidIfMatch, Code::PreconditionFailed]);
    }
    if has_body {
        shared.extend([
            Code::MalformedJson,
            Code::RequestTimeout,
            Code::PayloadTooLarge,
            Code::UnsupportedMediaType,
            Code::InvalidField,
        ]);
    }
    if changes_state && path.starts_with("/v1/") {
        shared.push(Code::StoreOutcomeUnknown);
    }
    if changes_state && authenticated {
        shared.extend([
            Code::InvalidIdempotencyKey,
            Code::IdempotencyKeyInProgress,
            Code::IdempotencyKeyReused,
            // A replay to a caller who no longer holds a role the first request was made with.
            Code::Forbidden,
        ]);
        params.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Makes a retry safe: the same key with the same request replays the first answer (with `Idempotent-Replayed: true`) for 24 hours, to the same caller (organisation and subject) while their token still holds every role the first request was made with (otherwise 403).",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        }));
        op.insert("parameters".into(), Value::Array(params));
    }

    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    // A handler names its own error codes in the description ("a, b"); the test below
    // checks each against the list, so a typo cannot slip into the document.
    for (status, response) in responses.iter_mut() {
        if status.starts_with(['4', '5']) && response.get("content").is_none() {
            let named = response["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let codes: Vec<&str> = named.split(',').map(str::trim).collect();
            *response = problem_response(&[], &codes);
        }
    }
    for code in shared {
        let status = code.status().to_string();
        let existing = responses.remove(&status);
        let merged = match existing {
            Some(r) if r.get("x-problem-codes").is_some() => {
                problem_response(&[r], &[code.as_str()])
            }
            // A handler's own body for this status (readiness): keep it.
            Some(r) => r,
            None => problem_response(&[], &[code.as_str()]),
        };
        responses.insert(status, merged);
    }
    // The headers the middleware adds to every answer of the kind.
    let limited = !matches!(path, "/healthz" | "/readyz" | "/metrics");
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let headers = response.entry("headers").or_insert_with(|| json!({}));
        if headers.get("ETag").is_some() {
            headers["ETag"] = json!({
                "description": "Strong entity tag of what this answer shows. A request's is its version, `\"v3\"`, which `If-Match` takes on amend, withdraw, claim, release and decision.",
                "schema": {"type": "string", "maxLength": 64, "pattern": "^\"[!#-~]+\"$"},
            });
        }
        headers["Access-Control-Allow-Origin"] = json!({
            "description": "Only when the request's `Origin` is one `server.cors_allowed_origins` lists (closed by default).",
            "schema": {"type": "string", "maxLength": 2048},
        });
        if limited {
            headers["RateLimit-Policy"] = json!({
                "description": "IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers): each policy applied, `\"ip\"` and then the caller's role, with its quota `q` and window `w` in seconds, e.g. `\"ip\";q=200;w=2, \"traveller\";q=10;w=20`. Absent when rate limits are off.",
                "schema": {"type": "string", "maxLength": 256},
            });
            headers["RateLimit"] = json!({
                "description": "What remains of each policy (`r`) and the seconds until it is whole again (`t`), e.g. `\"ip\";r=199;t=1, \"traveller\";r=9;t=2`. Absent when rate limits are off.",
                "schema": {"type": "string", "maxLength": 256},
            });
        }
        headers["X-Request-Id"] = json!({
            "description": "This request's id (the caller's, when it sent one of 1 to 64 letters, digits, `-` or `_`); the logs carry it.",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        });
        if matches!(status.as_str(), "429" | "503") {
            headers["Retry-After"] = json!({
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 0},
            });
        }
        if paged && status == "200" {
            headers["Link"] = json!({
                "description": "RFC 8288: `<...>; rel=\"next\"`, the next page's URL, when there is one (as `next_cursor`).",
                "schema": {"type": "string"},
            });
        }
        if changes_state && authenticated && status.starts_with('2') {
            headers["Idempotent-Replayed"] = json!({
                "description": "`true` when this answer replays the first request with the same `Idempotency-Key`.",
                "schema": {"type": "string", "enum": ["true"]},
            });
        }
    }
    // Public operations say so: no security requirement at all.
    if !authenticated {
        op.insert("security".into(), json!([]));
    }
}

/// The limits the extractors enforce on path and query parameters: ids are UUIDs (any other
/// text names no resource: 404), area codes are as `AreaCode` parses them, a cursor is one
/// this service issued.
fn bound_parameter(param: &mut Value) {
    let name = param["name"].as_str().unwrap_or_default().to_owned();
    let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut) else {
        return;
    };
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind == "integer" && !schema.contains_key("format") {
        schema.insert("format".into(), json!("int32"));
        return;
    }
    if kind != "string" || schema.contains_key("maxLength") || schema.contains_key("enum") {
        return;
    }
    let limits = match (name.as_str(), schema.get("format").and_then(Value::as_str)) {
        (_, Some("uuid")) => json!({"maxLength": 36}),
        (_, Some("date")) => json!({"maxLength": 10}),
        ("code" | "area", _) => json!({"maxLength": 32, "pattern": AREA_CODE}),
        ("traveller", _) => json!({"maxLength": 64, "pattern": TRAVELLER_ID}),
        ("designator", _) => json!({"maxLength": 3, "pattern": OPERATOR_CODE}),
        ("cursor", _) => json!({"maxLength": 128, "pattern": CURSOR}),
        ("language", _) => json!({"enum": super::ui::language_tags()}),
        _ => json!({"maxLength": 64}),
    };
    if let Value::Object(limits) = limits {
        schema.extend(limits);
    }
}

/// A problem+json response listing its codes, machine-readable in `x-problem-codes`.
fn problem_response(existing: &[Value], add: &[&str]) -> Value {
    let mut codes: Vec<String> = existing
        .iter()
        .filter_map(|r| r["x-problem-codes"].as_array())
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    for code in add {
        if !codes.iter().any(|c| c == code) {
            codes.push((*code).to_owned());
        }
    }
    let description = codes
        .iter()
        .map(|c| match Code::ALL.iter().find(|k| k.as_str() == c) {
            Some(known) => format!("`{c}`: {}", known.meaning()),
            None => format!("`{c}`"),
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut response = Map::new();
    response.insert("description".into(), Value::String(description));
    response.insert(
        "content".into(),
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}),
    );
    response.insert("x-problem-codes".into(), json!(codes));
    Value::Object(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code a handler names in its annotations is a real code: a typo fails here.
    #[test]
    fn every_error_response_lists_known_codes() {
        let doc = describe();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                for (status, response) in op["responses"].as_object().unwrap() {
                    if !status.starts_with(['4', '5']) || path == "/readyz" {
                        continue;
                    }
                    let codes = response["x-problem-codes"].as_array().unwrap_or_else(|| {
                        panic!("{method} {path} {status}: no problem codes ({response})")
                    });
                    for code in codes {
                        let code = code.as_str().unwrap();
                        let known = Code::ALL.iter().find(|c| c.as_str() == code);
                        let known = known.unwrap_or_else(|| panic!("{method} {path}: {code}?"));
                        assert_eq!(
                            known.status().to_string(),
                            *status,
                            "{method} {path} {code}"
                        );
                    }
                }
            }
        }
        assert_eq!(operations, crate::http::ROUTES.len());
    }

    /// Generators name a method or a type after each operation id: one id, one operation.
    #[test]
    fn operation_ids_are_unique_and_name_their_resource() {
        let doc = describe();
        let mut seen = std::collections::BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(
                    id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{id}"
                );
                if let Some(first) = seen.insert(id.clone(), format!("{method} {path}")) {
                    panic!("{id} names both {first} and {method} {path}");
                }
            }
        }
        assert_eq!(
            doc["paths"]["/v1/clearance-requests/{id}"]["get"]["operationId"],
            "clearance_requests_get"
        );
        assert_eq!(
            doc["paths"]["/v1/areas"]["get"]["operationId"],
            "areas_list"
        );
        let limit = doc["paths"]["/v1/clearance-requests"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(
            (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
            (&json!(1), &json!(MAX_PAGE))
        );
    }

    /// Generators turn the summary into a method's one-line doc and the description into
    /// its body: every operation has both, the summary one short sentence.
    #[test]
    fn every_operation_has_a_short_summary_and_a_description() {
        let doc = describe();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let summary = op["summary"].as_str().unwrap_or_default();
                let description = op["description"].as_str().unwrap_or_default();
                assert!(
                    !summary.is_empty() && summary.len() <= 60 && !summary.contains('\n'),
                    "{method} {path}: summary {summary:?}"
                );
                assert!(
                    description.len() > summary.len(),
                    "{method} {path}: no description"
                );
            }
        }
    }

    /// Every event a webhook may subscribe to is described, with the payload's schema.
    #[test]
    fn every_webhook_event_is_described_with_its_payload() {
        let doc = describe();
        let hooks = doc["webhooks"].as_object().unwrap();
        assert_eq!(hooks.len(), EVENTS.len());
        for event in EVENTS {
            let body = &hooks[event]["post"]["requestBody"]["content"]["application/json"];
            let schema = if event.starts_with("incident.") {
                "CheckRequestEvent"
            } else {
                "WebhookEvent"
            };
            assert_eq!(
                body["schema"]["$ref"],
                format!("#/components/schemas/{schema}"),
                "{event}"
            );
        }
        let schema = &doc["components"]["schemas"]["WebhookEvent"];
        for field in ["event", "event_id", "occurred_at", "actor", "request"] {
            assert!(schema["properties"].get(field).is_some(), "{field}");
        }
        assert!(doc["components"]["schemas"].get("WebhookRequest").is_some());
    }
}
