//! `/v1/webhooks`: a travel unit registers where its organisation's status changes go,
//! and sees every delivery attempt.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::extract::{DEFAULT_PAGE, page_limit, query_pairs, read_json};
use crate::auth::{Caller, Role};
use crate::domain::request::OrgId;
use crate::domain::webhook::{Webhook, check_subscription};
use crate::notify::deliverer::COULD_NOT_DELIVER;
use crate::notify::webhook_targets::check_target;
use crate::problem::{Code, Problem};
use crate::store::DeliveryView;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
    events: Vec<String>,
    secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Items<T> {
    items: Vec<T>,
}

/// Webhooks belong to a travel unit's organisation.
fn organisation(caller: &Caller) -> Result<OrgId, Problem> {
    match (&caller.org, caller.has(Role::TravelUnit)) {
        (Some(org), true) => Ok(org.clone()),
        _ => Err(Problem::forbidden(
            "webhooks are managed by a travel unit, with its organisation in the token",
        )),
    }
}

async fn own_webhook(state: &AppState, caller: &Caller, raw: &str) -> Result<Webhook, Problem> {
    let org = organisation(caller)?;
    let id = Uuid::parse_str(raw).map_err(|_| Problem::not_found())?;
    match state.store.get_webhook(id).await? {
        Some(hook) if hook.org == org => Ok(hook),
        _ => Err(Problem::not_found()),
    }
}

#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "Registered; events are signed with the secret (HMAC-SHA256)", body = Webhook,
            headers(("Location" = String, description = "The webhook's URL"))),
        (status = 403, description = "forbidden"),
        (status = 422, description = "webhook_target_forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn register(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let org = organisation(&caller)?;
    let body: WebhookBody = read_json(&req, payload, &state.body).await?;
    check_subscription(&body.url, &body.events, &body.secret)?;
    check_target(&state.webhook_targets, &body.url)
        .await
        .map_err(|why| Problem::new(Code::WebhookTargetForbidden, why).at("/url"))?;
    let hook = Webhook {
        id: Uuid::now_v7(),
        org,
        url: body.url,
        events: body.events,
        secret: body.secret,
        created_by: caller.subject.clone(),
        created_at: Utc::now(),
    };
    state.store.create_webhook(&hook).await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/webhooks/{}", hook.id)))
        .json(&hook))
}

#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The organisation's webhooks", body = Items<Webhook>),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, Problem> {
    let org = organisation(&caller)?;
    let items = state.store.list_webhooks(&org).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Removed; nothing more is delivered to it"),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let hook = own_webhook(&state, &caller, &id).await?;
    state.store.delete_webhook(hook.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The webhook's id"),
        ("limit" = Option<u32>, Query, description = "How many, newest first, 1 to 500 (default 50)"),
    ),
    responses(
        (status = 200, description = "Deliveries with every attempt", body = Items<DeliveryView>),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let hook = own_webhook(&state, &caller, &id).await?;
    let mut limit = DEFAULT_PAGE;
    for (_, value) in query_pairs(&req, &["limit"])? {
        limit = page_limit(&value)?;
    }
    let mut items: Vec<DeliveryView> = state.store.list_deliveries(hook.id, limit).await?;
    // How long a connection took to fail tells a refused port from a filtered one.
    for attempt in items.iter_mut().flat_map(|d| d.attempts.iter_mut()) {
        if attempt.error.as_deref() == Some(COULD_NOT_DELIVER) {
            attempt.duration_ms = None;
        }
    }
    Ok(HttpResponse::Ok().json(Items { items }))
}
