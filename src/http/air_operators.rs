//! `/v1/air-operators`: the air operator list a flight leg is checked against.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, SubsecRound};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::read_json;
use super::guard::{Guarded, ManageAirOperators};
use crate::app::publishing::Rescreening;
use crate::auth::Caller;
use crate::domain::air_operator::{AirOperator, Assessment, OperatorCode};
use crate::http::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AirOperatorBody {
    name: String,
    assessment: Assessment,
    /// The first day the assessment applies.
    from: NaiveDate,
    /// The last day it applies; after it the operator counts as not assessed.
    #[serde(default)]
    until: Option<NaiveDate>,
    /// What travel units should know: the restriction's scope, the assessment's reference.
    #[serde(default)]
    note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AirOperatorList {
    items: Vec<AirOperator>,
}

/// An operator's entry as written, and the re-screening it started.
#[derive(Serialize, utoipa::ToSchema)]
struct AirOperatorChange {
    operator: AirOperator,
    /// The requests flying with the operator from today on, decided again.
    rescreening: Rescreening,
}

fn code(raw: &str) -> Result<OperatorCode, Problem> {
    Ok(OperatorCode::parse("designator", raw)?)
}

/// List the air operators.
///
/// Every operator on the list with its assessment (`assessed`, `not_assessed`,
/// `restricted`) and the days it applies: the advice travel units book by. A flight on an
/// operator not listed as assessed for its day is held. Anyone signed in.
#[utoipa::path(
    get, path = "/v1/air-operators", tag = "air operators",
    responses((status = 200, description = "The list, by code", body = AirOperatorList)),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, Problem> {
    let items = state.air_operators.list().await?;
    Ok(HttpResponse::Ok().json(AirOperatorList { items }))
}

/// Read an air operator.
///
/// Its assessment and the days it applies. Anyone signed in.
#[utoipa::path(
    get, path = "/v1/air-operators/{designator}", tag = "air operators",
    params(("designator" = String, Path, description = "The operator's ICAO designator, e.g. `KQA`; case-insensitive")),
    responses(
        (status = 200, description = "The entry", body = AirOperator),
        (status = 404, description = "not_found"),
        (status = 422, description = "invalid_field"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    _caller: Caller,
    raw: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let operator = state.air_operators.get(&code(&raw)?).await?;
    Ok(HttpResponse::Ok().json(operator))
}

/// Add or replace an air operator's assessment.
///
/// Writes the operator's whole entry; every request flying with it from today on is
/// decided again (the answer names the job: a restriction holds clearances, an assessment
/// clears held requests). `aviation-risk`.
#[utoipa::path(
    put, path = "/v1/air-operators/{designator}", tag = "air operators",
    params(("designator" = String, Path, description = "The operator's ICAO designator, e.g. `KQA`; case-insensitive")),
    request_body = AirOperatorBody,
    responses(
        (status = 200, description = "Replaced; requests flying with it are screened again", body = AirOperatorChange),
        (status = 201, description = "Added; requests flying with it are screened again", body = AirOperatorChange),
        (status = 403, description = "forbidden"),
        (status = 422, description = "invalid_field, invalid_date_range"),
    ),
    security(("bearer" = []))
)]
pub async fn put(
    state: web::Data<AppState>,
    caller: Guarded<ManageAirOperators>,
    raw: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let code = code(&raw)?;
    let body: AirOperatorBody = read_json(&req, payload, &state.body).await?;
    let operator = AirOperator::new(
        code,
        &body.name,
        body.assessment,
        body.from,
        body.until,
        body.note.as_deref(),
        chrono::Utc::now().trunc_subsecs(6),
        &caller.subject,
    )?;
    let (operator, created, rescreening) = state.air_operators.put(&caller, operator).await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(AirOperatorChange {
        operator,
        rescreening,
    }))
}
