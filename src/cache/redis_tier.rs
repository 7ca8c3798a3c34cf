//! The shared Redis tier: best effort, never in the way. When Redis is unreachable reads skip
//! it, a probe reconnects in the background, and on recovery our keys are dropped, since
//! writes made during the outage never reached them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::settings::RedisSettings;
use crate::domain::area::AreaCode;
use crate::domain::sra::AreaRisk;
use crate::shutdown::Shutdown;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedisState {
    Up,
    Down,
    Disabled,
}

pub struct RedisTier {
    client: redis::Client,
    config: ConnectionManagerConfig,
    connection: RwLock<Option<ConnectionManager>>,
    available: AtomicBool,
    prefix: String,
    entry_ttl_secs: u64,
    timeout: Duration,
}

impl RedisTier {
    /// Connects if it can, and starts the probe that reconnects when it cannot.
    pub async fn start(settings: &RedisSettings, shutdown: Shutdown) -> anyhow::Result<Arc<Self>> {
        crate::tls::install_tls_provider();
        let client = client(settings)?;
        let timeout = Duration::from_millis(settings.response_timeout_ms);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let tier = Arc::new(Self {
            client,
            config,
            connection: RwLock::new(None),
            available: AtomicBool::new(false),
            prefix: settings.key_prefix.clone(),
            entry_ttl_secs: settings.entry_ttl_secs.max(1),
            timeout,
        });
        if tier.reconnect().await {
            tier.available.store(true, Ordering::Release);
            tracing::info!(url = %redact(&settings.url), "area risk cache connected to Redis");
        } else {
            tracing::warn!(url = %redact(&settings.url), "Redis unreachable at start; deciding from the store until it answers");
        }
        let interval = Duration::from_millis(settings.reconnect_interval_ms.max(50));
        let health = Duration::from_millis(settings.health_check_interval_ms.max(50));
        tokio::spawn(probe(Arc::downgrade(&tier), interval, health, shutdown));
        Ok(tier)
    }

    pub fn state(&self) -> RedisState {
        if self.available.load(Ordering::Acquire) {
            RedisState::Up
        } else {
            RedisState::Down
        }
    }

    fn key(&self, code: &AreaCode) -> String {
        format!("{}area:{}", self.prefix, code)
    }

    fn connection(&self) -> Option<ConnectionManager> {
        if !self.available.load(Ordering::Acquire) {
            return None;
        }
        self.connection.read().ok()?.clone()
    }

