//! Where the shared tier lives (Redis) and how long each tier keeps an area's risk.

use std::path::PathBuf;

use serde::Deserialize;

use crate::store::settings::redact_password;

#[derive(Clone, Deserialize)]
pub struct RedisSettings {
    /// Empty disables Redis: the in-process tier reads through to the store.
    pub url: String,
    pub key_prefix: String,
    pub entry_ttl_secs: u64,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
    pub reconnect_interval_ms: u64,
    /// While Redis is up it is pinged this often, so `/readyz` knows within seconds that it
    /// went away even when no request needed it.
    pub health_check_interval_ms: u64,
    /// For `rediss://` with a private certificate authority: its certificate (PEM). Without
    /// it the system's trusted roots apply.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    pub local_ttl_ms: u64,
    pub local_capacity: u64,
}

/// `redis://:password@host` carries its password in the URL: settings print with it masked.
impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_password(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("entry_ttl_secs", &self.entry_ttl_secs)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("reconnect_interval_ms", &self.reconnect_interval_ms)
            .field("health_check_interval_ms", &self.health_check_interval_ms)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}
