//! `/v1/teams`: one mission for several travellers, submitted, read, amended, withdrawn and
//! decided as one. Each member is also a clearance request of its own.

use actix_web::http::header::LOCATION;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::clearance_requests::{
    LegBody, RequestView, TravellerBody, WithdrawBody, legs_into_domain, withdrawal_comment,
};
use super::extract::read_json;
use super::idempotency::ClaimedRequestId;
use crate::app::approvals::Exception;
use crate::app::clearing::Mission;
use crate::auth::Caller;
use crate::domain::approval::Verdict;
use crate::domain::criticality::ProgrammeCriticality;
use crate::domain::itinerary::Itinerary;
use crate::domain::request::RequestRecord;
use crate::http::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    /// The members: 2 to 100 travellers, each with their own training dates.
    travellers: Vec<TravellerBody>,
    purpose: String,
    programme_criticality: ProgrammeCriticality,
    #[serde(default)]
    mission_sra_reference: Option<String>,
    /// The itinerary every member travels.
    legs: Vec<LegBody>,
}

/// A team's mission, as amended: purpose, criticality and itinerary.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MissionBody {
    purpose: String,
    programme_criticality: ProgrammeCriticality,
    #[serde(default)]
    mission_sra_reference: Option<String>,
    legs: Vec<LegBody>,
}

impl MissionBody {
    fn into_domain(self) -> Result<Mission, Problem> {
        let legs = legs_into_domain(self.legs)?;
        Ok(Mission {
            purpose: self.purpose,
            programme_criticality: self.programme_criticality,
            mission_sra_reference: self.mission_sra_reference,
            legs: Itinerary::parse(legs, Utc::now().date_naive())?,
        })
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TeamDecisionBody {
    /// The verdict for every member waiting at the stage, except those in `exceptions`.
    decision: Verdict,
    comment: String,
    /// The stage decided; needed only when members wait at several.
    #[serde(default)]
    stage: Option<String>,
    /// Members decided otherwise: "approve all but X".
    #[serde(default)]
    exceptions: Vec<ExceptionBody>,
    /// The members the approver saw waiting at the stage (their request ids). When given,
    /// nothing is decided if others wait there now (409 `concurrent_update` with `waiting`).
    #[serde(default)]
    members: Option<Vec<Uuid>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ExceptionBody {
    request_id: Uuid,
    decision: Verdict,
    /// Why this member is decided otherwise.
    comment: String,
}

/// A team as the API shows it: its members the caller may read, in the order submitted.
#[derive(Serialize, utoipa::ToSchema)]
struct TeamView<'a> {
    id: Uuid,
    members: Vec<RequestView<'a>>,
}

fn team_view(id: Uuid, members: &[RequestRecord]) -> TeamView<'_> {
    TeamView {
        id,
        members: members.iter().map(RequestView::from).collect(),
    }
}

fn team_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found())
}

/// Submit a team request.
///
/// One mission and one itinerary for 2 to 100 travellers. Each is decided on their own
/// prerequisites, then the policy's headcount rule across the team; all members are stored
/// together or not at all, each as a clearance request of its own with the team's id. A
/// travel unit submits for its organisation's travellers; a traveller for a team they
/// travel in, of their organisation. Send an `Idempotency-Key` so a retry never submits twice.
#[utoipa::path(
    post, path = "/v1/teams", tag = "teams",
    request_body = TeamBody,
    responses(
        (status = 201, description = "Every member decided and stored. `Location` names the team", body = TeamView,
            headers(("Location" = String, description = "The new team's URL"))),
        (status = 403, description = "forbidden"),
        (status = 422, description = "team_size, duplicate_traveller, invalid_itinerary, leg_in_past, too_many_legs, unknown_area, invalid_email, unsupported_language"),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: TeamBody = read_json(&req, payload, &state.body).await?;
    let travellers = body
        .travellers
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.into_domain(&format!("/travellers/{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mission = MissionBody {
        purpose: body.purpose,
        programme_criticality: body.programme_criticality,
        mission_sra_reference: body.mission_sra_reference,
        legs: body.legs,
    }
    .into_domain()?;
    let claimed = req.extensions().get::<ClaimedRequestId>().map(|c| c.0);
    let (id, unit) = state
        .clearing
        .submit_team(&caller, mission, travellers, claimed)
        .await?;
    let members: Vec<RequestRecord> = unit.iter().map(|n| n.record.clone()).collect();
    for member in &members {
        state.metrics.decided(member.status);
    }
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/teams/{id}")))
        .json(team_view(id, &members)))
}

