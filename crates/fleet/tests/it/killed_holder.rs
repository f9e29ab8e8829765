//! A holder killed mid-lease: a child process (this test binary, re-run with an environment
//! variable) takes the lease and aborts without releasing it. The parent sees the lease held by
//! a dead local instance, cannot take it before the TTL passes on the shared injected clock, and
//! takes it over, with a higher fencing number, once it has.

use std::process::Command;
use std::time::Duration;

use token_bucket::clock::ManualClock;

use crate::support::{START_MS, clean_up, redis_fleet_with_prefix};

const CHILD_PREFIX_ENV: &str = "FLEET_TEST_KILLED_HOLDER_PREFIX";
const TTL: Duration = Duration::from_secs(30);

/// The child's part: a no-op in an ordinary test run.
#[tokio::test]
async fn child_takes_the_lease_and_aborts() {
    let Ok(prefix) = std::env::var(CHILD_PREFIX_ENV) else {
        return;
    };
    let clock = ManualClock::at(START_MS);
    let fleet = redis_fleet_with_prefix(&prefix, &clock);
    let lease = fleet
        .acquire_lease("discovery", TTL)
        .await
        .unwrap()
        .unwrap();
    println!("\nFENCING={}", lease.fencing());
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    std::process::abort();
}

#[tokio::test]
async fn a_killed_holders_lease_is_free_within_one_ttl() {
    let prefix = testkit::unique_prefix("killed_holder");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "killed_holder::child_takes_the_lease_and_aborts",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_PREFIX_ENV, &prefix)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "the child must abort: {stdout}");
    let child_fencing: u64 = stdout
        .lines()
        .find_map(|line| {
            line.split_once("FENCING=")
                .map(|(_, fencing)| fencing.trim())
        })
        .unwrap_or_else(|| {
            panic!(
                "the child took no lease: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .parse()
        .unwrap();

    let clock = ManualClock::at(START_MS);
    let fleet = redis_fleet_with_prefix(&prefix, &clock);
    let held = fleet.inspect("discovery").await.unwrap().unwrap();
    assert_eq!(held.fencing, child_fencing);
    assert_ne!(held.holder_instance, *fleet.instance());
    assert!(
        held.holder_instance.is_local_and_dead(),
        "flush can say: held by a dead owner"
    );
    assert!(
        fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .is_none(),
        "not before the TTL"
    );
    clock.advance_ms(30_000);
    let taken = fleet
        .acquire_lease("discovery", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.fencing(), child_fencing + 1);
    clean_up(&fleet).await;
}
