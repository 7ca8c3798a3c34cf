//! Clearance requests: stored with their legs and first audit entry, changed, read, listed, located.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::SqliteStore;
use super::audit::append_audits;
use super::mail::enqueue_notices;
use super::push_page;
use super::rows::request_from_row;
use super::webhooks::enqueue_events;
use crate::domain::area::AreaCode;
use crate::domain::request::{OrgId, RequestRecord, TravellerId};
use crate::domain::team::Flight;
use crate::store::RequestStore;
use crate::store::encoding::of_hooked_orgs;
use crate::store::encoding::{ISSUED, LIVE, PendingInsert, leg_operator, queue_stage};
use crate::store::{
    NewRequest, PersonnelEntry, RequestChange, RequestQuery, RequestScope, StoreError,
};

pub(super) async fn insert_legs(
    tx: &mut SqliteConnection,
    record: &RequestRecord,
) -> Result<(), StoreError> {
    let id = record.id.to_string();
    let mut legs = QueryBuilder::<Sqlite>::new(
        "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure, operator) ",
    );
    legs.push_values(
        record.request.legs.legs().iter().enumerate(),
        |mut row, (seq, leg)| {
            row.push_bind(id.clone())
                .push_bind(seq as i64)
                .push_bind(leg.area.as_str())
                .push_bind(leg.arrival)
                .push_bind(leg.departure)
                .push_bind(leg_operator(leg));
        },
    );
    legs.build().execute(&mut *tx).await?;
    Ok(())
}

#[async_trait]
impl RequestStore for SqliteStore {
    #[tracing::instrument(name = "store.personnel", level = "debug", skip_all)]
    async fn personnel(
        &self,
        area: &AreaCode,
        on: NaiveDate,
    ) -> Result<Vec<PersonnelEntry>, StoreError> {
        // CROSS JOIN makes SQLite start from the area's legs; left to choose, it would walk
        // every cleared request and look each one up in the area. The unary `+` has each leg
        // find its request by id, once, rather than probe the status index once per status.
        // SQLite hands the whole list over as one JSON array: ten thousand rows, each copied
        // out value by value and passed across sqlx's worker thread, took three times as long
        // as the query.
        let list: String = sqlx::query_scalar(
            &format!(
"SELECT json_group_array(json_array(r.id, r.traveller_id, r.request ->> '$.traveller.name', r.org, \
             r.status, l.arrival, l.departure) ORDER BY r.org, r.traveller_id, l.arrival) \
             FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = ?1 AND l.arrival <= ?2 AND l.departure >= ?2 AND +r.status IN {ISSUED}"
),
        )
        .bind(area.as_str())
        .bind(on)
        .fetch_one(&self.pool)
        .await?;
        type Person = (
            String,
            String,
            Option<String>,
            String,
            String,
            NaiveDate,
            NaiveDate,
        );
        let rows: Vec<Person> =
            serde_json::from_str(&list).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rows.into_iter()
            .map(
                |(id, traveller_id, name, org, status, arrival, departure)| {
                    Ok(PersonnelEntry {
                        request_id: Uuid::parse_str(&id)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        traveller_id,
                        traveller_name: name.unwrap_or_default(),
                        org,
                        status,
                        arrival,
                        departure,
                    })
                },
            )
            .collect()
    }

