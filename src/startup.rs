//! Startup as a function: build the application (store, cache, policy, keys), bind, serve.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::app::approvals::Approvals;
use crate::app::clearing::Clearing;
use crate::app::people::People;
use crate::app::publishing::Publishing;
use crate::app::rescreening::Rescreener;
use crate::app::webhooks::Webhooks;
use crate::auth::{Role, TokenVerifier};
use crate::cache::AreaRiskCache;
use crate::config::Settings;
use crate::domain::webhook_target::TargetPolicy;
use crate::http::{self, AppState};
use crate::notify::QueueEvents;
use crate::notify::deliverer::Deliverer;
use crate::notify::mail::Mailer;
use crate::rate_limits::RateLimits;
use crate::shutdown::{Shutdown, Trigger, every};
use crate::store::settings::{DatabaseSettings, redact_password};
use crate::store::{self, InstanceLock, Store};

/// The parts every entry point needs: the serving app, and the CLI's import.
pub struct Services {
    pub store: Arc<dyn Store>,
    pub cache: Arc<AreaRiskCache>,
    /// The live queue approvers' screens follow.
    pub events: QueueEvents,
    pub clearing: Arc<Clearing>,
    pub publishing: Publishing,
    pub air_operators: crate::app::air_operators::AirOperators,
    pub approvals: Approvals,
    /// The approval chains' stages, in the policy's order.
    pub stages: Vec<String>,
    /// Each stage and the role that decides it.
    pub stage_roles: std::collections::BTreeMap<String, crate::domain::caller::Role>,
    /// Heard by every background task; pulled by `Application::run_until`, and by dropping
    /// the services (the command line's import ends its cache's tasks that way).
    pub shutdown: Shutdown,
    pub stop: Trigger,
    /// Heard by the cache's Redis listener and probe, pulled only once the requests in
    /// flight are answered: until then they may still need its invalidations.
    pub stop_cache: Trigger,
}

impl Services {
    /// Opens the store, applies migrations, loads the policy and starts the cache.
    pub async fn open(settings: &Settings) -> anyhow::Result<Services> {
        // Without e-mail, changes write no notice for it.
        let database = DatabaseSettings {
            mail_notices: settings.mail.enabled,
            ..settings.database.clone()
        };
        let store = store::connect(&database).await.with_context(|| {
            format!(
                "opening the database {}",
                redact_password(&settings.database.url)
            )
        })?;
        store.migrate().await?;
        let policy = Arc::new(settings.load_policy()?);
        let stage_roles = settings
            .approval
            .stage_roles
            .iter()
            .map(|(stage, role)| {
                let role = role.parse::<Role>().map_err(anyhow::Error::msg)?;
                Ok((stage.clone(), role))
            })
            .collect::<anyhow::Result<std::collections::BTreeMap<_, _>>>()?;
        if let Some(stage) = policy.stages().find(|s| !stage_roles.contains_key(*s)) {
            anyhow::bail!(
                "the policy's approval chains name the stage `{stage}`, which approval.stage_roles does not assign to a role"
            );
        }
        let mut redis = settings.redis.clone();
        redis.ca_file = redis.ca_file.map(|file| settings.resolve(&file));
        let (stop, shutdown) = Shutdown::new();
        let (stop_cache, cache_shutdown) = Shutdown::new();
        let cache = Arc::new(
            AreaRiskCache::new(&settings.cache, &redis, store.clone(), cache_shutdown).await?,
        );
        let events = match cache.redis() {
            Some(tier) => QueueEvents::new().relayed_by(tier, shutdown.clone()),
            None => QueueEvents::new(),
        };
        let lease = chrono::Duration::seconds(settings.approval.lease_seconds);
        Ok(Services {
            clearing: Arc::new(Clearing::new(
                store.clone(),
                cache.clone(),
                policy.clone(),
                Arc::new(events.clone()),
                stage_roles.clone(),
            )),
            publishing: Publishing::new(store.clone(), cache.clone(), policy),
            air_operators: crate::app::air_operators::AirOperators::new(store.clone()),
            stages: stage_roles.keys().cloned().collect(),
            stage_roles: stage_roles.clone(),
            approvals: Approvals::new(store.clone(), lease, stage_roles, Arc::new(events.clone()))
                .with_response_times(
                    settings
                        .approval
                        .response_times()
                        .map_err(anyhow::Error::msg)?,
                ),
            events,
            store,
            cache,
            shutdown,
            stop,
            stop_cache,
        })
    }
}

