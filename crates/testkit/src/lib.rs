//! Test support shared by the workspace's test suites.
//!
//! `cargo xtask test` starts a private `redis-server` on a free port and hands its URL to the
//! tests in [`REDIS_URL_ENV`]. Tests that need Redis call [`redis_url`], which panics with
//! instructions when the variable is missing: a Redis test never skips silently.
//!
//! The shared server is never stopped by a test. A test that must kill or restart a Redis
//! server (a crash, an outage, a restart without persistence) starts a [`PrivateRedis`] of its
//! own instead.
//!
//! [`binaries`] checks the exit and output of a workspace binary run by a test.
//!
//! [`KEEPER_SCRIPT`] is how [`PrivateRedis`] and xtask's suite-wide server make sure a server
//! never outlives the process that started it.
//!
//! Apart from [`PrivateRedis`], this crate starts nothing and holds no state beyond a
//! process-wide counter.

use std::sync::atomic::{AtomicU64, Ordering};

pub mod binaries;
mod private_redis;

pub use private_redis::{KEEPER_SCRIPT, PrivateRedis, STARTUP_LIMIT};

/// The environment variable through which `cargo xtask test` passes the private Redis URL.
pub const REDIS_URL_ENV: &str = "KEEPA_DEALS_TEST_REDIS_URL";

/// The URL of the private Redis server started for this test run.
///
/// # Panics
///
/// When [`REDIS_URL_ENV`] is not set, with a message that says how to run the suite.
#[track_caller]
pub fn redis_url() -> String {
    match std::env::var(REDIS_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "this test needs a real Redis server and {REDIS_URL_ENV} is not set; \
             run the suite with `cargo xtask test`, which starts a private redis-server, \
             or set {REDIS_URL_ENV}=redis://127.0.0.1:PORT/ to a server you own"
        ),
    }
}

/// A Redis key prefix unique to this call within the test run, so tests sharing one server
/// never see each other's keys.
pub fn unique_prefix(test_name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("test:{test_name}:{}:{n}:", std::process::id())
}
