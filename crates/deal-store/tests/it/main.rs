//! Integration tests of deal-store: one binary, one module per feature.

mod acceptance;
mod backlog;
mod bad_input;
mod concurrency;
mod crash;
mod facade;
mod filters;
mod matches;
mod migrations;
mod query_plans;
mod state;
mod support;
mod upserts;
