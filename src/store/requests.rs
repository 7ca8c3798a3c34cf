//! Clearance requests: stored with their legs and first audit entry, changed, read, listed, located.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use uuid::Uuid;

use super::{NewRequest, StoreError};
use crate::domain::area::AreaCode;
use crate::domain::audit::AuditDraft;
use crate::domain::request::{OrgId, RequestRecord, RequestStatus, TravellerId};
use crate::domain::team::Flight;

/// Whose requests a list may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestScope {
    All,
    /// One traveller: a traveller id is unique only within its organisation.
    Traveller(OrgId, TravellerId),
    Org(OrgId),
}

#[derive(Debug, Clone)]
pub struct RequestQuery {
    pub scope: RequestScope,
    pub status: Option<RequestStatus>,
    /// Only this traveller's requests (within the scope).
    pub traveller: Option<TravellerId>,
    /// Only requests with a leg in this area and within these dates (a leg overlapping
    /// `from`..=`until`, either end open).
    pub legs: LegFilter,
    /// Newest first: only requests older than this id (the previous page's last).
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// What a caller searches for among the requests they may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub traveller: Option<TravellerId>,
    pub legs: LegFilter,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegFilter {
    pub area: Option<AreaCode>,
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl LegFilter {
    pub fn is_empty(&self) -> bool {
        self == &LegFilter::default()
    }
}

/// A change to a stored request: `record` is the new state, written only if the stored
/// version is still `record.version - 1`; otherwise `Conflict` and nothing changes.
#[derive(Debug, Clone)]
pub struct RequestChange<'a> {
    pub record: &'a RequestRecord,
    /// The request itself changed (an amendment): its body and legs are rewritten too.
    /// Otherwise only the status, decision and what follows from them are written.
    pub legs_changed: bool,
    pub audit: AuditDraft,
}

/// Who holds a clearance for an area on a date: the duty-of-care list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PersonnelEntry {
    pub request_id: Uuid,
    pub traveller_id: String,
    pub traveller_name: String,
    pub org: String,
    pub status: String,
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
}

#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Travellers holding a cleared or approved request with a leg in `area` on `on`.
    async fn personnel(
        &self,
        area: &AreaCode,
        on: NaiveDate,
    ) -> Result<Vec<PersonnelEntry>, StoreError>;
    /// For every area, by code: how many people (a traveller of an organisation, once however
    /// many clearances they hold) `personnel` would find there on `on`.
    async fn headcounts(&self, on: NaiveDate) -> Result<Vec<(AreaCode, i64)>, StoreError>;
    /// Stores a request, its legs, its decision and its first audit entry in one transaction.
    async fn insert_request(&self, new: Arc<NewRequest>) -> Result<(), StoreError> {
        self.insert_unit(vec![new]).await
    }
    /// Stores new requests (a team's members) as `insert_request` does, all in one
    /// transaction: all of them or none.
    async fn insert_unit(&self, unit: Vec<Arc<NewRequest>>) -> Result<(), StoreError>;
    /// Applies a change and appends its audit entry in one transaction; `Conflict` if the
    /// request changed since it was read.
    async fn update_request(&self, change: RequestChange<'_>) -> Result<(), StoreError> {
        self.update_requests(std::slice::from_ref(&change)).await
    }
    /// Applies changes to several requests (a team's members) as `update_request` does, all
    /// in one transaction: `Conflict` and nothing changes if any of them changed meanwhile.
    async fn update_requests(&self, changes: &[RequestChange<'_>]) -> Result<(), StoreError>;
    /// The members of a team, in the order they were submitted.
    async fn team_members(&self, team: Uuid) -> Result<Vec<RequestRecord>, StoreError>;
    async fn get_request(&self, id: Uuid) -> Result<Option<RequestRecord>, StoreError>;
    /// The requests of `ids` that exist, in id order (a re-screening batch).
    async fn get_requests(&self, ids: &[Uuid]) -> Result<Vec<RequestRecord>, StoreError>;
    async fn list_requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>, StoreError>;
    /// Requests still pending (escalated, held, returned) whose first leg began before `on`,
    /// or begins on `on` and that were submitted before that day began (a request made on
    /// its travel day has that day): those that expire, soonest first.
    async fn pending_started(
        &self,
        on: NaiveDate,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError>;
    /// How many travellers of `org` hold a live request (pending or issued) with a leg on
    /// `flight`, counting only requests made before the stored request `before` (ids are
    /// time-ordered), or all of them for a request not yet stored: the headcount rule counts
    /// who booked first, so deciding a request again gives the same answer. The other
    /// members of `before`'s team count whenever they booked: a team travels as one. The
    /// travellers `except` names (the request's own, a new team's members) are not counted:
    /// the caller counts them, once each.
    async fn travellers_on_flight(
        &self,
        flight: &Flight,
        org: &OrgId,
        before: Option<(Uuid, Option<Uuid>)>,
        except: &[&TravellerId],
    ) -> Result<usize, StoreError>;
    /// Clearances still waiting for their traveller's acknowledgement of a briefing whose
    /// first leg begins on or before `on`, and whose traveller and unit were not yet told
    /// (no `briefing_overdue` entry in their trail), soonest first.
    async fn unacknowledged_started(
        &self,
        on: NaiveDate,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError>;
}