    #[tracing::instrument(name = "store.headcounts", level = "debug", skip_all)]
    async fn headcounts(&self, on: NaiveDate) -> Result<Vec<(AreaCode, i64)>, StoreError> {
        // One index range per area, as the locator reads it (see `personnel`).
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT a.code, (SELECT COUNT(DISTINCT r.org || char(31) || r.traveller_id) \
             FROM request_legs l CROSS JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = a.code AND l.arrival <= ?1 AND l.departure >= ?1 \
             AND +r.status IN {ISSUED}) FROM areas a ORDER BY a.code"
        ))
        .bind(on)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(code, people)| {
                let code = AreaCode::parse("code", &code)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((code, people))
            })
            .collect()
    }

    #[tracing::instrument(name = "store.insert_unit", level = "debug", skip_all)]
    async fn insert_unit(&self, unit: Vec<Arc<NewRequest>>) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let job = PendingInsert {
            unit,
            done,
            queued: std::time::Instant::now(),
            notice: self.mail_notices,
        };
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before committing".into()))?
    }

    #[tracing::instrument(name = "store.update_requests", level = "debug", skip_all)]
    async fn update_requests(&self, changes: &[RequestChange<'_>]) -> Result<(), StoreError> {
        let turn = self.turn().await?;
        let mut tx = self.pool.begin().await?;
        apply_changes(&mut tx, changes, self.mail_notices).await?;
        turn.commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.team_members", level = "debug", skip_all)]
    async fn team_members(&self, team: Uuid) -> Result<Vec<RequestRecord>, StoreError> {
        sqlx::query("SELECT * FROM clearance_requests WHERE team_id = ? ORDER BY id")
            .bind(team.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(request_from_row)
            .collect()
    }

    #[tracing::instrument(name = "store.get_request", level = "debug", skip_all)]
    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError> {
        sqlx::query("SELECT * FROM clearance_requests WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(request_from_row)
            .transpose()
    }

    #[tracing::instrument(name = "store.get_requests", level = "debug", skip_all)]
    async fn get_requests(&self, ids: &[Uuid]) -> Result<Vec<RequestRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One statement per batch, the ids as a JSON array: no limit on bound parameters.
        let ids = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())?;
        sqlx::query(
            "SELECT * FROM clearance_requests WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(request_from_row)
        .collect()
    }

    #[tracing::instrument(name = "store.list_requests", level = "debug", skip_all)]
    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM clearance_requests WHERE 1 = 1");
        match &query.scope {
            RequestScope::Traveller(org, id) => {
                // A traveller sees only their own: asking for another finds nothing.
                if query.traveller.as_ref().is_some_and(|t| t != id) {
                    return Ok(Vec::new());
                }
                return self.travellers_requests(Some(org), id, query).await;
            }
            // One traveller's: through the traveller index, not a scan of the organisation.
            RequestScope::Org(org) if let Some(traveller) = &query.traveller => {
                return self.travellers_requests(Some(org), traveller, query).await;
            }
            RequestScope::All if let Some(traveller) = &query.traveller => {
                return self.travellers_requests(None, traveller, query).await;
            }
            RequestScope::Org(org) => {
                sql.push(" AND org = ").push_bind(org.as_str());
            }
            RequestScope::All => {}
        }
        push_page(&mut sql, query, ["status", "id"]);
        sql.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(request_from_row)
            .collect()
    }

    #[tracing::instrument(name = "store.travellers_on_flight", level = "debug", skip_all)]
    async fn travellers_on_flight(
        &self,
        flight: &Flight,
        org: &OrgId,
        before: Option<(Uuid, Option<Uuid>)>,
        except: &[&TravellerId],
    ) -> Result<usize, StoreError> {
        // Through the operator's partial index; the flight number is the leg's, in the JSON.
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(DISTINCT r.traveller_id) FROM request_legs l \
             CROSS JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.operator = ?1 AND l.arrival = ?2 AND r.org = ?3 AND r.status IN {LIVE} \
             AND (r.id < ?4 OR (r.team_id = ?6 AND r.id <> ?4)) \
             AND r.traveller_id NOT IN (SELECT value FROM json_each(?7)) \
             AND json_extract(r.request, '$.legs[' || l.seq || '].travel.flight_number') = ?5"
        ))
        .bind(flight.operator.as_str())
        .bind(flight.day)
        .bind(org.as_str())
        // Every stored id (lower-case hex and hyphens) sorts before "~".
        .bind(before.map_or_else(|| "~".to_owned(), |(id, _)| id.to_string()))
        .bind(&flight.number)
        .bind(before.and_then(|(_, team)| team).map(|t| t.to_string()))
        .bind(serde_json::to_string(
            &except.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        )?)
        .fetch_one(&self.pool)
        .await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    #[tracing::instrument(name = "store.unacknowledged_started", level = "debug", skip_all)]
    async fn unacknowledged_started(
        &self,
        on: NaiveDate,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        sqlx::query(
            "SELECT * FROM clearance_requests r WHERE r.status = 'cleared_pending_acknowledgement' \
             AND r.first_arrival <= ?1 AND NOT EXISTS (SELECT 1 FROM audit_log a \
             WHERE a.request_id = r.id AND a.action = 'briefing_overdue') \
             ORDER BY r.first_arrival, r.id LIMIT ?2",
        )
        .bind(on)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(request_from_row)
        .collect()
    }

    #[tracing::instrument(name = "store.pending_started", level = "debug", skip_all)]
    async fn pending_started(
        &self,
        on: NaiveDate,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        sqlx::query(
            "SELECT * FROM clearance_requests WHERE status IN ('escalated', 'held', 'returned') \
             AND (first_arrival < ?1 OR (first_arrival = ?1 AND submitted_at < ?2)) \
             ORDER BY first_arrival, id LIMIT ?3",
        )
        .bind(on)
        .bind(on.and_time(chrono::NaiveTime::MIN).and_utc())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(request_from_row)
        .collect()
    }
}

