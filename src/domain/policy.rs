//! The decision: each leg against the SRAs in force, the request taking its strictest leg.
//! One file because the rules read best together: the code is under 400 lines, the rest is
//! the table and property tests that pin each rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::air_operator::{AirOperator, Assessment, OperatorCode, Travel};
use super::area::{AreaCode, SuspensionReason};
use super::criticality::ProgrammeCriticality;
use super::itinerary::{Leg, Transit};
use super::request::ClearanceRequest;
use super::risk::{RiskLevel, RiskMatrix};
use super::sra::{AreaRisk, SraRef, SraSummary};

/// An approval stage such as `hq` or `dg`; the names come from configuration.
pub type Stage = String;

/// The organisation's rules: the matrix, what each programme criticality may accept, which
/// approval chain each risk level needs, and from which level a mission-specific SRA is due.
#[derive(Debug, Clone)]
pub struct PolicyRules {
    pub matrix: RiskMatrix,
    acceptance: BTreeMap<ProgrammeCriticality, RiskLevel>,
    chains: BTreeMap<RiskLevel, Vec<Stage>>,
    mission_sra_from: RiskLevel,
    /// Days of notice each risk level asks for.
    pub lead_times: super::lead_time::LeadTimes,
    /// Whether an open incident in an area holds requests there (`area_in_incident`).
    pub incident_holds: bool,
    /// Whether a traveller who changes planes without leaving the airport needs clearance
    /// for that area. The older UN rule said no; the default says yes.
    pub airside_transit_needs_clearance: bool,
    /// Operators a flight may be on whatever their assessment (the policy's exemptions).
    pub exempt_operators: std::collections::BTreeSet<OperatorCode>,
    /// How many travellers of one organisation may share a flight before a stage approves.
    pub headcount: Option<super::team::HeadcountRule>,
}

impl PolicyRules {
    pub fn new(
        matrix: RiskMatrix,
        acceptance: BTreeMap<ProgrammeCriticality, RiskLevel>,
        chains: BTreeMap<RiskLevel, Vec<Stage>>,
        mission_sra_from: RiskLevel,
    ) -> Result<Self, String> {
        let mut previous = RiskLevel::Unacceptable;
        for pc in ProgrammeCriticality::ALL {
            let limit = *acceptance
                .get(&pc)
                .ok_or_else(|| format!("no accepted risk level for {}", pc.as_str()))?;
            if limit == RiskLevel::Unacceptable {
                return Err(format!("{} may not accept unacceptable risk", pc.as_str()));
            }
            // A less critical programme never justifies more risk than a more critical one.
            if limit > previous {
                return Err(format!(
                    "{} accepts more risk than the programme criticality above it",
                    pc.as_str()
                ));
            }
            previous = limit;
        }
        if chains.contains_key(&RiskLevel::Unacceptable) {
            return Err("unacceptable risk is refused; it has no approval chain".into());
        }
        Ok(Self {
            matrix,
            acceptance,
            chains,
            mission_sra_from,
            lead_times: Default::default(),
            incident_holds: true,
            airside_transit_needs_clearance: true,
            exempt_operators: Default::default(),
            headcount: None,
        })
    }

    pub fn accepted_risk(&self, pc: ProgrammeCriticality) -> RiskLevel {
        self.acceptance[&pc]
    }

    /// Every stage any approval chain, or the headcount rule, names.
    pub fn stages(&self) -> impl Iterator<Item = &Stage> {
        self.chains
            .values()
            .flatten()
            .chain(self.headcount.iter().map(|h| &h.stage))
    }

    pub fn chain_for(&self, risk: RiskLevel) -> &[Stage] {
        self.chains.get(&risk).map_or(&[], Vec::as_slice)
    }
}

/// Outcomes, from most lenient to strictest: the request takes the maximum over its legs.
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
pub enum Outcome {
    Cleared,
    Escalated,
    Held,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Cleared => "cleared",
            Outcome::Escalated => "escalated",
            Outcome::Held => "held",
            Outcome::Refused => "refused",
        }
    }
}

