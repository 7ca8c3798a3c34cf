//! Air operators and their assessment: the advice the Aviation Risk Management Office gives
//! travel units on whom their people may fly with, and how a leg says how it is travelled.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::bounded_text;
use crate::error_code::Code;

/// An ICAO airline designator: three letters (`KQA`, `ETH`). Lower case is upper-cased.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct OperatorCode(String);

impl OperatorCode {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let code = raw.to_ascii_uppercase();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(Invalid::new(
                field,
                Code::InvalidField,
                format!("`{raw}` is not an ICAO airline designator (three letters, such as KQA)"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OperatorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A flight number as printed on a ticket: the airline's two- or three-character code, one
/// to four digits, an optional letter (`KQ310`, `UNO123`). Spaces are dropped, case raised.
pub fn flight_number(field: &str, raw: &str) -> Result<String, Invalid> {
    let number: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    // Only ASCII makes a flight number; checked first, so the byte splits below fall on
    // characters.
    let refuse = || {
        Invalid::new(
            field,
            Code::InvalidField,
            format!(
                "`{raw}` is not a flight number (an airline code and 1 to 4 digits, such as KQ310)"
            ),
        )
    };
    if !number.is_ascii() {
        return Err(refuse());
    }
    let shape = |airline_len: usize| {
        let (airline, digits) = number.split_at(airline_len.min(number.len()));
        let digits = digits
            .strip_suffix(|c: char| c.is_ascii_uppercase())
            .unwrap_or(digits);
        // IATA's two characters may hold a digit (5Y); ICAO's three are letters.
        let airline_ok = if airline_len == 2 {
            airline.bytes().all(|b| b.is_ascii_alphanumeric())
                && airline.bytes().any(|b| b.is_ascii_uppercase())
        } else {
            airline.bytes().all(|b| b.is_ascii_uppercase())
        };
        airline_ok && (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if shape(2) || shape(3) {
        Ok(number)
    } else {
        Err(refuse())
    }
}

/// How a leg is travelled into its area. Absent when the request does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Travel {
    /// A scheduled or charter flight: the operator's assessment decides.
    Flight {
        operator: OperatorCode,
        flight_number: String,
    },
    /// The UN Humanitarian Air Service: cleared as to the operator.
    Unhas {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flight_number: Option<String>,
    },
    Road,
}

/// ARMO's standing of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    /// Assessed and found acceptable.
    Assessed,
    /// Never assessed, or its assessment lapsed.
    NotAssessed,
    /// Assessed and restricted: UN personnel are not to fly with it.
    Restricted,
}

impl Assessment {
    pub fn as_str(self) -> &'static str {
        match self {
            Assessment::Assessed => "assessed",
            Assessment::NotAssessed => "not_assessed",
            Assessment::Restricted => "restricted",
        }
    }
}

impl std::str::FromStr for Assessment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Assessment::Assessed,
            Assessment::NotAssessed,
            Assessment::Restricted,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .ok_or_else(|| format!("unknown assessment `{s}`"))
    }
}

pub const MAX_NOTE: usize = 1000;

/// An operator on the list, with its assessment and the days it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AirOperator {
    pub code: OperatorCode,
    pub name: String,
    pub assessment: Assessment,
    /// The first day the assessment applies.
    pub from: NaiveDate,
    /// The last day it applies (an assessment is valid for a time); after it, or before
    /// `from`, the operator counts as not assessed.
    pub until: Option<NaiveDate>,
    /// What travel units should know: the restriction's scope, the assessment's reference.
    pub note: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl AirOperator {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        code: OperatorCode,
        name: &str,
        assessment: Assessment,
        from: NaiveDate,
        until: Option<NaiveDate>,
        note: Option<&str>,
        updated_at: DateTime<Utc>,
        updated_by: &str,
    ) -> Result<Self, Invalid> {
        let name = bounded_text("/name", name, 200)?;
        let note = note
            .map(|n| bounded_text("/note", n, MAX_NOTE))
            .transpose()?;
        if until.is_some_and(|until| until < from) {
            return Err(Invalid::new(
                "/until",
                Code::InvalidDateRange,
                format!("the assessment ends ({until:?}) before it begins ({from})"),
            ));
        }
        Ok(Self {
            code,
            name,
            assessment,
            from,
            until,
            note,
            updated_at,
            updated_by: updated_by.to_owned(),
        })
    }

    /// The operator's standing for a flight on `day`.
    pub fn standing_on(&self, day: NaiveDate) -> Assessment {
        let applies = day >= self.from && self.until.is_none_or(|until| day <= until);
        match self.assessment {
            Assessment::Restricted if applies => Assessment::Restricted,
            Assessment::Assessed if applies => Assessment::Assessed,
            _ => Assessment::NotAssessed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn designators_and_flight_numbers_are_checked() {
        assert_eq!(OperatorCode::parse("", "kqa").unwrap().as_str(), "KQA");
        for bad in ["KQ", "KQAA", "K1A", "", "ÉTH"] {
            assert!(OperatorCode::parse("/f", bad).is_err(), "{bad}");
        }
        for (raw, number) in [
            ("KQ310", "KQ310"),
            ("kq 310", "KQ310"),
            ("UNO123", "UNO123"),
            ("5Y1234A", "5Y1234A"),
        ] {
            assert_eq!(flight_number("", raw).unwrap(), number);
        }
        for bad in [
            "KQ", "310", "KQ12345", "K-310", "KQ31O0", "Aé1", "KQ€1", "ÉÉ12",
        ] {
            assert!(flight_number("/f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_assessment_applies_between_its_dates_only() {
        let op = |assessment, until: Option<&str>| {
            AirOperator::new(
                OperatorCode::parse("", "KQA").unwrap(),
                "Kenya Airways",
                assessment,
                day("2027-01-10"),
                until.map(day),
                None,
                Utc::now(),
                "armo-1",
            )
            .unwrap()
        };
        let assessed = op(Assessment::Assessed, Some("2027-06-30"));
        assert_eq!(
            assessed.standing_on(day("2027-01-09")),
            Assessment::NotAssessed
        );
        assert_eq!(
            assessed.standing_on(day("2027-01-10")),
            Assessment::Assessed
        );
        assert_eq!(
            assessed.standing_on(day("2027-06-30")),
            Assessment::Assessed
        );
        assert_eq!(
            assessed.standing_on(day("2027-07-01")),
            Assessment::NotAssessed
        );
        let restricted = op(Assessment::Restricted, None);
        assert_eq!(
            restricted.standing_on(day("2030-01-01")),
            Assessment::Restricted
        );
        assert_eq!(
            restricted.standing_on(day("2027-01-01")),
            Assessment::NotAssessed
        );
        let err = AirOperator::new(
            OperatorCode::parse("", "KQA").unwrap(),
            "Kenya Airways",
            Assessment::Assessed,
            day("2027-01-10"),
            Some(day("2027-01-09")),
            None,
            Utc::now(),
            "armo-1",
        )
        .unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.code.as_str()),
            ("/until", "invalid_date_range")
        );
    }
}
