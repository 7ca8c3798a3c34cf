//! Clearance requests: stored with their legs and first audit entry, changed, read, listed, located.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::PostgresStore;
use super::audit::append_audits;
use super::rows::request_from_row;
use super::webhooks::enqueue_events;
use super::{REQUEST_COLUMNS, commit};
use crate::domain::area::AreaCode;
use crate::domain::request::{OrgId, RequestRecord, TravellerId};
use crate::domain::team::Flight;
use crate::store::RequestStore;
use crate::store::encoding::of_hooked_orgs;
use crate::store::encoding::{ISSUED, LIVE, PendingInsert, corrupt, leg_operator, queue_stage};
use crate::store::{
    NewRequest, PersonnelEntry, RequestChange, RequestQuery, RequestScope, StoreError,
};

pub(super) async fn insert_legs(
    tx: &mut PgConnection,
    record: &RequestRecord,
) -> Result<(), StoreError> {
    let legs = record.request.legs.legs();
    sqlx::query(
        "INSERT INTO request_legs (request_id, seq, area_code, arrival, departure, operator) \
         SELECT $1, seq - 1, area, arrival, departure, operator \
         FROM UNNEST($2::text[], $3::date[], $4::date[], $5::text[]) WITH ORDINALITY AS t(area, arrival, departure, operator, seq)",
    )
    .bind(record.id)
    .bind(legs.iter().map(|l| l.area.as_str()).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.arrival).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.departure).collect::<Vec<_>>())
    .bind(legs.iter().map(leg_operator).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl RequestStore for PostgresStore {
    #[tracing::instrument(name = "store.headcounts", level = "debug", skip_all)]
    async fn headcounts(&self, on: NaiveDate) -> Result<Vec<(AreaCode, i64)>, StoreError> {
        // One index range per area, as the locator reads it.
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT a.code, (SELECT COUNT(DISTINCT (r.org, r.traveller_id)) FROM request_legs l \
             JOIN clearance_requests r ON r.id = l.request_id WHERE l.area_code = a.code \
             AND l.arrival <= $1 AND l.departure >= $1 AND r.status IN {ISSUED}) \
             FROM areas a ORDER BY a.code"
        ))
        .bind(on)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(code, people)| Ok((AreaCode::parse("code", &code).map_err(corrupt)?, people)))
            .collect()
    }

    #[tracing::instrument(name = "store.personnel", level = "debug", skip_all)]
    async fn personnel(
        &self,
        area: &AreaCode,
        on: NaiveDate,
    ) -> Result<Vec<PersonnelEntry>, StoreError> {
        let rows = sqlx::query(
            &format!(
"SELECT r.id, r.traveller_id, r.request->'traveller'->>'name' AS traveller_name, r.org, r.status, \
             l.arrival, l.departure FROM request_legs l JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.area_code = $1 AND l.arrival <= $2 AND l.departure >= $2 AND r.status IN {ISSUED} \
             ORDER BY r.org, r.traveller_id, l.arrival"
),
        )
        .bind(area.as_str())
        .bind(on)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PersonnelEntry {
                    request_id: row.try_get("id")?,
                    traveller_id: row.try_get("traveller_id")?,
                    traveller_name: row
                        .try_get::<Option<String>, _>("traveller_name")?
                        .unwrap_or_default(),
                    org: row.try_get("org")?,
                    status: row.try_get("status")?,
                    arrival: row.try_get("arrival")?,
                    departure: row.try_get("departure")?,
                })
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
            .map_err(|_| StoreError::Unavailable("the batcher has stopped".into()))?;
        committed
            .await
            .map_err(|_| StoreError::Unavailable("the batcher stopped before committing".into()))?
    }

    #[tracing::instrument(name = "store.update_requests", level = "debug", skip_all)]
    async fn update_requests(&self, changes: &[RequestChange<'_>]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        apply_changes(&mut tx, changes, self.mail_notices).await?;
        commit(tx).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.team_members", level = "debug", skip_all)]
    async fn team_members(&self, team: Uuid) -> Result<Vec<RequestRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests WHERE team_id = $1 ORDER BY id"
        ))
        .bind(team)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(request_from_row)
        .collect()
    }

    #[tracing::instrument(name = "store.get_request", level = "debug", skip_all)]
    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(request_from_row)
        .transpose()
    }

    #[tracing::instrument(name = "store.get_requests", level = "debug", skip_all)]
    async fn get_requests(&self, ids: &[Uuid]) -> Result<Vec<RequestRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests WHERE id = ANY($1) ORDER BY id"
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(request_from_row)
        .collect()
    }

    #[tracing::instrument(name = "store.list_requests", level = "debug", skip_all)]
    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests WHERE TRUE"
        ));
        match &query.scope {
            RequestScope::All => {}
            RequestScope::Traveller(org, id) => {
                sql.push(" AND traveller_id = ").push_bind(id.as_str());
                sql.push(" AND org = ").push_bind(org.as_str());
            }
            RequestScope::Org(org) => {
                sql.push(" AND org = ").push_bind(org.as_str());
            }
        }
        if let Some(traveller) = &query.traveller {
            sql.push(" AND traveller_id = ")
                .push_bind(traveller.as_str());
        }
        if let Some(status) = query.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        let legs = &query.legs;
        if !legs.is_empty() {
            // Through the legs' (area, arrival, departure) index, then by id.
            sql.push(" AND id IN (SELECT request_id FROM request_legs WHERE TRUE");
            if let Some(area) = &legs.area {
                sql.push(" AND area_code = ").push_bind(area.as_str());
            }
            if let Some(from) = legs.from {
                sql.push(" AND departure >= ").push_bind(from);
            }
            if let Some(until) = legs.until {
                sql.push(" AND arrival <= ").push_bind(until);
            }
            sql.push(")");
        }
        if let Some(before) = query.before {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
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
             JOIN clearance_requests r ON r.id = l.request_id \
             WHERE l.operator = $1 AND l.arrival = $2 AND r.org = $3 AND r.status IN {LIVE} \
             AND ($4::uuid IS NULL OR r.id < $4 OR (r.team_id = $6 AND r.id <> $4)) \
             AND NOT (r.traveller_id = ANY($7::text[])) \
             AND r.request -> 'legs' -> l.seq::int -> 'travel' ->> 'flight_number' = $5"
        ))
        .bind(flight.operator.as_str())
        .bind(flight.day)
        .bind(org.as_str())
        .bind(before.map(|(id, _)| id))
        .bind(&flight.number)
        .bind(before.and_then(|(_, team)| team))
        .bind(except.iter().map(|t| t.as_str()).collect::<Vec<_>>())
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
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests r \
             WHERE r.status = 'cleared_pending_acknowledgement' AND r.first_arrival <= $1 \
             AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id AND a.action = 'briefing_overdue') \
             ORDER BY r.first_arrival, r.id LIMIT $2"
        ))
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
        sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM clearance_requests \
             WHERE status IN ('escalated', 'held', 'returned') \
             AND (first_arrival < $1 OR (first_arrival = $1 AND submitted_at < $2)) \
             ORDER BY first_arrival, id LIMIT $3"
        ))
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

