//! Rejections, the quarantine, counters and free-form pipeline state.

use deal_filters::RejectionReason;
use deal_store::{FailureOutcome, StoreOptions, Writer};
use keepa_model::{KeepaMinute, UnixSeconds};

use crate::support::{HOUR, NOW, asin};

#[test]
fn a_rejected_asin_is_not_analysed_again_until_keepa_reports_a_change() {
    let (_directory, mut writer) = crate::support::temp_writer();
    let rejected_at_update = KeepaMinute(8_000_000);
    assert!(
        writer
            .reader()
            .should_analyse(asin(1), rejected_at_update)
            .unwrap()
    );
    writer
        .record_rejection(
            asin(1),
            RejectionReason::NoRankDrops,
            Some(rejected_at_update),
            NOW,
        )
        .unwrap();
    let reader = writer.reader();
    assert!(!reader.should_analyse(asin(1), rejected_at_update).unwrap());
    assert!(
        !reader
            .should_analyse(asin(1), KeepaMinute(7_999_000))
            .unwrap()
    );
    assert!(
        reader
            .should_analyse(asin(1), rejected_at_update.plus_minutes(1))
            .unwrap()
    );
    let rejection = reader.rejection(asin(1)).unwrap().unwrap();
    assert_eq!(rejection.reason, "no_rank_drops");
    assert_eq!(rejection.rejected_at, NOW);
    assert_eq!(rejection.keepa_last_update, Some(rejected_at_update));
}

#[test]
fn failures_are_retried_until_the_attempt_budget_then_quarantined() {
    let directory = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        attempt_budget: 3,
        ..StoreOptions::default()
    };
    let mut writer = Writer::open(directory.path().join("deals.sqlite"), options).unwrap();
    let outcomes: Vec<_> = (0..4)
        .map(|attempt| {
            writer
                .record_failure(
                    asin(1),
                    &format!("error {attempt}"),
                    UnixSeconds(NOW.0 + attempt),
                )
                .unwrap()
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            FailureOutcome::Retry { attempts: 1 },
            FailureOutcome::Retry { attempts: 2 },
            FailureOutcome::Quarantined { attempts: 3 },
            FailureOutcome::Quarantined { attempts: 4 },
        ]
    );
    let entry = writer.reader().quarantine_entry(asin(1)).unwrap().unwrap();
    assert_eq!(entry.last_error, "error 3");
    assert_eq!(entry.first_failed_at, NOW);
    assert_eq!(entry.quarantined_at, Some(UnixSeconds(NOW.0 + 2)));
    assert_eq!(writer.reader().quarantined_count().unwrap(), 1);
    assert!(
        !writer
            .reader()
            .should_analyse(asin(1), KeepaMinute(i32::MAX))
            .unwrap()
    );
    assert!(writer.clear_failures(asin(1)).unwrap());
    assert!(
        writer
            .reader()
            .should_analyse(asin(1), KeepaMinute(1))
            .unwrap()
    );
}

#[test]
fn counters_report_errors_and_rejections_of_the_last_24h() {
    let (_directory, mut writer) = crate::support::temp_writer();
    let old = UnixSeconds(NOW.0 - 25 * HOUR);
    writer.record_error("keepa_500", old).unwrap();
    for seconds in [0, 1, 61] {
        writer
            .record_error("keepa_500", UnixSeconds(NOW.0 - seconds))
            .unwrap();
    }
    writer.record_error("timeout", NOW).unwrap();
    writer
        .record_rejection(asin(1), RejectionReason::GainTooSmall, None, NOW)
        .unwrap();
    writer
        .record_rejection(asin(2), RejectionReason::GainTooSmall, None, NOW)
        .unwrap();
    writer
        .record_rejection(asin(3), RejectionReason::NoListAt, None, old)
        .unwrap();
    let reader = writer.reader();
    assert_eq!(
        reader.errors_last_24h(NOW).unwrap(),
        vec![("keepa_500".to_owned(), 3), ("timeout".to_owned(), 1)]
    );
    assert_eq!(
        reader.rejections_last_24h(NOW).unwrap(),
        vec![("gain_too_small".to_owned(), 2)]
    );
    assert!(
        writer
            .prune_counters(UnixSeconds(NOW.0 - 24 * HOUR))
            .unwrap()
            >= 2
    );
}

#[test]
fn free_form_state_is_listed_for_diagnostics() {
    let (_directory, mut writer) = crate::support::temp_writer();
    writer
        .set_state("discovery.status", "idle: no new deals", NOW)
        .unwrap();
    writer
        .set_state("discovery.status", "waiting for tokens until 12:03", NOW)
        .unwrap();
    writer
        .set_state("analysis.status", "analysing", NOW)
        .unwrap();
    let reader = writer.reader();
    assert_eq!(
        reader.state("discovery.status").unwrap().as_deref(),
        Some("waiting for tokens until 12:03")
    );
    assert_eq!(reader.state("missing").unwrap(), None);
    let keys: Vec<_> = reader
        .all_state()
        .unwrap()
        .into_iter()
        .map(|entry| entry.key)
        .collect();
    assert_eq!(keys, vec!["analysis.status", "discovery.status"]);
}

#[test]
fn deleting_state_removes_only_that_key_and_says_whether_it_existed() {
    let (_directory, mut writer) = crate::support::temp_writer();
    writer.set_state("pause", "{}", NOW).unwrap();
    writer.set_state("quota", "{}", NOW).unwrap();
    assert!(writer.delete_state("pause").unwrap());
    assert!(!writer.delete_state("pause").unwrap());
    assert_eq!(writer.reader().state("pause").unwrap(), None);
    assert_eq!(
        writer.reader().state("quota").unwrap().as_deref(),
        Some("{}")
    );
}
