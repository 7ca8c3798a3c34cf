//! A clearance request as the domain sees it: who travels, why, and where.

use crate::error_code::Code;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::approval::Escalation;
use super::criticality::ProgrammeCriticality;
use super::itinerary::Itinerary;
use super::person::{EmailAddress, Language};
use super::policy::{Decision, Outcome};
use super::{Invalid, bounded_text};

/// An identifier taken from outside (a traveller id, an organisation): 1 to 64 characters
/// of letters, digits and `.-_@`, so it is safe in logs, URLs and keys.
/// 1 to 64 letters, digits, `.`, `_`, `-`, `@` (and the `extra` characters, never first
/// or last), exactly as sent: the patterns `/openapi.json` declares.
fn identifier(field: &str, value: &str, extra: &[char]) -> Result<String, Invalid> {
    let well_formed = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c) || extra.contains(&c))
        && !value.starts_with(extra)
        && !value.ends_with(extra);
    if well_formed {
        Ok(value.to_owned())
    } else {
        Err(Invalid::new(
            field,
            Code::InvalidField,
            format!(
                "must be 1 to 64 letters, digits or . _ - @{}",
                if extra.is_empty() {
                    ""
                } else {
                    " (and inner spaces)"
                }
            ),
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct TravellerId(String);

impl TravellerId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        identifier(field, raw, &[]).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organisation (agency, fund, programme) such as `UNICEF`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        identifier(field, raw, &[' ']).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Traveller {
    pub id: TravellerId,
    pub name: String,
    pub org: OrgId,
    pub bsafe_valid_until: Option<NaiveDate>,
    pub ssafe_valid_until: Option<NaiveDate>,
    /// Where the service writes to the traveller of their request's changes; none: the
    /// directory entry of the traveller's id, if any (a travel unit may notify on its own).
    #[serde(default)]
    pub email: Option<EmailAddress>,
    /// The language of those messages; none: the service's default.
    #[serde(default)]
    pub language: Option<Language>,
    /// Family members travelling with them (UN: eligible dependants): counted and asked
    /// after with them in an incident.
    #[serde(default)]
    pub dependants: Vec<Dependant>,
}

/// At most this many dependants on one request.
pub const MAX_DEPENDANTS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dependant {
    pub name: String,
    /// For example "spouse", "child".
    #[serde(default)]
    pub relationship: Option<String>,
}

impl Dependant {
    /// `at` is the dependant's JSON pointer, e.g. `/traveller/dependants/0`.
    pub fn new(at: &str, name: &str, relationship: Option<&str>) -> Result<Self, Invalid> {
        Ok(Self {
            name: bounded_text(&format!("{at}/name"), name, 200)?,
            relationship: relationship
                .map(|r| bounded_text(&format!("{at}/relationship"), r, 50))
                .transpose()?,
        })
    }
}

impl Traveller {
    /// With the address and language the traveller is written to in.
    pub fn with_contact(mut self, email: Option<EmailAddress>, language: Option<Language>) -> Self {
        self.email = email;
        self.language = language;
        self
    }

    pub fn new(
        id: TravellerId,
        name: &str,
        org: OrgId,
        bsafe_valid_until: Option<NaiveDate>,
        ssafe_valid_until: Option<NaiveDate>,
    ) -> Result<Self, Invalid> {
        Ok(Self {
            id,
            name: bounded_text("/traveller/name", name, 200)?,
            org,
            bsafe_valid_until,
            ssafe_valid_until,
            email: None,
            language: None,
            dependants: Vec::new(),
        })
    }

    /// With the family members travelling with them (at most [`MAX_DEPENDANTS`]).
    pub fn with_dependants(mut self, dependants: Vec<Dependant>) -> Result<Self, Invalid> {
        if dependants.len() > MAX_DEPENDANTS {
            return Err(Invalid::new(
                "/traveller/dependants",
                crate::error_code::Code::InvalidField,
                format!("at most {MAX_DEPENDANTS} dependants"),
            ));
        }
        self.dependants = dependants;
        Ok(self)
    }
}

/// A submitted request, valid in shape; whether it clears is for the policy to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClearanceRequest {
    pub traveller: Traveller,
    pub purpose: String,
    pub programme_criticality: ProgrammeCriticality,
    pub mission_sra_reference: Option<String>,
    pub legs: Itinerary,
}

impl ClearanceRequest {
    pub fn new(
        traveller: Traveller,
        purpose: &str,
        programme_criticality: ProgrammeCriticality,
        mission_sra_reference: Option<&str>,
        legs: Itinerary,
    ) -> Result<Self, Invalid> {
        let mission_sra_reference = mission_sra_reference
            .filter(|r| !r.trim().is_empty())
            .map(|r| bounded_text("/mission_sra_reference", r, 100))
            .transpose()?;
        Ok(Self {
            traveller,
            purpose: bounded_text("/purpose", purpose, 500)?,
            programme_criticality,
            mission_sra_reference,
            legs,
        })
    }
}

/// Where a request stands. The first four come straight from a decision; the rest from
/// the approval chain and the people involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Cleared,
    Held,
    Refused,
    Escalated,
    Approved,
    Rejected,
    Returned,
    Withdrawn,
    Revoked,
    /// Still pending when its first leg began: nobody decided in time.
    Expired,
    /// Cleared (or approved), but the traveller has yet to acknowledge a briefing of the
    /// SRA versions it relies on.
    ClearedPendingAcknowledgement,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 11] = [
        Self::Cleared,
        Self::Held,
        Self::Refused,
        Self::Escalated,
        Self::Approved,
        Self::Rejected,
        Self::Returned,
        Self::Withdrawn,
        Self::Revoked,
        Self::Expired,
        Self::ClearedPendingAcknowledgement,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cleared => "cleared",
            Self::Held => "held",
            Self::Refused => "refused",
            Self::Escalated => "escalated",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Returned => "returned",
            Self::Withdrawn => "withdrawn",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::ClearedPendingAcknowledgement => "cleared_pending_acknowledgement",
        }
    }
}

