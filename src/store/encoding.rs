//! What every backend stores the same way: the text forms of domain values, the statuses a
//! re-screen may move, the pre-rendered rows of a new request, and the audit-chain walk.

use std::sync::Arc;
use uuid::Uuid;

use chrono::{NaiveDate, Utc};
use tokio::sync::oneshot;

use super::{
    AuditReport, BrokenLink, IdempotencyClaim, IdempotencyKey, StoreError, StoredResponse,
};
use crate::domain::area::{Degrees, Location, Suspension, SuspensionReason};
use crate::domain::audit::{AuditAction, AuditDraft, AuditEntry, first_broken_link};
use crate::domain::request::{RequestRecord, RequestStatus};
use crate::domain::webhook::OutboxEvent;

/// Statuses a re-screen may move: pending, or cleared to travel.
pub(super) const RESCREENED: &str =
    "('held', 'cleared', 'approved', 'escalated', 'cleared_pending_acknowledgement')";
/// Issued clearances: the people the locator and an incident's roll-call find. One waiting
/// for its traveller's acknowledgement of a briefing counts: they may be travelling.
pub(super) const ISSUED: &str = "('cleared', 'approved', 'cleared_pending_acknowledgement')";
/// Requests that still put their traveller on their flights: pending or issued.
pub(super) const LIVE: &str =
    "('held', 'escalated', 'returned', 'cleared', 'approved', 'cleared_pending_acknowledgement')";

/// The stage awaiting a decision, for the queue index; none unless escalated.
pub(super) fn queue_stage(record: &RequestRecord) -> Option<&str> {
    (record.status == RequestStatus::Escalated)
        .then(|| record.escalation.as_ref().map(|e| e.stage().as_str()))
        .flatten()
}

/// An area's columns and the open incident it is in, if any (the earliest begun), for
/// `area_from_row`: `FROM areas a`.
pub(super) const AREA_COLUMNS: &str = "a.*, \
    (SELECT i.incident_id FROM incident_areas i WHERE i.area_code = a.code ORDER BY i.started_at LIMIT 1) AS incident_id, \
    (SELECT i.started_at FROM incident_areas i WHERE i.area_code = a.code ORDER BY i.started_at LIMIT 1) AS incident_started_at";

pub(super) fn reason_text(reason: SuspensionReason) -> &'static str {
    match reason {
        SuspensionReason::Relocation => "relocation",
        SuspensionReason::Evacuation => "evacuation",
        SuspensionReason::ProgrammeSuspension => "programme_suspension",
    }
}

pub(super) fn suspension(
    reason: Option<String>,
    since: Option<NaiveDate>,
) -> Result<Option<Suspension>, StoreError> {
    match (reason, since) {
        (Some(reason), Some(since)) => Ok(Some(Suspension {
            reason: serde_json::from_value(serde_json::Value::String(reason))?,
            since,
        })),
        _ => Ok(None),
    }
}

/// Both columns or neither; anything out of range was not written by this service.
pub(super) fn location(
    latitude: Option<f64>,
    longitude: Option<f64>,
) -> Result<Option<Location>, StoreError> {
    match (latitude, longitude) {
        (Some(latitude), Some(longitude)) => Location::new(
            "",
            Degrees {
                latitude,
                longitude,
            },
        )
        .map(Some)
        .map_err(|e| StoreError::Corrupt(e.to_string())),
        _ => Ok(None),
    }
}

