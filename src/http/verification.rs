//! `/verify/{token}`: the link printed on a clearance. Anyone holding the paper opens it
//! without an account and sees whether the clearance holds today, for whom and where; the
//! token's signature (`domain::verification`) is the only authority, so nothing else of the
//! request (purpose, traveller id, decisions, comments) is shown.

use actix_web::http::header::{ACCEPT, ACCEPT_LANGUAGE, CONTENT_SECURITY_POLICY};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::ui::{PAGE_POLICY, Strings};
use crate::domain::area::AreaCode;
use crate::domain::request::{RequestRecord, RequestStatus};
use crate::domain::verification;
use crate::http::problem::Problem;

/// The path of a request's verification link, when the service has a verification key and
/// the request is a clearance (cleared or approved): what the page prints.
pub fn link(state: &AppState, record: &RequestRecord) -> Option<String> {
    let key = state.verification_key.as_ref()?;
    matches!(
        record.status,
        RequestStatus::Cleared | RequestStatus::Approved
    )
    .then(|| {
        format!(
            "/verify/{}",
            verification::seal(key.expose_secret().as_bytes(), record.id)
        )
    })
}

/// What a verification link shows.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// The request's id, as printed.
    reference: Uuid,
    /// Cleared or approved, and its last departure not yet past.
    valid: bool,
    status: RequestStatus,
    /// The last departure: the clearance holds until then.
    valid_until: NaiveDate,
    traveller_name: String,
    org: String,
    legs: Vec<VerifiedLeg>,
    checked_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct VerifiedLeg {
    area: AreaCode,
    arrival: NaiveDate,
    departure: NaiveDate,
}

impl Verification {
    fn of(record: &RequestRecord, now: DateTime<Utc>) -> Self {
        let legs: Vec<VerifiedLeg> = record
            .request
            .legs
            .legs()
            .iter()
            .map(|l| VerifiedLeg {
                area: l.area.clone(),
                arrival: l.arrival,
                departure: l.departure,
            })
            .collect();
        let valid_until = legs.iter().map(|l| l.departure).max().unwrap_or_default();
        let issued = matches!(
            record.status,
            RequestStatus::Cleared | RequestStatus::Approved
        );
        Self {
            reference: record.id,
            valid: issued && valid_until >= now.date_naive(),
            status: record.status,
            valid_until,
            traveller_name: record.request.traveller.name.clone(),
            org: record.request.traveller.org.as_str().to_owned(),
            legs,
            checked_at: now,
        }
    }
}

/// Verify a printed clearance.
///
/// Whether the clearance a printed link names holds today: the traveller's name and
/// organisation, the legs and until when. Public: the link's signature is the authority, and
/// a link not made by this service (or for another request) is not found. HTML for a
/// browser (in the language it asks for), JSON otherwise.
#[utoipa::path(
    get, path = "/verify/{token}", tag = "web page",
    params(("token" = String, Path, description = "The token of a printed clearance's link")),
    responses(
        (status = 200, description = "Whether the clearance holds today",
            content((Verification = "application/json"), (String = "text/html"))),
        (status = 404, description = "not_found"),
    )
)]
pub async fn verify(
    state: web::Data<AppState>,
    token: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let key = state
        .verification_key
        .as_ref()
        .ok_or_else(Problem::not_found)?;
    let id = verification::open(key.expose_secret().as_bytes(), &token)
        .ok_or_else(Problem::not_found)?;
    let record = state
        .clearing
        .verify(id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let found = Verification::of(&record, Utc::now());
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if !header(ACCEPT).is_some_and(|a| a.contains("text/html")) {
        return Ok(HttpResponse::Ok().json(found));
    }
    let strings = Strings::for_accept_language(header(ACCEPT_LANGUAGE));
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .body(page(&found, &strings)))
}

/// The page a person sees: the verdict first, large, then the facts to compare with the
/// paper and the person. No script.
fn page(v: &Verification, s: &Strings) -> String {
    let e = |text: &str| super::ui::escape_html(text);
    let until = v.valid_until.to_string();
    let (class, verdict, detail) = if v.valid {
        (
            "valid",
            s.get("verify.valid"),
            s.fill("verify.valid_detail", &[("date", &until)]),
        )
    } else if matches!(v.status, RequestStatus::Cleared | RequestStatus::Approved) {
        (
            "invalid",
            s.get("verify.invalid"),
            s.fill("verify.ended", &[("date", &until)]),
        )
    } else {
        let status = s
            .get(&format!("status.{}", v.status.as_str()))
            .to_lowercase();
        (
            "invalid",
            s.get("verify.invalid"),
            s.fill("verify.not_issued", &[("status", &status)]),
        )
    };
    let legs: String = v
        .legs
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(l.area.as_str()),
                l.arrival,
                l.departure
            )
        })
        .collect();
    let checked = v.checked_at.format("%Y-%m-%d %H:%M UTC").to_string();
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<main id="main">
<h1>{title}</h1>
<p class="verdict {class}" data-testid="verdict"><strong>{verdict}</strong> {detail}</p>
<dl class="facts">
<dt>{traveller}</dt><dd data-testid="traveller">{name} ({org})</dd>
<dt>{reference}</dt><dd>{id}</dd>
<dt>{status_label}</dt><dd>{status}</dd>
<dt>{valid_until}</dt><dd>{until}</dd>
</dl>
<table>
<caption>{itinerary}</caption>
<thead><tr><th scope="col">{area}</th><th scope="col">{arrival}</th><th scope="col">{departure}</th></tr></thead>
<tbody>{legs}</tbody>
</table>
<p class="hint">{checked}</p>
</main>
</body>
</html>
"#,
        lang = s.language(),
        title = e(s.get("verify.title")),
        verdict = e(verdict),
        detail = e(&detail),
        traveller = e(s.get("verify.traveller")),
        name = e(&v.traveller_name),
        org = e(&v.org),
        reference = e(s.get("verify.reference")),
        id = v.reference,
        status_label = e(s.get("verify.status")),
        status = e(s.get(&format!("status.{}", v.status.as_str()))),
        valid_until = e(s.get("verify.valid_until")),
        itinerary = e(s.get("verify.itinerary")),
        area = e(s.get("leg.area")),
        arrival = e(s.get("leg.arrival")),
        departure = e(s.get("leg.departure")),
        checked = e(&s.fill("verify.checked", &[("when", &checked)])),
    )
}
