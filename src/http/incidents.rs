//! `/v1/incidents`: opening an incident, its accountability board, roll-call and timeline,
//! answers for someone, closing it; `/v1/check-ins`: a traveller's own asks.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::areas::{csv_attachment, csv_field, wants_csv};
use super::extract::{query_pairs, read_json};
use super::guard::{Guarded, ManageIncidents};
use crate::app::incidents::{AnswerDraft, IncidentBoard, Opened};
use crate::auth::Caller;
use crate::domain::area::AreaCode;
use crate::domain::incident::{CheckState, Incident, IncidentStatus, RollEntry, TimelineEvent};
use crate::http::problem::Problem;
use crate::store::RollQuery;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct IncidentBody {
    /// The areas it covers, by code (1 to 50).
    #[schema(value_type = Vec<String>, example = json!(["SOM-MOG"]))]
    areas: Vec<AreaCode>,
    /// When it began (RFC 3339). At most `incidents.max_ahead_hours` ahead of now.
    started_at: DateTime<Utc>,
    /// What happened, for the people asked and the timeline (1 to 2000 characters).
    description: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    /// `safe` or `needs_assistance`.
    state: String,
    /// Anything the person wants known (at most 1000 characters).
    #[serde(default)]
    message: Option<String>,
    /// A number to call them back on.
    #[serde(default)]
    callback: Option<String>,
    /// When answering for someone else: how they were heard from (`phone`, `message`,
    /// `in_person`, `other`). Left out by the person themselves.
    #[serde(default)]
    how: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct IncidentList {
    items: Vec<Incident>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RollList {
    count: usize,
    items: Vec<RollEntry>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Timeline {
    items: Vec<TimelineEvent>,
}

/// One of the caller's own asks.
#[derive(Serialize, utoipa::ToSchema)]
struct CheckIn {
    incident: Incident,
    entry: RollEntry,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CheckInList {
    items: Vec<CheckIn>,
}

fn incident_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found())
}

/// Open an incident.
///
/// Everyone with a cleared or approved leg in its areas on the day it began is found, and
/// so is anyone whose trip ended there in the `incidents.lookback_days` before ("may still
/// be there"); each is asked whether they are safe: their travel unit's webhook
/// (`incident.check_requested`, with the person's own link), and their page. Requests to
/// the areas are held (`area_in_incident`) while it is open, and clearances there screened
/// again. `security-analyst`.
#[utoipa::path(
    post, path = "/v1/incidents", tag = "incidents",
    request_body = IncidentBody,
    responses(
        (status = 201, description = "Opened, everyone found asked", body = Opened),
        (status = 403, description = "forbidden"),
        (status = 422, description = "invalid_field, unknown_area, incident_in_future"),
    ),
    security(("bearer" = []))
)]
pub async fn open(
    state: web::Data<AppState>,
    caller: Guarded<ManageIncidents>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: IncidentBody = read_json(&req, payload, &state.body).await?;
    let opened = state
        .incidents
        .open(&caller, body.areas, body.started_at, &body.description)
        .await?;
    Ok(HttpResponse::Created().json(opened))
}

/// List incidents.
///
/// Newest first; `status=open` or `closed` to filter. Security analysts, admins and
/// travel units.
#[utoipa::path(
    get, path = "/v1/incidents", tag = "incidents",
    params(("status" = Option<IncidentStatus>, Query, description = "Only open or closed ones")),
    responses(
        (status = 200, description = "The incidents", body = IncidentList),
        (status = 400, description = "invalid_query"),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let mut status = None;
    for (_, value) in query_pairs(&req, &["status"])? {
        status = Some(
            IncidentStatus::parse(&value)
                .ok_or_else(|| Problem::invalid_query("status", "`open` or `closed`"))?,
        );
    }
    let items = state.incidents.list(&caller, status).await?;
    Ok(HttpResponse::Ok().json(IncidentList { items }))
}

/// An incident's accountability board.
///
/// The incident, and its people by area and organisation: accounted for (safe), needing
/// assistance, not yet answered. A travel unit sees its organisation's people only.
#[utoipa::path(
    get, path = "/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident and its board", body = IncidentBoard),
        (status = 403, description = "forbidden"),
        (status = 404, description = "not_found"),
    ),
    security(("bearer" = []))
)]
pub async fn board(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let board = state.incidents.board(&caller, incident_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(board))
}

