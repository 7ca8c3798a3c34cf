//! clearway: mission security clearance requests decided against published Security Risk
//! Assessments, the way the UN Security Management System does it.

pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error_code;
pub mod http;
#[cfg(test)]
mod layers;
pub mod metrics;
pub mod notify;
pub mod rate_limits;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
