//! `/v1/clearance-requests`: submit a request, read one, list them.

use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::conditional::{if_match, tagged};
use super::extract::{DEFAULT_PAGE, next_page_link, page_limit, query_pairs, read_json};
use super::idempotency::ClaimedRequestId;
use crate::auth::Caller;
use crate::domain::air_operator::{self, OperatorCode, Travel};
use crate::domain::approval::StageDecision;
use crate::domain::area::AreaCode;
use crate::domain::criticality::ProgrammeCriticality;
use crate::domain::itinerary::{Itinerary, Leg, Transit};
use crate::domain::person::{EmailAddress, Language};
use crate::domain::policy::{Decision, Stage};
use crate::domain::request::{
    ClearanceRequest, Dependant, OrgId, RequestRecord, RequestStatus, Traveller, TravellerId,
};
use crate::http::problem::Problem;
use crate::store::{NewRequest, RequestFilter};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    traveller: TravellerBody,
    purpose: String,
    programme_criticality: ProgrammeCriticality,
    #[serde(default)]
    mission_sra_reference: Option<String>,
    legs: Vec<LegBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TravellerBody {
    id: String,
    name: String,
    org: String,
    #[serde(default)]
    bsafe_valid_until: Option<NaiveDate>,
    #[serde(default)]
    ssafe_valid_until: Option<NaiveDate>,
    /// Where the service writes to the traveller of this request's changes. Leave it out
    /// when the travel unit tells its travellers itself.
    #[serde(default)]
    email: Option<String>,
    /// `en` or `fr`: the language of those messages (the service's default if left out).
    #[serde(default)]
    language: Option<String>,
    /// Family members travelling with the traveller: an incident's roll-call counts them.
    #[serde(default)]
    dependants: Vec<DependantBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DependantBody {
    name: String,
    /// For example `spouse` or `child`.
    #[serde(default)]
    relationship: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LegBody {
    area: String,
    arrival: NaiveDate,
    departure: NaiveDate,
    /// Passing through without an overnight stay: `airside` (does not leave the airport) or
    /// `landside` (leaves it). Leave it out for a stay. The policy says whether an airside
    /// transit needs clearance.
    #[serde(default)]
    transit: Option<Transit>,
    /// How the leg is travelled into the area. A flight names its operator (the ICAO
    /// designator) and flight number, and is held unless the operator is assessed for the
    /// day of arrival.
    #[serde(default)]
    travel: Option<TravelBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TravelBody {
    mode: TravelMode,
    /// A flight's operator: its three-letter ICAO designator (`KQA`). Flights only.
    #[serde(default)]
    operator: Option<String>,
    /// `KQ310`: required for a flight, optional for UNHAS, none by road.
    #[serde(default)]
    flight_number: Option<String>,
}

#[derive(Deserialize, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum TravelMode {
    Flight,
    Unhas,
    Road,
}

impl TravelBody {
    fn into_domain(self, at: &str) -> Result<Travel, Problem> {
        let number = |required: bool| -> Result<Option<String>, Problem> {
            let field = format!("{at}/flight_number");
            match &self.flight_number {
                Some(n) => Ok(Some(air_operator::flight_number(&field, n)?)),
                None if required => Err(Problem::invalid_field(
                    &field,
                    "a flight names its flight number",
                )),
                None => Ok(None),
            }
        };
        let no_operator = || match self.operator {
            Some(_) => Err(Problem::invalid_field(
                format!("{at}/operator"),
                "only a flight names an operator (UNHAS is its own)",
            )),
            None => Ok(()),
        };
        Ok(match self.mode {
            TravelMode::Flight => {
                let field = format!("{at}/operator");
                let operator = self
                    .operator
                    .as_deref()
                    .ok_or_else(|| Problem::invalid_field(&field, "a flight names its operator"))?;
                Travel::Flight {
                    operator: OperatorCode::parse(&field, operator)?,
                    flight_number: number(true)?.unwrap_or_default(),
                }
            }
            TravelMode::Unhas => {
                no_operator()?;
                Travel::Unhas {
                    flight_number: number(false)?,
                }
            }
            TravelMode::Road => {
                no_operator()?;
                if self.flight_number.is_some() {
                    return Err(Problem::invalid_field(
                        format!("{at}/flight_number"),
                        "a leg by road has no flight number",
                    ));
                }
                Travel::Road
            }
        })
    }
}

impl SubmitBody {
    /// The edge: raw JSON values become domain types, or the first fault is reported.
    fn into_domain(self, today: NaiveDate) -> Result<ClearanceRequest, Problem> {
        let traveller = self.traveller.into_domain("/traveller")?;
        let legs = legs_into_domain(self.legs)?;
        Ok(ClearanceRequest::new(
            traveller,
            &self.purpose,
            self.programme_criticality,
            self.mission_sra_reference.as_deref(),
            Itinerary::parse(legs, today)?,
        )?)
    }
}

impl TravellerBody {
    /// The traveller at `at` (`/traveller`, or `/travellers/2` in a team).
    pub(super) fn into_domain(self, at: &str) -> Result<Traveller, Problem> {
        let t = self;
        Ok(Traveller::new(
            TravellerId::parse(&format!("{at}/id"), &t.id)?,
            &t.name,
            OrgId::parse(&format!("{at}/org"), &t.org)?,
            t.bsafe_valid_until,
            t.ssafe_valid_until,
        )
        .map_err(|e| rebase(e, at))?
        .with_contact(
            t.email
                .map(|e| EmailAddress::parse(&format!("{at}/email"), &e))
                .transpose()?,
            t.language
                .map(|l| Language::parse(&format!("{at}/language"), &l))
                .transpose()?,
        )
        .with_dependants(
            t.dependants
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    Dependant::new(
                        &format!("{at}/dependants/{i}"),
                        &d.name,
                        d.relationship.as_deref(),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
        .map_err(|e| rebase(e, at))?)
    }
}

/// A fault the domain placed under `/traveller`, placed under `at` instead.
fn rebase(mut e: crate::domain::Invalid, at: &str) -> crate::domain::Invalid {
    if let Some(rest) = e.field.strip_prefix("/traveller") {
        e.field = format!("{at}{rest}");
    }
    e
}

/// The legs of a body, as domain legs (their order checked by `Itinerary::parse`).
pub(super) fn legs_into_domain(legs: Vec<LegBody>) -> Result<Vec<Leg>, Problem> {
    legs.into_iter()
        .enumerate()
        .map(|(i, leg)| {
            Ok(Leg {
                area: AreaCode::parse(&format!("/legs/{i}/area"), &leg.area)?,
                arrival: leg.arrival,
                departure: leg.departure,
                transit: leg.transit,
                travel: leg
                    .travel
                    .map(|t| t.into_domain(&format!("/legs/{i}/travel")))
                    .transpose()?,
            })
        })
        .collect()
}

/// A request as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestView<'a> {
    id: Uuid,
    status: RequestStatus,
    submitted_at: DateTime<Utc>,
    traveller: &'a Traveller,
    purpose: &'a str,
    programme_criticality: ProgrammeCriticality,
    mission_sra_reference: Option<&'a str>,
    legs: &'a [Leg],
    decision: &'a Decision,
    /// Where the request is in its approval chain, once escalated.
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<ApprovalView<'a>>,
    version: i64,
    /// The team request it was submitted in (`/v1/teams/{id}`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    team_id: Option<Uuid>,
    /// On a clearance (cleared or approved) answered on its own (read, submitted, amended,
    /// decided), when the service has a verification key: the path of the public link that
    /// checks it, to print with it. Lists leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_url: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ApprovalView<'a> {
    chain: &'a [Stage],
    /// The stage deciding now; absent once the chain is done.
    stage: Option<&'a Stage>,
    since: DateTime<Utc>,
    decisions: &'a [StageDecision],
}

impl<'a> RequestView<'a> {
    /// A request answered on its own (read, submitted, amended, decided): with its
    /// verification link when it is a clearance. Lists leave it out: it is one HMAC per item.
    pub(super) fn single(state: &AppState, record: &'a RequestRecord) -> Self {
        Self {
            verification_url: super::verification::link(state, record),
            ..Self::from(record)
        }
    }
}

impl<'a> From<&'a RequestRecord> for RequestView<'a> {
    fn from(r: &'a RequestRecord) -> Self {
        Self {
            id: r.id,
            status: r.status,
            submitted_at: r.submitted_at,
            traveller: &r.request.traveller,
            purpose: &r.request.purpose,
            programme_criticality: r.request.programme_criticality,
            mission_sra_reference: r.request.mission_sra_reference.as_deref(),
            legs: r.request.legs.legs(),
            decision: &r.decision,
            approval: approval_view(r),
            version: r.version,
            team_id: r.team,
            verification_url: None,
        }
    }
}

fn approval_view(r: &RequestRecord) -> Option<ApprovalView<'_>> {
    r.escalation.as_ref().map(|e| ApprovalView {
        chain: &e.chain,
        stage: (r.status == RequestStatus::Escalated).then(|| e.stage()),
        since: e
            .decisions
            .last()
            .map_or(e.stage_since, |d| d.decided_at.max(e.stage_since)),
        decisions: &e.decisions,
    })
}

/// A new request's `RequestView`, written around the request and decision JSON rendered for
/// the store, so that neither is serialised twice. `RequestView` lists the request's fields
/// in the order `ClearanceRequest` serialises them, between `submitted_at` and `decision`.
fn created_body(
    new: &NewRequest,
    verification_url: Option<&str>,
) -> Result<Vec<u8>, serde_json::Error> {
    let r = &new.record;
    let (request, decision) = (new.request_json(), new.decision_json());
    let fields = request
        .strip_prefix('{')
        .and_then(|f| f.strip_suffix('}'))
        .filter(|f| !f.is_empty())
        .ok_or_else(|| serde::ser::Error::custom("the stored request is not a JSON object"))?;
    let mut body = Vec::with_capacity(request.len() + decision.len() + 160);
    body.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut body, &r.id)?;
    body.extend_from_slice(b",\"status\":");
    serde_json::to_writer(&mut body, &r.status)?;
    body.extend_from_slice(b",\"submitted_at\":");
    serde_json::to_writer(&mut body, &r.submitted_at)?;
    body.push(b',');
    body.extend_from_slice(fields.as_bytes());
    body.extend_from_slice(b",\"decision\":");
    body.extend_from_slice(decision.as_bytes());
    if let Some(approval) = approval_view(r) {
        body.extend_from_slice(b",\"approval\":");
        serde_json::to_writer(&mut body, &approval)?;
    }
    body.extend_from_slice(b",\"version\":");
    serde_json::to_writer(&mut body, &r.version)?;
    if let Some(team) = &r.team {
        body.extend_from_slice(b",\"team_id\":");
        serde_json::to_writer(&mut body, team)?;
    }
    if let Some(url) = verification_url {
        body.extend_from_slice(b",\"verification_url\":");
        serde_json::to_writer(&mut body, url)?;
    }
    body.push(b'}');
    Ok(body)
}

