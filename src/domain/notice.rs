//! What a change tells people: the notice written with every status change, and who is
//! told of it. Pure: the mailer renders the messages and the directory supplies addresses.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::{AuditAction, AuditDraft};
use super::request::{RequestRecord, RequestStatus};

/// A change worth telling someone of, as it stood when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Unique per notice: the messages planned from it are keyed by it.
    pub id: Uuid,
    pub action: AuditAction,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub comment: Option<String>,
    pub previous_status: Option<RequestStatus>,
    /// The request after the change.
    pub record: RequestRecord,
}

/// The notice a change to `record` gives, if any: claims and releases tell nobody.
pub fn notice_for(record: &RequestRecord, audit: &AuditDraft, at: DateTime<Utc>) -> Option<Notice> {
    if matches!(audit.action, AuditAction::Claimed | AuditAction::Released) {
        return None;
    }
    Some(Notice {
        id: Uuid::now_v7(),
        action: audit.action,
        occurred_at: at,
        actor: audit.actor.clone(),
        comment: audit.comment.clone(),
        previous_status: audit.from,
        record: record.clone(),
    })
}

impl Notice {
    /// The traveller and the submitter hear of every change of status, and of the
    /// submission itself.
    pub fn tells_traveller(&self) -> bool {
        matches!(
            self.action,
            AuditAction::Submitted | AuditAction::BriefingOverdue
        ) || self.previous_status != Some(self.record.status)
    }

    /// The stage whose queue the request has just entered, if it has: its approvers are told.
    pub fn entered_stage(&self) -> Option<&str> {
        if self.record.status != RequestStatus::Escalated {
            return None;
        }
        let entered = match self.action {
            // A stage approved and the next one takes over; or it re-entered the chain.
            AuditAction::Submitted
            | AuditAction::Approved
            | AuditAction::Amended
            | AuditAction::Rescreened => true,
            _ => false,
        };
        entered
            .then(|| self.record.escalation.as_ref().map(|e| e.stage().as_str()))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(action: AuditAction, from: Option<RequestStatus>) -> AuditDraft {
        AuditDraft {
            action,
            actor: "someone".into(),
            from,
            to: RequestStatus::Escalated,
            stage: None,
            comment: None,
            on_behalf_of: None,
        }
    }

    /// A request waiting for HQ, then the DG.
    fn escalated_record() -> RequestRecord {
        use crate::domain::approval::Escalation;
        use crate::domain::area::AreaCode;
        use crate::domain::criticality::ProgrammeCriticality;
        use crate::domain::itinerary::{Itinerary, Leg};
        use crate::domain::policy::{Decision, DecisionCode, Outcome};
        use crate::domain::request::{ClearanceRequest, OrgId, Traveller, TravellerId};
        let today = Utc::now().date_naive();
        let traveller = Traveller::new(
            TravellerId::parse("/id", "alice").unwrap(),
            "Alice",
            OrgId::parse("/org", "UNICEF").unwrap(),
            None,
            None,
        )
        .unwrap();
        let leg = Leg::stay(
            AreaCode::parse("/area", "SOM-MOG").unwrap(),
            today + chrono::Days::new(10),
            today + chrono::Days::new(12),
        );
        let request = ClearanceRequest::new(
            traveller,
            "Visit",
            ProgrammeCriticality::Pc1,
            Some("MSRA-1"),
            Itinerary::parse(vec![leg], today).unwrap(),
        )
        .unwrap();
        RequestRecord {
            id: Uuid::now_v7(),
            status: RequestStatus::Escalated,
            submitted_at: Utc::now(),
            submitted_by: "alice".into(),
            request,
            decision: Decision {
                outcome: Outcome::Escalated,
                code: DecisionCode::EscalationRequired,
                reason: "needs approval".into(),
                approval_chain: vec!["hq".into(), "dg".into()],
                legs: Vec::new(),
                late: None,
                briefings: Vec::new(),
                acknowledged: Vec::new(),
                issues_as: None,
            },
            escalation: Some(Escalation::start(
                vec!["hq".into(), "dg".into()],
                Utc::now(),
            )),
            version: 1,
            team: None,
        }
    }

    #[test]
    fn claims_and_releases_tell_nobody() {
        let record = escalated_record();
        assert!(notice_for(&record, &draft(AuditAction::Claimed, None), Utc::now()).is_none());
        assert!(notice_for(&record, &draft(AuditAction::Released, None), Utc::now()).is_none());
    }

    #[test]
    fn an_escalation_tells_its_stage_and_the_traveller() {
        let record = escalated_record();
        let submitted =
            notice_for(&record, &draft(AuditAction::Submitted, None), Utc::now()).unwrap();
        assert_eq!(submitted.entered_stage(), Some("hq"));
        assert!(submitted.tells_traveller());
        // HQ approved, the request waits for the DG: still escalated, so the traveller
        // hears nothing; the DG's approvers do.
        let mut next = record.clone();
        next.escalation.as_mut().unwrap().stage_index = 1;
        let approved = notice_for(
            &next,
            &draft(AuditAction::Approved, Some(RequestStatus::Escalated)),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(approved.entered_stage(), Some("dg"));
        assert!(!approved.tells_traveller());
    }

    #[test]
    fn a_decision_tells_the_traveller_and_no_stage() {
        let mut record = escalated_record();
        record.status = RequestStatus::Rejected;
        let rejected = notice_for(
            &record,
            &draft(AuditAction::Rejected, Some(RequestStatus::Escalated)),
            Utc::now(),
        )
        .unwrap();
        assert!(rejected.tells_traveller());
        assert_eq!(rejected.entered_stage(), None);
    }
}
