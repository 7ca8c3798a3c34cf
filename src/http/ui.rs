//! The web page (`/`, `/app.js`, `/app.css`), embedded in the binary so it works offline and
//! needs no CDN, and the development sign-in (`POST /dev/token`). The page calls the same
//! JSON API travel units use, with the caller's bearer token.

use actix_web::body::MessageBody;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::read_json;
use crate::auth::{Role, issue_development_token};
use crate::domain::request::OrgId;
use crate::http::problem::Problem;
use serde_json::{Map, Value};
use std::sync::OnceLock;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");
const WORLD: &str = include_str!("ui/map/world.svg");

// `LANGUAGES`: every file of `ui/i18n/`, embedded by build.rs.
include!(concat!(env!("OUT_DIR"), "/languages.rs"));

/// Scripts, styles and fetches from this origin only; nothing inline, nothing framed.
pub(super) const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' blob: data:; form-action 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

fn asset(content_type: &str, body: impl MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((CONTENT_SECURITY_POLICY, PAGE_POLICY))
        // Embedded: a new binary may bring new assets, so browsers check back each time.
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The web page.
///
/// The single page for travellers, travel units, approvers and analysts, served from the
/// binary (no CDN). It calls this API with the signed-in person's token.
#[utoipa::path(
    get, path = "/", tag = "web page",
    responses((status = 200, description = "The web page for travellers, approvers and analysts", content_type = "text/html", body = String))
)]
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    let environment = if state.dev_tokens.is_some() {
        "development"
    } else {
        "production"
    };
    asset(
        "text/html; charset=utf-8",
        INDEX
            .replace("{{ENVIRONMENT}}", environment)
            .replace("{{LANGUAGES}}", language_options()),
    )
}

/// The language picker's options, each language named in itself.
fn language_options() -> &'static str {
    // Built once from the files parsed once (`parsed`), not on every page load.
    static OPTIONS: OnceLock<String> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        parsed()
            .iter()
            .map(|(tag, strings)| {
                let name = strings
                    .get("language.name")
                    .and_then(Value::as_str)
                    .map_or_else(|| (*tag).to_owned(), escape_html);
                format!(r#"<option value="{tag}" lang="{tag}">{name}</option>"#)
            })
            .collect()
    })
}

pub(super) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page's words in one language, for what the server renders itself (the verification
/// page); English fills any key the language lacks.
pub struct Strings {
    tag: &'static str,
    own: &'static Map<String, Value>,
    english: &'static Map<String, Value>,
}

fn parsed() -> &'static [(&'static str, Map<String, Value>)] {
    static PARSED: OnceLock<Vec<(&'static str, Map<String, Value>)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|(tag, text)| (*tag, serde_json::from_str(text).unwrap_or_default()))
            .collect()
    })
}

impl Strings {
    /// The best language of an `Accept-Language` header (RFC 9110: by weight, then order)
    /// among those offered, else English.
    pub fn for_accept_language(header: Option<&str>) -> Self {
        let mut wanted: Vec<(f32, &str)> = header
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let range = parts.next()?.trim();
                // Parameter names are case-insensitive (RFC 9110, 5.6.6).
                let weight = parts
                    .find_map(|p| {
                        let (name, value) = p.split_once('=')?;
                        name.trim().eq_ignore_ascii_case("q").then_some(value)
                    })
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (weight > 0.0).then_some((weight, range))
            })
            .collect();
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
        let languages = parsed();
        let chosen = wanted.iter().find_map(|(_, range)| {
            let primary = range.split('-').next()?.to_ascii_lowercase();
            languages.iter().position(|(tag, _)| *tag == primary)
        });
        let english = languages
            .iter()
            .position(|(tag, _)| *tag == "en")
            .unwrap_or(0);
        let (tag, own) = &languages[chosen.unwrap_or(english)];
        Self {
            tag,
            own,
            english: &languages[english].1,
        }
    }

    pub fn language(&self) -> &'static str {
        self.tag
    }

    /// The text of `key`; the key itself where no language has it.
    pub fn get<'a>(&self, key: &'a str) -> &'a str {
        [self.own, self.english]
            .iter()
            .find_map(|m| m.get(key).and_then(Value::as_str))
            .unwrap_or(key)
    }

    /// `get`, with each `{name}` replaced by its value.
    pub fn fill(&self, key: &str, params: &[(&str, &str)]) -> String {
        params
            .iter()
            .fold(self.get(key).to_owned(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), value)
            })
    }
}