/// Submit a clearance request.
///
/// Each leg is checked against the SRA in force for its area on its dates; the strictest
/// leg decides. The answer (201, stored before it is sent) holds the decision per leg:
/// cleared, held, refused or escalated to the approval chain. A traveller submits for
/// themselves, a travel unit for its organisation's travellers. Send an `Idempotency-Key`
/// so a retry never submits twice.
#[utoipa::path(
    post, path = "/v1/clearance-requests", tag = "clearance requests",
    request_body = SubmitBody,
    responses(
        (status = 201, description = "Decided at once: cleared, conditions, escalated, held or refused. `Location` names the request", body = RequestView,
            headers(
                ("Location" = String, description = "The new request's URL"),
                ("ETag" = String, description = "ETag"),
            )),
        (status = 403, description = "forbidden"),
        (status = 422, description = "invalid_itinerary, leg_in_past, too_many_legs, unknown_area, invalid_email, unsupported_language"),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: SubmitBody = read_json(&req, payload, &state.body).await?;
    let request = body.into_domain(Utc::now().date_naive())?;
    let claimed = req.extensions().get::<ClaimedRequestId>().map(|c| c.0);
    let new = state.clearing.submit(&caller, request, claimed).await?;
    state.metrics.decided(new.record.status);
    let link = super::verification::link(&state, &new.record);
    let body = created_body(&new, link.as_deref()).map_err(|e| {
        tracing::error!(error = %e, "writing a new request's answer");
        Problem::internal()
    })?;
    Ok(tagged(HttpResponse::Created(), new.record.version)
        .insert_header((
            LOCATION,
            format!("/v1/clearance-requests/{}", new.record.id),
        ))
        .content_type(ContentType::json())
        .body(body))
}

