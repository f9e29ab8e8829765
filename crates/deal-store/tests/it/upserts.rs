//! Per-deal upserts: first-seen kept, last-seen moved, source and fence
//! recorded, stale lease holders refused.

use deal_filters::RejectionReason;
use deal_store::{DealSource, DealWrite, Fence, StoreError};
use keepa_model::{Cents, KeepaMinute, UnixSeconds};

use crate::support::{HOUR, NOW, analysis_at, asin, temp_writer, valid_deal};

fn fence(number: u64) -> Fence {
    Fence {
        lease: "discovery".to_owned(),
        number,
    }
}

#[test]
fn an_upsert_keeps_first_seen_and_moves_last_seen_and_source() {
    let (_directory, mut writer) = temp_writer();
    let earlier = UnixSeconds(NOW.0 - 5 * HOUR);
    writer
        .upsert_deal(&valid_deal(1), analysis_at(earlier))
        .unwrap();
    let mut refreshed = valid_deal(1);
    refreshed.price_now = Cents(900);
    writer
        .upsert_deal(
            &refreshed,
            DealWrite {
                source: DealSource::Refresh,
                fence: None,
                now: NOW,
            },
        )
        .unwrap();
    let stored = writer.reader().deal(asin(1)).unwrap().unwrap();
    assert_eq!(stored.first_seen_at, earlier);
    assert_eq!(stored.last_seen_at, NOW);
    assert_eq!(stored.source, DealSource::Refresh);
    assert_eq!(stored.deal, refreshed);
    assert_eq!(stored.fence, None);
}

#[test]
fn a_fenced_write_records_its_lease_and_a_lower_fencing_number_is_refused() {
    let (_directory, mut writer) = temp_writer();
    fn write(fence: &Fence) -> DealWrite<'_> {
        DealWrite {
            source: DealSource::Discovery,
            fence: Some(fence),
            now: NOW,
        }
    }
    writer
        .upsert_deal(&valid_deal(1), write(&fence(7)))
        .unwrap();
    assert_eq!(
        writer.reader().deal(asin(1)).unwrap().unwrap().fence,
        Some(fence(7))
    );
    // The same holder may keep writing; a newer holder moves the fence up.
    writer
        .upsert_deal(&valid_deal(2), write(&fence(7)))
        .unwrap();
    writer
        .upsert_deal(&valid_deal(3), write(&fence(8)))
        .unwrap();
    let error = writer
        .upsert_deal(&valid_deal(4), write(&fence(7)))
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::StaleFence {
                given: 7,
                stored: 8,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("stale lease holder"), "{error}");
    assert!(
        writer.reader().deal(asin(4)).unwrap().is_none(),
        "nothing written"
    );
    // The watermark is fenced by the same numbers.
    let stale = writer.set_watermark(KeepaMinute(1), Some(&fence(6)), NOW);
    assert!(matches!(stale, Err(StoreError::StaleFence { .. })));
    assert_eq!(writer.reader().stored_watermark().unwrap(), None);
    assert_eq!(writer.reader().fences().unwrap(), vec![fence(8)]);
}

#[test]
fn other_leases_have_their_own_fencing_numbers() {
    let (_directory, mut writer) = temp_writer();
    let refresh_fence = Fence {
        lease: "refresh".to_owned(),
        number: 1,
    };
    writer
        .upsert_deal(
            &valid_deal(1),
            DealWrite {
                source: DealSource::Discovery,
                fence: Some(&fence(50)),
                now: NOW,
            },
        )
        .unwrap();
    writer
        .upsert_deal(
            &valid_deal(1),
            DealWrite {
                source: DealSource::Rescue,
                fence: Some(&refresh_fence),
                now: NOW,
            },
        )
        .unwrap();
    assert_eq!(
        writer.reader().deal(asin(1)).unwrap().unwrap().fence,
        Some(refresh_fence)
    );
}

#[test]
fn storing_a_deal_clears_its_rejection_and_failures() {
    let (_directory, mut writer) = temp_writer();
    writer
        .record_rejection(
            asin(1),
            RejectionReason::GainTooSmall,
            Some(KeepaMinute(100)),
            NOW,
        )
        .unwrap();
    writer.record_failure(asin(1), "timeout", NOW).unwrap();
    writer
        .upsert_deal(&valid_deal(1), analysis_at(NOW))
        .unwrap();
    assert_eq!(writer.reader().rejection(asin(1)).unwrap(), None);
    assert_eq!(writer.reader().quarantine_entry(asin(1)).unwrap(), None);
}

#[test]
fn non_finite_percentages_are_stored_as_unknown() {
    let (_directory, mut writer) = temp_writer();
    let mut deal = valid_deal(1);
    deal.roi_percent = Some(f64::NAN);
    deal.margin_percent = Some(f64::INFINITY);
    writer.upsert_deal(&deal, analysis_at(NOW)).unwrap();
    let stored = writer.reader().deal(asin(1)).unwrap().unwrap().deal;
    assert_eq!(stored.roi_percent, None);
    assert_eq!(stored.margin_percent, None);
}
