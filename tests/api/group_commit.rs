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
use clearway::store::{NewRequest, SqliteStore, Store, StoreError};
use uuid::Uuid;

fn record(n: usize) -> RequestRecord {
    let today = Utc::now().date_naive();
    let request = ClearanceRequest::new(
        Traveller::new(
            TravellerId::parse("", &format!("t-{n}")).unwrap(),
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
            vec![Leg {
                area: AreaCode::parse("", "TST-A").unwrap(),
                arrival: today + Days::new(1),
                departure: today + Days::new(2),
            }],
            today,
        )
        .unwrap(),
    )
    .unwrap();
    RequestRecord {
        id: Uuid::now_v7(),
        status: RequestStatus::Held,
        submitted_at: Utc::now(),
        submitted_by: format!("t-{n}"),
        request,
        decision: Decision {
            outcome: Outcome::Held,
            code: DecisionCode::NoSraInForce,
            reason: "test".into(),
            approval_chain: vec![],
            legs: vec![],
        },
        escalation: None,
        version: 1,
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