/// Amend a request.
///
/// Replaces the itinerary (and purpose, criticality) of a returned or held request; it is
/// decided again, and if escalated re-enters the chain at its first stage. The traveller
/// and the organisation cannot change. Send the `ETag` you read as `If-Match` to apply it
/// only to that version.
#[utoipa::path(
    patch, path = "/v1/clearance-requests/{id}", tag = "clearance requests",
    params(
        ("id" = Uuid, Path, description = "The request's id"),
        ("If-Match" = Option<String>, Header, description = "If-Match"),
    ),
    request_body = SubmitBody,
    responses(
        (status = 200, description = "The amended request, decided again", body = RequestView,
            headers(("ETag" = String, description = "ETag"))),
        (status = 403, description = "forbidden"),
        (status = 409, description = "not_pending, concurrent_update"),
        (status = 422, description = "invalid_itinerary, leg_in_past, too_many_legs, unknown_area, invalid_email, unsupported_language"),
    ),
    security(("bearer" = []))
)]
pub async fn amend(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found())?;
    let expected = if_match(&req)?;
    let body: SubmitBody = read_json(&req, payload, &state.body).await?;
    let request = body.into_domain(Utc::now().date_naive())?;
    let record = state
        .clearing
        .amend(&caller, id, &expected, request)
        .await?;
    Ok(tagged(HttpResponse::Ok(), record.version).json(RequestView::single(&state, &record)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WithdrawBody {
    #[serde(default)]
    comment: Option<String>,
}

/// Acknowledge the security briefings.
///
/// The traveller confirms they read the briefings of the SRA versions their clearance relies
/// on (the request's `decision.briefings`); a clearance waiting for it
/// (`cleared_pending_acknowledgement`) is issued: `cleared`, or `approved` when the approval
/// chain decided it. Audited with the SRA versions. The traveller themselves only. Send the
/// `ETag` you read as `If-Match` to acknowledge only what that version showed.
#[utoipa::path(
    post, path = "/v1/clearance-requests/{id}/acknowledgement", tag = "clearance requests",
    params(
        ("id" = Uuid, Path, description = "The request's id"),
        ("If-Match" = Option<String>, Header, description = "If-Match"),
    ),
    responses(
        (status = 200, description = "The issued clearance", body = RequestView,
            headers(("ETag" = String, description = "ETag"))),
        (status = 403, description = "forbidden"),
        (status = 409, description = "no_briefing_due, concurrent_update"),
    ),
    security(("bearer" = []))
)]
pub async fn acknowledge(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found())?;
    let expected = if_match(&req)?;
    let record = state.clearing.acknowledge(&caller, id, &expected).await?;
    Ok(tagged(HttpResponse::Ok(), record.version).json(RequestView::single(&state, &record)))
}

