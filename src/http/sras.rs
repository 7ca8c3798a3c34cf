//! `/v1/sras`: publish a Security Risk Assessment, list them.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::{query_pairs, read_json};
use crate::auth::{Caller, Role};
use crate::domain::area::AreaCode;
use crate::domain::risk::RiskLevel;
use crate::domain::sra::{Sra, SraInput, Threat};
use crate::problem::Problem;

/// The SRA as `POST /v1/sras` takes it; `clearway sra import` files hold the same objects.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SraBody {
    area: String,
    version: i64,
    effective_from: NaiveDate,
    review_due: NaiveDate,
    security_level: i64,
    #[serde(default)]
    residual_risk: Option<RiskLevel>,
    #[serde(default)]
    threats: Vec<ThreatBody>,
    #[serde(default)]
    mandatory_measures: Vec<String>,
    #[serde(default)]
    requires_ssafe: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThreatBody {
    name: String,
    likelihood: crate::domain::risk::Likelihood,
    impact: crate::domain::risk::Impact,
}

impl SraBody {
    pub fn into_input(self) -> Result<SraInput, Problem> {
        Ok(SraInput {
            area: AreaCode::parse("/area", &self.area)?,
            version: self.version,
            effective_from: self.effective_from,
            review_due: self.review_due,
            security_level: self.security_level,
            residual_risk: self.residual_risk,
            threats: self
                .threats
                .into_iter()
                .map(|t| Threat {
                    name: t.name,
                    likelihood: t.likelihood,
                    impact: t.impact,
                })
                .collect(),
            mandatory_measures: self.mandatory_measures,
            requires_ssafe: self.requires_ssafe,
        })
    }
}

const READERS: [Role; 4] = [
    Role::SecurityAnalyst,
    Role::Admin,
    Role::ApproverHq,
    Role::ApproverDg,
];

pub async fn publish(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    if !caller.has(Role::SecurityAnalyst) {
        return Err(Problem::forbidden(
            "publishing SRAs requires the security-analyst role",
        ));
    }
    let body: SraBody = read_json(&req, payload, state.max_body_bytes).await?;
    let sra = state.publishing.publish_sra(body.into_input()?).await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/v1/sras/{}", sra.id)))
        .json(&sra))
}

#[derive(Serialize)]
struct SraList {
    items: Vec<Sra>,
}

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    if !caller.has_any(&READERS) {
        return Err(Problem::forbidden(
            "reading SRAs requires a security, approver or admin role",
        ));
    }
    let area = query_pairs(&req, &["area"])?
        .into_iter()
        .next()
        .map(|(_, code)| {
            AreaCode::parse("area", &code).map_err(|e| Problem::invalid_query("area", e.detail))
        })
        .transpose()?;
    let items = state.publishing.list_sras(area.as_ref()).await?;
    Ok(HttpResponse::Ok().json(SraList { items }))
}
