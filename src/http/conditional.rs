//! Entity tags (RFC 9110 §8.8.3) and `If-Match` (§13.1.1). A request's tag is its version,
//! `"v3"`: its representation is a function of the stored record, which changes only with
//! the version, so the tag is strong. Other single resources (an area, an SRA, a
//! re-screening) are tagged by a hash of the body sent.

use actix_web::http::header::{ETAG, IF_MATCH};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::app::precondition::Expected;
use crate::http::problem::{Code, Problem};

/// The strong entity tag of a request at `version`.
pub fn version_tag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Sets the request's `ETag` on a response about to be built.
pub fn tagged(mut builder: HttpResponseBuilder, version: i64) -> HttpResponseBuilder {
    builder.insert_header((ETAG, version_tag(version)));
    builder
}

/// 200 with the JSON of `value` and a strong `ETag` from its bytes.
pub fn json_tagged_by_content(value: &impl Serialize) -> Result<HttpResponse, Problem> {
    let body = serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "writing a response body");
        Problem::internal()
    })?;
    let digest = Sha256::digest(&body);
    let tag = format!("\"h{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    Ok(HttpResponse::Ok()
        .insert_header((ETAG, tag))
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// The versions `If-Match` names. Weak tags never match under the strong comparison
/// If-Match asks for, and neither do tags this service never issued: both are kept as
/// "no version", which fails the precondition (412) rather than being ignored.
pub fn if_match(req: &HttpRequest) -> Result<Expected, Problem> {
    let mut values = req.headers().get_all(IF_MATCH).peekable();
    if values.peek().is_none() {
        return Ok(Expected::Any);
    }
    let invalid = |why: &str| {
        Problem::new(
            Code::InvalidIfMatch,
            format!("If-Match {why}: send `*` or the ETag of what you read, e.g. \"v3\""),
        )
        .at("If-Match")
    };
    let mut any = false;
    let mut versions = Vec::new();
    let mut tags = 0;
    for value in values {
        let mut rest = value.as_bytes();
        loop {
            rest = rest.trim_ascii_start();
            let Some((&first, after)) = rest.split_first() else {
                break;
            };
            match first {
                b',' => rest = after,
                b'*' => {
                    any = true;
                    rest = after;
                }
                _ => {
                    let (weak, quoted) = match rest.strip_prefix(b"W/") {
                        Some(tail) => (true, tail),
                        None => (false, rest),
                    };
                    let (opaque, after) = opaque_tag(quoted)
                        .ok_or_else(|| invalid("holds something that is not an entity tag"))?;
                    tags += 1;
                    let version = std::str::from_utf8(opaque)
                        .ok()
                        .and_then(|t| t.strip_prefix('v'))
                        .and_then(|n| n.parse::<i64>().ok());
                    if let (false, Some(version)) = (weak, version) {
                        versions.push(version);
                    }
                    rest = after;
                }
            }
        }
    }
    match (any, tags) {
        (true, 0) => Ok(Expected::Any),
        (true, _) => Err(invalid("mixes `*` with entity tags")),
        (false, 0) => Err(invalid("is empty")),
        (false, _) => Ok(Expected::Versions(versions)),
    }
}

/// `"` *etagc `"` at the start of `input`: the tag's characters and what follows.
fn opaque_tag(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = input.strip_prefix(b"\"")?;
    let end = body.iter().position(|&b| b == b'"')?;
    let (tag, after) = (&body[..end], &body[end + 1..]);
    // etagc = %x21 / %x23-7E / obs-text: visible characters other than `"`, no spaces.
    tag.iter()
        .all(|&b| b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80)
        .then_some((tag, after))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn parse(values: &[&str]) -> Result<Expected, Code> {
        let mut req = TestRequest::default();
        for v in values {
            req = req.append_header((IF_MATCH, *v));
        }
        if_match(&req.to_http_request()).map_err(|p| p.code)
    }

    #[test]
    fn if_match_reads_the_forms_rfc_9110_allows() {
        assert_eq!(parse(&[]), Ok(Expected::Any));
        assert_eq!(parse(&["*"]), Ok(Expected::Any));
        assert_eq!(parse(&["\"v3\""]), Ok(Expected::Versions(vec![3])));
        assert_eq!(
            parse(&["\"v3\", \"v4\"", "\"v9\""]),
            Ok(Expected::Versions(vec![3, 4, 9]))
        );
        // Weak and foreign tags are valid syntax that never matches.
        assert_eq!(
            parse(&["W/\"v3\", \"x,y\""]),
            Ok(Expected::Versions(vec![]))
        );
        for bad in ["v3", "\"v3", "\"v 3\"", "*, \"v3\"", " , "] {
            assert_eq!(parse(&[bad]), Err(Code::InvalidIfMatch), "{bad}");
        }
    }
}
