//! The one error shape callers see: RFC 9457 problem details with a stable machine `code`.

use serde::Serialize;

use crate::auth::AuthError;
use crate::domain::Invalid;
use crate::domain::approval::ApprovalError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(skip)]
    pub status: u16,
    /// Stable, documented, part of the API: clients branch on it.
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// The input at fault: a JSON pointer into the body, or a query parameter's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Members particular to a problem type, such as who holds a claim and until when.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(
        status: u16,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            field: None,
            extensions: serde_json::Map::new(),
        }
    }

    pub fn with(mut self, member: &str, value: impl serde::Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.extensions.insert(member.to_owned(), value);
        }
        self
    }

    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(400, "malformed_json", "The body is not valid JSON", detail)
    }

    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(422, "invalid_field", "A field is invalid", detail).at(field)
    }

    pub fn invalid_query(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(400, "invalid_query", "A query parameter is invalid", detail).at(field)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            "The body is too large",
            format!("the body must not exceed {limit} bytes"),
        )
    }

    pub fn unknown_area(field: impl Into<String>, code: &str) -> Self {
        Self::new(
            422,
            "unknown_area",
            "Unknown area",
            format!("no area has the code {code}"),
        )
        .at(field)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, "forbidden", "Forbidden", detail)
    }

    /// Also what someone else's resource looks like: its existence is not disclosed.
    pub fn not_found() -> Self {
        Self::new(404, "not_found", "Not found", "no such resource")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "method_not_allowed",
            "Method not allowed",
            "this resource does not support that method",
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(409, code, "Conflict", detail)
    }

    pub fn store_unavailable() -> Self {
        Self::new(
            503,
            "store_unavailable",
            "Service unavailable",
            "the request could not be stored and was not accepted; retry later",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "Internal error",
            "an unexpected error occurred",
        )
    }

    pub fn type_uri(&self) -> String {
        format!("urn:clearway:problem:{}", self.code)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.detail)
    }
}

impl From<Invalid> for Problem {
    fn from(e: Invalid) -> Self {
        let title = match e.code {
            "invalid_itinerary" => "The itinerary is invalid",
            "leg_in_past" => "A leg is in the past",
            "too_many_legs" => "Too many legs",
            _ => "A field is invalid",
        };
        Problem::new(422, e.code, title, e.detail).at(e.field)
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => Problem::new(
                401,
                "missing_token",
                "Authentication required",
                e.to_string(),
            ),
            AuthError::Expired => {
                Problem::new(401, "token_expired", "The token has expired", e.to_string())
            }
            AuthError::Invalid(_) => {
                Problem::new(401, "invalid_token", "The token is invalid", e.to_string())
            }
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "store unavailable");
                Problem::store_unavailable()
            }
            StoreError::Corrupt(detail) => {
                tracing::error!(%detail, "unreadable row in the store");
                Problem::internal()
            }
            StoreError::NotFound(_) => Problem::not_found(),
            StoreError::Conflict(detail) => Problem::conflict("conflict", detail),
        }
    }
}

impl From<ApprovalError> for Problem {
    fn from(e: ApprovalError) -> Self {
        let detail = e.to_string();
        match e {
            ApprovalError::OwnRequest | ApprovalError::SameApproverTwice(_) => {
                Problem::new(403, e.code(), "Four-eyes rule", detail)
            }
            ApprovalError::CommentRequired => {
                Problem::new(422, e.code(), "A comment is required", detail).at("/comment")
            }
            ApprovalError::ClaimedByAnother { holder, until } => Problem::new(
                409,
                "claimed_by_another",
                "Claimed by another approver",
                detail,
            )
            .with("holder", holder)
            .with("until", until),
            _ => Problem::new(409, e.code(), "Conflict", detail),
        }
    }
}
