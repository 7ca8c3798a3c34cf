//! Submitting, reading, withdrawing and amending clearance requests: decided against the
//! cached area risk, stored (with their audit entry) before they are acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use uuid::Uuid;

use super::ports::{AreaRisks, QueueEventKind, QueueEventSink, RequestChanged};
use super::precondition::Expected;
use crate::app::access;
use crate::app::error::{AppError, Code};
use crate::domain::air_operator::{AirOperator, OperatorCode, Travel};
use crate::domain::approval::Escalation;
use crate::domain::audit::{AuditAction, AuditDraft, AuditEntry};
use crate::domain::briefing::{self, Acknowledgement};
use crate::domain::caller::{Caller, Role};
use crate::domain::delegation::principal;
use crate::domain::policy::{self, Decision, Outcome, PolicyRules};
use crate::domain::request::{ClearanceRequest, RequestRecord, RequestStatus};
use crate::domain::sra::AreaRisk;
use crate::domain::team::{self, Flight};
use crate::store::{
    NewRequest, PersonnelEntry, RequestChange, RequestFilter, RequestQuery, RescreenJob, Store,
    StoreError,
};

mod team_requests;
pub use team_requests::{Mission, Team};

pub struct Clearing {
    store: Arc<dyn Store>,
    cache: Arc<dyn AreaRisks>,
    policy: Arc<PolicyRules>,
    events: Arc<dyn QueueEventSink>,
    /// Which role decides each approval stage.
    stage_roles: BTreeMap<String, Role>,
}

