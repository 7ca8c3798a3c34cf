//! `/v1/delegations`: approvers hand their stage authority to a colleague for some days.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::read_json;
use crate::app::delegations::DelegationDraft;
use crate::auth::Caller;
use crate::domain::delegation::Delegation;
use crate::http::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DelegationBody {
    /// The stage whose authority passes, e.g. `dg`.
    stage: String,
    /// Who may act with it (the subject of their tokens).
    delegate: String,
    /// Whose authority: the caller's own if left out; an admin may name any approver.
    #[serde(default)]
    delegator: Option<String>,
    /// The first day it holds (UTC).
    from: NaiveDate,
    /// The last day it holds (UTC), included.
    until: NaiveDate,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DelegationList {
    items: Vec<Delegation>,
}

/// Delegate a stage's authority.
///
/// From `from` to `until`, the delegate may claim and decide the stage's items as the
/// delegator could; the audit trail names both, and the four-eyes rules apply to both. A
/// delegate may pass it on once more; loops are refused. An approver of the stage for
/// themselves, or an `admin` for any approver.
#[utoipa::path(
    post, path = "/v1/delegations", tag = "escalations",
    request_body = DelegationBody,
    responses(
        (status = 201, description = "Given", body = Delegation),
        (status = 403, description = "forbidden"),
        (status = 422, description = "delegation_to_self, delegation_loop, delegation_chain_too_long, invalid_date_range"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: DelegationBody = read_json(&req, payload, &state.body).await?;
    let delegation = state
        .delegations
        .create(
            &caller,
            DelegationDraft {
                stage: body.stage,
                delegate: body.delegate,
                delegator: body.delegator,
                from: body.from,
                until: body.until,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(delegation))
}

/// List delegations.
///
/// Those the caller gave or received; every one for an `admin`. Newest first, revoked ones
/// included.
#[utoipa::path(
    get, path = "/v1/delegations", tag = "escalations",
    responses((status = 200, description = "The delegations", body = DelegationList)),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, Problem> {
    let items = state.delegations.list(&caller).await?;
    Ok(HttpResponse::Ok().json(DelegationList { items }))
}

/// End a delegation.
///
/// It holds no more from now; decisions already made stand. Its delegator, its delegate or
/// an `admin`.
#[utoipa::path(
    delete, path = "/v1/delegations/{id}", tag = "escalations",
    params(("id" = String, Path, description = "The delegation's id")),
    responses(
        (status = 200, description = "Revoked", body = Delegation),
        (status = 404, description = "not_found"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let delegation = state.delegations.revoke(&caller, &id).await?;
    Ok(HttpResponse::Ok().json(delegation))
}
