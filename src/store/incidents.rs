//! Incidents: opened with their roll-call and asks in one transaction, answered, closed.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::mail::NewMail;
use super::{RescreenJob, StoreError};
use crate::domain::area::AreaCode;
use crate::domain::incident::{
    Answer, BoardLine, Channel, CheckState, Incident, IncidentStatus, RollEntry, Sighting,
    TimelineEvent,
};

/// A webhook event asking a travel unit to check on one person (`incident.check_requested`):
/// written to the organisation's subscribed webhooks' outbox with the incident's changes.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The request that placed the person there: deliveries of one request stay in order.
    pub request_id: Uuid,
    pub org: String,
    pub payload: serde_json::Value,
}

/// Everything opening an incident writes, at once.
#[derive(Debug, Clone)]
pub struct IncidentOpening {
    pub incident: Incident,
    pub entries: Vec<RollEntry>,
    pub asks: Vec<Ask>,
    /// One per area: requests there are decided again (held while the incident is open).
    pub rescreens: Vec<RescreenJob>,
}

/// An answer for an entry, by the person or for them: applied to the entry as stored.
#[derive(Debug, Clone)]
pub struct RecordedAnswer {
    pub incident: Uuid,
    pub entry: Uuid,
    pub answer: Answer,
    pub via: Channel,
    /// The timeline's event: its actor and time are the answer's.
    pub event: TimelineEvent,
}

/// Which roll-call entries a list shows.
#[derive(Debug, Clone, Default)]
pub struct RollQuery {
    pub org: Option<String>,
    pub state: Option<CheckState>,
    pub area: Option<AreaCode>,
}

/// An incident's closing: its new state, the event, and the re-screening it calls for.
#[derive(Debug, Clone)]
pub struct IncidentClosing {
    pub incident: Incident,
    pub event: TimelineEvent,
    pub rescreens: Vec<RescreenJob>,
}

/// Reminders of one round: each entry asked again with its webhook event; its timeline
/// event (actor, time) is written once per incident.
#[derive(Debug, Clone)]
pub struct Reminders {
    pub asks: Vec<(RollEntry, Ask)>,
    pub event: TimelineEvent,
    /// The round's cutoff: an entry asked since (by another instance's round) is left.
    pub asked_before: DateTime<Utc>,
}

#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Legs of cleared or approved requests in `areas` that end on or after `from` and begin
    /// on or before `day`, each with whether it is its request's last.
    async fn sightings(
        &self,
        areas: &[AreaCode],
        from: NaiveDate,
        day: NaiveDate,
    ) -> Result<Vec<Sighting>, StoreError>;
    /// Writes the incident, its areas, its roll-call, the asks, its first timeline event and
    /// the re-screening jobs in one transaction; `NotFound` names an area that does not exist.
    async fn open_incident(&self, opening: &IncidentOpening) -> Result<(), StoreError>;
    async fn get_incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError>;
    /// Newest first.
    async fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
    ) -> Result<Vec<Incident>, StoreError>;
    /// People by area, organisation and state (of one organisation only, with `org`).
    async fn board(&self, id: Uuid, org: Option<&str>) -> Result<Vec<BoardLine>, StoreError>;
    /// The roll-call, by organisation, traveller.
    async fn roll(&self, id: Uuid, query: &RollQuery) -> Result<Vec<RollEntry>, StoreError>;
    /// One entry and its incident.
    async fn roll_entry(&self, entry: Uuid) -> Result<Option<(Incident, RollEntry)>, StoreError>;
    /// A traveller's entries in open incidents.
    async fn open_entries_of(
        &self,
        org: &str,
        traveller_id: &str,
    ) -> Result<Vec<(Incident, RollEntry)>, StoreError>;
    /// Writes an answer and its timeline event and returns the entry as it now stands;
    /// `Conflict` if the incident closed meanwhile, `NotFound` without the entry.
    async fn record_answer(&self, answer: &RecordedAnswer) -> Result<RollEntry, StoreError>;
    /// Closes an open incident; `Conflict` if it was closed already.
    async fn close_incident(&self, closing: &IncidentClosing) -> Result<(), StoreError>;
    async fn timeline(&self, id: Uuid) -> Result<Vec<TimelineEvent>, StoreError>;
    /// Entries of open incidents still without an answer, last asked before `before` and
    /// asked fewer than `max_asks` times.
    async fn unanswered(
        &self,
        before: DateTime<Utc>,
        max_asks: u32,
        limit: u32,
    ) -> Result<Vec<(Incident, RollEntry)>, StoreError>;
    /// Entries of open incidents, not yet answered, whose latest ask is not yet written as
    /// e-mail.
    async fn asks_to_mail(&self, limit: u32) -> Result<Vec<(Incident, RollEntry)>, StoreError>;
    /// Stores the e-mail of those asks (`(entry, ask)`) and records them written, in one
    /// transaction; a message whose key is already stored is not added again.
    async fn mail_asks(&self, asked: &[(Uuid, i32)], mail: &[NewMail]) -> Result<(), StoreError>;
    /// Records a round of reminders: entries still unanswered in an open incident are asked
    /// again; the others are left. Returns how many were.
    async fn remind(&self, reminders: &Reminders) -> Result<usize, StoreError>;
}
