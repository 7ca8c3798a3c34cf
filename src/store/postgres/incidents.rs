//! Incidents on PostgreSQL. Answers, reminders and closing lock the incident's row (shared
//! for answers and reminders, exclusive for closing), so nothing is answered after a close.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use super::commit;
use super::mail::insert_mail;
use super::rescreening::{create_rescreen_job, rescreen_scope};
use super::webhooks::{enqueue_outbox, subscribed_hooks};
use crate::domain::area::AreaCode;
use crate::domain::incident::{
    BoardLine, CheckState, Incident, IncidentStatus, RollEntry, Sighting, TimelineEvent,
};
use crate::domain::person::{EmailAddress, Language};
use crate::domain::request::Dependant;
use crate::store::encoding::{ISSUED, corrupt};
use crate::store::mail::NewMail;
use crate::store::{
    Ask, IncidentClosing, IncidentOpening, IncidentStore, RecordedAnswer, Reminders, RollQuery,
    StoreError,
};

const ASK_EVENT: &str = "incident.check_requested";

async fn insert_event(
    tx: &mut PgConnection,
    id: Uuid,
    event: &TimelineEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, at, actor, kind, entry_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.kind)
    .bind(event.entry_id)
    .bind(&event.detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn enqueue_asks(
    tx: &mut PgConnection,
    asks: &[Ask],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut hooks: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for ask in asks {
        if !hooks.contains_key(ask.org.as_str()) {
            let found = subscribed_hooks(tx, &ask.org, ASK_EVENT).await?;
            hooks.insert(&ask.org, found);
        }
        let subscribed = &hooks[ask.org.as_str()];
        enqueue_outbox(
            tx,
            subscribed,
            ask.request_id,
            &ask.org,
            ASK_EVENT,
            &ask.payload,
            now,
        )
        .await?;
    }
    Ok(())
}

/// The incident's status, its row locked for the rest of the transaction: shared by those
/// that need it to stay open, exclusive by the one that closes it.
async fn lock_status(
    tx: &mut PgConnection,
    id: Uuid,
    exclusive: bool,
) -> Result<Option<IncidentStatus>, StoreError> {
    let lock = if exclusive { "UPDATE" } else { "SHARE" };
    let status: Option<String> = sqlx::query_scalar(&format!(
        "SELECT status FROM incidents WHERE id = $1 FOR {lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    status
        .map(|s| IncidentStatus::parse(&s).ok_or_else(|| corrupt(format!("incident status {s}"))))
        .transpose()
}

async fn write_entry(tx: &mut PgConnection, entry: &RollEntry) -> Result<(), StoreError> {
    sqlx::query("UPDATE incident_people SET state = $1, asked_at = $2, entry = $3 WHERE id = $4")
        .bind(entry.state.as_str())
        .bind(entry.last_asked_at)
        .bind(Json(entry))
        .bind(entry.id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn pair(row: &sqlx::postgres::PgRow) -> Result<(Incident, RollEntry), StoreError> {
    let Json(incident): Json<Incident> = row.try_get("incident")?;
    let Json(entry): Json<RollEntry> = row.try_get("entry")?;
    Ok((incident, entry))
}

#[async_trait]
impl IncidentStore for PostgresStore {
    #[tracing::instrument(name = "store.sightings", level = "debug", skip_all)]
    async fn sightings(
        &self,
        areas: &[AreaCode],
        from: NaiveDate,
        day: NaiveDate,
    ) -> Result<Vec<Sighting>, StoreError> {
        let rows = sqlx::query(
            &format!(
"SELECT r.id, r.traveller_id, r.request #>> '{{traveller,name}}' AS name, r.org, r.submitted_by, \
             r.request #>> '{{traveller,email}}' AS email, r.request #>> '{{traveller,language}}' AS language, \
             l.area_code, l.arrival, l.departure, l.seq = jsonb_array_length(r.request -> 'legs') - 1 AS last_leg, \
             r.request #> '{{traveller,dependants}}' AS dependants \
             FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = ANY($1) AND l.arrival <= $3 AND l.departure >= $2 AND r.status IN {ISSUED}"
),
        )
        .bind(areas.iter().map(AreaCode::as_str).collect::<Vec<_>>())
        .bind(from)
        .bind(day)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let area: String = r.try_get("area_code")?;
                let email: Option<String> = r.try_get("email")?;
                let language: Option<String> = r.try_get("language")?;
                Ok(Sighting {
                    request_id: r.try_get("id")?,
                    traveller_id: r.try_get("traveller_id")?,
                    traveller_name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                    org: r.try_get("org")?,
                    submitted_by: r.try_get("submitted_by")?,
                    email: email
                        .map(EmailAddress::try_from)
                        .transpose()
                        .map_err(corrupt)?,
                    language: language
                        .map(Language::try_from)
                        .transpose()
                        .map_err(corrupt)?,
                    area: AreaCode::parse("area_code", &area).map_err(corrupt)?,
                    arrival: r.try_get("arrival")?,
                    departure: r.try_get("departure")?,
                    last_leg: r.try_get("last_leg")?,
                    dependants: r
                        .try_get::<Option<Json<Vec<Dependant>>>, _>("dependants")?
                        .map(|Json(d)| d)
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    #[tracing::instrument(name = "store.open_incident", level = "debug", skip_all)]
    async fn open_incident(&self, opening: &IncidentOpening) -> Result<(), StoreError> {
        let mut scopes = Vec::with_capacity(opening.rescreens.len());
        for job in &opening.rescreens {
            scopes.push(rescreen_scope(&self.pool, Some(job)).await?);
        }
        let incident = &opening.incident;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO incidents (id, status, incident) VALUES ($1, 'open', $2)")
            .bind(incident.id)
            .bind(Json(incident))
            .execute(&mut *tx)
            .await?;
        let codes: Vec<&str> = incident.areas.iter().map(AreaCode::as_str).collect();
        let known: Vec<String> =
            sqlx::query_scalar("SELECT code FROM areas WHERE code = ANY($1) FOR SHARE")
                .bind(&codes)
                .fetch_all(&mut *tx)
                .await?;
        if let Some(unknown) = codes.iter().find(|c| !known.iter().any(|k| k == *c)) {
            return Err(StoreError::NotFound((*unknown).to_owned()));
        }
        sqlx::query(
            "INSERT INTO incident_areas (incident_id, area_code, started_at) SELECT $1, a, $3 FROM UNNEST($2::text[]) AS a",
        )
        .bind(incident.id)
        .bind(&codes)
        .bind(incident.started_at)
        .execute(&mut *tx)
        .await?;
        // One statement per thousand entries: ten thousand people in ten round trips.
        for chunk in opening.entries.chunks(1000) {
            let entries: Vec<Json<&RollEntry>> = chunk.iter().map(Json).collect();
            sqlx::query(
                "INSERT INTO incident_people (id, incident_id, org, traveller_id, area_code, state, asked_at, dependants, entry) \
                 SELECT (e ->> 'id')::uuid, $1, e ->> 'org', e ->> 'traveller_id', e ->> 'area', e ->> 'state', \
                 (e ->> 'last_asked_at')::timestamptz, jsonb_array_length(e -> 'dependants'), e FROM UNNEST($2::jsonb[]) AS e",
            )
            .bind(incident.id)
            .bind(entries)
            .execute(&mut *tx)
            .await?;
        }
        enqueue_asks(&mut tx, &opening.asks, incident.opened_at).await?;
        let opened = TimelineEvent {
            at: incident.opened_at,
            actor: incident.opened_by.clone(),
            kind: "opened".into(),
            entry_id: None,
            detail: format!("{} people asked", opening.entries.len()),
        };
        insert_event(&mut tx, incident.id, &opened).await?;
        for (job, in_scope) in opening.rescreens.iter().zip(scopes) {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.get_incident", level = "debug", skip_all)]
    async fn get_incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError> {
        let found: Option<Json<Incident>> =
            sqlx::query_scalar("SELECT incident FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.map(|Json(i)| i))
    }

    #[tracing::instrument(name = "store.list_incidents", level = "debug", skip_all)]
    async fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
    ) -> Result<Vec<Incident>, StoreError> {
        let rows: Vec<Json<Incident>> = sqlx::query_scalar(
            "SELECT incident FROM incidents WHERE $1::text IS NULL OR status = $1 ORDER BY id DESC LIMIT 1000",
        )
        .bind(status.map(IncidentStatus::as_str))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|Json(i)| i).collect())
    }

    #[tracing::instrument(name = "store.board", level = "debug", skip_all)]
    async fn board(&self, id: Uuid, org: Option<&str>) -> Result<Vec<BoardLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT area_code, org, state, COUNT(*) AS people, SUM(dependants)::bigint AS dependants FROM incident_people \
             WHERE incident_id = $1 AND ($2::text IS NULL OR org = $2) \
             GROUP BY area_code, org, state ORDER BY area_code, org",
        )
        .bind(id)
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        let mut lines: Vec<BoardLine> = Vec::new();
        for row in rows {
            let (area, org): (String, String) = (row.try_get("area_code")?, row.try_get("org")?);
            let state: String = row.try_get("state")?;
            let state =
                CheckState::parse(&state).ok_or_else(|| corrupt(format!("state {state}")))?;
            let people: i64 = row.try_get("people")?;
            match lines.last_mut() {
                Some(line) if line.area == area && line.org == org => line.add(state, people),
                _ => {
                    let mut line = BoardLine {
                        area,
                        org,
                        ..Default::default()
                    };
                    line.add(state, people);
                    lines.push(line);
                }
            }
            if let Some(line) = lines.last_mut() {
                line.dependants += row.try_get::<i64, _>("dependants")?;
            }
        }
        Ok(lines)
    }

    #[tracing::instrument(name = "store.roll", level = "debug", skip_all)]
    async fn roll(&self, id: Uuid, query: &RollQuery) -> Result<Vec<RollEntry>, StoreError> {
        let rows: Vec<Json<RollEntry>> = sqlx::query_scalar(
            "SELECT entry FROM incident_people WHERE incident_id = $1 AND ($2::text IS NULL OR org = $2) \
             AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR area_code = $4) ORDER BY org, traveller_id",
        )
        .bind(id)
        .bind(query.org.as_deref())
        .bind(query.state.map(CheckState::as_str))
        .bind(query.area.as_ref().map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|Json(e)| e).collect())
    }

    #[tracing::instrument(name = "store.roll_entry", level = "debug", skip_all)]
    async fn roll_entry(&self, entry: Uuid) -> Result<Option<(Incident, RollEntry)>, StoreError> {
        let row = sqlx::query(
            "SELECT i.incident, p.entry FROM incident_people p JOIN incidents i ON i.id = p.incident_id WHERE p.id = $1",
        )
        .bind(entry)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(pair).transpose()
    }

    #[tracing::instrument(name = "store.open_entries_of", level = "debug", skip_all)]
    async fn open_entries_of(
        &self,
        org: &str,
        traveller_id: &str,
    ) -> Result<Vec<(Incident, RollEntry)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.incident, p.entry FROM incident_people p JOIN incidents i ON i.id = p.incident_id \
             WHERE p.org = $1 AND p.traveller_id = $2 AND i.status = 'open' ORDER BY i.id DESC",
        )
        .bind(org)
        .bind(traveller_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pair).collect()
    }

    #[tracing::instrument(name = "store.record_answer", level = "debug", skip_all)]
    async fn record_answer(&self, answer: &RecordedAnswer) -> Result<RollEntry, StoreError> {
        let incident = answer.incident;
        let mut tx = self.pool.begin().await?;
        if lock_status(&mut tx, incident, false).await? != Some(IncidentStatus::Open) {
            return Err(StoreError::Conflict(format!(
                "incident {incident} is closed"
            )));
        }
        let found: Option<Json<RollEntry>> = sqlx::query_scalar(
            "SELECT entry FROM incident_people WHERE id = $1 AND incident_id = $2 FOR UPDATE",
        )
        .bind(answer.entry)
        .bind(incident)
        .fetch_optional(&mut *tx)
        .await?;
        let Json(mut entry) =
            found.ok_or_else(|| StoreError::NotFound(answer.entry.to_string()))?;
        entry.answer(
            &answer.answer,
            &answer.event.actor,
            answer.via,
            answer.event.at,
        );
        write_entry(&mut tx, &entry).await?;
        insert_event(&mut tx, incident, &answer.event).await?;
        commit(tx).await?;
        Ok(entry)
    }

    #[tracing::instrument(name = "store.close_incident", level = "debug", skip_all)]
    async fn close_incident(&self, closing: &IncidentClosing) -> Result<(), StoreError> {
        let mut scopes = Vec::with_capacity(closing.rescreens.len());
        for job in &closing.rescreens {
            scopes.push(rescreen_scope(&self.pool, Some(job)).await?);
        }
        let id = closing.incident.id;
        let mut tx = self.pool.begin().await?;
        match lock_status(&mut tx, id, true).await? {
            None => return Err(StoreError::NotFound(format!("incident {id}"))),
            Some(IncidentStatus::Closed) => {
                return Err(StoreError::Conflict(format!("incident {id} is closed")));
            }
            Some(IncidentStatus::Open) => {}
        }
        sqlx::query("UPDATE incidents SET status = 'closed', incident = $1 WHERE id = $2")
            .bind(Json(&closing.incident))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM incident_areas WHERE incident_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, id, &closing.event).await?;
        for (job, in_scope) in closing.rescreens.iter().zip(scopes) {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.incident_timeline", level = "debug", skip_all)]
    async fn timeline(&self, id: Uuid) -> Result<Vec<TimelineEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, kind, entry_id, detail FROM incident_events WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEvent {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    kind: r.try_get("kind")?,
                    entry_id: r.try_get("entry_id")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(name = "store.unanswered", level = "debug", skip_all)]
    async fn unanswered(
        &self,
        before: DateTime<Utc>,
        max_asks: u32,
        limit: u32,
    ) -> Result<Vec<(Incident, RollEntry)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.incident, p.entry FROM incidents i JOIN incident_people p ON p.incident_id = i.id \
             WHERE i.status = 'open' AND p.state = 'no_answer' AND p.asked_at < $1 AND (p.entry ->> 'asks')::int < $3 \
             ORDER BY i.id, p.id LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .bind(i64::from(max_asks) as i32)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pair).collect()
    }

    #[tracing::instrument(name = "store.asks_to_mail", level = "debug", skip_all)]
    async fn asks_to_mail(&self, limit: u32) -> Result<Vec<(Incident, RollEntry)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.incident, p.entry FROM incidents i JOIN incident_people p ON p.incident_id = i.id \
             WHERE i.status = 'open' AND p.state = 'no_answer' AND p.mailed_asks < (p.entry ->> 'asks')::int \
             ORDER BY p.asked_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pair).collect()
    }

    #[tracing::instrument(name = "store.mail_asks", level = "debug", skip_all)]
    async fn mail_asks(&self, asked: &[(Uuid, i32)], mail: &[NewMail]) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for m in mail {
            insert_mail(&mut tx, m, now).await?;
        }
        sqlx::query(
            "UPDATE incident_people p SET mailed_asks = GREATEST(p.mailed_asks, a.ask) \
             FROM UNNEST($1::uuid[], $2::int[]) AS a(id, ask) WHERE p.id = a.id",
        )
        .bind(asked.iter().map(|(e, _)| *e).collect::<Vec<_>>())
        .bind(asked.iter().map(|(_, a)| *a).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.remind", level = "debug", skip_all)]
    async fn remind(&self, reminders: &Reminders) -> Result<usize, StoreError> {
        let at = reminders.event.at;
        let mut tx = self.pool.begin().await?;
        let mut incidents: std::collections::BTreeMap<Uuid, usize> = Default::default();
        let mut reminded = Vec::new();
        for (entry, ask) in &reminders.asks {
            let open = match incidents.get(&entry.incident_id) {
                Some(_) => true,
                None => {
                    lock_status(&mut tx, entry.incident_id, false).await?
                        == Some(IncidentStatus::Open)
                }
            };
            if !open {
                continue;
            }
            // Locked, so an answer given meanwhile is neither overwritten nor reminded of.
            let found: Option<Json<RollEntry>> = sqlx::query_scalar(
                "SELECT entry FROM incident_people WHERE id = $1 AND state = 'no_answer' AND asked_at < $2 FOR UPDATE",
            )
            .bind(entry.id)
            .bind(reminders.asked_before)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(Json(mut stored)) = found else {
                continue;
            };
            stored.ask_again(at);
            write_entry(&mut tx, &stored).await?;
            reminded.push(ask.clone());
            *incidents.entry(entry.incident_id).or_default() += 1;
        }
        enqueue_asks(&mut tx, &reminded, at).await?;
        for (id, count) in incidents {
            let event = TimelineEvent {
                detail: format!("{count} people reminded"),
                ..reminders.event.clone()
            };
            insert_event(&mut tx, id, &event).await?;
        }
        commit(tx).await?;
        Ok(reminded.len())
    }
}
