//! `/check-in/{token}`: the page a personal link opens. One person answers "I am safe" or "I
//! need assistance" for themselves, without an account, on a phone over a poor connection:
//! a few kilobytes of HTML and the page's style sheet, a plain form, no script. The link's
//! signature (`domain::check_in_link`) is the only authority and grants nothing else.

use actix_web::http::header::{ACCEPT, ACCEPT_LANGUAGE, AUTHORIZATION};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::Deserialize;

use super::AppState;
use super::extract::{authenticate, read_limited};
use super::ui::{Strings, escape_html, standalone_page};
use crate::app::AppError;
use crate::domain::incident::{CheckState, Incident, IncidentStatus, RollEntry};
use crate::http::problem::Problem;

/// No script at all; the form posts back to this page only.
const CHECK_IN_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What a link opens, for a client that asks for JSON.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LinkView {
    incident: Incident,
    entry: RollEntry,
}

/// The form's fields: an object in the document, so that a generated client or a fuzzer
/// sends what the page's form sends.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CheckInForm {
    /// `safe` or `needs_assistance`.
    state: String,
    /// Anything the person wants known (at most 1000 characters).
    #[serde(default)]
    message: Option<String>,
    /// A number to call them back on.
    #[serde(default)]
    callback: Option<String>,
}

fn strings_for(req: &HttpRequest, entry: Option<&RollEntry>) -> Strings {
    match entry.and_then(|e| e.language) {
        Some(language) => Strings::for_accept_language(Some(language.as_str())),
        None => Strings::for_accept_language(
            req.headers()
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        ),
    }
}

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Open a personal check-in link.
///
/// The incident, the person's answer so far and a form to answer with: HTML (no script)
/// for a browser, JSON otherwise. Public: the link's signature is the authority; a link
/// this service did not make is not found.
#[utoipa::path(
    get, path = "/check-in/{token}", tag = "web page",
    params(("token" = String, Path, description = "The token of a personal check-in link")),
    responses(
        (status = 200, description = "The check-in page, or the entry",
            content((LinkView = "application/json"), (String = "text/html"))),
        (status = 404, description = "not_found"),
    )
)]
pub async fn show(
    state: web::Data<AppState>,
    token: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let found = state.incidents.by_link(&token).await?;
    if !wants_html(&req) {
        let (incident, entry) = found.ok_or_else(Problem::not_found)?;
        return Ok(HttpResponse::Ok().json(LinkView { incident, entry }));
    }
    let strings = strings_for(&req, found.as_ref().map(|(_, e)| e));
    Ok(match found {
        Some((incident, entry)) => page(
            HttpResponse::Ok(),
            &strings,
            &body(&incident, &entry, &strings, None, None),
        ),
        None => unknown(&strings),
    })
}

/// Answer through a personal link.
///
/// A form post (`application/x-www-form-urlencoded`: `state`, optional `message` and
/// `callback`) answers for the link's person only. Sent with a bearer token of someone
/// else, it is refused (`check_in_not_yours`). A browser gets the page again with the
/// answer recorded, or the error; other clients get the entry or a problem.
#[utoipa::path(
    post, path = "/check-in/{token}", tag = "web page",
    params(("token" = String, Path, description = "The token of a personal check-in link")),
    request_body(content_type = "application/x-www-form-urlencoded", content = CheckInForm),
    responses(
        (status = 200, description = "Recorded", content((RollEntry = "application/json"), (String = "text/html"))),
        (status = 403, description = "check_in_not_yours"),
        (status = 404, description = "not_found"),
        (status = 409, description = "incident_closed"),
        (status = 415, description = "unsupported_media_type"),
        (status = 422, description = "invalid_field"),
    )
)]
pub async fn answer(
    state: web::Data<AppState>,
    token: web::Path<String>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let html = wants_html(&req);
    // A link this service did not make names nothing, whatever is sent with it.
    if state.incidents.by_link(&token).await?.is_none() {
        return if html {
            Ok(unknown(&strings_for(&req, None)))
        } else {
            Err(Problem::not_found())
        };
    }
    let is_form = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(Problem::unsupported_media_type());
    }
    let raw = read_limited(&mut payload, &state.body, 1024).await?;
    // Signed in as someone: it must be the link's person.
    let signed_in = if req.headers().contains_key(AUTHORIZATION) {
        Some(authenticate(&req).await?)
    } else {
        None
    };
    let form: Result<CheckInForm, _> = serde_urlencoded::from_bytes(&raw);
    let outcome = match form {
        Ok(form) => {
            state
                .incidents
                .answer_by_link(
                    &token,
                    signed_in.as_ref(),
                    &form.state,
                    form.message.as_deref(),
                    form.callback.as_deref(),
                )
                .await
        }
        Err(_) => Err(AppError::invalid_field(
            "/state",
            "the form needs `state`: `safe` or `needs_assistance`",
        )),
    };
    if !html {
        return Ok(HttpResponse::Ok().json(outcome?));
    }
    let found = state.incidents.by_link(&token).await?;
    let strings = strings_for(&req, found.as_ref().map(|(_, e)| e));
    let Some((incident, entry)) = found else {
        return Ok(unknown(&strings));
    };
    Ok(match outcome {
        Ok(entry) => page(
            HttpResponse::Ok(),
            &strings,
            &body(&incident, &entry, &strings, Some(true), None),
        ),
        Err(error) => {
            let status = actix_web::http::StatusCode::from_u16(error.code.status())
                .unwrap_or(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
            page(
                HttpResponse::build(status),
                &strings,
                &body(&incident, &entry, &strings, None, Some(&error)),
            )
        }
    })
}

