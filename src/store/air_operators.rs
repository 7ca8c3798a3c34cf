//! The air operator list: ARMO's assessment of each operator.

use async_trait::async_trait;

use super::{RescreenJob, StoreError};
use crate::domain::air_operator::{AirOperator, OperatorCode};

#[async_trait]
pub trait AirOperatorStore: Send + Sync {
    /// Creates or replaces the entry of `operator.code`, with the re-screening job of the
    /// requests flying with it in the same transaction. Returns whether the entry is new and
    /// how many requests the job will look at.
    async fn put_air_operator(
        &self,
        operator: &AirOperator,
        rescreen: &RescreenJob,
    ) -> Result<(bool, i64), StoreError>;
    async fn get_air_operator(
        &self,
        code: &OperatorCode,
    ) -> Result<Option<AirOperator>, StoreError>;
    /// Every operator on the list, by code.
    async fn list_air_operators(&self) -> Result<Vec<AirOperator>, StoreError>;
}