/// The language tags the page offers, for the API description.
pub fn language_tags() -> Vec<&'static str> {
    LANGUAGES.iter().map(|(tag, _)| *tag).collect()
}

/// The page's words in one language.
///
/// Every string the web page shows, in the language `language` names (`en`, `fr`, ...):
/// plain keys to text, `{name}` placeholders, plural forms as `one`/`other`. Public: the
/// page loads it before anyone signs in.
#[utoipa::path(
    get, path = "/i18n/{language}", tag = "web page",
    params(("language" = String, Path, description = "A language tag the page offers")),
    responses(
        (status = 200, description = "The page's strings in that language", content_type = "application/json", body = Object),
        (status = 404, description = "not_found"),
    )
)]
pub async fn strings(language: web::Path<String>) -> Result<HttpResponse, Problem> {
    let (_, strings) = LANGUAGES
        .iter()
        .find(|(tag, _)| *tag == language.as_str())
        .ok_or_else(Problem::not_found)?;
    Ok(asset("application/json", *strings))
}

/// The page's script.
///
/// Served from the binary, with the page's content security policy.
#[utoipa::path(
    get, path = "/app.js", tag = "web page",
    responses((status = 200, description = "The page's script", content_type = "text/javascript", body = String))
)]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The page's style sheet.
///
/// Served from the binary, with the page's content security policy.
#[utoipa::path(
    get, path = "/app.css", tag = "web page",
    responses((status = 200, description = "The page's style sheet", content_type = "text/css", body = String))
)]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// The map's base layer.
///
/// Natural Earth's 1:110m land and country borders (public domain), in plate carrée degrees
/// (x = longitude, y = -latitude), served from the binary so the map works offline.
#[utoipa::path(
    get, path = "/map/world.svg", tag = "web page",
    responses((status = 200, description = "Land and country borders as SVG paths", content_type = "image/svg+xml", body = String))
)]
pub async fn world() -> HttpResponse {
    asset("image/svg+xml", WORLD)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DevTokenBody {
    sub: String,
    roles: Vec<String>,
    #[serde(default)]
    org: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DevToken {
    token: String,
}

/// Development sign-in.
///
/// A short-lived token for any subject, roles and organisation, signed with the development
/// key. It exists only with `CLEARWAY_ENV=development`; in any other environment it answers
/// 404 like any unknown path.
#[utoipa::path(
    post, path = "/dev/token", tag = "web page",
    request_body = DevTokenBody,
    responses(
        (status = 200, description = "A development token (HS256, `auth.dev_token_ttl_minutes`)", body = DevToken),
        (status = 404, description = "not_found"),
    )
)]
pub async fn dev_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let Some(auth) = &state.dev_tokens else {
        return Err(Problem::not_found());
    };
    let body: DevTokenBody = read_json(&req, payload, &state.body).await?;
    let sub = crate::domain::bounded_text("/sub", &body.sub, 100)?;
    let mut roles = Vec::with_capacity(body.roles.len());
    for (i, raw) in body.roles.iter().enumerate() {
        let role = raw
            .parse::<Role>()
            .map_err(|_| Problem::invalid_field(format!("/roles/{i}"), "not a role"))?;
        roles.push(role);
    }
    if roles.is_empty() || roles.len() > Role::ALL.len() {
        return Err(Problem::invalid_field(
            "/roles",
            format!("name 1 to {} roles", Role::ALL.len()),
        ));
    }
    // The page sends "" for "no organisation".
    let org = body
        .org
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(|o| OrgId::parse("/org", o))
        .transpose()?;
    let org = org.as_ref().map(OrgId::as_str);
    let token = issue_development_token(auth, &sub, &roles, org, auth.dev_token_ttl_minutes)
        .map_err(|e| Problem::invalid_field("/org", e.to_string()))?;
    Ok(HttpResponse::Ok().json(DevToken { token }))
}

