//! The reliability suite of the operators' tools, against the real binaries (`worker
//! --simulate`, `flush`, `watchdog`, `diag`, built once per run), real SQLite files and the real
//! Redis of `testkit::redis_url()`. No sleeps: tests block on the processes' output lines, and
//! lease expiry is shown on an injected fleet clock.

mod bad_input;
mod deleted_database;
mod flush_scope;
mod frozen_worker;
mod redis_flush;
mod redis_restart;
mod revoked_key;
mod support;
mod watchdog_signal;
mod watchdog_stall;
mod zombie;
