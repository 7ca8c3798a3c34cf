//! New requests are committed in groups; one bad request in a group is refused alone and the
//! rest of its group is stored.

use std::sync::Arc;

use chrono::{Days, Utc};
use clearway::domain::area::AreaCode;
use clearway::domain::audit::{AuditAction, AuditDraft};
use clearway::domain::criticality::ProgrammeCriticality;
use clearway::domain::itinerary::{Itinerary, Leg};
use clearway::domain::policy::{Decision, DecisionCode, Outcome};
use clearway::domain::request::{
    ClearanceRequest, OrgId, RequestRecord, RequestStatus, Traveller, TravellerId,
};
use clearway::store::{
    AuditStore, NewRequest, RequestQuery, RequestScope, RequestStore, SqliteStore, StoreError,
    StoreLifecycle,
};
use uuid::Uuid;

fn record(n: usize) -> RequestRecord {
    record_of(&format!("t-{n}"))
}

fn record_of(traveller: &str) -> RequestRecord {
    let today = Utc::now().date_naive();
    let request = ClearanceRequest::new(
        Traveller::new(
            TravellerId::parse("", traveller).unwrap(),
            "Traveller",
            OrgId::parse("", "WFP").unwrap(),
            None,
            None,
        )
        .unwrap(),
        "Monitoring",
        ProgrammeCriticality::Pc3,
        None,
        Itinerary::parse(
            vec![Leg::stay(
                AreaCode::parse("", "TST-A").unwrap(),
                today + Days::new(1),
                today + Days::new(2),
            )],
            today,
        )
        .unwrap(),
    )
    .unwrap();
    RequestRecord {
        id: Uuid::now_v7(),
        status: RequestStatus::Held,
        submitted_at: Utc::now(),
        submitted_by: traveller.to_owned(),
        request,
        decision: Decision {
            outcome: Outcome::Held,
            code: DecisionCode::NoSraInForce,
            reason: "test".into(),
            approval_chain: vec![],
            legs: vec![],
            late: None,
            briefings: Vec::new(),
            acknowledged: Vec::new(),
            issues_as: None,
        },
        escalation: None,
        version: 1,
        team: None,
    }
}

fn new_request(record: &RequestRecord) -> Arc<NewRequest> {
    let audit = AuditDraft {
        actor: record.submitted_by.clone(),
        action: AuditAction::Submitted,
        from: None,
        to: record.status,
        stage: None,
        comment: None,
        on_behalf_of: None,
    };
    Arc::new(NewRequest::new(record.clone(), audit).unwrap())
}

#[tokio::test]
async fn a_bad_request_in_a_group_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        clearway::config::Settings::load(&crate::support::config_dir(), "development").unwrap();
    settings.database.url = format!("sqlite://{}", dir.path().join("group.db").display());
    let store = Arc::new(SqliteStore::connect(&settings.database).await.unwrap());
    store.migrate().await.unwrap();
    let first = record(0);
    store.insert_request(new_request(&first)).await.unwrap();

    // 200 concurrent inserts, one of which reuses the stored id.
    let mut writes = Vec::new();
    for n in 1..=200 {
        let store = store.clone();
        let mut r = record(n);
        if n == 100 {
            r.id = first.id;
        }
        writes.push(tokio::spawn(async move {
            store.insert_request(new_request(&r)).await
        }));
    }
    let mut refused = 0;
    for write in writes {
        match write.await.unwrap() {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => refused += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused, 1);
    let report = store.verify_audit().await.unwrap();
    assert_eq!(
        (report.requests, report.entries, report.first_broken),
        (200, 200, None)
    );
}

