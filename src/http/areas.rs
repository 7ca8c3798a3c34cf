//! `/v1/areas`: register areas, see the risk in force in one or all of them.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::conditional::json_tagged_by_content;
use super::extract::{query_pairs, read_json};
use super::guard::{Guarded, LocatePersonnel, RegisterAreas, SuspendAreas};
use crate::app::publishing::Rescreening;
use crate::auth::Caller;
use crate::domain::area::{
    Area, AreaCode, AreaIncident, Degrees, Location, Suspension, SuspensionReason,
};
use crate::domain::risk::RiskLevel;
use crate::domain::sra::{AreaRisk, SecurityLevel, SraRef, SraSummary};
use crate::http::problem::Problem;
use crate::store::PersonnelEntry;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AreaBody {
    code: String,
    name: String,
    country: String,
    /// Where the area lies, for the map; it can be set later (`PUT .../location`).
    #[serde(default)]
    location: Option<Degrees>,
}

/// An area and the SRA in force in it today, if any.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AreaView<'a> {
    code: &'a AreaCode,
    name: &'a str,
    country: &'a str,
    suspension: Option<&'a Suspension>,
    /// The open incident the area is in: requests there are held while it lasts.
    incident: Option<&'a AreaIncident>,
    /// Where the area lies, for the map; null until someone places it.
    location: Option<Degrees>,
    in_force: Option<InForceView<'a>>,
    /// The latest SRA is past its review date and nothing replaced it: nobody clears here.
    review_overdue: bool,
    /// Every published version, oldest first, with the dates each applies.
    published: Vec<InForceView<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
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
            incident: area.incident.as_ref(),
            location: area.location.map(Location::degrees),
            in_force: risk.in_force_on(today).map(InForceView::of),
            review_overdue: risk.in_force_on(today).is_none()
                && risk.published().iter().all(|s| s.review_due < today)
                && !risk.published().is_empty(),
            published: risk.published().iter().map(InForceView::of).collect(),
        }
    }
}

/// Register an area.
///
/// A new area code with its name and country; it has no SRA until one is published, so
/// requests to it are held. `security-analyst` or `admin`.
#[utoipa::path(
    post, path = "/v1/areas", tag = "areas",
    request_body = AreaBody,
    responses(
        (status = 201, description = "The area, with no SRA yet", body = AreaView,
            headers(("Location" = String, description = "The area's URL"))),
        (status = 403, description = "forbidden"),
        (status = 409, description = "area_exists"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    _caller: Guarded<RegisterAreas>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: AreaBody = read_json(&req, payload, &state.body).await?;
    let location = body
        .location
        .map(|at| Location::new("/location", at))
        .transpose()?;
    let area = Area::new(
        AreaCode::parse("/code", &body.code)?,
        &body.name,
        &body.country,
        location,
    )?;
    let area = state.publishing.create_area(area).await?;
    let risk = AreaRisk::new(area, &[]);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/areas/{}", risk.area.code)))
        .json(AreaView::of(&risk, Utc::now().date_naive())))
}

#[derive(Serialize, utoipa::ToSchema)]
struct AreaList<'a> {
    items: Vec<AreaView<'a>>,
}

/// List areas.
///
/// Every area with the risk in force today and its SRA's status. Any authenticated caller.
#[utoipa::path(
    get, path = "/v1/areas", tag = "areas",
    responses((status = 200, description = "Every area with the risk in force today", body = AreaList)),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, Problem> {
    let areas = state.publishing.list_areas().await?;
    let today = Utc::now().date_naive();
    Ok(HttpResponse::Ok().json(AreaList {
        items: areas.iter().map(|a| AreaView::of(a, today)).collect(),
    }))
}

/// Read an area.
///
/// The area, its suspension if any, the SRA in force today and every published version,
/// answered from the cache: on the hot path of every integration that shows risk levels.
/// Any authenticated caller; the code is case-insensitive.
#[utoipa::path(
    get, path = "/v1/areas/{code}", tag = "areas",
    params(("code" = String, Path, description = "Area code, e.g. `SOM-MOG`; case-insensitive")),
    responses((status = 200, description = "The area and the SRA in force today, from the cache", body = AreaView,
        headers(("ETag" = String, description = "ETag")))),
    security(("bearer" = []))
)]
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
    json_tagged_by_content(&AreaView::of(&risk, Utc::now().date_naive()))
}

