//! `/v1/webhooks`: a travel unit registers where its organisation's status changes go,
//! and sees every delivery attempt.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::{DEFAULT_PAGE, page_limit, query_pairs, read_json};
use super::guard::{Guarded, ManageWebhooks};
use crate::app::webhooks::Subscription;
use crate::domain::webhook::Webhook;
use crate::http::problem::Problem;
#[allow(unused_imports)]
use crate::store::DeliveryView;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
    events: Vec<String>,
    /// A Standard Webhooks secret (`whsec_` and the base64 of 24 to 64 bytes), or 16 to 256
    /// characters used as they are. Leave it out and the service makes one and returns it.
    #[serde(default)]
    secret: Option<String>,
}

/// The webhook just registered; with the secret the service made when none was given (the
/// only answer that ever shows it). A secret the caller gave is not echoed.
#[derive(Serialize, utoipa::ToSchema)]
struct Registered<'a> {
    #[serde(flatten)]
    webhook: &'a Webhook,
    /// Give it to a Standard Webhooks library to verify each delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Items<T> {
    items: Vec<T>,
}

/// Register a webhook.
///
/// An https endpoint (outside the service's own network) for the organisation's status
/// changes, signed per Standard Webhooks. Without `secret`, the service makes one and
/// returns it in this answer only. `travel-unit`.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "Registered; deliveries are signed per Standard Webhooks with the secret returned here", body = Registered,
            headers(("Location" = String, description = "The webhook's URL"))),
        (status = 403, description = "forbidden"),
        (status = 422, description = "webhook_target_forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn register(
    state: web::Data<AppState>,
    caller: Guarded<ManageWebhooks>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: WebhookBody = read_json(&req, payload, &state.body).await?;
    let subscription = Subscription {
        url: body.url,
        events: body.events,
        secret: body.secret,
    };
    let (hook, made) = state.webhooks.register(&caller, subscription).await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/webhooks/{}", hook.id)))
        .json(Registered {
            webhook: &hook,
            secret: made.as_deref(),
        }))
}

/// List webhooks.
///
/// The travel unit's organisation's webhooks. Secrets are never shown again.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The organisation's webhooks", body = Items<Webhook>),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Guarded<ManageWebhooks>,
) -> Result<HttpResponse, Problem> {
    let items = state.webhooks.list(&caller).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// Remove a webhook.
///
/// Its deliveries, made or not, and their attempts go with it. Another organisation's
/// webhook is 404. `travel-unit`.
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
    caller: Guarded<ManageWebhooks>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.webhooks.remove(&caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a webhook's deliveries.
///
/// Every delivery with each attempt: when, the status answered or why it could not be
/// delivered, and the next attempt. `travel-unit`.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The webhook's id"),
        ("limit" = Option<u32>, Query, description = "How many, newest first"),
    ),
    responses(
        (status = 200, description = "Deliveries with every attempt", body = Items<DeliveryView>),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Guarded<ManageWebhooks>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let hook = state.webhooks.own(&caller, &id).await?;
    let mut limit = DEFAULT_PAGE;
    for (_, value) in query_pairs(&req, &["limit"])? {
        limit = page_limit(&value)?;
    }
    let items = state.webhooks.deliveries(&hook, limit).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}
