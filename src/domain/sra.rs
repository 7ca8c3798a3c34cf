//! Security Risk Assessments and which of them is in force for an area on given dates.
//! One file: the SRA's lifecycle and the in-force rule share their types, and a third of it
//! is their tests.

use crate::error_code::Code;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::area::{Area, AreaCode};
use super::risk::{Impact, Likelihood, RiskLevel, RiskMatrix};
use super::{Invalid, bounded_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SraStatus {
    Draft,
    Endorsed,
    Published,
    Superseded,
    Withdrawn,
}

impl SraStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SraStatus::Draft => "draft",
            SraStatus::Endorsed => "endorsed",
            SraStatus::Published => "published",
            SraStatus::Superseded => "superseded",
            SraStatus::Withdrawn => "withdrawn",
        }
    }
}

impl std::str::FromStr for SraStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SraStatus::Draft,
            SraStatus::Endorsed,
            SraStatus::Published,
            SraStatus::Superseded,
            SraStatus::Withdrawn,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| format!("unknown SRA status `{s}`"))
    }
}

/// UN security level of an area, 1 (minimal) to 6 (extreme).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct SecurityLevel(u8);

impl SecurityLevel {
    pub fn new(field: &str, level: i64) -> Result<Self, Invalid> {
        match u8::try_from(level) {
            Ok(level @ 1..=6) => Ok(Self(level)),
            _ => Err(Invalid::new(
                field,
                Code::InvalidField,
                "the UN security level is a whole number from 1 to 6",
            )),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for SecurityLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SecurityLevel::new("", i64::deserialize(d)?).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Threat {
    pub name: String,
    pub likelihood: Likelihood,
    pub impact: Impact,
}

/// What travellers must read, and acknowledge, before travel under an SRA version: a text,
/// a link to one, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Briefing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An absolute http(s) link to the briefing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

pub const MAX_BRIEFING: usize = 5000;

impl Briefing {
    /// A briefing from its parts (`field` is the body's pointer to it); none when both are
    /// absent or blank.
    pub fn new(
        field: &str,
        text: Option<&str>,
        url: Option<&str>,
    ) -> Result<Option<Self>, Invalid> {
        let text = text
            .filter(|t| !t.trim().is_empty())
            .map(|t| bounded_briefing(&format!("{field}/text"), t))
            .transpose()?;
        let url = url
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| {
                let refuse = || {
                    Invalid::new(
                        format!("{field}/url"),
                        Code::InvalidField,
                        "the briefing's link is an absolute http(s) URL of at most 2000 characters",
                    )
                };
                let parsed = url::Url::parse(u).map_err(|_| refuse())?;
                if !matches!(parsed.scheme(), "http" | "https") || u.len() > 2000 {
                    return Err(refuse());
                }
                Ok(parsed.to_string())
            })
            .transpose()?;
        Ok((text.is_some() || url.is_some()).then_some(Self { text, url }))
    }
}

/// A briefing's text keeps its line breaks (it is read as paragraphs); other control
/// characters are refused.
fn bounded_briefing(field: &str, text: &str) -> Result<String, Invalid> {
    if text.chars().count() > MAX_BRIEFING {
        return Err(Invalid::new(
            field,
            Code::InvalidField,
            format!("must be at most {MAX_BRIEFING} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(Invalid::new(
            field,
            Code::InvalidField,
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(text.trim().to_owned())
}

/// A reference to the SRA version a decision relied on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SraRef {
    pub id: Uuid,
    pub version: u32,
}

/// One SRA version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sra {
    pub id: Uuid,
    pub area: AreaCode,
    pub version: u32,
    pub status: SraStatus,
    pub effective_from: NaiveDate,
    pub review_due: NaiveDate,
    pub security_level: SecurityLevel,
    pub residual_risk: RiskLevel,
    pub threats: Vec<Threat>,
    pub mandatory_measures: Vec<String>,
    pub requires_ssafe: bool,
    pub published_at: Option<DateTime<Utc>>,
    /// Why the stated residual risk differs from what the matrix gives for the threats.
    pub residual_risk_justification: Option<String>,
    /// The Security Management Team's endorsement.
    pub endorsement: Option<Signoff>,
    /// The designated official's approval.
    pub approval: Option<Signoff>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// What travellers must acknowledge before a clearance under this version is issued.
    #[serde(default)]
    pub briefing: Option<Briefing>,
}

/// Who signed off a step of an SRA, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signoff {
    pub by: String,
    pub on: NaiveDate,
}

impl Signoff {
    pub fn new(field: &str, by: &str, on: NaiveDate) -> Result<Self, Invalid> {
        Ok(Self {
            by: bounded_text(&format!("{field}/by"), by, 200)?,
            on,
        })
    }
}

/// What an analyst submits to publish an SRA, before it is checked.
#[derive(Debug, Clone)]
pub struct SraInput {
    pub area: AreaCode,
    pub version: i64,
    pub effective_from: NaiveDate,
    pub review_due: NaiveDate,
    pub security_level: i64,
    pub residual_risk: Option<RiskLevel>,
    pub threats: Vec<Threat>,
    pub mandatory_measures: Vec<String>,
    pub requires_ssafe: bool,
    pub residual_risk_justification: Option<String>,
    pub briefing: Option<Briefing>,
}

const MAX_THREATS: usize = 50;
const MAX_MEASURES: usize = 50;

impl Sra {
    /// Checks an analyst's input and publishes it in one step: for SRAs endorsed and approved
    /// outside this service (imports, the one-step `POST /v1/sras`).
    pub fn publish_directly(
        input: SraInput,
        matrix: &RiskMatrix,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Sra, Invalid> {
        let mut sra = Sra::draft(input, matrix, id)?;
        sra.status = SraStatus::Published;
        sra.published_at = Some(now);
        Ok(sra)
    }

    /// Checks an analyst's input and builds a draft from it. The residual risk, when not
    /// stated, is the worst threat's cell in the organisation's matrix; a stated one that
    /// differs from it needs a justification.
    pub fn draft(input: SraInput, matrix: &RiskMatrix, id: Uuid) -> Result<Sra, Invalid> {
        let version = u32::try_from(input.version)
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| {
                Invalid::new(
                    "/version",
                    Code::InvalidField,
                    "version is a whole number from 1",
                )
            })?;
        if input.review_due < input.effective_from {
            return Err(Invalid::new(
                "/review_due",
                Code::InvalidField,
                "review_due must not be before effective_from",
            ));
        }
        let security_level = SecurityLevel::new("/security_level", input.security_level)?;
        if input.threats.len() > MAX_THREATS {
            return Err(Invalid::new(
                "/threats",
                Code::InvalidField,
                format!("at most {MAX_THREATS} threats"),
            ));
        }
        let threats = input
            .threats
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                Ok(Threat {
                    name: bounded_text(&format!("/threats/{i}/name"), &t.name, 200)?,
                    ..t
                })
            })
            .collect::<Result<Vec<_>, Invalid>>()?;
        if input.mandatory_measures.len() > MAX_MEASURES {
            return Err(Invalid::new(
                "/mandatory_measures",
                Code::InvalidField,
                format!("at most {MAX_MEASURES} measures"),
            ));
        }
        let mandatory_measures = input
            .mandatory_measures
            .iter()
            .enumerate()
            .map(|(i, m)| bounded_text(&format!("/mandatory_measures/{i}"), m, 200))
            .collect::<Result<Vec<_>, Invalid>>()?;
        let computed = threats
            .iter()
            .map(|t| matrix.assess(t.likelihood, t.impact))
            .max();
        let residual_risk = input.residual_risk.or(computed).ok_or_else(|| {
            Invalid::new(
                "/residual_risk",
                Code::InvalidField,
                "give the residual risk, or the threats to compute it from",
            )
        })?;
        let justification = input
            .residual_risk_justification
            .as_deref()
            .filter(|j| !j.trim().is_empty())
            .map(|j| bounded_text("/residual_risk_justification", j, 2000))
            .transpose()?;
        if let Some(computed) = computed
            && computed != residual_risk
            && justification.is_none()
        {
            return Err(Invalid::new(
                "/residual_risk",
                Code::ResidualRiskContradictsMatrix,
                format!(
                    "the threats give {} on the risk matrix; state why the residual risk is {} in residual_risk_justification",
                    computed.label(),
                    residual_risk.label()
                ),
            ));
        }
        Ok(Sra {
            id,
            area: input.area,
            version,
            status: SraStatus::Draft,
            effective_from: input.effective_from,
            review_due: input.review_due,
            security_level,
            residual_risk,
            threats,
            mandatory_measures,
            requires_ssafe: input.requires_ssafe,
            published_at: None,
            residual_risk_justification: justification,
            endorsement: None,
            approval: None,
            withdrawn_at: None,
            briefing: input.briefing,
        })
    }

    fn refuse(&self, code: Code, detail: String) -> Invalid {
        Invalid::new("", code, detail)
    }

    /// The Security Management Team endorses a draft.
    pub fn endorse(&self, signoff: Signoff) -> Result<Sra, Invalid> {
        if self.status != SraStatus::Draft {
            return Err(self.refuse(
                Code::InvalidSraTransition,
                format!(
                    "only a draft is endorsed; this SRA is {}",
                    self.status.as_str()
                ),
            ));
        }
        Ok(Sra {
            status: SraStatus::Endorsed,
            endorsement: Some(signoff),
            ..self.clone()
        })
    }

    /// The designated official approves an endorsed SRA.
    pub fn approve(&self, signoff: Signoff) -> Result<Sra, Invalid> {
        match self.status {
            SraStatus::Draft => Err(self.refuse(
                Code::SraNotEndorsed,
                "the SMT must endorse the SRA before it is approved".into(),
            )),
            SraStatus::Endorsed => Ok(Sra {
                approval: Some(signoff),
                ..self.clone()
            }),
            other => Err(self.refuse(
                Code::InvalidSraTransition,
                format!("this SRA is already {}", other.as_str()),
            )),
        }
    }

    /// Publishes an endorsed and approved SRA, unless another published version of the area
    /// takes effect on the same date (it would be ambiguous which one applies).
    pub fn publish(&self, published: &[Sra], now: DateTime<Utc>) -> Result<Sra, Invalid> {
        match self.status {
            SraStatus::Draft => {
                return Err(self.refuse(
                    Code::SraNotEndorsed,
                    "a draft that was never endorsed cannot be published".into(),
                ));
            }
            SraStatus::Endorsed if self.approval.is_none() => {
                return Err(self.refuse(
                    Code::SraNotApproved,
                    "the SRA must be approved before it is published".into(),
                ));
            }
            SraStatus::Endorsed => {}
            other => {
                return Err(self.refuse(
                    Code::InvalidSraTransition,
                    format!("this SRA is already {}", other.as_str()),
                ));
            }
        }
        let published_now = Sra {
            status: SraStatus::Published,
            published_at: Some(now),
            ..self.clone()
        };
        published_now.check_no_overlap(published)?;
        Ok(published_now)
    }

    /// Two published versions of an area taking effect on the same day would leave it
    /// ambiguous which one applies; a later date supersedes instead.
    pub fn check_no_overlap(&self, others: &[Sra]) -> Result<(), Invalid> {
        let clash = others.iter().find(|o| {
            o.id != self.id
                && o.area == self.area
                && o.status == SraStatus::Published
                && o.effective_from == self.effective_from
        });
        match clash {
            Some(other) => Err(Invalid::new(
                "/effective_from",
                Code::SraOverlap,
                format!(
                    "version {} of the SRA for {} already takes effect on {}; withdraw it first, or publish from a later date to supersede it",
                    other.version, self.area, self.effective_from
                ),
            )),
            None => Ok(()),
        }
    }

    /// Withdraws a published SRA: it no longer counts for any date.
    pub fn withdraw(&self, now: DateTime<Utc>) -> Result<Sra, Invalid> {
        if self.status != SraStatus::Published {
            return Err(self.refuse(
                Code::InvalidSraTransition,
                format!(
                    "only a published SRA is withdrawn; this one is {}",
                    self.status.as_str()
                ),
            ));
        }
        Ok(Sra {
            status: SraStatus::Withdrawn,
            withdrawn_at: Some(now),
            ..self.clone()
        })
    }

    pub fn reference(&self) -> SraRef {
        SraRef {
            id: self.id,
            version: self.version,
        }
    }

    fn summary(&self) -> SraSummary {
        SraSummary {
            id: self.id,
            version: self.version,
            effective_from: self.effective_from,
            review_due: self.review_due,
            security_level: self.security_level,
            residual_risk: self.residual_risk,
            mandatory_measures: self.mandatory_measures.clone(),
            requires_ssafe: self.requires_ssafe,
            briefing: self.briefing.clone(),
        }
    }
}

/// What a decision needs of one published SRA version; the value the cache holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SraSummary {
    pub id: Uuid,
    pub version: u32,
    pub effective_from: NaiveDate,
    pub review_due: NaiveDate,
    pub security_level: SecurityLevel,
    pub residual_risk: RiskLevel,
    pub mandatory_measures: Vec<String>,
    pub requires_ssafe: bool,
    /// Absent in what earlier releases cached: read as none.
    #[serde(default)]
    pub briefing: Option<Briefing>,
}

