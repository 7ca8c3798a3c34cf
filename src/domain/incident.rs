//! Incidents: in a crisis, everyone the service knows to be in the area is found, asked
//! whether they are safe, and accounted for (the duty of care UNDSS's CMISS and eTA serve).
//! Pure rules: what an incident is, who its roll-call lists, and what an answer may say.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::area::AreaCode;
use super::person::{EmailAddress, Language};
use super::request::Dependant;
use super::{Invalid, bounded_text};
use crate::error_code::Code;

/// At most this many areas in one incident: a crisis is local; a country is a list of areas.
pub const MAX_AREAS: usize = 50;
const MAX_DESCRIPTION: usize = 2000;
const MAX_MESSAGE: usize = 1000;
const MAX_CALLBACK: usize = 32;

/// An incident as an analyst opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentInput {
    pub areas: Vec<AreaCode>,
    pub started_at: DateTime<Utc>,
    pub description: String,
}

impl IncidentInput {
    /// Checks the shape. An incident may be opened ahead of a foreseen event, but not
    /// further ahead than `max_ahead`: a roll-call of people who are not there yet asks the
    /// wrong people.
    pub fn parse(
        areas: Vec<AreaCode>,
        started_at: DateTime<Utc>,
        description: &str,
        now: DateTime<Utc>,
        max_ahead: Duration,
    ) -> Result<Self, Invalid> {
        if areas.is_empty() || areas.len() > MAX_AREAS {
            return Err(Invalid::new(
                "/areas",
                Code::InvalidField,
                format!("an incident names 1 to {MAX_AREAS} areas"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = areas.iter().find(|a| !seen.insert(*a)) {
            return Err(Invalid::new(
                "/areas",
                Code::InvalidField,
                format!("{twice} is named twice"),
            ));
        }
        // A year back at most: older is no crisis, and dates near chrono's limits would
        // overflow the look-back.
        if started_at < now - Duration::days(366) {
            return Err(Invalid::new(
                "/started_at",
                Code::InvalidField,
                "an incident began at most a year ago",
            ));
        }
        if started_at > now + max_ahead {
            return Err(Invalid::new(
                "/started_at",
                Code::IncidentInFuture,
                format!(
                    "an incident may start at most {} hours from now",
                    max_ahead.num_hours()
                ),
            ));
        }
        let description = bounded_text("/description", description, MAX_DESCRIPTION)?;
        Ok(Self {
            areas,
            started_at,
            description,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Closed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: Uuid,
    pub areas: Vec<AreaCode>,
    pub started_at: DateTime<Utc>,
    pub description: String,
    pub status: IncidentStatus,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub closed_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Incident {
    pub fn open(input: IncidentInput, actor: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            areas: input.areas,
            started_at: input.started_at,
            description: input.description,
            status: IncidentStatus::Open,
            opened_by: actor.to_owned(),
            opened_at: now,
            closed_by: None,
            closed_at: None,
        }
    }

    /// The day the roll-call looks at: travel is planned in whole (UTC) days.
    pub fn day(&self) -> NaiveDate {
        self.started_at.date_naive()
    }
}

/// Whether the itinerary puts the person there when the incident began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// A leg in the area covers the incident's day.
    Present,
    /// The trip ended in the area shortly before: nothing shows the person leaving.
    MayStillBeThere,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::MayStillBeThere => "may_still_be_there",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "present" => Some(Self::Present),
            "may_still_be_there" => Some(Self::MayStillBeThere),
            _ => None,
        }
    }
}

/// Where a person stands in the roll-call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    NoAnswer,
    Safe,
    NeedsAssistance,
}

impl CheckState {
    pub const ALL: [CheckState; 3] = [Self::NoAnswer, Self::Safe, Self::NeedsAssistance];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoAnswer => "no_answer",
            Self::Safe => "safe",
            Self::NeedsAssistance => "needs_assistance",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// How an answer reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The person, through their personal link.
    Link,
    /// The person, signed in (the page or the API).
    Signed,
    /// Someone else for them, who heard from them by phone.
    Phone,
    /// ... by text message or a messaging app.
    Message,
    /// ... in person.
    InPerson,
    /// ... by other means, the message says which.
    Other,
}

impl Channel {
    pub const ON_BEHALF: [Channel; 4] = [Self::Phone, Self::Message, Self::InPerson, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Signed => "signed",
            Self::Phone => "phone",
            Self::Message => "message",
            Self::InPerson => "in_person",
            Self::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Link,
            Self::Signed,
            Self::Phone,
            Self::Message,
            Self::InPerson,
            Self::Other,
        ]
        .into_iter()
        .find(|c| c.as_str() == raw)
    }
}

/// What a person (or someone for them) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub state: CheckState,
    pub message: Option<String>,
    pub callback: Option<String>,
}

impl Answer {
    /// `state` is "safe" or "needs_assistance"; the message and call-back number are optional.
    pub fn parse(
        state: &str,
        message: Option<&str>,
        callback: Option<&str>,
    ) -> Result<Self, Invalid> {
        let state = match CheckState::parse(state) {
            Some(s @ (CheckState::Safe | CheckState::NeedsAssistance)) => s,
            _ => {
                return Err(Invalid::new(
                    "/state",
                    Code::InvalidField,
                    "the answer is `safe` or `needs_assistance`",
                ));
            }
        };
        // A message typed in a text area keeps its words, not its line breaks.
        let message = message
            .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|m| !m.is_empty())
            .map(|m| bounded_text("/message", &m, MAX_MESSAGE))
            .transpose()?;
        let callback = callback
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(parse_callback)
            .transpose()?;
        Ok(Self {
            state,
            message,
            callback,
        })
    }
}

