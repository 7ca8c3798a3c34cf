//! `Idempotency-Key`: a client that retries a POST, PATCH or DELETE with the same key gets
//! the first response again (status and body) instead of a second action. Keys belong to the
//! caller, live in the store (so a retry that reaches another instance is recognised) and
//! expire after `idempotency.window_secs`.

use serde::Deserialize;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{CONTENT_TYPE, LOCATION};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::AppState;
use super::extract::{authenticate, read_limited};
use crate::auth::Caller;
use crate::http::problem::{Code, Problem};
use crate::store::{IdempotencyClaim, IdempotencyKey, StoredResponse};

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    /// How long a key is remembered; a retry after that is a new request.
    pub window_secs: i64,
}

const HEADER: &str = "idempotency-key";
/// Marks a response that was replayed rather than produced again.
const REPLAYED: &str = "idempotent-replayed";
/// A first attempt still unfinished after this long died with its instance (requests time
/// out after seconds): a retry may take the key over.
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// How long a retry waits for a first attempt still in progress before answering 409.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(5);

/// The id a request created under the caller's `Idempotency-Key` must take (see
/// `IdempotencyClaim::Proceed`); handlers that create one read it from the request's
/// extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClaimedRequestId(pub uuid::Uuid);

pub async fn idempotent(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let changes_state = matches!(*req.method(), Method::POST | Method::PATCH | Method::DELETE);
    let header = req.headers().get(HEADER).filter(|_| changes_state).cloned();
    let Some(header) = header else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(key) = header
        .to_str()
        .ok()
        .filter(|k| acceptable(k))
        .map(str::to_owned)
    else {
        return Ok(req.error_response(
            Problem::new(
                Code::InvalidIdempotencyKey,
                "use 1 to 255 visible ASCII characters, such as a UUID",
            )
            .at("Idempotency-Key"),
        ));
    };
    // Without a valid token there is nothing to remember: the handler refuses the request.
    let Ok(caller) = authenticate(req.request()).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(Problem::internal()));
    };
    let body = match read_limited(&mut req.take_payload(), &state.body, 1024).await {
        Ok(body) => body,
        Err(problem) => return Ok(req.error_response(problem)),
    };
    let key = IdempotencyKey {
        subject: owner(&caller),
        roles: caller
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(","),
        key,
        fingerprint: fingerprint(req.method(), &req.uri().to_string(), &body),
    };
    req.set_payload(Payload::from(body));
    match claim(&state, &key).await {
        Ok(IdempotencyClaim::Proceed { request_id }) => {
            req.extensions_mut().insert(ClaimedRequestId(request_id));
        }
        Ok(IdempotencyClaim::Replay(stored)) => return Ok(req.into_response(replay(stored))),
        Ok(IdempotencyClaim::Mismatch) => {
            return Ok(req.error_response(
                Problem::new(
                    Code::IdempotencyKeyReused,
                    "this key came with a different method, path or body; use a new key for a new request",
                )
                .at("Idempotency-Key"),
            ));
        }
        Ok(IdempotencyClaim::RolesWithdrawn) => {
            return Ok(req.error_response(Problem::forbidden(
                "this key's first request was made with a role your token no longer holds",
            )));
        }
        Ok(IdempotencyClaim::InProgress) => {
            return Ok(req.error_response(
                Problem::new(
                    Code::IdempotencyKeyInProgress,
                    "the first request with this key is still being processed; retry shortly",
                )
                .at("Idempotency-Key"),
            ));
        }
        Err(e) => return Ok(req.error_response(Problem::from(e))),
    }
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(e) => {
            release(&state, &key).await;
            return Err(e);
        }
    };
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        release(&state, &key).await;
        return Err(Problem::internal().into());
    };
    if head.extensions().get::<Code>() == Some(&Code::StoreOutcomeUnknown) {
        // Perhaps stored: the key stays claimed with its request id, so that the retry (after
        // a restart, or once the claim is abandoned) writes the same request and finds it.
    } else if head.status().is_server_error() {
        // Nothing was accepted: the retry must be able to try again.
        release(&state, &key).await;
    } else {
        let header = |name| {
            head.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let stored = StoredResponse {
            status: head.status().as_u16(),
            content_type: header(CONTENT_TYPE),
            location: header(LOCATION),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        if let Err(e) = state
            .idempotency_keys
            .complete_idempotency_key(&key, &stored)
            .await
        {
            // The action is done and is answered; a retry waits until the key is abandoned.
            tracing::warn!(error = %e, "could not record the response for an idempotency key");
        }
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(BoxBody::new(bytes)),
    ))
}

/// Whom a key belongs to: a subject is unique only within its organisation (a subject cannot
/// hold a control character, so the line break cannot be forged).
fn owner(caller: &Caller) -> String {
    match &caller.org {
        Some(org) => format!("{}\n{}", org.as_str(), caller.subject),
        None => caller.subject.clone(),
    }
}

fn acceptable(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// What makes two requests the same request: method, path with query, and body.
fn fingerprint(method: &Method, uri: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update(b" ");
    hash.update(uri);
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Claims the key; a first attempt still in progress is waited for (it usually finishes in
/// milliseconds), so that concurrent retries all get its response.
async fn claim(
    state: &AppState,
    key: &IdempotencyKey,
) -> Result<IdempotencyClaim, crate::store::StoreError> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        let now = Utc::now();
        // A sole instance knows that claims older than itself were left by a process that
        // has ended (killed, or restarted after a failed commit).
        let abandoned_before =
            (now - ABANDONED_AFTER).max(state.sole_instance_since.unwrap_or_default());
        let claim = state
            .idempotency_keys
            .claim_idempotency_key(key, now, now - state.idempotency_window, abandoned_before)
            .await?;
        if claim != IdempotencyClaim::InProgress || tokio::time::Instant::now() >= deadline {
            return Ok(claim);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn release(state: &AppState, key: &IdempotencyKey) {
    if let Err(e) = state.idempotency_keys.release_idempotency_key(key).await {
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(stored.status)
        .unwrap_or(actix_web::http::StatusCode::OK);
    let mut response = HttpResponse::build(status);
    if let Some(content_type) = stored.content_type {
        response.insert_header((CONTENT_TYPE, content_type));
    }
    if let Some(location) = stored.location {
        response.insert_header((LOCATION, location));
    }
    response.insert_header((REPLAYED, "true")).body(stored.body)
}
