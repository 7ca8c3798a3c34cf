//! Delivers the outbox to travel units' webhooks: signed POSTs, retried with exponential
//! backoff until delivered or given up, oldest event of each request first. Everything it
//! needs is in the store, so a restart resumes where it stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::future::join_all;

use super::settings::WebhookSettings;
use crate::domain::webhook::{COULD_NOT_DELIVER, retry_delay, signature, standard_signature};
use crate::domain::webhook_target::TargetPolicy;
use crate::notify::webhook_targets::{CheckedResolver, check_target};
use crate::shutdown::{Shutdown, every};
use crate::store::{Attempt, AttemptResult, DueDelivery, Store};

pub struct Deliverer {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    settings: WebhookSettings,
    targets: Arc<TargetPolicy>,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn Store>,
        settings: WebhookSettings,
        targets: Arc<TargetPolicy>,
    ) -> anyhow::Result<Self> {
        crate::tls::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(5000)))
            .redirect(reqwest::redirect::Policy::none())
            // Every connection's addresses are checked, whatever DNS said at registration.
            .dns_resolver(CheckedResolver {
                policy: targets.clone(),
            })
            .user_agent(concat!("clearway-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            client,
            settings,
            targets,
        })
    }

    /// Delivers until shutdown. Store errors are logged and retried on the next tick; a
    /// delivery cut short is leased again later (at least once, never lost).
    pub async fn run(self, shutdown: Shutdown) {
        let interval = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let this = &self;
        every(interval, shutdown, || async move {
            match this.deliver_due().await {
                // A full round: more may be waiting (an incident asks thousands at once).
                Ok(n) => n == this.settings.batch as usize,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook delivery round failed; retrying");
                    false
                }
            }
        })
        .await;
    }

    /// One round: lease what is due and attempt it all concurrently.
    pub async fn deliver_due(&self) -> Result<usize, crate::store::StoreError> {
        let lease = chrono::Duration::milliseconds(self.settings.timeout_ms as i64 * 2 + 1000);
        let due = self
            .store
            .claim_due_deliveries(Utc::now(), lease, self.settings.batch)
            .await?;
        let count = due.len();
        let results = join_all(due.into_iter().map(|d| self.attempt(d))).await;
        if !results.is_empty() {
            self.store.finish_attempts(&results).await?;
        }
        Ok(count)
    }

    /// Attempts one delivery; its outcome is recorded with the round's.
    async fn attempt(&self, delivery: DueDelivery) -> (i64, Attempt, AttemptResult) {
        let started = Instant::now();
        // The attempt's time and its retry are reckoned from its start: a time taken after
        // the connection failed would tell a refused port from a filtered one.
        let now = Utc::now();
        let timestamp = now.timestamp();
        let body = delivery.payload.into_bytes();
        let id = delivery.public_id.to_string();
        // A literal address never reaches the resolver: check the URL itself first.
        let allowed = check_target(&self.targets, &delivery.url).await;
        if let Err(why) = &allowed {
            tracing::warn!(webhook = %delivery.webhook_id, reason = %why, "webhook target refused");
        }
        let sent = allowed.map(|()| {
            self.client
                .post(&delivery.url)
                .header("Content-Type", "application/json")
                // Standard Webhooks: the id stays the same on every retry of a delivery.
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    standard_signature(&delivery.secret, &id, timestamp, &body),
                )
                .header("Clearway-Event", &delivery.event)
                // The headers receivers used before (deprecated): the same values.
                .header("Clearway-Delivery", &id)
                .header("Clearway-Timestamp", timestamp.to_string())
                .header(
                    "Clearway-Signature",
                    signature(&delivery.secret, timestamp, &body),
                )
                .body(body)
                .send()
        });
        let sent = match sent {
            Ok(sending) => sending.await.map_err(Some),
            Err(_) => Err(None),
        };
        let number = delivery.attempts + 1;
        let (status_code, error) = match sent {
            Ok(response) if response.status().is_success() => {
                (Some(response.status().as_u16()), None)
            }
            Ok(response) => (
                Some(response.status().as_u16()),
                Some(format!("answered {}", response.status())),
            ),
            // A receiver that accepted the connection and then answered too slowly.
            Err(Some(e)) if e.is_timeout() && !e.is_connect() => {
                (None, Some("timed out".to_owned()))
            }
            // One text for a refused, a filtered and a forbidden target alike, so the
            // deliveries list cannot be used to scan a network.
            Err(e) => {
                if let Some(e) = e {
                    tracing::debug!(error = %e, webhook = %delivery.webhook_id, "webhook not delivered");
                }
                (None, Some(COULD_NOT_DELIVER.to_owned()))
            }
        };
        let result = if error.is_none() {
            AttemptResult::Delivered
        } else if number >= self.settings.max_attempts {
            tracing::warn!(delivery = delivery.id, webhook = %delivery.webhook_id, "webhook delivery given up after {number} attempts");
            AttemptResult::GiveUp
        } else {
            let base = chrono::Duration::milliseconds(self.settings.backoff_base_ms as i64);
            let max = chrono::Duration::seconds(self.settings.backoff_max_secs as i64);
            AttemptResult::RetryAt(now + retry_delay(number, base, max))
        };
        let attempt = Attempt {
            attempt: number,
            at: now,
            status_code,
            error,
            duration_ms: Some(started.elapsed().as_millis() as i64),
        };
        (delivery.id, attempt, result)
    }
}
