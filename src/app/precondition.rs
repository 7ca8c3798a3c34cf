//! What a caller last saw of a request (HTTP's `If-Match`): a change applies only while the
//! request is still at a version the caller names. The check sits beside the read that the
//! change is decided on, and the store writes only over that same version, so nobody's
//! change lands on a state they did not see.

use crate::error_code::Code;

use super::AppError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Expected {
    /// No precondition (no `If-Match`, or `If-Match: *` on a request that exists).
    #[default]
    Any,
    /// One of these versions; none at all when the caller named only tags this service
    /// never issued, which never match.
    Versions(Vec<i64>),
}

impl Expected {
    pub fn check(&self, current: i64) -> Result<(), AppError> {
        match self {
            Expected::Versions(versions) if !versions.contains(&current) => Err(AppError::new(
                Code::PreconditionFailed,
                format!(
                    "the request is at version {current} now, not the one If-Match names; read it again"
                ),
            )
            .with("current_version", current)
            .at("If-Match")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_named_version_passes() {
        assert!(Expected::Any.check(7).is_ok());
        assert!(Expected::Versions(vec![6, 7]).check(7).is_ok());
        let refused = Expected::Versions(vec![6]).check(7).unwrap_err();
        assert_eq!(refused.code, Code::PreconditionFailed);
        assert!(Expected::Versions(vec![]).check(1).is_err());
    }
}
