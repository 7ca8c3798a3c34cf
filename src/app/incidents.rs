//! Incidents: an analyst opens one over some areas; everyone the service knows to be there is
//! listed and asked (their travel unit's webhook, their personal link, their own page); the
//! answers fill the accountability board; unanswered people are reminded; the analyst closes
//! it. While it is open, requests to its areas are held and clearances there screened again.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppError;
use super::ports::AreaRisks;
use crate::domain::area::AreaCode;
use crate::domain::caller::{Caller, Role};
use crate::domain::check_in_link;
use crate::domain::incident::{
    Answer, BoardLine, Channel, CheckState, Incident, IncidentInput, IncidentStatus, RollEntry,
    TimelineEvent, lookback_from, roll_call,
};
use crate::error_code::Code;
use crate::store::{
    Ask, IncidentClosing, IncidentOpening, RecordedAnswer, Reminders, RescreenJob, RollQuery,
    Store, StoreError,
};

/// `[incidents]` in the settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentSettings {
    /// How far ahead of now an incident may be said to start (a foreseen event).
    pub max_ahead_hours: u32,
    /// A trip that ended in the area up to this many days before the incident counts as
    /// "may still be there".
    pub lookback_days: u32,
    /// Those who have not answered are asked again this often (`90m`, `2h`, ...)...
    pub remind_every: String,
    /// ... up to this many asks in all (the first one included).
    pub max_asks: u32,
    /// How often each instance looks for reminders due (seconds).
    pub reminder_interval_secs: u64,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        Self {
            max_ahead_hours: 24,
            lookback_days: 14,
            remind_every: "1h".into(),
            max_asks: 4,
            reminder_interval_secs: 60,
        }
    }
}

/// What makes personal links: the key that signs them and the page they open on.
#[derive(Clone)]
pub struct CheckInLinks {
    pub key: secrecy::SecretString,
    /// The service's public address, e.g. `https://clearway.example.org`.
    pub base_url: String,
}

impl CheckInLinks {
    pub fn url(&self, entry: Uuid) -> String {
        use secrecy::ExposeSecret;
        let token = check_in_link::seal(self.key.expose_secret().as_bytes(), entry);
        format!("{}/check-in/{token}", self.base_url.trim_end_matches('/'))
    }

    pub fn open(&self, token: &str) -> Option<Uuid> {
        use secrecy::ExposeSecret;
        check_in_link::open(self.key.expose_secret().as_bytes(), token)
    }
}

/// An incident and how many people its roll-call found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Opened {
    pub incident: Incident,
    pub people: usize,
    /// The re-screening job of each area, to follow at `/v1/rescreening-jobs/{id}`.
    pub rescreening: Vec<Uuid>,
}

/// An incident with its board: by area and organisation (the caller's only, for a travel
/// unit), and the totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentBoard {
    pub incident: Incident,
    pub totals: BoardLine,
    pub lines: Vec<BoardLine>,
}

/// An answer as a caller sends it.
pub struct AnswerDraft {
    pub state: String,
    pub message: Option<String>,
    pub callback: Option<String>,
    /// How the person was heard from, when someone answers for them.
    pub how: Option<String>,
}

