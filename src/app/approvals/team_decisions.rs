//! Deciding a team as one queue item: the approver decides every member waiting at their
//! stage with one verdict, except those they name ("approve all but X", with a comment).
//! Each member is claimed and decided as on its own, with the same four-eyes and claim
//! rules, and all of them are written in one transaction.

use uuid::Uuid;

use super::{Approvals, Step};
use crate::app::AppError;
use crate::app::clearing::changed_meanwhile;
use crate::app::error::Code;
use crate::app::ports::RequestChanged;
use crate::domain::approval::Verdict;
use crate::domain::caller::Caller;
use crate::domain::request::{RequestRecord, RequestStatus};
use crate::store::{RequestChange, StoreError};

/// A member decided otherwise than the rest of the team.
#[derive(Debug, Clone)]
pub struct Exception {
    pub request: Uuid,
    pub verdict: Verdict,
    pub comment: String,
}

impl Approvals {
    /// Decides the members of team `team` waiting at `stage` (the one stage they wait at,
    /// if not named): `verdict` with `comment` for all but the `exceptions`. Nothing is
    /// written unless every member can be decided. Returns the members decided, in their
    /// new state (the others are not the approver's to read).
    pub async fn decide_team(
        &self,
        caller: &Caller,
        team: Uuid,
        stage: Option<&str>,
        verdict: Verdict,
        comment: &str,
        exceptions: &[Exception],
    ) -> Result<Vec<RequestRecord>, AppError> {
        for _ in 0..3 {
            let members = self.store.team_members(team).await?;
            let approver = self.stage_roles.values().any(|r| caller.has(*r))
                || !self.delegated_stages(caller).await?.is_empty();
            if !approver {
                return Err(AppError::forbidden(
                    "deciding a team requires an approver role",
                ));
            }
            if members.iter().all(|m| m.escalation.is_none()) {
                return Err(AppError::not_found());
            }
            let stage = waiting_stage(&members, stage)?;
            let items: Vec<&RequestRecord> = members
                .iter()
                .filter(|m| {
                    m.status == RequestStatus::Escalated
                        && m.escalation.as_ref().is_some_and(|e| e.stage() == &stage)
                })
                .collect();
            for (i, exception) in exceptions.iter().enumerate() {
                let field = format!("/exceptions/{i}/request_id");
                if !items.iter().any(|m| m.id == exception.request) {
                    return Err(AppError::invalid_field(
                        field,
                        format!("not a member of the team waiting at the {stage} stage"),
                    ));
                }
                if exceptions[..i]
                    .iter()
                    .any(|e| e.request == exception.request)
                {
                    return Err(AppError::invalid_field(field, "named twice"));
                }
            }
            let hands = self.authority(caller, &stage).await?;
            let mut decided = Vec::with_capacity(items.len());
            for current in &items {
                let (verdict, comment) = exceptions
                    .iter()
                    .find(|e| e.request == current.id)
                    .map_or((verdict, comment), |e| (e.verdict, e.comment.as_str()));
                let member = |e: AppError| e.with("request_id", current.id);
                // Claimed and decided in one step: the claim rules still hold (nobody
                // else's live claim is taken over), and the trail records the decision.
                let (mut claimed, _, _) = self
                    .apply(caller, &hands, current, Some(&stage), &Step::Claim)
                    .map_err(member)?;
                claimed.version = current.version;
                let step = Step::Decide(verdict, comment.to_owned());
                let (next, audit, events) = self
                    .apply(caller, &hands, &claimed, Some(&stage), &step)
                    .map_err(member)?;
                decided.push((next, audit, events));
            }
            let changes: Vec<RequestChange<'_>> = decided
                .iter()
                .map(|(next, audit, _)| RequestChange {
                    record: next,
                    legs_changed: false,
                    audit: audit.clone(),
                })
                .collect();
            match self.store.update_requests(&changes).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let mut records = Vec::with_capacity(decided.len());
            for (next, _, events) in decided {
                self.events.request_changed(RequestChanged::of(&next));
                for (kind, stage) in events {
                    self.events.publish(kind, next.id, &stage, &caller.subject);
                }
                records.push(next);
            }
            return Ok(records);
        }
        Err(changed_meanwhile(StoreError::Conflict(team.to_string())))
    }
}

/// The stage the decision is for: the one named, or the only one members wait at.
fn waiting_stage(members: &[RequestRecord], named: Option<&str>) -> Result<String, AppError> {
    let mut waiting: Vec<&String> = members
        .iter()
        .filter(|m| m.status == RequestStatus::Escalated)
        .filter_map(|m| m.escalation.as_ref().map(|e| e.stage()))
        .collect();
    waiting.sort();
    waiting.dedup();
    let stage = match (named, waiting.as_slice()) {
        (Some(named), _) => named.to_owned(),
        (None, [one]) => (*one).clone(),
        (None, []) => {
            return Err(AppError::new(
                Code::NotPending,
                "no member of the team waits for a decision",
            ));
        }
        (None, several) => {
            return Err(AppError::invalid_field(
                "/stage",
                format!(
                    "members wait at several stages ({}); name the one to decide",
                    several
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    if !waiting.iter().any(|s| **s == stage) {
        return Err(AppError::new(
            Code::WrongStage,
            format!("no member of the team waits at the {stage} stage"),
        )
        .with("stage", &stage));
    }
    Ok(stage)
}