/// Withdraw a request.
///
/// A pending request (escalated, held or returned) is withdrawn, with an optional comment;
/// the body may be absent, `null` or `{}`. Send the `ETag` you read as `If-Match` to
/// withdraw only that version.
#[utoipa::path(
    post, path = "/v1/clearance-requests/{id}/withdraw", tag = "clearance requests",
    params(
        ("id" = Uuid, Path, description = "The request's id"),
        ("If-Match" = Option<String>, Header, description = "If-Match"),
    ),
    request_body(content = Option<WithdrawBody>, description = "Optional: why"),
    responses(
        (status = 200, description = "The withdrawn request", body = RequestView,
            headers(("ETag" = String, description = "ETag"))),
        (status = 403, description = "forbidden"),
        (status = 409, description = "not_pending, concurrent_update"),
    ),
    security(("bearer" = []))
)]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found())?;
    let expected = if_match(&req)?;
    let comment = withdrawal_comment(&req, payload, &state).await?;
    let record = state
        .clearing
        .withdraw(&caller, id, &expected, comment)
        .await?;
    Ok(tagged(HttpResponse::Ok(), record.version).json(RequestView::single(&state, &record)))
}

/// A withdrawal's reason: optional, and so is the body that carries it. No body, `null` (what
/// generated clients send for "no body") and `{}` all mean none.
pub(super) async fn withdrawal_comment(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Option<String>, Problem> {
    let headers = req.headers();
    let has_body = headers
        .get(actix_web::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || headers.contains_key(actix_web::http::header::TRANSFER_ENCODING);
    let body: WithdrawBody = if has_body {
        read_json::<Option<WithdrawBody>>(req, payload, &state.body)
            .await?
            .unwrap_or_default()
    } else {
        WithdrawBody::default()
    };
    Ok(body
        .comment
        .map(|c| crate::domain::bounded_text("/comment", &c, 2000))
        .transpose()?)
}

#[derive(Serialize, utoipa::ToSchema)]
struct AuditTrail {
    items: Vec<crate::domain::audit::AuditEntry>,
}

/// Read a request's audit trail.
///
/// Every change to the request, oldest first: who, when, from which status to which, at
/// which stage, with the comment; each entry carries the hash of the one before.
#[utoipa::path(
    get, path = "/v1/clearance-requests/{id}/audit", tag = "clearance requests",
    params(("id" = Uuid, Path, description = "The request's id")),
    responses((status = 200, description = "Every change to the request, oldest first, hash-chained", body = AuditTrail)),
    security(("bearer" = []))
)]
pub async fn audit(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found())?;
    let items = state.clearing.audit_trail(&caller, id).await?;
    Ok(HttpResponse::Ok().json(AuditTrail { items }))
}

