//! An SRA as people write it: the body of `POST /v1/sras`, and each entry of the files
//! `clearway sra import` reads. Parsed here into the domain's types, once for both edges.

use chrono::NaiveDate;
use serde::Deserialize;

use super::AppError;
use super::json_input::whole_number;
use super::publishing::signoff_date_ok;
use crate::domain::area::AreaCode;
use crate::domain::risk::{Impact, Likelihood, RiskLevel};
use crate::domain::sra::{Briefing, Signoff, SraInput, Threat};

/// The SRA as `POST /v1/sras` takes it; `clearway sra import` files hold the same objects.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SraBody {
    area: String,
    #[serde(deserialize_with = "whole_number")]
    version: i64,
    effective_from: NaiveDate,
    review_due: NaiveDate,
    #[serde(deserialize_with = "whole_number")]
    security_level: i64,
    #[serde(default)]
    residual_risk: Option<RiskLevel>,
    #[serde(default)]
    residual_risk_justification: Option<String>,
    #[serde(default)]
    threats: Vec<ThreatBody>,
    #[serde(default)]
    mandatory_measures: Vec<String>,
    #[serde(default)]
    requires_ssafe: bool,
    /// For one-step publication of an SRA signed off elsewhere.
    #[serde(default)]
    endorsement: Option<SignoffBody>,
    #[serde(default)]
    approval: Option<SignoffBody>,
    /// What travellers must read and acknowledge before a clearance under this version is
    /// issued (`cleared_pending_acknowledgement` until they do): a text, a link, or both.
    #[serde(default)]
    briefing: Option<BriefingBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BriefingBody {
    /// At most 5000 characters; line breaks are kept.
    #[serde(default)]
    text: Option<String>,
    /// An absolute http(s) link to the briefing.
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreatBody {
    name: String,
    likelihood: Likelihood,
    impact: Impact,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignoffBody {
    by: String,
    on: NaiveDate,
}

impl SignoffBody {
    pub fn into_signoff(self, field: &str) -> Result<Signoff, AppError> {
        if !signoff_date_ok(self.on) {
            return Err(AppError::invalid_field(
                format!("{field}/on"),
                "a sign-off cannot be dated in the future",
            ));
        }
        Ok(Signoff::new(field, &self.by, self.on)?)
    }
}

/// The parts of an SRA body: what was assessed, and who signed it off (when given).
pub struct SraParts {
    pub input: SraInput,
    pub endorsement: Option<Signoff>,
    pub approval: Option<Signoff>,
}

impl SraBody {
    pub fn into_parts(self) -> Result<SraParts, AppError> {
        Ok(SraParts {
            input: SraInput {
                area: AreaCode::parse("/area", &self.area)?,
                version: self.version,
                effective_from: self.effective_from,
                review_due: self.review_due,
                security_level: self.security_level,
                residual_risk: self.residual_risk,
                residual_risk_justification: self.residual_risk_justification,
                threats: self
                    .threats
                    .into_iter()
                    .map(|t| Threat {
                        name: t.name,
                        likelihood: t.likelihood,
                        impact: t.impact,
                    })
                    .collect(),
                mandatory_measures: self.mandatory_measures,
                requires_ssafe: self.requires_ssafe,
                briefing: match &self.briefing {
                    Some(b) => Briefing::new("/briefing", b.text.as_deref(), b.url.as_deref())?,
                    None => None,
                },
            },
            endorsement: self
                .endorsement
                .map(|s| s.into_signoff("/endorsement"))
                .transpose()?,
            approval: self
                .approval
                .map(|s| s.into_signoff("/approval"))
                .transpose()?,
        })
    }
}
