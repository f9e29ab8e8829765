//! The watchdog binary on an embedded-tier database whose heartbeats are planted in the worker's
//! own format: a task stalled 16 min ago is restarted (the restart command writes a marker
//! file), the incident is recorded where diag shows it, a second run within 30 min does not
//! restart again; waiting for tokens, a quota projected below zero and a dry run restart
//! nothing. The fleet tier's variant runs the library over Redis.

use std::path::Path;

use diagnostics::{LockInspector, NoProbe, Sources, Status};
use fleet::{Incident, TaskState, WaitReason};
use operations::stall::incident_kinds;

use crate::support::{check, heartbeat, now_ms, plant_heartbeat, run, state, temp_database};

const MINUTE: i64 = 60_000;

fn working() -> TaskState {
    TaskState::Working {
        what: "analysing 12 deals".to_owned(),
    }
}

/// A restart command that appends a line to `marker`.
fn marker_command(marker: &Path) -> String {
    format!("echo restarted >> '{}'", marker.display())
}

fn restarts(marker: &Path) -> usize {
    std::fs::read_to_string(marker).map_or(0, |text| text.lines().count())
}

fn incidents(database: &Path) -> Vec<Incident> {
    state(database, diagnostics::records::INCIDENTS_STATE_KEY)
        .map(|json| serde_json::from_str(&json).expect("incidents are json"))
        .unwrap_or_default()
}

struct NoLock;

impl LockInspector for NoLock {
    fn holder(&self, _database: &Path) -> Result<Option<Option<u32>>, String> {
        Ok(None)
    }
}

#[test]
fn a_task_stalled_for_16_minutes_is_restarted_once_and_diag_shows_the_incident() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let marker = directory.path().join("restarted");
    let now = now_ms();
    plant_heartbeat(
        &database,
        &heartbeat(
            "analysis",
            now - 16 * MINUTE,
            now - 16 * MINUTE,
            working(),
            true,
        ),
    );
    plant_heartbeat(
        &database,
        &heartbeat("discovery", now - MINUTE, now - MINUTE, working(), false),
    );
    let database_text = database.to_str().expect("utf-8");
    let command = marker_command(&marker);
    let arguments = ["--database", database_text, "--restart-cmd", &command];

    let (stdout, _) = check(&run("watchdog", &arguments), 2);
    assert!(stdout.contains("CRITICAL: stalled: analysis"), "{stdout}");
    assert!(stdout.contains("no progress for 16 min"), "{stdout}");
    assert!(
        stdout.contains("restarted: ran `echo restarted"),
        "{stdout}"
    );
    assert_eq!(restarts(&marker), 1);
    let recorded = incidents(&database);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].kind, incident_kinds::RESTART);
    assert!(recorded[0].detail.contains("analysis"), "{recorded:?}");

    // diag shows it.
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(diagnostics::diagnose(
            &Sources::embedded(&database),
            &NoProbe,
            &NoLock,
            now_ms(),
        ));
    let incidents_check = report
        .checks
        .iter()
        .find(|check| check.name == diagnostics::checks::names::INCIDENTS)
        .expect("an incidents check");
    assert_eq!(incidents_check.status, Status::Warn, "{incidents_check:?}");
    assert!(
        incidents_check.detail.contains(incident_kinds::RESTART),
        "{incidents_check:?}"
    );

    // Still stalled a minute later (the planted heartbeat did not move): within 30 min of the
    // restart, no second restart, but the stall is reported and recorded.
    let (stdout, _) = check(&run("watchdog", &arguments), 2);
    assert!(
        stdout.contains("not restarting: the last restart was"),
        "{stdout}"
    );
    assert_eq!(restarts(&marker), 1, "never two restarts within 30 min");
    let recorded = incidents(&database);
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].kind, incident_kinds::STALL_COOLDOWN);
}

#[test]
fn a_restart_more_than_30_minutes_old_allows_the_next_one() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let marker = directory.path().join("restarted");
    let now = now_ms();
    plant_heartbeat(
        &database,
        &heartbeat(
            "refresh",
            now - 40 * MINUTE,
            now - 40 * MINUTE,
            working(),
            true,
        ),
    );
    let old_restart = vec![Incident::new(
        now - 31 * MINUTE,
        incident_kinds::RESTART,
        "an earlier restart",
    )];
    deal_store::Writer::open(&database, deal_store::StoreOptions::default())
        .expect("the store opens")
        .set_state(
            diagnostics::records::INCIDENTS_STATE_KEY,
            &serde_json::to_string(&old_restart).expect("json"),
            keepa_model::UnixSeconds(now / 1000),
        )
        .expect("stored");
    let command = marker_command(&marker);
    let database_text = database.to_str().expect("utf-8");
    check(
        &run(
            "watchdog",
            &["--database", database_text, "--restart-cmd", &command],
        ),
        2,
    );
    assert_eq!(restarts(&marker), 1);
    assert_eq!(
        incidents(&database).len(),
        2,
        "the new restart is kept first"
    );
}

#[test]
fn waiting_for_tokens_for_16_minutes_is_not_restarted() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let marker = directory.path().join("restarted");
    let now = now_ms();
    let tokens = TaskState::Waiting {
        reason: WaitReason::Tokens {
            until_ms: now + 5 * MINUTE,
        },
    };
    plant_heartbeat(
        &database,
        &heartbeat(
            "analysis",
            now - 16 * MINUTE,
            now - 16 * MINUTE,
            tokens,
            true,
        ),
    );
    let command = marker_command(&marker);
    let database_text = database.to_str().expect("utf-8");
    let (stdout, _) = check(
        &run(
            "watchdog",
            &["--database", database_text, "--restart-cmd", &command],
        ),
        0,
    );
    assert!(
        stdout.contains("not a stall (waiting for tokens"),
        "{stdout}"
    );
    assert_eq!(restarts(&marker), 0);
    assert!(incidents(&database).is_empty(), "nothing to record");
}

