//! Black-box tests of clearway over HTTP: the real application, real Redis, a fresh SQLite file each.

mod areas_and_sras;
mod cache;
mod cli;
mod decisions;
mod escalations;
mod group_commit;
mod input_errors;
mod lifecycle;
mod support;
mod tokens;
mod visibility;
mod webhooks;
