//! Backends for the test bodies: the same fleet API in memory and over the test Redis.

use fleet::{Fleet, FleetClock, FleetConfig};
use token_bucket::clock::ManualClock;

/// 2026-01-01T12:00:00Z: a realistic Unix instant, so formatted times read as times of day.
pub(crate) const START_MS: i64 = 1_767_268_800_000;

/// The backend a test body runs over, for assertion messages.
pub(crate) type Backend = &'static str;

/// A fleet over the test Redis under a fresh prefix, on `clock`.
pub(crate) fn redis_fleet(test_name: &str, clock: &ManualClock) -> Fleet {
    redis_fleet_with_prefix(&testkit::unique_prefix(test_name), clock)
}

/// A fleet over the test Redis under `prefix`, on `clock`.
pub(crate) fn redis_fleet_with_prefix(prefix: &str, clock: &ManualClock) -> Fleet {
    let config = FleetConfig::with_prefix(prefix).clock(FleetClock::injected(clock.clone()));
    Fleet::connect(&testkit::redis_url(), config).expect("the test redis url is valid")
}

/// The in-memory fleet and a Redis fleet, each with its own manual clock at [`START_MS`].
pub(crate) fn both_backends(test_name: &str) -> Vec<(Backend, Fleet, ManualClock)> {
    let memory_clock = ManualClock::at(START_MS);
    let redis_clock = ManualClock::at(START_MS);
    vec![
        (
            "memory",
            Fleet::in_memory(memory_clock.clone()),
            memory_clock,
        ),
        ("redis", redis_fleet(test_name, &redis_clock), redis_clock),
    ]
}

/// Deletes everything the fleet wrote, so the shared test Redis stays small.
pub(crate) async fn clean_up(fleet: &Fleet) {
    let keys = fleet.list_keys().await.expect("list the fleet's keys");
    fleet.delete(&keys).await.expect("delete the fleet's keys");
}
