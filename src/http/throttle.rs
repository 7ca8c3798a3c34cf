//! Answers 429 with `Retry-After` to a client address or caller over its rate limit (see
//! `rate_limits`). Health and metrics endpoints are never limited: probes must always answer.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use super::AppState;
use super::extract::authenticate;
use crate::http::problem::{Code, Problem};
use crate::rate_limits::RateLimits;

const UNLIMITED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn limit_rate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limits = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.rate_limits.clone());
    let Some(limits) = limits.filter(|_| !UNLIMITED.contains(&req.path())) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let mut over = client_ip(&req, &limits).map_or(Ok(()), |ip| limits.check_ip(ip));
    if over.is_ok() {
        // An invalid token is the handler's to refuse; only known callers have a quota.
        if let Ok(caller) = authenticate(req.request()).await {
            over = limits.check_caller(&caller);
        }
    }
    let Err(wait) = over else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Whole seconds, rounded up: retrying earlier would only be refused again.
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = req.error_response(
        Problem::new(
            Code::RateLimited,
            format!("this client is over its rate limit; retry in {seconds} s"),
        )
        .with("retry_after_seconds", seconds),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    Ok(response)
}

fn client_ip(req: &ServiceRequest, limits: &RateLimits) -> Option<IpAddr> {
    if let Some(header) = &limits.forwarded_header {
        // The proxy appends the address it saw last; the first entry is the client's.
        let forwarded = req
            .headers()
            .get(header.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    req.peer_addr().map(|a| a.ip())
}