/// A column's values for an UPDATE FROM UNNEST: null where the request itself is unchanged.
fn amended<'a, T>(
    changes: &'a [RequestChange<'_>],
    f: impl Fn(&'a RequestRecord) -> T,
) -> Vec<Option<T>> {
    changes
        .iter()
        .map(|c| c.legs_changed.then(|| f(c.record)))
        .collect()
}

/// Applies `changes` in the transaction `tx`: each request's row (only at the version it
/// was read at: `Conflict` otherwise), its legs when they changed, its webhook event and mail
/// notice, and its audit entry. A statement per table for the whole set, the rows bound as
/// arrays, so a re-screening batch costs a few round trips rather than a few per request.
async fn apply_changes(
    tx: &mut PgConnection,
    changes: &[RequestChange<'_>],
    mail_notices: bool,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let records: Vec<&RequestRecord> = changes.iter().map(|c| c.record).collect();
    let json = |f: fn(&RequestRecord) -> Result<Option<String>, serde_json::Error>| {
        records.iter().map(|r| f(r)).collect::<Result<Vec<_>, _>>()
    };
    // The row locks this takes hold off any other instance's change to the requests until
    // commit; one that read the same version then finds it gone and gets `Conflict`.
    let updated = sqlx::query(
        "UPDATE clearance_requests AS r SET status = t.status, \
         programme_criticality = coalesce(t.pc, r.programme_criticality), \
         first_arrival = coalesce(t.first_arrival, r.first_arrival), \
         last_departure = coalesce(t.last_departure, r.last_departure), updated_at = $11, \
         request = coalesce(t.request::jsonb, r.request), decision = t.decision::jsonb, \
         escalation = t.escalation::jsonb, \
         stage = t.stage, version = t.version \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::date[], $5::date[], $6::text[], $7::text[], \
                     $8::text[], $9::text[], $10::bigint[]) \
           AS t(id, status, pc, first_arrival, last_departure, request, decision, escalation, stage, version) \
         WHERE r.id = t.id AND r.version = t.version - 1",
    )
    .bind(records.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    // An unchanged request is not written again (null: the column keeps its value, and
    // PostgreSQL its stored body).
    .bind(amended(changes, |r| r.request.programme_criticality.as_str()))
    .bind(amended(changes, |r| r.request.legs.first_arrival()))
    .bind(amended(changes, |r| r.request.legs.last_departure()))
    .bind(
        changes
            .iter()
            .map(|c| c.legs_changed.then(|| serde_json::to_string(&c.record.request)).transpose())
            .collect::<Result<Vec<_>, _>>()?,
    )
    .bind(json(|r| serde_json::to_string(&r.decision).map(Some))?)
    .bind(json(|r| r.escalation.as_ref().map(serde_json::to_string).transpose())?)
    .bind(records.iter().map(|r| queue_stage(r)).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(Utc::now())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != changes.len() as u64 {
        return Err(StoreError::Conflict(match changes {
            [one] => format!("request {} changed meanwhile", one.record.id),
            _ => format!("one of {} requests changed meanwhile", changes.len()),
        }));
    }
    for change in changes.iter().filter(|c| c.legs_changed) {
        sqlx::query("DELETE FROM request_legs WHERE request_id = $1")
            .bind(change.record.id)
            .execute(&mut *tx)
            .await?;
        insert_legs(&mut *tx, change.record).await?;
    }
    // Most organisations have no webhook: one query tells which do.
    let orgs: Vec<&str> = records
        .iter()
        .map(|r| r.request.traveller.org.as_str())
        .collect();
    let with_webhooks: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT org FROM webhooks WHERE org = ANY($1)")
            .bind(&orgs)
            .fetch_all(&mut *tx)
            .await?;
    let hooked = of_hooked_orgs(changes.iter().map(|c| (c.record, &c.audit)), &with_webhooks);
    enqueue_events(&mut *tx, &hooked).await?;
    if mail_notices {
        super::mail::enqueue_notices(&mut *tx, changes).await?;
    }
    append_audits(&mut *tx, changes).await
}
