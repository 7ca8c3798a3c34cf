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
use crate::domain::approval::{ApprovalError, Verdict};
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
    /// Decides the members of team `team` waiting at `stage` (the one stage they wait at that
    /// the caller decides, if not named): `verdict` with `comment` for all but the
    /// `exceptions`. `seen`, when given, lists the members the approver saw waiting; if
    /// others wait now (moved there since), nothing is decided. Nothing is written unless
    /// every member can be decided. Returns the members decided, in their new state (the
    /// others are not the approver's to read).
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_team(
        &self,
        caller: &Caller,
        team: Uuid,
        stage: Option<&str>,
        verdict: Verdict,
        comment: &str,
        exceptions: &[Exception],
        seen: Option<&[Uuid]>,
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
            // Only the stages the caller decides are theirs to know of.
            let mut mine = Vec::new();
            for waiting in waiting_stages(&members) {
                if let Ok(hands) = self.authority(caller, &waiting).await {
                    mine.push((waiting, hands));
                }
            }
            let (stage, hands) = chosen_stage(mine, stage)?;
            let items: Vec<&RequestRecord> = members
                .iter()
                .filter(|m| {
                    m.status == RequestStatus::Escalated
                        && m.escalation.as_ref().is_some_and(|e| e.stage() == &stage)
                })
                .collect();
            if let Some(seen) = seen {
                let mut seen = seen.to_vec();
                seen.sort();
                seen.dedup();
                if items.iter().map(|m| m.id).ne(seen) {
                    return Err(AppError::new(
                        Code::ConcurrentUpdate,
                        "the members waiting at the stage changed since the team was read; read it again",
                    )
                    .with("waiting", items.iter().map(|m| m.id).collect::<Vec<_>>()));
                }
            }
            check_exceptions(exceptions, &items, &stage)?;
            // Four eyes over the whole team: nobody decides for the people they travel with.
            for hand in std::iter::once(&caller.subject).chain(&hands) {
                if members
                    .iter()
                    .any(|m| m.request.traveller.id.as_str() == hand)
                {
                    return Err(AppError::from(ApprovalError::OwnRequest).with("team_id", team));
                }
            }
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

/// The stages members of a team wait at, each once.
fn waiting_stages(members: &[RequestRecord]) -> Vec<String> {
    let mut waiting: Vec<String> = members
        .iter()
        .filter(|m| m.status == RequestStatus::Escalated)
        .filter_map(|m| m.escalation.as_ref().map(|e| e.stage().clone()))
        .collect();
    waiting.sort();
    waiting.dedup();
    waiting
}

/// The stage decided, with whose hands the caller's authority there passed through: the one
/// named, or the only one the caller decides. A team with no member waiting at a stage the
/// caller decides is not theirs to know of.
fn chosen_stage(
    mut mine: Vec<(String, Vec<String>)>,
    named: Option<&str>,
) -> Result<(String, Vec<String>), AppError> {
    if mine.is_empty() {
        return Err(AppError::not_found());
    }
    match named {
        Some(named) => match mine.iter().position(|(s, _)| s == named) {
            Some(i) => Ok(mine.swap_remove(i)),
            None => Err(AppError::new(
                Code::WrongStage,
                format!("no member of the team waits at the {named} stage"),
            )
            .with("stage", named)),
        },
        None if mine.len() == 1 => Ok(mine.remove(0)),
        None => Err(AppError::invalid_field(
            "/stage",
            format!(
                "members wait at several of your stages ({}); name the one to decide",
                mine.iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Each exception names a member waiting at the stage, once.
fn check_exceptions(
    exceptions: &[Exception],
    items: &[&RequestRecord],
    stage: &str,
) -> Result<(), AppError> {
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
    Ok(())
}
