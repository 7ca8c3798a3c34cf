//! Cross-origin requests: closed unless `server.cors_allowed_origins` names the origin.
//! A browser page from an allowed origin may call the API with its bearer token; any other
//! origin gets no CORS headers (so the browser withholds the answer) and its preflight is
//! refused. Same-origin and non-browser clients send no `Origin` and are not affected.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
    HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use super::AppState;
use crate::http::problem::Problem;

const METHODS: &str = "GET, POST, PATCH, DELETE";
const REQUEST_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, If-Match, X-Request-Id";
const EXPOSED_HEADERS: &str = "Location, Retry-After, X-Request-Id, Idempotent-Replayed, ETag, Link, \
    RateLimit, RateLimit-Policy";

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(origin) = req.headers().get(ORIGIN).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let allowed = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| allows(&state.cors_origins, &origin));
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = if allowed {
            HttpResponse::NoContent()
                .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((ACCESS_CONTROL_ALLOW_METHODS, METHODS))
                .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, REQUEST_HEADERS))
                .insert_header((ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((VARY, "Origin"))
                .finish()
        } else {
            HttpResponse::from_error(Problem::forbidden(
                "this origin may not call the API from a browser",
            ))
        };
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if allowed {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    Ok(response)
}

/// Exact match on scheme, host and port: no wildcards, so a token never leaks to a lookalike.
fn allows(origins: &[String], origin: &HeaderValue) -> bool {
    origin
        .to_str()
        .is_ok_and(|o| origins.iter().any(|allowed| allowed == o))
}