/// Place an area on the map.
///
/// Sets the point (WGS 84 degrees) the web page's map shows the area at, usually its duty
/// station. Decisions do not depend on it. `security-analyst` or `admin`.
#[utoipa::path(
    put, path = "/v1/areas/{code}/location", tag = "areas",
    params(("code" = String, Path, description = "Area code, e.g. `SOM-MOG`; case-insensitive")),
    request_body = Degrees,
    responses(
        (status = 200, description = "The area, placed", body = AreaView),
        (status = 403, description = "forbidden"),
        (status = 404, description = "not_found"),
    ),
    security(("bearer" = []))
)]
pub async fn place(
    state: web::Data<AppState>,
    _caller: Guarded<RegisterAreas>,
    code: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let code = AreaCode::parse("code", &code).map_err(|_| Problem::not_found())?;
    let at: Degrees = read_json(&req, payload, &state.body).await?;
    let location = Location::new("", at)?;
    state.publishing.set_location(&code, Some(location)).await?;
    let risk = state
        .cache
        .get(&code)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(HttpResponse::Ok().json(AreaView::of(&risk, Utc::now().date_naive())))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Headcounts {
    on: NaiveDate,
    /// Everyone in any area that day (a person in two areas counts in both).
    total: i64,
    items: Vec<Headcount>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Headcount {
    area: AreaCode,
    /// People holding a cleared or approved leg there that day, each once.
    people: i64,
}

/// How many people are in each area.
///
/// For every area, the number of people the crisis locator finds there on the day `on`
/// (default today), each person once however many clearances they hold: the map's and the
/// overview's figures in one read. `security-analyst` or `admin`.
#[utoipa::path(
    get, path = "/v1/headcounts", tag = "areas",
    params(("on" = Option<chrono::NaiveDate>, Query, description = "The day, YYYY-MM-DD (default today)")),
    responses(
        (status = 200, description = "People in each area that day", body = Headcounts),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn headcounts(
    state: web::Data<AppState>,
    _caller: Guarded<LocatePersonnel>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let on = day_asked(&req)?;
    let items: Vec<Headcount> = state
        .clearing
        .headcounts(on)
        .await?
        .into_iter()
        .map(|(area, people)| Headcount { area, people })
        .collect();
    Ok(HttpResponse::Ok().json(Headcounts {
        on,
        total: items.iter().map(|h| h.people).sum(),
        items,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SuspensionBody {
    reason: SuspensionReason,
    /// Defaults to today.
    #[serde(default)]
    since: Option<NaiveDate>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SuspensionChange<'a> {
    area: AreaView<'a>,
    rescreening: Rescreening,
}

async fn change_suspension(
    state: &AppState,
    caller: &Guarded<SuspendAreas>,
    code: &str,
    suspension: Option<Suspension>,
) -> Result<HttpResponse, Problem> {
    let code = AreaCode::parse("code", code).map_err(|_| Problem::not_found())?;
    let rescreening = state
        .publishing
        .set_suspension(&code, suspension.as_ref(), &caller.subject)
        .await?;
    let risk = state
        .cache
        .get(&code)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(HttpResponse::Ok().json(SuspensionChange {
        area: AreaView::of(&risk, Utc::now().date_naive()),
        rescreening,
    }))
}

/// Suspend an area.
///
/// Operations relocate, evacuate or stop: new requests to the area are held, and issued
/// clearances touching it are screened again (the answer names the re-screening job).
/// `security-analyst`.
#[utoipa::path(
    post, path = "/v1/areas/{code}/suspension", tag = "areas",
    params(("code" = String, Path, description = "Area code, e.g. `SOM-MOG`; case-insensitive")),
    request_body = SuspensionBody,
    responses(
        (status = 200, description = "Suspended; clearances for the area are screened again", body = SuspensionChange),
        (status = 403, description = "forbidden"),
        (status = 409, description = "concurrent_update"),
    ),
    security(("bearer" = []))
)]
pub async fn suspend(
    state: web::Data<AppState>,
    caller: Guarded<SuspendAreas>,
    code: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: SuspensionBody = read_json(&req, payload, &state.body).await?;
    let suspension = Suspension {
        reason: body.reason,
        since: body.since.unwrap_or_else(|| Utc::now().date_naive()),
    };
    change_suspension(&state, &caller, &code, Some(suspension)).await
}

/// Lift an area's suspension.
///
/// Operations resume; requests touching the area are screened again (the answer names the
/// job). `security-analyst`.
#[utoipa::path(
    delete, path = "/v1/areas/{code}/suspension", tag = "areas",
    params(("code" = String, Path, description = "Area code, e.g. `SOM-MOG`; case-insensitive")),
    responses(
        (status = 200, description = "Operations resume; clearances are screened again", body = SuspensionChange),
        (status = 403, description = "forbidden"),
        (status = 409, description = "concurrent_update"),
    ),
    security(("bearer" = []))
)]
pub async fn lift(
    state: web::Data<AppState>,
    caller: Guarded<SuspendAreas>,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    change_suspension(&state, &caller, &code, None).await
}

#[derive(Serialize, utoipa::ToSchema)]
struct Personnel<'a> {
    area: &'a AreaCode,
    on: NaiveDate,
    count: usize,
    items: &'a [PersonnelEntry],
}

/// The crisis locator.
///
/// Everyone cleared (or approved) to be in the area on the day `on` (default today), with
/// their organisation and dates: whom to account for. JSON, or CSV when the caller accepts
/// `text/csv`. `security-analyst` or `admin`.
#[utoipa::path(
    get, path = "/v1/areas/{code}/personnel", tag = "areas",
    params(
        ("code" = String, Path, description = "Area code, e.g. `SOM-MOG`; case-insensitive"),
        ("on" = Option<chrono::NaiveDate>, Query, description = "The day, YYYY-MM-DD (default today)"),
    ),
    responses(
        (status = 200, description = "The crisis locator: who holds a clearance for the area that day. `Accept: text/csv` gives CSV",
            content((Personnel = "application/json"), (String = "text/csv"))),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn personnel(
    state: web::Data<AppState>,
    _caller: Guarded<LocatePersonnel>,
    code: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let code = AreaCode::parse("code", &code).map_err(|_| Problem::not_found())?;
    let on = day_asked(&req)?;
    let items = state.clearing.locate(&code, on).await?;
    if wants_csv(&req) {
        let name = format!("personnel-{code}-{on}.csv");
        return Ok(csv_attachment(&name, personnel_csv(&items)));
    }
    Ok(HttpResponse::Ok().json(Personnel {
        area: &code,
        on,
        count: items.len(),
        items: &items,
    }))
}

/// The `on` query parameter: the day asked about, today when absent.
fn day_asked(req: &HttpRequest) -> Result<NaiveDate, Problem> {
    let mut on = Utc::now().date_naive();
    for (_, value) in query_pairs(req, &["on"])? {
        on = value
            .parse()
            .map_err(|_| Problem::invalid_query("on", "a date as YYYY-MM-DD"))?;
    }
    Ok(on)
}

fn personnel_csv(items: &[PersonnelEntry]) -> String {
    let mut csv =
        String::from("traveller_id,traveller_name,org,status,arrival,departure,request_id\r\n");
    for p in items {
        let fields = [
            csv_field(&p.traveller_id),
            csv_field(&p.traveller_name),
            csv_field(&p.org),
            p.status.clone(),
            p.arrival.to_string(),
            p.departure.to_string(),
            p.request_id.to_string(),
        ];
        csv.push_str(&fields.join(","));
        csv.push_str("\r\n");
    }
    csv
}

/// Whether the caller asked for CSV (`Accept: text/csv`) rather than JSON.
pub(super) fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// A CSV export, downloaded as `name`.
pub(super) fn csv_attachment(name: &str, csv: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(csv)
}

/// Quotes a field for CSV (RFC 4180), and defuses values a spreadsheet would run as a formula.
pub(super) fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("A. Traveller"), "A. Traveller");
        assert_eq!(csv_field("Doe, Jane"), "\"Doe, Jane\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
