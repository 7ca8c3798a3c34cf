//! The pure core: what a clearance decision is and how it is reached. No I/O, no async.

use crate::error_code::Code;

pub mod air_operator;
pub mod approval;
pub mod area;
pub mod audit;
pub mod briefing;
pub mod caller;
pub mod check_in_link;
pub mod criticality;
pub mod delegation;
pub mod incident;
pub mod itinerary;
pub mod lead_time;
pub mod notice;
pub mod person;
pub mod policy;
pub mod request;
pub mod risk;
pub mod sra;
pub mod team;
pub mod verification;
pub mod webhook;
pub mod webhook_target;

/// A value refused at the edge: which field (as a JSON pointer, relative to the document
/// being parsed), a stable machine code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub code: Code,
    pub detail: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, code: Code, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            detail: detail.into(),
        }
    }

    /// Re-anchors the pointer under a parent, e.g. `/arrival` under `/legs/2`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = format!("{parent}{}", self.field);
        self
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.field, self.code, self.detail)
    }
}

impl std::error::Error for Invalid {}

/// Trims and bounds a free-text field; an empty or oversized value is refused. The length
/// is counted as sent, as JSON Schema's `maxLength` counts it.
pub fn bounded_text(field: &str, value: &str, max_chars: usize) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new(field, Code::InvalidField, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(Invalid::new(
            field,
            Code::InvalidField,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            Code::InvalidField,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}
