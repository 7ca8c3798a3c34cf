//! Changing what decisions rest on: areas, their suspension, and SRAs through their
//! lifecycle. Each change is written to the store with the re-screening job it calls for,
//! then through the cache.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::ports::AreaRisks;
use crate::app::error::{AppError, Code};
use crate::domain::area::{Area, AreaCode, Location, Suspension};
use crate::domain::policy::PolicyRules;
use crate::domain::sra::{AreaRisk, Signoff, Sra, SraInput};
use crate::store::{RescreenJob, Store, StoreError};

pub struct Publishing {
    store: Arc<dyn Store>,
    cache: Arc<dyn AreaRisks>,
    policy: Arc<PolicyRules>,
}

/// How many requests a change will have decided again, and where to follow the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rescreening {
    pub id: Uuid,
    pub requests: i64,
}

impl Publishing {
    pub fn new(store: Arc<dyn Store>, cache: Arc<dyn AreaRisks>, policy: Arc<PolicyRules>) -> Self {
        Self {
            store,
            cache,
            policy,
        }
    }

    pub async fn create_area(&self, area: Area) -> Result<Area, AppError> {
        self.store.create_area(&area).await.map_err(|e| match e {
            StoreError::Conflict(detail) => AppError::new(Code::AreaExists, detail).at("/code"),
            other => other.into(),
        })?;
        // A lookup may have cached the area as unknown a moment ago.
        self.cache.forget(&area.code).await?;
        Ok(area)
    }