/// Read a request.
///
/// The request, its decision per leg and where it stands in its approval chain, with its
/// version as `ETag`. The traveller, their organisation's travel unit, the approvers it
/// reached and admins may read it; anyone else gets 404.
#[utoipa::path(
    get, path = "/v1/clearance-requests/{id}", tag = "clearance requests",
    params(("id" = Uuid, Path, description = "The request's id")),
    responses((status = 200, description = "The request, its decision per leg and where it stands", body = RequestView,
        headers(("ETag" = String, description = "ETag")))),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    // A malformed id names no request: the same 404 as any other unknown one.
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found())?;
    let record = state.clearing.get(&caller, id).await?;
    Ok(tagged(HttpResponse::Ok(), record.version).json(RequestView::single(&state, &record)))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Page<'a> {
    items: Vec<RequestView<'a>>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// List requests.
///
/// The caller's requests (a travel unit: its organisation's; an admin: all), newest first,
/// optionally only those of a status, a traveller, an area and travel dates. Page with
/// `cursor` (`next_cursor`, or the `Link` header's `rel="next"`), keeping the filters.
#[utoipa::path(
    get, path = "/v1/clearance-requests", tag = "clearance requests",
    params(
        ("status" = Option<RequestStatus>, Query, description = "Only requests in this status"),
        ("traveller" = Option<String>, Query, description = "Only this traveller's requests (their id)"),
        ("area" = Option<String>, Query, description = "Only requests with a leg in this area"),
        ("travel_from" = Option<NaiveDate>, Query, description = "Only requests with a leg on or after this day (its departure)"),
        ("travel_until" = Option<NaiveDate>, Query, description = "Only requests with a leg on or before this day (its arrival); with `area` and `travel_from`, a leg in that area overlapping those days"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size"),
    ),
    responses(
        (status = 200, description = "The caller's requests (a travel unit: its organisation's), newest first", body = Page),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let mut filter = RequestFilter::default();
    let mut before = None;
    let mut limit = DEFAULT_PAGE;
    let date = |name: &str, value: &str| {
        value
            .parse::<NaiveDate>()
            .map_err(|_| Problem::invalid_query(name, "a day, YYYY-MM-DD"))
    };
    let known = [
        "status",
        "traveller",
        "area",
        "travel_from",
        "travel_until",
        "cursor",
        "limit",
    ];
    for (name, value) in query_pairs(&req, &known)? {
        match name.as_str() {
            "status" => {
                filter.status = Some(
                    value
                        .parse::<RequestStatus>()
                        .map_err(|e| Problem::invalid_query("status", e))?,
                );
            }
            "traveller" => {
                filter.traveller = Some(
                    TravellerId::parse("traveller", &value)
                        .map_err(|e| Problem::invalid_query("traveller", e.detail))?,
                );
            }
            "area" => {
                filter.legs.area = Some(
                    AreaCode::parse("area", &value)
                        .map_err(|e| Problem::invalid_query("area", e.detail))?,
                );
            }
            "travel_from" => filter.legs.from = Some(date("travel_from", &value)?),
            "travel_until" => filter.legs.until = Some(date("travel_until", &value)?),
            "cursor" => before = Some(decode_cursor(&value)?),
            _ => limit = page_limit(&value)?,
        }
    }
    // One more than the page: a next page exists only if it came, so a full last page
    // carries no cursor.
    let mut records = state
        .clearing
        .list(&caller, filter, before, limit + 1)
        .await?;
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            records
                .last()
                .map(|r| URL_SAFE_NO_PAD.encode(r.id.as_bytes()))
        })
        .flatten();
    let mut response = HttpResponse::Ok();
    if let Some(link) = next_cursor.as_deref().and_then(|c| next_page_link(&req, c)) {
        response.insert_header(link);
    }
    Ok(response.json(Page {
        items: records.iter().map(RequestView::from).collect(),
        next_cursor,
    }))
}