/// A team's members are one unit in the writer's groups: when one member cannot be stored,
/// none of the team is, the rest of the group is, and the team's members that were stored
/// show in their travellers' lists.
#[tokio::test]
async fn a_team_in_a_group_is_stored_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.db");
    let store = Arc::new(store_at(&path, 5).await);
    let first = record(0);
    store.insert_request(new_request(&first)).await.unwrap();
    let team = |members: &[&str], clash: bool| {
        let team_id = Uuid::now_v7();
        members
            .iter()
            .enumerate()
            .map(|(i, traveller)| {
                let mut r = record_of(traveller);
                r.team = Some(team_id);
                if clash && i == 1 {
                    r.id = first.id;
                }
                new_request(&r)
            })
            .collect::<Vec<_>>()
    };
    let mut writes = Vec::new();
    for n in 1..=60 {
        let store = store.clone();
        let unit = match n {
            20 => team(&["bad-a", "bad-b", "bad-c"], true),
            40 => team(&["ok-a", "ok-b", "ok-c"], false),
            _ => vec![new_request(&record(n))],
        };
        writes.push(tokio::spawn(async move { store.insert_unit(unit).await }));
    }
    let mut refused = 0;
    for write in writes {
        match write.await.unwrap() {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => refused += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused, 1);
    for traveller in ["bad-a", "bad-c"] {
        assert_eq!(
            listed(&store, traveller, None, 10).await,
            Vec::<Uuid>::new()
        );
    }
    let ok: Vec<RequestRecord> = {
        let a = listed(&store, "ok-a", None, 10).await;
        assert_eq!(a.len(), 1);
        let record = store.get_request(a[0]).await.unwrap().unwrap();
        store.team_members(record.team.unwrap()).await.unwrap()
    };
    assert_eq!(
        ok.iter()
            .map(|r| r.request.traveller.id.as_str())
            .collect::<Vec<_>>(),
        ["ok-a", "ok-b", "ok-c"]
    );
    let report = store.verify_audit().await.unwrap();
    assert_eq!(
        (report.requests, report.entries, report.first_broken),
        (1 + 58 + 3, 1 + 58 + 3, None)
    );
}

async fn store_at(path: &std::path::Path, batch: usize) -> SqliteStore {
    let mut settings =
        clearway::config::Settings::load(&crate::support::config_dir(), "development").unwrap();
    settings.database.url = format!("sqlite://{}", path.display());
    settings.database.traveller_index_batch = batch;
    settings.database.traveller_index_wait_ms = 600_000;
    let store = SqliteStore::connect(&settings.database).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Ids of the traveller's requests (with `status`, if given), newest first, read page by page.
async fn listed(
    store: &SqliteStore,
    traveller: &str,
    status: Option<RequestStatus>,
    page: u32,
) -> Vec<Uuid> {
    let mut ids = Vec::new();
    loop {
        let query = RequestQuery {
            scope: RequestScope::Traveller(
                OrgId::parse("", "WFP").unwrap(),
                TravellerId::parse("", traveller).unwrap(),
            ),
            status,
            traveller: None,
            legs: Default::default(),
            before: ids.last().copied(),
            limit: page,
        };
        let records = store.list_requests(&query).await.unwrap();
        assert!(
            records
                .iter()
                .all(|r| r.request.traveller.id.as_str() == traveller
                    && status.is_none_or(|s| r.status == s))
        );
        let done = records.len() < page as usize;
        ids.extend(records.iter().map(|r| r.id));
        if done {
            return ids;
        }
    }
}

async fn indexed(path: &std::path::Path, traveller: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM requests_by_traveller WHERE traveller_id = ?")
        .bind(traveller)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// A traveller's list reads the entries the writer has moved into the table and those it
/// still holds; a process that stops with entries in memory has them indexed at its next start.
#[tokio::test]
async fn a_travellers_list_is_whole_before_during_and_after_its_entries_reach_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let store = store_at(&path, 5).await;
    let (mut alices, mut cleared) = (Vec::new(), Vec::new());
    for n in 0..23 {
        // One at a time: one group each, so runs of 5 are sealed and written as they fill.
        let traveller = if n % 3 == 0 { "bob" } else { "alice" };
        let mut r = record_of(traveller);
        if n % 2 == 0 {
            r.status = RequestStatus::Cleared;
        }
        store.insert_request(new_request(&r)).await.unwrap();
        if traveller == "alice" {
            alices.push(r.id);
            if r.status == RequestStatus::Cleared {
                cleared.push(r.id);
            }
        }
        let newest_first = |ids: &[Uuid]| ids.iter().rev().copied().collect::<Vec<_>>();
        assert_eq!(
            listed(&store, "alice", None, 4).await,
            newest_first(&alices),
            "after {n}"
        );
        assert_eq!(
            listed(&store, "alice", Some(RequestStatus::Cleared), 2).await,
            newest_first(&cleared),
            "after {n}"
        );
    }
    let in_table = indexed(&path, "alice").await;
    assert!(
        in_table > 0 && in_table < alices.len() as i64,
        "some entries in the table, the newest still in memory: {in_table} of {}",
        alices.len()
    );

    // The process stops: what the writer held in memory is gone with it.
    store.close().await;
    drop(store);
    let reopened = store_at(&path, 5).await;
    assert_eq!(indexed(&path, "alice").await, alices.len() as i64);
    assert_eq!(indexed(&path, "bob").await, 8);
    alices.reverse();
    assert_eq!(listed(&reopened, "alice", None, 100).await, alices);
    assert_eq!(
        listed(&reopened, "nobody", None, 10).await,
        Vec::<Uuid>::new()
    );
}
