//! The backlog between discovery and the product tasks: one discovery pass commits its
//! rejections, queue entries and watermark together, or nothing at all.

use deal_filters::RejectionReason;
use deal_store::{BacklogEntry, BacklogKind, Fence, StoreError};
use keepa_model::{KeepaMinute, UnixSeconds};

use crate::support::{asin, temp_writer};

const NOW: UnixSeconds = UnixSeconds(1_780_000_000);

fn entry(index: u32, minute: i32, kind: BacklogKind) -> BacklogEntry {
    BacklogEntry {
        asin: asin(index),
        keepa_last_update: KeepaMinute(minute),
        kind,
    }
}

fn fence(number: u64) -> Fence {
    Fence {
        lease: "discovery".to_owned(),
        number,
    }
}

#[test]
fn a_discovery_pass_commits_rejections_queue_and_watermark_together() {
    let (_dir, mut writer) = temp_writer();
    let entries = [
        entry(1, 100, BacklogKind::Analyse),
        entry(2, 101, BacklogKind::Refresh),
    ];
    let rejections = [(asin(3), RejectionReason::NoBuyPrice, KeepaMinute(102))];
    writer
        .record_discovery(
            &entries,
            &rejections,
            KeepaMinute(102),
            Some(&fence(1)),
            NOW,
        )
        .unwrap();
    let reader = writer.reader();
    assert_eq!(
        reader.backlog(BacklogKind::Analyse, 10).unwrap(),
        [entries[0]]
    );
    assert_eq!(
        reader.backlog(BacklogKind::Refresh, 10).unwrap(),
        [entries[1]]
    );
    assert_eq!(reader.backlog_depth().unwrap(), 2);
    assert_eq!(
        reader.stored_watermark().unwrap().map(|(minute, _)| minute),
        Some(KeepaMinute(102))
    );
    assert!(!reader.should_analyse(asin(3), KeepaMinute(102)).unwrap());
}

#[test]
fn a_stale_fence_writes_nothing() {
    let (_dir, mut writer) = temp_writer();
    writer
        .record_discovery(&[], &[], KeepaMinute(50), Some(&fence(2)), NOW)
        .unwrap();
    let error = writer
        .record_discovery(
            &[entry(1, 100, BacklogKind::Analyse)],
            &[],
            KeepaMinute(100),
            Some(&fence(1)),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(error, StoreError::StaleFence { .. }), "{error}");
    let reader = writer.reader();
    assert_eq!(reader.backlog_depth().unwrap(), 0);
    assert_eq!(
        reader.stored_watermark().unwrap().map(|(minute, _)| minute),
        Some(KeepaMinute(50))
    );
}

#[test]
fn entries_come_out_oldest_first_and_leave_when_removed() {
    let (_dir, mut writer) = temp_writer();
    writer
        .record_discovery(
            &[entry(2, 10, BacklogKind::Analyse)],
            &[],
            KeepaMinute(10),
            None,
            NOW,
        )
        .unwrap();
    writer
        .record_discovery(
            &[entry(1, 20, BacklogKind::Analyse)],
            &[],
            KeepaMinute(20),
            None,
            UnixSeconds(NOW.0 + 1),
        )
        .unwrap();
    // Queued again with a newer lastUpdate: keeps its place, takes the newer minute.
    writer
        .record_discovery(
            &[entry(2, 30, BacklogKind::Analyse)],
            &[],
            KeepaMinute(30),
            None,
            UnixSeconds(NOW.0 + 2),
        )
        .unwrap();
    let queued = writer.reader().backlog(BacklogKind::Analyse, 10).unwrap();
    assert_eq!(
        queued,
        [
            entry(2, 30, BacklogKind::Analyse),
            entry(1, 20, BacklogKind::Analyse)
        ]
    );
    assert_eq!(
        writer
            .reader()
            .backlog(BacklogKind::Analyse, 1)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(writer.remove_from_backlog(asin(2)).unwrap(), 1);
    assert_eq!(
        writer.reader().backlog(BacklogKind::Analyse, 10).unwrap(),
        [entry(1, 20, BacklogKind::Analyse)]
    );
}

#[test]
fn a_rescue_refreshes_without_counting_as_seen_and_is_not_repeated() {
    use deal_store::{DealSource, DealWrite};
    let (_dir, mut writer) = temp_writer();
    let day = 86_400;
    let mut deal = crate::support::valid_deal(1);
    deal.refreshed_at = NOW;
    let write = |source, now| DealWrite {
        source,
        fence: None,
        now,
    };
    writer
        .upsert_deal(&deal, write(DealSource::Analysis, NOW))
        .unwrap();
    let rescue_age = std::time::Duration::from_secs(2 * day as u64);
    let later = UnixSeconds(NOW.0 + 2 * day);
    assert_eq!(
        writer
            .reader()
            .stale_rescue_candidates(rescue_age, later, 10)
            .unwrap()
            .len(),
        1
    );
    deal.refreshed_at = later;
    writer
        .upsert_deal(&deal, write(DealSource::Rescue, later))
        .unwrap();
    let stored = writer.reader().deal(deal.asin).unwrap().unwrap();
    assert_eq!(stored.last_seen_at, NOW, "a rescue is not a sighting");
    assert!(
        writer
            .reader()
            .stale_rescue_candidates(rescue_age, later, 10)
            .unwrap()
            .is_empty()
    );
    // Not seen for 72 h: the janitor deletes it even though it was rescued.
    let deleted = writer
        .delete_deals_not_seen_for(
            std::time::Duration::from_secs(3 * day as u64),
            UnixSeconds(NOW.0 + 3 * day + 1),
        )
        .unwrap();
    assert_eq!(deleted, 1);
}

#[test]
fn workers_claim_disjoint_entries_and_a_lapsed_or_released_claim_is_taken_again() {
    let (_dir, mut writer) = temp_writer();
    let entries: Vec<_> = (1..=5)
        .map(|n| entry(n, 100 + n as i32, BacklogKind::Analyse))
        .collect();
    writer
        .record_discovery(&entries, &[], KeepaMinute(200), None, NOW)
        .unwrap();
    let ten_minutes = std::time::Duration::from_secs(600);
    let first = writer
        .claim_backlog(BacklogKind::Analyse, 3, "worker-a", NOW, ten_minutes)
        .unwrap();
    let second = writer
        .claim_backlog(BacklogKind::Analyse, 3, "worker-b", NOW, ten_minutes)
        .unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(second.len(), 2);
    assert!(
        first.iter().all(|claimed| !second.contains(claimed)),
        "{first:?} {second:?}"
    );
    assert!(
        writer
            .claim_backlog(BacklogKind::Analyse, 3, "worker-c", NOW, ten_minutes)
            .unwrap()
            .is_empty()
    );
    // worker-a stops: its entries are free at once; worker-b's claims lapse after ten minutes.
    assert_eq!(writer.release_claims("worker-a").unwrap(), 3);
    let an_hour = std::time::Duration::from_secs(3600);
    assert_eq!(
        writer
            .claim_backlog(BacklogKind::Analyse, 5, "worker-c", NOW, an_hour)
            .unwrap(),
        first
    );
    let lapsed = UnixSeconds(NOW.0 + 600);
    assert_eq!(
        writer
            .claim_backlog(BacklogKind::Analyse, 5, "worker-d", lapsed, ten_minutes)
            .unwrap(),
        second
    );
    // Claims do not hide entries from the depth diagnostics report.
    assert_eq!(writer.reader().backlog_depth().unwrap(), 5);
}
