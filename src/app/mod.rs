//! The services: what travellers, travel units, analysts and approvers can do, each step
//! checked by the pure rules in `domain` and kept by the store. Nothing here knows HTTP;
//! refusals are [`AppError`]s with a stable code, turned into problem+json by `http`.

pub mod access;
pub mod air_operators;
pub mod approvals;
pub mod clearing;
pub mod delegations;
pub mod error;
pub mod incidents;
pub mod json_input;
pub mod people;
pub mod ports;
pub mod precondition;
pub mod publishing;
pub mod rescreening;
pub mod sra_document;
pub mod webhooks;

pub use error::AppError;
