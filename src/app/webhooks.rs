//! Webhook subscriptions: a travel unit registers where its organisation's status changes
//! go, removes them, and reads every delivery attempt. Nobody sees another organisation's.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::AppError;
use super::access::webhook_owner;
use super::ports::WebhookTargets;
use crate::domain::caller::Caller;
use crate::domain::webhook::{COULD_NOT_DELIVER, Webhook, check_subscription, secret_from_key};
use crate::error_code::Code;
use crate::store::{DeliveryView, Store};

/// What a travel unit sends to register a webhook.
pub struct Subscription {
    pub url: String,
    pub events: Vec<String>,
    /// `None`: the service makes one (`whsec_` and 32 random bytes).
    pub secret: Option<String>,
}

pub struct Webhooks {
    store: Arc<dyn Store>,
    targets: Arc<dyn WebhookTargets>,
}

impl Webhooks {
    pub fn new(store: Arc<dyn Store>, targets: Arc<dyn WebhookTargets>) -> Self {
        Self { store, targets }
    }

    /// Registers the webhook. A secret the caller gave is never shown again; one the
    /// service made is returned beside it, this once.
    pub async fn register(
        &self,
        caller: &Caller,
        sub: Subscription,
    ) -> Result<(Webhook, Option<String>), AppError> {
        let org = webhook_owner(caller)?;
        let (secret, made) = match sub.secret {
            Some(secret) => (secret, false),
            None => (new_secret()?, true),
        };
        check_subscription(&sub.url, &sub.events, &secret)?;
        self.targets
            .check(&sub.url)
            .await
            .map_err(|why| AppError::new(Code::WebhookTargetForbidden, why).at("/url"))?;
        let hook = Webhook {
            id: Uuid::now_v7(),
            org,
            url: sub.url,
            events: sub.events,
            secret,
            created_by: caller.subject.clone(),
            created_at: Utc::now(),
        };
        self.store.create_webhook(&hook).await?;
        let made = made.then(|| hook.secret.clone());
        Ok((hook, made))
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<Webhook>, AppError> {
        let org = webhook_owner(caller)?;
        Ok(self.store.list_webhooks(&org).await?)
    }

    pub async fn remove(&self, caller: &Caller, raw_id: &str) -> Result<(), AppError> {
        let hook = self.own(caller, raw_id).await?;
        Ok(self.store.delete_webhook(hook.id).await?)
    }

    /// Every delivery of `hook` (one of the caller's, see [`Webhooks::own`]), newest first.
    pub async fn deliveries(
        &self,
        hook: &Webhook,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, AppError> {
        let mut items = self.store.list_deliveries(hook.id, limit).await?;
        // How long a connection took to fail tells a refused port from a filtered one.
        for attempt in items.iter_mut().flat_map(|d| d.attempts.iter_mut()) {
            if attempt.error.as_deref() == Some(COULD_NOT_DELIVER) {
                attempt.duration_ms = None;
            }
        }
        Ok(items)
    }

    /// The caller's organisation's webhook; another's is not found, not forbidden.
    pub async fn own(&self, caller: &Caller, raw_id: &str) -> Result<Webhook, AppError> {
        let org = webhook_owner(caller)?;
        let id = Uuid::parse_str(raw_id).map_err(|_| AppError::not_found())?;
        match self.store.get_webhook(id).await? {
            Some(hook) if hook.org == org => Ok(hook),
            _ => Err(AppError::not_found()),
        }
    }
}

/// 32 bytes from the operating system's random source, as a Standard Webhooks secret.
fn new_secret() -> Result<String, AppError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a webhook secret");
        AppError::internal()
    })?;
    Ok(secret_from_key(&key))
}
