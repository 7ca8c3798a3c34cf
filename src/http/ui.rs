//! The web page (`/`, `/app.js`, `/app.css`), embedded in the binary so it works offline and
//! needs no CDN, and the development sign-in (`POST /dev/token`). The page calls the same
//! JSON API travel units use, with the caller's bearer token.

use actix_web::body::MessageBody;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::read_json;
use crate::auth::{Role, issue_development_token};
use crate::domain::request::OrgId;
use crate::http::problem::Problem;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// Scripts, styles and fetches from this origin only; nothing inline, nothing framed.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' blob: data:; form-action 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

fn asset(content_type: &str, body: impl MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((CONTENT_SECURITY_POLICY, PAGE_POLICY))
        // Embedded: a new binary may bring new assets, so browsers check back each time.
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The web page.
///
/// The single page for travellers, travel units, approvers and analysts, served from the
/// binary (no CDN). It calls this API with the signed-in person's token.
#[utoipa::path(
    get, path = "/", tag = "web page",
    responses((status = 200, description = "The web page for travellers, approvers and analysts", content_type = "text/html", body = String))
)]
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    let environment = if state.dev_tokens.is_some() {
        "development"
    } else {
        "production"
    };
    asset(
        "text/html; charset=utf-8",
        INDEX.replace("{{ENVIRONMENT}}", environment),
    )
}

/// The page's script.
///
/// Served from the binary, with the page's content security policy.
#[utoipa::path(
    get, path = "/app.js", tag = "web page",
    responses((status = 200, description = "The page's script", content_type = "text/javascript", body = String))
)]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The page's style sheet.
///
/// Served from the binary, with the page's content security policy.
#[utoipa::path(
    get, path = "/app.css", tag = "web page",
    responses((status = 200, description = "The page's style sheet", content_type = "text/css", body = String))
)]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DevTokenBody {
    sub: String,
    roles: Vec<String>,
    #[serde(default)]
    org: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DevToken {
    token: String,
}

/// Development sign-in.
///
/// A short-lived token for any subject, roles and organisation, signed with the development
/// key. It exists only with `CLEARWAY_ENV=development`; in any other environment it answers
/// 404 like any unknown path.
#[utoipa::path(
    post, path = "/dev/token", tag = "web page",
    request_body = DevTokenBody,
    responses(
        (status = 200, description = "A development token (HS256, `auth.dev_token_ttl_minutes`)", body = DevToken),
        (status = 404, description = "not_found"),
    )
)]
pub async fn dev_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let Some(auth) = &state.dev_tokens else {
        return Err(Problem::not_found());
    };
    let body: DevTokenBody = read_json(&req, payload, &state.body).await?;
    let sub = crate::domain::bounded_text("/sub", &body.sub, 100)?;
    let mut roles = Vec::with_capacity(body.roles.len());
    for (i, raw) in body.roles.iter().enumerate() {
        let role = raw
            .parse::<Role>()
            .map_err(|_| Problem::invalid_field(format!("/roles/{i}"), "not a role"))?;
        roles.push(role);
    }
    if roles.is_empty() || roles.len() > Role::ALL.len() {
        return Err(Problem::invalid_field(
            "/roles",
            format!("name 1 to {} roles", Role::ALL.len()),
        ));
    }
    // The page sends "" for "no organisation".
    let org = body
        .org
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(|o| OrgId::parse("/org", o))
        .transpose()?;
    let org = org.as_ref().map(OrgId::as_str);
    let token = issue_development_token(auth, &sub, &roles, org, auth.dev_token_ttl_minutes)
        .map_err(|e| Problem::invalid_field("/org", e.to_string()))?;
    Ok(HttpResponse::Ok().json(DevToken { token }))
}
