//! Gathering from the embedded tier: a real temporary database written through deal-store, a
//! database that does not exist, and a file that is not SQLite. Also the `/token` probe rule:
//! never with a recent observation, at most once without.

use deal_store::{StoreOptions, Writer};
use diagnostics::checks::{QuotaInput, QuotaSource, names};
use diagnostics::records::{HEARTBEAT_STATE_PREFIX, PAUSE_STATE_KEY, QUOTA_STATE_KEY};
use diagnostics::{NoProbe, ProbeError, Sources, Status};
use fleet::WaitReason;
use keepa_model::{KeepaMinute, UnixSeconds};

use crate::support::{
    CountingProbe, FixedLock, MINUTE_MS, NOW_MS, heartbeat, quota, waiting, working,
};

const NOW: UnixSeconds = UnixSeconds(NOW_MS / 1000);

fn temp_database() -> (tempfile::TempDir, Writer) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let writer = Writer::open(
        directory.path().join("deals.sqlite"),
        StoreOptions::default(),
    )
    .expect("a new store");
    (directory, writer)
}

fn put_json(writer: &mut Writer, key: &str, value: &impl serde::Serialize) {
    let text = serde_json::to_string(value).expect("json");
    writer.set_state(key, &text, NOW).expect("state written");
}

const HELD: FixedLock = FixedLock(Ok(Some(Some(4242))));

fn gather_with(
    sources: &Sources,
    probe: &impl diagnostics::TokenProbe,
    lock: &FixedLock,
) -> diagnostics::Observations {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(diagnostics::gather::gather(sources, probe, lock, NOW_MS))
}

#[test]
fn a_healthy_embedded_database_reads_without_a_probe() {
    let (_directory, mut writer) = temp_database();
    put_json(&mut writer, QUOTA_STATE_KEY, &quota(150, 5, 2 * MINUTE_MS));
    let tokens = waiting(WaitReason::Tokens {
        until_ms: NOW_MS + MINUTE_MS,
    });
    put_json(
        &mut writer,
        &format!("{HEARTBEAT_STATE_PREFIX}analysis"),
        &heartbeat("analysis", 60 * MINUTE_MS, MINUTE_MS, tokens, true),
    );
    put_json(
        &mut writer,
        &format!("{HEARTBEAT_STATE_PREFIX}discovery"),
        &heartbeat("discovery", MINUTE_MS, 0, working(), true),
    );
    writer.record_error("timeout", NOW).expect("error counted");
    writer.record_error("timeout", NOW).expect("error counted");
    let watermark = KeepaMinute::from_unix_seconds(UnixSeconds(NOW.0 - 10 * 60)).expect("a minute");
    writer
        .set_watermark(watermark, None, NOW)
        .expect("watermark");

    let sources = Sources::embedded(writer.path());
    let probe = CountingProbe::answering(Err(ProbeError::Unavailable("unused".to_owned())));
    let observations = gather_with(&sources, &probe, &HELD);
    assert_eq!(probe.calls(), 0, "a recent stored envelope: no /token call");
    assert!(!observations.probed);
    assert!(matches!(
        observations.quota,
        QuotaInput::Observed {
            source: QuotaSource::StoredEnvelope,
            ..
        }
    ));

    let report = diagnostics::evaluate(&observations, &sources, NOW_MS);
    let status = |name: &str| report.check(name).expect(name).status;
    assert_eq!(status(names::QUOTA), Status::Pass, "{report:#?}");
    assert_eq!(status(names::TASK_PROGRESS), Status::Pass, "{report:#?}");
    assert_eq!(status(names::DATABASE), Status::Pass);
    assert_eq!(status(names::WATERMARK), Status::Pass);
    assert_eq!(status(names::PAUSE), Status::Pass);
    assert_eq!(status(names::INSTANCE_LOCK), Status::Pass);
    assert_eq!(status(names::CALL_RATES), Status::Pass);
    let backlog = report.check(names::BACKLOG).expect("backlog");
    assert_eq!(
        (backlog.status, backlog.detail.as_str()),
        (Status::Pass, "0 items waiting")
    );
    let errors = report.check(names::API_ERRORS).expect("api errors");
    assert_eq!(errors.detail, "2 keepa errors in 24 h: timeout 2");
    assert!(
        report
            .check(names::DEAL_FUNNEL)
            .expect("funnel")
            .detail
            .starts_with("0 stored, 0 visible")
    );
}

#[test]
fn an_old_envelope_makes_exactly_one_probe_and_uses_its_answer() {
    let (_directory, mut writer) = temp_database();
    put_json(&mut writer, QUOTA_STATE_KEY, &quota(150, 5, 11 * MINUTE_MS));
    let sources = Sources::embedded(writer.path());
    let probe = CountingProbe::answering(Ok(quota(42, 20, 0)));
    let observations = gather_with(&sources, &probe, &HELD);
    assert_eq!(probe.calls(), 1);
    let QuotaInput::Observed { record, source } = observations.quota else {
        panic!("an observation: {:?}", observations.quota);
    };
    assert_eq!((record.tokens_left, source), (42, QuotaSource::TokenProbe));
}

#[test]
fn a_failed_probe_falls_back_to_the_old_envelope() {
    let (_directory, mut writer) = temp_database();
    put_json(&mut writer, QUOTA_STATE_KEY, &quota(150, 5, 11 * MINUTE_MS));
    let sources = Sources::embedded(writer.path());
    let observations = gather_with(&sources, &NoProbe, &HELD);
    let QuotaInput::Observed { record, source } = observations.quota else {
        panic!("the old envelope: {:?}", observations.quota);
    };
    assert_eq!(
        (record.tokens_left, source),
        (150, QuotaSource::StoredEnvelope)
    );
}

