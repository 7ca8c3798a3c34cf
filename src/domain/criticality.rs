//! Programme criticality: how much risk the work justifies.

use serde::{Deserialize, Serialize};

/// PC1 is the most critical programme (lifesaving), PC4 the least.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum ProgrammeCriticality {
    #[serde(rename = "PC1")]
    Pc1,
    #[serde(rename = "PC2")]
    Pc2,
    #[serde(rename = "PC3")]
    Pc3,
    #[serde(rename = "PC4")]
    Pc4,
}

impl ProgrammeCriticality {
    pub const ALL: [ProgrammeCriticality; 4] = [Self::Pc1, Self::Pc2, Self::Pc3, Self::Pc4];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pc1 => "PC1",
            Self::Pc2 => "PC2",
            Self::Pc3 => "PC3",
            Self::Pc4 => "PC4",
        }
    }
}

impl std::str::FromStr for ProgrammeCriticality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|pc| pc.as_str() == s)
            .ok_or_else(|| format!("unknown programme criticality `{s}` (expected PC1..PC4)"))
    }
}
