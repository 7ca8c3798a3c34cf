//! `/v1/mail`: what the service wrote to whom, and what it could not deliver.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::extract::{DEFAULT_PAGE, page_limit, query_pairs};
use super::guard::{Guarded, ManagePeople};
use crate::http::problem::Problem;
use crate::store::mail::MailView;

#[derive(Serialize, utoipa::ToSchema)]
struct MailList {
    items: Vec<MailView>,
}

/// List e-mail messages.
///
/// The latest messages, newest first, with their delivery state: `pending`, `held` for a
/// daily digest, `digested`, `sent` (the relay accepted it) or `failed` (given up, with the
/// last error). `request_id` keeps one request's. `admin`.
#[utoipa::path(
    get, path = "/v1/mail", tag = "mail",
    params(
        ("request_id" = Option<Uuid>, Query, description = "Only the messages about this request"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to the page maximum, default the page default)"),
    ),
    responses(
        (status = 200, description = "The messages", body = MailList),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    _caller: Guarded<ManagePeople>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let pairs = query_pairs(&req, &["request_id", "limit"])?;
    let request_id = pairs
        .iter()
        .find(|(k, _)| k == "request_id")
        .map(|(_, v)| {
            Uuid::parse_str(v).map_err(|_| Problem::invalid_query("request_id", "not a UUID"))
        })
        .transpose()?;
    let limit = pairs
        .iter()
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| page_limit(v))
        .transpose()?
        .unwrap_or(DEFAULT_PAGE);
    let items = state.people.mail(request_id, limit).await?;
    Ok(HttpResponse::Ok().json(MailList { items }))
}
