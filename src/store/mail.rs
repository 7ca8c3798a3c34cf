//! E-mail: the notices written with each change, the messages planned from them, their
//! delivery, and the approvers' daily digests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;

/// A change's notice, leased to one planner.
#[derive(Debug, Clone)]
pub struct DueNotice {
    pub id: i64,
    /// `domain::notice::Notice` as JSON.
    pub payload: String,
}

/// How a planned message waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailState {
    /// To be sent as soon as possible.
    Pending,
    /// Held for the recipient's daily digest.
    Held,
}

/// A message to send, or to hold for a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// Unique per message: planning the same notice twice adds nothing
    /// (`<notice event id>/<recipient>`, `digest/<person>/<day>`).
    pub key: String,
    pub request_id: Option<Uuid>,
    pub recipient: String,
    /// The directory entry it goes to, if any (digests are gathered by it).
    pub person: Option<String>,
    pub language: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub state: MailState,
}

/// A message leased to one sender.
#[derive(Debug, Clone)]
pub struct DueMail {
    pub id: i64,
    /// Until when this sender holds it: its result is recorded only while it still does.
    pub lease: DateTime<Utc>,
    pub key: String,
    pub attempts: u32,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: DateTime<Utc>,
}

/// An attempt's result, for the message (`id`) leased until `lease`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    pub id: i64,
    pub lease: DateTime<Utc>,
    pub result: SendResult,
}

impl SentMail {
    /// The stored status, the next attempt (if any) and the error.
    pub fn outcome(&self) -> (&'static str, Option<DateTime<Utc>>, Option<&str>) {
        match &self.result {
            SendResult::Sent => ("sent", None, None),
            SendResult::RetryAt(at, error) => ("pending", Some(*at), Some(error)),
            SendResult::GiveUp(error) => ("failed", None, Some(error)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    Sent,
    RetryAt(DateTime<Utc>, String),
    GiveUp(String),
}

/// A message as admins see it (`GET /v1/mail`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MailView {
    pub id: i64,
    pub request_id: Option<Uuid>,
    pub recipient: String,
    pub person: Option<String>,
    pub language: String,
    pub subject: String,
    /// `pending`, `held` (for a digest), `digested`, `sent` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A message held for a digest.
#[derive(Debug, Clone)]
pub struct HeldMail {
    pub id: i64,
    /// Where and in which language it was planned to go (the digest goes there if the
    /// person has since left the directory).
    pub recipient: String,
    pub language: String,
    pub request_id: Option<Uuid>,
    pub subject: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait MailStore: Send + Sync {
    /// Leases up to `limit` notices, oldest first; one another planner holds is skipped.
    async fn claim_notices(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueNotice>, StoreError>;
    /// Stores the messages planned from `notices` and removes those notices, in one
    /// transaction; a message whose key is already stored is not added again.
    async fn plan_mail(&self, notices: &[i64], mail: &[NewMail]) -> Result<(), StoreError>;
    /// Leases up to `limit` pending messages that are due.
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<DueMail>, StoreError>;
    /// Records attempts' results, together: each only if its message is still leased as its
    /// `lease` says (another sender may have taken it over after the lease ran out: its
    /// result counts then).
    async fn finish_mail(&self, results: &[SentMail]) -> Result<(), StoreError>;
    /// The people with messages held for their digest, and those messages, oldest first.
    async fn held_mail(&self) -> Result<Vec<(String, Vec<HeldMail>)>, StoreError>;
    /// Adds `digest` (pending) and marks `held` as digested, in one transaction; nothing
    /// if a message with the digest's key exists (another instance sent today's).
    async fn post_digest(&self, digest: &NewMail, held: &[i64]) -> Result<bool, StoreError>;
    /// Forgets sent and digested messages created before `before`; how many.
    async fn prune_mail(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The latest messages, newest first, optionally those about one request.
    async fn list_mail(
        &self,
        request_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<MailView>, StoreError>;
}
