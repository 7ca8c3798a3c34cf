//! The people directory: whom the service tells, at which address, in which language, and
//! how often. Approvers are listed with the stages they decide. Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::policy::Stage;
use super::request::{OrgId, TravellerId};
use super::{Invalid, bounded_text};
use crate::error_code::Code;

/// The languages the service writes in: its page and its e-mail (each has a test that says
/// it covers exactly these).
pub const LANGUAGES: [&str; 2] = ["en", "fr"];

/// A language the service writes in, by its BCP 47 primary tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "fr")]
pub struct Language(usize);

impl Language {
    pub const ENGLISH: Language = Language(0);

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        LANGUAGES
            .iter()
            .position(|l| *l == raw)
            .map(Language)
            .ok_or_else(|| {
                Invalid::new(
                    field,
                    Code::UnsupportedLanguage,
                    format!(
                        "`{}` is not a language the service writes in; it writes in {}",
                        raw.chars().take(20).collect::<String>(),
                        LANGUAGES.join(", ")
                    ),
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        LANGUAGES[self.0]
    }
}

impl TryFrom<String> for Language {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Language::parse("", &raw).map_err(|e| e.detail)
    }
}

impl From<Language> for String {
    fn from(language: Language) -> String {
        language.as_str().to_owned()
    }
}

/// An e-mail address the service will send to: an RFC 5321 mailbox in its common form, a
/// dot-atom local part (at most 64 characters) at a domain name of two labels or more, at
/// most 254 characters in all. Quoted local parts, address literals and non-ASCII
/// addresses are refused: relays and directories treat them unevenly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "hana.sato@undss.example")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        check_address(raw)
            .map(|()| EmailAddress(raw.to_owned()))
            .map_err(|why| Invalid::new(field, Code::InvalidEmail, why))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        check_address(&raw).map(|()| EmailAddress(raw))
    }
}

impl From<EmailAddress> for String {
    fn from(address: EmailAddress) -> String {
        address.0
    }
}

/// RFC 5322 `atext`: the characters of a dot-atom's atoms.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn check_address(raw: &str) -> Result<(), String> {
    if raw.len() > 254 {
        return Err("an e-mail address has at most 254 characters".into());
    }
    let Some((local, domain)) = raw.rsplit_once('@') else {
        return Err("an e-mail address is local-part@domain".into());
    };
    if local.is_empty() || local.len() > 64 {
        return Err("the part before @ has 1 to 64 characters".into());
    }
    if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
    {
        return Err(
            "the part before @ is letters, digits and !#$%&'*+-/=?^_`{|}~, with single dots between them"
                .into(),
        );
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(
            "the part after @ is a domain name: two or more labels of letters, digits and inner hyphens, separated by dots"
                .into(),
        );
    }
    Ok(())
}

/// How a person hears of what concerns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notifications {
    /// A message for each event, as it happens.
    Immediate,
    /// One message a day listing the day's events (approvers' queue items); status changes
    /// of their own requests still come at once.
    DailyDigest,
    /// No e-mail.
    Off,
}

impl Notifications {
    pub const ALL: [Notifications; 3] = [Self::Immediate, Self::DailyDigest, Self::Off];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::DailyDigest => "daily_digest",
            Self::Off => "off",
        }
    }
}

impl std::str::FromStr for Notifications {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown notification preference `{s}`"))
    }
}

/// Someone the service writes to: an approver, a travel unit's desk, a traveller who
/// submits without an address on the request. Keyed by the subject of their tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub subject: TravellerId,
    pub name: String,
    pub email: EmailAddress,
    pub language: Language,
    /// The approval stages they decide (the configured chain's names), each once.
    pub stages: Vec<Stage>,
    /// A travel unit's desk: the organisation whose every request it hears of.
    pub follows_org: Option<OrgId>,
    pub notifications: Notifications,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl Person {
    pub fn check_name(name: &str) -> Result<String, Invalid> {
        bounded_text("/name", name, 200)
    }

    /// The stages, each one the configured chain knows, each once, in the given order.
    pub fn check_stages(stages: &[String], known: &[&str]) -> Result<Vec<Stage>, Invalid> {
        let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
        for (i, stage) in stages.iter().enumerate() {
            if !known.contains(&stage.as_str()) {
                return Err(Invalid::new(
                    format!("/stages/{i}"),
                    Code::InvalidField,
                    format!(
                        "`{}` is not a stage of the approval chains; they are: {}",
                        stage.chars().take(64).collect::<String>(),
                        known.join(", ")
                    ),
                ));
            }
            if out.contains(stage) {
                return Err(Invalid::new(
                    format!("/stages/{i}"),
                    Code::InvalidField,
                    "each stage once",
                ));
            }
            out.push(stage.clone());
        }
        Ok(out)
    }

    /// Whether they hear of items entering `stage`'s queue, and how.
    pub fn decides(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_their_common_form_are_accepted() {
        for ok in [
            "a@b.c",
            "hana.sato@undss.example",
            "travel+desk@unicef.org",
            "o'brien@who.int",
            "x_y-z@sub.domain-1.example.org",
            "!#$%&'*+-/=?^_`{|}~@x.io",
        ] {
            assert!(EmailAddress::parse("/email", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused_with_their_code() {
        let long_local = format!("{}@x.io", "a".repeat(65));
        let long_all = format!("a@{}.io", "b".repeat(250));
        let long_label = format!("a@{}.io", "b".repeat(64));
        for bad in [
            "",
            "plain",
            "@x.io",
            "a@",
            "a@localhost",
            "a..b@x.io",
            ".a@x.io",
            "a.@x.io",
            "a b@x.io",
            "\"quoted\"@x.io",
            "a@[127.0.0.1]",
            "a@-x.io",
            "a@x-.io",
            "a@x..io",
            "é@x.io",
            "a@x.io\r\nBcc: b@y.io",
            &long_local,
            &long_all,
            &long_label,
        ] {
            let refused = EmailAddress::parse("/email", bad).unwrap_err();
            assert_eq!(refused.code, Code::InvalidEmail, "{bad:?}");
            assert_eq!(refused.field, "/email");
        }
    }

    #[test]
    fn languages_are_the_ones_the_service_writes_in() {
        assert_eq!(Language::parse("/language", "fr").unwrap().as_str(), "fr");
        for bad in ["", "FR", "fr-CA", "de", "english"] {
            assert_eq!(
                Language::parse("/language", bad).unwrap_err().code,
                Code::UnsupportedLanguage
            );
        }
    }

    #[test]
    fn stages_must_be_known_and_distinct() {
        let known = ["hq", "dg"];
        assert_eq!(
            Person::check_stages(&["dg".into(), "hq".into()], &known).unwrap(),
            vec!["dg".to_string(), "hq".to_string()]
        );
        assert_eq!(
            Person::check_stages(&["hq".into(), "ops".into()], &known)
                .unwrap_err()
                .field,
            "/stages/1"
        );
        assert!(Person::check_stages(&["hq".into(), "hq".into()], &known).is_err());
    }
}
