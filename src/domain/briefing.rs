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

/// The status of an issued clearance given its briefings: pending acknowledgement while any
/// is unacknowledged, else cleared, or approved when the approval chain decided it. Other
/// statuses are not issued clearances and stay as they are.
pub fn settle(status: RequestStatus, decision: &Decision, approved: bool) -> RequestStatus {
    use RequestStatus as S;
    match status {
        S::Cleared | S::Approved | S::ClearedPendingAcknowledgement => {
            if !unacknowledged(decision).is_empty() {
                S::ClearedPendingAcknowledgement
            } else if approved {
                S::Approved
            } else {
                S::Cleared
            }
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
        }
    }

    #[test]
    fn an_issued_clearance_waits_for_every_briefing_of_its_versions() {
        use RequestStatus as S;
        let cases = [
            (S::Cleared, &[][..], &[][..], false, S::Cleared),
            (
                S::Cleared,
                &[3],
                &[],
                false,
                S::ClearedPendingAcknowledgement,
            ),
            (
                S::Approved,
                &[3],
                &[],
                true,
                S::ClearedPendingAcknowledgement,
            ),
            (
                S::ClearedPendingAcknowledgement,
                &[3],
                &[3],
                false,
                S::Cleared,
            ),
            (
                S::ClearedPendingAcknowledgement,
                &[3],
                &[3],
                true,
                S::Approved,
            ),
            // A new version asks again: v3's acknowledgement does not cover v4.
            (
                S::Cleared,
                &[4],
                &[3],
                false,
                S::ClearedPendingAcknowledgement,
            ),
            (
                S::Cleared,
                &[3, 4],
                &[3],
                false,
                S::ClearedPendingAcknowledgement,
            ),
            // Not issued: nothing to acknowledge yet.
            (S::Held, &[3], &[], false, S::Held),
            (S::Escalated, &[3], &[], false, S::Escalated),
            (S::Revoked, &[3], &[], false, S::Revoked),
        ];
        for (status, briefed, acknowledged, approved, expected) in cases {
            assert_eq!(
                settle(status, &decision(briefed, acknowledged), approved),
                expected,
                "{status:?} briefed {briefed:?} acknowledged {acknowledged:?}"
            );
        }
    }
}