fn decode_cursor(raw: &str) -> Result<Uuid, Problem> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| Problem::invalid_query("cursor", "not a cursor this service issued"))
}

/// Follow one's requests live.
///
/// Server-sent events `changed` (`{"request_id", "version", "status", "traveller_id", "org",
/// "at"}`) for every request the caller may list as it is submitted or changes, on whichever
/// instance: a traveller's own, a travel unit's organisation's, every one for an admin. Read
/// the request for the rest. A heartbeat comment every 15 s, `lagged` if the listener fell
/// behind (read again), and `token_expired` when the token that opened the stream expires,
/// after which the stream ends: reconnect with a new token.
#[utoipa::path(
    get, path = "/v1/clearance-requests/stream", tag = "clearance requests",
    responses(
        (status = 200, description = "Server-sent events `changed`, `lagged` and `token_expired`; a heartbeat comment every 15 s", content_type = "text/event-stream", body = String),
        (status = 403, description = "forbidden, token_org_required"),
    ),
    security(("bearer" = []))
)]
pub async fn stream(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, Problem> {
    let scope = state.clearing.follow_scope(&caller)?;
    Ok(super::sse::stream(
        &caller,
        state.shutdown.clone(),
        state.events.subscribe_requests(),
        ": following your requests".to_owned(),
        move |change| {
            crate::app::access::covers(&scope, &change.org, &change.traveller_id).then(|| {
                let data = serde_json::to_string(change).unwrap_or_default();
                format!("event: changed\ndata: {data}\n\n")
            })
        },
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{Days, SubsecRound, Utc};

    use super::*;
    use crate::domain::approval::Escalation;
    use crate::domain::audit::{AuditAction, AuditDraft};
    use crate::domain::policy::{DecisionCode, LegDecision, Outcome};
    use crate::domain::risk::RiskLevel;
    use crate::domain::sra::SraRef;

    fn new_request(escalated: bool) -> NewRequest {
        let today = Utc::now().date_naive();
        let leg = |area: &str, from: u64| {
            Leg::stay(
                AreaCode::parse("", area).unwrap(),
                today + Days::new(from),
                today + Days::new(from + 3),
            )
        };
        let request = ClearanceRequest::new(
            Traveller::new(
                TravellerId::parse("", "t-1").unwrap(),
                "Aïcha \"Ngozi\" Okafor",
                OrgId::parse("", "WFP").unwrap(),
                Some(today + Days::new(300)),
                None,
            )
            .unwrap(),
            r"Distribution monitoring \ with a backslash",
            ProgrammeCriticality::Pc1,
            escalated.then_some("MSRA-2026-17"),
            Itinerary::parse(vec![leg("TST-A", 1), leg("TST-B", 5)], today).unwrap(),
        )
        .unwrap();
        let now = Utc::now().trunc_subsecs(6);
        let (outcome, status) = if escalated {
            (Outcome::Escalated, RequestStatus::Escalated)
        } else {
            (Outcome::Cleared, RequestStatus::Cleared)
        };
        let record = RequestRecord {
            id: Uuid::now_v7(),
            status,
            submitted_at: now,
            submitted_by: "t-1".into(),
            decision: Decision {
                outcome,
                code: DecisionCode::WithinAcceptedRisk,
                reason: "within the accepted risk".into(),
                approval_chain: if escalated {
                    vec!["hq".into(), "dg".into()]
                } else {
                    vec![]
                },
                late: None,
                briefings: Vec::new(),
                acknowledged: Vec::new(),
                issues_as: None,
                legs: vec![LegDecision {
                    area: request.legs.legs()[0].area.clone(),
                    sra: Some(SraRef {
                        id: Uuid::now_v7(),
                        version: 3,
                    }),
                    risk: Some(RiskLevel::Medium),
                    outcome,
                    code: DecisionCode::WithinAcceptedRisk,
                    reason: "medium risk".into(),
                    conditions: vec!["Check in with the area security adviser".into()],
                }],
            },
            escalation: escalated.then(|| Escalation::start(vec!["hq".into(), "dg".into()], now)),
            request,
            version: 1,
            team: None,
        };
        let audit = AuditDraft {
            actor: "t-1".into(),
            action: AuditAction::Submitted,
            from: None,
            to: status,
            stage: None,
            comment: None,
            on_behalf_of: None,
        };
        NewRequest::new(record, audit).unwrap()
    }

    #[test]
    fn a_new_request_is_answered_exactly_as_its_view_serialises() {
        for escalated in [false, true] {
            for link in [
                None,
                Some("/verify/0190d6a4-0000-7000-8000-000000000000.tag"),
            ] {
                let new = new_request(escalated);
                let body = created_body(&new, link).unwrap();
                let view = RequestView {
                    verification_url: link.map(str::to_owned),
                    ..RequestView::from(&new.record)
                };
                assert_eq!(
                    String::from_utf8(body).unwrap(),
                    String::from_utf8(serde_json::to_vec(&view).unwrap()).unwrap(),
                    "escalated: {escalated}, link: {link:?}"
                );
            }
        }
    }
}
