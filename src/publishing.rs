//! Changing what decisions rest on: areas and SRAs, written to the store, then through the cache.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::cache::AreaRiskCache;
use crate::domain::area::{Area, AreaCode, Suspension};
use crate::domain::policy::PolicyRules;
use crate::domain::sra::{Sra, SraInput};
use crate::problem::Problem;
use crate::store::{Store, StoreError};

pub struct Publishing {
    store: Arc<dyn Store>,
    cache: Arc<AreaRiskCache>,
    policy: Arc<PolicyRules>,
}

impl Publishing {
    pub fn new(store: Arc<dyn Store>, cache: Arc<AreaRiskCache>, policy: Arc<PolicyRules>) -> Self {
        Self {
            store,
            cache,
            policy,
        }
    }

    pub async fn create_area(&self, area: Area) -> Result<Area, Problem> {
        self.store.create_area(&area).await.map_err(|e| match e {
            StoreError::Conflict(detail) => Problem::conflict("area_exists", detail).at("/code"),
            other => other.into(),
        })?;
        // A lookup may have cached the area as unknown a moment ago.
        self.cache.refresh(&area.code).await?;
        Ok(area)
    }

    pub async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
    ) -> Result<(), Problem> {
        self.store.set_suspension(code, suspension).await?;
        self.cache.refresh(code).await?;
        Ok(())
    }

    /// Publishes an SRA; the next decision for its area uses it.
    pub async fn publish_sra(&self, input: SraInput) -> Result<Sra, Problem> {
        let sra = Sra::publish(input, &self.policy.matrix, Uuid::now_v7(), Utc::now())?;
        self.store.insert_sra(&sra).await.map_err(|e| match e {
            StoreError::NotFound(_) => Problem::unknown_area("/area", sra.area.as_str()),
            StoreError::Conflict(detail) => {
                Problem::conflict("sra_version_exists", detail).at("/version")
            }
            other => other.into(),
        })?;
        self.cache.refresh(&sra.area).await?;
        tracing::info!(area = %sra.area, version = sra.version, risk = sra.residual_risk.as_str(), "SRA published");
        Ok(sra)
    }

    pub async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, Problem> {
        Ok(self.store.list_sras(area).await?)
    }
}
