//! `/v1/areas`: register areas, see the risk in force in one or all of them.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::read_json;
use crate::auth::{Caller, Role};
use crate::domain::area::{Area, AreaCode, Suspension};
use crate::domain::risk::RiskLevel;
use crate::domain::sra::{AreaRisk, SecurityLevel, SraRef, SraSummary};
use crate::problem::Problem;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaBody {
    code: String,
    name: String,
    country: String,
}

/// An area and the SRA in force in it today, if any.
#[derive(Serialize)]
pub struct AreaView<'a> {
    code: &'a AreaCode,
    name: &'a str,
    country: &'a str,
    suspension: Option<&'a Suspension>,
    in_force: Option<InForceView<'a>>,
    /// Every published version, oldest first, with the dates each applies.
    published: Vec<InForceView<'a>>,
}

#[derive(Serialize)]
struct InForceView<'a> {
    sra: SraRef,
    risk: RiskLevel,
    security_level: SecurityLevel,
    effective_from: NaiveDate,
    review_due: NaiveDate,
    mandatory_measures: &'a [String],
    requires_ssafe: bool,
}

impl<'a> InForceView<'a> {
    fn of(sra: &'a SraSummary) -> Self {
        Self {
            sra: sra.reference(),
            risk: sra.residual_risk,
            security_level: sra.security_level,
            effective_from: sra.effective_from,
            review_due: sra.review_due,
            mandatory_measures: &sra.mandatory_measures,
            requires_ssafe: sra.requires_ssafe,
        }
    }
}

impl<'a> AreaView<'a> {
    pub fn of(risk: &'a AreaRisk, today: NaiveDate) -> Self {
        let area = &risk.area;
        Self {
            code: &area.code,
            name: &area.name,
            country: &area.country,
            suspension: area.suspension.as_ref(),
            in_force: risk.in_force_on(today).map(InForceView::of),
            published: risk.published().iter().map(InForceView::of).collect(),
        }
    }
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    if !caller.has_any(&[Role::SecurityAnalyst, Role::Admin]) {
        return Err(Problem::forbidden(
            "registering areas requires the security-analyst or admin role",
        ));
    }
    let body: AreaBody = read_json(&req, payload, state.max_body_bytes).await?;
    let area = Area::new(
        AreaCode::parse("/code", &body.code)?,
        &body.name,
        &body.country,
    )?;
    let area = state.publishing.create_area(area).await?;
    let risk = AreaRisk::new(area, &[]);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/areas/{}", risk.area.code)))
        .json(AreaView::of(&risk, Utc::now().date_naive())))
}

#[derive(Serialize)]
struct AreaList<'a> {
    items: Vec<AreaView<'a>>,
}

pub async fn list(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, Problem> {
    let areas = state.store.list_areas().await?;
    let today = Utc::now().date_naive();
    Ok(HttpResponse::Ok().json(AreaList {
        items: areas.iter().map(|a| AreaView::of(a, today)).collect(),
    }))
}

/// Answered from the cache: on the hot path of every integration that shows risk levels.
pub async fn get(
    state: web::Data<AppState>,
    _caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let code = AreaCode::parse("code", &code).map_err(|_| Problem::not_found())?;
    let risk = state
        .cache
        .get(&code)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(HttpResponse::Ok().json(AreaView::of(&risk, Utc::now().date_naive())))
}
