//! The air operator list: kept by the aviation-risk role, read by everyone who plans travel.
//! Every change re-screens the requests flying with the operator, in the change's own
//! transaction, since a flight's decision rests on the operator's standing.

use std::sync::Arc;

use chrono::Utc;

use super::publishing::Rescreening;
use crate::app::error::AppError;
use crate::domain::air_operator::{AirOperator, OperatorCode};
use crate::domain::caller::Caller;
use crate::store::{RescreenJob, Store};

pub struct AirOperators {
    store: Arc<dyn Store>,
}

impl AirOperators {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub async fn list(&self) -> Result<Vec<AirOperator>, AppError> {
        Ok(self.store.list_air_operators().await?)
    }

    pub async fn get(&self, code: &OperatorCode) -> Result<AirOperator, AppError> {
        self.store
            .get_air_operator(code)
            .await?
            .ok_or_else(AppError::not_found)
    }

    /// Writes the operator's entry (`caller` is checked by the edge's guard); true when it
    /// is new. Requests flying with it from today on are decided again.
    pub async fn put(
        &self,
        caller: &Caller,
        operator: AirOperator,
    ) -> Result<(AirOperator, bool, Rescreening), AppError> {
        let until = operator
            .until
            .map(|u| format!(" until {u}"))
            .unwrap_or_default();
        let reason = format!(
            "air operator {} {} from {}{until}",
            operator.code,
            operator.assessment.as_str().replace('_', " "),
            operator.from
        );
        let job =
            RescreenJob::for_operator(operator.code.clone(), reason, &caller.subject, Utc::now());
        let (created, requests) = self.store.put_air_operator(&operator, &job).await?;
        Ok((
            operator,
            created,
            Rescreening {
                id: job.id,
                requests,
            },
        ))
    }
}
