//! Area risk, read through three tiers: in-process, then Redis, then the store.

mod redis_tier;
pub mod settings;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;

use crate::domain::area::AreaCode;
use crate::domain::sra::AreaRisk;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};
use settings::{CacheSettings, RedisSettings};

pub use redis_tier::{RedisState, RedisTier};

use crate::app::ports::AreaRisks;

/// What a lookup found: an area (with its SRAs), or the knowledge that there is none.
type Entry = Option<Arc<AreaRisk>>;

/// Counters for the metrics endpoint: where lookups were answered.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub local_hits: AtomicU64,
    pub redis_hits: AtomicU64,
    pub store_reads: AtomicU64,
}

pub struct AreaRiskCache {
    local: Cache<AreaCode, Entry>,
    redis: Option<Arc<RedisTier>>,
    store: Arc<dyn Store>,
    pub stats: CacheStats,
}

impl AreaRiskCache {
    /// Builds the cache; Redis is optional and may be down: the tier reconnects by itself.
    pub async fn new(
        settings: &CacheSettings,
        redis: &RedisSettings,
        store: Arc<dyn Store>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let local = Cache::builder()
            .max_capacity(settings.local_capacity)
            .time_to_live(Duration::from_millis(settings.local_ttl_ms))
            .build();
        let redis = if redis.url.trim().is_empty() {
            None
        } else {
            let tier = RedisTier::start(redis, shutdown.clone()).await?;
            let retry = Duration::from_millis(redis.reconnect_interval_ms.max(50));
            tokio::spawn(follow_changes(
                Arc::downgrade(&tier),
                local.clone(),
                retry,
                shutdown,
            ));
            Some(tier)
        };
        Ok(Self {
            local,
            redis,
            store,
            stats: CacheStats::default(),
        })
    }

    /// The area's risk picture, or `None` for an unknown area. Concurrent misses on the same
    /// area share one load.
    #[tracing::instrument(name = "cache.get", level = "debug", skip_all, fields(area = %code))]
    pub async fn get(&self, code: &AreaCode) -> Result<Entry, StoreError> {
        if let Some(entry) = self.local.get(code).await {
            self.stats.local_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(entry);
        }
        self.local
            .try_get_with(code.clone(), self.load(code))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    #[tracing::instrument(name = "cache.load", level = "debug", skip_all, fields(area = %code))]
    async fn load(&self, code: &AreaCode) -> Result<Entry, StoreError> {
        if let Some(redis) = &self.redis
            && let Some(found) = redis.get(code).await
        {
            self.stats.redis_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(Arc::new(found)));
        }
        self.stats.store_reads.fetch_add(1, Ordering::Relaxed);
        let entry = self.store.area_risk(code).await?.map(Arc::new);
        if let (Some(redis), Some(risk)) = (&self.redis, &entry) {
            redis.put(code, risk).await;
        }
        Ok(entry)
    }

    /// After a write to an area or its SRAs: reload from the store, write it through to
    /// Redis, replace the in-process entry so this instance decides on it at once, and tell
    /// the other instances to drop theirs.
    #[tracing::instrument(name = "cache.refresh", level = "debug", skip_all, fields(area = %code))]
    pub async fn refresh(&self, code: &AreaCode) -> Result<(), StoreError> {
        let entry = self.store.area_risk(code).await?.map(Arc::new);
        if let Some(redis) = &self.redis {
            match &entry {
                Some(risk) => redis.put(code, risk).await,
                None => redis.remove(code).await,
            }
        }
        self.local.insert(code.clone(), entry).await;
        if let Some(redis) = &self.redis {
            redis.announce(code).await;
        }
        Ok(())
    }

    /// The Redis tier, when there is one: other components share its connection.
    pub fn redis(&self) -> Option<Arc<RedisTier>> {
        self.redis.clone()
    }

    pub fn redis_state(&self) -> RedisState {
        self.redis
            .as_ref()
            .map_or(RedisState::Disabled, |r| r.state())
    }
}

/// Drops in-process entries when any instance announces a change. Whenever the subscription
/// is (re)established, everything is dropped: announcements made meanwhile were missed.
/// The in-process TTL bounds the staleness should this listener be down.
async fn follow_changes(
    tier: std::sync::Weak<RedisTier>,
    local: Cache<AreaCode, Entry>,
    retry: Duration,
    mut shutdown: Shutdown,
) {
    use futures_util::StreamExt;
    while !shutdown.is_requested() {
        let Some((client, channel)) = tier.upgrade().map(|t| (t.client().clone(), t.channel()))
        else {
            return;
        };
        let connect = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await;
        if let Ok(Ok(mut pubsub)) = connect
            && pubsub.subscribe(&channel).await.is_ok()
        {
            local.invalidate_all();
            let mut messages = pubsub.into_on_message();
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = shutdown.requested() => return,
                };
                let Some(message) = message else { break };
                let Ok(raw) = message.get_payload::<String>() else {
                    continue;
                };
                if let Ok(code) = AreaCode::parse("", &raw) {
                    local.invalidate(&code).await;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shutdown.requested() => return,
        }
    }
}

#[async_trait::async_trait]
impl AreaRisks for AreaRiskCache {
    async fn risk(&self, code: &AreaCode) -> Result<Option<Arc<AreaRisk>>, StoreError> {
        self.get(code).await
    }

    async fn forget(&self, code: &AreaCode) -> Result<(), StoreError> {
        self.refresh(code).await
    }
}
