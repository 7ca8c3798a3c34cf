//! Why a service refused: a stable code from the catalogue, a sentence for people, and the
//! input at fault. It knows nothing of HTTP; `http::problem` turns it into problem+json.

use crate::domain::Invalid;
use crate::domain::approval::ApprovalError;
pub use crate::error_code::Code;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct AppError {
    /// Stable, documented, part of the API: clients branch on it. It fixes status and title.
    pub code: Code,
    pub detail: String,
    /// The input at fault: a JSON pointer into the body, or a query parameter's name.
    pub field: Option<String>,
    /// Members particular to a problem type, such as who holds a claim and until when.
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl AppError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            field: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds a member particular to this problem. RFC 9457's own members cannot be replaced.
    pub fn with(mut self, member: &str, value: impl serde::Serialize) -> Self {
        const RESERVED: [&str; 6] = ["type", "title", "status", "detail", "code", "field"];
        debug_assert!(!RESERVED.contains(&member), "{member} is a standard member");
        if RESERVED.contains(&member) {
            return self;
        }
        if let Ok(value) = serde_json::to_value(value) {
            self.extensions.insert(member.to_owned(), value);
        }
        self
    }

    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Re-anchors the field under a parent (`/traveller/id` under `/travellers/2`); one
    /// without a field is placed at the parent.
    pub fn under(mut self, parent: &str) -> Self {
        let field = self.field.take().unwrap_or_default();
        let field = field.strip_prefix("/traveller").unwrap_or(&field);
        self.field = Some(format!("{parent}{field}"));
        self
    }

    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Code::InvalidField, detail).at(field)
    }

    pub fn invalid_query(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Code::InvalidQuery, detail).at(field)
    }

    pub fn unknown_area(field: impl Into<String>, code: &str) -> Self {
        Self::new(Code::UnknownArea, format!("no area has the code {code}")).at(field)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, detail)
    }

    /// Also what someone else's resource looks like: its existence is not disclosed.
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no such resource")
    }

    pub fn store_unavailable() -> Self {
        Self::new(
            Code::StoreUnavailable,
            "the request could not be stored and was not accepted; retry later",
        )
    }

    pub fn internal() -> Self {
        Self::new(Code::InternalError, "an unexpected error occurred")
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        AppError::new(e.code, e.detail).at(e.field)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "store unavailable");
                AppError::store_unavailable()
            }
            StoreError::OutcomeUnknown(detail) => {
                tracing::error!(%detail, "the store's commit failed: outcome unknown");
                AppError::new(
                    Code::StoreOutcomeUnknown,
                    "the store failed while committing: the request may or may not be stored; \
                     retry with the same Idempotency-Key, which returns it if it was",
                )
            }
            StoreError::Corrupt(detail) => {
                tracing::error!(%detail, "unreadable row in the store");
                AppError::internal()
            }
            StoreError::NotFound(_) => AppError::not_found(),
            StoreError::Conflict(detail) => AppError::new(Code::ConcurrentUpdate, detail),
        }
    }
}

impl From<ApprovalError> for AppError {
    fn from(e: ApprovalError) -> Self {
        let problem = AppError::new(e.code(), e.to_string());
        match e {
            ApprovalError::CommentRequired => problem.at("/comment"),
            ApprovalError::ClaimedByAnother { holder, until } => {
                problem.with("holder", holder).with("until", until)
            }
            _ => problem,
        }
    }
}
