//! Black-box tests of clearway over HTTP: the real application, real Redis and a fresh
//! database each.
//!
//! The suite is also the store's conformance suite: every module but the SQLite-specific ones
//! runs on SQLite always, and once more on PostgreSQL when TEST_DATABASE_URL names a server
//! (build.rs turns the `postgres_tests` configuration on then). Each test gets a database of
//! its own there, so both suites run in parallel and leave nothing behind.

// Loading each file once per backend is the point: one suite, two stores.
#![allow(clippy::duplicate_mod)]

mod identity_provider;
mod support;

// The suites read the same files; `path` keeps them in this directory.
#[path = "."]
mod sqlite {
    mod support {
        pub use crate::support::*;
        pub type TestApp = crate::support::TestApp<crate::support::Sqlite>;
    }

    mod areas_and_sras;
    mod authorization;
    mod cache;
    mod cli;
    mod decisions;
    mod durability;
    mod error_codes;
    mod escalations;
    mod fuzz;
    mod group_commit;
    mod hardening;
    mod idempotency;
    mod input_errors;
    mod lifecycle;
    mod logs;
    mod metrics;
    mod oidc;
    mod openapi;
    mod outages;
    mod process;
    mod rate_limits;
    mod shutdown;
    mod tokens;
    mod visibility;
    mod webhooks;
}

#[cfg(postgres_tests)]
#[path = "."]
mod postgres {
    mod support {
        pub use crate::support::*;
        pub type TestApp = crate::support::TestApp<crate::support::Postgres>;
    }

    mod areas_and_sras;
    mod authorization;
    mod cache;
    mod decisions;
    mod error_codes;
    mod escalations;
    mod idempotency;
    mod input_errors;
    mod lifecycle;
    mod metrics;
    mod multi_instance;
    mod openapi;
    mod partition;
    mod tokens;
    mod visibility;
    mod webhooks;
}
