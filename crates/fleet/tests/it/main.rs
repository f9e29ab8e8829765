//! The fleet crate's integration tests: one binary, one module per feature.
//!
//! Every feature's test body runs over both backends (`support::both_backends`): the in-memory
//! one and a real Redis from `testkit::redis_url()` under a unique prefix. Time is a
//! `ManualClock` injected into both, so leases expire without sleeping. The killed-holder test
//! re-runs this binary as a child process that takes a lease and aborts.

mod call_rates;
mod dead_redis;
mod flags_and_incidents;
mod heartbeats;
mod instance;
mod keys;
mod killed_holder;
mod lease_state_machine;
mod leases;
mod support;