/// Why a leg (or the request) got its outcome; part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionCode {
    WithinAcceptedRisk,
    EscalationRequired,
    NoSraInForce,
    AreaSuspended,
    AreaInIncident,
    /// An airside transit the policy asks no clearance for.
    AirsideTransit,
    /// A flight on an operator the list does not show as assessed on the day.
    AirOperatorNotAssessed,
    /// A flight on an operator the list restricts.
    AirOperatorRestricted,
    /// More travellers of the organisation on the flight than the policy's headcount rule
    /// allows: a stage approves.
    HeadcountApprovalRequired,
    BsafeMissing,
    SsafeMissing,
    MissionSraRequired,
    RiskExceedsProgrammeCriticality,
    UnacceptableRisk,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LegDecision {
    pub area: AreaCode,
    pub sra: Option<SraRef>,
    pub risk: Option<RiskLevel>,
    pub outcome: Outcome,
    pub code: DecisionCode,
    pub reason: String,
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub outcome: Outcome,
    pub code: DecisionCode,
    pub reason: String,
    /// Stages that must approve, in order; empty unless escalated.
    pub approval_chain: Vec<Stage>,
    pub legs: Vec<LegDecision>,
    /// Requested later than the policy's lead time for its risk: decided all the same, and
    /// shown to approvers as late. Set when the request is submitted or amended.
    #[serde(default)]
    pub late: Option<super::lead_time::Lateness>,
    /// The briefings of the SRA versions the legs rely on: the traveller acknowledges each
    /// before the clearance is issued (`cleared_pending_acknowledgement` until then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub briefings: Vec<super::briefing::BriefingDue>,
    /// The traveller's acknowledgements, kept when the request is decided again: one of an
    /// earlier version does not count for a new one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledged: Vec<super::briefing::Acknowledgement>,
    /// While the clearance waits for an acknowledgement: the status it is issued with then
    /// (`cleared`, or `approved` when the approval chain decided it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues_as: Option<super::request::RequestStatus>,
}

/// Decides a request. `area_risk` gives what is known of each area, `operator` the list's
/// entry of each air operator; an area it does not know is treated as having no SRA in
/// force, an operator it does not know as not assessed, never as safe.
pub fn evaluate<'a>(
    request: &ClearanceRequest,
    area_risk: impl Fn(&AreaCode) -> Option<&'a AreaRisk>,
    operator: impl Fn(&OperatorCode) -> Option<&'a AirOperator>,
    rules: &PolicyRules,
) -> Decision {
    let legs: Vec<LegDecision> = request
        .legs
        .legs()
        .iter()
        .map(|leg| {
            let flown = match &leg.travel {
                Some(Travel::Flight { operator: code, .. })
                    if !rules.exempt_operators.contains(code) =>
                {
                    let standing = operator(code)
                        .map_or(Assessment::NotAssessed, |o| o.standing_on(leg.arrival));
                    Some((code, standing))
                }
                _ => None,
            };
            evaluate_leg(request, leg, area_risk(&leg.area), flown, rules)
        })
        .collect();
    let mut decision = combine(legs, rules);
    decision.briefings = briefings(request, &area_risk);
    decision
}

/// The briefing of every SRA version in force during a leg, once each, in leg order.
fn briefings<'a>(
    request: &ClearanceRequest,
    area_risk: &impl Fn(&AreaCode) -> Option<&'a AreaRisk>,
) -> Vec<super::briefing::BriefingDue> {
    let mut due: Vec<super::briefing::BriefingDue> = Vec::new();
    for leg in request.legs.legs() {
        let Some(area) = area_risk(&leg.area) else {
            continue;
        };
        for sra in area.coverage(leg.arrival, leg.departure).sras {
            if let Some(briefing) = &sra.briefing
                && !due.iter().any(|d| d.sra.id == sra.id)
            {
                due.push(super::briefing::BriefingDue {
                    area: leg.area.clone(),
                    sra: sra.reference(),
                    briefing: briefing.clone(),
                });
            }
        }
    }
    due
}