/// Expires the requests still pending when their first leg begins, and tells of clearances
/// whose briefing is still unacknowledged then (every instance may: a request changed
/// meanwhile is left to the next round).
async fn expire_pending(clearing: Arc<Clearing>, interval: Duration, shutdown: Shutdown) {
    let clearing = &clearing;
    every(interval, shutdown, || async move {
        let today = chrono::Utc::now().date_naive();
        let expired = match clearing.expire_started(today, 200).await {
            Ok(0) => false,
            Ok(n) => {
                tracing::info!(
                    expired = n,
                    "pending requests expired as their first leg began"
                );
                // A full batch: there may be more.
                n == 200
            }
            Err(e) => {
                tracing::warn!(error = ?e, "expiring pending requests failed; retrying");
                false
            }
        };
        let told = match clearing.tell_unacknowledged(today, 200).await {
            Ok(0) => false,
            Ok(n) => {
                tracing::info!(
                    told = n,
                    "travellers told their first leg began with a briefing unacknowledged"
                );
                n == 200
            }
            Err(e) => {
                tracing::warn!(error = ?e, "telling of unacknowledged briefings failed; retrying");
                false
            }
        };
        expired || told
    })
    .await;
}

/// Asks again, on their schedule, those who have not answered an open incident's ask.
async fn remind_unanswered(
    incidents: Arc<crate::app::incidents::Incidents>,
    interval: Duration,
    shutdown: Shutdown,
) {
    let incidents = &incidents;
    every(interval, shutdown, || async move {
        match incidents.remind_due().await {
            Ok(0) => false,
            Ok(n) => {
                tracing::info!(reminded = n, "people reminded of an incident's ask");
                // A full round: there may be more.
                n == 500
            }
            Err(e) => {
                tracing::warn!(error = ?e, "reminding unanswered people failed; retrying");
                false
            }
        }
    })
    .await;
}

/// Forgets expired idempotency keys once an hour (every instance may: deleting is idempotent).
async fn prune_idempotency_keys(
    store: Arc<dyn Store>,
    window: chrono::Duration,
    shutdown: Shutdown,
) {
    let store = &store;
    every(Duration::from_secs(3600), shutdown, || async move {
        match store
            .prune_idempotency_keys(chrono::Utc::now() - window)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "expired idempotency keys forgotten"),
            Err(e) => tracing::warn!(error = %e, "could not prune idempotency keys"),
        }
        false
    })
    .await;
}

pub use crate::tls::install_tls_provider;

pub struct Application {
    server: Server,
    address: SocketAddr,
    /// Tells the event streams and the background tasks that the server is shutting down.
    stop: Trigger,
    stop_cache: Trigger,
    /// The background tasks, awaited (up to the shutdown timeout) after the server stops.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown_timeout: Duration,
    /// On SQLite, the file's one-server lock, held while this serves.
    _instance: Option<InstanceLock>,
}

