//! The HTTP API (v1, JSON, bearer JWT): the route table and what every handler shares.

mod areas;
mod clearance_requests;
mod escalations;
pub mod extract;
mod health;
pub mod idempotency;
pub mod metrics;
mod problem_response;
mod request_id;
pub mod sras;
pub mod throttle;
mod webhooks;

use std::sync::Arc;

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};

use crate::approvals::Approvals;
use crate::auth::TokenVerifier;
use crate::cache::AreaRiskCache;
use crate::clearing::Clearing;
use crate::problem::Problem;
use crate::publishing::Publishing;
use crate::rate_limits::RateLimits;
use crate::store::Store;

pub use request_id::with_request_id;

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub cache: Arc<AreaRiskCache>,
    pub clearing: Arc<Clearing>,
    pub publishing: Publishing,
    pub approvals: Approvals,
    pub verifier: TokenVerifier,
    pub max_body_bytes: usize,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_window: chrono::Duration,
    /// `None` when rate limits are off.
    pub rate_limits: Option<Arc<RateLimits>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// A static bearer token Prometheus may scrape `/metrics` with; `None`: admins only.
    pub metrics_token: Option<String>,
}

/// Every route the service answers. Unknown paths and methods get problem+json too.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(
            web::scope("/v1")
                .service(
                    resource("/clearance-requests")
                        .route(web::post().to(clearance_requests::submit))
                        .route(web::get().to(clearance_requests::list)),
                )
                .service(
                    resource("/clearance-requests/{id}")
                        .route(web::get().to(clearance_requests::get))
                        .route(web::patch().to(clearance_requests::amend)),
                )
                .service(
                    resource("/clearance-requests/{id}/withdraw")
                        .route(web::post().to(clearance_requests::withdraw)),
                )
                .service(
                    resource("/clearance-requests/{id}/audit")
                        .route(web::get().to(clearance_requests::audit)),
                )
                .service(resource("/escalations").route(web::get().to(escalations::queue)))
                .service(resource("/escalations/stream").route(web::get().to(escalations::stream)))
                .service(
                    resource("/escalations/{id}/claim").route(web::post().to(escalations::claim)),
                )
                .service(
                    resource("/escalations/{id}/release")
                        .route(web::post().to(escalations::release)),
                )
                .service(
                    resource("/webhooks")
                        .route(web::post().to(webhooks::register))
                        .route(web::get().to(webhooks::list)),
                )
                .service(resource("/webhooks/{id}").route(web::delete().to(webhooks::remove)))
                .service(
                    resource("/webhooks/{id}/deliveries")
                        .route(web::get().to(webhooks::deliveries)),
                )
                .service(
                    resource("/escalations/{id}/decision")
                        .route(web::post().to(escalations::decide)),
                )
                .service(
                    resource("/areas")
                        .route(web::post().to(areas::create))
                        .route(web::get().to(areas::list)),
                )
                .service(resource("/areas/{code}").route(web::get().to(areas::get)))
                .service(
                    resource("/areas/{code}/suspension")
                        .route(web::post().to(areas::suspend))
                        .route(web::delete().to(areas::lift)),
                )
                .service(resource("/areas/{code}/personnel").route(web::get().to(areas::personnel)))
                .service(resource("/sras/drafts").route(web::post().to(sras::draft)))
                .service(resource("/sras/{id}").route(web::get().to(sras::get)))
                .service(resource("/sras/{id}/endorsement").route(web::post().to(sras::endorse)))
                .service(resource("/sras/{id}/approval").route(web::post().to(sras::approve)))
                .service(resource("/sras/{id}/publish").route(web::post().to(sras::publish_draft)))
                .service(resource("/sras/{id}/withdraw").route(web::post().to(sras::withdraw)))
                .service(resource("/rescreening/{id}").route(web::get().to(sras::rescreening)))
                .service(
                    resource("/sras")
                        .route(web::post().to(sras::publish))
                        .route(web::get().to(sras::list)),
                ),
        )
        .default_service(web::to(not_found));
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn not_found() -> Result<HttpResponse, Problem> {
    Err(Problem::not_found())
}

async fn method_not_allowed() -> Result<HttpResponse, Problem> {
    Err(Problem::method_not_allowed())
}

/// Headers every response carries: nothing is cached by intermediaries, sniffed or framed.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cache-Control", "no-store"))
        .add(("Referrer-Policy", "no-referrer"))
}
