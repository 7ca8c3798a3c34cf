//! `/metrics` for Prometheus, and the middleware that counts and times every request.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::AppState;
use super::extract::authenticate;
use crate::auth::Role;
use crate::cache::RedisState;
use crate::http::problem::Problem;
use crate::metrics::CacheFigures;

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// A bearer token that may read `/metrics` (for Prometheus); empty: admin tokens only.
    pub bearer_token: SecretString,
}

impl MetricsSettings {
    /// The token Prometheus presents, if one is configured.
    pub fn scrape_token(&self) -> anyhow::Result<Option<SecretString>> {
        let token = self.bearer_token.expose_secret().trim();
        if token.is_empty() {
            return Ok(None);
        }
        if token.len() < 32 {
            anyhow::bail!("metrics.bearer_token must be at least 32 characters");
        }
        Ok(Some(SecretString::from(token)))
    }
}

/// Counts and times each request under its route's pattern; unknown paths share one label.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let request = response.request();
        state.metrics.observe(
            request.method().as_str(),
            request
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// Prometheus metrics.
///
/// The OpenMetrics text exposition. For operators: an `admin` token, or the scrape token
/// configured in `metrics.bearer_token`. Never rate limited.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "The OpenMetrics 1.0.0 text exposition (Prometheus reads it), UTF-8", content_type = "application/openmetrics-text", body = String),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    if !scrape_token_matches(&state, &req) {
        let caller = authenticate(&req).await?;
        if !caller.has(Role::Admin) {
            return Err(Problem::forbidden(
                "metrics are for operators: an admin token or the scrape token",
            ));
        }
    }
    let store = match state.store.figures().await {
        Ok(figures) => Some(figures),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database figures could not be read");
            None
        }
    };
    let stats = &state.cache.stats;
    let cache = CacheFigures {
        local_hits: stats.local_hits.load(Ordering::Relaxed),
        redis_hits: stats.redis_hits.load(Ordering::Relaxed),
        store_reads: stats.store_reads.load(Ordering::Relaxed),
        redis_up: state.cache.redis_state() == RedisState::Up,
    };
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(state.metrics.render(cache, store.as_ref(), Utc::now())))
}

fn scrape_token_matches(state: &AppState, req: &HttpRequest) -> bool {
    let Some(expected) = state.metrics_token.as_ref().map(|t| t.expose_secret()) else {
        return false;
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compared in constant time: the token is a shared secret.
    presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}
