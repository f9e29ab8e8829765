//! Each check's status boundaries, over hand-made observations (no IO).

use std::collections::BTreeMap;

use deal_store::AgeBuckets;
use diagnostics::checks::{
    self, DatabaseFacts, Funnel, LeaseObservation, QuotaInput, QuotaSource, Tier, Unreadable,
    WatermarkFacts,
};
use diagnostics::{CheckResult, Report, Status, exit_code};
use fleet::{Incident, TaskState, WaitReason};

use crate::support::{MINUTE_MS, NOW_MS, heartbeat, quota, waiting, working};

#[track_caller]
fn check(result: CheckResult, expected: Status) -> CheckResult {
    assert_eq!(result.status, expected, "{result:?}");
    assert!(!result.detail.contains('\n'), "one line: {result:?}");
    if expected != Status::Pass {
        assert!(result.remedy.is_some(), "a remedy for {result:?}");
    }
    result
}

/// A source that could not be read, as gathering hands it over.
fn unreadable(reason: &str) -> Unreadable {
    Unreadable::new(reason, format!("fix: {reason}"))
}

const FIFTEEN_MIN: i64 = 15 * MINUTE_MS;

#[test]
fn task_progress_is_stale_only_after_fifteen_minutes() {
    let at = |age| {
        checks::check_task_progress(
            &Ok(vec![heartbeat("discovery", age, 0, working(), true)]),
            NOW_MS,
        )
    };
    check(at(FIFTEEN_MIN), Status::Pass);
    let stalled = check(at(FIFTEEN_MIN + 1), Status::Fail);
    assert!(stalled.detail.contains("STALLED"), "{stalled:?}");
    assert!(stalled.remedy.unwrap().contains("watchdog"));
}

#[test]
fn waiting_for_tokens_paused_or_no_work_is_not_stale() {
    let hour = 60 * MINUTE_MS;
    for state in [
        waiting(WaitReason::Tokens {
            until_ms: NOW_MS + MINUTE_MS,
        }),
        waiting(WaitReason::Paused),
        waiting(WaitReason::NoWork),
        waiting(WaitReason::Lease),
    ] {
        let heartbeats = Ok(vec![heartbeat("analysis", hour, MINUTE_MS, state, true)]);
        check(
            checks::check_task_progress(&heartbeats, NOW_MS),
            Status::Pass,
        );
    }
    // No known work: not a stall either.
    let idle = Ok(vec![heartbeat(
        "refresh",
        hour,
        MINUTE_MS,
        working(),
        false,
    )]);
    check(checks::check_task_progress(&idle, NOW_MS), Status::Pass);
}

#[test]
fn an_excuse_reported_long_ago_does_not_count() {
    let tokens = waiting(WaitReason::Tokens { until_ms: NOW_MS });
    let heartbeats = Ok(vec![heartbeat(
        "analysis",
        60 * MINUTE_MS,
        FIFTEEN_MIN + 1,
        tokens,
        true,
    )]);
    let result = check(
        checks::check_task_progress(&heartbeats, NOW_MS),
        Status::Fail,
    );
    assert!(result.detail.contains("no report for"), "{result:?}");
}

#[test]
fn backing_off_for_long_is_a_stall() {
    let backoff = waiting(WaitReason::Backoff {
        until_ms: NOW_MS + MINUTE_MS,
    });
    let heartbeats = Ok(vec![heartbeat(
        "analysis",
        FIFTEEN_MIN + 1,
        0,
        backoff,
        true,
    )]);
    let result = check(
        checks::check_task_progress(&heartbeats, NOW_MS),
        Status::Fail,
    );
    // Restarting does not help while Keepa refuses the requests: look at the errors first.
    assert!(
        result
            .remedy
            .as_deref()
            .unwrap()
            .contains("see api_errors first"),
        "{result:?}"
    );
}

#[test]
fn task_progress_without_heartbeats_warns_and_stopped_warns() {
    check(
        checks::check_task_progress(&Ok(Vec::new()), NOW_MS),
        Status::Warn,
    );
    let stopped = Ok(vec![heartbeat(
        "discovery",
        0,
        0,
        TaskState::Stopped,
        false,
    )]);
    check(checks::check_task_progress(&stopped, NOW_MS), Status::Warn);
    let unknown = check(
        checks::check_task_progress(&Err(unreadable("redis is down")), NOW_MS),
        Status::Unknown,
    );
    assert_eq!(unknown.detail, "redis is down");
    assert_eq!(unknown.remedy.as_deref(), Some("fix: redis is down"));
}

