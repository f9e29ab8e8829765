//! Integration tests for keepa-sim: one binary, one module per concern. Everything but the
//! `server` module calls `Sim::handle` in-process under tokio's paused clock.

mod admin;
mod deals;
mod determinism;
mod endpoints;
mod faults;
mod products;
mod properties;
mod server;
mod support;
mod tokens;