/// Read a team.
///
/// The members the caller may read: a travel unit its organisation's, a traveller their own
/// and those of a team they submitted, approvers those that reached them. A team none of
/// whose members the caller may read is 404.
#[utoipa::path(
    get, path = "/v1/teams/{id}", tag = "teams",
    params(("id" = Uuid, Path, description = "The team's id")),
    responses((status = 200, description = "The team's members", body = TeamView)),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = team_id(&id)?;
    let team = state.clearing.team(&caller, id).await?;
    Ok(HttpResponse::Ok().json(team_view(team.id, &team.members)))
}

/// Amend a team.
///
/// A new mission (purpose, criticality, itinerary) for every member still open; they must
/// all be held or returned, and each is decided afresh. Members that ended stay as they
/// are; a single member is amended through its own request.
#[utoipa::path(
    patch, path = "/v1/teams/{id}", tag = "teams",
    params(("id" = Uuid, Path, description = "The team's id")),
    request_body = MissionBody,
    responses(
        (status = 200, description = "The team, its open members decided again", body = TeamView),
        (status = 403, description = "forbidden"),
        (status = 409, description = "not_pending, concurrent_update"),
        (status = 422, description = "invalid_itinerary, leg_in_past, too_many_legs, unknown_area"),
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
    let id = team_id(&id)?;
    let body: MissionBody = read_json(&req, payload, &state.body).await?;
    let team = state
        .clearing
        .amend_team(&caller, id, body.into_domain()?)
        .await?;
    Ok(HttpResponse::Ok().json(team_view(team.id, &team.members)))
}

/// Withdraw a team.
///
/// Every member still pending (escalated, held, returned) is withdrawn in one step, with an
/// optional comment; the body may be absent, `null` or `{}`.
#[utoipa::path(
    post, path = "/v1/teams/{id}/withdraw", tag = "teams",
    params(("id" = Uuid, Path, description = "The team's id")),
    request_body(content = Option<WithdrawBody>, description = "Optional: why"),
    responses(
        (status = 200, description = "The team, its pending members withdrawn", body = TeamView),
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
    let id = team_id(&id)?;
    let comment = withdrawal_comment(&req, payload, &state).await?;
    let team = state.clearing.withdraw_team(&caller, id, comment).await?;
    Ok(HttpResponse::Ok().json(team_view(team.id, &team.members)))
}

/// Decide a team.
///
/// One decision for every member waiting at the approver's stage, but for the exceptions
/// named ("approve all but X", each with its comment). Each member is claimed and decided as
/// on its own (nobody else's live claim), nobody decides a team they travel in, and nothing
/// is decided unless all can be. Name the members you saw in `members` so that one who
/// reached the stage since is not decided unseen.
#[utoipa::path(
    post, path = "/v1/teams/{id}/decision", tag = "teams",
    params(("id" = Uuid, Path, description = "The team's id")),
    request_body = TeamDecisionBody,
    responses(
        (status = 200, description = "The members decided, in their new state", body = TeamView),
        (status = 403, description = "forbidden, four_eyes_same_approver, four_eyes_own_request"),
        (status = 404, description = "not_found"),
        (status = 409, description = "wrong_stage, claimed_by_another, concurrent_update"),
        (status = 422, description = "comment_required, invalid_field"),
    ),
    security(("bearer" = []))
)]
pub async fn decide(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let id = team_id(&id)?;
    let body: TeamDecisionBody = read_json(&req, payload, &state.body).await?;
    if body.comment.chars().count() > 2000 {
        return Err(Problem::invalid_field(
            "/comment",
            "at most 2000 characters",
        ));
    }
    if body.stage.as_ref().is_some_and(|s| s.chars().count() > 64) {
        return Err(Problem::invalid_field("/stage", "at most 64 characters"));
    }
    if body.exceptions.len() > crate::domain::team::MAX_MEMBERS
        || body
            .members
            .as_ref()
            .is_some_and(|m| m.len() > crate::domain::team::MAX_MEMBERS)
    {
        return Err(Problem::invalid_field(
            if body.exceptions.len() > crate::domain::team::MAX_MEMBERS {
                "/exceptions"
            } else {
                "/members"
            },
            "at most one per member of a team",
        ));
    }
    let mut exceptions = Vec::with_capacity(body.exceptions.len());
    for (i, e) in body.exceptions.into_iter().enumerate() {
        if e.comment.chars().count() > 2000 {
            return Err(Problem::invalid_field(
                format!("/exceptions/{i}/comment"),
                "at most 2000 characters",
            ));
        }
        exceptions.push(Exception {
            request: e.request_id,
            verdict: e.decision,
            comment: e.comment,
        });
    }
    let members = state
        .approvals
        .decide_team(
            &caller,
            id,
            body.stage.as_deref(),
            body.decision,
            &body.comment,
            &exceptions,
            body.members.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(team_view(id, &members)))
}
