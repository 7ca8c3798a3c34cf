//! The HTTP API (v1, JSON, bearer JWT): the route table and what every handler shares.

mod air_operators;
mod areas;
mod check_in;
mod clearance_requests;
pub mod conditional;
pub mod cors;
mod delegations;
mod escalations;
pub mod extract;
pub mod guard;
mod health;
pub mod idempotency;
mod incidents;
mod mail;
pub mod metrics;
pub mod openapi;
mod people;
pub mod problem;
mod problem_response;
mod request_id;
pub mod sras;
mod sse;
mod teams;
pub mod throttle;
pub mod ui;
mod unread_body;
pub mod verification;
mod webhooks;

use std::sync::Arc;

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};

use crate::app::approvals::Approvals;
use crate::app::clearing::Clearing;
use crate::app::publishing::Publishing;
use crate::app::webhooks::Webhooks;
use crate::auth::TokenVerifier;
use crate::cache::AreaRiskCache;
use crate::http::problem::Problem;
use crate::rate_limits::RateLimits;
use crate::store::{IdempotencyStore, StoreLifecycle};

pub use request_id::with_request_id;
pub use unread_body::close_unread_bodies;

/// A request body's limits: a larger one is 413, a slower one 408.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// From the end of the head (which has its own deadline, `client_request_timeout_ms`).
    pub timeout: std::time::Duration,
}

pub struct AppState {
    /// The store as the edge may use it: its health and figures, and the idempotency keys
    /// of the HTTP protocol. Everything else goes through the services.
    pub store: Arc<dyn StoreLifecycle>,
    pub idempotency_keys: Arc<dyn IdempotencyStore>,
    pub cache: Arc<AreaRiskCache>,
    /// The live queue, for the event stream.
    pub events: crate::notify::QueueEvents,
    pub clearing: Arc<Clearing>,
    pub publishing: Publishing,
    pub webhooks: Webhooks,
    pub people: crate::app::people::People,
    pub air_operators: crate::app::air_operators::AirOperators,
    pub delegations: crate::app::delegations::Delegations,
    pub incidents: Arc<crate::app::incidents::Incidents>,
    pub approvals: Approvals,
    pub verifier: TokenVerifier,
    /// How large a body may be and how long it may take to arrive.
    pub body: BodyLimits,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_window: chrono::Duration,
    /// Set when this process holds the store's one-server lock (SQLite), from then: keys left
    /// in progress before it were left by a process that has ended.
    pub sole_instance_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The quotas; `None` when rate limits are off.
    pub rate_limits: Option<Arc<RateLimits>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// A static bearer token Prometheus may scrape `/metrics` with; `None`: admins only.
    pub metrics_token: Option<secrecy::SecretString>,
    /// Signs printed clearances' verification links; `None`: they carry none.
    pub verification_key: Option<secrecy::SecretString>,
    /// Origins whose browser pages may call the API (exact `scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// Set in the development environment only: the web page's sign-in may mint tokens.
    pub dev_tokens: Option<crate::auth::AuthSettings>,
    /// Turns true when the server starts shutting down: long-lived responses (the event
    /// stream) end then, instead of holding the shutdown for its whole timeout.
    pub shutdown: crate::shutdown::Shutdown,
}

/// Declares the route table once: `routes` registers it with actix and `ROUTES` lists it,
/// so the API description and the authorization tests can check every route exists in both.
macro_rules! route_table {
    ($( $path:literal => { $( $method:ident => $handler:path ),+ $(,)? } )+) => {
        /// Every (method, path) the service answers, path templates as in the API description.
        pub const ROUTES: &[(&str, &str)] = &[ $( $( (stringify!($method), $path), )+ )+ ];

        /// Registers every route. Unknown paths and methods get problem+json too.
        pub fn routes(cfg: &mut web::ServiceConfig) {
            $( cfg.service(resource($path) $( .route(method(stringify!($method)).to($handler)) )+ ); )+
            cfg.default_service(web::to(not_found));
        }
    };
}

