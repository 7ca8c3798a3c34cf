//! New requests reach PostgreSQL in groups: one transaction and one statement for
//! everything that arrived together, so a submission costs a share of a few round trips
//! instead of a dozen of its own. Several groups commit at once, each on its own connection;
//! PostgreSQL flushes their commits together, and every request is acknowledged only after
//! its group's commit has been flushed (`synchronous_commit` as the server sets it).

use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use tokio::sync::{Semaphore, mpsc};

use super::webhooks::enqueue_events;
use crate::metrics;
use crate::store::NewRequest;
use crate::store::StoreError;
use crate::store::encoding::of_hooked_orgs;
use crate::store::encoding::{PendingInsert, leg_operator, queue_stage};

/// Most units (requests, or teams of up to 100) one transaction carries.
const MAX_GROUP: usize = 512;

/// Starts the batcher; up to `in_flight` groups commit at the same time.
pub(super) fn start(pool: PgPool, in_flight: usize) -> mpsc::Sender<PendingInsert> {
    let (writer, queue) = mpsc::channel(4 * MAX_GROUP);
    tokio::spawn(batch_in_groups(
        pool,
        queue,
        Arc::new(Semaphore::new(in_flight)),
    ));
    writer
}

/// Waits for a free slot, then takes whatever has queued meanwhile as the next group: under
/// load the groups grow, and alone a request is committed at once.
async fn batch_in_groups(
    pool: PgPool,
    mut queue: mpsc::Receiver<PendingInsert>,
    slots: Arc<Semaphore>,
) {
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut group = Vec::with_capacity(MAX_GROUP);
        if queue.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            commit_group(&pool, group).await;
            drop(slot);
        });
    }
}

async fn commit_group(pool: &PgPool, group: Vec<PendingInsert>) {
    let together = async {
        let mut tx = pool.begin().await?;
        insert_all(&mut tx, &group).await?;
        super::commit(tx).await?;
        Ok::<(), StoreError>(())
    };
    match together.await {
        Ok(()) => {
            metrics::group_committed(PendingInsert::requests(&group).len());
            for pending in group {
                let _ = pending.done.send(Ok(()));
            }
        }
        // The group may be stored: never written again.
        Err(StoreError::OutcomeUnknown(why)) => {
            for pending in group {
                let _ = pending
                    .done
                    .send(Err(StoreError::OutcomeUnknown(why.clone())));
            }
        }
        // Should one row fail (a duplicate id), each unit (a request, a team) is written again
        // on its own, so only the faulty one is refused; if the database is the trouble, each
        // fails alike.
        Err(e) if group.len() == 1 => {
            if let Some(pending) = group.into_iter().next() {
                let _ = pending.done.send(Err(e));
            }
        }
        Err(_) => {
            for pending in group {
                let alone = async {
                    let mut tx = pool.begin().await?;
                    insert_all(&mut tx, std::slice::from_ref(&pending)).await?;
                    super::commit(tx).await?;
                    Ok::<(), StoreError>(())
                };
                let result = alone.await;
                if result.is_ok() {
                    metrics::group_committed(pending.unit.len());
                }
                let _ = pending.done.send(result);
            }
        }
    }
}

