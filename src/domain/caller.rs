//! Who is acting: an authenticated person or system with its roles and organisation. The
//! identity component (`auth`) makes one from a token; the services decide on it.

use serde::{Deserialize, Serialize};

use super::request::OrgId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Traveller,
    TravelUnit,
    SecurityAnalyst,
    ApproverHq,
    ApproverDg,
    Admin,
    /// Keeps the air operator list (the Aviation Risk Management Office's advice).
    AviationRisk,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Traveller,
        Role::TravelUnit,
        Role::SecurityAnalyst,
        Role::ApproverHq,
        Role::ApproverDg,
        Role::Admin,
        Role::AviationRisk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Traveller => "traveller",
            Role::TravelUnit => "travel-unit",
            Role::SecurityAnalyst => "security-analyst",
            Role::ApproverHq => "approver-hq",
            Role::ApproverDg => "approver-dg",
            Role::Admin => "admin",
            Role::AviationRisk => "aviation-risk",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub roles: Vec<Role>,
    /// The organisation a travel unit (or traveller) belongs to, from the `org` claim.
    pub org: Option<OrgId>,
    /// When the token stops being accepted (its `exp` plus the leeway, Unix seconds): a
    /// stream opened with it ends then.
    pub valid_until: i64,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }
}
