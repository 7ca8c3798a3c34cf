//! How likely, how bad, and what that makes the residual risk: the UN SRM 5x5 matrix.

use serde::{Deserialize, Serialize};

/// Likelihood of a threat materialising, from the SRA.
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
#[serde(rename_all = "snake_case")]
pub enum Likelihood {
    VeryUnlikely,
    Unlikely,
    ModeratelyLikely,
    Likely,
    VeryLikely,
}

/// Impact on personnel and programmes should the threat materialise.
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
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Negligible,
    Minor,
    Moderate,
    Severe,
    Critical,
}

/// Residual risk level, ordered from most to least acceptable.
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
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    VeryHigh,
    Unacceptable,
}

impl Likelihood {
    pub const ALL: [Likelihood; 5] = [
        Likelihood::VeryUnlikely,
        Likelihood::Unlikely,
        Likelihood::ModeratelyLikely,
        Likelihood::Likely,
        Likelihood::VeryLikely,
    ];
}

impl Impact {
    pub const ALL: [Impact; 5] = [
        Impact::Negligible,
        Impact::Minor,
        Impact::Moderate,
        Impact::Severe,
        Impact::Critical,
    ];
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 5] = [
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::VeryHigh,
        RiskLevel::Unacceptable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::VeryHigh => "very_high",
            RiskLevel::Unacceptable => "unacceptable",
        }
    }

    /// How the level reads in a sentence ("Very High").
    pub fn label(self) -> &'static str {
        match self {
            RiskLevel::Low => "Low",
            RiskLevel::Medium => "Medium",
            RiskLevel::High => "High",
            RiskLevel::VeryHigh => "Very High",
            RiskLevel::Unacceptable => "Unacceptable",
        }
    }
}

impl std::str::FromStr for RiskLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RiskLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| format!("unknown risk level `{s}`"))
    }
}

/// The organisation's risk matrix: rows are likelihoods, columns impacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskMatrix {
    cells: [[RiskLevel; 5]; 5],
}

impl RiskMatrix {
    /// Builds a matrix, refusing one where a worse likelihood or impact lowers the risk:
    /// such a table is a typo, and it would let a worse threat clear where a milder one does not.
    pub fn new(cells: [[RiskLevel; 5]; 5]) -> Result<Self, String> {
        for (row, likelihood) in Likelihood::ALL.iter().enumerate() {
            for (col, impact) in Impact::ALL.iter().enumerate() {
                let here = cells[row][col];
                if row > 0 && cells[row - 1][col] > here {
                    return Err(format!(
                        "risk matrix is not monotone: {likelihood:?} x {impact:?} is lower than the likelihood below it"
                    ));
                }
                if col > 0 && cells[row][col - 1] > here {
                    return Err(format!(
                        "risk matrix is not monotone: {likelihood:?} x {impact:?} is lower than the impact below it"
                    ));
                }
            }
        }
        Ok(Self { cells })
    }

    pub fn assess(&self, likelihood: Likelihood, impact: Impact) -> RiskLevel {
        self.cells[likelihood as usize][impact as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_levels_order_from_low_to_unacceptable() {
        assert!(RiskLevel::Low < RiskLevel::Medium);
        assert!(RiskLevel::VeryHigh < RiskLevel::Unacceptable);
        assert_eq!("very_high".parse::<RiskLevel>(), Ok(RiskLevel::VeryHigh));
        assert!("extreme".parse::<RiskLevel>().is_err());
    }

    #[test]
    fn a_matrix_where_a_worse_impact_lowers_the_risk_is_refused() {
        use RiskLevel::*;
        let mut cells = [[Low; 5]; 5];
        cells[0][1] = Medium;
        assert!(RiskMatrix::new(cells).is_err());
        cells[1][1] = Medium;
        cells[2][1] = Medium;
        cells[3][1] = Medium;
        cells[4][1] = Medium;
        cells.iter_mut().for_each(|row| row[2..].fill(Medium));
        assert!(RiskMatrix::new(cells).is_ok());
    }
}
