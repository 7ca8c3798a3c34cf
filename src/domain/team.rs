//! Team requests: one mission and one itinerary for several travellers, each decided on
//! their own prerequisites (their training dates differ), then the headcount rule across
//! them: more travellers of one organisation on the same flight than the policy allows need
//! the approval of a named stage. Pure; the services store each member as a request.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::Invalid;
use super::air_operator::{OperatorCode, Travel};
use super::policy::{Decision, DecisionCode, Outcome, Stage};
use super::request::{ClearanceRequest, OrgId, Traveller};
use crate::error_code::Code;

/// At most this many travellers in one team.
pub const MAX_MEMBERS: usize = 100;

/// A team's travellers, checked: two to `MAX_MEMBERS`, none twice (a traveller id is
/// unique within its organisation). `field` points at the list.
pub fn check_members(field: &str, travellers: &[&Traveller]) -> Result<(), Invalid> {
    if !(2..=MAX_MEMBERS).contains(&travellers.len()) {
        return Err(Invalid::new(
            field,
            Code::TeamSize,
            format!(
                "a team has 2 to {MAX_MEMBERS} travellers, not {}",
                travellers.len()
            ),
        ));
    }
    for (i, t) in travellers.iter().enumerate() {
        if travellers[..i]
            .iter()
            .any(|o| o.id == t.id && o.org == t.org)
        {
            return Err(Invalid::new(
                format!("{field}/{i}/id"),
                Code::DuplicateTraveller,
                format!("{} is already a member of the team", t.id.as_str()),
            ));
        }
    }
    Ok(())
}

/// The policy's headcount rule (`[headcount]`): more than `per_flight` travellers of one
/// organisation on one flight need `stage`'s approval. UNDP's rule is 30.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadcountRule {
    pub per_flight: usize,
    pub stage: Stage,
}

/// A flight as the headcount counts it: the operator, the flight number, the day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flight {
    pub operator: OperatorCode,
    pub number: String,
    pub day: NaiveDate,
}

/// The flights a request's legs take.
pub fn flights_of(request: &ClearanceRequest) -> impl Iterator<Item = Flight> + '_ {
    flights(request).map(|(_, flight)| flight)
}

/// The flights a request's legs take, with the leg's index.
fn flights(request: &ClearanceRequest) -> impl Iterator<Item = (usize, Flight)> + '_ {
    request
        .legs
        .legs()
        .iter()
        .enumerate()
        .filter_map(|(i, leg)| match &leg.travel {
            Some(Travel::Flight {
                operator,
                flight_number,
            }) => Some((
                i,
                Flight {
                    operator: operator.clone(),
                    number: flight_number.clone(),
                    day: leg.arrival,
                },
            )),
            _ => None,
        })
}

/// Each member's decision within the team. `decisions` are the members' own (each on their
/// own prerequisites, in the order of `members`); `booked` says how many travellers of an
/// organisation stored requests already put on a flight, beside the team. A flight leg of a
/// member whose organisation has more than the rule allows on that flight needs the rule's
/// stage: a leg that would clear is escalated to it (`headcount_approval_required`), and the
/// stage joins the approval chain of a member already escalated. A hold or a refusal stays
/// as it is: nothing here makes a decision more lenient.
pub fn apply_headcount(
    members: &[ClearanceRequest],
    mut decisions: Vec<Decision>,
    rule: Option<&HeadcountRule>,
    booked: impl Fn(&Flight, &OrgId) -> usize,
) -> Vec<Decision> {
    let Some(rule) = rule else {
        return decisions;
    };
    let mut counts: HashMap<(Flight, &OrgId), usize> = HashMap::new();
    for member in members {
        // A traveller counts once per flight, however many of their legs name it.
        let mut seen: Vec<Flight> = Vec::new();
        for (_, flight) in flights(member) {
            if !seen.contains(&flight) {
                seen.push(flight.clone());
                *counts.entry((flight, &member.traveller.org)).or_default() += 1;
            }
        }
    }
    for (member, decision) in members.iter().zip(decisions.iter_mut()) {
        let org = &member.traveller.org;
        let mut needed = false;
        for (i, flight) in flights(member) {
            let on_board = counts[&(flight.clone(), org)] + booked(&flight, org);
            if on_board <= rule.per_flight {
                continue;
            }
            needed = true;
            let leg = &mut decision.legs[i];
            if leg.outcome < Outcome::Escalated {
                leg.outcome = Outcome::Escalated;
                leg.code = DecisionCode::HeadcountApprovalRequired;
                leg.reason = format!(
                    "{on_board} travellers of {org} on flight {} on {}: more than {} need approval by {}",
                    flight.number,
                    flight.day,
                    rule.per_flight,
                    rule.stage,
                    org = org.as_str(),
                );
            }
        }
        if needed {
            require_stage(decision, &rule.stage);
        }
    }
    decisions
}

