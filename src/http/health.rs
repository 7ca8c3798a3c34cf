//! Liveness and readiness for orchestrators and load balancers.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use crate::auth::oidc::IssuerStatus;
use crate::cache::RedisState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (Redis down, answered from the store; or an identity provider's
    /// keys unusable while other token sources work) or `unavailable`.
    status: &'static str,
    /// `up`, `down`, or `stopped` (a commit failed with an I/O error: no writes until restart).
    store: &'static str,
    redis: RedisState,
    /// Each identity provider's keys (`auth.oidc`); one that is `down` verifies no token,
    /// which makes the instance unavailable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identity: Vec<IssuerStatus>,
    /// Why the store is not up, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Liveness.
///
/// The process is up and serving. Never rate limited; needs no token.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness.
///
/// Ready (200) when the store answers and takes writes; 503 otherwise. Redis being down
/// degrades the cache, not the service, and is reported in the body. Never rate limited;
/// needs no token.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The store answers; `redis` says whether the cache tier is up (degraded is still ready)", body = Readiness),
        (status = 503, description = "The store does not answer, or has stopped taking writes after a failed commit (`store: stopped`, `reason` says why): restart once the disk is sound; or no token can be verified (every identity provider's keys unusable, `identity`, and no static key)", body = Readiness),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let stopped = state.store.writes_stopped();
    let pinged = state.store.ping().await;
    let store_up = stopped.is_none() && pinged.is_ok();
    let redis = state.cache.redis_state();
    let identity: Vec<IssuerStatus> = state
        .verifier
        .issuers()
        .iter()
        .map(|i| i.status())
        .collect();
    // Unavailable only when no token can be verified at all; a provider that is down while
    // others (or static keys) still work degrades the instance.
    let identity_up = identity.is_empty()
        || state.verifier.has_static_keys()
        || identity.iter().any(|i| i.state != "down");
    let identity_degraded = identity.iter().any(|i| i.state == "down");
    let status = match (store_up && identity_up, redis) {
        (false, _) => "unavailable",
        (true, RedisState::Down) => "degraded",
        (true, _) if identity_degraded => "degraded",
        (true, _) => "ready",
    };
    let (store, reason) = match (stopped, pinged) {
        (Some(why), _) => (
            "stopped",
            Some(format!(
                "writes stopped after {why}; check the disk, then restart clearway"
            )),
        ),
        (None, Err(_)) => ("down", None),
        (None, Ok(())) => ("up", None),
    };
    let reason = reason.or_else(|| {
        identity_degraded.then(|| {
            "an identity provider's keys could not be fetched: its tokens cannot be verified"
                .to_owned()
        })
    });
    let body = Readiness {
        status,
        store,
        redis,
        identity,
        reason,
    };
    if store_up && identity_up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
