//! The legs of a trip, checked for shape: dates in order, no overlap, nothing in the past,
//! a transit no longer than a day.

use crate::error_code::Code;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::air_operator::Travel;
use super::area::AreaCode;

pub const MAX_LEGS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Leg {
    pub area: AreaCode,
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
    /// Passing through without an overnight stay; absent for a stay. Left out of the stored
    /// and hashed form when absent, so legs written before it read and verify as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit: Option<Transit>,
    /// How the leg is travelled into the area; a flight's operator must be assessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel: Option<Travel>,
}

impl Leg {
    /// A stay in `area` from `arrival` to `departure`.
    pub fn stay(area: AreaCode, arrival: NaiveDate, departure: NaiveDate) -> Self {
        Self {
            area,
            arrival,
            departure,
            transit: None,
            travel: None,
        }
    }
}

/// How a traveller passes through an area they do not stay in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transit {
    /// Changes planes without leaving the airport.
    Airside,
    /// Leaves the airport: a connection by road, a night between flights, a meeting.
    Landside,
}

/// A non-empty, ordered itinerary of at most [`MAX_LEGS`] legs, none starting before `today`.
/// `Deserialize` is for reading back what the store holds; input goes through [`Itinerary::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Itinerary(Vec<Leg>);

impl Itinerary {
    pub fn parse(legs: Vec<Leg>, today: NaiveDate) -> Result<Self, Invalid> {
        if legs.is_empty() {
            return Err(Invalid::new(
                "/legs",
                Code::InvalidItinerary,
                "an itinerary has at least one leg",
            ));
        }
        if legs.len() > MAX_LEGS {
            return Err(Invalid::new(
                "/legs",
                Code::TooManyLegs,
                format!(
                    "an itinerary has at most {MAX_LEGS} legs, this one has {}",
                    legs.len()
                ),
            ));
        }
        for (i, leg) in legs.iter().enumerate() {
            if leg.departure < leg.arrival {
                return Err(Invalid::new(
                    format!("/legs/{i}/departure"),
                    Code::InvalidItinerary,
                    format!(
                        "departure {} is before arrival {}",
                        leg.departure, leg.arrival
                    ),
                ));
            }
            // A transit has no overnight stay: it leaves the day it arrives, or the next
            // morning after a late connection.
            let next_day = leg.arrival.checked_add_days(chrono::Days::new(1));
            if leg.transit.is_some() && next_day.is_some_and(|next| leg.departure > next) {
                return Err(Invalid::new(
                    format!("/legs/{i}/departure"),
                    Code::InvalidItinerary,
                    format!(
                        "a transit leaves on the day it arrives or the next; this one arrives {} and departs {}",
                        leg.arrival, leg.departure
                    ),
                ));
            }
            if leg.arrival < today {
                return Err(Invalid::new(
                    format!("/legs/{i}/arrival"),
                    Code::LegInPast,
                    format!("arrival {} is in the past (today is {today})", leg.arrival),
                ));
            }
            // Moving on the day of departure is normal; arriving before leaving the last place is not.
            if let Some(previous) = i.checked_sub(1).map(|p| &legs[p])
                && leg.arrival < previous.departure
            {
                return Err(Invalid::new(
                    format!("/legs/{i}/arrival"),
                    Code::InvalidItinerary,
                    format!(
                        "leg {i} arrives {} before leg {} departs {}: legs must be in order and must not overlap",
                        leg.arrival,
                        i - 1,
                        previous.departure
                    ),
                ));
            }
        }
        Ok(Self(legs))
    }

    pub fn legs(&self) -> &[Leg] {
        &self.0
    }

    pub fn first_arrival(&self) -> NaiveDate {
        self.0[0].arrival
    }

    pub fn last_departure(&self) -> NaiveDate {
        self.0[self.0.len() - 1].departure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(area: &str, arrival: &str, departure: &str) -> Leg {
        Leg::stay(
            AreaCode::parse("", area).unwrap(),
            arrival.parse().unwrap(),
            departure.parse().unwrap(),
        )
    }

    fn transit(area: &str, arrival: &str, departure: &str) -> Leg {
        Leg {
            transit: Some(Transit::Airside),
            ..leg(area, arrival, departure)
        }
    }

    fn today() -> NaiveDate {
        "2026-11-23".parse().unwrap()
    }

    #[test]
    fn legs_may_change_area_on_the_day_of_departure() {
        let it = Itinerary::parse(
            vec![
                leg("KEN-NBO", "2026-12-01", "2026-12-03"),
                leg("SOM-MOG", "2026-12-03", "2026-12-09"),
            ],
            today(),
        )
        .unwrap();
        assert_eq!(it.first_arrival().to_string(), "2026-12-01");
        assert_eq!(it.last_departure().to_string(), "2026-12-09");
    }

    #[test]
    fn a_transit_leaves_the_day_it_arrives_or_the_next() {
        for departure in ["2026-12-01", "2026-12-02"] {
            let legs = vec![transit("ETH-ADD", "2026-12-01", departure)];
            assert!(Itinerary::parse(legs, today()).is_ok(), "{departure}");
        }
        // Unchanged for the stored form of a stay: no `transit` key.
        let stay = serde_json::to_value(leg("KEN-NBO", "2026-12-01", "2026-12-03")).unwrap();
        assert_eq!(stay.as_object().unwrap().len(), 3, "{stay}");
    }

    #[test]
    fn each_shape_error_names_its_field_and_code() {
        let cases = [
            (vec![], "/legs", "invalid_itinerary"),
            (
                vec![leg("KEN-NBO", "2026-12-05", "2026-12-01")],
                "/legs/0/departure",
                "invalid_itinerary",
            ),
            (
                vec![leg("KEN-NBO", "2026-11-22", "2026-12-01")],
                "/legs/0/arrival",
                "leg_in_past",
            ),
            (
                vec![
                    leg("KEN-NBO", "2026-12-01", "2026-12-05"),
                    leg("SOM-MOG", "2026-12-04", "2026-12-09"),
                ],
                "/legs/1/arrival",
                "invalid_itinerary",
            ),
            (
                vec![leg("KEN-NBO", "2026-12-01", "2026-12-01"); MAX_LEGS + 1],
                "/legs",
                "too_many_legs",
            ),
            (
                vec![
                    leg("KEN-NBO", "2026-12-01", "2026-12-01"),
                    transit("ETH-ADD", "2026-12-01", "2026-12-03"),
                ],
                "/legs/1/departure",
                "invalid_itinerary",
            ),
        ];
        for (legs, field, code) in cases {
            let err = Itinerary::parse(legs, today()).unwrap_err();
            assert_eq!((err.field.as_str(), err.code.as_str()), (field, code));
        }
    }
}
