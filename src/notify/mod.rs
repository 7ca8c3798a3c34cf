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
use crate::app::ports::QueueEventSink;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEvent {
    pub kind: QueueEventKind,
    pub request_id: Uuid,
    pub stage: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// In-process fan-out of queue events. Slow listeners miss events rather than slow the
/// decision path; they are told so and can re-read the queue.
#[derive(Clone)]
pub struct QueueEvents {
    sender: broadcast::Sender<QueueEvent>,
}

impl Default for QueueEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueEvents {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self { sender }
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
}