impl SraSummary {
    pub fn reference(&self) -> SraRef {
        SraRef {
            id: self.id,
            version: self.version,
        }
    }
}

/// An area with its published SRA versions: everything a decision needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AreaRisk {
    pub area: Area,
    /// Published versions, ordered by effective date then version.
    sras: Vec<SraSummary>,
}

/// A published SRA with the dates it is actually in force: from its effective date to its
/// review date, cut short by the next version's effective date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InForce<'a> {
    pub sra: &'a SraSummary,
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// The SRAs that govern a stay, and whether they cover every day of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage<'a> {
    pub sras: Vec<&'a SraSummary>,
    pub complete: bool,
}

impl AreaRisk {
    pub fn new(area: Area, published: &[Sra]) -> Self {
        let mut sras: Vec<SraSummary> = published
            .iter()
            .filter(|s| s.status == SraStatus::Published && s.area == area.code)
            .map(Sra::summary)
            .collect();
        sras.sort_by_key(|s| (s.effective_from, s.version));
        Self { area, sras }
    }

    pub fn published(&self) -> &[SraSummary] {
        &self.sras
    }

    /// Each version's window; a later effective date supersedes, and on the same date the
    /// higher version wins (its predecessor's window is then empty and skipped).
    pub fn windows(&self) -> impl Iterator<Item = InForce<'_>> {
        self.sras.iter().enumerate().filter_map(|(i, sra)| {
            let superseded_from = self.sras[i + 1..]
                .iter()
                .map(|next| next.effective_from)
                .min();
            let until = match superseded_from {
                Some(next) => next
                    .checked_sub_days(Days::new(1))
                    .map_or(sra.review_due, |day_before| day_before.min(sra.review_due)),
                None => sra.review_due,
            };
            (until >= sra.effective_from).then_some(InForce {
                sra,
                from: sra.effective_from,
                until,
            })
        })
    }

    pub fn in_force_on(&self, day: NaiveDate) -> Option<&SraSummary> {
        self.windows()
            .find(|w| w.from <= day && day <= w.until)
            .map(|w| w.sra)
    }

    /// The versions in force during `[arrival, departure]`, and whether every day is covered.
    pub fn coverage(&self, arrival: NaiveDate, departure: NaiveDate) -> Coverage<'_> {
        let mut sras = Vec::new();
        let mut next_uncovered = Some(arrival);
        for window in self.windows() {
            if window.until < arrival || window.from > departure {
                continue;
            }
            sras.push(window.sra);
            if let Some(day) = next_uncovered
                && window.from <= day
                && window.until >= day
            {
                next_uncovered = window.until.checked_add_days(Days::new(1));
            }
        }
        let complete = next_uncovered.is_none_or(|day| day > departure);
        Coverage { sras, complete }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::area::Area;

    pub fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    pub fn summary(version: u32, from: &str, due: &str, risk: RiskLevel) -> Sra {
        Sra {
            id: Uuid::now_v7(),
            area: AreaCode::parse("", "TST-A").unwrap(),
            version,
            status: SraStatus::Published,
            effective_from: day(from),
            review_due: day(due),
            security_level: SecurityLevel::new("", 3).unwrap(),
            residual_risk: risk,
            threats: vec![],
            mandatory_measures: vec![],
            requires_ssafe: false,
            published_at: None,
            residual_risk_justification: None,
            endorsement: None,
            approval: None,
            withdrawn_at: None,
            briefing: None,
        }
    }

    pub fn area() -> Area {
        Area::new(
            AreaCode::parse("", "TST-A").unwrap(),
            "Test",
            "Testland",
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_later_version_supersedes_from_its_effective_date() {
        let risk = AreaRisk::new(
            area(),
            &[
                summary(1, "2026-01-01", "2026-12-31", RiskLevel::Low),
                summary(2, "2026-06-01", "2027-05-31", RiskLevel::High),
            ],
        );
        assert_eq!(risk.in_force_on(day("2026-05-31")).unwrap().version, 1);
        assert_eq!(risk.in_force_on(day("2026-06-01")).unwrap().version, 2);
        let across = risk.coverage(day("2026-05-30"), day("2026-06-02"));
        assert!(across.complete);
        assert_eq!(across.sras.len(), 2);
    }

    #[test]
    fn a_stay_past_the_review_date_is_not_covered() {
        let risk = AreaRisk::new(
            area(),
            &[summary(1, "2026-01-01", "2026-03-31", RiskLevel::Low)],
        );
        assert!(risk.coverage(day("2026-03-01"), day("2026-03-31")).complete);
        assert!(!risk.coverage(day("2026-03-30"), day("2026-04-01")).complete);
        assert!(!risk.coverage(day("2025-12-31"), day("2026-01-02")).complete);
        assert!(risk.in_force_on(day("2026-04-01")).is_none());
    }

    #[test]
    fn a_gap_between_versions_leaves_the_stay_uncovered() {
        let risk = AreaRisk::new(
            area(),
            &[
                summary(1, "2026-01-01", "2026-01-31", RiskLevel::Low),
                summary(2, "2026-02-05", "2026-12-31", RiskLevel::Low),
            ],
        );
        assert!(!risk.coverage(day("2026-01-30"), day("2026-02-06")).complete);
        assert!(risk.coverage(day("2026-02-05"), day("2026-02-06")).complete);
    }

    #[test]
    fn drafts_and_withdrawn_versions_never_count() {
        let mut withdrawn = summary(2, "2026-01-01", "2026-12-31", RiskLevel::Low);
        withdrawn.status = SraStatus::Withdrawn;
        let risk = AreaRisk::new(area(), &[withdrawn]);
        assert!(risk.in_force_on(day("2026-06-01")).is_none());
    }

    #[test]
    fn the_residual_risk_defaults_to_the_worst_threat() {
        let matrix = crate::domain::policy::tests::un_matrix();
        let input = SraInput {
            area: AreaCode::parse("", "TST-A").unwrap(),
            version: 1,
            effective_from: day("2026-01-01"),
            review_due: day("2026-12-31"),
            security_level: 4,
            residual_risk: None,
            threats: vec![
                Threat {
                    name: "Crime".into(),
                    likelihood: Likelihood::Likely,
                    impact: Impact::Minor,
                },
                Threat {
                    name: "Armed conflict".into(),
                    likelihood: Likelihood::Likely,
                    impact: Impact::Severe,
                },
            ],
            mandatory_measures: vec![],
            requires_ssafe: false,
            residual_risk_justification: None,
            briefing: None,
        };
        let sra =
            Sra::publish_directly(input.clone(), &matrix, Uuid::now_v7(), Utc::now()).unwrap();
        assert_eq!(sra.residual_risk, RiskLevel::VeryHigh);
        let bad = SraInput {
            review_due: day("2025-12-31"),
            ..input
        };
        let err = Sra::publish_directly(bad, &matrix, Uuid::now_v7(), Utc::now()).unwrap_err();
        assert_eq!(err.field, "/review_due");
    }

    #[test]
    fn an_sra_is_drafted_endorsed_approved_and_published_in_that_order() {
        let matrix = crate::domain::policy::tests::un_matrix();
        let input = SraInput {
            area: AreaCode::parse("", "TST-A").unwrap(),
            version: 2,
            effective_from: day("2026-06-01"),
            review_due: day("2026-12-31"),
            security_level: 4,
            residual_risk: Some(RiskLevel::Medium),
            threats: vec![Threat {
                name: "Armed conflict".into(),
                likelihood: Likelihood::Likely,
                impact: Impact::Severe,
            }],
            mandatory_measures: vec![],
            requires_ssafe: false,
            residual_risk_justification: None,
            briefing: None,
        };
        let err = Sra::draft(input.clone(), &matrix, Uuid::now_v7()).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.code.as_str()),
            ("/residual_risk", "residual_risk_contradicts_matrix")
        );
        let justified = SraInput {
            residual_risk_justification: Some("Armoured movement and escorts in place".into()),
            ..input
        };
        let draft = Sra::draft(justified, &matrix, Uuid::now_v7()).unwrap();
        assert_eq!(draft.residual_risk, RiskLevel::Medium);
        let smt = Signoff::new("", "SMT Somalia", day("2026-05-20")).unwrap();
        let dso = Signoff::new("", "DO Somalia", day("2026-05-21")).unwrap();

        assert_eq!(
            draft.publish(&[], Utc::now()).unwrap_err().code,
            "sra_not_endorsed"
        );
        assert_eq!(
            draft.approve(dso.clone()).unwrap_err().code,
            "sra_not_endorsed"
        );
        let endorsed = draft.endorse(smt.clone()).unwrap();
        assert_eq!(
            endorsed.publish(&[], Utc::now()).unwrap_err().code,
            "sra_not_approved"
        );
        let approved = endorsed.approve(dso).unwrap();
        let v1 = summary(1, "2026-06-01", "2026-12-31", RiskLevel::Low);
        assert_eq!(
            approved
                .publish(std::slice::from_ref(&v1), Utc::now())
                .unwrap_err()
                .code,
            "sra_overlap"
        );
        let published = approved.publish(&[], Utc::now()).unwrap();
        assert_eq!(published.status, SraStatus::Published);
        assert_eq!(
            published.endorse(smt).unwrap_err().code,
            "invalid_sra_transition"
        );
        let withdrawn = published.withdraw(Utc::now()).unwrap();
        assert_eq!(withdrawn.status, SraStatus::Withdrawn);
        assert!(withdrawn.withdraw(Utc::now()).is_err());
    }
}