#[test]
fn a_revoked_key_fails_the_quota_check() {
    let (_directory, writer) = temp_database();
    let sources = Sources::embedded(writer.path());
    let probe = CountingProbe::answering(Err(ProbeError::KeyRejected(
        "GET /token: keepa rejected the api key (400 invalidKey)".to_owned(),
    )));
    let observations = gather_with(&sources, &probe, &HELD);
    assert_eq!(probe.calls(), 1);
    let report = diagnostics::evaluate(&observations, &sources, NOW_MS);
    let quota_check = report.check(names::QUOTA).expect("quota");
    assert_eq!(quota_check.status, Status::Fail, "{quota_check:?}");
    assert_eq!(report.exit_code(), diagnostics::exit_code::CRITICAL);
}

#[test]
fn the_embedded_pause_flag_and_a_corrupt_heartbeat_are_reported() {
    let (_directory, mut writer) = temp_database();
    put_json(
        &mut writer,
        PAUSE_STATE_KEY,
        &serde_json::json!({"reason": "migrating", "by": "ops", "at_ms": NOW_MS}),
    );
    writer
        .set_state(
            &format!("{HEARTBEAT_STATE_PREFIX}analysis"),
            "{not json",
            NOW,
        )
        .expect("state written");
    let sources = Sources::embedded(writer.path());
    let report = diagnostics::evaluate(&gather_with(&sources, &NoProbe, &HELD), &sources, NOW_MS);
    assert_eq!(
        report.check(names::PAUSE).expect("pause").status,
        Status::Warn
    );
    let tasks = report.check(names::TASK_PROGRESS).expect("tasks");
    assert_eq!(tasks.status, Status::Unknown);
    assert!(tasks.detail.contains("heartbeat:analysis"), "{tasks:?}");
}

/// Every check that reads the database is UNKNOWN, saying why and what to do.
#[track_caller]
fn assert_store_checks_unknown(report: &diagnostics::Report, reason_part: &str, remedy_part: &str) {
    for name in [
        names::DATABASE,
        names::BACKLOG,
        names::STALE_DEALS,
        names::DEAL_FUNNEL,
        names::API_ERRORS,
        names::WATERMARK,
        names::TASK_PROGRESS,
        names::QUOTA,
    ] {
        let check = report.check(name).expect(name);
        assert_eq!(check.status, Status::Unknown, "{check:?}");
        assert!(
            check.detail.contains(reason_part),
            "{check:?} should say {reason_part:?}"
        );
        assert!(
            check
                .remedy
                .as_deref()
                .is_some_and(|remedy| remedy.contains(remedy_part)),
            "{check:?} should advise {remedy_part:?}"
        );
    }
}

#[test]
fn a_missing_database_is_unknown_with_the_reason() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("absent.sqlite");
    let sources = Sources::embedded(&path);
    let lock = FixedLock(Ok(None));
    let report = diagnostics::evaluate(&gather_with(&sources, &NoProbe, &lock), &sources, NOW_MS);
    assert_store_checks_unknown(&report, "absent.sqlite", "check --database");
    assert!(!path.exists(), "diagnostics never creates the database");
    // Nothing is worse than UNKNOWN but the free lock's WARN.
    assert_eq!(report.exit_code(), diagnostics::exit_code::WARNING);
}

#[test]
fn a_file_that_is_not_sqlite_is_unknown_with_the_reason() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("notes.sqlite");
    std::fs::write(
        &path,
        b"these are not the pages you are looking for, ".repeat(200),
    )
    .expect("written");
    let sources = Sources::embedded(&path);
    let report = diagnostics::evaluate(&gather_with(&sources, &NoProbe, &HELD), &sources, NOW_MS);
    let database = report.check(names::DATABASE).expect("database");
    assert_eq!(database.status, Status::Unknown);
    assert!(database.detail.contains("notes.sqlite"), "{database:?}");
    assert_store_checks_unknown(
        &report,
        "notes.sqlite",
        "restore the database from a backup",
    );
    assert_eq!(report.exit_code(), diagnostics::exit_code::UNKNOWN);
}

#[test]
fn the_quota_choice_prefers_redis_then_a_recent_envelope() {
    use diagnostics::gather::{QuotaChoice, choose_quota};
    let live = quota(10, 5, 0);
    let recent = quota(20, 5, 10 * MINUTE_MS);
    let old = quota(30, 5, 10 * MINUTE_MS + 1);
    assert_eq!(
        choose_quota(Some(&Ok(Some(live))), &Ok(Some(recent)), NOW_MS),
        QuotaChoice::Use {
            record: live,
            source: QuotaSource::RedisBucket
        }
    );
    assert_eq!(
        choose_quota(Some(&Ok(None)), &Ok(Some(recent)), NOW_MS),
        QuotaChoice::Use {
            record: recent,
            source: QuotaSource::StoredEnvelope
        }
    );
    assert!(matches!(
        choose_quota(None, &Ok(Some(old)), NOW_MS),
        QuotaChoice::Probe { fallback: Some(record), .. } if record == old
    ));
    assert!(matches!(
        choose_quota(
            Some(&Err(diagnostics::Unreadable::new("down", "start redis"))),
            &Ok(None),
            NOW_MS
        ),
        QuotaChoice::Probe { fallback: None, .. }
    ));
}
