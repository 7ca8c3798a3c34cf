//! clearway: mission security clearance requests decided against published Security Risk
//! Assessments, the way the UN Security Management System does it.

pub mod access;
pub mod approvals;
pub mod auth;
pub mod cache;
pub mod clearing;
pub mod config;
pub mod domain;
pub mod error_code;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod problem;
pub mod publishing;
pub mod rate_limits;
pub mod rescreening;
pub mod sra_import;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
