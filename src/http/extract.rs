//! Getting typed input out of a request: the caller from its token, a JSON body with the
//! field at fault named, and query parameters.

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::{AppState, BodyLimits};
use crate::auth::{AuthError, Caller};
use crate::http::problem::Problem;

impl FromRequest for Caller {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Caller, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// What authenticating a request found, kept in its extensions.
#[derive(Clone)]
struct Authenticated(Result<Caller, AuthError>);

/// The caller behind the request's token. Verified once per request, refused or not: the
/// middleware that needs the caller first (rate limits, idempotency) leaves the outcome for
/// the handler.
pub(crate) async fn authenticate(req: &HttpRequest) -> Result<Caller, Problem> {
    let known = req.extensions().get::<Authenticated>().cloned();
    if let Some(Authenticated(outcome)) = known {
        return outcome.map_err(Problem::from);
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(Problem::internal)?;
    let outcome = match bearer_token(req) {
        Ok(token) => state.verifier.verify(&token).await,
        Err(refused) => Err(refused),
    };
    req.extensions_mut().insert(Authenticated(outcome.clone()));
    outcome.map_err(Problem::from)
}

fn bearer_token(req: &HttpRequest) -> Result<String, AuthError> {
    // A token in a URL ends up in proxy and browser logs: refuse it even beside a header,
    // so an integration that sends one learns at once (RFC 6750 section 5.3).
    let in_query = req
        .query_string()
        .split('&')
        .any(|pair| pair.split('=').next() == Some("access_token"));
    if in_query {
        return Err(AuthError::Invalid(
            "tokens are accepted only in the Authorization header, never in the URL".into(),
        ));
    }
    let header = req.headers().get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = header
        .to_str()
        .map_err(|_| AuthError::Invalid("the Authorization header is not text".into()))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(AuthError::Invalid(
                "expected `Authorization: Bearer <token>`".into(),
            ));
        }
    };
    Ok(token.to_owned())
}

/// Reads a JSON body of at most `limit` bytes into `T`, naming the field at fault on error.
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limits: &BodyLimits,
) -> Result<T, Problem> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(Problem::unsupported_media_type());
    }
    // Refuse a declared oversize body before reading any of it.
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(Problem::payload_too_large(limits.max_bytes));
    }
    let body = read_limited(&mut payload, limits, declared.unwrap_or(1024)).await?;
    parse_json(&body)
}

/// Reads a body of at most `limits.max_bytes`, refusing it (413) as soon as it grows past,
/// and (408) once it has taken longer than `limits.timeout`: a client that declares a length
/// and then trickles or stops must not hold a connection and a task for ever.
pub(crate) async fn read_limited(
    payload: &mut (impl Stream<Item = Result<web::Bytes, PayloadError>> + Unpin),
    limits: &BodyLimits,
    expected: usize,
) -> Result<web::Bytes, Problem> {
    let limit = limits.max_bytes;
    let read = async {
        let mut body = web::BytesMut::with_capacity(expected.min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| Problem::malformed_json(format!("the body could not be read: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(Problem::payload_too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(limits.timeout, read)
        .await
        .unwrap_or_else(|_| Err(Problem::request_timeout(limits.timeout)))
}

/// Parses JSON; a syntax error is a 400, a value that does not fit the schema a 422 naming
/// the field by JSON pointer.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    Ok(crate::app::json_input::parse_json(body)?)
}

/// Query parameters as pairs, refusing names the endpoint does not know: a misspelt
/// filter must not silently return everything.
pub fn query_pairs(req: &HttpRequest, known: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).map_err(|e| {
            Problem::invalid_query("query", format!("the query string is malformed: {e}"))
        })?;
    if let Some((name, _)) = pairs
        .iter()
        .find(|(name, _)| !known.contains(&name.as_str()))
    {
        return Err(Problem::invalid_query(
            name.clone(),
            format!("unknown query parameter; known: {}", known.join(", ")),
        ));
    }
    Ok(pairs)
}

/// The RFC 8288 `Link` to the next page: this request's path and query with `cursor` set.
pub fn next_page_link(req: &HttpRequest, cursor: &str) -> Option<(&'static str, String)> {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    pairs.retain(|(name, _)| name != "cursor");
    pairs.push(("cursor".into(), cursor.to_owned()));
    let query = serde_urlencoded::to_string(&pairs).ok()?;
    Some(("Link", format!("<{}?{query}>; rel=\"next\"", req.path())))
}

/// Lists answer 50 items unless asked otherwise, and never more than this.
pub const MAX_PAGE: u32 = 200;
pub const DEFAULT_PAGE: u32 = 50;

/// The `limit` query parameter: a whole number from 1 to [`MAX_PAGE`].
pub fn page_limit(value: &str) -> Result<u32, Problem> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .ok_or_else(|| {
            Problem::invalid_query(
                "limit",
                format!("limit is a whole number from 1 to {MAX_PAGE}"),
            )
        })
}
