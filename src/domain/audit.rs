//! The audit trail: every state change of a request, append-only and hash-chained per
//! request, so that an edited, reordered or removed entry is detectable.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::request::RequestStatus;

/// The hash a request's first entry chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Submitted,
    Claimed,
    Released,
    Approved,
    Rejected,
    Returned,
    Withdrawn,
    Amended,
    /// Decided again after an SRA or suspension changed.
    Rescreened,
    /// Still pending when its first leg began.
    Expired,
    /// The traveller acknowledged the briefings the clearance waited for.
    Acknowledged,
    /// The first leg began with a briefing still unacknowledged: the traveller and their unit
    /// were told.
    BriefingOverdue,
}

/// What a state change records, before it is placed in its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    pub actor: String,
    pub action: AuditAction,
    pub from: Option<RequestStatus>,
    pub to: RequestStatus,
    pub stage: Option<String>,
    pub comment: Option<String>,
    /// A delegate acted: the approver whose authority it was (`actor` is the delegate).
    pub on_behalf_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub request_id: Uuid,
    pub seq: i64,
    /// RFC 3339 with microseconds, exactly as hashed.
    pub at: String,
    pub actor: String,
    pub action: AuditAction,
    pub from: Option<RequestStatus>,
    pub to: RequestStatus,
    pub stage: Option<String>,
    pub comment: Option<String>,
    /// A delegate acted (`actor`) with this approver's authority.
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields a hash covers, in a fixed order.
#[derive(Serialize)]
struct Hashed<'a> {
    request_id: &'a Uuid,
    seq: i64,
    at: &'a str,
    actor: &'a str,
    action: AuditAction,
    from: Option<RequestStatus>,
    to: RequestStatus,
    stage: Option<&'a str>,
    comment: Option<&'a str>,
    /// Left out when empty: entries written before delegation keep their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<&'a str>,
    prev_hash: &'a str,
}

impl AuditEntry {
    /// Places a draft after `prev` (the request's last entry, if any).
    pub fn chain(
        request_id: Uuid,
        prev: Option<(i64, &str)>,
        at: DateTime<Utc>,
        draft: AuditDraft,
    ) -> AuditEntry {
        let (seq, prev_hash) = prev.map_or((1, GENESIS), |(seq, hash)| (seq + 1, hash));
        let mut entry = AuditEntry {
            request_id,
            seq,
            at: at.to_rfc3339_opts(SecondsFormat::Micros, true),
            actor: draft.actor,
            action: draft.action,
            from: draft.from,
            to: draft.to,
            stage: draft.stage,
            comment: draft.comment,
            on_behalf_of: draft.on_behalf_of,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        entry
    }

    pub fn computed_hash(&self) -> String {
        let hashed = Hashed {
            request_id: &self.request_id,
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            action: self.action,
            from: self.from,
            to: self.to,
            stage: self.stage.as_deref(),
            comment: self.comment.as_deref(),
            on_behalf_of: self.on_behalf_of.as_deref(),
            prev_hash: &self.prev_hash,
        };
        let bytes = serde_json::to_vec(&hashed).expect("audit fields serialise");
        hex::encode(Sha256::digest(bytes))
    }
}

/// The first broken link in one request's trail, if any. `entries` must be in `seq` order.
pub fn first_broken_link(entries: &[AuditEntry]) -> Option<(i64, &'static str)> {
    let mut prev: Option<&AuditEntry> = None;
    for entry in entries {
        let (expected_seq, expected_prev) =
            prev.map_or((1, GENESIS), |p| (p.seq + 1, p.hash.as_str()));
        if entry.seq != expected_seq {
            return Some((entry.seq, "an entry is missing or out of order"));
        }
        if entry.prev_hash != expected_prev {
            return Some((entry.seq, "the entry does not chain from the one before it"));
        }
        if entry.hash != entry.computed_hash() {
            return Some((entry.seq, "the entry was altered after it was written"));
        }
        prev = Some(entry);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(action: AuditAction, to: RequestStatus) -> AuditDraft {
        AuditDraft {
            actor: "alice".into(),
            action,
            from: None,
            to,
            stage: None,
            comment: None,
            on_behalf_of: None,
        }
    }

    fn trail() -> Vec<AuditEntry> {
        let id = Uuid::now_v7();
        let first = AuditEntry::chain(
            id,
            None,
            Utc::now(),
            draft(AuditAction::Submitted, RequestStatus::Escalated),
        );
        let second = AuditEntry::chain(
            id,
            Some((first.seq, &first.hash)),
            Utc::now(),
            draft(AuditAction::Withdrawn, RequestStatus::Withdrawn),
        );
        vec![first, second]
    }

    #[test]
    fn an_intact_trail_verifies_and_any_edit_breaks_it() {
        let entries = trail();
        assert_eq!(first_broken_link(&entries), None);

        let mut edited = entries.clone();
        edited[0].comment = Some("nothing to see".into());
        assert_eq!(first_broken_link(&edited).map(|b| b.0), Some(1));

        let mut rehashed = entries.clone();
        rehashed[0].actor = "mallory".into();
        rehashed[0].hash = rehashed[0].computed_hash();
        assert_eq!(
            first_broken_link(&rehashed).map(|b| b.0),
            Some(2),
            "re-hashing one entry breaks the next link"
        );

        assert_eq!(
            first_broken_link(&entries[1..]).map(|b| b.0),
            Some(2),
            "a removed entry is detected"
        );
    }
}
