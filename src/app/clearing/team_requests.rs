//! Team requests: one mission and one itinerary for several travellers, submitted, read,
//! amended and withdrawn as one. Each member is stored as a request of its own (so the
//! locator, incidents and re-screening count each person), with the team's id.

use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use uuid::Uuid;

use super::{
    Clearing, changed_meanwhile, current_stage, ended, escalation_for, not_pending, submitted,
};
use crate::app::access;
use crate::app::error::AppError;
use crate::app::ports::RequestChanged;
use crate::domain::audit::{AuditAction, AuditDraft};
use crate::domain::briefing;
use crate::domain::caller::Caller;
use crate::domain::criticality::ProgrammeCriticality;
use crate::domain::itinerary::Itinerary;
use crate::domain::policy::Decision;
use crate::domain::request::{
    ClearanceRequest, RequestRecord, RequestStatus, Traveller, TravellerId,
};
use crate::domain::team::{self, Flight};
use crate::store::{NewRequest, RequestChange, StoreError};

/// What the members of a team share: the mission and its itinerary.
#[derive(Debug, Clone)]
pub struct Mission {
    pub purpose: String,
    pub programme_criticality: ProgrammeCriticality,
    pub mission_sra_reference: Option<String>,
    pub legs: Itinerary,
}

impl Mission {
    /// The request of one member.
    fn for_traveller(&self, traveller: Traveller) -> Result<ClearanceRequest, AppError> {
        Ok(ClearanceRequest::new(
            traveller,
            &self.purpose,
            self.programme_criticality,
            self.mission_sra_reference.as_deref(),
            self.legs.clone(),
        )?)
    }
}

/// A team as stored: its id and its members, in the order they were submitted.
#[derive(Debug, Clone)]
pub struct Team {
    pub id: Uuid,
    pub members: Vec<RequestRecord>,
}