impl From<Outcome> for RequestStatus {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Cleared => Self::Cleared,
            Outcome::Held => Self::Held,
            Outcome::Refused => Self::Refused,
            Outcome::Escalated => Self::Escalated,
        }
    }
}

impl std::str::FromStr for RequestStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown request status `{s}`"))
    }
}

/// A request as recorded: what was asked, by whom, and what was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestRecord {
    pub id: Uuid,
    pub status: RequestStatus,
    pub submitted_at: DateTime<Utc>,
    /// The token subject that submitted it: the traveller, or a travel unit's system.
    pub submitted_by: String,
    pub request: ClearanceRequest,
    pub decision: Decision,
    /// The approval chain, once the request has been escalated.
    pub escalation: Option<Escalation>,
    /// Bumped by every change; a change applies only to the version it was decided on.
    pub version: i64,
    /// The team request it was submitted in, if any: its members share the id.
    pub team: Option<Uuid>,
}

impl RequestStatus {
    /// Where a request goes when it is decided again after an SRA or suspension changed, if
    /// anywhere. Pending requests follow the new decision; a clearance that would now be
    /// refused is revoked, one that would now be held (suspension, no SRA) is held, one that
    /// would now need approval re-enters the chain. An approval stands while the risk stays
    /// within what was approved.
    pub fn after_rescreen(self, outcome: Outcome) -> Option<RequestStatus> {
        use Outcome as O;
        let next = match (self, outcome) {
            (Self::Held, o) => Self::from(o),
            (Self::Escalated, o) => Self::from(o),
            (Self::Cleared | Self::Approved, O::Refused) => Self::Revoked,
            (Self::Cleared | Self::Approved, O::Held) => Self::Held,
            (Self::Cleared, O::Escalated) => Self::Escalated,
            (Self::Cleared, O::Cleared) => Self::Cleared,
            (Self::Approved, O::Cleared | O::Escalated) => Self::Approved,
            _ => return None,
        };
        (next != self).then_some(next)
    }

    /// Still open: a person or a change of circumstances may yet move it.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Escalated | Self::Held | Self::Returned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_re_screen_does_to_each_status() {
        use Outcome as O;
        use RequestStatus as S;
        let cases = [
            (S::Held, O::Cleared, Some(S::Cleared)),
            (S::Held, O::Escalated, Some(S::Escalated)),
            (S::Held, O::Held, None),
            (S::Cleared, O::Escalated, Some(S::Escalated)),
            (S::Cleared, O::Refused, Some(S::Revoked)),
            (S::Cleared, O::Held, Some(S::Held)),
            (S::Cleared, O::Cleared, None),
            (S::Approved, O::Refused, Some(S::Revoked)),
            (S::Approved, O::Escalated, None),
            (S::Approved, O::Cleared, None),
            (S::Escalated, O::Refused, Some(S::Refused)),
            (S::Escalated, O::Cleared, Some(S::Cleared)),
            (S::Escalated, O::Escalated, None),
            (S::Withdrawn, O::Cleared, None),
            (S::Rejected, O::Cleared, None),
            (S::Returned, O::Cleared, None),
            (S::Revoked, O::Cleared, None),
            (S::Expired, O::Cleared, None),
        ];
        for (from, outcome, expected) in cases {
            assert_eq!(
                from.after_rescreen(outcome),
                expected,
                "{from:?} + {outcome:?}"
            );
        }
    }
}
