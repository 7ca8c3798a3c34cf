//! `/v1/sras`: Security Risk Assessments, published in one step or drafted, endorsed,
//! approved and published; withdrawn; listed. Every publication says how many requests it
//! has screened again.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::conditional::json_tagged_by_content;
use super::extract::{page_limit, query_pairs, read_json};
use super::guard::{FollowRescreening, Guarded, ManageSras, ReadSras};
use crate::app::publishing::Rescreening;
use crate::app::sra_document::{SignoffBody, SraBody};
use crate::domain::area::AreaCode;
use crate::domain::sra::Sra;
use crate::http::problem::Problem;

/// An SRA, and for changes that affect decisions, the re-screening they started.
#[derive(Serialize, utoipa::ToSchema)]
struct SraView<'a> {
    #[serde(flatten)]
    sra: &'a Sra,
    #[serde(skip_serializing_if = "Option::is_none")]
    rescreening: Option<Rescreening>,
}

fn sra_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found())
}

/// Publish an SRA in one step.
///
/// For an SRA endorsed and approved elsewhere: the body carries both sign-offs. It takes
/// effect on its date; issued clearances it touches are screened again (the answer names
/// the job). `security-analyst`.
#[utoipa::path(
    post, path = "/v1/sras", tag = "sras",
    request_body = SraBody,
    responses(
        (status = 201, description = "Published in one step, with the re-screening it started", body = SraView,
            headers(("Location" = String, description = "The SRA's URL"))),
        (status = 403, description = "forbidden"),
        (status = 409, description = "sra_version_exists"),
        (status = 422, description = "unknown_area, residual_risk_contradicts_matrix, sra_overlap"),
    ),
    security(("bearer" = []))
)]
pub async fn publish(
    state: web::Data<AppState>,
    caller: Guarded<ManageSras>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: SraBody = read_json(&req, payload, &state.body).await?;
    let parts = body.into_parts()?;
    let (sra, rescreening) = state
        .publishing
        .publish_sra(
            parts.input,
            parts.endorsement,
            parts.approval,
            &caller.subject,
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/sras/{}", sra.id)))
        .json(SraView {
            sra: &sra,
            rescreening: Some(rescreening),
        }))
}

/// Draft an SRA.
///
/// A new SRA version for its area, to be endorsed by the Security Management Team and
/// approved by the Designated Official before publication. `security-analyst`.
#[utoipa::path(
    post, path = "/v1/sras/drafts", tag = "sras",
    request_body = SraBody,
    responses(
        (status = 201, description = "A draft: endorse, approve, then publish it", body = SraView,
            headers(("Location" = String, description = "The SRA's URL"))),
        (status = 403, description = "forbidden"),
        (status = 422, description = "unknown_area, residual_risk_contradicts_matrix"),
    ),
    security(("bearer" = []))
)]
pub async fn draft(
    state: web::Data<AppState>,
    _caller: Guarded<ManageSras>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: SraBody = read_json(&req, payload, &state.body).await?;
    let parts = body.into_parts()?;
    if parts.endorsement.is_some() || parts.approval.is_some() {
        return Err(Problem::invalid_field(
            if parts.endorsement.is_some() {
                "/endorsement"
            } else {
                "/approval"
            },
            "a draft is endorsed and approved through its own steps",
        ));
    }
    let sra = state.publishing.create_draft(parts.input).await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/sras/{}", sra.id)))
        .json(SraView {
            sra: &sra,
            rescreening: None,
        }))
}

/// Read an SRA version.
///
/// Its threats, residual risk, measures, sign-offs and status. `security-analyst`,
/// approvers and `admin`.
#[utoipa::path(
    get, path = "/v1/sras/{id}", tag = "sras",
    params(("id" = Uuid, Path, description = "The SRA's id")),
    responses(
        (status = 200, description = "The SRA version", body = SraView,
            headers(("ETag" = String, description = "ETag"))),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    _caller: Guarded<ReadSras>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let sra = state.publishing.get_sra(sra_id(&id)?).await?;
    json_tagged_by_content(&SraView {
        sra: &sra,
        rescreening: None,
    })
}

/// The Security Management Team's endorsement, or the approval that follows it.
#[derive(Clone, Copy)]
enum SignoffStep {
    Endorse,
    Approve,
}

async fn sign_off(
    state: web::Data<AppState>,
    _caller: Guarded<ManageSras>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    step: SignoffStep,
) -> Result<HttpResponse, Problem> {
    let id = sra_id(&id)?;
    let body: SignoffBody = read_json(&req, payload, &state.body).await?;
    let signoff = body.into_signoff("")?;
    let sra = match step {
        SignoffStep::Endorse => state.publishing.endorse(id, signoff).await?,
        SignoffStep::Approve => state.publishing.approve(id, signoff).await?,
    };
    Ok(HttpResponse::Ok().json(SraView {
        sra: &sra,
        rescreening: None,
    }))
}

/// Record the endorsement.
///
/// The Security Management Team's endorsement of a draft: who and on which day (not in the
/// future). `security-analyst`.
#[utoipa::path(
    post, path = "/v1/sras/{id}/endorsement", tag = "sras",
    params(("id" = Uuid, Path, description = "The SRA's id")),
    request_body = SignoffBody,
    responses(
        (status = 200, description = "Endorsed by the Security Management Team", body = SraView),
        (status = 403, description = "forbidden"),
        (status = 409, description = "concurrent_update"),
        (status = 422, description = "invalid_sra_transition"),
    ),
    security(("bearer" = []))
)]
pub async fn endorse(
    state: web::Data<AppState>,
    caller: Guarded<ManageSras>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    sign_off(state, caller, id, req, payload, SignoffStep::Endorse).await
}