/// An incident's roll-call.
///
/// Everyone found, by organisation and traveller, with their answer: `state=no_answer`
/// lists those not yet accounted for, with their travel unit. JSON, or CSV when the caller
/// accepts `text/csv`. A travel unit sees its organisation's people only.
#[utoipa::path(
    get, path = "/v1/incidents/{id}/people", tag = "incidents",
    params(
        ("id" = String, Path, description = "The incident's id"),
        ("state" = Option<CheckState>, Query, description = "Only people in this state"),
        ("area" = Option<String>, Query, description = "Only people in this area"),
    ),
    responses(
        (status = 200, description = "The roll-call. `Accept: text/csv` gives CSV",
            content((RollList = "application/json"), (String = "text/csv"))),
        (status = 400, description = "invalid_query"),
        (status = 403, description = "forbidden"),
        (status = 404, description = "not_found"),
    ),
    security(("bearer" = []))
)]
pub async fn people(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let id = incident_id(&id)?;
    let mut query = RollQuery::default();
    for (name, value) in query_pairs(&req, &["state", "area"])? {
        match name.as_str() {
            "state" => {
                query.state = Some(CheckState::parse(&value).ok_or_else(|| {
                    Problem::invalid_query("state", "`no_answer`, `safe` or `needs_assistance`")
                })?);
            }
            _ => {
                query.area = Some(
                    AreaCode::parse("area", &value)
                        .map_err(|e| Problem::invalid_query("area", e.detail))?,
                );
            }
        }
    }
    let items = state.incidents.roll(&caller, id, query).await?;
    if wants_csv(&req) {
        return Ok(csv_attachment(
            &format!("incident-{id}.csv"),
            roll_csv(&items),
        ));
    }
    Ok(HttpResponse::Ok().json(RollList {
        count: items.len(),
        items,
    }))
}

fn roll_csv(items: &[RollEntry]) -> String {
    let mut csv = String::from(
        "org,traveller_id,traveller_name,area,presence,trip_ends_in_area,state,answered_at,answered_by,answered_via,message,callback,asks,submitted_by,request_id,arrival,departure,dependants\r\n",
    );
    for e in items {
        let fields = [
            csv_field(&e.org),
            csv_field(&e.traveller_id),
            csv_field(&e.traveller_name),
            e.area.to_string(),
            e.presence.as_str().to_owned(),
            e.trip_ends_in_area.to_string(),
            e.state.as_str().to_owned(),
            e.answered_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            csv_field(e.answered_by.as_deref().unwrap_or_default()),
            e.answered_via
                .map(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            csv_field(e.message.as_deref().unwrap_or_default()),
            csv_field(e.callback.as_deref().unwrap_or_default()),
            e.asks.to_string(),
            csv_field(&e.submitted_by),
            e.request_id.to_string(),
            e.arrival.to_string(),
            e.departure.to_string(),
            csv_field(
                &e.dependants
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ];
        csv.push_str(&fields.join(","));
        csv.push_str("\r\n");
    }
    csv
}

/// Answer for a person.
///
/// The person themselves (a traveller, `how` left out), their travel unit, or a security
/// analyst who heard from them (`how` says by what means). The latest answer stands; each
/// is in the timeline with who gave it, how and when.
#[utoipa::path(
    post, path = "/v1/incidents/{id}/people/{entry}/answer", tag = "incidents",
    request_body = AnswerBody,
    params(
        ("id" = String, Path, description = "The incident's id"),
        ("entry" = String, Path, description = "The person's roll-call entry"),
    ),
    responses(
        (status = 200, description = "Recorded", body = RollEntry),
        (status = 404, description = "not_found"),
        (status = 409, description = "incident_closed"),
        (status = 422, description = "invalid_field"),
    ),
    security(("bearer" = []))
)]
pub async fn answer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (id, entry) = path.into_inner();
    let (id, entry) = (incident_id(&id)?, incident_id(&entry)?);
    let body: AnswerBody = read_json(&req, payload, &state.body).await?;
    let entry = state
        .incidents
        .answer(
            &caller,
            id,
            entry,
            AnswerDraft {
                state: body.state,
                message: body.message,
                callback: body.callback,
                how: body.how,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(entry))
}

/// An incident's timeline.
///
/// Opened, each answer (who, how, when), each round of reminders, closed; oldest first.
/// Security analysts and admins.
#[utoipa::path(
    get, path = "/v1/incidents/{id}/timeline", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "What happened", body = Timeline),
        (status = 403, description = "forbidden"),
        (status = 404, description = "not_found"),
    ),
    security(("bearer" = []))
)]
pub async fn timeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let items = state.incidents.timeline(&caller, incident_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(Timeline { items }))
}

/// Close an incident.
///
/// It takes no more answers; reminders stop; personal links show it closed; requests to its
/// areas are decided again without it. `security-analyst`.
#[utoipa::path(
    post, path = "/v1/incidents/{id}/close", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "Closed", body = Incident),
        (status = 403, description = "forbidden"),
        (status = 404, description = "not_found"),
        (status = 409, description = "incident_closed"),
    ),
    security(("bearer" = []))
)]
pub async fn close(
    state: web::Data<AppState>,
    caller: Guarded<ManageIncidents>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let incident = state.incidents.close(&caller, incident_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(incident))
}

/// The caller's own check-ins.
///
/// A traveller's entries in open incidents: where they are asked whether they are safe.
/// Answer at `/v1/incidents/{id}/people/{entry}/answer`.
#[utoipa::path(
    get, path = "/v1/check-ins", tag = "incidents",
    responses(
        (status = 200, description = "The caller's open asks", body = CheckInList),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn check_ins(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, Problem> {
    let items = state
        .incidents
        .mine(&caller)
        .await?
        .into_iter()
        .map(|(incident, entry)| CheckIn { incident, entry })
        .collect();
    Ok(HttpResponse::Ok().json(CheckInList { items }))
}
