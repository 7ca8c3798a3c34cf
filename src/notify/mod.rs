//! Telling people what changed: live queue events for approvers' screens (server-sent
//! events, fanned out in-process) and signed webhooks for travel units' systems.

pub mod deliverer;
pub mod mail;
pub mod settings;
pub mod webhook_targets;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use crate::app::ports::QueueEventKind;
use crate::app::ports::{QueueEventSink, RequestChanged};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEvent {
    pub kind: QueueEventKind,
    pub request_id: Uuid,
    pub stage: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// In-process fan-out of queue events, and of requests' changes (those relayed to every
/// instance through Redis, when there is one). Slow listeners miss events rather than slow
/// the decision path; they are told so and can read again.
#[derive(Clone)]
pub struct QueueEvents {
    sender: broadcast::Sender<QueueEvent>,
    requests: broadcast::Sender<RequestChanged>,
    relay: Option<Relay>,
}

/// Where this instance publishes requests' changes for the others, and its name there.
#[derive(Clone)]
struct Relay {
    tier: std::sync::Arc<crate::cache::RedisTier>,
    origin: Uuid,
}

/// A request's change as relayed between instances.
#[derive(Serialize, serde::Deserialize)]
struct Relayed {
    origin: Uuid,
    change: RequestChanged,
}

impl Default for QueueEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueEvents {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(1024);
        let (requests, _) = broadcast::channel(1024);
        Self {
            sender,
            requests,
            relay: None,
        }
    }

    /// Relays requests' changes to the other instances over `tier`, and theirs to this
    /// one's listeners, until `shutdown`.
    pub fn relayed_by(
        mut self,
        tier: std::sync::Arc<crate::cache::RedisTier>,
        shutdown: crate::shutdown::Shutdown,
    ) -> Self {
        let relay = Relay {
            tier,
            origin: Uuid::new_v4(),
        };
        tokio::spawn(follow_relay(relay.clone(), self.requests.clone(), shutdown));
        self.relay = Some(relay);
        self
    }

    /// Requests' changes, from every instance.
    pub fn subscribe_requests(&self) -> broadcast::Receiver<RequestChanged> {
        self.requests.subscribe()
    }

    fn request_changed(&self, change: RequestChanged) {
        if let Some(relay) = &self.relay
            && let Ok(payload) = serde_json::to_string(&Relayed {
                origin: relay.origin,
                change: change.clone(),
            })
        {
            let tier = relay.tier.clone();
            tokio::spawn(async move {
                tier.publish(&tier.channel_named(REQUESTS_CHANNEL), &payload)
                    .await;
            });
        }
        let _ = self.requests.send(change);
    }

    pub fn publish(&self, kind: QueueEventKind, request_id: Uuid, stage: &str, actor: &str) {
        // No listener is not an error: nobody is watching the queue right now.
        let _ = self.sender.send(QueueEvent {
            kind,
            request_id,
            stage: stage.to_owned(),
            actor: actor.to_owned(),
            at: Utc::now(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<QueueEvent> {
        self.sender.subscribe()
    }
}

impl QueueEventSink for QueueEvents {
    fn publish(&self, kind: QueueEventKind, request_id: Uuid, stage: &str, actor: &str) {
        QueueEvents::publish(self, kind, request_id, stage, actor);
    }

    fn request_changed(&self, change: RequestChanged) {
        QueueEvents::request_changed(self, change);
    }
}

const REQUESTS_CHANNEL: &str = "request-changed";

/// Passes the other instances' changes to this one's listeners, subscribing again after
/// Redis comes back (changes made meanwhile are missed: screens read again on reconnect).
async fn follow_relay(
    relay: Relay,
    local: broadcast::Sender<RequestChanged>,
    mut shutdown: crate::shutdown::Shutdown,
) {
    use futures_util::StreamExt;
    let channel = relay.tier.channel_named(REQUESTS_CHANNEL);
    while !shutdown.is_requested() {
        let connect = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            relay.tier.client().get_async_pubsub(),
        )
        .await;
        if let Ok(Ok(mut pubsub)) = connect
            && pubsub.subscribe(&channel).await.is_ok()
        {
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
                match serde_json::from_str::<Relayed>(&raw) {
                    Ok(relayed) if relayed.origin != relay.origin => {
                        let _ = local.send(relayed.change);
                    }
                    _ => {}
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.requested() => return,
        }
    }
}