pub(super) fn action_text(action: AuditAction) -> Result<String, StoreError> {
    Ok(serde_json::to_value(action)?
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

pub(super) fn action_from_text(action: String) -> Result<AuditAction, StoreError> {
    Ok(serde_json::from_value(serde_json::Value::String(action))?)
}

/// The events some webhook subscribes to, and their deliveries: (request id, webhook id).
pub(super) type Subscribed<'e, H> = (Vec<&'e OutboxEvent>, Vec<(Uuid, H)>);

/// Which of `events` some webhook of `hooks` (id, organisation, stored event list)
/// subscribes to, and every delivery they make. An event nobody subscribes to is not written.
pub(super) fn subscribed_events<'e, H: Clone>(
    events: &'e [OutboxEvent],
    hooks: &[(H, String, String)],
) -> Result<Subscribed<'e, H>, StoreError> {
    let (mut written, mut deliveries) = (Vec::new(), Vec::new());
    for event in events {
        let mut subscribed = false;
        for (hook, org, names) in hooks {
            if org == event.org.as_str() && subscribes(names, event.name)? {
                deliveries.push((event.request_id, hook.clone()));
                subscribed = true;
            }
        }
        if subscribed {
            written.push(event);
        }
    }
    Ok((written, deliveries))
}

/// Those of `changes` whose organisation is among `with_webhooks`.
pub(super) fn of_hooked_orgs<'a>(
    changes: impl Iterator<Item = (&'a RequestRecord, &'a AuditDraft)>,
    with_webhooks: &[String],
) -> Vec<(&'a RequestRecord, &'a AuditDraft)> {
    changes
        .filter(|(record, _)| {
            with_webhooks
                .iter()
                .any(|o| o == record.request.traveller.org.as_str())
        })
        .collect()
}

/// The webhook events of `changes`, as of `now`.
pub(super) fn events_of(
    changes: &[(&RequestRecord, &AuditDraft)],
    now: chrono::DateTime<Utc>,
) -> Vec<OutboxEvent> {
    changes
        .iter()
        .filter_map(|(record, audit)| crate::domain::webhook::event_for(record, audit, now))
        .collect()
}

