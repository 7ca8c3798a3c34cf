//! The approval chain for escalated requests: stages in order, claims that are leases,
//! decisions with comments, and the four-eyes rules. Pure: the caller supplies `now`.

use crate::error_code::Code;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::policy::Stage;
use super::request::RequestStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
    /// Back to the traveller for more information; the request re-enters the chain when amended.
    Return,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
            Verdict::Return => "return",
        }
    }
}

/// A lease on an escalation: only its holder may decide, until it lapses or is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claim {
    pub holder: String,
    pub until: DateTime<Utc>,
}

impl Claim {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.until > now
    }
}

/// One stage's decision, kept for four-eyes checks and shown to the traveller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageDecision {
    pub stage: Stage,
    pub approver: String,
    /// The approver was a delegate, acting with this approver's authority.
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    pub verdict: Verdict,
    pub comment: String,
    pub decided_at: DateTime<Utc>,
}

/// Where an escalated request stands in its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Escalation {
    pub chain: Vec<Stage>,
    /// Index into `chain` of the stage that must decide next.
    pub stage_index: usize,
    pub stage_since: DateTime<Utc>,
    pub claim: Option<Claim>,
    /// Decisions of the current pass through the chain (a return starts a new pass).
    pub decisions: Vec<StageDecision>,
}

/// Why an approver's action was refused; each maps to a stable API code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("the request is {0}, not awaiting approval")]
    NotPending(&'static str),
    #[error("the request is at the {current} stage, not {requested}")]
    WrongStage { current: Stage, requested: Stage },
    #[error("claimed by {holder} until {until}")]
    ClaimedByAnother {
        holder: String,
        until: DateTime<Utc>,
    },
    #[error("claim the item before deciding it")]
    NotClaimed,
    #[error("you hold no claim on this item, so there is nothing to release")]
    NothingToRelease,
    #[error("your claim lapsed at {0}; claim the item again")]
    ClaimLapsed(DateTime<Utc>),
    #[error("you decided the {0} stage of this request; another person must decide this one")]
    SameApproverTwice(Stage),
    #[error("nobody approves their own request")]
    OwnRequest,
    #[error("a decision needs a comment")]
    CommentRequired,
}

impl ApprovalError {
    pub fn code(&self) -> Code {
        match self {
            ApprovalError::NotPending(_) => Code::NotPending,
            ApprovalError::WrongStage { .. } => Code::WrongStage,
            ApprovalError::ClaimedByAnother { .. } => Code::ClaimedByAnother,
            ApprovalError::NotClaimed | ApprovalError::NothingToRelease => Code::ClaimRequired,
            ApprovalError::ClaimLapsed(_) => Code::ClaimLapsed,
            ApprovalError::SameApproverTwice(_) => Code::FourEyesSameApprover,
            ApprovalError::OwnRequest => Code::FourEyesOwnRequest,
            ApprovalError::CommentRequired => Code::CommentRequired,
        }
    }
}

/// What a decision does to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// On to the next stage of the chain.
    NextStage(Escalation),
    /// The chain is done: approved, rejected or returned.
    Final(RequestStatus),
}

impl Escalation {
    pub fn start(chain: Vec<Stage>, now: DateTime<Utc>) -> Self {
        Self {
            chain,
            stage_index: 0,
            stage_since: now,
            claim: None,
            decisions: Vec::new(),
        }
    }

    pub fn stage(&self) -> &Stage {
        &self.chain[self.stage_index]
    }

    fn check_stage(&self, stage: &str) -> Result<(), ApprovalError> {
        if self.stage() == stage {
            Ok(())
        } else {
            Err(ApprovalError::WrongStage {
                current: self.stage().clone(),
                requested: stage.to_owned(),
            })
        }
    }

    /// Four-eyes: not the traveller or submitter, and not someone who decided an earlier
    /// stage, in person or through a delegate. A delegate's act is checked for them and for
    /// the approver whose authority they use (`check_eligible` on each).
    pub fn check_eligible(&self, approver: &str, parties: &[&str]) -> Result<(), ApprovalError> {
        if parties.contains(&approver) {
            return Err(ApprovalError::OwnRequest);
        }
        if let Some(earlier) = self
            .decisions
            .iter()
            .find(|d| d.approver == approver || d.on_behalf_of.as_deref() == Some(approver))
        {
            return Err(ApprovalError::SameApproverTwice(earlier.stage.clone()));
        }
        Ok(())
    }