impl Clearing {
    /// Decides and stores a team: each member on their own prerequisites, then the headcount
    /// rule across them. All members are stored in one transaction, or none.
    ///
    /// `claimed_id` (an `Idempotency-Key` claim) becomes the team's id: if a team with it
    /// exists, an earlier attempt stored it, and it is answered as stored.
    pub async fn submit_team(
        &self,
        caller: &Caller,
        mission: Mission,
        travellers: Vec<Traveller>,
        claimed_id: Option<Uuid>,
    ) -> Result<(Uuid, Vec<Arc<NewRequest>>), AppError> {
        let list: Vec<&Traveller> = travellers.iter().collect();
        team::check_members("/travellers", &list)?;
        access::may_lead(caller, "/travellers", &list)?;
        let members = travellers
            .into_iter()
            .map(|t| mission.for_traveller(t))
            .collect::<Result<Vec<_>, _>>()?;
        let decisions = self.decide_members(&members, None).await?;
        let team_id = claimed_id.unwrap_or_else(Uuid::now_v7);
        let now = Utc::now().trunc_subsecs(6);
        let mut unit = Vec::with_capacity(members.len());
        for (i, (request, mut decision)) in members.into_iter().zip(decisions).enumerate() {
            let record = RequestRecord {
                id: member_id(team_id, i),
                status: briefing::settle(RequestStatus::from(decision.outcome), &mut decision),
                submitted_at: now,
                submitted_by: caller.subject.clone(),
                escalation: escalation_for(&decision, now),
                request,
                decision,
                version: 1,
                team: Some(team_id),
            };
            let audit = submitted(&caller.subject, &record);
            unit.push(Arc::new(NewRequest::new(record, audit)?));
        }
        match self.store.insert_unit(unit.clone()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(why)) if claimed_id.is_some() => {
                return self.team_stored_earlier(caller, team_id, why).await;
            }
            Err(e) => return Err(e.into()),
        }
        for new in &unit {
            self.announce_new(&new.record, &caller.subject);
            self.events.request_changed(RequestChanged::of(&new.record));
        }
        Ok((team_id, unit))
    }

    /// The team an earlier attempt under the same `Idempotency-Key` stored as `id`.
    async fn team_stored_earlier(
        &self,
        caller: &Caller,
        id: Uuid,
        conflict: String,
    ) -> Result<(Uuid, Vec<Arc<NewRequest>>), AppError> {
        let members = self.store.team_members(id).await?;
        if members.is_empty() || members.iter().any(|m| m.submitted_by != caller.subject) {
            return Err(StoreError::Conflict(conflict).into());
        }
        tracing::info!(team_id = %id, "a retry found the team its first attempt stored");
        let unit = members
            .into_iter()
            .map(|record| {
                let audit = submitted(&caller.subject, &record);
                NewRequest::new(record, audit).map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((id, unit))
    }

    /// Each member decided on their own prerequisites, then the headcount rule across the
    /// team and the travellers of its organisations booked on its flights before it
    /// (`before`: the team's first member, once stored; all bookings for a new team).
    async fn decide_members(
        &self,
        members: &[ClearanceRequest],
        before: Option<Uuid>,
    ) -> Result<Vec<Decision>, AppError> {
        let first = &members[0];
        let risks = self.area_risks(first).await?;
        let operators = self.air_operators(first).await?;
        let today = Utc::now().date_naive();
        let mut decisions: Vec<Decision> = members
            .iter()
            .map(|m| self.decide_among(m, &risks, &operators))
            .collect();
        if let Some(rule) = self.policy.headcount.as_ref() {
            let mut booked: Vec<(Flight, &crate::domain::request::OrgId, usize)> = Vec::new();
            for member in members {
                for flight in team::flights_of(member) {
                    let org = &member.traveller.org;
                    if booked.iter().any(|(f, o, _)| f == &flight && *o == org) {
                        continue;
                    }
                    // The team's own travellers are counted by the rule, once each.
                    let team: Vec<&TravellerId> = members
                        .iter()
                        .filter(|m| &m.traveller.org == org)
                        .map(|m| &m.traveller.id)
                        .collect();
                    let others = self
                        .store
                        .travellers_on_flight(&flight, org, before.map(|id| (id, None)), &team)
                        .await?;
                    booked.push((flight, org, others));
                }
            }
            decisions = team::apply_headcount(members, decisions, Some(rule), |flight, org| {
                booked
                    .iter()
                    .find(|(f, o, _)| f == flight && *o == org)
                    .map_or(0, |(_, _, n)| *n)
            });
        }
        for (member, decision) in members.iter().zip(decisions.iter_mut()) {
            decision.late = crate::domain::lead_time::lateness(
                member,
                decision,
                |code| risks.iter().find(|r| &r.area.code == code).map(|r| &r.area),
                &self.policy.lead_times,
                today,
            );
        }
        Ok(decisions)
    }

    /// The members of a team the caller may read: their own, their organisation's, those
    /// they submitted, those at their approval stage. A team none of whose members the
    /// caller may read is not found.
    pub async fn team(&self, caller: &Caller, id: Uuid) -> Result<Team, AppError> {
        if access::read_scope(caller)
            .or_else(|e| {
                if access::is_approver(caller) {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?
            .is_none()
            && !access::is_approver(caller)
            && self.delegated_stages(caller).await?.is_empty()
        {
            return Err(AppError::forbidden(
                "reading teams requires the traveller, travel-unit, approver or admin role",
            ));
        }
        let stored = self.store.team_members(id).await?;
        let mut members = Vec::with_capacity(stored.len());
        for record in stored {
            match self.readable(caller, record).await {
                Ok(record) => members.push(record),
                Err(e) if e.code == crate::app::error::Code::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if members.is_empty() {
            return Err(AppError::not_found());
        }
        Ok(Team { id, members })
    }

    /// The members of a team the caller may change as a whole: its travel unit, or the
    /// traveller who submitted it.
    async fn team_to_change(&self, caller: &Caller, id: Uuid) -> Result<Team, AppError> {
        let team = self.team(caller, id).await?;
        for member in &team.members {
            access::may_change(caller, member)?;
        }
        let all = self.store.team_members(id).await?;
        if all.len() != team.members.len() {
            return Err(AppError::forbidden(
                "a team is changed as a whole by its travel unit or the traveller who submitted it",
            ));
        }
        Ok(team)
    }

    /// Withdraws every member still pending, in one transaction; members already decided
    /// stay as they are (each may be withdrawn or amended on its own).
    pub async fn withdraw_team(
        &self,
        caller: &Caller,
        id: Uuid,
        comment: Option<String>,
    ) -> Result<Team, AppError> {
        let team = self.team_to_change(caller, id).await?;
        let pending: Vec<&RequestRecord> = team
            .members
            .iter()
            .filter(|m| m.status.is_pending())
            .collect();
        if pending.is_empty() {
            return Err(AppError::new(
                crate::app::error::Code::NotPending,
                "no member of the team is pending; it can no longer be withdrawn",
            ));
        }
        let nexts: Vec<RequestRecord> = pending
            .iter()
            .map(|m| ended(m, RequestStatus::Withdrawn))
            .collect();
        let changes: Vec<RequestChange<'_>> = pending
            .iter()
            .zip(&nexts)
            .map(|(current, next)| RequestChange {
                record: next,
                legs_changed: false,
                audit: AuditDraft {
                    actor: caller.subject.clone(),
                    action: AuditAction::Withdrawn,
                    from: Some(current.status),
                    to: next.status,
                    stage: current_stage(current),
                    comment: comment.clone(),
                    on_behalf_of: None,
                },
            })
            .collect();
        self.store
            .update_requests(&changes)
            .await
            .map_err(changed_meanwhile)?;
        for (current, next) in pending.iter().zip(&nexts) {
            self.withdrawn(current, next, &caller.subject);
        }
        Ok(self.replaced(team, nexts))
    }

    /// Gives the team a new mission (purpose, criticality, itinerary): every member still
    /// open must be held or returned, and each is decided afresh as at submission. Members
    /// that ended (withdrawn, refused, rejected, expired, revoked) stay as they are.
    pub async fn amend_team(
        &self,
        caller: &Caller,
        id: Uuid,
        mission: Mission,
    ) -> Result<Team, AppError> {
        let team = self.team_to_change(caller, id).await?;
        let open: Vec<&RequestRecord> = team
            .members
            .iter()
            .filter(|m| !is_ended(m.status))
            .collect();
        if let Some(m) = open
            .iter()
            .find(|m| !matches!(m.status, RequestStatus::Returned | RequestStatus::Held))
        {
            return Err(not_pending(m.status, "amended with its team")
                .with("request_id", m.id)
                .with(
                    "hint",
                    "a team is amended while its open members are held or returned; amend or withdraw members one by one",
                ));
        }
        if open.is_empty() {
            return Err(not_pending(team.members[0].status, "amended"));
        }
        let requests = open
            .iter()
            .map(|m| mission.for_traveller(m.request.traveller.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let decisions = self
            .decide_members(&requests, team.members.first().map(|m| m.id))
            .await?;
        let now = Utc::now().trunc_subsecs(6);
        let nexts: Vec<RequestRecord> = open
            .iter()
            .zip(requests)
            .zip(decisions)
            .map(|((current, request), mut decision)| {
                decision.acknowledged = current.decision.acknowledged.clone();
                RequestRecord {
                    status: briefing::settle(RequestStatus::from(decision.outcome), &mut decision),
                    escalation: escalation_for(&decision, now),
                    request,
                    decision,
                    version: current.version + 1,
                    ..(*current).clone()
                }
            })
            .collect();
        let changes: Vec<RequestChange<'_>> = open
            .iter()
            .zip(&nexts)
            .map(|(current, next)| RequestChange {
                record: next,
                legs_changed: true,
                audit: AuditDraft {
                    actor: caller.subject.clone(),
                    action: AuditAction::Amended,
                    from: Some(current.status),
                    to: next.status,
                    stage: current_stage(next),
                    comment: Some("the team's mission was amended".into()),
                    on_behalf_of: None,
                },
            })
            .collect();
        self.store
            .update_requests(&changes)
            .await
            .map_err(changed_meanwhile)?;
        for next in &nexts {
            self.announce_new(next, &caller.subject);
            self.events.request_changed(RequestChanged::of(next));
        }
        Ok(self.replaced(team, nexts))
    }

    /// The team with the members that changed replaced by their new state.
    fn replaced(&self, mut team: Team, changed: Vec<RequestRecord>) -> Team {
        for next in changed {
            if let Some(slot) = team.members.iter_mut().find(|m| m.id == next.id) {
                *slot = next;
            }
        }
        team
    }
}

/// Member `i`'s id: the team's (a version 7 UUID) with its last two bytes set to `i`. The
/// time and the counter that orders ids made in the same millisecond come first and stay the
/// team's, so members sort among other requests where the team was made, and among
/// themselves in the members' order; and every attempt of one submission (one
/// `Idempotency-Key`, one team id) gives the same ids, so a retry whose first attempt was
/// stored after all conflicts instead of storing the team twice.
fn member_id(team: Uuid, i: usize) -> Uuid {
    let mut bytes = *team.as_bytes();
    bytes[14..].copy_from_slice(&(i as u16).to_be_bytes());
    Uuid::from_bytes(bytes)
}

/// A status no person or change of circumstances moves any more.
fn is_ended(status: RequestStatus) -> bool {
    matches!(
        status,
        RequestStatus::Withdrawn
            | RequestStatus::Refused
            | RequestStatus::Rejected
            | RequestStatus::Expired
            | RequestStatus::Revoked
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_stable_distinct_version_7_and_in_the_members_order() {
        let team = Uuid::now_v7();
        let ids: Vec<Uuid> = (0..100).map(|i| member_id(team, i)).collect();
        assert_eq!(
            ids,
            (0..100).map(|i| member_id(team, i)).collect::<Vec<_>>()
        );
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "not in order");
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        // The time and the counter are the team's: ordered among other requests as it was
        // submitted.
        assert_eq!(ids[0].get_timestamp(), team.get_timestamp());
        let before = Uuid::now_v7();
        let team = Uuid::now_v7();
        let after = Uuid::now_v7();
        assert!((0..100).all(|i| before < member_id(team, i) && member_id(team, i) < after));
        let other = Uuid::now_v7();
        assert!(ids.iter().all(|id| *id != member_id(other, 0)));
    }
}
