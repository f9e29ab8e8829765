//! Gathering from the fleet tier: a real Redis holding a heartbeat and a lease of a dead local
//! process, and a Redis port where nothing listens (UNKNOWN, not a crash).

use std::time::Duration;

use diagnostics::checks::names;
use diagnostics::{NoProbe, RedisSource, Sources, Status};
use fleet::{Fleet, FleetConfig, InstanceId, Progress};

use crate::support::{FixedLock, NOW_MS, working};

/// Above Linux's largest `pid_max` (2^22): no process can have it.
const DEAD_PID: u32 = 4_194_305;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn fleet_sources(url: &str, prefix: &str) -> Sources {
    let mut sources = Sources::embedded("/nonexistent/keepa-deals.sqlite");
    sources.redis = Some(RedisSource::new(url, prefix).expect("a valid redis url"));
    sources
}

#[test]
fn a_heartbeat_and_a_lease_of_a_dead_owner_are_read_from_redis() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("diagnostics-fleet");
    let runtime = runtime();
    runtime.block_on(async {
        let fleet = Fleet::connect(&url, FleetConfig::with_prefix(&prefix)).expect("a fleet");
        let now = fleet.now_ms().await.expect("redis time");
        let progress = Progress::new(InstanceId::current().clone(), now, working(), true);
        fleet
            .report_progress("discovery", progress)
            .await
            .expect("reported");
        let dead = InstanceId::new(InstanceId::current().hostname(), DEAD_PID);
        fleet
            .with_instance(dead)
            .acquire_lease("discovery", Duration::from_secs(30))
            .await
            .expect("redis answers")
            .expect("the lease is free");

        let sources = fleet_sources(&url, &prefix);
        let observations =
            diagnostics::gather::gather(&sources, &NoProbe, &FixedLock(Ok(None)), NOW_MS).await;
        let report = diagnostics::evaluate(&observations, &sources, NOW_MS);

        let tasks = report.check(names::TASK_PROGRESS).expect("tasks");
        assert_eq!(tasks.status, Status::Pass, "{tasks:?}");
        assert!(tasks.detail.starts_with("discovery: working"), "{tasks:?}");
        let leases = report.check(names::LEASES).expect("leases");
        assert_eq!(leases.status, Status::Warn, "{leases:?}");
        assert!(
            leases.detail.contains(&format!(":{DEAD_PID}:")),
            "{leases:?}"
        );
        assert_eq!(
            report.check(names::PAUSE).expect("pause").status,
            Status::Pass
        );
        assert_eq!(
            report.check(names::CALL_RATES).expect("rates").status,
            Status::Pass
        );
        // The bucket was never synced and no probe may run: UNKNOWN, saying why.
        let quota = report.check(names::QUOTA).expect("quota");
        assert_eq!(quota.status, Status::Unknown, "{quota:?}");
        assert!(
            quota.detail.contains("the redis bucket has no state"),
            "{quota:?}"
        );
    });
}

#[test]
fn a_dead_redis_makes_fleet_checks_unknown_not_a_crash() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let sources = fleet_sources("redis://127.0.0.1:1/", "keepa-deals:");
    let report = runtime().block_on(diagnostics::diagnose(
        &sources,
        &NoProbe,
        &FixedLock(Ok(None)),
        NOW_MS,
    ));
    for name in [
        names::TASK_PROGRESS,
        names::LEASES,
        names::CALL_RATES,
        names::INCIDENTS,
        names::PAUSE,
        names::QUOTA,
    ] {
        let check = report.check(name).expect(name);
        assert_eq!(check.status, Status::Unknown, "{check:?}");
        assert!(
            check.detail.contains("127.0.0.1:1"),
            "{check:?} names the endpoint"
        );
    }
    assert_eq!(report.exit_code(), diagnostics::exit_code::UNKNOWN);
}

#[test]
fn a_redis_url_with_a_password_never_prints_it() {
    let source =
        RedisSource::new("redis://:hunter2@127.0.0.1:6399/0", "keepa-deals:").expect("valid");
    assert!(!format!("{source:?}").contains("hunter2"));
    assert!(RedisSource::new("http://example.com", "keepa-deals:").is_err());
    assert!(RedisSource::new("redis://127.0.0.1:6399/", "").is_err());
}