#[test]
fn the_worst_task_decides() {
    let heartbeats = Ok(vec![
        heartbeat("analysis", 0, 0, working(), true),
        heartbeat("discovery", FIFTEEN_MIN + 1, 0, working(), true),
    ]);
    let result = check(
        checks::check_task_progress(&heartbeats, NOW_MS),
        Status::Fail,
    );
    assert!(result.detail.starts_with("analysis: working"), "{result:?}");
}

fn lease(dead: bool, expires_in_ms: i64) -> LeaseObservation {
    LeaseObservation {
        name: "discovery".to_owned(),
        holder: "host:4242:abcd".to_owned(),
        fencing: 7,
        expires_at_ms: NOW_MS + expires_in_ms,
        holder_is_local_and_dead: dead,
    }
}

#[test]
fn a_lease_held_by_a_dead_owner_warns() {
    let result = check(
        checks::check_leases(&Ok(vec![lease(true, 20_000)]), NOW_MS),
        Status::Warn,
    );
    assert!(
        result
            .remedy
            .unwrap()
            .contains("cargo run -p flush -- leases --yes")
    );
    check(
        checks::check_leases(&Ok(vec![lease(false, 20_000)]), NOW_MS),
        Status::Pass,
    );
    // Expired: anyone may take it, dead holder or not.
    check(
        checks::check_leases(&Ok(vec![lease(true, 0)]), NOW_MS),
        Status::Pass,
    );
    check(checks::check_leases(&Ok(Vec::new()), NOW_MS), Status::Pass);
    check(
        checks::check_leases(&Err(unreadable("down")), NOW_MS),
        Status::Unknown,
    );
}

#[test]
fn backlog_boundaries() {
    check(checks::check_backlog(&Ok(0)), Status::Pass);
    check(checks::check_backlog(&Ok(99)), Status::Pass);
    check(checks::check_backlog(&Ok(100)), Status::Warn);
    check(checks::check_backlog(&Ok(999)), Status::Warn);
    check(checks::check_backlog(&Ok(1000)), Status::Fail);
    check(
        checks::check_backlog(&Err(unreadable("not tracked"))),
        Status::Unknown,
    );
}

fn ages(under_1h: u64, day: u64, two_days: u64, three_days: u64, older: u64) -> AgeBuckets {
    AgeBuckets {
        under_1h,
        from_1h_to_24h: day,
        from_24h_to_48h: two_days,
        from_48h_to_72h: three_days,
        over_72h: older,
    }
}

#[test]
fn stale_deals_count_and_warnings() {
    let result = check(
        checks::check_stale_deals(&Ok(ages(10, 10, 3, 2, 0))),
        Status::Pass,
    );
    assert!(
        result
            .detail
            .starts_with("5 of 25 deals not seen for > 24 h"),
        "{result:?}"
    );
    check(
        checks::check_stale_deals(&Ok(ages(10, 10, 0, 0, 1))),
        Status::Warn,
    );
    check(
        checks::check_stale_deals(&Ok(ages(1, 1, 2, 1, 0))),
        Status::Warn,
    );
    check(
        checks::check_stale_deals(&Ok(AgeBuckets::default())),
        Status::Pass,
    );
}

#[test]
fn deal_funnel_lists_rejections_by_reason() {
    let funnel = Funnel {
        stored: 40,
        visible: 25,
        quarantined: 2,
        rejected_last_24h: vec![
            ("sell_below_minimum".to_owned(), 7),
            ("no_buy_price".to_owned(), 3),
        ],
    };
    let result = check(checks::check_deal_funnel(&Ok(funnel.clone())), Status::Pass);
    assert_eq!(
        result.detail,
        "40 stored, 25 visible, 2 quarantined; 10 rejected in 24 h (sell_below_minimum 7, no_buy_price 3)"
    );
    check(
        checks::check_deal_funnel(&Ok(Funnel {
            visible: 0,
            ..funnel
        })),
        Status::Warn,
    );
    check(
        checks::check_deal_funnel(&Ok(Funnel::default())),
        Status::Pass,
    );
}

#[test]
fn api_errors_by_kind() {
    check(checks::check_api_errors(&Ok(Vec::new())), Status::Pass);
    check(
        checks::check_api_errors(&Ok(vec![("timeout".to_owned(), 50)])),
        Status::Pass,
    );
    check(
        checks::check_api_errors(&Ok(vec![("timeout".to_owned(), 51)])),
        Status::Warn,
    );
    let revoked = check(
        checks::check_api_errors(&Ok(vec![("invalid_key".to_owned(), 1)])),
        Status::Fail,
    );
    assert!(revoked.detail.contains("invalid_key 1"));
}

