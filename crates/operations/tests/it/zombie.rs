//! Zombie state: a fleet-tier worker killed with SIGKILL while it holds the discovery lease.
//! `flush leases` first refuses the lease while its holder lives, then lists it as held by a
//! dead owner and removes it with `--yes`. Without flush, a successor takes the lease once its
//! TTL has passed on the fleet clock (an injected clock: no waiting).
//!
//! To hold the lease for as long as the test needs, the shared bucket is seeded in deficit
//! before the worker starts: discovery takes the lease, then waits for tokens inside its first
//! `/deal` request, lease in hand.

use std::time::{Duration, Instant};

use fleet::{Fleet, FleetClock, FleetConfig, InstanceId};
use token_bucket::clock::ManualClock;
use token_bucket::{Bucket, Envelope, RedisConfig};

use crate::support::{EVENT_LIMIT, Worker, check, dead_pid, run, temp_database};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn a_lease_left_by_a_sigkilled_worker_is_listed_as_dead_and_removed_with_yes() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("zombie");
    let runtime = runtime();
    let fleet = runtime.block_on(async {
        let bucket = Bucket::redis_from_url(
            &url,
            RedisConfig {
                key_prefix: prefix.clone(),
                ..RedisConfig::default()
            },
        )
        .expect("a bucket");
        // 150 tokens in deficit at 1 token/min: the first /deal page waits for hours.
        bucket
            .reconcile(&Envelope {
                tokens_left: -150,
                refill_in_ms: 60_000,
                refill_rate: 1,
                tokens_consumed: 0,
                server_timestamp_ms: 1,
            })
            .await
            .expect("the bucket is seeded");
        Fleet::connect(&url, FleetConfig::with_prefix(&prefix)).expect("a fleet")
    });

    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let mut worker = Worker::start(&database, &["--redis-url", &url, "--key-prefix", &prefix]);

    // The lease shows up as soon as discovery starts its pass; this loop only reads Redis.
    let deadline = Instant::now() + EVENT_LIMIT;
    let holder = loop {
        let lease = runtime
            .block_on(fleet.inspect("discovery"))
            .expect("redis answers");
        if let Some(lease) = lease.filter(|lease| lease.holder_instance.pid() == worker.pid()) {
            break lease.holder_instance;
        }
        assert!(Instant::now() < deadline, "the worker never took the lease");
        std::thread::yield_now();
    };
    let lease_key = format!("{prefix}fleet:lease:discovery");
    let flush = |extra: &[&str]| {
        let mut arguments = vec!["leases", "--redis-url", &url, "--key-prefix", &prefix];
        arguments.extend_from_slice(extra);
        run("flush", &arguments)
    };

    // While the worker lives, --yes refuses to take its lease.
    let (stdout, _) = check(&flush(&["--yes"]), 1);
    assert!(stdout.contains("REFUSED"), "{stdout}");
    assert!(
        runtime
            .block_on(fleet.inspect("discovery"))
            .unwrap()
            .is_some()
    );

    worker.kill_hard();

    // The dry run lists exactly this lease, its holder, and that the holder is dead.
    let (stdout, _) = check(&flush(&[]), 0);
    assert!(stdout.contains("dry run"), "{stdout}");
    let row = stdout
        .lines()
        .find(|line| line.contains(&lease_key))
        .unwrap_or_else(|| panic!("the lease is listed: {stdout}"));
    assert!(row.starts_with("delete"), "{row}");
    assert!(row.contains(&holder.to_string()), "{row}");
    assert!(row.contains(" dead "), "{row}");
    assert!(
        runtime
            .block_on(fleet.inspect("discovery"))
            .unwrap()
            .is_some(),
        "a dry run changes nothing"
    );

    let (stdout, _) = check(&flush(&["--yes"]), 0);
    assert!(
        stdout.contains(&format!("done: delete {lease_key}")),
        "{stdout}"
    );
    assert!(
        runtime
            .block_on(fleet.inspect("discovery"))
            .unwrap()
            .is_none()
    );
    let keys = runtime.block_on(fleet.list_keys()).expect("keys");
    assert!(
        keys.iter()
            .any(|key| key.key() == format!("{prefix}fleet:fencing:discovery")),
        "the fencing counter is kept: {keys:?}"
    );
}

#[test]
fn without_flush_a_successor_takes_a_dead_holders_lease_once_its_ttl_has_passed() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("zombie-ttl");
    let clock = ManualClock::at(1_700_000_000_000);
    let config = FleetConfig::with_prefix(&prefix).clock(FleetClock::injected(clock.clone()));
    let runtime = runtime();
    runtime.block_on(async {
        let fleet = Fleet::connect(&url, config).expect("a fleet");
        let hostname = fleet.instance().hostname().to_owned();
        let dead = fleet.with_instance(InstanceId::new(&hostname, dead_pid()));
        let ttl = Duration::from_secs(30);
        let zombie = dead
            .acquire_lease("discovery", ttl)
            .await
            .expect("redis")
            .expect("free");
        let successor = fleet.with_instance(InstanceId::new(&hostname, std::process::id()));
        clock.advance_ms(29_999);
        assert!(
            successor
                .acquire_lease("discovery", ttl)
                .await
                .expect("redis")
                .is_none(),
            "held until its TTL passes"
        );
        clock.advance_ms(1);
        let taken = successor
            .acquire_lease("discovery", ttl)
            .await
            .expect("redis")
            .expect("free once the TTL has passed, without flush");
        assert!(taken.fencing() > zombie.fencing());
    });
}
