//! The fleet tier's Redis dies and comes back empty, on a `redis-server` of this test's own
//! (`testkit::PrivateRedis`: the suite's shared server keeps running for the other tests).
//!
//! While it is down, every check that reads Redis is UNKNOWN naming the endpoint, with a remedy
//! that says to start Redis or fix the URL, and the database's checks are still evaluated.
//! Right after it restarts without persistence, diag says what it knows and no more: the bucket
//! has no state and no task has reported progress (neither passes), the incidents and call
//! counts that went with the old server are UNKNOWN rather than a PASS, and the lease check
//! reports the truth (none held). The database's commits are untouched throughout.

use std::time::Duration;

use deal_store::{BacklogEntry, BacklogKind, Fence, Reader, StoreOptions, Writer};
use diagnostics::checks::names;
use diagnostics::{NoProbe, RedisSource, Report, Sources, Status, exit_code};
use fleet::{Fleet, FleetConfig, Incident, InstanceId, Progress};
use keepa_model::{KeepaMinute, UnixSeconds};
use testkit::PrivateRedis;
use token_bucket::{Bucket, Envelope, RedisConfig};

use crate::support::{FixedLock, MINUTE_MS, working};

const PREFIX: &str = "keepa-deals:";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// What the database holds, to show that Redis's fate does not touch it.
fn committed(reader: &Reader<'_>) -> (u64, Option<(KeepaMinute, UnixSeconds)>, Vec<Fence>) {
    (
        reader.backlog_depth().expect("backlog"),
        reader.stored_watermark().expect("watermark"),
        reader.fences().expect("fences"),
    )
}

/// What a fleet-tier worker leaves behind: in Redis a heartbeat, the discovery lease (held by
/// this live process), an incident, a call count and a synced bucket; in the database a backlog
/// and a watermark written under the lease's fencing number.
async fn plant_fleet_state(url: &str, writer: &mut Writer) -> i64 {
    let fleet = Fleet::connect(url, FleetConfig::with_prefix(PREFIX)).expect("a fleet");
    let now = fleet.now_ms().await.expect("redis time");
    let progress = Progress::new(InstanceId::current().clone(), now, working(), true);
    fleet
        .report_progress("discovery", progress)
        .await
        .expect("reported");
    let lease = fleet
        .acquire_lease("discovery", Duration::from_secs(30))
        .await
        .expect("redis answers")
        .expect("the lease is free");
    fleet
        .record_incident(Incident::new(
            now,
            "watchdog-restart",
            "restarted the worker",
        ))
        .await
        .expect("recorded");
    fleet.record_call("worker").await.expect("counted");
    let config = RedisConfig {
        key_prefix: PREFIX.to_owned(),
        ..RedisConfig::default()
    };
    let bucket = Bucket::redis_from_url(url, config).expect("a bucket");
    bucket
        .reconcile(&Envelope {
            tokens_left: 200,
            refill_in_ms: 30_000,
            refill_rate: 5,
            tokens_consumed: 0,
            server_timestamp_ms: now,
        })
        .await
        .expect("synced");

    let seconds = UnixSeconds(now / 1000);
    let queued: Vec<BacklogEntry> = (1..=3)
        .map(|n| BacklogEntry {
            asin: format!("B00000000{n}").parse().expect("an asin"),
            keepa_last_update: KeepaMinute::from_unix_seconds(seconds).expect("a minute"),
            kind: BacklogKind::Analyse,
        })
        .collect();
    let fence = Fence {
        lease: "discovery".to_owned(),
        number: lease.fencing(),
    };
    let watermark = KeepaMinute::from_unix_seconds(UnixSeconds(seconds.0 - 120)).expect("a minute");
    writer
        .record_discovery(&queued, &[], watermark, Some(&fence), seconds)
        .expect("committed");
    now
}

#[track_caller]
fn status_of(report: &Report, name: &str) -> Status {
    report.check(name).expect(name).status
}