/// A page of its own (a printed clearance's verdict, a check-in) around `body`: the reader's
/// language, the page's style sheet, `title_key`'s words as title and heading, and `policy`
/// as its content security policy. It runs no script.
pub(super) fn standalone_page(
    mut status: actix_web::HttpResponseBuilder,
    s: &Strings,
    title_key: &str,
    policy: &str,
    body: &str,
) -> HttpResponse {
    let title = escape_html(s.get(title_key));
    status
        .content_type("text/html; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_SECURITY_POLICY,
            policy.to_owned(),
        ))
        .body(format!(
            r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<main id="main">
<h1>{title}</h1>
{body}</main>
</body>
</html>
"#,
            lang = s.language(),
        ))
}

#[cfg(test)]
mod tests {
    use super::LANGUAGES;
    use crate::domain::policy::DecisionCode;
    use crate::error_code::Code;
    use serde_json::{Map, Value};
    use std::collections::BTreeSet;

    fn strings(tag: &str) -> Map<String, Value> {
        let (_, text) = LANGUAGES
            .iter()
            .find(|(t, _)| *t == tag)
            .unwrap_or_else(|| panic!("no {tag}.json"));
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            other => panic!("{tag}.json is not a JSON object: {other:?}"),
        }
    }

    /// The `{name}` placeholders of a string, or of every plural form of one.
    fn placeholders(value: &Value) -> BTreeSet<String> {
        let texts: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Object(forms) => forms.values().filter_map(Value::as_str).collect(),
            _ => panic!("a string is text or plural forms: {value}"),
        };
        texts
            .iter()
            .flat_map(|t| t.split('{').skip(1))
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    // Exhaustive: a new decision code fails to compile here until it is listed.
    fn decision_codes() -> Vec<String> {
        use DecisionCode::*;
        let all = [
            WithinAcceptedRisk,
            EscalationRequired,
            NoSraInForce,
            AreaSuspended,
            AreaInIncident,
            AirsideTransit,
            AirOperatorNotAssessed,
            AirOperatorRestricted,
            HeadcountApprovalRequired,
            BsafeMissing,
            SsafeMissing,
            MissionSraRequired,
            RiskExceedsProgrammeCriticality,
            UnacceptableRisk,
        ];
        for code in all {
            match code {
                WithinAcceptedRisk
                | EscalationRequired
                | NoSraInForce
                | AreaSuspended
                | AreaInIncident
                | AirsideTransit
                | AirOperatorNotAssessed
                | AirOperatorRestricted
                | HeadcountApprovalRequired
                | BsafeMissing
                | SsafeMissing
                | MissionSraRequired
                | RiskExceedsProgrammeCriticality
                | UnacceptableRisk => {}
            }
        }
        all.iter()
            .map(|c| match serde_json::to_value(c) {
                Ok(Value::String(s)) => s,
                other => panic!("a decision code serialises as a string: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn english_and_french_are_offered() {
        let tags: Vec<&str> = LANGUAGES.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, ["en", "fr"]);
    }

    #[test]
    fn english_words_every_decision_code() {
        let en = strings("en");
        for code in decision_codes() {
            for key in [format!("code.{code}"), format!("reason.{code}")] {
                assert!(en.contains_key(&key), "en.json lacks {key}");
            }
        }
    }

    /// Every language says everything English says, with the same placeholders, and words
    /// every problem code (English shows the service's own title and detail instead).
    #[test]
    fn every_language_is_complete() {
        let en = strings("en");
        for (tag, _) in LANGUAGES.iter().filter(|(t, _)| *t != "en") {
            let other = strings(tag);
            for (key, value) in &en {
                let translated = other
                    .get(key)
                    .unwrap_or_else(|| panic!("{tag}.json lacks {key}"));
                assert_eq!(
                    placeholders(translated),
                    placeholders(value),
                    "{tag}.json: {key} has other placeholders than en.json"
                );
                if let Value::Object(forms) = translated {
                    assert!(
                        forms.contains_key("other"),
                        "{tag}.json: {key} has no `other` form"
                    );
                }
            }
            for code in Code::ALL {
                let key = format!("error.{}", code.as_str());
                assert!(other.contains_key(&key), "{tag}.json lacks {key}");
            }
            for key in other.keys() {
                assert!(
                    en.contains_key(key) || key.starts_with("error."),
                    "{tag}.json has {key}, which en.json does not: a typo?"
                );
            }
        }
    }
}
