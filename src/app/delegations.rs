//! Delegations: an approver hands their stage authority to a named colleague for a range of
//! days, or an admin does it for them; either of them, the delegate or an admin ends it.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::AppError;
use crate::domain::caller::{Caller, Role};
use crate::domain::delegation::Delegation;
use crate::domain::request::TravellerId;
use crate::error_code::Code;
use crate::store::Store;

/// A delegation as asked for.
pub struct DelegationDraft {
    pub stage: String,
    pub delegate: String,
    /// Whose authority: the caller's own if absent (an admin may name anyone).
    pub delegator: Option<String>,
    pub from: NaiveDate,
    pub until: NaiveDate,
}

pub struct Delegations {
    store: Arc<dyn Store>,
    /// Each stage and the role that decides it.
    stage_roles: std::collections::BTreeMap<String, Role>,
}

impl Delegations {
    pub fn new(
        store: Arc<dyn Store>,
        stage_roles: std::collections::BTreeMap<String, Role>,
    ) -> Self {
        Self { store, stage_roles }
    }

    pub async fn create(
        &self,
        caller: &Caller,
        draft: DelegationDraft,
    ) -> Result<Delegation, AppError> {
        let admin = caller.has(Role::Admin);
        let Some(role) = self.stage_roles.get(&draft.stage) else {
            return Err(AppError::invalid_field(
                "/stage",
                format!(
                    "not a stage of the approval chains; they are: {}",
                    self.stage_roles
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let delegator = match draft.delegator {
            Some(other) => TravellerId::parse("/delegator", &other)?
                .as_str()
                .to_owned(),
            None => caller.subject.clone(),
        };
        if delegator != caller.subject && !admin {
            return Err(AppError::forbidden(
                "only an admin delegates another approver's authority",
            ));
        }
        if delegator == caller.subject && !caller.has(*role) {
            return Err(AppError::forbidden(format!(
                "only the {} stage's approvers delegate its authority (an admin names the delegator)",
                draft.stage
            )));
        }
        let delegate = TravellerId::parse("/delegate", &draft.delegate)?;
        if draft.until < Utc::now().date_naive() && draft.from <= draft.until {
            return Err(AppError::new(
                Code::InvalidDateRange,
                format!("the delegation would end ({}) before today", draft.until),
            )
            .at("/until"));
        }
        let delegation = Delegation {
            id: Uuid::now_v7(),
            stage: draft.stage,
            delegator,
            delegate: delegate.as_str().to_owned(),
            from: draft.from,
            until: draft.until,
            created_by: caller.subject.clone(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        self.store.add_delegation(&delegation).await??;
        tracing::info!(
            stage = %delegation.stage,
            delegator = %delegation.delegator,
            delegate = %delegation.delegate,
            by = %caller.subject,
            "delegation given"
        );
        Ok(delegation)
    }

    /// Every delegation for an admin; the ones a person gave or received for anyone else.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<Delegation>, AppError> {
        let subject = (!caller.has(Role::Admin)).then_some(caller.subject.as_str());
        Ok(self.store.list_delegations(subject).await?)
    }

    /// Ends a delegation now: its delegator, its delegate or an admin may; to anyone else
    /// it does not exist.
    pub async fn revoke(&self, caller: &Caller, raw_id: &str) -> Result<Delegation, AppError> {
        let id = Uuid::parse_str(raw_id).map_err(|_| AppError::not_found())?;
        let mut delegation = self
            .store
            .get_delegation(id)
            .await?
            .filter(|d| {
                caller.has(Role::Admin)
                    || d.delegator == caller.subject
                    || d.delegate == caller.subject
            })
            .ok_or_else(AppError::not_found)?;
        let now = Utc::now();
        if self.store.revoke_delegation(id, now).await? {
            delegation.revoked_at = Some(now);
            tracing::info!(%id, by = %caller.subject, "delegation revoked");
        }
        Ok(delegation)
    }
}
