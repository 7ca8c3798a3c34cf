//! The one error shape callers see: RFC 9457 problem details with a stable machine `code`.
//! The services' [`AppError`]s become problems here, at the edge, and so do the edge's own
//! refusals (a body too large, a token refused, a method not allowed).

use crate::app::AppError;
use crate::auth::AuthError;
use crate::domain::Invalid;
use crate::domain::approval::ApprovalError;
pub use crate::error_code::Code;
use crate::store::StoreError;

/// An [`AppError`] on its way out as `application/problem+json`: the code fixes the status
/// and title, `detail`, `field` and the extensions come along (`problem_response.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem(AppError);

impl std::ops::Deref for Problem {
    type Target = AppError;
    fn deref(&self) -> &AppError {
        &self.0
    }
}

impl Problem {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self(AppError::new(code, detail))
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// Adds a member particular to this problem (see [`AppError::with`]).
    pub fn with(self, member: &str, value: impl serde::Serialize) -> Self {
        Self(self.0.with(member, value))
    }

    pub fn at(self, field: impl Into<String>) -> Self {
        Self(self.0.at(field))
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(Code::MalformedJson, detail)
    }

    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self(AppError::invalid_field(field, detail))
    }

    pub fn invalid_query(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self(AppError::invalid_query(field, detail))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            Code::UnsupportedMediaType,
            "send the body as application/json",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            Code::PayloadTooLarge,
            format!("the body must not exceed {limit} bytes"),
        )
    }

    pub fn request_timeout(after: std::time::Duration) -> Self {
        Self::new(
            Code::RequestTimeout,
            format!(
                "the body did not arrive within {} ms of the request's head",
                after.as_millis()
            ),
        )
    }

    pub fn unknown_area(field: impl Into<String>, code: &str) -> Self {
        Self(AppError::unknown_area(field, code))
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self(AppError::forbidden(detail))
    }

    pub fn not_found() -> Self {
        Self(AppError::not_found())
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            Code::MethodNotAllowed,
            "this resource does not support that method",
        )
    }

    pub fn store_unavailable() -> Self {
        Self(AppError::store_unavailable())
    }

    pub fn internal() -> Self {
        Self(AppError::internal())
    }

    pub fn type_uri(&self) -> String {
        format!("urn:clearway:problem:{}", self.code)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code, self.detail)
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Missing => Code::MissingToken,
            AuthError::Expired => Code::TokenExpired,
            AuthError::Invalid(_) => Code::InvalidToken,
        };
        Problem::new(code, e.to_string())
    }
}

impl From<Invalid> for Problem {
    fn from(e: Invalid) -> Self {
        AppError::from(e).into()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<ApprovalError> for Problem {
    fn from(e: ApprovalError) -> Self {
        AppError::from(e).into()
    }
}