/// A telephone number as people write them: digits, with `+`, spaces, dots, hyphens and
/// parentheses, 4 to 20 digits (E.164 has at most 15; extensions add some).
fn parse_callback(raw: &str) -> Result<String, Invalid> {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    let allowed = raw
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    if raw.len() <= MAX_CALLBACK && allowed && (4..=20).contains(&digits) {
        Ok(raw.to_owned())
    } else {
        Err(Invalid::new(
            "/callback",
            Code::InvalidField,
            "a call-back number is 4 to 20 digits, with + ( ) . - and spaces at most",
        ))
    }
}

/// A leg the store found in an incident's area around its day, with its request's people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub request_id: Uuid,
    pub traveller_id: String,
    pub traveller_name: String,
    pub org: String,
    pub submitted_by: String,
    pub email: Option<EmailAddress>,
    pub language: Option<Language>,
    pub area: AreaCode,
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
    /// The request's last leg: the itinerary shows no travel out of the area after it.
    pub last_leg: bool,
    pub dependants: Vec<Dependant>,
}

/// One person in an incident's roll-call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RollEntry {
    /// Names this person in this incident; their personal link carries it, with a MAC.
    pub id: Uuid,
    pub incident_id: Uuid,
    pub traveller_id: String,
    pub traveller_name: String,
    pub org: String,
    /// The travel unit (or traveller) who submitted the request that placed them there.
    pub submitted_by: String,
    /// Family members the request names as travelling with them: accounted for with them.
    #[serde(default)]
    pub dependants: Vec<Dependant>,
    /// Where the ask was written to: the request's address for the traveller, if any.
    pub email: Option<EmailAddress>,
    pub language: Option<Language>,
    pub request_id: Uuid,
    pub area: AreaCode,
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
    pub presence: Presence,
    /// The itinerary ends in the area: nothing shows them leaving (one-way, or a return not
    /// booked through the service).
    pub trip_ends_in_area: bool,
    pub state: CheckState,
    pub message: Option<String>,
    pub callback: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answered_by: Option<String>,
    pub answered_via: Option<Channel>,
    /// How many times they were asked (the first ask and each reminder).
    pub asks: i32,
    pub last_asked_at: Option<DateTime<Utc>>,
}

impl RollEntry {
    /// Records an answer: the latest one stands (a person safe at first may need help later).
    pub fn answer(&mut self, answer: &Answer, by: &str, via: Channel, at: DateTime<Utc>) {
        self.state = answer.state;
        self.message = answer.message.clone();
        self.callback = answer.callback.clone();
        self.answered_at = Some(at);
        self.answered_by = Some(by.to_owned());
        self.answered_via = Some(via);
    }

