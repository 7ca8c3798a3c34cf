//! Every machine code an error can carry: one list, so the API description, the problem
//! bodies and the tests that trigger each code cannot disagree.

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($( $variant:ident = $text:literal, $status:literal, $title:literal, $meaning:literal; )+) => {
        /// A problem's stable `code`: clients branch on it, so it is part of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $variant, )+
        }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )+ ];

            pub const fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $text, )+ }
            }

            /// The HTTP status every problem with this code is answered with.
            pub const fn status(self) -> u16 {
                match self { $( Code::$variant => $status, )+ }
            }

            /// RFC 9457 title: the same for every occurrence of the problem type.
            pub const fn title(self) -> &'static str {
                match self { $( Code::$variant => $title, )+ }
            }

            /// When a client meets it, for the API description.
            pub const fn meaning(self) -> &'static str {
                match self { $( Code::$variant => $meaning, )+ }
            }
        }
    };
}

codes! {
    MalformedJson = "malformed_json", 400, "The body is not valid JSON",
        "The body is not JSON, or not the shape the endpoint reads.";
    InvalidQuery = "invalid_query", 400, "A query parameter is invalid",
        "A query parameter is unknown, repeated or malformed; `field` names it.";
    InvalidIdempotencyKey = "invalid_idempotency_key", 400, "The Idempotency-Key is invalid",
        "The Idempotency-Key header is empty, longer than 255 characters or not visible ASCII.";
    InvalidIfMatch = "invalid_if_match", 400, "The If-Match header is invalid",
        "If-Match is neither `*` nor a list of entity tags (`\"v3\"`, as an `ETag` gives them).";
    MissingToken = "missing_token", 401, "Authentication required",
        "No bearer token was sent in the Authorization header.";
    TokenExpired = "token_expired", 401, "The token has expired",
        "The bearer token's `exp` has passed.";
    InvalidToken = "invalid_token", 401, "The token is invalid",
        "The bearer token's signature, algorithm, issuer, audience, subject or role is not accepted, or it was sent outside the Authorization header.";
    TokenOrgRequired = "token_org_required", 403, "The token names no organisation",
        "Travellers and travel units act within their organisation: their token must carry it (the `org` claim, or the claim `auth` settings name).";
    Forbidden = "forbidden", 403, "Forbidden",
        "The caller's role may not do this.";
    CheckInNotYours = "check_in_not_yours", 403, "The link is another person's",
        "A personal check-in link was used while signed in as someone else: each link answers for the one person it was sent to.";
    FourEyesSameApprover = "four_eyes_same_approver", 403, "Four-eyes rule",
        "The approver already decided an earlier stage of this request.";
    FourEyesOwnRequest = "four_eyes_own_request", 403, "Four-eyes rule",
        "Nobody decides their own request.";
    NotFound = "not_found", 404, "Not found",
        "No such resource, or it belongs to someone else: its existence is not disclosed.";
    MethodNotAllowed = "method_not_allowed", 405, "Method not allowed",
        "The resource exists but does not support this method.";
    NotPending = "not_pending", 409, "The request is no longer pending",
        "The request's status no longer allows this change (already decided, withdrawn, ...).";
    ConcurrentUpdate = "concurrent_update", 409, "Changed meanwhile",
        "The resource changed while this change was made; read it again and retry.";
    NoBriefingDue = "no_briefing_due", 409, "No briefing to acknowledge",
        "The request does not wait for an acknowledgement of a briefing (none, or all acknowledged).";
    IncidentClosed = "incident_closed", 409, "The incident is closed",
        "The incident was closed: it takes no more answers, reminders or changes.";
    AreaExists = "area_exists", 409, "The area exists",
        "An area with this code exists already.";
    SraVersionExists = "sra_version_exists", 409, "The SRA version exists",
        "This version of the area's SRA exists already.";
    WrongStage = "wrong_stage", 409, "Wrong stage",
        "The escalation is at another stage than the approver's.";
    ClaimedByAnother = "claimed_by_another", 409, "Claimed by another approver",
        "Another approver holds the claim; `holder` and `until` say who and until when.";
    ClaimRequired = "claim_required", 409, "Claim required",
        "Claim the escalation before deciding it; releasing needs a claim of one's own.";
    ClaimLapsed = "claim_lapsed", 409, "Claim lapsed",
        "The approver's claim expired; claim it again.";
    IdempotencyKeyInProgress = "idempotency_key_in_progress", 409, "Request in progress",
        "The first request with this Idempotency-Key is still being processed; retry shortly.";
    RequestTimeout = "request_timeout", 408, "The body took too long",
        "The request's body did not arrive within `server.body_timeout_ms` of its head; the connection is closed.";
    PreconditionFailed = "precondition_failed", 412, "The resource has changed",
        "The resource's current `ETag` is not one that If-Match names: someone changed it since it was read. Read it again and decide anew.";
    PayloadTooLarge = "payload_too_large", 413, "The body is too large",
        "The body exceeds the configured limit.";
    UnsupportedMediaType = "unsupported_media_type", 415, "Unsupported media type",
        "The body must be sent as application/json.";
    InvalidField = "invalid_field", 422, "A field is invalid",
        "A field is missing, unknown or out of range; `field` is its JSON pointer.";
    InvalidEmail = "invalid_email", 422, "The e-mail address is invalid",
        "An e-mail address is not local-part@domain in its common form (a dot-atom of at most 64 characters, a domain name of two labels or more, 254 characters in all); `field` names it.";
    UnsupportedLanguage = "unsupported_language", 422, "The service does not write in this language",
        "A language is not one the service writes its page and e-mail in (`en`, `fr`); `field` names it.";
    InvalidDateRange = "invalid_date_range", 422, "The range ends before it starts",
        "A range of dates ends before it starts (a delegation's `until` before its `from`); `field` names the end.";
    DelegationToSelf = "delegation_to_self", 422, "One cannot delegate to oneself",
        "A delegation names its delegator as the delegate.";
    DelegationLoop = "delegation_loop", 422, "The delegation would loop",
        "Authority would come back to the delegator through delegations that hold on some of the same days.";
    DelegationChainTooLong = "delegation_chain_too_long", 422, "The delegation chain would be too long",
        "Authority would pass through more than two delegations on some day; ask the approver at its root to delegate directly.";
    IncidentInFuture = "incident_in_future", 422, "The incident starts too far ahead",
        "An incident's `started_at` is later than `incidents.max_ahead_hours` from now.";
    InvalidItinerary = "invalid_itinerary", 422, "The itinerary is invalid",
        "Legs are empty, out of order, overlapping or leave before they arrive.";
    LegInPast = "leg_in_past", 422, "A leg is in the past",
        "A leg's departure is before today.";
    TooManyLegs = "too_many_legs", 422, "Too many legs",
        "The itinerary has more legs than a request may hold.";
    TeamSize = "team_size", 422, "A team has 2 to 100 travellers",
        "A team request names fewer than two travellers or more than a hundred; one traveller submits a request of their own.";
    DuplicateTraveller = "duplicate_traveller", 422, "A traveller appears twice in the team",
        "Two members of a team are the same traveller (organisation and id); `field` names the second.";
    UnknownArea = "unknown_area", 422, "Unknown area",
        "A leg or an incident names an area code nobody created.";
    ResidualRiskContradictsMatrix = "residual_risk_contradicts_matrix", 422,
        "The residual risk contradicts the matrix",
        "The SRA's residual risk is not what its likelihood and impact give in the UN SRM matrix.";
    InvalidSraTransition = "invalid_sra_transition", 422, "Not allowed in this SRA state",
        "The SRA's state does not allow this step (e.g. endorsing a published SRA).";
    SraNotEndorsed = "sra_not_endorsed", 422, "The SRA is not endorsed",
        "The SRA needs the Security Management Team's endorsement first.";
    SraNotApproved = "sra_not_approved", 422, "The SRA is not approved",
        "The SRA needs the Designated Official's approval first.";
    SraOverlap = "sra_overlap", 422, "The SRA overlaps another",
        "The SRA's dates overlap a published SRA of the same area.";
    CommentRequired = "comment_required", 422, "A comment is required",
        "Rejecting or returning needs a comment.";
    WebhookTargetForbidden = "webhook_target_forbidden", 422, "Webhook target not allowed",
        "The webhook's URL is not https (outside development), does not resolve, or reaches an internal address (loopback, private, link-local or metadata, unique-local, multicast, unspecified) that `webhooks.allowed_targets` does not allow.";
    IdempotencyKeyReused = "idempotency_key_reused", 422, "Idempotency-Key reused",
        "The Idempotency-Key was used before with another method, path or body.";
    RateLimited = "rate_limited", 429, "Too many requests",
        "The caller's or address's quota is spent; retry after `Retry-After` seconds.";
    InternalError = "internal_error", 500, "Internal error",
        "An unexpected error; the request id in X-Request-Id finds it in the logs.";
    StoreUnavailable = "store_unavailable", 503, "Service unavailable",
        "The store could not be reached or refused the write: nothing was accepted; retry later.";
    StoreOutcomeUnknown = "store_outcome_unknown", 503, "Outcome unknown",
        "The store failed while committing (a failed flush of its log): the change may or may not be stored. Retry with the same Idempotency-Key: the retry returns what was stored instead of storing it twice.";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!((400..600).contains(&code.status()), "{code}");
        }
    }
}