    /// Marks Redis down after a failed call, logging the transition once.
    fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        crate::metrics::REDIS_ERRORS.inc();
        if self.available.swap(false, Ordering::AcqRel) {
            tracing::warn!(%error, "Redis {what} failed; deciding from the store until Redis answers again");
        }
    }

    async fn run<T>(
        &self,
        what: &str,
        call: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Option<T> {
        let connection = self.connection()?;
        match tokio::time::timeout(self.timeout, call(connection)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.failed(what, &e);
                None
            }
            Err(_) => {
                self.failed(what, &"timed out");
                None
            }
        }
    }

    #[tracing::instrument(name = "redis.get", level = "debug", skip_all, fields(area = %code))]
    pub async fn get(&self, code: &AreaCode) -> Option<AreaRisk> {
        let key = self.key(code);
        let raw: String = self
            .run("read", async |mut c: ConnectionManager| {
                c.get::<_, Option<String>>(&key).await
            })
            .await??;
        match serde_json::from_str(&raw) {
            Ok(risk) => Some(risk),
            Err(e) => {
                // Written by another version of the service: ignore it, the store will answer.
                tracing::warn!(%key, error = %e, "unreadable area risk entry in Redis");
                None
            }
        }
    }

    #[tracing::instrument(name = "redis.put", level = "debug", skip_all, fields(area = %code))]
    pub async fn put(&self, code: &AreaCode, risk: &AreaRisk) {
        let Ok(value) = serde_json::to_string(risk) else {
            return;
        };
        let key = self.key(code);
        let ttl = self.entry_ttl_secs;
        self.run("write", async |mut c: ConnectionManager| {
            c.set_ex::<_, _, ()>(&key, value, ttl).await
        })
        .await;
    }

    /// The channel on which instances announce that an area's risk changed.
    pub fn channel(&self) -> String {
        format!("{}area-changed", self.prefix)
    }

    /// A channel of this deployment's (under its key prefix).
    pub fn channel_named(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Publishes `payload` on `channel`; a failure is logged as the tier's are, not returned.
    pub async fn publish(&self, channel: &str, payload: &str) {
        self.run("publish", async |mut c: ConnectionManager| {
            c.publish::<_, _, ()>(channel, payload).await
        })
        .await;
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Tells every instance to drop its in-process entry for the area.
    #[tracing::instrument(name = "redis.announce", level = "debug", skip_all, fields(area = %code))]
    pub async fn announce(&self, code: &AreaCode) {
        let channel = self.channel();
        let code = code.to_string();
        self.run("publish", async |mut c: ConnectionManager| {
            c.publish::<_, _, ()>(&channel, &code).await
        })
        .await;
    }

    #[tracing::instrument(name = "redis.remove", level = "debug", skip_all, fields(area = %code))]
    pub async fn remove(&self, code: &AreaCode) {
        let key = self.key(code);
        self.run("delete", async |mut c: ConnectionManager| {
            c.del::<_, ()>(&key).await
        })
        .await;
    }

    /// A PING on the current connection within `within`.
    async fn ping(&self, within: Duration) -> Result<(), String> {
        let Some(mut c) = self.connection() else {
            return Err("no connection".into());
        };
        let ping = redis::cmd("PING");
        match tokio::time::timeout(within, ping.query_async::<String>(&mut c)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    async fn reconnect(&self) -> bool {
        let attempt = self
            .client
            .get_connection_manager_with_config(self.config.clone());
        match tokio::time::timeout(self.timeout * 4, attempt).await {
            Ok(Ok(mut manager)) => {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut manager).await;
                if pong.is_err() {
                    return false;
                }
                if let Ok(mut slot) = self.connection.write() {
                    *slot = Some(manager);
                }
                true
            }
            _ => false,
        }
    }

    /// Drops every area entry under our prefix: they may predate writes Redis missed.
    async fn forget_entries(&self) -> redis::RedisResult<()> {
        let Some(mut c) = self.connection.read().ok().and_then(|slot| slot.clone()) else {
            return Ok(());
        };
        let pattern = format!("{}area:*", self.prefix);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut c)
                .await?;
            if !keys.is_empty() {
                c.del::<_, ()>(keys).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// While Redis is up, pings it every `health` (an idle instance would otherwise learn of an
/// outage only from the next failed call); while it is down, tries it every `interval`.
/// Ends at shutdown, or when the tier is dropped.
async fn probe(
    tier: Weak<RedisTier>,
    interval: Duration,
    health: Duration,
    mut shutdown: Shutdown,
) {
    // One slow answer under load is not an outage (marking Redis down drops its entries on
    // recovery): two checks in a row must fail, each given longer than a request's call.
    let mut failed_checks = 0;
    loop {
        let up = tier
            .upgrade()
            .is_some_and(|t| t.available.load(Ordering::Acquire));
        tokio::select! {
            _ = tokio::time::sleep(if up { health } else { interval }) => {}
            _ = shutdown.requested() => return,
        }
        let Some(tier) = tier.upgrade() else { return };
        if tier.available.load(Ordering::Acquire) {
            match tier.ping(tier.timeout * 4).await {
                Ok(()) => failed_checks = 0,
                Err(e) => {
                    failed_checks += 1;
                    if failed_checks >= 2 {
                        tier.failed("health check", &e);
                        failed_checks = 0;
                    }
                }
            }
            continue;
        }
        if tier.reconnect().await {
            match tier.forget_entries().await {
                Ok(()) => {
                    tier.available.store(true, Ordering::Release);
                    tracing::info!("Redis answers again; area risk cache resumed");
                }
                Err(e) => tracing::debug!(error = %e, "Redis reachable but not usable yet"),
            }
        }
    }
}

/// A client for `redis.url`: `redis://` plain, `rediss://` over TLS, verified against the
/// system's roots or `redis.ca_file`. A password rides in the URL.
fn client(settings: &RedisSettings) -> anyhow::Result<redis::Client> {
    let url = settings.url.as_str();
    let Some(ca_file) = &settings.ca_file else {
        return redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("redis.url is not a Redis URL: {e}"));
    };
    anyhow::ensure!(
        url.starts_with("rediss://"),
        "redis.ca_file is set but redis.url is not a rediss:// (TLS) URL"
    );
    let pem = std::fs::read(ca_file)
        .map_err(|e| anyhow::anyhow!("reading redis.ca_file {}: {e}", ca_file.display()))?;
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(url, certificates)
        .map_err(|e| anyhow::anyhow!("redis.url with redis.ca_file: {e}"))
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_and_auth, host)) => {
            let scheme = scheme_and_auth.split("://").next().unwrap_or("redis");
            format!("{scheme}://***@{host}")
        }
        None => url.to_owned(),
    }
}