#[test]
fn a_quota_projected_below_zero_is_the_reason_not_a_stall() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let marker = directory.path().join("restarted");
    let now = now_ms();
    // The worker blocks on the bucket inside a request and still says "working".
    plant_heartbeat(
        &database,
        &heartbeat(
            "discovery",
            now - 20 * MINUTE,
            now - 20 * MINUTE,
            working(),
            true,
        ),
    );
    let quota = diagnostics::QuotaRecord {
        tokens_left: -170,
        refill_rate: 5,
        refill_in_ms: 30_000,
        observed_at_ms: now - 2 * MINUTE,
        foreign_consumption: 0,
    };
    deal_store::Writer::open(&database, deal_store::StoreOptions::default())
        .expect("the store opens")
        .set_state(
            diagnostics::records::QUOTA_STATE_KEY,
            &serde_json::to_string(&quota).expect("json"),
            keepa_model::UnixSeconds(now / 1000),
        )
        .expect("stored");
    let command = marker_command(&marker);
    let database_text = database.to_str().expect("utf-8");
    let (stdout, _) = check(
        &run(
            "watchdog",
            &["--database", database_text, "--restart-cmd", &command],
        ),
        0,
    );
    assert!(stdout.contains("the quota is the reason"), "{stdout}");
    assert_eq!(restarts(&marker), 0);
}

#[test]
fn a_dry_run_names_the_stall_but_neither_restarts_nor_records() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let marker = directory.path().join("restarted");
    let now = now_ms();
    plant_heartbeat(
        &database,
        &heartbeat(
            "analysis",
            now - 16 * MINUTE,
            now - 16 * MINUTE,
            working(),
            true,
        ),
    );
    let command = marker_command(&marker);
    let database_text = database.to_str().expect("utf-8");
    let (stdout, _) = check(
        &run(
            "watchdog",
            &[
                "--database",
                database_text,
                "--restart-cmd",
                &command,
                "--dry-run",
            ],
        ),
        2,
    );
    assert!(
        stdout.contains("dry run: would run the restart command"),
        "{stdout}"
    );
    assert_eq!(restarts(&marker), 0);
    assert!(incidents(&database).is_empty());
}

#[test]
fn a_failing_restart_command_is_recorded_and_still_counts_for_the_30_minute_limit() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let now = now_ms();
    plant_heartbeat(
        &database,
        &heartbeat(
            "analysis",
            now - 16 * MINUTE,
            now - 16 * MINUTE,
            working(),
            true,
        ),
    );
    let database_text = database.to_str().expect("utf-8");
    let arguments = [
        "--database",
        database_text,
        "--restart-cmd",
        "echo 'unit not found' >&2; exit 5",
    ];
    let (stdout, _) = check(&run("watchdog", &arguments), 2);
    assert!(stdout.contains("restart FAILED"), "{stdout}");
    assert!(stdout.contains("exit 5: unit not found"), "{stdout}");
    assert_eq!(incidents(&database)[0].kind, incident_kinds::RESTART_FAILED);
    let (stdout, _) = check(&run("watchdog", &arguments), 2);
    assert!(stdout.contains("not restarting"), "{stdout}");
}

#[test]
fn no_heartbeat_at_all_warns_and_a_healthy_worker_is_ok() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let database_text = database.to_str().expect("utf-8");
    let arguments = ["--database", database_text, "--restart-cmd", "false"];
    let (stdout, _) = check(&run("watchdog", &arguments), 1);
    assert!(
        stdout.contains("WARNING: no task has reported progress"),
        "{stdout}"
    );
    let now = now_ms();
    plant_heartbeat(
        &database,
        &heartbeat("analysis", now - 14 * MINUTE, now, working(), true),
    );
    let (stdout, _) = check(&run("watchdog", &arguments), 0);
    assert!(stdout.contains("OK: no task is stalled"), "{stdout}");
}

/// The fleet tier, through the library: heartbeats and incidents in Redis.
#[test]
fn in_the_fleet_tier_the_stall_and_the_restart_live_in_redis() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("watchdog-fleet");
    let directory = tempfile::tempdir().expect("a temporary directory");
    let marker = directory.path().join("restarted");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let fleet =
            fleet::Fleet::connect(&url, fleet::FleetConfig::with_prefix(&prefix)).expect("a fleet");
        let now = fleet.now_ms().await.expect("redis time");
        let progress = heartbeat("analysis", now - 16 * MINUTE, now, working(), true).progress;
        fleet
            .report_progress("analysis", progress)
            .await
            .expect("reported");
        let target = operations::Target::fleet(
            operations::RedisTarget::new(&url, &prefix).expect("a redis target"),
            None,
        );
        let config = operations::watchdog::WatchdogConfig::new(
            target,
            operations::watchdog::RestartAction::Command(marker_command(&marker)),
            false,
        )
        .expect("a valid config");
        let first = operations::watchdog::run(&config, 0).await.expect("a run");
        assert_eq!(first.exit_code, 2, "{:?}", first.lines);
        assert!(
            first
                .restart
                .as_ref()
                .is_some_and(|restart| restart.succeeded)
        );
        let second = operations::watchdog::run(&config, 0).await.expect("a run");
        assert!(second.restart.is_none(), "{:?}", second.lines);
        let kinds: Vec<String> = fleet
            .incidents(10)
            .await
            .expect("incidents")
            .into_iter()
            .map(|incident| incident.kind)
            .collect();
        assert_eq!(
            kinds,
            [incident_kinds::STALL_COOLDOWN, incident_kinds::RESTART]
        );
    });
    assert_eq!(restarts(&marker), 1);
}
