//! Lead times: how many days before a leg begins a request at its residual risk is due.
//! A request made later is still decided, but flagged late so approvers see it first. The
//! policy gives a number per risk level, which an area or a country may change. Pure.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::area::{Area, AreaCode};
use super::policy::Decision;
use super::request::ClearanceRequest;
use super::risk::RiskLevel;

/// Days of notice per risk level; per area (by code) or country (by name), any level may differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadTimes {
    #[serde(default)]
    pub by_risk: BTreeMap<RiskLevel, u32>,
    #[serde(default)]
    pub by_area: BTreeMap<String, BTreeMap<RiskLevel, u32>>,
    #[serde(default)]
    pub by_country: BTreeMap<String, BTreeMap<RiskLevel, u32>>,
}

impl LeadTimes {
    /// The days of notice a leg in `area` at `risk` needs: the area's, else its country's,
    /// else the policy's; none if nothing is set for that level.
    pub fn days(&self, risk: RiskLevel, area: &Area) -> Option<u32> {
        let area_code = area.code.as_str();
        self.by_area
            .iter()
            .find(|(code, _)| code.eq_ignore_ascii_case(area_code))
            .and_then(|(_, levels)| levels.get(&risk))
            .or_else(|| {
                self.by_country
                    .iter()
                    .find(|(country, _)| country.eq_ignore_ascii_case(&area.country))
                    .and_then(|(_, levels)| levels.get(&risk))
            })
            .or_else(|| self.by_risk.get(&risk))
            .copied()
    }
}

/// Why a request is late: its leg with the largest shortfall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lateness {
    /// 1 for the first leg.
    pub leg: usize,
    pub area: AreaCode,
    pub risk: RiskLevel,
    /// The notice the policy asks for at that risk.
    pub required_days: u32,
    /// The notice given: days from the request to the leg's first day.
    pub given_days: i64,
}

/// Whether `request`, decided as `decision` on `today`, came later than its lead times ask.
pub fn lateness<'a>(
    request: &ClearanceRequest,
    decision: &Decision,
    area: impl Fn(&AreaCode) -> Option<&'a Area>,
    lead: &LeadTimes,
    today: NaiveDate,
) -> Option<Lateness> {
    request
        .legs
        .legs()
        .iter()
        .zip(&decision.legs)
        .enumerate()
        .filter_map(|(i, (leg, decided))| {
            let risk = decided.risk?;
            let required = lead.days(risk, area(&leg.area)?)?;
            let given = (leg.arrival - today).num_days();
            (given < i64::from(required)).then(|| Lateness {
                leg: i + 1,
                area: leg.area.clone(),
                risk,
                required_days: required,
                given_days: given,
            })
        })
        .max_by_key(|l| {
            (
                i64::from(l.required_days) - l.given_days,
                std::cmp::Reverse(l.leg),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(code: &str, country: &str) -> Area {
        Area {
            code: AreaCode::parse("", code).unwrap(),
            name: code.into(),
            country: country.into(),
            suspension: None,
            location: None,
            incident: None,
        }
    }

    fn lead() -> LeadTimes {
        toml::from_str(
            r#"
            by_risk = { high = 2, very_high = 7 }
            by_area = { "SOM-MOG" = { very_high = 10 } }
            by_country = { "Afghanistan" = { very_high = 14, high = 5 } }
            "#,
        )
        .unwrap()
    }

    #[test]
    fn an_area_then_its_country_then_the_policy_say_how_much_notice() {
        let lead = lead();
        assert_eq!(
            lead.days(RiskLevel::VeryHigh, &area("SOM-MOG", "Somalia")),
            Some(10)
        );
        assert_eq!(
            lead.days(RiskLevel::High, &area("SOM-MOG", "Somalia")),
            Some(2)
        );
        assert_eq!(
            lead.days(RiskLevel::VeryHigh, &area("AFG-KBL", "afghanistan")),
            Some(14)
        );
        assert_eq!(
            lead.days(RiskLevel::VeryHigh, &area("KEN-NBO", "Kenya")),
            Some(7)
        );
        assert_eq!(lead.days(RiskLevel::Low, &area("KEN-NBO", "Kenya")), None);
    }
}