/// The webhook event `incident.check_requested`: a travel unit is asked to make sure one of
/// its people answers (or to answer for them once it has heard from them).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckRequestEvent {
    #[schema(value_type = String, example = "incident.check_requested")]
    pub event: &'static str,
    /// Unique per event: deduplicate on it (delivery is at least once).
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub incident: CheckRequestIncident,
    pub person: CheckRequestPerson,
    /// 1 for the first ask, 2 for the first reminder, ...
    pub ask: i32,
    /// The person's own link, to pass on to them (by text message, say): it answers for
    /// them only, in this incident only. Absent without a verification key.
    pub check_in_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckRequestIncident {
    pub id: Uuid,
    pub areas: Vec<AreaCode>,
    pub started_at: DateTime<Utc>,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckRequestPerson {
    /// The roll-call entry: answer for them at `/v1/incidents/{id}/people/{entry_id}/answer`.
    pub entry_id: Uuid,
    pub traveller_id: String,
    pub traveller_name: String,
    pub org: String,
    pub request_id: Uuid,
    pub area: AreaCode,
    pub presence: crate::domain::incident::Presence,
    pub trip_ends_in_area: bool,
}

pub struct Incidents {
    store: Arc<dyn Store>,
    cache: Arc<dyn AreaRisks>,
    settings: IncidentSettings,
    remind_every: Duration,
    links: Option<CheckInLinks>,
}

const ACTOR: &str = "clearway";

impl Incidents {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<dyn AreaRisks>,
        settings: IncidentSettings,
        links: Option<CheckInLinks>,
    ) -> Result<Self, String> {
        let remind_every =
            super::approvals::parse_span(&settings.remind_every).ok_or_else(|| {
                format!(
                    "incidents.remind_every: `{}` is not like 90m, 2h or 30s",
                    settings.remind_every
                )
            })?;
        Ok(Self {
            store,
            cache,
            settings,
            remind_every,
            links,
        })
    }

    pub fn links(&self) -> Option<&CheckInLinks> {
        self.links.as_ref()
    }

    /// Opens an incident: the roll-call is taken, everyone on it asked, the areas held.
    pub async fn open(
        &self,
        caller: &Caller,
        areas: Vec<AreaCode>,
        started_at: DateTime<Utc>,
        description: &str,
    ) -> Result<Opened, AppError> {
        may_manage(caller)?;
        let now = Utc::now();
        let max_ahead = Duration::hours(i64::from(self.settings.max_ahead_hours));
        let input = IncidentInput::parse(areas, started_at, description, now, max_ahead)?;
        for (i, area) in input.areas.iter().enumerate() {
            if self.cache.risk(area).await?.is_none() {
                return Err(AppError::unknown_area(format!("/areas/{i}"), area.as_str()));
            }
        }
        let incident = Incident::open(input, &caller.subject, now);
        let day = incident.day();
        let sightings = self
            .store
            .sightings(
                &incident.areas,
                lookback_from(day, self.settings.lookback_days),
                day,
            )
            .await?;
        let entries = roll_call(&incident, sightings, self.settings.lookback_days, now);
        let asks = entries
            .iter()
            .map(|e| self.ask(&incident, e, &caller.subject, now))
            .collect::<Result<Vec<_>, _>>()?;
        let reason = format!("incident {} opened: {}", incident.id, incident.description);
        let rescreens = self.rescreens(&incident, &reason, &caller.subject, now);
        let opening = IncidentOpening {
            incident,
            entries,
            asks,
            rescreens,
        };
        self.store
            .open_incident(&opening)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(code) => AppError::unknown_area("/areas", &code),
                other => other.into(),
            })?;
        for area in &opening.incident.areas {
            self.cache.forget(area).await?;
        }
        tracing::warn!(incident = %opening.incident.id, people = opening.entries.len(), "incident opened");
        Ok(Opened {
            people: opening.entries.len(),
            rescreening: opening.rescreens.iter().map(|j| j.id).collect(),
            incident: opening.incident,
        })
    }

    fn rescreens(
        &self,
        incident: &Incident,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Vec<RescreenJob> {
        incident
            .areas
            .iter()
            .map(|area| {
                RescreenJob::new(
                    area.clone(),
                    reason.to_owned(),
                    actor,
                    now.date_naive(),
                    None,
                    now,
                )
            })
            .collect()
    }

    /// The webhook event asking the person's travel unit about them.
    fn ask(
        &self,
        incident: &Incident,
        entry: &RollEntry,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Ask, AppError> {
        let event = CheckRequestEvent {
            event: "incident.check_requested",
            event_id: Uuid::now_v7(),
            occurred_at: now,
            actor: actor.to_owned(),
            incident: CheckRequestIncident {
                id: incident.id,
                areas: incident.areas.clone(),
                started_at: incident.started_at,
                description: incident.description.clone(),
            },
            person: CheckRequestPerson {
                entry_id: entry.id,
                traveller_id: entry.traveller_id.clone(),
                traveller_name: entry.traveller_name.clone(),
                org: entry.org.clone(),
                request_id: entry.request_id,
                area: entry.area.clone(),
                presence: entry.presence,
                trip_ends_in_area: entry.trip_ends_in_area,
            },
            ask: entry.asks,
            check_in_url: self.links.as_ref().map(|l| l.url(entry.id)),
        };
        Ok(Ask {
            request_id: entry.request_id,
            org: entry.org.clone(),
            payload: serde_json::to_value(&event).map_err(|_| AppError::internal())?,
        })
    }

    async fn incident(&self, id: Uuid) -> Result<Incident, AppError> {
        self.store
            .get_incident(id)
            .await?
            .ok_or_else(AppError::not_found)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<IncidentStatus>,
    ) -> Result<Vec<Incident>, AppError> {
        board_scope(caller)?;
        Ok(self.store.list_incidents(status).await?)
    }

    /// The incident and its board (a travel unit's organisation only).
    pub async fn board(&self, caller: &Caller, id: Uuid) -> Result<IncidentBoard, AppError> {
        let org = board_scope(caller)?;
        let incident = self.incident(id).await?;
        let lines = self.store.board(id, org.as_deref()).await?;
        let mut totals = BoardLine {
            area: "*".into(),
            org: org.unwrap_or_else(|| "*".into()),
            ..Default::default()
        };
        for line in &lines {
            totals.people += line.people;
            totals.dependants += line.dependants;
            totals.accounted_for += line.accounted_for;
            totals.needs_assistance += line.needs_assistance;
            totals.no_answer += line.no_answer;
        }
        Ok(IncidentBoard {
            incident,
            totals,
            lines,
        })
    }

    /// The roll-call (a travel unit's organisation only), by organisation and traveller.
    pub async fn roll(
        &self,
        caller: &Caller,
        id: Uuid,
        mut query: RollQuery,
    ) -> Result<Vec<RollEntry>, AppError> {
        if let Some(org) = board_scope(caller)? {
            query.org = Some(org);
        }
        self.incident(id).await?;
        Ok(self.store.roll(id, &query).await?)
    }

    pub async fn timeline(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Vec<TimelineEvent>, AppError> {
        if !caller.has_any(&[Role::SecurityAnalyst, Role::Admin]) {
            return Err(AppError::forbidden(
                "an incident's timeline is for security analysts and admins",
            ));
        }
        self.incident(id).await?;
        Ok(self.store.timeline(id).await?)
    }

    /// The caller's own asks: their entries in open incidents.
    pub async fn mine(&self, caller: &Caller) -> Result<Vec<(Incident, RollEntry)>, AppError> {
        if !caller.has(Role::Traveller) {
            return Err(AppError::forbidden("check-ins are a traveller's own"));
        }
        let Some(org) = &caller.org else {
            return Ok(Vec::new());
        };
        Ok(self
            .store
            .open_entries_of(org.as_str(), &caller.subject)
            .await?)
    }

    /// An answer through the API: the person themselves, their travel unit or an analyst
    /// for them (saying how they heard from them).
    pub async fn answer(
        &self,
        caller: &Caller,
        id: Uuid,
        entry_id: Uuid,
        draft: AnswerDraft,
    ) -> Result<RollEntry, AppError> {
        let Some((incident, entry)) = self.store.roll_entry(entry_id).await? else {
            return Err(AppError::not_found());
        };
        if incident.id != id {
            return Err(AppError::not_found());
        }
        let own = caller.has(Role::Traveller)
            && caller.org.as_ref().is_some_and(|o| o.as_str() == entry.org)
            && caller.subject == entry.traveller_id;
        let their_unit = caller.has(Role::TravelUnit)
            && caller.org.as_ref().is_some_and(|o| o.as_str() == entry.org);
        let analyst = caller.has(Role::SecurityAnalyst);
        let via = if own {
            if draft.how.is_some() {
                return Err(AppError::invalid_field(
                    "/how",
                    "`how` is for answering for someone else",
                ));
            }
            Channel::Signed
        } else if their_unit || analyst {
            let how = draft.how.as_deref().ok_or_else(|| {
                AppError::invalid_field(
                    "/how",
                    "say how you heard from them when answering for someone else",
                )
            })?;
            Channel::parse(how)
                .filter(|c| Channel::ON_BEHALF.contains(c))
                .ok_or_else(|| {
                    AppError::invalid_field("/how", "`how` is phone, message, in_person or other")
                })?
        } else {
            // Someone else's entry: its existence is not disclosed.
            return Err(AppError::not_found());
        };
        let answer = Answer::parse(
            &draft.state,
            draft.message.as_deref(),
            draft.callback.as_deref(),
        )?;
        self.record(&incident, entry_id, answer, via, &caller.subject)
            .await
    }

    /// The incident and entry a personal link names; `None` for a link this service did not
    /// make, or without a key.
    pub async fn by_link(&self, token: &str) -> Result<Option<(Incident, RollEntry)>, AppError> {
        let Some(entry) = self.links.as_ref().and_then(|l| l.open(token)) else {
            return Ok(None);
        };
        Ok(self.store.roll_entry(entry).await?)
    }

    /// An answer through a personal link. A signed-in caller who is someone else is refused:
    /// a forwarded link is not theirs to answer.
    pub async fn answer_by_link(
        &self,
        token: &str,
        signed_in: Option<&Caller>,
        state: &str,
        message: Option<&str>,
        callback: Option<&str>,
    ) -> Result<RollEntry, AppError> {
        let Some((incident, entry)) = self.by_link(token).await? else {
            return Err(AppError::not_found());
        };
        if let Some(caller) = signed_in {
            let same = caller.org.as_ref().is_some_and(|o| o.as_str() == entry.org)
                && caller.subject == entry.traveller_id;
            if !same {
                return Err(AppError::new(
                    Code::CheckInNotYours,
                    "this link is another person's: it answers for the person it was sent to only",
                ));
            }
        }
        let answer = Answer::parse(state, message, callback)?;
        let by = format!("{} (personal link)", entry.traveller_id);
        self.record(&incident, entry.id, answer, Channel::Link, &by)
            .await
    }

    async fn record(
        &self,
        incident: &Incident,
        entry: Uuid,
        answer: Answer,
        via: Channel,
        by: &str,
    ) -> Result<RollEntry, AppError> {
        if incident.status == IncidentStatus::Closed {
            return Err(closed(incident));
        }
        let detail = match &answer.state {
            CheckState::Safe => "safe",
            CheckState::NeedsAssistance => "needs assistance",
            CheckState::NoAnswer => "no answer",
        };
        let recorded = RecordedAnswer {
            incident: incident.id,
            entry,
            via,
            event: TimelineEvent {
                at: Utc::now(),
                actor: by.to_owned(),
                kind: "answered".into(),
                entry_id: Some(entry),
                detail: format!("{detail}, via {}", via.as_str()),
            },
            answer,
        };
        self.store
            .record_answer(&recorded)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => closed(incident),
                StoreError::NotFound(_) => AppError::not_found(),
                other => other.into(),
            })
    }

    /// Closes an incident: no more answers or reminders; its areas are decided without it.
    pub async fn close(&self, caller: &Caller, id: Uuid) -> Result<Incident, AppError> {
        may_manage(caller)?;
        let mut incident = self.incident(id).await?;
        if incident.status == IncidentStatus::Closed {
            return Err(closed(&incident));
        }
        let now = Utc::now();
        incident.status = IncidentStatus::Closed;
        incident.closed_at = Some(now);
        incident.closed_by = Some(caller.subject.clone());
        let reason = format!("incident {} closed", incident.id);
        let closing = IncidentClosing {
            rescreens: self.rescreens(&incident, &reason, &caller.subject, now),
            event: TimelineEvent {
                at: now,
                actor: caller.subject.clone(),
                kind: "closed".into(),
                entry_id: None,
                detail: String::new(),
            },
            incident,
        };
        self.store
            .close_incident(&closing)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => closed(&closing.incident),
                StoreError::NotFound(_) => AppError::not_found(),
                other => other.into(),
            })?;
        for area in &closing.incident.areas {
            self.cache.forget(area).await?;
        }
        Ok(closing.incident)
    }

    /// Asks again those who have not answered, every `remind_every`, up to
    /// `max_asks` asks. Returns how many were reminded; run by every instance (the store
    /// asks each entry once per round).
    pub async fn remind_due(&self) -> Result<usize, AppError> {
        let now = Utc::now();
        let asked_before = now - self.remind_every;
        let due = self
            .store
            .unanswered(asked_before, self.settings.max_asks, 500)
            .await?;
        let mut asks = Vec::new();
        for (incident, mut entry) in due {
            entry.ask_again(now);
            let ask = self.ask(&incident, &entry, ACTOR, now)?;
            asks.push((entry, ask));
        }
        if asks.is_empty() {
            return Ok(0);
        }
        let reminders = Reminders {
            asks,
            event: TimelineEvent {
                at: now,
                actor: ACTOR.into(),
                kind: "reminded".into(),
                entry_id: None,
                detail: String::new(),
            },
            asked_before,
        };
        Ok(self.store.remind(&reminders).await?)
    }
}

fn closed(incident: &Incident) -> AppError {
    AppError::new(
        Code::IncidentClosed,
        format!("incident {} is closed", incident.id),
    )
}

/// The HTTP guard checks it first; the service too, whoever calls it.
fn may_manage(caller: &Caller) -> Result<(), AppError> {
    super::access::permits(caller, super::access::Action::ManageIncidents)
}

/// Who reads boards and roll-calls: analysts and admins all of it, a travel unit its
/// organisation's people (`Some(org)`).
fn board_scope(caller: &Caller) -> Result<Option<String>, AppError> {
    if caller.has_any(&[Role::SecurityAnalyst, Role::Admin]) {
        return Ok(None);
    }
    if caller.has(Role::TravelUnit) {
        return match &caller.org {
            Some(org) => Ok(Some(org.as_str().to_owned())),
            None => Err(AppError::new(
                Code::TokenOrgRequired,
                "a travel unit's token must name its organisation",
            )),
        };
    }
    Err(AppError::forbidden(
        "incident boards are for security analysts, admins and travel units",
    ))
}
