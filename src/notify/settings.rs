//! How webhooks are delivered: pace, retries, and which internal targets are allowed.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// Run the deliverer in this process.
    pub deliver: bool,
    pub poll_interval_ms: u64,
    pub timeout_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    pub max_attempts: u32,
    pub batch: u32,
    /// Hosts (`hooks.example.org`) or ranges (`10.1.0.0/16`) a webhook may target although
    /// they are internal; none by default.
    #[serde(default)]
    pub allowed_targets: Vec<String>,
}