/// Writes a group in one statement, each table's rows bound as arrays (data-modifying
/// `WITH` clauses, run once each; the foreign keys are checked at the statement's end), which
/// also answers which of the group's organisations have a webhook: between BEGIN and COMMIT
/// a group costs one round trip where it took five, and two more for the events when an
/// organisation in it has webhooks (two per such request before).
async fn insert_all(tx: &mut PgConnection, units: &[PendingInsert]) -> Result<(), StoreError> {
    let group = PendingInsert::requests(units);
    let ids: Vec<uuid::Uuid> = group.iter().map(|p| p.record.id).collect();
    let column = |f: fn(&NewRequest) -> &str| group.iter().map(|p| f(p)).collect::<Vec<&str>>();
    let legs: Vec<(uuid::Uuid, i64, &crate::domain::itinerary::Leg)> = group
        .iter()
        .flat_map(|p| {
            let id = p.record.id;
            p.record
                .request
                .legs
                .legs()
                .iter()
                .enumerate()
                .map(move |(seq, leg)| (id, seq as i64, leg))
        })
        .collect();
    let entries: Vec<_> = group.iter().map(|p| &p.rendered.entry).collect();
    // Every new request's notice.
    let now = chrono::Utc::now();
    let notices: Vec<String> = units
        .iter()
        .filter(|p| p.notice)
        .flat_map(|p| &p.unit)
        .filter_map(|p| crate::domain::notice::notice_for(&p.record, &p.audit, now))
        .map(|n| serde_json::to_string(&n))
        .collect::<Result<_, _>>()?;
    let orgs = column(|p| p.record.request.traveller.org.as_str());
    let with_webhooks: Vec<String> = sqlx::query_scalar(
        "WITH requests AS ( \
           INSERT INTO clearance_requests (id, traveller_id, org, submitted_by, status, programme_criticality, first_arrival, \
             last_departure, submitted_at, updated_at, request, decision, escalation, stage, version, team_id) \
           SELECT id, traveller, org, submitted_by, status, pc, first_arrival, last_departure, submitted_at, submitted_at, \
                  request::jsonb, decision::jsonb, escalation::jsonb, stage, version, team \
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::date[], \
                       $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::uuid[]) \
             AS t(id, traveller, org, submitted_by, status, pc, first_arrival, last_departure, submitted_at, request, decision, \
                  escalation, stage, version, team)), \
         legs AS ( \
           INSERT INTO request_legs (request_id, seq, area_code, arrival, departure, operator) \
           SELECT * FROM UNNEST($16::uuid[], $17::bigint[], $18::text[], $19::date[], $20::date[], $21::text[])), \
         audit AS ( \
           INSERT INTO audit_log (request_id, seq, at, actor, action, from_status, to_status, stage, comment, prev_hash, hash) \
           SELECT * FROM UNNEST($1::uuid[], $22::bigint[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], \
                                $28::text[], $29::text[], $30::text[], $31::text[])), \
         notices AS ( \
           INSERT INTO mail_notices (payload, created_at) SELECT unnest($32::text[]), $33) \
         SELECT DISTINCT org FROM webhooks WHERE org = ANY($3)",
    )
    .bind(&ids)
    .bind(column(|p| p.record.request.traveller.id.as_str()))
    .bind(&orgs)
    .bind(column(|p| p.record.submitted_by.as_str()))
    .bind(column(|p| p.record.status.as_str()))
    .bind(column(|p| p.record.request.programme_criticality.as_str()))
    .bind(group.iter().map(|p| p.record.request.legs.first_arrival()).collect::<Vec<_>>())
    .bind(group.iter().map(|p| p.record.request.legs.last_departure()).collect::<Vec<_>>())
    .bind(group.iter().map(|p| p.record.submitted_at).collect::<Vec<_>>())
    .bind(column(|p| p.rendered.request.as_str()))
    .bind(column(|p| p.rendered.decision.as_str()))
    .bind(group.iter().map(|p| p.rendered.escalation.as_deref()).collect::<Vec<_>>())
    .bind(group.iter().map(|p| queue_stage(&p.record)).collect::<Vec<_>>())
    .bind(group.iter().map(|p| p.record.version).collect::<Vec<_>>())
    .bind(group.iter().map(|p| p.record.team).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.1).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.2.area.as_str()).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.2.arrival).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.2.departure).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| leg_operator(l.2)).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.seq).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.at.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>())
    .bind(column(|p| p.rendered.action.as_str()))
    .bind(entries.iter().map(|e| e.from.map(|s| s.as_str())).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.to.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.stage.as_deref()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.comment.as_deref()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.prev_hash.as_str()).collect::<Vec<_>>())
    .bind(entries.iter().map(|e| e.hash.as_str()).collect::<Vec<_>>())
    .bind(&notices)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let hooked = of_hooked_orgs(group.iter().map(|p| (&p.record, &p.audit)), &with_webhooks);
    enqueue_events(&mut *tx, &hooked).await?;
    Ok(())
}