    /// Takes (or renews) the lease for `approver` at `stage`.
    pub fn claim(
        &self,
        stage: &str,
        approver: &str,
        parties: &[&str],
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Escalation, ApprovalError> {
        self.check_stage(stage)?;
        self.check_eligible(approver, parties)?;
        if let Some(claim) = self
            .claim
            .as_ref()
            .filter(|c| c.is_live(now) && c.holder != approver)
        {
            return Err(ApprovalError::ClaimedByAnother {
                holder: claim.holder.clone(),
                until: claim.until,
            });
        }
        Ok(Escalation {
            claim: Some(Claim {
                holder: approver.to_owned(),
                until: now + lease,
            }),
            ..self.clone()
        })
    }

    /// Gives the lease back before it lapses; only its holder may.
    pub fn release(&self, approver: &str, now: DateTime<Utc>) -> Result<Escalation, ApprovalError> {
        match &self.claim {
            Some(claim) if claim.holder == approver && claim.is_live(now) => Ok(Escalation {
                claim: None,
                ..self.clone()
            }),
            Some(claim) if claim.is_live(now) => Err(ApprovalError::ClaimedByAnother {
                holder: claim.holder.clone(),
                until: claim.until,
            }),
            _ => Err(ApprovalError::NothingToRelease),
        }
    }

    /// Decides the current stage. The approver must hold a live claim on it.
    pub fn decide(
        &self,
        stage: &str,
        approver: &str,
        parties: &[&str],
        verdict: Verdict,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<(StageDecision, Outcome), ApprovalError> {
        self.decide_for(stage, approver, None, parties, verdict, comment, now)
    }

    /// Decides the current stage as `decide` does; `on_behalf_of` names the approver whose
    /// authority a delegate used (checked by the caller with `check_eligible`).
    #[allow(clippy::too_many_arguments)]
    pub fn decide_for(
        &self,
        stage: &str,
        approver: &str,
        on_behalf_of: Option<&str>,
        parties: &[&str],
        verdict: Verdict,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<(StageDecision, Outcome), ApprovalError> {
        self.check_stage(stage)?;
        self.check_eligible(approver, parties)?;
        match &self.claim {
            Some(claim) if claim.holder == approver && claim.is_live(now) => {}
            Some(claim) if claim.holder == approver => {
                return Err(ApprovalError::ClaimLapsed(claim.until));
            }
            Some(claim) if claim.is_live(now) => {
                return Err(ApprovalError::ClaimedByAnother {
                    holder: claim.holder.clone(),
                    until: claim.until,
                });
            }
            _ => return Err(ApprovalError::NotClaimed),
        }
        let comment = comment.trim();
        if comment.is_empty() {
            return Err(ApprovalError::CommentRequired);
        }
        let decision = StageDecision {
            stage: self.stage().clone(),
            approver: approver.to_owned(),
            on_behalf_of: on_behalf_of.map(str::to_owned),
            verdict,
            comment: comment.to_owned(),
            decided_at: now,
        };
        let outcome = match verdict {
            Verdict::Reject => Outcome::Final(RequestStatus::Rejected),
            Verdict::Return => Outcome::Final(RequestStatus::Returned),
            Verdict::Approve if self.stage_index + 1 == self.chain.len() => {
                Outcome::Final(RequestStatus::Approved)
            }
            Verdict::Approve => {
                let mut decisions = self.decisions.clone();
                decisions.push(decision.clone());
                Outcome::NextStage(Escalation {
                    chain: self.chain.clone(),
                    stage_index: self.stage_index + 1,
                    stage_since: now,
                    claim: None,
                    decisions,
                })
            }
        };
        Ok((decision, outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn chain() -> Escalation {
        Escalation::start(vec!["hq".into(), "dg".into()], t(0))
    }

    const LEASE: Duration = Duration::minutes(15);
    const PARTIES: [&str; 2] = ["alice", "unicef-desk"];

    #[test]
    fn hq_then_dg_approval_makes_the_request_approved() {
        let e = chain().claim("hq", "hq-1", &PARTIES, LEASE, t(1)).unwrap();
        let (_, next) = e
            .decide("hq", "hq-1", &PARTIES, Verdict::Approve, "ok", t(2))
            .unwrap();
        let Outcome::NextStage(e) = next else {
            panic!("expected the DG stage")
        };
        assert_eq!(e.stage(), "dg");
        assert_eq!(e.claim, None);
        let e = e.claim("dg", "dg-1", &PARTIES, LEASE, t(3)).unwrap();
        let (decision, outcome) = e
            .decide("dg", "dg-1", &PARTIES, Verdict::Approve, "approved", t(4))
            .unwrap();
        assert_eq!(outcome, Outcome::Final(RequestStatus::Approved));
        assert_eq!(decision.stage, "dg");
    }

    #[test]
    fn a_held_claim_blocks_others_until_it_lapses_or_is_released() {
        let e = chain().claim("hq", "hq-1", &PARTIES, LEASE, t(0)).unwrap();
        let err = e.claim("hq", "hq-2", &PARTIES, LEASE, t(5)).unwrap_err();
        assert_eq!(
            err,
            ApprovalError::ClaimedByAnother {
                holder: "hq-1".into(),
                until: t(15)
            }
        );
        assert!(
            e.claim("hq", "hq-2", &PARTIES, LEASE, t(16)).is_ok(),
            "a lapsed lease is free"
        );
        let released = e.release("hq-1", t(5)).unwrap();
        assert!(released.claim("hq", "hq-2", &PARTIES, LEASE, t(6)).is_ok());
        assert_eq!(
            e.release("hq-2", t(5)).unwrap_err().code(),
            "claimed_by_another"
        );
    }

    #[test]
    fn deciding_needs_a_live_claim_of_ones_own_and_a_comment() {
        let e = chain();
        let decide = |e: &Escalation, who: &str, at, comment: &str| {
            e.decide("hq", who, &PARTIES, Verdict::Approve, comment, at)
                .map(|_| ())
                .unwrap_err()
                .code()
        };
        assert_eq!(decide(&e, "hq-1", t(1), "ok"), "claim_required");
        let e = e.claim("hq", "hq-1", &PARTIES, LEASE, t(0)).unwrap();
        assert_eq!(decide(&e, "hq-2", t(1), "ok"), "claimed_by_another");
        assert_eq!(decide(&e, "hq-1", t(16), "ok"), "claim_lapsed");
        assert_eq!(decide(&e, "hq-1", t(1), "   "), "comment_required");
        assert_eq!(
            e.decide("dg", "hq-1", &PARTIES, Verdict::Approve, "ok", t(1))
                .unwrap_err()
                .code(),
            "wrong_stage"
        );
    }

    #[test]
    fn four_eyes() {
        let e = chain();
        assert_eq!(
            e.claim("hq", "alice", &PARTIES, LEASE, t(0)).unwrap_err(),
            ApprovalError::OwnRequest
        );
        let e = e.claim("hq", "hq-1", &PARTIES, LEASE, t(0)).unwrap();
        let (_, Outcome::NextStage(dg)) = e
            .decide("hq", "hq-1", &PARTIES, Verdict::Approve, "ok", t(1))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            dg.claim("dg", "hq-1", &PARTIES, LEASE, t(2))
                .unwrap_err()
                .code(),
            "four_eyes_same_approver"
        );
    }

    #[test]
    fn rejection_or_return_at_any_stage_ends_the_pass() {
        for (verdict, status) in [
            (Verdict::Reject, RequestStatus::Rejected),
            (Verdict::Return, RequestStatus::Returned),
        ] {
            let e = chain().claim("hq", "hq-1", &PARTIES, LEASE, t(0)).unwrap();
            let (_, outcome) = e
                .decide("hq", "hq-1", &PARTIES, verdict, "no", t(1))
                .unwrap();
            assert_eq!(outcome, Outcome::Final(status));
            let (_, Outcome::NextStage(dg)) = e
                .decide("hq", "hq-1", &PARTIES, Verdict::Approve, "ok", t(1))
                .unwrap()
            else {
                panic!()
            };
            let dg = dg.claim("dg", "dg-1", &PARTIES, LEASE, t(2)).unwrap();
            let (_, outcome) = dg
                .decide("dg", "dg-1", &PARTIES, verdict, "no", t(3))
                .unwrap();
            assert_eq!(outcome, Outcome::Final(status));
        }
    }
}
