//! `/verify/{token}`: the link printed on a clearance. Anyone holding the paper opens it
//! without an account and sees whether the clearance holds today, for whom and where; the
//! token's signature (`domain::verification`) is the only authority, so nothing else of the
//! request (purpose, traveller id, decisions, comments) is shown. A paper whose itinerary was
//! amended after it was printed is not valid as printed, whatever the request's status.

use actix_web::http::header::{ACCEPT, ACCEPT_LANGUAGE};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::ui::{PAGE_POLICY, Strings, escape_html, standalone_page};
use crate::domain::area::AreaCode;
use crate::domain::request::{RequestRecord, RequestStatus};
use crate::domain::verification;
use crate::http::problem::Problem;

fn issued(status: RequestStatus) -> bool {
    matches!(status, RequestStatus::Cleared | RequestStatus::Approved)
}

/// The path of a request's verification link, when the service has a verification key and
/// the request is a clearance (cleared or approved): what the page prints.
pub fn link(state: &AppState, record: &RequestRecord) -> Option<String> {
    let key = state.verification_key.as_ref()?;
    issued(record.status).then(|| {
        let key = key.expose_secret().as_bytes();
        let token = verification::seal(key, record.id, record.request.legs.legs());
        format!("/verify/{token}")
    })
}

/// What a verification link shows.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// The request's id, as printed.
    reference: Uuid,
    /// Cleared or approved, its itinerary the one printed, its last departure not yet past.
    valid: bool,
    /// False when the request was amended after the link was made: the paper's itinerary
    /// is no longer the request's (`legs` are the current ones).
    as_printed: bool,
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
    fn of(record: &RequestRecord, as_printed: bool, now: DateTime<Utc>) -> Self {
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
        Self {
            reference: record.id,
            valid: issued(record.status) && as_printed && valid_until >= now.date_naive(),
            as_printed,
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
/// organisation, the legs and until when, and whether the itinerary is still the one
/// printed. Public: the link's signature is the authority, and a link not made by this
/// service (or for another request) is not found. HTML for a browser (in the language it
/// asks for; a link that verifies nothing gets a page saying so), JSON otherwise.
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
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let html = header(ACCEPT).is_some_and(|a| a.contains("text/html"));
    let strings = Strings::for_accept_language(header(ACCEPT_LANGUAGE));
    let found = match state.verification_key.as_ref() {
        Some(key) => {
            let key = key.expose_secret().as_bytes();
            match verification::open(key, &token) {
                Some(opened) => state.clearing.verify(opened.id).await?.map(|record| {
                    let as_printed = opened.printed_with(key, record.request.legs.legs());
                    Verification::of(&record, as_printed, Utc::now())
                }),
                None => None,
            }
        }
        None => None,
    };
    Ok(match (found, html) {
        (Some(found), false) => HttpResponse::Ok().json(found),
        (None, false) => return Err(Problem::not_found()),
        (Some(found), true) => page(HttpResponse::Ok(), &strings, &verdict(&found, &strings)),
        // A person who scanned a bad link reads why, in their language, not a JSON problem.
        (None, true) => {
            let body = format!(
                r#"<p class="verdict invalid" data-testid="verdict"><strong>{}</strong> {}</p>"#,
                escape_html(strings.get("verify.invalid")),
                escape_html(strings.get("verify.unknown")),
            );
            page(HttpResponse::NotFound(), &strings, &body)
        }
    })
}

/// A page around `body`, in the reader's language, no script.
fn page(status: HttpResponseBuilder, s: &Strings, body: &str) -> HttpResponse {
    standalone_page(status, s, "verify.title", PAGE_POLICY, body)
}

/// The verdict first, large, then the facts to compare with the paper and the person.
fn verdict(v: &Verification, s: &Strings) -> String {
    let until = v.valid_until.to_string();
    let status_key = format!("status.{}", v.status.as_str());
    let status = s.get(&status_key);
    let (class, verdict, detail) = if v.valid {
        let detail = s.fill("verify.valid_detail", &[("date", &until)]);
        ("valid", s.get("verify.valid"), detail)
    } else if !v.as_printed {
        (
            "invalid",
            s.get("verify.invalid"),
            s.get("verify.amended").to_owned(),
        )
    } else if issued(v.status) {
        let detail = s.fill("verify.ended", &[("date", &until)]);
        ("invalid", s.get("verify.invalid"), detail)
    } else {
        let detail = s.fill("verify.not_issued", &[("status", &status.to_lowercase())]);
        ("invalid", s.get("verify.invalid"), detail)
    };
    let legs: String = v
        .legs
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(l.area.as_str()),
                l.arrival,
                l.departure
            )
        })
        .collect();
    let checked = v.checked_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let e = |key: &str| escape_html(s.get(key));
    format!(
        r#"<p class="verdict {class}" data-testid="verdict"><strong>{verdict}</strong> {detail}</p>
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
"#,
        verdict = escape_html(verdict),
        detail = escape_html(&detail),
        traveller = e("verify.traveller"),
        name = escape_html(&v.traveller_name),
        org = escape_html(&v.org),
        reference = e("verify.reference"),
        id = v.reference,
        status_label = e("verify.status"),
        status = escape_html(status),
        valid_until = e("verify.valid_until"),
        itinerary = e("verify.itinerary"),
        area = e("leg.area"),
        arrival = e("leg.arrival"),
        departure = e("leg.departure"),
        checked = escape_html(&s.fill("verify.checked", &[("when", &checked)])),
    )
}
