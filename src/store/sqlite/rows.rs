//! Rows to domain values, and the timestamp text the columns hold.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::domain::area::{Area, AreaCode, AreaIncident};
use crate::domain::audit::AuditEntry;
use crate::domain::request::{OrgId, RequestRecord};
use crate::domain::sra::{SecurityLevel, Signoff, Sra};
use crate::domain::webhook::Webhook;
use crate::store::encoding::{action_from_text, location, suspension};
use crate::store::{RescreenJob, StoreError};

pub(super) fn area_from_row(row: &SqliteRow) -> Result<Area, StoreError> {
    let code: String = row.try_get("code")?;
    let suspension = suspension(
        row.try_get("suspension_reason")?,
        row.try_get("suspended_since")?,
    )?;
    Ok(Area {
        code: AreaCode::parse("code", &code).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name: row.try_get("name")?,
        country: row.try_get("country")?,
        suspension,
        location: location(row.try_get("latitude")?, row.try_get("longitude")?)?,
        incident: match row.try_get::<Option<String>, _>("incident_id")? {
            Some(id) => Some(AreaIncident {
                id: Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                started_at: parse_ts(&row.try_get::<String, _>("incident_started_at")?)?,
            }),
            None => None,
        },
    })
}

pub(super) fn sra_from_row(row: &SqliteRow) -> Result<Sra, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let code: String = row.try_get("area_code")?;
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let risk: String = row.try_get("residual_risk")?;
    let threats: String = row.try_get("threats")?;
    let measures: String = row.try_get("mandatory_measures")?;
    Ok(Sra {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        area: AreaCode::parse("area_code", &code).map_err(|e| corrupt(e.to_string()))?,
        version: row
            .try_get::<i64, _>("version")?
            .try_into()
            .map_err(|_| corrupt("version".into()))?,
        status: status.parse().map_err(corrupt)?,
        effective_from: row.try_get("effective_from")?,
        review_due: row.try_get("review_due")?,
        security_level: SecurityLevel::new("security_level", row.try_get("security_level")?)
            .map_err(|e| corrupt(e.to_string()))?,
        residual_risk: risk.parse().map_err(corrupt)?,
        threats: serde_json::from_str(&threats)?,
        mandatory_measures: serde_json::from_str(&measures)?,
        requires_ssafe: row.try_get("requires_ssafe")?,
        published_at: row.try_get::<Option<DateTime<Utc>>, _>("published_at")?,
        residual_risk_justification: row.try_get("residual_risk_justification")?,
        endorsement: signoff(row, "endorsed_by", "endorsed_on")?,
        approval: signoff(row, "approved_by", "approved_on")?,
        withdrawn_at: row.try_get::<Option<DateTime<Utc>>, _>("withdrawn_at")?,
        briefing: row
            .try_get::<Option<String>, _>("briefing")?
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
    })
}

pub(super) fn signoff(row: &SqliteRow, by: &str, on: &str) -> Result<Option<Signoff>, StoreError> {
    let by: Option<String> = row.try_get(by)?;
    let on: Option<NaiveDate> = row.try_get(on)?;
    Ok(by.zip(on).map(|(by, on)| Signoff { by, on }))
}

pub(super) fn job_from_row(row: &SqliteRow) -> Result<RescreenJob, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id: String = row.try_get("id")?;
    let area: Option<String> = row.try_get("area_code")?;
    let operator: Option<String> = row.try_get("operator")?;
    let cursor: Option<String> = row.try_get("cursor")?;
    let created_at: String = row.try_get("created_at")?;
    let finished_at: Option<String> = row.try_get("finished_at")?;
    Ok(RescreenJob {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        area: area
            .map(|a| AreaCode::parse("area_code", &a).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
        operator: operator
            .map(|o| {
                crate::domain::air_operator::OperatorCode::parse("operator", &o)
                    .map_err(|e| corrupt(e.to_string()))
            })
            .transpose()?,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        from: row.try_get("window_from")?,
        until: row.try_get("window_until")?,
        status: row.try_get("status")?,
        total: row.try_get("total")?,
        processed: row.try_get("processed")?,
        changed: row.try_get("changed")?,
        cursor: cursor
            .map(|c| Uuid::parse_str(&c))
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
        created_at: parse_ts(&created_at)?,
        finished_at: finished_at.as_deref().map(parse_ts).transpose()?,
    })
}

pub(super) fn request_from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let request: String = row.try_get("request")?;
    let decision: String = row.try_get("decision")?;
    let escalation: Option<String> = row.try_get("escalation")?;
    Ok(RequestRecord {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        status: status.parse().map_err(corrupt)?,
        submitted_at: row.try_get("submitted_at")?,
        submitted_by: row.try_get("submitted_by")?,
        request: serde_json::from_str(&request)?,
        decision: serde_json::from_str(&decision)?,
        escalation: escalation
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        version: row.try_get("version")?,
        team: row
            .try_get::<Option<String>, _>("team_id")?
            .map(|t| Uuid::parse_str(&t).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
    })
}

pub(super) fn audit_from_row(row: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let request_id: String = row.try_get("request_id")?;
    let action: String = row.try_get("action")?;
    let from: Option<String> = row.try_get("from_status")?;
    let to: String = row.try_get("to_status")?;
    Ok(AuditEntry {
        request_id: Uuid::parse_str(&request_id).map_err(|e| corrupt(e.to_string()))?,
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: action_from_text(action)?,
        from: from.map(|f| f.parse()).transpose().map_err(corrupt)?,
        to: to.parse().map_err(corrupt)?,
        stage: row.try_get("stage")?,
        comment: row.try_get("comment")?,
        on_behalf_of: row.try_get("on_behalf_of")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Fixed-width UTC timestamps, so that text comparison in SQL is time order.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(super) fn parse_ts(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {raw}: {e}")))
}

pub(super) fn webhook_from_row(row: &SqliteRow) -> Result<Webhook, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id: String = row.try_get("id")?;
    let org: String = row.try_get("org")?;
    let events: String = row.try_get("events")?;
    let created_at: String = row.try_get("created_at")?;
    Ok(Webhook {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        org: OrgId::parse("org", &org).map_err(|e| corrupt(e.to_string()))?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events)?,
        secret: row.try_get("secret")?,
        created_by: row.try_get("created_by")?,
        created_at: parse_ts(&created_at)?,
    })
}