    /// Records another ask (a reminder).
    pub fn ask_again(&mut self, at: DateTime<Utc>) {
        self.asks += 1;
        self.last_asked_at = Some(at);
    }
}

/// The roll-call for an incident that began on `day`: everyone with a cleared or approved leg
/// in its areas covering the day, and everyone whose trip ended in one of them at most
/// `lookback_days` before it ("may still be there": Everbridge's users report losing exactly
/// those). A person (organisation and traveller id) is listed once: where a leg covers the
/// day if any, otherwise the latest trip's end.
pub fn roll_call(
    incident: &Incident,
    sightings: Vec<Sighting>,
    lookback_days: u32,
    now: DateTime<Utc>,
) -> Vec<RollEntry> {
    let day = incident.day();
    let earliest = lookback_from(day, lookback_days);
    let mut people: BTreeMap<(String, String), (Presence, Sighting)> = BTreeMap::new();
    for s in sightings {
        let presence = if s.arrival <= day && s.departure >= day {
            Presence::Present
        } else if s.last_leg && s.departure < day && s.departure >= earliest {
            Presence::MayStillBeThere
        } else {
            continue;
        };
        let key = (s.org.clone(), s.traveller_id.clone());
        let better = match people.get(&key) {
            None => true,
            Some((held, other)) => match (presence, *held) {
                (Presence::Present, Presence::MayStillBeThere) => true,
                (Presence::MayStillBeThere, Presence::Present) => false,
                // Two legs covering the day: the earlier arrival; two ended trips: the later.
                (Presence::Present, Presence::Present) => {
                    (s.arrival, s.request_id) < (other.arrival, other.request_id)
                }
                (Presence::MayStillBeThere, Presence::MayStillBeThere) => {
                    (s.departure, s.request_id) > (other.departure, other.request_id)
                }
            },
        };
        if better {
            people.insert(key, (presence, s));
        }
    }
    people
        .into_values()
        .map(|(presence, s)| RollEntry {
            id: Uuid::new_v4(),
            incident_id: incident.id,
            traveller_id: s.traveller_id,
            traveller_name: s.traveller_name,
            org: s.org,
            submitted_by: s.submitted_by,
            dependants: s.dependants,
            email: s.email,
            language: s.language,
            request_id: s.request_id,
            area: s.area,
            arrival: s.arrival,
            departure: s.departure,
            presence,
            trip_ends_in_area: s.last_leg,
            state: CheckState::NoAnswer,
            message: None,
            callback: None,
            answered_at: None,
            answered_by: None,
            answered_via: None,
            asks: 1,
            last_asked_at: Some(now),
        })
        .collect()
}

/// The earliest day a leg may have ended and still count (see [`roll_call`]).
pub fn lookback_from(day: NaiveDate, lookback_days: u32) -> NaiveDate {
    day.checked_sub_days(chrono::Days::new(u64::from(lookback_days)))
        .unwrap_or(NaiveDate::MIN)
}

/// One line of the accountability board: an area and an organisation's people by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BoardLine {
    pub area: String,
    pub org: String,
    /// Travellers on the roll-call (each answers for the dependants with them).
    pub people: i64,
    /// Dependants travelling with them, in `people`'s entries.
    pub dependants: i64,
    pub accounted_for: i64,
    pub needs_assistance: i64,
    pub no_answer: i64,
}

impl BoardLine {
    /// Adds `count` people in `state`.
    pub fn add(&mut self, state: CheckState, count: i64) {
        self.people += count;
        match state {
            CheckState::Safe => self.accounted_for += count,
            CheckState::NeedsAssistance => self.needs_assistance += count,
            CheckState::NoAnswer => self.no_answer += count,
        }
    }
}