/// Escalates a decision that would clear to `stage`, or adds `stage` to an escalated one's
/// chain; a hold or a refusal stays.
fn require_stage(decision: &mut Decision, stage: &Stage) {
    match decision.outcome {
        Outcome::Cleared => {
            let (index, leg) = decision
                .legs
                .iter()
                .enumerate()
                .find(|(_, l)| l.code == DecisionCode::HeadcountApprovalRequired)
                .expect("a leg needed the stage");
            decision.outcome = Outcome::Escalated;
            decision.code = DecisionCode::HeadcountApprovalRequired;
            decision.reason = format!("Leg {} ({}): {}", index + 1, leg.area, leg.reason);
            decision.approval_chain = vec![stage.clone()];
        }
        Outcome::Escalated => {
            if !decision.approval_chain.contains(stage) {
                decision.approval_chain.push(stage.clone());
            }
        }
        Outcome::Held | Outcome::Refused => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::itinerary::{Itinerary, Leg};
    use crate::domain::policy::evaluate;
    use crate::domain::policy::tests::{area_at, code, rules};
    use crate::domain::request::{Traveller, TravellerId};
    use crate::domain::risk::RiskLevel::{self, *};
    use crate::domain::sra::AreaRisk;
    use proptest::prelude::*;

    fn day(offset: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(offset)
    }

    fn area(risk: RiskLevel) -> AreaRisk {
        area_at(0, Some(risk), false)
    }

    /// A member on the team's one itinerary (a flight on KQ310 into the area), with their
    /// own organisation and BSAFE.
    fn member(n: usize, org: &str, bsafe: bool) -> ClearanceRequest {
        let leg = Leg {
            travel: Some(Travel::Flight {
                operator: OperatorCode::parse("", "KQA").unwrap(),
                flight_number: "KQ310".into(),
            }),
            ..Leg::stay(code(0), day(10), day(12))
        };
        ClearanceRequest::new(
            Traveller::new(
                TravellerId::parse("", &format!("t-{n}")).unwrap(),
                "T",
                OrgId::parse("", org).unwrap(),
                bsafe.then_some(day(400)),
                Some(day(400)),
            )
            .unwrap(),
            "Team mission",
            crate::domain::criticality::ProgrammeCriticality::Pc1,
            Some("MSRA-1"),
            Itinerary::parse(vec![leg], day(0)).unwrap(),
        )
        .unwrap()
    }

    fn decide(members: &[ClearanceRequest], risk: RiskLevel, limit: usize) -> Vec<Decision> {
        decide_beside(members, risk, limit, 0)
    }

    /// As `decide`, with `booked` travellers of each organisation already on the flight.
    fn decide_beside(
        members: &[ClearanceRequest],
        risk: RiskLevel,
        limit: usize,
        booked: usize,
    ) -> Vec<Decision> {
        let area = area(risk);
        let operator = crate::domain::air_operator::AirOperator::new(
            OperatorCode::parse("", "KQA").unwrap(),
            "Kenya Airways",
            crate::domain::air_operator::Assessment::Assessed,
            day(0),
            None,
            None,
            chrono::Utc::now(),
            "armo",
        )
        .unwrap();
        let rules = rules();
        let own: Vec<Decision> = members
            .iter()
            .map(|m| evaluate(m, |_| Some(&area), |_| Some(&operator), &rules))
            .collect();
        let rule = HeadcountRule {
            per_flight: limit,
            stage: "hq".into(),
        };
        apply_headcount(members, own, Some(&rule), |_, _| booked)
    }

    fn summary(d: &Decision) -> (Outcome, DecisionCode, Vec<String>) {
        (d.outcome, d.code, d.approval_chain.clone())
    }

    #[test]
    fn each_member_is_decided_on_their_own_prerequisites() {
        let team = [member(1, "UNDP", true), member(2, "UNDP", false)];
        let decisions = decide(&team, Low, 30);
        assert_eq!(
            summary(&decisions[0]),
            (Outcome::Cleared, DecisionCode::WithinAcceptedRisk, vec![])
        );
        assert_eq!(
            summary(&decisions[1]),
            (Outcome::Held, DecisionCode::BsafeMissing, vec![])
        );
    }

    #[test]
    fn more_of_one_organisation_on_a_flight_than_the_rule_allows_need_its_stage() {
        let hq = vec!["hq".to_string()];
        // Three of UNDP on KQ310 with a limit of two: each needs HQ; WFP's one does not.
        let team = [
            member(1, "UNDP", true),
            member(2, "UNDP", true),
            member(3, "UNDP", false),
            member(4, "WFP", true),
        ];
        let decisions = decide(&team, Low, 2);
        let escalated = (
            Outcome::Escalated,
            DecisionCode::HeadcountApprovalRequired,
            hq.clone(),
        );
        assert_eq!(summary(&decisions[0]), escalated);
        assert_eq!(summary(&decisions[1]), escalated);
        // A hold stays a hold: the missing BSAFE still has to be fixed.
        assert_eq!(decisions[2].outcome, Outcome::Held);
        assert_eq!(
            summary(&decisions[3]),
            (Outcome::Cleared, DecisionCode::WithinAcceptedRisk, vec![])
        );
        assert!(
            decisions[0]
                .reason
                .contains("3 travellers of UNDP on flight KQ310"),
            "{}",
            decisions[0].reason
        );
        // At the limit, nobody needs it.
        let decisions = decide(&team[..2], Low, 2);
        assert_eq!(decisions[0].outcome, Outcome::Cleared);
        // Very High already goes to HQ then DG: the chain does not take HQ twice.
        let decisions = decide(&team, VeryHigh, 2);
        assert_eq!(
            summary(&decisions[0]),
            (
                Outcome::Escalated,
                DecisionCode::EscalationRequired,
                vec!["hq".into(), "dg".into()]
            )
        );
        // Travellers of the organisation already booked on the flight count too.
        let decisions = decide_beside(&team[..1], Low, 2, 2);
        assert_eq!(summary(&decisions[0]), escalated);
        let decisions = decide_beside(&team[..1], Low, 2, 1);
        assert_eq!(decisions[0].outcome, Outcome::Cleared);
    }

    fn outcome_and_chain(d: &Decision) -> (Outcome, Vec<String>) {
        (d.outcome, d.approval_chain.clone())
    }

    proptest! {
        /// Adding a traveller to a team never makes another member's decision more lenient:
        /// their outcome is at least as strict, and every stage they needed they still need.
        #[test]
        fn adding_a_traveller_never_makes_another_members_decision_more_lenient(
            members in proptest::collection::vec((0usize..3, any::<bool>()), 1..8),
            extra in (0usize..3, any::<bool>()),
            limit in 0usize..6,
            risk in proptest::sample::select(vec![Low, Medium, High, VeryHigh]),
        ) {
            let orgs = ["UNDP", "WFP", "UNICEF"];
            let team: Vec<ClearanceRequest> = members
                .iter()
                .enumerate()
                .map(|(n, (org, bsafe))| member(n, orgs[*org], *bsafe))
                .collect();
            let before = decide(&team, risk, limit);
            let mut larger = team.clone();
            larger.push(member(team.len(), orgs[extra.0], extra.1));
            let after = decide(&larger, risk, limit);
            for (b, a) in before.iter().zip(&after) {
                let (b_outcome, b_chain) = outcome_and_chain(b);
                let (a_outcome, a_chain) = outcome_and_chain(a);
                prop_assert!(a_outcome >= b_outcome, "{:?} -> {:?}", b_outcome, a_outcome);
                if a_outcome == Outcome::Escalated && b_outcome == Outcome::Escalated {
                    for stage in &b_chain {
                        prop_assert!(a_chain.contains(stage), "{:?} -> {:?}", b_chain, a_chain);
                    }
                }
            }
        }
    }
}