#[test]
fn call_rates_against_expectations() {
    let rates = Ok(Some(vec![
        ("worker".to_owned(), 4.0),
        ("phantom".to_owned(), 2.0),
    ]));
    check(
        checks::check_call_rates(&rates, &BTreeMap::new()),
        Status::Pass,
    );
    let expected: BTreeMap<String, f64> = [("worker".to_owned(), 5.0)].into();
    let result = check(checks::check_call_rates(&rates, &expected), Status::Warn);
    assert!(
        result.detail.contains("phantom is not an expected client"),
        "{result:?}"
    );
    let both: BTreeMap<String, f64> =
        [("worker".to_owned(), 3.0), ("phantom".to_owned(), 2.0)].into();
    let result = check(checks::check_call_rates(&rates, &both), Status::Warn);
    assert!(
        result.detail.contains("worker above its expected 3.0/min"),
        "{result:?}"
    );
    let within: BTreeMap<String, f64> =
        [("worker".to_owned(), 4.0), ("phantom".to_owned(), 2.0)].into();
    check(checks::check_call_rates(&rates, &within), Status::Pass);
    check(checks::check_call_rates(&Ok(None), &expected), Status::Pass);
}

#[test]
fn database_integrity() {
    let held: Result<_, Unreadable> = Ok(Some(Some(42)));
    let sound = DatabaseFacts {
        integrity: vec!["ok".to_owned()],
        size_bytes: 3 * 1024 * 1024 / 2,
    };
    let result = check(
        checks::check_database(&Ok(sound), false, &held),
        Status::Pass,
    );
    assert_eq!(result.detail, "integrity ok, 1.5 MiB");
    let broken = DatabaseFacts {
        integrity: vec!["row 3 missing from index".to_owned()],
        size_bytes: 10,
    };
    check(
        checks::check_database(&Ok(broken), false, &held),
        Status::Fail,
    );
    let locked = check(
        checks::check_database(
            &Err(unreadable("database x.sqlite is locked")),
            false,
            &held,
        ),
        Status::Unknown,
    );
    assert_eq!(
        locked.remedy.as_deref(),
        Some("fix: database x.sqlite is locked")
    );
}

#[test]
fn a_missing_database_fails_only_while_a_worker_holds_its_lock() {
    let missing = || Err(unreadable("database x.sqlite does not exist"));
    let gone = check(
        checks::check_database(&missing(), true, &Ok(Some(Some(42)))),
        Status::Fail,
    );
    assert!(gone.detail.contains("worker pid 42"), "{gone:?}");
    assert!(
        gone.remedy.as_deref().unwrap().contains("kill -STOP 42"),
        "{gone:?}"
    );
    check(
        checks::check_database(&missing(), true, &Ok(Some(None))),
        Status::Fail,
    );
    // No worker: a wrong --database, or nothing ran yet.
    check(
        checks::check_database(&missing(), true, &Ok(None)),
        Status::Unknown,
    );
    check(
        checks::check_database(&missing(), true, &Err(unreadable("lock unreadable"))),
        Status::Unknown,
    );
    // Present but unreadable (locked, corrupt) while the worker runs: not a deleted file.
    check(
        checks::check_database(&missing(), false, &Ok(Some(Some(42)))),
        Status::Unknown,
    );
}

#[test]
fn watermark_lag_boundaries() {
    let lag = |lag_ms: i64| {
        checks::check_watermark(
            &Ok(Some(WatermarkFacts {
                watermark_ms: NOW_MS - lag_ms,
                updated_at_ms: NOW_MS,
            })),
            NOW_MS,
        )
    };
    check(lag(60 * MINUTE_MS), Status::Pass);
    check(lag(60 * MINUTE_MS + 1), Status::Warn);
    check(lag(6 * 60 * MINUTE_MS), Status::Warn);
    check(lag(6 * 60 * MINUTE_MS + 1), Status::Fail);
    check(lag(-5 * MINUTE_MS), Status::Pass);
    check(lag(-25 * 60 * MINUTE_MS), Status::Warn);
    check(checks::check_watermark(&Ok(None), NOW_MS), Status::Pass);
}

#[test]
fn recent_incidents_warn() {
    let day = 24 * 60 * MINUTE_MS;
    let old = Incident::new(NOW_MS - day - 1, "stall-restart", "restarted the worker");
    check(
        checks::check_incidents(&Ok(vec![old.clone()]), NOW_MS),
        Status::Pass,
    );
    let recent = Incident::new(
        NOW_MS - day,
        "stall-restart",
        "restarted the worker (pid 42)",
    );
    let result = check(
        checks::check_incidents(&Ok(vec![recent, old]), NOW_MS),
        Status::Warn,
    );
    assert!(
        result
            .detail
            .contains("stall-restart: restarted the worker (pid 42)"),
        "{result:?}"
    );
}

