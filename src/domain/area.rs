//! Where people travel: area codes, areas and their suspension.

use crate::error_code::Code;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Invalid, bounded_text};

/// An area code such as `SOM-BAY`: 2 to 32 upper-case letters, digits and hyphens,
/// starting with a letter. Lower case input is upper-cased, so `som-bay` names the same area.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct AreaCode(String);

impl AreaCode {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let code = raw.to_ascii_uppercase();
        let well_formed = (2..=32).contains(&code.len())
            && code.starts_with(|c: char| c.is_ascii_uppercase())
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            && !code.ends_with('-');
        if well_formed {
            Ok(Self(code))
        } else {
            Err(Invalid::new(
                field,
                Code::InvalidField,
                "an area code is 2 to 32 letters, digits and hyphens, starting with a letter (e.g. SOM-BAY)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AreaCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        AreaCode::parse("", &raw).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

impl std::fmt::Display for AreaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why operations in an area stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuspensionReason {
    Relocation,
    Evacuation,
    ProgrammeSuspension,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suspension {
    pub reason: SuspensionReason,
    pub since: NaiveDate,
}

/// Where an area lies, for the map: a WGS 84 point (its duty station, say). Kept to the
/// micro-degree (about 11 cm), so two areas compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    latitude_micro: i32,
    longitude_micro: i32,
}

/// A location as the API and the store carry it: decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Degrees {
    /// Degrees north (negative: south), -90 to 90.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: f64,
    /// Degrees east (negative: west), -180 to 180.
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: f64,
}

impl Location {
    /// `field` is the JSON pointer of the location, for the error.
    pub fn new(field: &str, at: Degrees) -> Result<Self, Invalid> {
        let micro = |value: f64, limit: f64, name: &str| {
            if value.is_finite() && (-limit..=limit).contains(&value) {
                // In range, so the product fits an i32 (180e6 < 2^31).
                Ok((value * 1e6).round() as i32)
            } else {
                Err(Invalid::new(
                    format!("{field}/{name}"),
                    Code::InvalidField,
                    format!("{name} is a number of degrees from -{limit} to {limit}"),
                ))
            }
        };
        Ok(Self {
            latitude_micro: micro(at.latitude, 90.0, "latitude")?,
            longitude_micro: micro(at.longitude, 180.0, "longitude")?,
        })
    }

    pub fn degrees(self) -> Degrees {
        Degrees {
            latitude: f64::from(self.latitude_micro) / 1e6,
            longitude: f64::from(self.longitude_micro) / 1e6,
        }
    }
}

impl Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.degrees().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Location::new("", Degrees::deserialize(d)?).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Area {
    pub code: AreaCode,
    pub name: String,
    pub country: String,
    pub suspension: Option<Suspension>,
    /// Absent for areas created before areas had one (and in older cache entries).
    #[serde(default)]
    #[schema(value_type = Option<Degrees>)]
    pub location: Option<Location>,
    /// An open incident in the area: new requests there are held while it lasts (unless
    /// the policy says otherwise). Absent in older cache entries.
    #[serde(default)]
    pub incident: Option<AreaIncident>,
}

/// The open incident an area is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AreaIncident {
    pub id: uuid::Uuid,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl Area {
    pub fn new(
        code: AreaCode,
        name: &str,
        country: &str,
        location: Option<Location>,
    ) -> Result<Self, Invalid> {
        Ok(Self {
            code,
            name: bounded_text("/name", name, 200)?,
            country: bounded_text("/country", country, 100)?,
            suspension: None,
            location,
            incident: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_codes_are_normalised_and_checked() {
        assert_eq!(
            AreaCode::parse("/a", "som-bay").unwrap().as_str(),
            "SOM-BAY"
        );
        // Exactly as sent, as the declared pattern says: no surrounding spaces.
        for bad in [
            " SOM-BAY",
            "",
            "S",
            "1SOM",
            "SOM BAY",
            "SOM-",
            "SOM_BAY",
            &"A".repeat(33),
        ] {
            assert!(AreaCode::parse("/a", bad).is_err(), "{bad:?} accepted");
        }
    }
}