/// Whether each request appears once among `changes` (a batch's events can then be matched
/// to their outbox rows by request).
pub(super) fn one_each(changes: &[(&RequestRecord, &AuditDraft)]) -> bool {
    let mut ids: Vec<Uuid> = changes.iter().map(|(r, _)| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len() == changes.len()
}

/// Whether a webhook's stored event list (JSON) asks for `event`.
pub(super) fn subscribes(events: &str, event: &str) -> Result<bool, StoreError> {
    let events: Vec<String> = serde_json::from_str(events)?;
    Ok(events.iter().any(|e| e == "*" || e == event))
}

/// A people directory row's columns, as either backend reads them.
pub(super) struct PersonColumns {
    pub subject: String,
    pub name: String,
    pub email: String,
    pub language: String,
    /// JSON array of stage names.
    pub stages: String,
    pub org: Option<String>,
    pub notifications: String,
    pub updated_at: chrono::DateTime<Utc>,
    pub updated_by: String,
}

/// A directory entry from its row; a value the domain refuses is a corrupt row.
pub(super) fn person(c: PersonColumns) -> Result<crate::domain::person::Person, StoreError> {
    use crate::domain::person::{EmailAddress, Language, Person};
    use crate::domain::request::{OrgId, TravellerId};
    let bad = |what: &str, why: String| StoreError::Corrupt(format!("person {what}: {why}"));
    Ok(Person {
        subject: TravellerId::parse("", &c.subject).map_err(|e| bad("subject", e.detail))?,
        name: c.name,
        email: EmailAddress::parse("", &c.email).map_err(|e| bad("email", e.detail))?,
        language: Language::parse("", &c.language).map_err(|e| bad("language", e.detail))?,
        stages: serde_json::from_str(&c.stages)?,
        follows_org: c
            .org
            .map(|o| OrgId::parse("", &o).map_err(|e| bad("org", e.detail)))
            .transpose()?,
        notifications: c
            .notifications
            .parse()
            .map_err(|e| bad("notifications", e))?,
        updated_at: c.updated_at,
        updated_by: c.updated_by,
    })
}

/// An air operator row's columns, as either backend reads them.
pub(super) struct AirOperatorColumns {
    pub code: String,
    pub name: String,
    pub assessment: String,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub note: Option<String>,
    pub updated_at: chrono::DateTime<Utc>,
    pub updated_by: String,
}

/// An operator from its row; a value the domain refuses is a corrupt row.
pub(super) fn air_operator(
    c: AirOperatorColumns,
) -> Result<crate::domain::air_operator::AirOperator, StoreError> {
    use crate::domain::air_operator::{AirOperator, OperatorCode};
    let bad = |what: &str, why: String| StoreError::Corrupt(format!("air operator {what}: {why}"));
    Ok(AirOperator {
        code: OperatorCode::parse("", &c.code).map_err(|e| bad("code", e.detail))?,
        name: c.name,
        assessment: c.assessment.parse().map_err(|e| bad("assessment", e))?,
        from: c.valid_from,
        until: c.valid_until,
        note: c.note,
        updated_at: c.updated_at,
        updated_by: c.updated_by,
    })
}

/// The operator a leg flies with, as `request_legs.operator` holds it.
pub(super) fn leg_operator(leg: &crate::domain::itinerary::Leg) -> Option<&str> {
    match &leg.travel {
        Some(crate::domain::air_operator::Travel::Flight { operator, .. }) => {
            Some(operator.as_str())
        }
        _ => None,
    }
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A new request with its first audit entry, and the text forms every backend stores.
/// Rendered by the submitting handler, so serialising and hashing run on every core and a
/// group writer only binds and inserts; the handler's answer reuses the same JSON.
pub struct NewRequest {
    pub record: RequestRecord,
    pub audit: AuditDraft,
    pub(super) rendered: Rendered,
}

pub(super) struct Rendered {
    pub id: String,
    pub request: String,
    pub decision: String,
    pub escalation: Option<String>,
    pub team: Option<String>,
    pub entry: AuditEntry,
    pub action: String,
}

impl NewRequest {
    pub fn new(record: RequestRecord, audit: AuditDraft) -> Result<Self, StoreError> {
        let entry = AuditEntry::chain(record.id, None, Utc::now(), audit.clone());
        let rendered = Rendered {
            id: record.id.to_string(),
            request: serde_json::to_string(&record.request)?,
            decision: serde_json::to_string(&record.decision)?,
            escalation: record
                .escalation
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            team: record.team.map(|t| t.to_string()),
            action: action_text(entry.action)?,
            entry,
        };
        Ok(Self {
            record,
            audit,
            rendered,
        })
    }

    /// The request as stored: a JSON object of `ClearanceRequest`'s fields.
    pub fn request_json(&self) -> &str {
        &self.rendered.request
    }

    /// The decision as stored.
    pub fn decision_json(&self) -> &str {
        &self.rendered.decision
    }
}

/// New requests stored together or not at all (one request, or a team's members), waiting
/// for their group's commit; `done` is answered only after it.
pub(super) struct PendingInsert {
    pub unit: Vec<Arc<NewRequest>>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
    /// When the request was handed to the writer.
    pub queued: std::time::Instant,
    /// Write its e-mail notice with it (`DatabaseSettings::mail_notices`).
    pub notice: bool,
}

impl PendingInsert {
    /// The new requests of a group of units, in order.
    pub(super) fn requests(group: &[PendingInsert]) -> Vec<&NewRequest> {
        group
            .iter()
            .flat_map(|p| p.unit.iter().map(Arc::as_ref))
            .collect()
    }
}

/// Checks audit trails read in (request, seq) order, one entry at a time, so that a store
/// can stream the whole log through it.
#[derive(Default)]
pub(super) struct ChainWalk {
    report: AuditReport,
    trail: Vec<AuditEntry>,
    /// The version of the request whose trail is being read.
    version: i64,
}

impl ChainWalk {
    /// Takes the next entry and its request's version; `Err` ends the walk at a broken link.
    pub(super) fn push(&mut self, entry: AuditEntry, version: i64) -> Result<(), BrokenLink> {
        self.report.entries += 1;
        if self
            .trail
            .first()
            .is_some_and(|f| f.request_id != entry.request_id)
        {
            self.close_trail()?;
        }
        self.version = version;
        self.trail.push(entry);
        Ok(())
    }

    fn close_trail(&mut self) -> Result<(), BrokenLink> {
        self.report.requests += 1;
        let broken = check(&self.trail, self.version);
        self.trail.clear();
        broken.map_or(Ok(()), Err)
    }

    /// The report once every entry was read (or the walk stopped at `broken`).
    pub(super) fn finish(mut self, broken: Option<BrokenLink>) -> AuditReport {
        self.report.first_broken = match broken {
            Some(b) => Some(b),
            None if self.trail.is_empty() => None,
            None => self.close_trail().err(),
        };
        self.report
    }
}

/// Every change writes one entry, so a trail must be as long as its request's version: this
/// catches a trail whose newest entries were cut off, besides edited or re-hashed entries.
fn check(trail: &[AuditEntry], version: i64) -> Option<BrokenLink> {
    let first = trail.first()?;
    if let Some((seq, reason)) = first_broken_link(trail) {
        return Some(BrokenLink {
            request_id: first.request_id,
            seq,
            reason: reason.into(),
        });
    }
    let last = trail.last()?.seq;
    (last != version).then(|| BrokenLink {
        request_id: first.request_id,
        seq: last + 1,
        reason: format!("the trail ends at entry {last} but the request has had {version} changes"),
    })
}

/// The link reported for a request that has no audit trail at all.
pub(super) fn missing_trail(request_id: uuid::Uuid) -> BrokenLink {
    BrokenLink {
        request_id,
        seq: 1,
        reason: "the request has no audit trail".into(),
    }
}

/// Claims an idempotency key: inserts it, or takes over an expired or abandoned one (`?5`,
/// `?6`: the cut-off times); a row comes back only if the caller may go ahead.
/// Claims a key, with `$7` as the id of a request it may create. A claim abandoned with the
/// same request keeps its id, so the retry of an attempt whose outcome is unknown writes the
/// same request again, and finds it if it was stored.
pub(super) const CLAIM_IDEMPOTENCY_KEY: &str = "INSERT INTO idempotency_keys (subject, key, fingerprint, created_at, request_id, roles) \
     VALUES ($1, $2, $3, $4, $7, $8) \
     ON CONFLICT (subject, key) DO UPDATE SET fingerprint = excluded.fingerprint, created_at = excluded.created_at, \
       roles = excluded.roles, \
       status = NULL, content_type = NULL, location = NULL, body = NULL, \
       request_id = CASE WHEN idempotency_keys.status IS NULL AND idempotency_keys.fingerprint = excluded.fingerprint \
         AND idempotency_keys.request_id IS NOT NULL THEN idempotency_keys.request_id ELSE excluded.request_id END \
     WHERE idempotency_keys.created_at < $5 OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < $6) \
     RETURNING request_id";

/// The request id a claim returned.
pub(super) fn claimed_request_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text)
        .map_err(|e| StoreError::Corrupt(format!("idempotency_keys.request_id: {e}")))
}

/// A stored key's row, as `CLAIM_IDEMPOTENCY_KEY` left it.
pub(super) struct KeyRow {
    pub fingerprint: String,
    pub status: Option<i64>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Option<String>,
    /// Comma-separated; NULL on keys claimed before roles were recorded.
    pub roles: Option<String>,
}

/// What a key that could not be claimed means for this request.
pub(super) fn existing_claim(key: &IdempotencyKey, row: KeyRow) -> IdempotencyClaim {
    if row.fingerprint != key.fingerprint {
        return IdempotencyClaim::Mismatch;
    }
    let held = |role: &str| key.roles.split(',').any(|r| r == role);
    if let Some(first) = &row.roles
        && !first.split(',').filter(|r| !r.is_empty()).all(held)
    {
        return IdempotencyClaim::RolesWithdrawn;
    }
    match row.status.and_then(|s| u16::try_from(s).ok()) {
        None => IdempotencyClaim::InProgress,
        Some(status) => IdempotencyClaim::Replay(StoredResponse {
            status,
            content_type: row.content_type,
            location: row.location,
            body: row.body.unwrap_or_default(),
        }),
    }
}
