//! Loads areas, SRAs, air operators and requests from a JSON file (the sample, or an
//! organisation's own) into the store.
//! Each SRA is the object `POST /v1/sras` takes. Dates may be absolute (`2027-01-31`) or
//! relative to the day of import (`today+30d`), so a sample stays realistic whenever it is
//! loaded. Re-importing skips what already exists.

use anyhow::{Context, bail};
use chrono::{Days, NaiveDate, SubsecRound};
use serde::Deserialize;
use serde_json::Value;

use crate::app::air_operators::AirOperators;
use crate::app::clearing::Clearing;
use crate::app::error::{AppError, Code};
use crate::app::json_input::parse_json;
use crate::app::publishing::Publishing;
use crate::app::sra_document::SraBody;
use crate::domain::air_operator::{AirOperator, Assessment, OperatorCode};
use crate::domain::area::{Area, AreaCode, Degrees, Location, Suspension, SuspensionReason};
use crate::domain::caller::{Caller, Role};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFile {
    areas: Vec<AreaEntry>,
    sras: Vec<Value>,
    /// ARMO's list: written as `PUT /v1/air-operators/{designator}` writes it.
    #[serde(default)]
    air_operators: Vec<AirOperatorEntry>,
    /// Requests and teams, decided as submissions are (`sample_requests`).
    #[serde(default)]
    requests: Vec<super::sample_requests::RequestEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AirOperatorEntry {
    code: String,
    name: String,
    assessment: Assessment,
    from: String,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaEntry {
    code: String,
    name: String,
    country: String,
    #[serde(default)]
    suspension: Option<SuspensionEntry>,
    #[serde(default)]
    location: Option<Degrees>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspensionEntry {
    reason: SuspensionReason,
    since: String,
}

/// The actor the audit trail names for imported changes.
pub(super) const IMPORTER: &str = "clearway-import";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub areas_created: usize,
    pub areas_existing: usize,
    pub sras_published: usize,
    pub sras_existing: usize,
    pub air_operators: usize,
    pub air_operators_existing: usize,
    pub requests: usize,
    pub requests_existing: usize,
}

/// `2027-01-31`, `today`, `today+30d` or `today-90d`.
pub fn resolve_date(raw: &str, today: NaiveDate) -> anyhow::Result<NaiveDate> {
    let Some(offset) = raw.strip_prefix("today") else {
        return raw
            .parse()
            .with_context(|| format!("`{raw}` is not a date"));
    };
    if offset.is_empty() {
        return Ok(today);
    }
    let days: u64 = offset[1..]
        .strip_suffix('d')
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("`{raw}`: expected today+Nd or today-Nd"))?;
    let moved = match &offset[..1] {
        "+" => today.checked_add_days(Days::new(days)),
        "-" => today.checked_sub_days(Days::new(days)),
        _ => bail!("`{raw}`: expected today+Nd or today-Nd"),
    };
    moved.with_context(|| format!("`{raw}` is out of range"))
}

/// Replaces relative dates in an SRA object with absolute ones, so it reads as the API's.
fn with_absolute_dates(mut sra: Value, today: NaiveDate) -> anyhow::Result<Value> {
    for key in ["effective_from", "review_due"] {
        if let Some(Value::String(raw)) = sra.get(key) {
            let date = resolve_date(raw, today)?;
            sra[key] = Value::String(date.to_string());
        }
    }
    Ok(sra)
}

pub async fn import(
    publishing: &Publishing,
    air_operators: &AirOperators,
    clearing: &Clearing,
    json: &str,
    today: NaiveDate,
) -> anyhow::Result<ImportReport> {
    let file: ImportFile =
        serde_json::from_str(json).context("the import file does not have the expected shape")?;
    let mut report = ImportReport::default();
    for entry in file.areas {
        let code = AreaCode::parse("code", &entry.code)?;
        let location = entry
            .location
            .map(|at| Location::new("location", at))
            .transpose()?;
        let area = Area::new(code.clone(), &entry.name, &entry.country, location)?;
        match publishing.create_area(area).await {
            Ok(_) => report.areas_created += 1,
            Err(AppError {
                code: Code::AreaExists,
                ..
            }) => {
                report.areas_existing += 1;
                continue;
            }
            Err(problem) => bail!("area {code}: {problem}"),
        }
        if let Some(s) = entry.suspension {
            let suspension = Suspension {
                reason: s.reason,
                since: resolve_date(&s.since, today)?,
            };
            publishing
                .set_suspension(&code, Some(&suspension), IMPORTER)
                .await
                .map_err(|p| anyhow::anyhow!("area {code}: {p}"))?;
        }
    }
    for (i, raw) in file.sras.into_iter().enumerate() {
        let label = format!("sras[{i}] ({} v{})", raw["area"], raw["version"]);
        let body = with_absolute_dates(raw, today)?.to_string();
        let parts = parse_json::<SraBody>(body.as_bytes())
            .and_then(SraBody::into_parts)
            .map_err(|p| anyhow::anyhow!("{label}: {p}"))?;
        let published = publishing
            .publish_sra(parts.input, parts.endorsement, parts.approval, IMPORTER)
            .await;
        match published {
            Ok(_) => report.sras_published += 1,
            Err(AppError {
                code: Code::SraVersionExists,
                ..
            }) => report.sras_existing += 1,
            Err(problem) => bail!("{label}: {problem}"),
        }
    }
    let importer = Caller {
        subject: IMPORTER.into(),
        roles: vec![Role::AviationRisk],
        org: None,
        valid_until: i64::MAX,
    };
    for entry in file.air_operators {
        let label = format!("air operator {}", entry.code);
        let code = OperatorCode::parse("code", &entry.code)?;
        if air_operators.get(&code).await.is_ok() {
            report.air_operators_existing += 1;
            continue;
        }
        let operator = AirOperator::new(
            code,
            &entry.name,
            entry.assessment,
            resolve_date(&entry.from, today)?,
            entry
                .until
                .as_deref()
                .map(|u| resolve_date(u, today))
                .transpose()?,
            entry.note.as_deref(),
            chrono::Utc::now().trunc_subsecs(6),
            IMPORTER,
        )
        .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        air_operators
            .put(&importer, operator)
            .await
            .map_err(|p| anyhow::anyhow!("{label}: {p}"))?;
        report.air_operators += 1;
    }
    for (i, entry) in file.requests.into_iter().enumerate() {
        match super::sample_requests::submit(clearing, entry, today).await {
            Ok(true) => report.requests += 1,
            Ok(false) => report.requests_existing += 1,
            Err(e) => bail!("requests[{i}]: {e}"),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates_resolve_against_today() {
        let today: NaiveDate = "2026-11-23".parse().unwrap();
        assert_eq!(resolve_date("today", today).unwrap(), today);
        assert_eq!(
            resolve_date("today+8d", today).unwrap().to_string(),
            "2026-12-01"
        );
        assert_eq!(
            resolve_date("today-23d", today).unwrap().to_string(),
            "2026-10-31"
        );
        assert_eq!(
            resolve_date("2027-01-31", today).unwrap().to_string(),
            "2027-01-31"
        );
        for bad in ["today+", "today*3d", "today+3", "yesterday", "2026-02-30"] {
            assert!(resolve_date(bad, today).is_err(), "{bad}");
        }
    }
}
