//! `/v1/people`: the directory of whom the service writes to.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::{query_pairs, read_json};
use super::guard::{Guarded, ManagePeople};
use crate::app::people::PersonDraft;
use crate::auth::Caller;
use crate::domain::person::{EmailAddress, Language, Notifications, Person};
use crate::domain::request::OrgId;
use crate::http::problem::Problem;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PersonBody {
    name: String,
    email: String,
    /// `en` or `fr`: the language of their messages.
    language: String,
    /// The approval stages they decide (`hq`, `dg` in the default policy); none for a
    /// travel unit's desk or a traveller.
    #[serde(default)]
    stages: Vec<String>,
    /// A travel unit's desk: the organisation whose every request it hears of (leave it
    /// out for a traveller or an approver).
    #[serde(default)]
    follows_org: Option<String>,
    /// Immediate if left out.
    #[serde(default)]
    notifications: Option<Notifications>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PreferencesBody {
    #[serde(default)]
    notifications: Option<Notifications>,
    #[serde(default)]
    language: Option<String>,
}

/// An entry of the directory.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonView<'a> {
    /// The subject (`sub`) of their tokens.
    subject: &'a str,
    name: &'a str,
    email: &'a EmailAddress,
    language: Language,
    stages: &'a [String],
    follows_org: Option<&'a OrgId>,
    notifications: Notifications,
    updated_at: DateTime<Utc>,
    updated_by: &'a str,
}

impl<'a> From<&'a Person> for PersonView<'a> {
    fn from(p: &'a Person) -> Self {
        Self {
            subject: p.subject.as_str(),
            name: &p.name,
            email: &p.email,
            language: p.language,
            stages: &p.stages,
            follows_org: p.follows_org.as_ref(),
            notifications: p.notifications,
            updated_at: p.updated_at,
            updated_by: &p.updated_by,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct PeopleList<'a> {
    items: Vec<PersonView<'a>>,
}

/// List the people directory.
///
/// Everyone the service writes to, by subject; `stage` keeps those who decide it. `admin`.
#[utoipa::path(
    get, path = "/v1/people", tag = "people",
    params(("stage" = Option<String>, Query, description = "Only the approvers of this stage")),
    responses(
        (status = 200, description = "The entries", body = PeopleList),
        (status = 403, description = "forbidden"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Guarded<ManagePeople>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let pairs = query_pairs(&req, &["stage"])?;
    let stage = pairs
        .iter()
        .find(|(k, _)| k == "stage")
        .map(|(_, v)| v.as_str());
    let people = state.people.list(&caller, stage).await?;
    Ok(HttpResponse::Ok().json(PeopleList {
        items: people.iter().map(PersonView::from).collect(),
    }))
}

/// Add or replace a person.
///
/// Writes the whole entry of the person whose tokens carry `subject`: their address,
/// language, the stages they approve and how often they are written to. `admin`.
#[utoipa::path(
    put, path = "/v1/people/{subject}", tag = "people",
    params(("subject" = String, Path, description = "The subject (`sub`) of the person's tokens")),
    request_body = PersonBody,
    responses(
        (status = 200, description = "Replaced", body = PersonView),
        (status = 201, description = "Added", body = PersonView),
        (status = 403, description = "forbidden"),
        (status = 422, description = "invalid_email, unsupported_language"),
    ),
    security(("bearer" = []))
)]
pub async fn put(
    state: web::Data<AppState>,
    caller: Guarded<ManagePeople>,
    subject: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: PersonBody = read_json(&req, payload, &state.body).await?;
    let draft = PersonDraft {
        name: body.name,
        email: EmailAddress::parse("/email", &body.email)?,
        language: Language::parse("/language", &body.language)?,
        stages: body.stages,
        follows_org: body
            .follows_org
            .map(|o| OrgId::parse("/follows_org", &o))
            .transpose()?,
        notifications: body.notifications.unwrap_or(Notifications::Immediate),
    };
    let (person, created) = state.people.put(&caller, &subject, draft).await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(PersonView::from(&person)))
}

/// Read a person.
///
/// `admin`, or the person themselves (their token's subject).
#[utoipa::path(
    get, path = "/v1/people/{subject}", tag = "people",
    params(("subject" = String, Path, description = "The subject (`sub`) of the person's tokens")),
    responses(
        (status = 200, description = "The entry", body = PersonView),
        (status = 404, description = "not_found"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    subject: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let person = state.people.get(&caller, &subject).await?;
    Ok(HttpResponse::Ok().json(PersonView::from(&person)))
}

/// Remove a person.
///
/// They are written to no more; messages already planned still go. `admin`.
#[utoipa::path(
    delete, path = "/v1/people/{subject}", tag = "people",
    params(("subject" = String, Path, description = "The subject (`sub`) of the person's tokens")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "forbidden"),
        (status = 404, description = "not_found"),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Guarded<ManagePeople>,
    subject: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.people.remove(&caller, &subject).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set one's preferences.
///
/// How often (`immediate`, `daily_digest`, `off`) and in which language the person is
/// written to. The person themselves, or an `admin`.
#[utoipa::path(
    put, path = "/v1/people/{subject}/preferences", tag = "people",
    params(("subject" = String, Path, description = "The subject (`sub`) of the person's tokens")),
    request_body = PreferencesBody,
    responses(
        (status = 200, description = "The entry with its new preferences", body = PersonView),
        (status = 404, description = "not_found"),
        (status = 422, description = "unsupported_language"),
    ),
    security(("bearer" = []))
)]
pub async fn preferences(
    state: web::Data<AppState>,
    caller: Caller,
    subject: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body: PreferencesBody = read_json(&req, payload, &state.body).await?;
    let language = body
        .language
        .map(|l| Language::parse("/language", &l))
        .transpose()?;
    let person = state
        .people
        .set_preferences(&caller, &subject, body.notifications, language)
        .await?;
    Ok(HttpResponse::Ok().json(PersonView::from(&person)))
}
