//! Security briefings travellers acknowledge: which an issued clearance still waits for, and
//! the status that follows from them. Pure: the services store and announce the outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::area::AreaCode;
use super::policy::Decision;
use super::request::RequestStatus;
use super::sra::{Briefing, SraRef};

/// A briefing one of the request's legs relies on: the SRA version that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BriefingDue {
    pub area: AreaCode,
    pub sra: SraRef,
    pub briefing: Briefing,
}

/// A traveller's acknowledgement of one SRA version's briefing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Acknowledgement {
    pub sra: SraRef,
    pub at: DateTime<Utc>,
    /// The subject who acknowledged: the traveller.
    pub by: String,
}

/// The briefings the decision relies on that nobody acknowledged yet. An acknowledgement is
/// of an SRA version: a new version with a briefing asks again.
pub fn unacknowledged(decision: &Decision) -> Vec<&BriefingDue> {
    decision
        .briefings
        .iter()
        .filter(|due| !decision.acknowledged.iter().any(|a| a.sra == due.sra))
        .collect()
}

/// The status of a clearance given its briefings: waiting for an acknowledgement while any
/// is unacknowledged (the decision keeps what it will be issued as), else issued as `cleared`
/// or `approved`. `status` is the clearance's (or `cleared_pending_acknowledgement`, which
/// the decision's `issues_as` resolves); other statuses are not issued clearances and stay.
pub fn settle(status: RequestStatus, decision: &mut Decision) -> RequestStatus {
    use RequestStatus as S;
    let issued = match status {
        S::ClearedPendingAcknowledgement => decision.issues_as.unwrap_or(S::Cleared),
        S::Cleared | S::Approved => status,
        other => {
            decision.issues_as = None;
            return other;
        }
    };
    if unacknowledged(decision).is_empty() {
        decision.issues_as = None;
        issued
    } else {
        decision.issues_as = Some(issued);
        S::ClearedPendingAcknowledgement
    }
}

/// The clearance a stored status stands for when decided again: one waiting for an
/// acknowledgement is what its decision says it will be issued as.
pub fn issued_as(status: RequestStatus, decision: &Decision) -> RequestStatus {
    match status {
        RequestStatus::ClearedPendingAcknowledgement => {
            decision.issues_as.unwrap_or(RequestStatus::Cleared)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{DecisionCode, Outcome};
    use uuid::Uuid;

    fn sra(version: u32) -> SraRef {
        SraRef {
            id: Uuid::from_u128(u128::from(version)),
            version,
        }
    }

    fn decision(briefed: &[u32], acknowledged: &[u32]) -> Decision {
        Decision {
            outcome: Outcome::Cleared,
            code: DecisionCode::WithinAcceptedRisk,
            reason: String::new(),
            approval_chain: vec![],
            legs: vec![],
            late: None,
            briefings: briefed
                .iter()
                .map(|v| BriefingDue {
                    area: AreaCode::parse("", "KEN-NBO").unwrap(),
                    sra: sra(*v),
                    briefing: Briefing {
                        text: Some("Read this".into()),
                        url: None,
                    },
                })
                .collect(),
            acknowledged: acknowledged
                .iter()
                .map(|v| Acknowledgement {
                    sra: sra(*v),
                    at: Utc::now(),
                    by: "kim".into(),
                })
                .collect(),
            issues_as: None,
        }
    }

    #[test]
    fn an_issued_clearance_waits_for_every_briefing_of_its_versions() {
        use RequestStatus as S;
        let pending = S::ClearedPendingAcknowledgement;
        // (status, briefed, acknowledged, issues_as before, status after, issues_as after)
        let cases = [
            (S::Cleared, &[][..], &[][..], None, S::Cleared, None),
            (S::Cleared, &[3], &[], None, pending, Some(S::Cleared)),
            (S::Approved, &[3], &[], None, pending, Some(S::Approved)),
            (pending, &[3], &[3], Some(S::Cleared), S::Cleared, None),
            (pending, &[3], &[3], Some(S::Approved), S::Approved, None),
            (
                pending,
                &[3],
                &[],
                Some(S::Approved),
                pending,
                Some(S::Approved),
            ),
            // A new version asks again: v3's acknowledgement does not cover v4.
            (S::Cleared, &[4], &[3], None, pending, Some(S::Cleared)),
            (S::Cleared, &[3, 4], &[3], None, pending, Some(S::Cleared)),
            // Not issued: nothing to acknowledge yet, and nothing to issue as.
            (S::Held, &[3], &[], Some(S::Approved), S::Held, None),
            (S::Escalated, &[3], &[], None, S::Escalated, None),
            (S::Revoked, &[3], &[], None, S::Revoked, None),
        ];
        for (status, briefed, acknowledged, before, expected, after) in cases {
            let mut d = decision(briefed, acknowledged);
            d.issues_as = before;
            assert_eq!(
                (settle(status, &mut d), d.issues_as),
                (expected, after),
                "{status:?} briefed {briefed:?} acknowledged {acknowledged:?} issued as {before:?}"
            );
        }
        let mut approved = decision(&[3], &[]);
        approved.issues_as = Some(S::Approved);
        assert_eq!(issued_as(pending, &approved), S::Approved);
        assert_eq!(issued_as(pending, &decision(&[3], &[])), S::Cleared);
        assert_eq!(issued_as(S::Held, &approved), S::Held);
    }
}
