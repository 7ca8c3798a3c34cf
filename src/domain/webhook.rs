//! Webhooks for travel units: what they subscribe to, how each event is signed, and how
//! long to wait before trying a failed delivery again. Pure.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::audit::AuditAction;
use super::{Invalid, request::OrgId};
use crate::error_code::Code;

/// The one error text of a delivery that made no connection (refused, filtered, forbidden).
pub const COULD_NOT_DELIVER: &str = "could not deliver";

/// Every event a webhook may subscribe to; `*` subscribes to all.
pub const EVENTS: [&str; 11] = [
    "request.submitted",
    "request.approved",
    "request.rejected",
    "request.returned",
    "request.withdrawn",
    "request.amended",
    "request.rescreened",
    "request.expired",
    "request.acknowledged",
    "request.briefing_overdue",
    "incident.check_requested",
];

/// The event a state change raises; claims and releases are internal to the queue.
pub fn event_name(action: AuditAction) -> Option<&'static str> {
    match action {
        AuditAction::Submitted => Some("request.submitted"),
        AuditAction::Approved => Some("request.approved"),
        AuditAction::Rejected => Some("request.rejected"),
        AuditAction::Returned => Some("request.returned"),
        AuditAction::Withdrawn => Some("request.withdrawn"),
        AuditAction::Amended => Some("request.amended"),
        AuditAction::Rescreened => Some("request.rescreened"),
        AuditAction::Expired => Some("request.expired"),
        AuditAction::Acknowledged => Some("request.acknowledged"),
        AuditAction::BriefingOverdue => Some("request.briefing_overdue"),
        AuditAction::Claimed | AuditAction::Released => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub org: OrgId,
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing)]
    pub secret: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Webhook {
    pub fn subscribes_to(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// Checks a subscription's fields; the URL must be absolute http(s) without credentials.
pub fn check_subscription(url: &str, events: &[String], secret: &str) -> Result<(), Invalid> {
    let parsed = url::Url::parse(url).map_err(|e| {
        Invalid::new(
            "/url",
            Code::InvalidField,
            format!("not an absolute URL: {e}"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(Invalid::new(
            "/url",
            Code::InvalidField,
            "the URL must be http or https with a host",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Invalid::new(
            "/url",
            Code::InvalidField,
            "put no credentials in the URL; the signature authenticates us",
        ));
    }
    if url.chars().any(char::is_control) {
        return Err(Invalid::new(
            "/url",
            Code::InvalidField,
            "control characters (such as CR or LF) have no place in a URL",
        ));
    }
    if url.len() > 2000 {
        return Err(Invalid::new(
            "/url",
            Code::InvalidField,
            "at most 2000 characters",
        ));
    }
    if events.len() > EVENTS.len() + 1 {
        return Err(Invalid::new(
            "/events",
            Code::InvalidField,
            format!("at most {} events: each once, or \"*\"", EVENTS.len() + 1),
        ));
    }
    if events.is_empty() {
        return Err(Invalid::new(
            "/events",
            Code::InvalidField,
            "subscribe to at least one event, or \"*\"",
        ));
    }
    if let Some((i, unknown)) = events
        .iter()
        .enumerate()
        .find(|(_, e)| *e != "*" && !EVENTS.contains(&e.as_str()))
    {
        return Err(Invalid::new(
            format!("/events/{i}"),
            Code::InvalidField,
            format!("unknown event `{unknown}`; known: *, {}", EVENTS.join(", ")),
        ));
    }
    check_secret(secret)?;
    Ok(())
}

/// A secret in the Standard Webhooks form, around `key` (24 to 64 random bytes).
pub fn secret_from_key(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// Standard Webhooks secrets: `whsec_` and the base64 of 24 to 64 random bytes. A secret
/// without the prefix (16 to 256 characters, as before) is used as it is: receivers give their
/// library `whsec_` and its base64.
fn check_secret(secret: &str) -> Result<(), Invalid> {
    let refused = |why: &str| Invalid::new("/secret", Code::InvalidField, why);
    match secret.strip_prefix(SECRET_PREFIX) {
        Some(encoded) => match BASE64.decode(encoded) {
            Ok(key) if (24..=64).contains(&key.len()) => Ok(()),
            Ok(_) => Err(refused("a whsec_ secret holds 24 to 64 bytes")),
            Err(_) => Err(refused("after whsec_, the secret is standard base64")),
        },
        None if (16..=256).contains(&secret.chars().count()) => Ok(()),
        None => Err(refused(
            "the secret is whsec_ and the base64 of 24 to 64 bytes (or 16 to 256 characters as they are)",
        )),
    }
}

/// The prefix of Standard Webhooks secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// The HMAC key a secret stands for: the bytes after `whsec_`, or the secret's own bytes.
pub fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `webhook-signature` per the Standard Webhooks specification: `v1,` and the base64
/// HMAC-SHA256 of `"{webhook-id}.{webhook-timestamp}.{raw body}"` under the secret's key,
/// so receivers verify with the specification's maintained libraries in any language.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&signing_key(secret)).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// An event to deliver, written with the change it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub request_id: Uuid,
    pub org: OrgId,
    pub name: &'static str,
    pub payload: serde_json::Value,
}

/// `Clearway-Signature: v1=<hex>`, the HMAC-SHA256 of `"{timestamp}.{raw body}"` under the
/// webhook's secret, as sent before the Standard Webhooks headers; kept for receivers
/// written against it (deprecated).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: the signature matches and the timestamp is within `window_secs` of now.
pub fn verify_signature(
    secret: &str,
    header: &str,
    timestamp: i64,
    body: &[u8],
    now: i64,
    window_secs: i64,
) -> bool {
    if (now - timestamp).abs() > window_secs {
        return false;
    }
    let Some(given) = header.strip_prefix("v1=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Exponential backoff: `base`, then doubling per failed attempt, capped at `max`.
pub fn retry_delay(
    attempts: u32,
    base: chrono::Duration,
    max: chrono::Duration,
) -> chrono::Duration {
    let factor = 1i32
        .checked_shl(attempts.saturating_sub(1).min(30))
        .unwrap_or(i32::MAX);
    base.checked_mul(factor).map_or(max, |d| d.min(max))
}

/// What a webhook delivers: the body of each POST, whatever the event (its schema is
/// `components.schemas.WebhookEvent` and the `webhooks` section of `/openapi.json`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookEvent {
    /// One of the events a webhook subscribes to, e.g. `request.approved`.
    #[schema(value_type = String, example = "request.approved")]
    pub event: &'static str,
    /// Unique per event: deduplicate on it (delivery is at least once).
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// Who made the change (the subject of their token), or `clearway` for re-screening.
    pub actor: String,
    /// The approver's or traveller's comment, when the change has one.
    pub comment: Option<String>,
    pub request: WebhookRequest,
}

/// The request as it stands after the change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WebhookRequest {
    pub id: Uuid,
    /// Grows by one with every change: an event with a lower version than one already seen
    /// is older news.
    pub version: i64,
    pub status: super::request::RequestStatus,
    pub previous_status: Option<super::request::RequestStatus>,
    /// The approval stage it waits for, while escalated.
    pub stage: Option<String>,
    pub traveller_id: super::request::TravellerId,
    pub org: OrgId,
    /// The first day of travel.
    pub first_arrival: chrono::NaiveDate,
}

/// The event a change to `record` raises, if any: what travel units' systems receive.
pub fn event_for(
    record: &super::request::RequestRecord,
    audit: &super::audit::AuditDraft,
    at: DateTime<Utc>,
) -> Option<OutboxEvent> {
    let name = event_name(audit.action)?;
    let stage = (record.status == super::request::RequestStatus::Escalated)
        .then(|| record.escalation.as_ref().map(|e| e.stage().clone()))
        .flatten();
    let event = WebhookEvent {
        event: name,
        event_id: Uuid::now_v7(),
        occurred_at: at,
        actor: audit.actor.clone(),
        comment: audit.comment.clone(),
        request: WebhookRequest {
            id: record.id,
            version: record.version,
            status: record.status,
            previous_status: audit.from,
            stage,
            traveller_id: record.request.traveller.id.clone(),
            org: record.request.traveller.org.clone(),
            first_arrival: record.request.legs.first_arrival(),
        },
    };
    let payload = serde_json::to_value(&event).ok()?;
    Some(OutboxEvent {
        request_id: record.id,
        org: record.request.traveller.org.clone(),
        name,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whsec_secrets_stand_for_their_decoded_key_and_others_for_themselves() {
        let key = [7u8; 32];
        let secret = secret_from_key(&key);
        assert!(secret.starts_with("whsec_"));
        assert_eq!(signing_key(&secret), key);
        assert_eq!(
            signing_key("a-plain-secret-of-16+"),
            b"a-plain-secret-of-16+"
        );
        assert!(check_secret(&secret).is_ok());
        assert!(check_secret("whsec_c2hvcnQ=").is_err(), "5 bytes");
        assert!(check_secret("whsec_%%%").is_err(), "not base64");
        assert!(check_secret("short").is_err());
        // The plain secret and its whsec_ form sign alike: receivers may use either.
        let plain = "unicef-webhook-secret-0123456789";
        let as_whsec = secret_from_key(plain.as_bytes());
        let body = br#"{"event":"request.submitted"}"#;
        let signed = standard_signature(plain, "id-1", 1_800_000_000, body);
        assert_eq!(
            signed,
            standard_signature(&as_whsec, "id-1", 1_800_000_000, body)
        );
        assert!(signed.starts_with("v1,"));
        assert_ne!(
            signed,
            standard_signature(plain, "id-2", 1_800_000_000, body)
        );
    }

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_time() {
        let body = br#"{"event":"request.approved"}"#;
        let sig = signature("s3cret-s3cret-s3cret", 1_800_000_000, body);
        assert!(verify_signature(
            "s3cret-s3cret-s3cret",
            &sig,
            1_800_000_000,
            body,
            1_800_000_010,
            300
        ));
        assert!(!verify_signature(
            "another-secret-123",
            &sig,
            1_800_000_000,
            body,
            1_800_000_010,
            300
        ));
        assert!(!verify_signature(
            "s3cret-s3cret-s3cret",
            &sig,
            1_800_000_000,
            b"{}",
            1_800_000_010,
            300
        ));
        assert!(!verify_signature(
            "s3cret-s3cret-s3cret",
            &sig,
            1_800_000_001,
            body,
            1_800_000_010,
            300
        ));
        assert!(
            !verify_signature(
                "s3cret-s3cret-s3cret",
                &sig,
                1_800_000_000,
                body,
                1_800_000_400,
                300
            ),
            "replayed too late"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        let base = chrono::Duration::seconds(1);
        let max = chrono::Duration::seconds(60);
        let delays: Vec<i64> = (1..=8)
            .map(|n| retry_delay(n, base, max).num_seconds())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_delay(200, base, max), max);
    }

    #[test]
    fn subscriptions_are_checked() {
        let all = vec!["*".to_string()];
        assert!(
            check_subscription("https://unit.example.org/hooks", &all, "0123456789abcdef").is_ok()
        );
        assert_eq!(
            check_subscription("ftp://x", &all, "0123456789abcdef")
                .unwrap_err()
                .field,
            "/url"
        );
        assert_eq!(
            check_subscription("https://u:p@x.org", &all, "0123456789abcdef")
                .unwrap_err()
                .field,
            "/url"
        );
        assert_eq!(
            check_subscription(
                "https://x.org",
                &["request.exploded".into()],
                "0123456789abcdef"
            )
            .unwrap_err()
            .field,
            "/events/0"
        );
        assert_eq!(
            check_subscription("https://x.org", &all, "short")
                .unwrap_err()
                .field,
            "/secret"
        );
    }
}