fn combine(legs: Vec<LegDecision>, rules: &PolicyRules) -> Decision {
    // The first leg of the strictest outcome explains the request.
    let (index, strictest) = legs
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|(_, leg)| leg.outcome)
        .expect("an itinerary has at least one leg");
    let outcome = strictest.outcome;
    let code = strictest.code;
    let reason = if outcome == Outcome::Cleared {
        match legs.len() {
            1 => strictest.reason.clone(),
            n => format!("All {n} legs are within the accepted risk."),
        }
    } else {
        format!(
            "Leg {} ({}): {}",
            index + 1,
            strictest.area,
            strictest.reason
        )
    };
    let approval_chain = if outcome == Outcome::Escalated {
        legs.iter()
            .filter(|leg| leg.outcome == Outcome::Escalated)
            .filter_map(|leg| leg.risk)
            .max()
            .map(|risk| rules.chain_for(risk).to_vec())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Decision {
        outcome,
        code,
        reason,
        approval_chain,
        legs,
        late: None,
        briefings: Vec::new(),
        acknowledged: Vec::new(),
        issues_as: None,
    }
}

fn evaluate_leg(
    request: &ClearanceRequest,
    leg: &Leg,
    area: Option<&AreaRisk>,
    flown: Option<(&OperatorCode, Assessment)>,
    rules: &PolicyRules,
) -> LegDecision {
    let decide =
        |outcome, code, reason: String, sra: Option<&SraSummary>, conditions| LegDecision {
            area: leg.area.clone(),
            sra: sra.map(SraSummary::reference),
            risk: sra.map(|s| s.residual_risk),
            outcome,
            code,
            reason,
            conditions,
        };
    let coverage = area.map(|a| a.coverage(leg.arrival, leg.departure));
    let covering = coverage.as_ref().map_or(&[][..], |c| c.sras.as_slice());
    // The worst version in force during the stay governs it; on a tie, the newest.
    let governing = covering
        .iter()
        .copied()
        .max_by_key(|s| (s.residual_risk, s.version));
    let conditions = conditions_of(covering);
    let pc = request.programme_criticality;
    // A transit the policy asks no clearance for still meets the hard stops: an unacceptable
    // risk, a suspension, an incident. Nothing else (no SRA, training, acceptance) applies.
    let exempt = leg.transit == Some(Transit::Airside) && !rules.airside_transit_needs_clearance;

    // Refusals first: a known unacceptable risk is final whatever else is missing.
    if let Some(sra) = governing {
        let risk = sra.residual_risk;
        let accepted = rules.accepted_risk(pc);
        if risk == RiskLevel::Unacceptable {
            let reason = format!(
                "residual risk is Unacceptable (SRA v{}); no programme criticality justifies it",
                sra.version
            );
            return decide(
                Outcome::Refused,
                DecisionCode::UnacceptableRisk,
                reason,
                governing,
                conditions,
            );
        }
        if risk > accepted && !exempt {
            let reason = format!(
                "residual risk is {} (SRA v{}), above the {} that {} accepts",
                risk.label(),
                sra.version,
                accepted.label(),
                pc.as_str()
            );
            return decide(
                Outcome::Refused,
                DecisionCode::RiskExceedsProgrammeCriticality,
                reason,
                governing,
                conditions,
            );
        }
    }

    if let Some(suspension) = area.and_then(|a| a.area.suspension.as_ref()) {
        let why = match suspension.reason {
            SuspensionReason::Relocation => "relocation",
            SuspensionReason::Evacuation => "evacuation",
            SuspensionReason::ProgrammeSuspension => "suspension of programmes",
        };
        let reason = format!(
            "operations in the area are suspended ({why} since {})",
            suspension.since
        );
        return decide(
            Outcome::Held,
            DecisionCode::AreaSuspended,
            reason,
            governing,
            conditions,
        );
    }

    if let Some(incident) = area
        .and_then(|a| a.area.incident.as_ref())
        .filter(|_| rules.incident_holds)
    {
        let reason = format!(
            "an incident is open in the area since {} (incident {})",
            incident.started_at.format("%Y-%m-%d %H:%M UTC"),
            incident.id
        );
        return decide(
            Outcome::Held,
            DecisionCode::AreaInIncident,
            reason,
            governing,
            conditions,
        );
    }

    // The flight in: its operator's standing, whatever the area (UNHAS, road and the
    // policy's exempt operators never come here).
    if let Some((code, standing)) = flown.filter(|(_, s)| *s != Assessment::Assessed) {
        let (code_of_leg, what) = match standing {
            Assessment::Restricted => (
                DecisionCode::AirOperatorRestricted,
                "an air operator the aviation risk list restricts on",
            ),
            _ => (
                DecisionCode::AirOperatorNotAssessed,
                "an air operator not assessed for",
            ),
        };
        let reason = format!("the flight is on {code}, {what} {}", leg.arrival);
        return decide(Outcome::Held, code_of_leg, reason, governing, conditions);
    }

    if exempt {
        return decide(
            Outcome::Cleared,
            DecisionCode::AirsideTransit,
            "an airside transit: the policy asks no clearance of a traveller who does not leave the airport".into(),
            governing,
            conditions,
        );
    }

    let Some(sra) = governing.filter(|_| coverage.as_ref().is_some_and(|c| c.complete)) else {
        let reason = format!(
            "no published SRA is in force for the whole stay {} to {}",
            leg.arrival, leg.departure
        );
        return decide(
            Outcome::Held,
            DecisionCode::NoSraInForce,
            reason,
            governing,
            conditions,
        );
    };

    let traveller = &request.traveller;
    if traveller
        .bsafe_valid_until
        .is_none_or(|until| until < leg.departure)
    {
        let reason = format!(
            "no BSAFE certificate valid through departure on {}",
            leg.departure
        );
        return decide(
            Outcome::Held,
            DecisionCode::BsafeMissing,
            reason,
            governing,
            conditions,
        );
    }
    if covering.iter().any(|s| s.requires_ssafe)
        && traveller
            .ssafe_valid_until
            .is_none_or(|until| until < leg.departure)
    {
        let reason = format!(
            "the SRA requires SSAFE and no SSAFE certificate is valid through departure on {}",
            leg.departure
        );
        return decide(
            Outcome::Held,
            DecisionCode::SsafeMissing,
            reason,
            governing,
            conditions,
        );
    }

    let risk = sra.residual_risk;
    if risk >= rules.mission_sra_from && request.mission_sra_reference.is_none() {
        let reason = format!(
            "residual risk is {} (SRA v{}); travel at this level needs a mission-specific SRA reference",
            risk.label(),
            sra.version
        );
        return decide(
            Outcome::Held,
            DecisionCode::MissionSraRequired,
            reason,
            governing,
            conditions,
        );
    }

    let chain = rules.chain_for(risk);
    if chain.is_empty() {
        let mut reason = format!(
            "residual risk is {} (SRA v{}), within what {} accepts",
            risk.label(),
            sra.version,
            pc.as_str()
        );
        if !conditions.is_empty() {
            reason.push_str(&format!("; conditions: {}", conditions.join(", ")));
        }
        decide(
            Outcome::Cleared,
            DecisionCode::WithinAcceptedRisk,
            reason,
            governing,
            conditions,
        )
    } else {
        let reason = format!(
            "residual risk is {} (SRA v{}); needs approval by {}",
            risk.label(),
            sra.version,
            chain.join(", then ")
        );
        decide(
            Outcome::Escalated,
            DecisionCode::EscalationRequired,
            reason,
            governing,
            conditions,
        )
    }
}

