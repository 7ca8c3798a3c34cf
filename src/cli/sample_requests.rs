//! Requests in an import file (the sample's): each decided as a submission is, by the
//! clearing service, for its organisation's travel unit; two travellers or more make a team.
//! Each entry carries its own id, so re-importing finds what the last import stored.

use anyhow::Context;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use super::sra_import::resolve_date;
use crate::app::clearing::{Clearing, Mission};
use crate::app::error::{AppError, Code};
use crate::domain::air_operator::{self, OperatorCode, Travel};
use crate::domain::area::AreaCode;
use crate::domain::caller::{Caller, Role};
use crate::domain::criticality::ProgrammeCriticality;
use crate::domain::itinerary::{Itinerary, Leg, Transit};
use crate::domain::request::{ClearanceRequest, OrgId, Traveller, TravellerId};

/// A request, or a team's: the body `POST /v1/clearance-requests` (one traveller) or
/// `POST /v1/teams` takes, with `travellers` always a list, an `id`, and leg dates that
/// may be relative (`today+20d`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestEntry {
    id: Uuid,
    travellers: Vec<TravellerEntry>,
    purpose: String,
    programme_criticality: ProgrammeCriticality,
    #[serde(default)]
    mission_sra_reference: Option<String>,
    legs: Vec<LegEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TravellerEntry {
    id: String,
    name: String,
    org: String,
    #[serde(default)]
    bsafe_valid_until: Option<String>,
    #[serde(default)]
    ssafe_valid_until: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegEntry {
    area: String,
    arrival: String,
    departure: String,
    #[serde(default)]
    transit: Option<Transit>,
    /// `{"mode": "flight", "operator": "ZXR", "flight_number": "ZX101"}`, `unhas` or `road`.
    #[serde(default)]
    travel: Option<TravelEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "mode", rename_all = "snake_case")]
enum TravelEntry {
    Flight {
        operator: String,
        flight_number: String,
    },
    Unhas {
        #[serde(default)]
        flight_number: Option<String>,
    },
    Road,
}

/// Submits one entry unless an earlier import stored it; `Ok(true)` if it was submitted now.
pub(super) async fn submit(
    clearing: &Clearing,
    entry: RequestEntry,
    today: NaiveDate,
) -> anyhow::Result<bool> {
    let date = |raw: &str| resolve_date(raw, today);
    let travellers = entry
        .travellers
        .iter()
        .map(|t| {
            Traveller::new(
                TravellerId::parse("id", &t.id)?,
                &t.name,
                OrgId::parse("org", &t.org)?,
                t.bsafe_valid_until.as_deref().map(date).transpose()?,
                t.ssafe_valid_until.as_deref().map(date).transpose()?,
            )
            .map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let org = travellers
        .first()
        .context("an entry names at least one traveller")?
        .org
        .clone();
    let legs = entry
        .legs
        .iter()
        .map(|leg| {
            Ok(Leg {
                area: AreaCode::parse("area", &leg.area)?,
                arrival: date(&leg.arrival)?,
                departure: date(&leg.departure)?,
                transit: leg.transit,
                travel: leg.travel.as_ref().map(travel).transpose()?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mission = Mission {
        purpose: entry.purpose,
        programme_criticality: entry.programme_criticality,
        mission_sra_reference: entry.mission_sra_reference,
        legs: Itinerary::parse(legs, today)?,
    };
    // The organisation's travel unit submits, as a travel unit's system would.
    let unit = Caller {
        subject: super::sra_import::IMPORTER.into(),
        roles: vec![Role::TravelUnit],
        org: Some(org),
        valid_until: i64::MAX,
    };
    let id = entry.id;
    if travellers.len() == 1 {
        if stored(clearing.get(&unit, id).await).map_err(refused)? {
            return Ok(false);
        }
        let traveller = travellers.into_iter().next().expect("one traveller");
        let request = ClearanceRequest::new(
            traveller,
            &mission.purpose,
            mission.programme_criticality,
            mission.mission_sra_reference.as_deref(),
            mission.legs,
        )?;
        clearing
            .submit(&unit, request, Some(id))
            .await
            .map_err(refused)?;
    } else {
        if stored(clearing.team(&unit, id).await.map(drop)).map_err(refused)? {
            return Ok(false);
        }
        clearing
            .submit_team(&unit, mission, travellers, Some(id))
            .await
            .map_err(refused)?;
    }
    Ok(true)
}

/// Whether a read found what an earlier import stored.
fn stored<T>(read: Result<T, AppError>) -> Result<bool, AppError> {
    match read {
        Ok(_) => Ok(true),
        Err(AppError {
            code: Code::NotFound,
            ..
        }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn refused(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn travel(entry: &TravelEntry) -> anyhow::Result<Travel> {
    Ok(match entry {
        TravelEntry::Flight {
            operator,
            flight_number,
        } => Travel::Flight {
            operator: OperatorCode::parse("operator", operator)?,
            flight_number: air_operator::flight_number("flight_number", flight_number)?,
        },
        TravelEntry::Unhas { flight_number } => Travel::Unhas {
            flight_number: flight_number
                .as_deref()
                .map(|n| air_operator::flight_number("flight_number", n))
                .transpose()?,
        },
        TravelEntry::Road => Travel::Road,
    })
}
