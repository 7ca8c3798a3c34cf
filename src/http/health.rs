//! Liveness and readiness for orchestrators and load balancers.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::cache::RedisState;

/// The process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the store answers. Redis being down degrades the cache, not the service.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store_up = state.store.ping().await.is_ok();
    let redis = state.cache.redis_state();
    let status = match (store_up, redis) {
        (false, _) => "unavailable",
        (true, RedisState::Down) => "degraded",
        (true, _) => "ready",
    };
    let body = json!({
        "status": status,
        "store": if store_up { "up" } else { "down" },
        "redis": redis,
    });
    if store_up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