// Order matters where templates overlap: `/v1/sras/drafts` must come before `/v1/sras/{id}`.
route_table! {
    "/healthz" => { get => health::healthz }
    "/readyz" => { get => health::readyz }
    "/metrics" => { get => metrics::metrics }
    "/openapi.json" => { get => openapi::document }
    "/" => { get => ui::index }
    "/app.js" => { get => ui::script }
    "/app.css" => { get => ui::style }
    "/i18n/{language}" => { get => ui::strings }
    "/map/world.svg" => { get => ui::world }
    "/verify/{token}" => { get => verification::verify }
    "/check-in/{token}" => { get => check_in::show, post => check_in::answer }
    "/dev/token" => { post => ui::dev_token }
    "/v1/clearance-requests" => { post => clearance_requests::submit, get => clearance_requests::list }
    "/v1/clearance-requests/stream" => { get => clearance_requests::stream }
    "/v1/clearance-requests/{id}" => { get => clearance_requests::get, patch => clearance_requests::amend }
    "/v1/clearance-requests/{id}/withdraw" => { post => clearance_requests::withdraw }
    "/v1/clearance-requests/{id}/acknowledgement" => { post => clearance_requests::acknowledge }
    "/v1/clearance-requests/{id}/audit" => { get => clearance_requests::audit }
    "/v1/teams" => { post => teams::submit }
    "/v1/teams/{id}" => { get => teams::get, patch => teams::amend }
    "/v1/teams/{id}/withdraw" => { post => teams::withdraw }
    "/v1/teams/{id}/decision" => { post => teams::decide }
    "/v1/escalations" => { get => escalations::queue }
    "/v1/escalations/stream" => { get => escalations::stream }
    "/v1/escalations/{id}/claim" => { post => escalations::claim }
    "/v1/escalations/{id}/release" => { post => escalations::release }
    "/v1/escalations/{id}/decision" => { post => escalations::decide }
    "/v1/delegations" => { post => delegations::create, get => delegations::list }
    "/v1/delegations/{id}" => { delete => delegations::revoke }
    "/v1/webhooks" => { post => webhooks::register, get => webhooks::list }
    "/v1/webhooks/{id}" => { delete => webhooks::remove }
    "/v1/webhooks/{id}/deliveries" => { get => webhooks::deliveries }
    "/v1/people" => { get => people::list }
    "/v1/people/{subject}" => { get => people::get, put => people::put, delete => people::remove }
    "/v1/people/{subject}/preferences" => { put => people::preferences }
    "/v1/mail" => { get => mail::list }
    "/v1/air-operators" => { get => air_operators::list }
    "/v1/air-operators/{designator}" => { get => air_operators::get, put => air_operators::put }
    "/v1/areas" => { post => areas::create, get => areas::list }
    "/v1/areas/{code}" => { get => areas::get }
    "/v1/areas/{code}/suspension" => { post => areas::suspend, delete => areas::lift }
    "/v1/areas/{code}/personnel" => { get => areas::personnel }
    "/v1/areas/{code}/location" => { put => areas::place }
    "/v1/headcounts" => { get => areas::headcounts }
    "/v1/incidents" => { post => incidents::open, get => incidents::list }
    "/v1/incidents/{id}" => { get => incidents::board }
    "/v1/incidents/{id}/people" => { get => incidents::people }
    "/v1/incidents/{id}/people/{entry}/answer" => { post => incidents::answer }
    "/v1/incidents/{id}/timeline" => { get => incidents::timeline }
    "/v1/incidents/{id}/close" => { post => incidents::close }
    "/v1/check-ins" => { get => incidents::check_ins }
    "/v1/sras/drafts" => { post => sras::draft }
    "/v1/sras/{id}" => { get => sras::get }
    "/v1/sras/{id}/endorsement" => { post => sras::endorse }
    "/v1/sras/{id}/approval" => { post => sras::approve }
    "/v1/sras/{id}/publish" => { post => sras::publish_draft }
    "/v1/sras/{id}/withdraw" => { post => sras::withdraw }
    "/v1/sras" => { post => sras::publish, get => sras::list }
    "/v1/rescreening" => { get => sras::rescreenings }
    "/v1/rescreening/{id}" => { get => sras::rescreening }
}

/// A route for `name`; a GET route answers HEAD too (actix sends the head without the body).
fn method(name: &str) -> actix_web::Route {
    use actix_web::guard;
    match name {
        "get" => web::route().guard(guard::Any(guard::Get()).or(guard::Head())),
        "post" => web::post(),
        "patch" => web::patch(),
        "put" => web::put(),
        "delete" => web::delete(),
        other => unreachable!("the route table names no method {other}"),
    }
}

/// The methods `path` answers, for the `Allow` header of its 405s.
fn allowed(path: &str) -> String {
    let mut methods: Vec<String> = ROUTES
        .iter()
        .filter(|(_, p)| *p == path)
        .map(|(m, _)| m.to_uppercase())
        .collect();
    if methods.iter().any(|m| m == "GET") {
        methods.push("HEAD".into());
    }
    methods.join(", ")
}

fn resource(path: &'static str) -> actix_web::Resource {
    let allow = allowed(path);
    web::resource(path).default_service(web::to(move || {
        let allow = allow.clone();
        async move { method_not_allowed(&allow) }
    }))
}

async fn not_found() -> Result<HttpResponse, Problem> {
    Err(Problem::not_found())
}

/// 405 with the `Allow` header RFC 9110 asks for.
fn method_not_allowed(allow: &str) -> HttpResponse {
    use actix_web::ResponseError;
    let mut response = Problem::method_not_allowed().error_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}

/// Headers every response carries: nothing is cached by intermediaries, sniffed or framed.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cache-Control", "no-store"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ))
}
