//! Liveness and readiness for orchestrators and load balancers.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use crate::cache::RedisState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (Redis down, answered from the store) or `unavailable`.
    status: &'static str,
    /// `up` or `down`.
    store: &'static str,
    redis: RedisState,
}

/// The process is up and serving.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Ready when the store answers. Redis being down degrades the cache, not the service.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The store answers; `redis` says whether the cache tier is up (degraded is still ready)", body = Readiness),
        (status = 503, description = "The store does not answer", body = Readiness),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store_up = state.store.ping().await.is_ok();
    let redis = state.cache.redis_state();
    let status = match (store_up, redis) {
        (false, _) => "unavailable",
        (true, RedisState::Down) => "degraded",
        (true, _) => "ready",
    };
    let body = Readiness {
        status,
        store: if store_up { "up" } else { "down" },
        redis,
    };
    if store_up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