#[test]
fn the_pause_flag_warns() {
    check(checks::check_pause(&Ok(None), NOW_MS), Status::Pass);
    let flag: fleet::PauseFlag = serde_json::from_value(serde_json::json!({
        "reason": "migrating", "by": "ops", "at_ms": NOW_MS - 5 * MINUTE_MS,
    }))
    .expect("a pause flag");
    let result = check(checks::check_pause(&Ok(Some(flag)), NOW_MS), Status::Warn);
    assert_eq!(result.detail, "paused by ops 5 min ago: migrating");
    assert!(result.remedy.unwrap().contains("cargo run -p flush"));
}

#[test]
fn the_instance_lock_free_warns_only_in_the_embedded_tier() {
    check(
        checks::check_instance_lock(&Ok(Some(Some(42))), Tier::Embedded),
        Status::Pass,
    );
    check(
        checks::check_instance_lock(&Ok(None), Tier::Embedded),
        Status::Warn,
    );
    check(
        checks::check_instance_lock(&Ok(None), Tier::Fleet),
        Status::Pass,
    );
    check(
        checks::check_instance_lock(&Err(unreadable("permission denied")), Tier::Embedded),
        Status::Unknown,
    );
}

fn observed(record: diagnostics::QuotaRecord) -> QuotaInput {
    QuotaInput::Observed {
        record,
        source: QuotaSource::StoredEnvelope,
    }
}

#[test]
fn quota_balance_deficit_and_floor() {
    let floor = -180;
    check(
        checks::check_quota(&observed(quota(120, 5, 0)), floor, true, NOW_MS),
        Status::Pass,
    );
    let deficit = check(
        checks::check_quota(&observed(quota(-179, 5, 0)), floor, true, NOW_MS),
        Status::Pass,
    );
    assert!(
        deficit.detail.contains("deficit 179 (floor -180)"),
        "{deficit:?}"
    );
    check(
        checks::check_quota(&observed(quota(-180, 5, 0)), floor, true, NOW_MS),
        Status::Fail,
    );
    // No token information: an invalid key.
    check(
        checks::check_quota(&observed(quota(0, 0, 0)), floor, true, NOW_MS),
        Status::Fail,
    );
}

#[test]
fn quota_at_the_cap_warns_only_with_work() {
    let full = observed(quota(300, 5, 0));
    check(checks::check_quota(&full, -180, true, NOW_MS), Status::Warn);
    check(
        checks::check_quota(&full, -180, false, NOW_MS),
        Status::Pass,
    );
}

#[test]
fn quota_foreign_consumption_warns() {
    let mut record = quota(100, 20, 0);
    record.foreign_consumption = 386;
    let result = check(
        checks::check_quota(&observed(record), -180, false, NOW_MS),
        Status::Warn,
    );
    assert!(
        result.detail.contains("foreign consumption 386"),
        "{result:?}"
    );
}

#[test]
fn quota_without_observation_is_unknown_and_a_rejected_key_fails() {
    check(
        checks::check_quota(
            &QuotaInput::Unavailable(unreadable("no state")),
            -180,
            false,
            NOW_MS,
        ),
        Status::Unknown,
    );
    check(
        checks::check_quota(
            &QuotaInput::KeyRejected("400 invalidKey".to_owned()),
            -180,
            false,
            NOW_MS,
        ),
        Status::Fail,
    );
}

#[test]
fn the_report_orders_fail_over_warn_over_unknown_over_pass() {
    let with = |statuses: &[Status]| {
        let checks = statuses
            .iter()
            .map(|status| CheckResult::new("x", *status, "detail", None))
            .collect();
        Report::new(checks, NOW_MS)
    };
    assert_eq!(with(&[]).exit_code(), exit_code::OK);
    assert_eq!(with(&[Status::Pass]).exit_code(), exit_code::OK);
    assert_eq!(
        with(&[Status::Pass, Status::Unknown]).exit_code(),
        exit_code::UNKNOWN
    );
    assert_eq!(
        with(&[Status::Unknown, Status::Warn]).exit_code(),
        exit_code::WARNING
    );
    assert_eq!(
        with(&[Status::Fail, Status::Unknown, Status::Warn]).exit_code(),
        exit_code::CRITICAL
    );
}

#[test]
fn details_stay_on_one_line() {
    let result = CheckResult::new(
        "x",
        Status::Warn,
        "two\nlines",
        Some("a\nremedy".to_owned()),
    );
    assert_eq!(result.detail, "two lines");
    assert_eq!(result.remedy.as_deref(), Some("a remedy"));
}

#[test]
fn human_durations() {
    use diagnostics::checks::human_duration;
    assert_eq!(human_duration(59_999), "59 s");
    assert_eq!(human_duration(60_000), "1 min");
    assert_eq!(human_duration(3_660_000), "1 h 1 min");
    assert_eq!(human_duration(90_000_000), "1 d 1 h");
    assert_eq!(human_duration(-5), "0 s");
}
