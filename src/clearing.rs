//! Submitting and reading clearance requests: decided against the cached area risk,
//! stored before they are acknowledged.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::access;
use crate::auth::Caller;
use crate::cache::AreaRiskCache;
use crate::domain::policy::{self, PolicyRules};
use crate::domain::request::{ClearanceRequest, RequestRecord, RequestStatus};
use crate::domain::sra::AreaRisk;
use crate::problem::Problem;
use crate::store::{RequestQuery, Store};

pub struct Clearing {
    store: Arc<dyn Store>,
    cache: Arc<AreaRiskCache>,
    policy: Arc<PolicyRules>,
}

impl Clearing {
    pub fn new(store: Arc<dyn Store>, cache: Arc<AreaRiskCache>, policy: Arc<PolicyRules>) -> Self {
        Self {
            store,
            cache,
            policy,
        }
    }

    /// Decides and stores a request. Nothing is stored unless the whole request is valid,
    /// and nothing is acknowledged unless it is stored.
    pub async fn submit(
        &self,
        caller: &Caller,
        request: ClearanceRequest,
    ) -> Result<RequestRecord, Problem> {
        access::may_submit(caller, &request.traveller)?;
        let risks = self.area_risks(&request).await?;
        let decision = policy::evaluate(
            &request,
            |code| risks.iter().find(|r| &r.area.code == code).map(Arc::as_ref),
            &self.policy,
        );
        let record = RequestRecord {
            id: Uuid::now_v7(),
            status: RequestStatus::from(decision.outcome),
            submitted_at: Utc::now(),
            submitted_by: caller.subject.clone(),
            request,
            decision,
        };
        self.store.insert_request(&record).await?;
        tracing::info!(
            request_id = %record.id,
            outcome = record.decision.outcome.as_str(),
            code = ?record.decision.code,
            "clearance request decided"
        );
        Ok(record)
    }

    /// Every leg's area, from the cache; an unknown area is the caller's mistake.
    async fn area_risks(&self, request: &ClearanceRequest) -> Result<Vec<Arc<AreaRisk>>, Problem> {
        let mut risks: Vec<Arc<AreaRisk>> = Vec::new();
        for (i, leg) in request.legs.legs().iter().enumerate() {
            if risks.iter().any(|r| r.area.code == leg.area) {
                continue;
            }
            match self.cache.get(&leg.area).await? {
                Some(risk) => risks.push(risk),
                None => {
                    return Err(Problem::unknown_area(
                        format!("/legs/{i}/area"),
                        leg.area.as_str(),
                    ));
                }
            }
        }
        Ok(risks)
    }

    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<RequestRecord, Problem> {
        if access::read_scope(caller).is_none() {
            return Err(Problem::forbidden(
                "reading requests requires the traveller, travel-unit or admin role",
            ));
        }
        let record = self
            .store
            .get_request(id)
            .await?
            .ok_or_else(Problem::not_found)?;
        access::may_read(caller, &record)?;
        Ok(record)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<RequestStatus>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, Problem> {
        let scope = access::read_scope(caller).ok_or_else(|| {
            Problem::forbidden("reading requests requires the traveller, travel-unit or admin role")
        })?;
        let query = RequestQuery {
            scope,
            status,
            before,
            limit,
        };
        Ok(self.store.list_requests(&query).await?)
    }
}