fn unknown(s: &Strings) -> HttpResponse {
    let body = format!(
        r#"<p class="verdict invalid" data-testid="verdict">{}</p>"#,
        escape_html(s.get("checkin.unknown"))
    );
    page(HttpResponse::NotFound(), s, &body)
}

/// A page around `body`, in the reader's language, no script.
fn page(status: HttpResponseBuilder, s: &Strings, body: &str) -> HttpResponse {
    standalone_page(status, s, "checkin.title", CHECK_IN_POLICY, body)
}

fn body(
    incident: &Incident,
    entry: &RollEntry,
    s: &Strings,
    recorded: Option<bool>,
    error: Option<&AppError>,
) -> String {
    let e = |key: &str| escape_html(s.get(key));
    let areas = incident
        .areas
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let started = incident.started_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut html = format!(
        r#"<p>{hello}</p>
<dl class="facts">
<dt>{what}</dt><dd data-testid="incident">{description}</dd>
<dt>{where_}</dt><dd>{areas}</dd>
<dt>{when}</dt><dd>{started}</dd>
</dl>
"#,
        hello = escape_html(&s.fill("checkin.hello", &[("name", &entry.traveller_name)])),
        what = e("checkin.what"),
        description = escape_html(&incident.description),
        where_ = e("checkin.where"),
        areas = escape_html(&areas),
        when = e("checkin.when"),
    );
    if !entry.dependants.is_empty() {
        let names: Vec<&str> = entry.dependants.iter().map(|d| d.name.as_str()).collect();
        html.push_str(&format!(
            "<p data-testid=\"dependants\">{}</p>\n",
            escape_html(&s.fill("checkin.dependants", &[("names", &names.join(", "))]))
        ));
    }
    if let Some(error) = error {
        let why = match error.code {
            crate::error_code::Code::IncidentClosed => s.get("checkin.closed").to_owned(),
            crate::error_code::Code::CheckInNotYours => s.get("checkin.not_yours").to_owned(),
            _ => error.detail.clone(),
        };
        html.push_str(&format!(
            r#"<p class="verdict invalid" role="alert" data-testid="error">{}</p>
"#,
            escape_html(&why)
        ));
    }
    if entry.state != CheckState::NoAnswer {
        let key = format!("checkin.state.{}", entry.state.as_str());
        let when = entry
            .answered_at
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let class = if entry.state == CheckState::Safe {
            "valid"
        } else {
            "invalid"
        };
        let lead = if recorded == Some(true) {
            e("checkin.thanks")
        } else {
            e("checkin.answered")
        };
        html.push_str(&format!(
            r#"<p class="verdict {class}" role="status" data-testid="answer"><strong>{lead}</strong> {state} ({when})</p>
"#,
            state = e(&key),
        ));
    }
    if incident.status == IncidentStatus::Closed {
        html.push_str(&format!(
            r#"<p class="hint" data-testid="closed">{}</p>
"#,
            e("checkin.closed")
        ));
        return html;
    }
    let change = if entry.state == CheckState::NoAnswer {
        String::new()
    } else {
        format!("<p class=\"hint\">{}</p>\n", e("checkin.change"))
    };
    html.push_str(&format!(
        r#"{change}<form method="post">
<p><label for="message">{message}</label><br>
<textarea id="message" name="message" rows="3" maxlength="1000"></textarea></p>
<p><label for="callback">{callback}</label><br>
<input id="callback" name="callback" type="tel" autocomplete="tel" maxlength="32"></p>
<p><button type="submit" name="state" value="safe" data-testid="safe">{safe}</button>
<button type="submit" name="state" value="needs_assistance" data-testid="help">{help}</button></p>
</form>
"#,
        message = e("checkin.message"),
        callback = e("checkin.callback"),
        safe = e("checkin.safe"),
        help = e("checkin.help"),
    ));
    html
}