#[test]
fn diag_tells_the_truth_while_redis_is_down_and_right_after_it_restarts_empty() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let mut writer = Writer::open(
        directory.path().join("deals.sqlite"),
        StoreOptions::default(),
    )
    .expect("a new store");
    let mut server = PrivateRedis::start();
    let endpoint = format!("127.0.0.1:{}", server.port());
    let runtime = runtime();
    let now = runtime.block_on(plant_fleet_state(&server.url(), &mut writer));
    let before = committed(&writer.reader());

    let mut sources = Sources::embedded(writer.path());
    sources.redis = Some(RedisSource::new(&server.url(), PREFIX).expect("a valid url"));
    // Redis's clock is this host's: the instants planted above are "now" for the checks too.
    let diagnose = |now_ms: i64| {
        runtime.block_on(diagnostics::diagnose(
            &sources,
            &NoProbe,
            &FixedLock(Ok(None)),
            now_ms,
        ))
    };

    let up = diagnose(now);
    for (name, expected) in [
        (names::QUOTA, Status::Pass),
        (names::TASK_PROGRESS, Status::Pass),
        (names::LEASES, Status::Pass),
        (names::CALL_RATES, Status::Pass),
        (names::INCIDENTS, Status::Warn),
        (names::PAUSE, Status::Pass),
        (names::BACKLOG, Status::Pass),
    ] {
        assert_eq!(status_of(&up, name), expected, "{name} while up: {up:#?}");
    }

    server.kill();
    let down = diagnose(now + MINUTE_MS);
    for name in [
        names::QUOTA,
        names::TASK_PROGRESS,
        names::LEASES,
        names::CALL_RATES,
        names::INCIDENTS,
        names::PAUSE,
    ] {
        let check = down.check(name).expect(name);
        assert_eq!(check.status, Status::Unknown, "{check:?}");
        assert!(
            check.detail.contains(&endpoint),
            "names the endpoint: {check:?}"
        );
        let remedy = check.remedy.as_deref().unwrap_or_default();
        assert!(
            remedy.contains("start redis") && remedy.contains("--redis-url"),
            "says to start redis or fix the url: {check:?}"
        );
    }
    // The database is another source: its checks still run.
    let backlog = down.check(names::BACKLOG).expect("backlog");
    assert_eq!(
        (backlog.status, backlog.detail.as_str()),
        (Status::Pass, "3 items waiting")
    );
    for name in [names::DATABASE, names::WATERMARK, names::DEAL_FUNNEL] {
        assert_eq!(status_of(&down, name), Status::Pass, "{name}: {down:#?}");
    }
    assert_eq!(down.exit_code(), exit_code::UNKNOWN, "{down:#?}");

    server.restart();
    let restarted = diagnose(now + 2 * MINUTE_MS);
    let quota = restarted.check(names::QUOTA).expect("quota");
    assert_eq!(quota.status, Status::Unknown, "{quota:?}");
    assert!(
        quota.detail.contains("the redis bucket has no state"),
        "{quota:?}"
    );
    assert!(
        quota
            .remedy
            .as_deref()
            .is_some_and(|remedy| remedy.contains("resynchronises")),
        "says the bucket resynchronises from the worker's next answer: {quota:?}"
    );
    let tasks = restarted.check(names::TASK_PROGRESS).expect("tasks");
    assert_eq!(tasks.status, Status::Warn, "{tasks:?}");
    assert!(
        tasks.detail.contains("no task has reported progress"),
        "{tasks:?}"
    );
    assert!(tasks.remedy.is_some(), "{tasks:?}");
    // What went with the old server cannot be known: not a PASS.
    for name in [names::INCIDENTS, names::CALL_RATES] {
        let check = restarted.check(name).expect(name);
        assert_eq!(check.status, Status::Unknown, "{check:?}");
        assert!(
            check.detail.contains("redis lost its state"),
            "says why: {check:?}"
        );
        assert!(check.remedy.is_some(), "{check:?}");
    }
    // What Redis says now is the truth about now.
    let leases = restarted.check(names::LEASES).expect("leases");
    assert_eq!(
        (leases.status, leases.detail.as_str()),
        (Status::Pass, "no lease is held")
    );
    assert_eq!(status_of(&restarted, names::PAUSE), Status::Pass);
    assert_eq!(
        restarted.check(names::BACKLOG).expect("backlog").detail,
        "3 items waiting"
    );
    assert_eq!(restarted.exit_code(), exit_code::WARNING, "{restarted:#?}");

    assert_eq!(
        committed(&writer.reader()),
        before,
        "nothing committed to the database is lost"
    );
}