/// Applies `changes` in the transaction `tx`: each request's row (only at the version it
/// was read at: `Conflict` otherwise), its legs when they changed, its webhook event and mail
/// notice, and its audit entry. A statement per table for the whole set, the rows as a JSON
/// array, so a re-screening batch costs a few statements rather than a few per request. The
/// first statement writes, so the transaction holds the write lock from its start.
async fn apply_changes(
    tx: &mut SqliteConnection,
    changes: &[RequestChange<'_>],
    mail_notices: bool,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    for change in changes.iter().filter(|c| c.legs_changed) {
        // Legs are keyed by area first: the old ones are found through the areas the stored
        // itinerary names, so this runs before the new itinerary replaces it.
        sqlx::query(
            "DELETE FROM request_legs WHERE request_id = ?1 AND area_code IN \
                 (SELECT json_extract(leg.value, '$.area') FROM clearance_requests AS r, \
                 json_each(r.request, '$.legs') AS leg WHERE r.id = ?1)",
        )
        .bind(change.record.id.to_string())
        .execute(&mut *tx)
        .await?;
    }
    let rows = changes
        .iter()
        .map(|change| {
            let record = change.record;
            let request = &record.request;
            // An unchanged request is not written again (null: the column keeps its value).
            let amended = change.legs_changed;
            Ok(serde_json::json!([
                record.id.to_string(),
                record.status.as_str(),
                amended.then(|| request.programme_criticality.as_str()),
                amended.then(|| request.legs.first_arrival()),
                amended.then(|| request.legs.last_departure()),
                amended
                    .then(|| serde_json::to_string(request))
                    .transpose()?,
                serde_json::to_string(&record.decision)?,
                record
                    .escalation
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                queue_stage(record),
                record.version,
            ]))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let updated = sqlx::query(
        "UPDATE clearance_requests AS r SET status = t.status, \
         programme_criticality = coalesce(t.pc, r.programme_criticality), \
         first_arrival = coalesce(t.first_arrival, r.first_arrival), \
         last_departure = coalesce(t.last_departure, r.last_departure), updated_at = ?2, \
         request = coalesce(t.request, r.request), decision = t.decision, escalation = t.escalation, \
         stage = t.stage, version = t.version \
         FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS status, \
                      json_extract(value, '$[2]') AS pc, json_extract(value, '$[3]') AS first_arrival, \
                      json_extract(value, '$[4]') AS last_departure, json_extract(value, '$[5]') AS request, \
                      json_extract(value, '$[6]') AS decision, json_extract(value, '$[7]') AS escalation, \
                      json_extract(value, '$[8]') AS stage, json_extract(value, '$[9]') AS version \
               FROM json_each(?1)) AS t \
         WHERE r.id = t.id AND r.version = t.version - 1",
    )
    .bind(serde_json::to_string(&rows)?)
    .bind(Utc::now())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != changes.len() as u64 {
        return Err(changed_meanwhile(changes));
    }
    for change in changes.iter().filter(|c| c.legs_changed) {
        insert_legs(&mut *tx, change.record).await?;
    }
    // Most organisations have no webhook: one query tells which do.
    let orgs: Vec<&str> = changes
        .iter()
        .map(|c| c.record.request.traveller.org.as_str())
        .collect();
    let with_webhooks: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT org FROM webhooks WHERE org IN (SELECT value FROM json_each(?))",
    )
    .bind(serde_json::to_string(&orgs)?)
    .fetch_all(&mut *tx)
    .await?;
    let hooked = of_hooked_orgs(changes.iter().map(|c| (c.record, &c.audit)), &with_webhooks);
    enqueue_events(&mut *tx, &hooked).await?;
    if mail_notices {
        enqueue_notices(&mut *tx, changes).await?;
    }
    append_audits(&mut *tx, changes).await
}

/// `Conflict`: a request changed since it was read (named when there is one).
fn changed_meanwhile(changes: &[RequestChange<'_>]) -> StoreError {
    StoreError::Conflict(match changes {
        [one] => format!("request {} changed meanwhile", one.record.id),
        _ => format!("one of {} requests changed meanwhile", changes.len()),
    })
}