/// What happened in an incident, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `opened`, `answered`, `reminded`, `closed`.
    pub kind: String,
    /// The roll-call entry it concerns, if one.
    pub entry_id: Option<Uuid>,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(code: &str) -> AreaCode {
        AreaCode::parse("", code).unwrap()
    }

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 3, d).unwrap()
    }

    fn incident(day: u32) -> Incident {
        let at = date(day).and_hms_opt(9, 30, 0).unwrap().and_utc();
        let input =
            IncidentInput::parse(vec![area("SOM-MOG")], at, "Attack", at, Duration::hours(24));
        Incident::open(input.unwrap(), "analyst", at)
    }

    fn seen(traveller: &str, arrival: u32, departure: u32, last_leg: bool) -> Sighting {
        Sighting {
            request_id: Uuid::now_v7(),
            traveller_id: traveller.into(),
            traveller_name: traveller.into(),
            org: "UNICEF".into(),
            submitted_by: "unicef-desk".into(),
            email: None,
            language: None,
            area: area("SOM-MOG"),
            arrival: date(arrival),
            departure: date(departure),
            last_leg,
            dependants: Vec::new(),
        }
    }

    #[test]
    fn those_there_and_those_whose_trip_ended_there_are_listed_once() {
        let sightings = vec![
            seen("present", 8, 12, false),
            // Ended there two days before: may still be there.
            seen("one-way", 2, 8, true),
            // Left for somewhere else: the itinerary says where they went.
            seen("moved-on", 2, 8, false),
            // Ended there too long ago.
            seen("long-gone", 1, 2, true),
            // Not there yet.
            seen("later", 11, 12, true),
            // Twice: present wins over an ended trip.
            seen("twice", 1, 9, true),
            seen("twice", 10, 14, false),
        ];
        let entries = roll_call(&incident(10), sightings, 7, Utc::now());
        let got: Vec<(&str, Presence)> = entries
            .iter()
            .map(|e| (e.traveller_id.as_str(), e.presence))
            .collect();
        assert_eq!(
            got,
            vec![
                ("one-way", Presence::MayStillBeThere),
                ("present", Presence::Present),
                ("twice", Presence::Present),
            ]
        );
        assert!(entries.iter().all(|e| e.state == CheckState::NoAnswer));
        assert_eq!(entries[2].arrival, date(10));
    }

    #[test]
    fn an_incident_may_not_start_too_far_ahead_or_name_an_area_twice() {
        let now = Utc::now();
        let open = |areas: Vec<AreaCode>, ahead: i64| {
            IncidentInput::parse(
                areas,
                now + Duration::hours(ahead),
                "x",
                now,
                Duration::hours(24),
            )
        };
        assert!(open(vec![area("A-B")], 24).is_ok());
        assert!(open(vec![area("A-B")], -72).is_ok());
        assert_eq!(
            open(vec![area("A-B")], 25).unwrap_err().code,
            Code::IncidentInFuture
        );
        assert_eq!(
            open(vec![area("A-B"), area("A-B")], 0).unwrap_err().field,
            "/areas"
        );
        assert_eq!(open(vec![], 0).unwrap_err().field, "/areas");
        assert!(open(vec![area("A-B")], -24 * 365).is_ok());
        assert_eq!(
            open(vec![area("A-B")], -24 * 367).unwrap_err().field,
            "/started_at"
        );
        let ancient = DateTime::<Utc>::MIN_UTC;
        let refused =
            IncidentInput::parse(vec![area("A-B")], ancient, "x", now, Duration::hours(24));
        assert_eq!(refused.unwrap_err().field, "/started_at");
        assert_eq!(lookback_from(NaiveDate::MIN, 14), NaiveDate::MIN);
    }

    #[test]
    fn answers_are_safe_or_a_call_for_help_with_a_plausible_number() {
        let a = Answer::parse(
            "needs_assistance",
            Some(" Injured "),
            Some("+252 61 555 0101"),
        );
        assert_eq!(
            a.unwrap(),
            Answer {
                state: CheckState::NeedsAssistance,
                message: Some("Injured".into()),
                callback: Some("+252 61 555 0101".into()),
            }
        );
        assert!(Answer::parse("no_answer", None, None).is_err());
        assert_eq!(
            Answer::parse("safe", None, Some("call me"))
                .unwrap_err()
                .field,
            "/callback"
        );
        assert_eq!(
            Answer::parse("safe", Some(""), Some("")).unwrap().message,
            None
        );
    }
}
