//! Black-box tests of clearway over HTTP: the real application, real Redis and a fresh
//! database each.
//!
//! The suite is also the store's conformance suite: every module but the SQLite-specific ones
//! runs on SQLite (`sqlite::`) and again on PostgreSQL (`postgres::`, on the server
//! TEST_DATABASE_URL names, 127.0.0.1:5432 by default, as Redis defaults to 127.0.0.1:6379).
//! Each PostgreSQL test gets a database of its own, so both suites run in parallel and leave
//! nothing behind. `cargo test sqlite::` runs the SQLite half alone.

// Loading each file once per backend is the point: one suite, two stores.
#![allow(clippy::duplicate_mod)]

mod identity_provider;
mod smtp_server;
mod support;

// The suites read the same files; `path` keeps them in this directory.
#[path = "."]
mod sqlite {
    mod support {
        pub use crate::support::*;
        pub type TestApp = crate::support::TestApp<crate::support::Sqlite>;
    }

    mod air_operators;
    mod areas_and_sras;
    mod authorization;
    mod briefings;
    mod cache;
    mod cli;
    mod clocks;
    mod conditional;
    mod decisions;
    mod delegation;
    mod durability;
    mod error_codes;
    mod escalations;
    mod fuzz;
    mod group_commit;
    mod hardening;
    mod idempotency;
    mod incidents;
    mod input_errors;
    mod lifecycle;
    mod live;
    mod logs;
    mod mail;
    mod map;
    mod metrics;
    mod oidc;
    mod openapi;
    mod outages;
    mod people;
    mod process;
    mod rate_limits;
    mod search;
    mod shutdown;
    mod teams;
    mod tokens;
    mod verification;
    mod visibility;
    mod webhooks;
}

#[path = "."]
mod postgres {
    mod support {
        pub use crate::support::*;
        pub type TestApp = crate::support::TestApp<crate::support::Postgres>;
    }

    mod air_operators;
    mod areas_and_sras;
    mod authorization;
    mod briefings;
    mod cache;
    mod clocks;
    mod conditional;
    mod decisions;
    mod delegation;
    mod error_codes;
    mod escalations;
    mod idempotency;
    mod incidents;
    mod input_errors;
    mod lifecycle;
    mod live;
    mod mail;
    mod map;
    mod metrics;
    mod multi_instance;
    mod openapi;
    mod partition;
    mod people;
    mod planner_statistics;
    mod search;
    mod teams;
    mod tokens;
    mod verification;
    mod visibility;
    mod webhooks;
}