/// Every mandatory measure of every version in force during the stay, once each, in order.
fn conditions_of(covering: &[&SraSummary]) -> Vec<String> {
    let mut conditions: Vec<String> = Vec::new();
    for measure in covering.iter().flat_map(|s| &s.mandatory_measures) {
        if !conditions.contains(measure) {
            conditions.push(measure.clone());
        }
    }
    conditions
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::area::{Area, Suspension};
    use crate::domain::itinerary::Itinerary;
    use crate::domain::request::{OrgId, Traveller, TravellerId};
    use crate::domain::risk::{Impact, Likelihood};
    use crate::domain::sra::{SecurityLevel, Sra, SraStatus};
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    use RiskLevel::*;

    /// A decision where no operator is on the list.
    fn evaluate_legs<'a>(
        request: &ClearanceRequest,
        area_risk: impl Fn(&AreaCode) -> Option<&'a AreaRisk>,
        rules: &PolicyRules,
    ) -> Decision {
        evaluate(request, area_risk, |_| None, rules)
    }

    pub fn un_matrix() -> RiskMatrix {
        RiskMatrix::new([
            [Low, Low, Low, Medium, Medium],
            [Low, Low, Medium, Medium, High],
            [Low, Medium, High, High, VeryHigh],
            [Low, Medium, High, VeryHigh, Unacceptable],
            [Low, Medium, VeryHigh, Unacceptable, Unacceptable],
        ])
        .unwrap()
    }

    pub fn rules() -> PolicyRules {
        use ProgrammeCriticality::*;
        PolicyRules::new(
            un_matrix(),
            [(Pc1, VeryHigh), (Pc2, High), (Pc3, Medium), (Pc4, Medium)].into(),
            [(High, vec![]), (VeryHigh, vec!["hq".into(), "dg".into()])].into(),
            VeryHigh,
        )
        .unwrap()
    }

    fn day(offset: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(offset)
    }

    pub(crate) fn code(i: usize) -> AreaCode {
        AreaCode::parse("", &format!("AREA-{i}")).unwrap()
    }

    pub(crate) fn area_at(i: usize, risk: Option<RiskLevel>, ssafe: bool) -> AreaRisk {
        let area = Area::new(code(i), "Area", "Land", None).unwrap();
        let sras: Vec<Sra> = risk
            .map(|risk| Sra {
                id: Uuid::from_u128(i as u128),
                area: code(i),
                version: 1,
                status: SraStatus::Published,
                effective_from: day(0),
                review_due: day(365),
                security_level: SecurityLevel::new("", 3).unwrap(),
                residual_risk: risk,
                threats: vec![],
                mandatory_measures: vec![format!("measure-{i}")],
                requires_ssafe: ssafe,
                published_at: None,
                residual_risk_justification: None,
                endorsement: None,
                approval: None,
                withdrawn_at: None,
                briefing: None,
            })
            .into_iter()
            .collect();
        AreaRisk::new(area, &sras)
    }

    fn request(pc: ProgrammeCriticality, areas: &[usize], mission: bool) -> ClearanceRequest {
        let legs = areas
            .iter()
            .enumerate()
            .map(|(n, &i)| Leg::stay(code(i), day(10 + 3 * n as u64), day(12 + 3 * n as u64)))
            .collect();
        ClearanceRequest::new(
            Traveller::new(
                TravellerId::parse("", "u-1").unwrap(),
                "T",
                OrgId::parse("", "WFP").unwrap(),
                Some(day(400)),
                Some(day(400)),
            )
            .unwrap(),
            "Monitoring",
            pc,
            mission.then_some("MSRA-1"),
            Itinerary::parse(legs, day(0)).unwrap(),
        )
        .unwrap()
    }

    fn decide_one(pc: ProgrammeCriticality, risk: RiskLevel) -> Decision {
        let area = area_at(0, Some(risk), false);
        evaluate_legs(&request(pc, &[0], true), |_| Some(&area), &rules())
    }

    /// The whole matrix x PC1..PC4: what each cell's residual risk means for each programme.
    #[test]
    fn every_matrix_cell_for_every_programme_criticality() {
        use DecisionCode::*;
        use Outcome::*;
        use ProgrammeCriticality::*;
        let matrix = un_matrix();
        let mut checked = 0;
        for likelihood in Likelihood::ALL {
            for impact in Impact::ALL {
                let risk = matrix.assess(likelihood, impact);
                for pc in ProgrammeCriticality::ALL {
                    let expected = match (risk, pc) {
                        (Unacceptable, _) => (Refused, UnacceptableRisk),
                        (Low | Medium, _) => (Cleared, WithinAcceptedRisk),
                        (High, Pc1 | Pc2) => (Cleared, WithinAcceptedRisk),
                        (VeryHigh, Pc1) => (Escalated, EscalationRequired),
                        (High | VeryHigh, _) => (Refused, RiskExceedsProgrammeCriticality),
                    };
                    let decision = decide_one(pc, risk);
                    assert_eq!(
                        (decision.outcome, decision.code),
                        expected,
                        "{likelihood:?} x {impact:?} = {risk:?} for {pc:?}"
                    );
                    let leg = &decision.legs[0];
                    assert_eq!(leg.risk, Some(risk));
                    assert_eq!(leg.conditions, vec!["measure-0".to_string()]);
                    let chain = if expected.0 == Escalated {
                        vec!["hq", "dg"]
                    } else {
                        vec![]
                    };
                    assert_eq!(decision.approval_chain, chain);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 100);
    }

    #[test]
    fn very_high_without_a_mission_sra_reference_is_held() {
        let area = area_at(0, Some(VeryHigh), false);
        let d = evaluate_legs(
            &request(ProgrammeCriticality::Pc1, &[0], false),
            |_| Some(&area),
            &rules(),
        );
        assert_eq!(
            (d.outcome, d.code),
            (Outcome::Held, DecisionCode::MissionSraRequired)
        );
    }

    #[test]
    fn holds_name_what_is_missing() {
        let rules = rules();
        let pc2 = request(ProgrammeCriticality::Pc2, &[0], false);

        let no_sra = area_at(0, None, false);
        let d = evaluate_legs(&pc2, |_| Some(&no_sra), &rules);
        assert_eq!(
            (d.outcome, d.code),
            (Outcome::Held, DecisionCode::NoSraInForce)
        );
        assert_eq!(d.legs[0].sra, None);
        let d = evaluate_legs(&pc2, |_| None, &rules);
        assert_eq!(d.code, DecisionCode::NoSraInForce);

        let mut suspended = area_at(0, Some(Low), false);
        suspended.area.suspension = Some(Suspension {
            reason: SuspensionReason::Evacuation,
            since: day(0),
        });
        let d = evaluate_legs(&pc2, |_| Some(&suspended), &rules);
        assert_eq!(
            (d.outcome, d.code),
            (Outcome::Held, DecisionCode::AreaSuspended)
        );

        // An open incident holds, unless the policy lets requests through it.
        let mut in_incident = area_at(0, Some(Low), false);
        in_incident.area.incident = Some(crate::domain::area::AreaIncident {
            id: uuid::Uuid::nil(),
            started_at: chrono::Utc::now(),
        });
        let d = evaluate_legs(&pc2, |_| Some(&in_incident), &rules);
        assert_eq!(
            (d.outcome, d.code),
            (Outcome::Held, DecisionCode::AreaInIncident)
        );
        let mut lenient = rules.clone();
        lenient.incident_holds = false;
        let d = evaluate_legs(&pc2, |_| Some(&in_incident), &lenient);
        assert_eq!(d.outcome, Outcome::Cleared);

        let low = area_at(0, Some(Low), false);
        let mut no_bsafe = pc2.clone();
        no_bsafe.traveller.bsafe_valid_until = Some(day(11));
        let d = evaluate_legs(&no_bsafe, |_| Some(&low), &rules);
        assert_eq!(
            (d.outcome, d.code),
            (Outcome::Held, DecisionCode::BsafeMissing)
        );

        let needs_ssafe = area_at(0, Some(Low), true);
        let mut no_ssafe = pc2.clone();
        no_ssafe.traveller.ssafe_valid_until = None;
        let d = evaluate_legs(&no_ssafe, |_| Some(&needs_ssafe), &rules);
        assert_eq!(
            (d.outcome, d.code),
            (Outcome::Held, DecisionCode::SsafeMissing)
        );
        let d = evaluate_legs(&no_ssafe, |_| Some(&low), &rules);
        assert_eq!(d.outcome, Outcome::Cleared);
    }

    /// Flight legs (issue 31, item 2): the operator's standing on the day of arrival holds
    /// or lets through; UNHAS, road and the policy's exempt operators are not looked up.
    #[test]
    fn a_flight_takes_its_operators_standing() {
        use crate::domain::air_operator::{AirOperator, Assessment as A, OperatorCode, Travel};
        use DecisionCode::*;
        use Outcome::*;
        let op = |code: &str| OperatorCode::parse("", code).unwrap();
        let listed = |code: &str, assessment, until: u64| {
            AirOperator::new(
                op(code),
                "Air",
                assessment,
                day(0),
                Some(day(until)),
                None,
                chrono::Utc::now(),
                "armo",
            )
            .unwrap()
        };
        let list = [
            listed("AAA", A::Assessed, 400),
            listed("OLD", A::Assessed, 5),
            listed("BAD", A::Restricted, 400),
            listed("NOT", A::NotAssessed, 400),
        ];
        let mut exempting = rules();
        exempting.exempt_operators.insert(op("BAD"));
        let flight = |code: &str| {
            Some(Travel::Flight {
                operator: op(code),
                flight_number: "XX1".into(),
            })
        };
        let decide = |travel: Option<Travel>, risk, rules: &PolicyRules| {
            let area = area_at(0, Some(risk), false);
            let mut request = request(ProgrammeCriticality::Pc1, &[0], true);
            let leg = Leg {
                travel,
                ..request.legs.legs()[0].clone()
            };
            request.legs = Itinerary::parse(vec![leg], day(0)).unwrap();
            let d = evaluate(
                &request,
                |_| Some(&area),
                |c| list.iter().find(|o| &o.code == c),
                rules,
            );
            (d.outcome, d.code)
        };
        let cases = [
            (flight("AAA"), Low, &rules(), (Cleared, WithinAcceptedRisk)),
            (
                flight("AAA"),
                VeryHigh,
                &rules(),
                (Escalated, EscalationRequired),
            ),
            (flight("OLD"), Low, &rules(), (Held, AirOperatorNotAssessed)),
            (flight("NOT"), Low, &rules(), (Held, AirOperatorNotAssessed)),
            (flight("ZZZ"), Low, &rules(), (Held, AirOperatorNotAssessed)),
            (flight("BAD"), Low, &rules(), (Held, AirOperatorRestricted)),
            (
                flight("BAD"),
                Unacceptable,
                &rules(),
                (Refused, UnacceptableRisk),
            ),
            (
                flight("BAD"),
                Low,
                &exempting,
                (Cleared, WithinAcceptedRisk),
            ),
            (
                Some(Travel::Unhas {
                    flight_number: None,
                }),
                Low,
                &rules(),
                (Cleared, WithinAcceptedRisk),
            ),
            (
                Some(Travel::Road),
                Low,
                &rules(),
                (Cleared, WithinAcceptedRisk),
            ),
            (None, Low, &rules(), (Cleared, WithinAcceptedRisk)),
        ];
        for (travel, risk, rules, expected) in cases {
            assert_eq!(
                decide(travel.clone(), risk, rules),
                expected,
                "{travel:?} {risk:?}"
            );
        }
    }

    /// Transit legs (issue 31, item 4): a landside transit is a stay for the rules; an airside
    /// one needs clearance unless the policy says otherwise, and then meets only the hard stops.
    #[test]
    fn airside_transits_follow_the_policy() {
        use DecisionCode::*;
        use Outcome::*;
        let mut old_rule = rules();
        old_rule.airside_transit_needs_clearance = false;
        let decide = |transit, risk, suspended: bool, rules: &PolicyRules| {
            let mut area = area_at(0, risk, false);
            if suspended {
                area.area.suspension = Some(Suspension {
                    reason: SuspensionReason::Relocation,
                    since: day(0),
                });
            }
            let mut request = request(ProgrammeCriticality::Pc3, &[0], false);
            request.traveller.bsafe_valid_until = None;
            let leg = Leg {
                transit,
                ..Leg::stay(code(0), day(10), day(11))
            };
            request.legs = Itinerary::parse(vec![leg], day(0)).unwrap();
            let d = evaluate_legs(&request, |_| Some(&area), rules);
            (d.outcome, d.code)
        };
        let airside = Some(Transit::Airside);
        let landside = Some(Transit::Landside);
        let cases = [
            (airside, None, false, &rules(), (Held, NoSraInForce)),
            (
                airside,
                Some(High),
                false,
                &rules(),
                (Refused, RiskExceedsProgrammeCriticality),
            ),
            (airside, None, false, &old_rule, (Cleared, AirsideTransit)),
            (
                airside,
                Some(Low),
                false,
                &old_rule,
                (Cleared, AirsideTransit),
            ),
            (
                airside,
                Some(High),
                false,
                &old_rule,
                (Cleared, AirsideTransit),
            ),
            (
                airside,
                Some(VeryHigh),
                false,
                &old_rule,
                (Cleared, AirsideTransit),
            ),
            (
                airside,
                Some(Unacceptable),
                false,
                &old_rule,
                (Refused, UnacceptableRisk),
            ),
            (airside, Some(Low), true, &old_rule, (Held, AreaSuspended)),
            (landside, None, false, &old_rule, (Held, NoSraInForce)),
            (
                landside,
                Some(High),
                false,
                &old_rule,
                (Refused, RiskExceedsProgrammeCriticality),
            ),
            (landside, Some(Low), false, &old_rule, (Held, BsafeMissing)),
            (None, None, false, &old_rule, (Held, NoSraInForce)),
        ];
        for (transit, risk, suspended, rules, expected) in cases {
            assert_eq!(
                decide(transit, risk, suspended, rules),
                expected,
                "{transit:?} {risk:?} suspended={suspended} airside needs clearance={}",
                rules.airside_transit_needs_clearance
            );
        }
    }

    #[test]
    fn a_refusal_outranks_a_hold_on_another_leg() {
        let areas: HashMap<AreaCode, AreaRisk> = [
            (code(0), area_at(0, None, false)),
            (code(1), area_at(1, Some(Unacceptable), false)),
            (code(2), area_at(2, Some(Low), false)),
        ]
        .into();
        let d = evaluate_legs(
            &request(ProgrammeCriticality::Pc1, &[2, 0, 1], true),
            |c| areas.get(c),
            &rules(),
        );
        assert_eq!(
            (d.outcome, d.code),
            (Outcome::Refused, DecisionCode::UnacceptableRisk)
        );
        assert!(d.reason.starts_with("Leg 3 (AREA-1)"), "{}", d.reason);
        let outcomes: Vec<_> = d.legs.iter().map(|l| l.outcome).collect();
        assert_eq!(
            outcomes,
            [Outcome::Cleared, Outcome::Held, Outcome::Refused]
        );
    }

    fn any_risk() -> impl Strategy<Value = Option<RiskLevel>> {
        prop_oneof![
            Just(None),
            proptest::sample::select(RiskLevel::ALL.to_vec()).prop_map(Some)
        ]
    }

    fn any_pc() -> impl Strategy<Value = ProgrammeCriticality> {
        proptest::sample::select(ProgrammeCriticality::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn the_strictest_leg_always_decides(
            risks in proptest::collection::vec((any_risk(), any::<bool>()), 1..6),
            pc in any_pc(),
            mission in any::<bool>(),
        ) {
            let areas: Vec<AreaRisk> = risks.iter().enumerate().map(|(i, (r, s))| area_at(i, *r, *s)).collect();
            let order: Vec<usize> = (0..areas.len()).collect();
            let d = evaluate_legs(&request(pc, &order, mission), |c| areas.iter().find(|a| &a.area.code == c), &rules());
            let strictest = d.legs.iter().map(|l| l.outcome).max().unwrap();
            prop_assert_eq!(d.outcome, strictest);
            let first = d.legs.iter().find(|l| l.outcome == strictest).unwrap();
            prop_assert_eq!(d.code, first.code);
        }

        #[test]
        fn adding_a_leg_never_makes_a_decision_more_lenient(
            risks in proptest::collection::vec((any_risk(), any::<bool>()), 1..6),
            extra in (any_risk(), any::<bool>()),
            at in 0usize..6,
            pc in any_pc(),
            mission in any::<bool>(),
        ) {
            let mut areas: Vec<AreaRisk> = risks.iter().enumerate().map(|(i, (r, s))| area_at(i, *r, *s)).collect();
            let lookup = |areas: &[AreaRisk], c: &AreaCode| areas.iter().position(|a| &a.area.code == c);
            let order: Vec<usize> = (0..areas.len()).collect();
            let before = evaluate_legs(&request(pc, &order, mission), |c| lookup(&areas, c).map(|i| &areas[i]), &rules());
            areas.push(area_at(areas.len(), extra.0, extra.1));
            let mut longer = order.clone();
            longer.insert(at.min(order.len()), areas.len() - 1);
            let after = evaluate_legs(&request(pc, &longer, mission), |c| lookup(&areas, c).map(|i| &areas[i]), &rules());
            prop_assert!(after.outcome >= before.outcome, "{:?} -> {:?}", before.outcome, after.outcome);
        }
    }
}