impl Clearing {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<dyn AreaRisks>,
        policy: Arc<PolicyRules>,
        events: Arc<dyn QueueEventSink>,
        stage_roles: BTreeMap<String, Role>,
    ) -> Self {
        Self {
            store,
            cache,
            policy,
            events,
            stage_roles,
        }
    }

    /// Decides and stores a request. Nothing is stored unless the whole request is valid,
    /// and nothing is acknowledged unless it is stored.
    ///
    /// `claimed_id` is the id an `Idempotency-Key` claim chose: if a request with it exists,
    /// an earlier attempt whose outcome was unknown stored it, and it is answered as stored.
    pub async fn submit(
        &self,
        caller: &Caller,
        request: ClearanceRequest,
        claimed_id: Option<Uuid>,
    ) -> Result<Arc<NewRequest>, AppError> {
        access::may_submit(caller, &request.traveller)?;
        let mut decision = self.decide_now(&request, None).await?;
        // Microseconds are what both databases keep: the time read back is the time answered.
        let now = Utc::now().trunc_subsecs(6);
        let record = RequestRecord {
            id: claimed_id.unwrap_or_else(Uuid::now_v7),
            status: briefing::settle(RequestStatus::from(decision.outcome), &mut decision),
            submitted_at: now,
            submitted_by: caller.subject.clone(),
            escalation: escalation_for(&decision, now),
            request,
            decision,
            version: 1,
            team: None,
        };
        let audit = submitted(&caller.subject, &record);
        let new = Arc::new(NewRequest::new(record, audit.clone())?);
        match self.store.insert_request(new.clone()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(why)) if claimed_id.is_some() => {
                return self.stored_earlier(caller, new.record.id, audit, why).await;
            }
            Err(e) => return Err(e.into()),
        }
        let record = &new.record;
        self.announce_new(record, &caller.subject);
        self.events.request_changed(RequestChanged::of(record));
        tracing::debug!(
            request_id = %record.id,
            outcome = record.decision.outcome.as_str(),
            code = ?record.decision.code,
            "clearance request decided"
        );
        Ok(new)
    }

    /// The request an earlier attempt under the same `Idempotency-Key` stored with `id`.
    async fn stored_earlier(
        &self,
        caller: &Caller,
        id: Uuid,
        audit: AuditDraft,
        conflict: String,
    ) -> Result<Arc<NewRequest>, AppError> {
        match self.store.get_request(id).await? {
            Some(record) if record.submitted_by == caller.subject => {
                tracing::info!(request_id = %id, "a retry found the request its first attempt stored");
                Ok(Arc::new(NewRequest::new(record, audit)?))
            }
            _ => Err(StoreError::Conflict(conflict).into()),
        }
    }

    /// Decides a stored request again (the headcount counts those booked before it, and
    /// the rest of its team).
    async fn decide(&self, stored: &RequestRecord) -> Result<Decision, AppError> {
        let request = &stored.request;
        let risks = self.area_risks(request).await?;
        let operators = self.air_operators(request).await?;
        let decision = self.decide_among(request, &risks, &operators);
        self.with_headcount(request, decision, Some((stored.id, stored.team)))
            .await
    }

    /// The policy's headcount rule on the request's flights: the travellers of its
    /// organisation that requests made before it put on each flight are counted from the
    /// store (all of them for a new request; read, not locked: two submissions at the same
    /// moment may both count one short). The first to book stay as decided; those past
    /// the limit need the stage, and stay so when decided again.
    async fn with_headcount(
        &self,
        request: &ClearanceRequest,
        decision: Decision,
        before: Option<(Uuid, Option<Uuid>)>,
    ) -> Result<Decision, AppError> {
        let Some(rule) = self.policy.headcount.as_ref() else {
            return Ok(decision);
        };
        let mut booked: Vec<(Flight, usize)> = Vec::new();
        for leg in request.legs.legs() {
            let Some(Travel::Flight {
                operator,
                flight_number,
            }) = &leg.travel
            else {
                continue;
            };
            let flight = Flight {
                operator: operator.clone(),
                number: flight_number.clone(),
                day: leg.arrival,
            };
            if booked.iter().any(|(f, _)| f == &flight) {
                continue;
            }
            let others = self
                .store
                .travellers_on_flight(
                    &flight,
                    &request.traveller.org,
                    before,
                    &[&request.traveller.id],
                )
                .await?;
            booked.push((flight, others));
        }
        let mut decided = team::apply_headcount(
            std::slice::from_ref(request),
            vec![decision],
            Some(rule),
            |flight, _| {
                booked
                    .iter()
                    .find(|(f, _)| f == flight)
                    .map_or(0, |(_, n)| *n)
            },
        );
        Ok(decided.remove(0))
    }

    fn decide_among(
        &self,
        request: &ClearanceRequest,
        risks: &[Arc<AreaRisk>],
        operators: &[AirOperator],
    ) -> Decision {
        policy::evaluate(
            request,
            |code| risks.iter().find(|r| &r.area.code == code).map(Arc::as_ref),
            |code| operators.iter().find(|o| &o.code == code),
            &self.policy,
        )
    }

    /// A decision for a request being asked for now (submitted or amended): with whether it
    /// came later than the policy's lead times ask.
    async fn decide_now(
        &self,
        request: &ClearanceRequest,
        stored: Option<(Uuid, Option<Uuid>)>,
    ) -> Result<Decision, AppError> {
        let risks = self.area_risks(request).await?;
        let operators = self.air_operators(request).await?;
        let decision = self.decide_among(request, &risks, &operators);
        let mut decision = self.with_headcount(request, decision, stored).await?;
        decision.late = crate::domain::lead_time::lateness(
            request,
            &decision,
            |code| risks.iter().find(|r| &r.area.code == code).map(|r| &r.area),
            &self.policy.lead_times,
            Utc::now().date_naive(),
        );
        Ok(decision)
    }

    /// The list's entry of every operator a leg flies with, read from the store: a change
    /// of the list counts from its commit on every instance. Most requests name none.
    async fn air_operators(
        &self,
        request: &ClearanceRequest,
    ) -> Result<Vec<AirOperator>, AppError> {
        let mut found: Vec<AirOperator> = Vec::new();
        let mut asked: Vec<&OperatorCode> = Vec::new();
        for leg in request.legs.legs() {
            let Some(Travel::Flight { operator, .. }) = &leg.travel else {
                continue;
            };
            if asked.contains(&operator) {
                continue;
            }
            asked.push(operator);
            if let Some(entry) = self.store.get_air_operator(operator).await? {
                found.push(entry);
            }
        }
        Ok(found)
    }

    /// Every leg's area, from the cache; an unknown area is the caller's mistake.
    async fn area_risks(&self, request: &ClearanceRequest) -> Result<Vec<Arc<AreaRisk>>, AppError> {
        let mut risks: Vec<Arc<AreaRisk>> = Vec::new();
        for (i, leg) in request.legs.legs().iter().enumerate() {
            if risks.iter().any(|r| r.area.code == leg.area) {
                continue;
            }
            match self.cache.risk(&leg.area).await? {
                Some(risk) => risks.push(risk),
                None => {
                    return Err(AppError::unknown_area(
                        format!("/legs/{i}/area"),
                        leg.area.as_str(),
                    ));
                }
            }
        }
        Ok(risks)
    }

    fn announce_new(&self, record: &RequestRecord, actor: &str) {
        if let Some(stage) = current_stage(record) {
            self.events
                .publish(QueueEventKind::New, record.id, &stage, actor);
        }
    }

    /// A request, if the caller may read it. Callers who may read requests but not this one
    /// are told it does not exist, so ids of others' requests reveal nothing. Approvers read
    /// what waits at their stage and what they took part in.
    /// A request as a verification link shows it to anyone holding the link; the link's
    /// signature, checked by the caller, is the authority. `None`: no such request.
    pub async fn verify(&self, id: Uuid) -> Result<Option<RequestRecord>, AppError> {
        Ok(self.store.get_request(id).await?)
    }

    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<RequestRecord, AppError> {
        let approver = access::is_approver(caller);
        // An approver who also holds a traveller's role without an organisation still reads
        // as an approver.
        let scope = match access::read_scope(caller) {
            Err(_) if approver => None,
            scope => scope?,
        };
        // A delegate reads as the approvers of the stages delegated to them; asked only when
        // the caller's roles alone do not settle it.
        let mut delegated = None;
        if scope.is_none() && !approver {
            let stages = self.delegated_stages(caller).await?;
            if stages.is_empty() {
                return Err(AppError::forbidden(
                    "reading requests requires the traveller, travel-unit, approver or admin role",
                ));
            }
            delegated = Some(stages);
        }
        let record = self
            .store
            .get_request(id)
            .await?
            .ok_or_else(AppError::not_found)?;
        self.readable_in(caller, scope, delegated, approver, record)
            .await
    }

    /// `record`, if the caller may read it (as `get` says).
    async fn readable(
        &self,
        caller: &Caller,
        record: RequestRecord,
    ) -> Result<RequestRecord, AppError> {
        let approver = access::is_approver(caller);
        let scope = match access::read_scope(caller) {
            Err(_) if approver => None,
            scope => scope?,
        };
        self.readable_in(caller, scope, None, approver, record)
            .await
    }

    async fn readable_in(
        &self,
        caller: &Caller,
        scope: Option<crate::store::RequestScope>,
        delegated: Option<Vec<String>>,
        approver: bool,
        record: RequestRecord,
    ) -> Result<RequestRecord, AppError> {
        if scope
            .as_ref()
            .is_some_and(|scope| access::in_scope(caller, scope, &record))
        {
            return Ok(record);
        }
        // The traveller who led a team reads the members they submitted.
        if access::leads(caller, &record) {
            return Ok(record);
        }
        let delegated = match delegated {
            Some(stages) => stages,
            None => self.delegated_stages(caller).await?,
        };
        if (approver || !delegated.is_empty()) && self.involved(caller, &record, &delegated).await?
        {
            return Ok(record);
        }
        Err(AppError::not_found())
    }

    /// The stages whose authority reaches the caller through delegations today.
    async fn delegated_stages(&self, caller: &Caller) -> Result<Vec<String>, AppError> {
        let today = Utc::now().date_naive();
        let delegations = self.store.delegations_on(None, today).await?;
        Ok(self
            .stage_roles
            .keys()
            .filter(|s| principal(&caller.subject, s, today, &delegations).is_some())
            .cloned()
            .collect())
    }

    /// Whether an approver's work touches this request: now, or in an earlier pass.
    async fn involved(
        &self,
        caller: &Caller,
        record: &RequestRecord,
        delegated: &[String],
    ) -> Result<bool, AppError> {
        if record.escalation.is_none() {
            return Ok(false);
        }
        let decides = |stage: &str| {
            self.stage_roles.get(stage).is_some_and(|r| caller.has(*r))
                || delegated.iter().any(|d| d == stage)
        };
        if access::involved_now(caller, record, decides) {
            return Ok(true);
        }
        let trail = self.store.audit_trail(record.id).await?;
        Ok(trail.iter().any(|entry| entry.actor == caller.subject))
    }

    pub async fn audit_trail(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Vec<AuditEntry>, AppError> {
        self.get(caller, id).await?;
        Ok(self.store.audit_trail(id).await?)
    }

    /// Whose requests' changes the caller may follow live: those they may list.
    pub fn follow_scope(&self, caller: &Caller) -> Result<crate::store::RequestScope, AppError> {
        access::read_scope(caller)?.ok_or_else(|| {
            AppError::forbidden(
                "following requests requires the traveller, travel-unit or admin role",
            )
        })
    }

    pub async fn list(
        &self,
        caller: &Caller,
        filter: RequestFilter,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, AppError> {
        let scope = access::read_scope(caller)?.ok_or_else(|| {
            AppError::forbidden(
                "listing requests requires the traveller, travel-unit or admin role",
            )
        })?;
        let query = RequestQuery {
            scope,
            status: filter.status,
            traveller: filter.traveller,
            legs: filter.legs,
            before,
            limit,
        };
        Ok(self.store.list_requests(&query).await?)
    }

    /// The traveller (or their travel unit) withdraws a request that is still pending.
    pub async fn withdraw(
        &self,
        caller: &Caller,
        id: Uuid,
        expected: &Expected,
        comment: Option<String>,
    ) -> Result<RequestRecord, AppError> {
        let current = self.get(caller, id).await?;
        access::may_change(caller, &current)?;
        expected.check(current.version)?;
        if !current.status.is_pending() {
            return Err(not_pending(current.status, "withdrawn"));
        }
        let next = ended(&current, RequestStatus::Withdrawn);
        let change = RequestChange {
            record: &next,
            legs_changed: false,
            audit: AuditDraft {
                actor: caller.subject.clone(),
                action: AuditAction::Withdrawn,
                from: Some(current.status),
                to: next.status,
                stage: current_stage(&current),
                comment,
                on_behalf_of: None,
            },
        };
        self.store
            .update_request(change)
            .await
            .map_err(changed_meanwhile)?;
        self.withdrawn(&current, &next, &caller.subject);
        Ok(next)
    }

    /// Tells the live views of a withdrawal: the request changed, and left its queue.
    fn withdrawn(&self, current: &RequestRecord, next: &RequestRecord, actor: &str) {
        self.events.request_changed(RequestChanged::of(next));
        if let Some(stage) = current_stage(current) {
            self.events
                .publish(QueueEventKind::Removed, current.id, &stage, actor);
        }
    }

    /// The traveller acknowledges the briefings their clearance waits for: it is issued
    /// (cleared, or approved when the chain decided it). Only the traveller themselves:
    /// reading the briefing is theirs to confirm.
    pub async fn acknowledge(
        &self,
        caller: &Caller,
        id: Uuid,
        expected: &Expected,
    ) -> Result<RequestRecord, AppError> {
        let current = self.get(caller, id).await?;
        let traveller = &current.request.traveller;
        if !(caller.has(Role::Traveller)
            && caller.subject == traveller.id.as_str()
            && caller.org.as_ref() == Some(&traveller.org))
        {
            return Err(AppError::forbidden(
                "only the traveller acknowledges their briefings",
            ));
        }
        expected.check(current.version)?;
        let due = briefing::unacknowledged(&current.decision);
        if current.status != RequestStatus::ClearedPendingAcknowledgement || due.is_empty() {
            return Err(AppError::new(
                Code::NoBriefingDue,
                format!(
                    "the request is {}; no briefing waits for an acknowledgement",
                    current.status.as_str()
                ),
            )
            .with("request_status", current.status));
        }
        let now = Utc::now().trunc_subsecs(6);
        let comment = due
            .iter()
            .map(|d| format!("briefing of {} SRA v{}", d.area, d.sra.version))
            .collect::<Vec<_>>()
            .join(", ")
            + " acknowledged";
        let mut next = current.clone();
        let acknowledged: Vec<Acknowledgement> = due
            .iter()
            .map(|d| Acknowledgement {
                sra: d.sra,
                at: now,
                by: caller.subject.clone(),
            })
            .collect();
        next.decision.acknowledged.extend(acknowledged);
        next.status = briefing::settle(current.status, &mut next.decision);
        next.version += 1;
        let change = RequestChange {
            record: &next,
            legs_changed: false,
            audit: AuditDraft {
                actor: caller.subject.clone(),
                action: AuditAction::Acknowledged,
                from: Some(current.status),
                to: next.status,
                stage: None,
                comment: Some(comment),
                on_behalf_of: None,
            },
        };
        self.store
            .update_request(change)
            .await
            .map_err(changed_meanwhile)?;
        self.events.request_changed(RequestChanged::of(&next));
        Ok(next)
    }

    /// Expires the requests still pending when their first leg begins (`today` or earlier):
    /// nobody decided in time, and no decision may come after travel began. A request
    /// submitted on its travel day has the rest of that day. Each change is
    /// audited, and its webhook and messages written with it. Returns how many expired; one
    /// changed meanwhile is left for the next round.
    pub async fn expire_started(
        &self,
        today: chrono::NaiveDate,
        limit: u32,
    ) -> Result<usize, AppError> {
        let mut expired = 0;
        for current in self.store.pending_started(today, limit).await? {
            let next = ended(&current, RequestStatus::Expired);
            let change = RequestChange {
                record: &next,
                legs_changed: false,
                audit: AuditDraft {
                    actor: SYSTEM_ACTOR.into(),
                    action: AuditAction::Expired,
                    from: Some(current.status),
                    to: next.status,
                    stage: current_stage(&current),
                    comment: Some(format!(
                        "still {} when the first leg began on {}",
                        current.status.as_str(),
                        current.request.legs.first_arrival()
                    )),
                    on_behalf_of: None,
                },
            };
            match self.store.update_request(change).await {
                Ok(()) => expired += 1,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            self.events.request_changed(RequestChanged::of(&next));
            if let Some(stage) = current_stage(&current) {
                self.events
                    .publish(QueueEventKind::Removed, current.id, &stage, SYSTEM_ACTOR);
            }
        }
        Ok(expired)
    }

    /// Tells the traveller and their unit (by e-mail and webhook `request.briefing_overdue`,
    /// written with the audit entry) of each clearance whose first leg began on `today` or
    /// earlier with a briefing still unacknowledged; once per request. The status stays: the
    /// traveller may still acknowledge. Returns how many were told.
    pub async fn tell_unacknowledged(
        &self,
        today: chrono::NaiveDate,
        limit: u32,
    ) -> Result<usize, AppError> {
        let mut told = 0;
        for current in self.store.unacknowledged_started(today, limit).await? {
            let briefings = briefing::unacknowledged(&current.decision)
                .iter()
                .map(|d| format!("{} SRA v{}", d.area, d.sra.version))
                .collect::<Vec<_>>()
                .join(", ");
            let mut next = current.clone();
            next.version += 1;
            let change = RequestChange {
                record: &next,
                legs_changed: false,
                audit: AuditDraft {
                    actor: SYSTEM_ACTOR.into(),
                    action: AuditAction::BriefingOverdue,
                    from: Some(current.status),
                    to: next.status,
                    stage: None,
                    comment: Some(format!(
                        "the first leg began on {} and the briefing of {briefings} is not acknowledged",
                        current.request.legs.first_arrival()
                    )),
                    on_behalf_of: None,
                },
            };
            match self.store.update_request(change).await {
                Ok(()) => told += 1,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            self.events.request_changed(RequestChanged::of(&next));
        }
        Ok(told)
    }

    /// A returned (or held) request, amended by its traveller or travel unit: decided
    /// afresh, and if escalated again it re-enters the chain at its first stage.
    pub async fn amend(
        &self,
        caller: &Caller,
        id: Uuid,
        expected: &Expected,
        request: ClearanceRequest,
    ) -> Result<RequestRecord, AppError> {
        let current = self.get(caller, id).await?;
        access::may_change(caller, &current)?;
        expected.check(current.version)?;
        if !matches!(
            current.status,
            RequestStatus::Returned | RequestStatus::Held
        ) {
            return Err(not_pending(current.status, "amended"));
        }
        if request.traveller.id != current.request.traveller.id {
            return Err(AppError::invalid_field(
                "/traveller/id",
                "the traveller of a request cannot change; submit a new request",
            ));
        }
        if request.traveller.org != current.request.traveller.org {
            return Err(AppError::invalid_field(
                "/traveller/org",
                "the organisation of a request cannot change; submit a new request",
            ));
        }
        let mut decision = self.decide_now(&request, Some((id, current.team))).await?;
        // The traveller read those briefings already; a new version's still asks.
        decision.acknowledged = current.decision.acknowledged.clone();
        // Microseconds are what both databases keep: the time read back is the time answered.
        let now = Utc::now().trunc_subsecs(6);
        let next = RequestRecord {
            status: briefing::settle(RequestStatus::from(decision.outcome), &mut decision),
            escalation: escalation_for(&decision, now),
            request,
            decision,
            version: current.version + 1,
            ..current.clone()
        };
        let change = RequestChange {
            record: &next,
            legs_changed: true,
            audit: AuditDraft {
                actor: caller.subject.clone(),
                action: AuditAction::Amended,
                from: Some(current.status),
                to: next.status,
                stage: current_stage(&next),
                comment: None,
                on_behalf_of: None,
            },
        };
        self.store
            .update_request(change)
            .await
            .map_err(changed_meanwhile)?;
        self.announce_new(&next, &caller.subject);
        self.events.request_changed(RequestChanged::of(&next));
        Ok(next)
    }
}

impl Clearing {
    /// Decides a stored request again after the change that `job` stands for, and moves it
    /// if the decision now says otherwise. Returns whether it moved.
    pub async fn rescreen(&self, id: Uuid, job: &RescreenJob) -> Result<bool, AppError> {
        for _ in 0..3 {
            let Some(current) = self.store.get_request(id).await? else {
                return Ok(false);
            };
            let Some(next) = self.rescreened(&current).await? else {
                return Ok(false);
            };
            match self
                .store
                .update_request(rescreen_change(&next, &current, job))
                .await
            {
                Ok(()) => {
                    self.announce_rescreened(&current, &next, job);
                    return Ok(true);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(changed_meanwhile(StoreError::Conflict(id.to_string())))
    }

    /// The first half of `rescreen` for a batch of requests (a job's page, in id order):
    /// read together and decided one by one; nothing written. The re-screener reads and
    /// decides the next batch while the last one is written.
    pub async fn prepare_rescreen(&self, ids: Vec<Uuid>) -> Result<RescreenBatch, AppError> {
        let mut moves = Vec::new();
        let mut one_by_one = Vec::new();
        for current in self.store.get_requests(&ids).await? {
            if self.counts_heads(&current.request) {
                // Its decision counts who else is on its flights, which the moves before it
                // may change: decided when they are written.
                one_by_one.push(current.id);
            } else if let Some(next) = self.rescreened(&current).await? {
                moves.push((current, next));
            }
        }
        Ok(RescreenBatch {
            ids,
            moves,
            one_by_one,
        })
    }

    /// Whether the policy's headcount rule applies to the request (it flies).
    fn counts_heads(&self, request: &ClearanceRequest) -> bool {
        self.policy.headcount.is_some()
            && request
                .legs
                .legs()
                .iter()
                .any(|leg| matches!(leg.travel, Some(Travel::Flight { .. })))
    }

    /// The second half: the batch's moves written in one transaction. If one of them changed
    /// since it was read, nothing of the batch is written and each is re-screened on its own.
    /// Then those the headcount rule counts, one at a time, in id order. Returns how many
    /// moved.
    pub async fn write_rescreen(
        &self,
        batch: &RescreenBatch,
        job: &RescreenJob,
    ) -> Result<u64, AppError> {
        let moved = match self.write_moves(batch, job).await? {
            Written::Together(moved) => moved,
            // A conflict: every request of the batch was re-screened on its own.
            Written::OneByOne(moved) => return Ok(moved),
        };
        let mut one_by_one = 0;
        for id in &batch.one_by_one {
            one_by_one += u64::from(self.rescreen(*id, job).await?);
        }
        Ok(moved + one_by_one)
    }

    /// The batch's moves in one transaction, or each request on its own after a conflict.
    async fn write_moves(
        &self,
        batch: &RescreenBatch,
        job: &RescreenJob,
    ) -> Result<Written, AppError> {
        if batch.moves.is_empty() {
            return Ok(Written::Together(0));
        }
        let changes: Vec<RequestChange<'_>> = batch
            .moves
            .iter()
            .map(|(current, next)| rescreen_change(next, current, job))
            .collect();
        match self.store.update_requests(&changes).await {
            Ok(()) => {
                for (current, next) in &batch.moves {
                    self.announce_rescreened(current, next, job);
                }
                Ok(Written::Together(batch.moves.len() as u64))
            }
            Err(StoreError::Conflict(_)) => {
                let mut moved = 0;
                for id in &batch.ids {
                    moved += u64::from(self.rescreen(*id, job).await?);
                }
                Ok(Written::OneByOne(moved))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What a stored request becomes when decided again, if that moves it.
    async fn rescreened(&self, current: &RequestRecord) -> Result<Option<RequestRecord>, AppError> {
        let mut decision = self.decide(current).await?;
        // Lateness is about when it was asked for, which a re-screening does not change;
        // nor does it unsay the traveller's acknowledgements.
        decision.late = current.decision.late.clone();
        decision.acknowledged = current.decision.acknowledged.clone();
        // A clearance waiting for an acknowledgement moves as the clearance it will be;
        // then a new version's briefing may ask again, or an acknowledged one stop asking.
        let issued = briefing::issued_as(current.status, &current.decision);
        let moved = issued.after_rescreen(decision.outcome).unwrap_or(issued);
        let status = briefing::settle(moved, &mut decision);
        // A briefing that changed while one still waits is news too: the traveller must
        // read the one in force.
        if status == current.status && decision.briefings == current.decision.briefings {
            return Ok(None);
        }
        let escalation = match status {
            RequestStatus::Escalated if current.status == RequestStatus::Escalated => {
                current.escalation.clone()
            }
            RequestStatus::Escalated => escalation_for(&decision, Utc::now()),
            _ => current.escalation.clone().map(|mut e| {
                e.claim = None;
                e
            }),
        };
        Ok(Some(RequestRecord {
            status,
            decision,
            escalation,
            version: current.version + 1,
            ..current.clone()
        }))
    }

    /// Tells the live views, webhooks and queues of a move a re-screening wrote.
    fn announce_rescreened(
        &self,
        current: &RequestRecord,
        next: &RequestRecord,
        job: &RescreenJob,
    ) {
        self.events.request_changed(RequestChanged::of(next));
        if current.status != RequestStatus::Escalated {
            self.announce_new(next, &job.actor);
        } else if let Some(stage) =
            current_stage(current).filter(|_| next.status != RequestStatus::Escalated)
        {
            self.events
                .publish(QueueEventKind::Removed, current.id, &stage, &job.actor);
        }
    }

    /// The crisis locator: who holds a cleared or approved leg in the area on `on`. An area
    /// nobody registered is not found.
    pub async fn locate(
        &self,
        code: &crate::domain::area::AreaCode,
        on: chrono::NaiveDate,
    ) -> Result<Vec<PersonnelEntry>, AppError> {
        if self.cache.risk(code).await?.is_none() {
            return Err(AppError::not_found());
        }
        Ok(self.store.personnel(code, on).await?)
    }

    /// How many people are in each area on `on` (each counted once): the map's figures.
    pub async fn headcounts(
        &self,
        on: chrono::NaiveDate,
    ) -> Result<Vec<(crate::domain::area::AreaCode, i64)>, AppError> {
        Ok(self.store.headcounts(on).await?)
    }

    /// Makes sure this instance decides on what the store holds for the area now.
    pub async fn refresh_area(&self, code: &crate::domain::area::AreaCode) -> Result<(), AppError> {
        Ok(self.cache.forget(code).await?)
    }
}

/// A re-screening batch read and decided: its ids, and the requests that move with what
/// they become.
#[derive(Default)]
pub struct RescreenBatch {
    pub ids: Vec<Uuid>,
    moves: Vec<(RequestRecord, RequestRecord)>,
    /// Those the headcount rule counts, decided one at a time after the moves are written.
    one_by_one: Vec<Uuid>,
}

/// How a batch's moves were written, with how many moved.
enum Written {
    Together(u64),
    OneByOne(u64),
}

/// The stored change of a re-screening's move, with its audit entry.
fn rescreen_change<'a>(
    next: &'a RequestRecord,
    current: &RequestRecord,
    job: &RescreenJob,
) -> RequestChange<'a> {
    RequestChange {
        record: next,
        legs_changed: false,
        audit: AuditDraft {
            actor: job.actor.clone(),
            action: AuditAction::Rescreened,
            from: Some(current.status),
            to: next.status,
            stage: current_stage(next),
            comment: Some(job.reason.clone()),
            on_behalf_of: None,
        },
    }
}

/// A fresh pass through the approval chain, when the decision escalates.
fn escalation_for(decision: &Decision, now: chrono::DateTime<Utc>) -> Option<Escalation> {
    (decision.outcome == Outcome::Escalated && !decision.approval_chain.is_empty())
        .then(|| Escalation::start(decision.approval_chain.clone(), now))
}

/// The first entry of a new request's trail.
fn submitted(actor: &str, record: &RequestRecord) -> AuditDraft {
    AuditDraft {
        actor: actor.to_owned(),
        action: AuditAction::Submitted,
        from: None,
        to: record.status,
        stage: current_stage(record),
        comment: None,
        on_behalf_of: None,
    }
}

/// A pending request ended (withdrawn, expired): its new status, no claim left on it.
fn ended(current: &RequestRecord, status: RequestStatus) -> RequestRecord {
    let mut next = current.clone();
    next.status = status;
    if let Some(escalation) = next.escalation.as_mut() {
        escalation.claim = None;
    }
    next.version += 1;
    next
}

/// The actor the audit trail names for what the service does on its own (expiry).
pub const SYSTEM_ACTOR: &str = "clearway";

/// The stage a request waits on, while escalated.
pub fn current_stage(record: &RequestRecord) -> Option<String> {
    (record.status == RequestStatus::Escalated)
        .then(|| record.escalation.as_ref().map(|e| e.stage().clone()))
        .flatten()
}

pub fn not_pending(status: RequestStatus, what: &str) -> AppError {
    AppError::new(
        Code::NotPending,
        format!(
            "the request is {}; it can no longer be {what}",
            status.as_str()
        ),
    )
    .with("request_status", status)
}

/// Another change won the race for this request; nothing of this one was written.
pub fn changed_meanwhile(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict(_) => AppError::new(
            Code::ConcurrentUpdate,
            "the request changed while this change was made; read it again and retry",
        ),
        other => other.into(),
    }
}