/// Takes the one-server lock of a SQLite database before anything touches it: a second
/// `serve` on the same file stops here and names the first.
pub fn lock_instance(settings: &Settings) -> anyhow::Result<Option<InstanceLock>> {
    let holder = format!(
        "clearway pid {}, port {}, started {}",
        std::process::id(),
        settings.server.port,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    Ok(store::lock_instance(&settings.database, &holder)?)
}

impl Application {
    /// Builds everything and binds `server.host:server.port` (port 0 picks a free one).
    ///
    /// It takes no one-server lock: tests run several instances in one process, some on one
    /// SQLite file, as PostgreSQL instances would share a database. `clearway serve` takes it
    /// (`lock_instance`) before opening the store.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let services = Services::open(settings).await?;
        Self::serve(settings, services, None)
    }

    /// Serves `services`; `instance` is the lock `lock_instance` took (SQLite). Holding it
    /// also proves that idempotency keys left in progress before now were left by a process
    /// that has ended.
    pub fn serve(
        settings: &Settings,
        services: Services,
        instance: Option<InstanceLock>,
    ) -> anyhow::Result<Application> {
        let verifier = TokenVerifier::from_settings(&settings.auth, |p| settings.resolve(p))?;
        for idp in verifier.issuers() {
            tokio::spawn(crate::auth::oidc::Issuer::keep_fresh(
                Arc::downgrade(idp),
                services.shutdown.clone(),
            ));
        }
        let metrics_token = settings.metrics.scrape_token()?;
        let webhook_targets = Arc::new(
            TargetPolicy::new(
                &settings.webhooks.allowed_targets,
                settings.environment == "development",
            )
            .map_err(|e| anyhow::anyhow!("webhooks.allowed_targets: {e}"))?,
        );
        let check_in_links = settings.server.verification_key.clone().map(|key| {
            crate::app::incidents::CheckInLinks {
                key,
                base_url: settings.mail.public_url.clone(),
            }
        });
        let incidents = Arc::new(
            crate::app::incidents::Incidents::new(
                services.store.clone(),
                services.cache.clone(),
                settings.incidents.clone(),
                check_in_links.clone(),
            )
            .map_err(anyhow::Error::msg)?,
        );
        let state = web::Data::new(AppState {
            incidents: incidents.clone(),
            shutdown: services.shutdown.clone(),
            store: services.store.clone(),
            idempotency_keys: services.store.clone(),
            cache: services.cache,
            events: services.events,
            clearing: services.clearing,
            publishing: services.publishing,
            approvals: services.approvals,
            verifier,
            body: crate::http::BodyLimits {
                max_bytes: settings.server.max_body_bytes,
                timeout: Duration::from_millis(settings.server.body_timeout_ms.max(1)),
            },
            idempotency_window: chrono::Duration::seconds(settings.idempotency.window_secs.max(1)),
            sole_instance_since: instance.as_ref().map(|_| chrono::Utc::now()),
            webhooks: Webhooks::new(services.store.clone(), webhook_targets.clone()),
            people: People::new(services.store.clone(), services.stages.clone()),
            air_operators: services.air_operators,
            delegations: crate::app::delegations::Delegations::new(
                services.store.clone(),
                services.stage_roles.clone(),
            ),
            metrics: Arc::default(),
            metrics_token,
            verification_key: settings.server.verification_key.clone(),
            cors_origins: settings.server.cors_allowed_origins.clone(),
            dev_tokens: (settings.environment == "development")
                .then(|| settings.auth.clone())
                .filter(|auth| auth.hs256_secret.is_some()),
            rate_limits: RateLimits::from_settings(&settings.rate_limits)
                .map_err(|e| anyhow::anyhow!("rate_limits: {e}"))?
                .map(Arc::new),
        });
        let shutdown = services.shutdown;
        let mut tasks = Vec::new();
        if let Some(limits) = state.rate_limits.clone() {
            tasks.push(tokio::spawn(every(
                Duration::from_secs(60),
                shutdown.clone(),
                move || {
                    limits.prune();
                    async { false }
                },
            )));
        }
        tasks.push(tokio::spawn(prune_idempotency_keys(
            services.store.clone(),
            state.idempotency_window,
            shutdown.clone(),
        )));
        if settings.rescreening.run {
            let rescreener = Rescreener::new(
                services.store.clone(),
                state.clearing.clone(),
                settings.rescreening.clone(),
            );
            tasks.push(tokio::spawn(rescreener.run(shutdown.clone())));
        }
        tasks.push(tokio::spawn(remind_unanswered(
            incidents,
            Duration::from_secs(settings.incidents.reminder_interval_secs.max(1)),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(expire_pending(
            state.clearing.clone(),
            Duration::from_secs(settings.approval.clock_interval_secs.max(1)),
            shutdown.clone(),
        )));
        if settings.mail.send {
            let mut mail = settings.mail.clone();
            mail.ca_file = mail.ca_file.map(|file| settings.resolve(&file));
            let reminders = crate::notify::mail::Reminders {
                times: settings
                    .approval
                    .response_times()
                    .map_err(anyhow::Error::msg)?,
                contact: (!settings.approval.escalation_contact.is_empty())
                    .then(|| {
                        crate::domain::person::EmailAddress::parse(
                            "",
                            &settings.approval.escalation_contact,
                        )
                    })
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("approval.escalation_contact: {}", e.detail))?,
                every: Duration::from_secs(settings.approval.clock_interval_secs.max(1)),
            };
            let mailer = Mailer::new(services.store.clone(), mail, reminders, check_in_links)?;
            tasks.push(tokio::spawn(mailer.run(shutdown.clone())));
        }
        if settings.webhooks.deliver {
            let deliverer = Deliverer::new(
                services.store.clone(),
                settings.webhooks.clone(),
                webhook_targets,
            )?;
            tasks.push(tokio::spawn(deliverer.run(shutdown.clone())));
        }
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!("binding {}:{}", settings.server.host, settings.server.port)
            })?;
        let address = listener.local_addr()?;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(
                    http::idempotency::idempotent,
                ))
                .wrap(actix_web::middleware::from_fn(http::throttle::limit_rate))
                .wrap(actix_web::middleware::from_fn(http::cors::cors))
                .wrap(http::security_headers())
                .wrap(actix_web::middleware::from_fn(http::metrics::observe))
                .wrap(actix_web::middleware::from_fn(http::with_request_id))
                .wrap(actix_web::middleware::from_fn(http::close_unread_bodies))
                .configure(http::routes)
        })
        .listen(listener)?
        // A client must send its request head within this time: slow or idle connections
        // are closed instead of holding a slot (slowloris).
        .client_request_timeout(Duration::from_millis(
            settings.server.client_request_timeout_ms,
        ))
        .client_disconnect_timeout(Duration::from_secs(2))
        .keep_alive(Duration::from_secs(settings.server.keep_alive_secs))
        .max_connections(settings.server.max_connections_per_worker)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        // `clearway serve` handles SIGTERM and SIGINT itself (`Application::run_until`): it
        // ends the event streams first.
        .disable_signals();
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        Ok(Application {
            server: server.run(),
            address,
            stop: services.stop,
            stop_cache: services.stop_cache,
            tasks,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
            _instance: instance,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM finish in-flight requests first).
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `stop` resolves (`clearway serve`: SIGTERM or SIGINT, see
    /// `stop_requested`): then the event streams end and requests in flight finish.
    /// In-process servers (the tests) take no signals.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let trigger = self.stop;
        let timeout = self.shutdown_timeout;
        let (deadline_set, deadline) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            stop.await;
            tracing::info!(
                "shutting down: ending event streams and background tasks, finishing requests in flight"
            );
            let _ = deadline_set.send(tokio::time::Instant::now() + timeout);
            trigger.pull();
            handle.stop(true).await;
        });
        let served = self.server.await;
        // The tasks heard the same signal and stop between rounds; one still running when the
        // shutdown timeout (counted from the signal) is up is dropped: its work is leased, so
        // it resumes later.
        let deadline = deadline
            .await
            .unwrap_or_else(|_| tokio::time::Instant::now() + timeout);
        let ended = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout_at(deadline, ended).await.is_err() {
            tracing::warn!("background tasks still running at the shutdown timeout; dropped");
        }
        self.stop_cache.pull();
        served
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
pub async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
