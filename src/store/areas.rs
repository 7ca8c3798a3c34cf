//! Areas and their SRAs: created, suspended, published, withdrawn, read for decisions.

use async_trait::async_trait;
use uuid::Uuid;

use super::{RescreenJob, StoreError};
use crate::domain::area::{Area, AreaCode, Location, Suspension};
use crate::domain::sra::{AreaRisk, Sra, SraStatus};

#[async_trait]
pub trait AreaStore: Send + Sync {
    /// Adds an area; `Conflict` if the code exists.
    async fn create_area(&self, area: &Area) -> Result<(), StoreError>;
    /// Places the area on the map (or takes it off with `None`).
    async fn set_location(
        &self,
        code: &AreaCode,
        location: Option<Location>,
    ) -> Result<(), StoreError>;
    /// Suspends or lifts; with `rescreen`, the job is created in the same transaction and the
    /// number of requests it will look at is returned.
    async fn set_suspension(
        &self,
        code: &AreaCode,
        suspension: Option<&Suspension>,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError>;
    /// Every area with its published SRAs, by code.
    async fn list_areas(&self) -> Result<Vec<AreaRisk>, StoreError>;
    async fn area_risk(&self, code: &AreaCode) -> Result<Option<AreaRisk>, StoreError>;
    /// Stores an SRA; `NotFound` for an unknown area, `Conflict` if the version exists.
    /// With `rescreen`, creates the job in the same transaction and returns its size.
    async fn insert_sra(
        &self,
        sra: &Sra,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError>;
    /// Replaces an SRA that still has status `expected`; `Conflict` otherwise.
    async fn update_sra(
        &self,
        sra: &Sra,
        expected: SraStatus,
        rescreen: Option<&RescreenJob>,
    ) -> Result<i64, StoreError>;
    async fn get_sra(&self, id: Uuid) -> Result<Option<Sra>, StoreError>;
    async fn list_sras(&self, area: Option<&AreaCode>) -> Result<Vec<Sra>, StoreError>;
}