/// Record the approval.
///
/// The Designated Official's approval of an endorsed draft: who and on which day (not in
/// the future). `security-analyst`.
#[utoipa::path(
    post, path = "/v1/sras/{id}/approval", tag = "sras",
    params(("id" = Uuid, Path, description = "The SRA's id")),
    request_body = SignoffBody,
    responses(
        (status = 200, description = "Approved by the Designated Official", body = SraView),
        (status = 403, description = "forbidden"),
        (status = 409, description = "concurrent_update"),
        (status = 422, description = "sra_not_endorsed, invalid_sra_transition"),
    ),
    security(("bearer" = []))
)]
pub async fn approve(
    state: web::Data<AppState>,
    caller: Guarded<ManageSras>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    sign_off(state, caller, id, req, payload, SignoffStep::Approve).await
}

/// Publish an approved draft.
///
/// It takes effect on its date; issued clearances it touches are screened again (the answer
/// names the job). `security-analyst`.
#[utoipa::path(
    post, path = "/v1/sras/{id}/publish", tag = "sras",
    params(("id" = Uuid, Path, description = "The SRA's id")),
    responses(
        (status = 200, description = "Published, with the re-screening it started", body = SraView),
        (status = 403, description = "forbidden"),
        (status = 409, description = "sra_version_exists, concurrent_update"),
        (status = 422, description = "sra_not_endorsed, sra_not_approved, sra_overlap, invalid_sra_transition"),
    ),
    security(("bearer" = []))
)]
pub async fn publish_draft(
    state: web::Data<AppState>,
    caller: Guarded<ManageSras>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (sra, rescreening) = state
        .publishing
        .publish(sra_id(&id)?, &caller.subject)
        .await?;
    Ok(HttpResponse::Ok().json(SraView {
        sra: &sra,
        rescreening: Some(rescreening),
    }))
}

/// Withdraw a published SRA.
///
/// Requests it touched are screened again against what remains in force (the answer names
/// the job). `security-analyst`.
#[utoipa::path(
    post, path = "/v1/sras/{id}/withdraw", tag = "sras",
    params(("id" = Uuid, Path, description = "The SRA's id")),
    responses(
        (status = 200, description = "Withdrawn, with the re-screening it started", body = SraView),
        (status = 403, description = "forbidden"),
        (status = 409, description = "concurrent_update"),
        (status = 422, description = "invalid_sra_transition"),
    ),
    security(("bearer" = []))
)]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Guarded<ManageSras>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (sra, rescreening) = state
        .publishing
        .withdraw(sra_id(&id)?, &caller.subject)
        .await?;
    Ok(HttpResponse::Ok().json(SraView {
        sra: &sra,
        rescreening: Some(rescreening),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct SraList {
    items: Vec<Sra>,
}

/// List SRAs.
///
/// Every SRA version with its status, optionally of one area. `security-analyst`, approvers
/// and `admin`.
#[utoipa::path(
    get, path = "/v1/sras", tag = "sras",
    params(("area" = Option<String>, Query, description = "Only this area's SRAs")),
    responses(
        (status = 200, description = "SRA versions, every state", body = SraList),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    _caller: Guarded<ReadSras>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let area = query_pairs(&req, &["area"])?
        .into_iter()
        .next()
        .map(|(_, code)| {
            AreaCode::parse("area", &code).map_err(|e| Problem::invalid_query("area", e.detail))
        })
        .transpose()?;
    let items = state.publishing.list_sras(area.as_ref()).await?;
    Ok(HttpResponse::Ok().json(SraList { items }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct RescreenList {
    items: Vec<crate::store::RescreenJob>,
}

/// List re-screenings.
///
/// The re-screenings under way (oldest work first is the worker's business; here the newest
/// first), then the latest finished, `limit` in all: what an analyst watches
/// after a change of risk. `security-analyst` or `admin`.
#[utoipa::path(
    get, path = "/v1/rescreening", tag = "sras",
    params(("limit" = Option<u32>, Query, description = "How many jobs")),
    responses(
        (status = 200, description = "Unfinished re-screenings first, then the latest finished", body = RescreenList),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn rescreenings(
    state: web::Data<AppState>,
    _caller: Guarded<FollowRescreening>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let mut limit = super::extract::DEFAULT_PAGE;
    for (_, value) in query_pairs(&req, &["limit"])? {
        limit = page_limit(&value)?;
    }
    let items = state.publishing.recent_rescreen_jobs(limit).await?;
    Ok(HttpResponse::Ok().json(RescreenList { items }))
}

/// Follow a re-screening.
///
/// How far the job started by an SRA change or a suspension got: requests screened, moved,
/// and whether it is done. `security-analyst` or `admin`.
#[utoipa::path(
    get, path = "/v1/rescreening/{id}", tag = "sras",
    params(("id" = Uuid, Path, description = "The re-screening job's id")),
    responses(
        (status = 200, description = "How far the re-screening got", body = crate::store::RescreenJob,
            headers(("ETag" = String, description = "ETag"))),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn rescreening(
    state: web::Data<AppState>,
    _caller: Guarded<FollowRescreening>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let job = state.publishing.rescreen_job(sra_id(&id)?).await?;
    json_tagged_by_content(&job)
}
