//! Turns a [`Problem`] into an `application/problem+json` response.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::http::problem::{Code, Problem};

#[derive(Serialize)]
struct Body<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(flatten)]
    extensions: &'a serde_json::Map<String, serde_json::Value>,
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let body = Body {
            r#type: self.type_uri(),
            title: self.code.title(),
            status: self.status(),
            detail: &self.detail,
            code: self.code.as_str(),
            field: self.field.as_deref(),
            extensions: &self.extensions,
        };
        let mut response = HttpResponse::build(self.status_code());
        response
            .content_type("application/problem+json")
            .insert_header((CACHE_CONTROL, "no-store"));
        if self.status() == 401 {
            let error = if self.code == Code::MissingToken {
                ""
            } else {
                ", error=\"invalid_token\""
            };
            response.insert_header((
                WWW_AUTHENTICATE,
                format!("Bearer realm=\"clearway\"{error}"),
            ));
        }
        if self.status() == 503 {
            response.insert_header((RETRY_AFTER, "5"));
        }
        let mut response = response.body(serde_json::to_string(&body).unwrap_or_default());
        // For middleware that must tell one failure from another (idempotency keys).
        response.extensions_mut().insert(self.code);
        response
    }
}
