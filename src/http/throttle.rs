//! Answers 429 with `Retry-After` to a client address or caller over its rate limit (see
//! `rate_limits`), and tells every client where it stands in the IETF `RateLimit-Policy`
//! and `RateLimit` fields. Health and metrics endpoints are never limited: probes must always answer.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;
use actix_web::{Error, web};

use super::AppState;
use super::extract::authenticate;
use crate::http::problem::{Code, Problem};
use crate::rate_limits::{RateLimits, Standing, ceil_seconds};

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
    let mut standings = Vec::with_capacity(2);
    let mut refused = None;
    if let Some(ip) = client_ip(&req, &limits) {
        match limits.check_ip(ip) {
            Ok(standing) => standings.push(standing),
            Err(refusal) => refused = Some(refusal),
        }
    }
    if refused.is_none() {
        // An invalid token is the handler's to refuse; only known callers have a quota.
        if let Ok(caller) = authenticate(req.request()).await {
            match limits.check_caller(&caller) {
                Some(Ok(standing)) => standings.push(standing),
                Some(Err(refusal)) => refused = Some(refusal),
                None => {}
            }
        }
    }
    let Some(refusal) = refused else {
        let mut response = next.call(req).await?.map_into_boxed_body();
        report(response.headers_mut(), &standings);
        return Ok(response);
    };
    let seconds = ceil_seconds(refusal.wait);
    let mut response = req.error_response(
        Problem::new(
            Code::RateLimited,
            format!("this client is over its rate limit; retry in {seconds} s"),
        )
        .with("retry_after_seconds", seconds),
    );
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    report(headers, &[refusal.standing]);
    Ok(response)
}

/// The IETF RateLimit fields (structured-field lists, one item per policy):
/// `RateLimit-Policy: "ip";q=200;w=2, "traveller";q=10;w=20` and
/// `RateLimit: "ip";r=199;t=1, "traveller";r=9;t=2`.
fn report(headers: &mut HeaderMap, standings: &[Standing]) {
    if standings.is_empty() {
        return;
    }
    let list = |item: &dyn Fn(&Standing) -> String| {
        let text = standings.iter().map(item).collect::<Vec<_>>().join(", ");
        HeaderValue::from_str(&text).ok()
    };
    let policy = list(&|s| format!("\"{}\";q={};w={}", s.policy, s.quota, s.window_seconds));
    let state = list(&|s| format!("\"{}\";r={};t={}", s.policy, s.remaining, s.reset_seconds));
    if let (Some(policy), Some(state)) = (policy, state) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), policy);
        headers.insert(HeaderName::from_static("ratelimit"), state);
    }
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