    /// Places an area on the map (or takes it off with `None`). Decisions do not depend on it.
    pub async fn set_location(
        &self,
        code: &AreaCode,
        location: Option<Location>,
    ) -> Result<(), AppError> {
        self.store
            .set_location(code, location)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => AppError::not_found(),
                other => other.into(),
            })?;
        self.cache.forget(code).await?;
        Ok(())
    }

    /// Suspends operations in an area (or lifts the suspension with `None`); requests with
    /// legs there from today on are screened again.
    pub async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
        actor: &str,
    ) -> Result<Rescreening, AppError> {
        let reason = match suspension {
            Some(s) => format!("{code} suspended ({:?}) from {}", s.reason, s.since),
            None => format!("suspension of {code} lifted"),
        };
        let today = Utc::now().date_naive();
        let job = RescreenJob::new(code.clone(), reason, actor, today, None, Utc::now());
        let requests = self
            .store
            .set_suspension(code, suspension, Some(&job))
            .await?;
        self.cache.forget(code).await?;
        Ok(Rescreening {
            id: job.id,
            requests,
        })
    }

    /// Publishes an SRA endorsed and approved elsewhere, in one step.
    pub async fn publish_sra(
        &self,
        input: SraInput,
        endorsement: Option<Signoff>,
        approval: Option<Signoff>,
        actor: &str,
    ) -> Result<(Sra, Rescreening), AppError> {
        let mut sra =
            Sra::publish_directly(input, &self.policy.matrix, Uuid::now_v7(), Utc::now())?;
        sra.endorsement = endorsement;
        sra.approval = approval;
        let others = self.store.list_sras(Some(&sra.area)).await?;
        if others.iter().any(|o| o.version == sra.version) {
            let detail = format!("version {} of the SRA for {} exists", sra.version, sra.area);
            return Err(AppError::new(Code::SraVersionExists, detail).at("/version"));
        }
        sra.check_no_overlap(&others)?;
        let job = publication_job(&sra, actor);
        let requests = self
            .store
            .insert_sra(&sra, Some(&job))
            .await
            .map_err(|e| sra_write_problem(e, &sra))?;
        self.cache.forget(&sra.area).await?;
        tracing::info!(area = %sra.area, version = sra.version, risk = sra.residual_risk.as_str(), requests, "SRA published");
        Ok((
            sra,
            Rescreening {
                id: job.id,
                requests,
            },
        ))
    }

    pub async fn create_draft(&self, input: SraInput) -> Result<Sra, AppError> {
        let sra = Sra::draft(input, &self.policy.matrix, Uuid::now_v7())?;
        self.store
            .insert_sra(&sra, None)
            .await
            .map_err(|e| sra_write_problem(e, &sra))?;
        Ok(sra)
    }

    pub async fn get_sra(&self, id: Uuid) -> Result<Sra, AppError> {
        self.store
            .get_sra(id)
            .await?
            .ok_or_else(AppError::not_found)
    }

    pub async fn endorse(&self, id: Uuid, signoff: Signoff) -> Result<Sra, AppError> {
        let current = self.get_sra(id).await?;
        let next = current.endorse(signoff).map_err(lifecycle_problem)?;
        self.replace(&current, &next, None).await?;
        Ok(next)
    }

    pub async fn approve(&self, id: Uuid, signoff: Signoff) -> Result<Sra, AppError> {
        let current = self.get_sra(id).await?;
        let next = current.approve(signoff).map_err(lifecycle_problem)?;
        self.replace(&current, &next, None).await?;
        Ok(next)
    }

    /// Publishes an endorsed and approved SRA; it supersedes earlier versions from its date.
    pub async fn publish(&self, id: Uuid, actor: &str) -> Result<(Sra, Rescreening), AppError> {
        let current = self.get_sra(id).await?;
        let others = self.store.list_sras(Some(&current.area)).await?;
        let next = current
            .publish(&others, Utc::now())
            .map_err(lifecycle_problem)?;
        let job = publication_job(&next, actor);
        self.replace_and_rescreen(&current, next, job).await
    }

    /// Writes `next` over `current` with its re-screening job, then forgets the cached risk.
    async fn replace_and_rescreen(
        &self,
        current: &Sra,
        next: Sra,
        job: RescreenJob,
    ) -> Result<(Sra, Rescreening), AppError> {
        let requests = self.replace(current, &next, Some(&job)).await?;
        self.cache.forget(&next.area).await?;
        Ok((
            next,
            Rescreening {
                id: job.id,
                requests,
            },
        ))
    }

    /// Withdraws a published SRA: the dates it covered have no SRA from it any more.
    pub async fn withdraw(&self, id: Uuid, actor: &str) -> Result<(Sra, Rescreening), AppError> {
        let current = self.get_sra(id).await?;
        let next = current.withdraw(Utc::now()).map_err(lifecycle_problem)?;
        let reason = format!("SRA v{} for {} withdrawn", next.version, next.area);
        let job = RescreenJob::new(
            next.area.clone(),
            reason,
            actor,
            next.effective_from,
            Some(next.review_due),
            Utc::now(),
        );
        self.replace_and_rescreen(&current, next, job).await
    }

    async fn replace(
        &self,
        current: &Sra,
        next: &Sra,
        job: Option<&RescreenJob>,
    ) -> Result<i64, AppError> {
        self.store
            .update_sra(next, current.status, job)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AppError::new(
                    Code::ConcurrentUpdate,
                    "the SRA changed while this change was made; read it again and retry",
                ),
                other => other.into(),
            })
    }

    /// How far a re-screening job got.
    pub async fn rescreen_job(&self, id: Uuid) -> Result<RescreenJob, AppError> {
        self.store
            .get_rescreen_job(id)
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// The re-screenings under way, then the latest finished: `limit` in all.
    pub async fn recent_rescreen_jobs(&self, limit: u32) -> Result<Vec<RescreenJob>, AppError> {
        Ok(self.store.recent_rescreen_jobs(limit).await?)
    }

    /// Every area with its published SRAs, by code.
    pub async fn list_areas(&self) -> Result<Vec<AreaRisk>, AppError> {
        Ok(self.store.list_areas().await?)
    }

    pub async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, AppError> {
        Ok(self.store.list_sras(area).await?)
    }
}

fn publication_job(sra: &Sra, actor: &str) -> RescreenJob {
    let reason = format!(
        "SRA v{} for {} published: {} from {}",
        sra.version,
        sra.area,
        sra.residual_risk.label(),
        sra.effective_from
    );
    RescreenJob::new(
        sra.area.clone(),
        reason,
        actor,
        sra.effective_from,
        None,
        Utc::now(),
    )
}

fn sra_write_problem(e: StoreError, sra: &Sra) -> AppError {
    match e {
        StoreError::NotFound(_) => AppError::unknown_area("/area", sra.area.as_str()),
        StoreError::Conflict(detail) => {
            AppError::new(Code::SraVersionExists, detail).at("/version")
        }
        other => other.into(),
    }
}

/// Lifecycle refusals are 422s with their own codes.
fn lifecycle_problem(e: crate::domain::Invalid) -> AppError {
    let problem = AppError::new(e.code, e.detail);
    if e.field.is_empty() {
        problem
    } else {
        problem.at(e.field)
    }
}

/// Dates in sign-offs may not lie in the future.
pub fn signoff_date_ok(on: NaiveDate) -> bool {
    on <= Utc::now().date_naive()
}
