//! Incidents on SQLite: written in the writer's turn, the roll-call kept as JSON per entry.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::mail::insert_mail;
use super::rescreening::{create_rescreen_job, rescreen_scope};
use super::rows::{parse_ts, ts};
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
    tx: &mut SqliteConnection,
    id: Uuid,
    event: &TimelineEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, at, actor, kind, entry_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(ts(event.at))
    .bind(&event.actor)
    .bind(&event.kind)
    .bind(event.entry_id.map(|e| e.to_string()))
    .bind(&event.detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Each ask into the outbox of its organisation's subscribed webhooks.
async fn enqueue_asks(
    tx: &mut SqliteConnection,
    asks: &[Ask],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut hooks: HashMap<&str, Vec<String>> = HashMap::new();
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

/// Whether the incident is open, read inside the writer's turn.
async fn status_of(
    tx: &mut SqliteConnection,
    id: Uuid,
) -> Result<Option<IncidentStatus>, StoreError> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM incidents WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    status
        .map(|s| IncidentStatus::parse(&s).ok_or_else(|| corrupt(format!("incident status {s}"))))
        .transpose()
}

/// A row of `sightings`' JSON array.
fn sighting(area: &AreaCode, row: serde_json::Value) -> Result<Sighting, StoreError> {
    type Row = (
        Uuid,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
        NaiveDate,
        NaiveDate,
        // SQLite's comparisons are integers: 1 for the request's last leg.
        i64,
        Option<Vec<Dependant>>,
    );
    let (
        request_id,
        traveller_id,
        name,
        org,
        submitted_by,
        email,
        language,
        arrival,
        departure,
        last_leg,
        dependants,
    ): Row = serde_json::from_value(row).map_err(corrupt)?;
    Ok(Sighting {
        request_id,
        traveller_id,
        traveller_name: name.unwrap_or_default(),
        org,
        submitted_by,
        email: email
            .map(EmailAddress::try_from)
            .transpose()
            .map_err(corrupt)?,
        language: language
            .map(Language::try_from)
            .transpose()
            .map_err(corrupt)?,
        area: area.clone(),
        arrival,
        departure,
        last_leg: last_leg != 0,
        dependants: dependants.unwrap_or_default(),
    })
}

fn incident_from(text: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

/// A row of an incident (`incident`) and one of its entries (`entry`).
fn pair(row: &sqlx::sqlite::SqliteRow) -> Result<(Incident, RollEntry), StoreError> {
    Ok((
        incident_from(&row.try_get::<String, _>("incident")?)?,
        entry_from(&row.try_get::<String, _>("entry")?)?,
    ))
}

fn entry_from(text: &str) -> Result<RollEntry, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

async fn write_entry(tx: &mut SqliteConnection, entry: &RollEntry) -> Result<(), StoreError> {
    sqlx::query("UPDATE incident_people SET state = ?, asked_at = ?, entry = ? WHERE id = ?")
        .bind(entry.state.as_str())
        .bind(entry.last_asked_at.map(ts))
        .bind(serde_json::to_string(entry)?)
        .bind(entry.id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[async_trait]
impl IncidentStore for SqliteStore {
    #[tracing::instrument(name = "store.sightings", level = "debug", skip_all)]
    async fn sightings(
        &self,
        areas: &[AreaCode],
        from: NaiveDate,
        day: NaiveDate,
    ) -> Result<Vec<Sighting>, StoreError> {
        let mut found = Vec::new();
        for area in areas {
            // As the locator reads it (see `personnel`): from the area's legs, one JSON array.
            let list: String = sqlx::query_scalar(
                &format!(
"SELECT json_group_array(json_array(r.id, r.traveller_id, r.request ->> '$.traveller.name', r.org, \
                 r.submitted_by, r.request ->> '$.traveller.email', r.request ->> '$.traveller.language', \
                 l.arrival, l.departure, l.seq = json_array_length(r.request, '$.legs') - 1, \
                 r.request -> '$.traveller.dependants')) \
                 FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
                 WHERE l.area_code = ?1 AND l.arrival <= ?3 AND l.departure >= ?2 AND +r.status IN {ISSUED}"
),
            )
            .bind(area.as_str())
            .bind(from)
            .bind(day)
            .fetch_one(&self.pool)
            .await?;
            let rows: Vec<serde_json::Value> = serde_json::from_str(&list).map_err(corrupt)?;
            for row in rows {
                found.push(sighting(area, row)?);
            }
        }
        Ok(found)
    }

    #[tracing::instrument(name = "store.open_incident", level = "debug", skip_all)]
    async fn open_incident(&self, opening: &IncidentOpening) -> Result<(), StoreError> {
        let mut scopes = Vec::with_capacity(opening.rescreens.len());
        for job in &opening.rescreens {
            scopes.push(rescreen_scope(&self.pool, Some(job)).await?);
        }
        let incident = &opening.incident;
        let id = incident.id.to_string();
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO incidents (id, status, incident) VALUES (?, 'open', ?)")
            .bind(&id)
            .bind(serde_json::to_string(incident)?)
            .execute(&mut *tx)
            .await?;
        for area in &incident.areas {
            let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM areas WHERE code = ?")
                .bind(area.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::NotFound(area.to_string()));
            }
            sqlx::query(
                "INSERT INTO incident_areas (incident_id, area_code, started_at) VALUES (?, ?, ?)",
            )
            .bind(&id)
            .bind(area.as_str())
            .bind(ts(incident.started_at))
            .execute(&mut *tx)
            .await?;
        }
        for entry in &opening.entries {
            sqlx::query(
                "INSERT INTO incident_people (id, incident_id, org, traveller_id, area_code, state, asked_at, dependants, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(entry.id.to_string())
            .bind(&id)
            .bind(&entry.org)
            .bind(&entry.traveller_id)
            .bind(entry.area.as_str())
            .bind(entry.state.as_str())
            .bind(entry.last_asked_at.map(ts))
            .bind(entry.dependants.len() as i64)
            .bind(serde_json::to_string(entry)?)
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
        turn.commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.get_incident", level = "debug", skip_all)]
    async fn get_incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT incident FROM incidents WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        text.as_deref().map(incident_from).transpose()
    }

    #[tracing::instrument(name = "store.list_incidents", level = "debug", skip_all)]
    async fn list_incidents(
        &self,
        status: Option<IncidentStatus>,
    ) -> Result<Vec<Incident>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT incident FROM incidents WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT 1000",
        )
        .bind(status.map(IncidentStatus::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|t| incident_from(t)).collect()
    }

    #[tracing::instrument(name = "store.board", level = "debug", skip_all)]
    async fn board(&self, id: Uuid, org: Option<&str>) -> Result<Vec<BoardLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT area_code, org, state, COUNT(*) AS people, SUM(dependants) AS dependants FROM incident_people \
             WHERE incident_id = ?1 AND (?2 IS NULL OR org = ?2) \
             GROUP BY area_code, org, state ORDER BY area_code, org",
        )
        .bind(id.to_string())
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        let mut lines: Vec<BoardLine> = Vec::new();
        for row in rows {
            let (area, org): (String, String) = (row.try_get("area_code")?, row.try_get("org")?);
            let state: String = row.try_get("state")?;
            let state =
                CheckState::parse(&state).ok_or_else(|| corrupt(format!("state {state}")))?;
            match lines.last_mut() {
                Some(line) if line.area == area && line.org == org => {
                    line.add(state, row.try_get("people")?)
                }
                _ => {
                    let mut line = BoardLine {
                        area,
                        org,
                        ..Default::default()
                    };
                    line.add(state, row.try_get("people")?);
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
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT entry FROM incident_people WHERE incident_id = ?1 AND (?2 IS NULL OR org = ?2) \
             AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR area_code = ?4) ORDER BY org, traveller_id",
        )
        .bind(id.to_string())
        .bind(query.org.as_deref())
        .bind(query.state.map(CheckState::as_str))
        .bind(query.area.as_ref().map(AreaCode::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|t| entry_from(t)).collect()
    }

    #[tracing::instrument(name = "store.roll_entry", level = "debug", skip_all)]
    async fn roll_entry(&self, entry: Uuid) -> Result<Option<(Incident, RollEntry)>, StoreError> {
        let row = sqlx::query(
            "SELECT i.incident, p.entry FROM incident_people p JOIN incidents i ON i.id = p.incident_id WHERE p.id = ?",
        )
        .bind(entry.to_string())
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
             WHERE p.org = ? AND p.traveller_id = ? AND i.status = 'open' ORDER BY i.id DESC",
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
        // The writer's turn serialises this with closing and reminders.
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        if status_of(&mut tx, incident).await? != Some(IncidentStatus::Open) {
            return Err(StoreError::Conflict(format!(
                "incident {incident} is closed"
            )));
        }
        let text: Option<String> = sqlx::query_scalar(
            "SELECT entry FROM incident_people WHERE id = ? AND incident_id = ?",
        )
        .bind(answer.entry.to_string())
        .bind(incident.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let mut entry =
            entry_from(&text.ok_or_else(|| StoreError::NotFound(answer.entry.to_string()))?)?;
        entry.answer(
            &answer.answer,
            &answer.event.actor,
            answer.via,
            answer.event.at,
        );
        write_entry(&mut tx, &entry).await?;
        insert_event(&mut tx, incident, &answer.event).await?;
        turn.commit(tx).await?;
        Ok(entry)
    }

    #[tracing::instrument(name = "store.close_incident", level = "debug", skip_all)]
    async fn close_incident(&self, closing: &IncidentClosing) -> Result<(), StoreError> {
        let mut scopes = Vec::with_capacity(closing.rescreens.len());
        for job in &closing.rescreens {
            scopes.push(rescreen_scope(&self.pool, Some(job)).await?);
        }
        let id = closing.incident.id;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        match status_of(&mut tx, id).await? {
            None => return Err(StoreError::NotFound(format!("incident {id}"))),
            Some(IncidentStatus::Closed) => {
                return Err(StoreError::Conflict(format!("incident {id} is closed")));
            }
            Some(IncidentStatus::Open) => {}
        }
        sqlx::query("UPDATE incidents SET status = 'closed', incident = ? WHERE id = ?")
            .bind(serde_json::to_string(&closing.incident)?)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM incident_areas WHERE incident_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, id, &closing.event).await?;
        for (job, in_scope) in closing.rescreens.iter().zip(scopes) {
            create_rescreen_job(&mut tx, job, in_scope).await?;
        }
        turn.commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.incident_timeline", level = "debug", skip_all)]
    async fn timeline(&self, id: Uuid) -> Result<Vec<TimelineEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, kind, entry_id, detail FROM incident_events WHERE incident_id = ? ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let entry: Option<String> = r.try_get("entry_id")?;
                Ok(TimelineEvent {
                    at: parse_ts(&r.try_get::<String, _>("at")?)?,
                    actor: r.try_get("actor")?,
                    kind: r.try_get("kind")?,
                    entry_id: entry
                        .map(|e| Uuid::parse_str(&e).map_err(corrupt))
                        .transpose()?,
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
             WHERE i.status = 'open' AND p.state = 'no_answer' AND p.asked_at < ? AND (p.entry ->> '$.asks') < ? \
             ORDER BY i.id, p.id LIMIT ?",
        )
        .bind(ts(before))
        .bind(i64::from(max_asks))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pair).collect()
    }

    #[tracing::instrument(name = "store.asks_to_mail", level = "debug", skip_all)]
    async fn asks_to_mail(&self, limit: u32) -> Result<Vec<(Incident, RollEntry)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.incident, p.entry FROM incidents i JOIN incident_people p ON p.incident_id = i.id \
             WHERE i.status = 'open' AND p.state = 'no_answer' AND p.mailed_asks < (p.entry ->> '$.asks') \
             ORDER BY p.asked_at LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pair).collect()
    }

    #[tracing::instrument(name = "store.mail_asks", level = "debug", skip_all)]
    async fn mail_asks(&self, asked: &[(Uuid, i32)], mail: &[NewMail]) -> Result<(), StoreError> {
        let now = Utc::now();
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        for m in mail {
            insert_mail(&mut tx, m, now).await?;
        }
        for (entry, ask) in asked {
            sqlx::query(
                "UPDATE incident_people SET mailed_asks = max(mailed_asks, ?) WHERE id = ?",
            )
            .bind(ask)
            .bind(entry.to_string())
            .execute(&mut *tx)
            .await?;
        }
        turn.commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.remind", level = "debug", skip_all)]
    async fn remind(&self, reminders: &Reminders) -> Result<usize, StoreError> {
        let at = reminders.event.at;
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        let mut incidents: std::collections::BTreeMap<Uuid, usize> = Default::default();
        let mut reminded = Vec::new();
        for (entry, ask) in &reminders.asks {
            // Only an entry still unanswered, of an incident still open, is asked again.
            let text: Option<String> = sqlx::query_scalar(
                "SELECT p.entry FROM incident_people p JOIN incidents i ON i.id = p.incident_id \
                 WHERE p.id = ? AND p.state = 'no_answer' AND i.status = 'open' AND p.asked_at < ?",
            )
            .bind(entry.id.to_string())
            .bind(ts(reminders.asked_before))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(text) = text else {
                continue;
            };
            let mut entry = entry_from(&text)?;
            entry.ask_again(at);
            write_entry(&mut tx, &entry).await?;
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
        turn.commit(tx).await?;
        Ok(reminded.len())
    }
}
