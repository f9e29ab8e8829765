//! The acceptance cases of DESIGN.md §10 that concern the store, and the
//! freshness queries around them.

use deal_filters::AnalysedDeal;
use std::time::Duration;

use deal_store::{
    AgeBuckets, DealFilter, JANITOR_AGE, STALE_RESCUE_AGE, WatermarkOrigin, resolve_watermark,
};
use keepa_model::{Cents, KeepaMinute, UnixSeconds};

use crate::support::{HOUR, NOW, analysis_at, asin, temp_writer, valid_deal};

#[test]
fn a_24h_janitor_removes_a_25h_old_deal_and_keeps_a_1h_old_one() {
    let (_directory, mut writer) = temp_writer();
    writer
        .upsert_deal(&valid_deal(1), analysis_at(UnixSeconds(NOW.0 - 25 * HOUR)))
        .unwrap();
    writer
        .upsert_deal(&valid_deal(2), analysis_at(UnixSeconds(NOW.0 - HOUR)))
        .unwrap();
    let deleted = writer
        .delete_deals_not_seen_for(Duration::from_secs(24 * 3600), NOW)
        .unwrap();
    assert_eq!(deleted, 1);
    assert!(writer.reader().deal(asin(1)).unwrap().is_none());
    assert!(writer.reader().deal(asin(2)).unwrap().is_some());
}

#[test]
fn the_default_janitor_deletes_after_72h() {
    let (_directory, mut writer) = temp_writer();
    writer
        .upsert_deal(&valid_deal(1), analysis_at(UnixSeconds(NOW.0 - 73 * HOUR)))
        .unwrap();
    writer
        .upsert_deal(&valid_deal(2), analysis_at(UnixSeconds(NOW.0 - 71 * HOUR)))
        .unwrap();
    assert_eq!(
        writer.delete_deals_not_seen_for(JANITOR_AGE, NOW).unwrap(),
        1
    );
    assert_eq!(writer.reader().stored_deal_count().unwrap(), 1);
}

#[track_caller]
fn check_watermark(
    stored_offset_minutes: Option<i64>,
    expected_offset_minutes: i64,
    origin_is_stored: bool,
) {
    let now = KeepaMinute(8_075_762);
    let resolved = resolve_watermark(
        stored_offset_minutes.map(|offset| now.plus_minutes(offset)),
        now,
    );
    assert_eq!(resolved.minute, now.plus_minutes(expected_offset_minutes));
    assert_eq!(resolved.origin == WatermarkOrigin::Stored, origin_is_stored);
}

#[test]
fn a_watermark_25h_in_the_future_is_clamped_and_5min_ahead_is_kept() {
    check_watermark(Some(25 * 60), 0, false);
    check_watermark(Some(5), 5, true);
    check_watermark(Some(-90), -90, true);
    check_watermark(None, -24 * 60, false);
}

#[test]
fn the_stored_watermark_is_clamped_on_read() {
    let (_directory, mut writer) = temp_writer();
    let now_minute = KeepaMinute::from_unix_seconds(NOW).unwrap();
    assert_eq!(
        writer.reader().watermark(NOW).unwrap().origin,
        WatermarkOrigin::Missing
    );
    assert_eq!(
        writer.reader().watermark(NOW).unwrap().minute,
        now_minute.plus_minutes(-24 * 60)
    );
    let future = now_minute.plus_minutes(25 * 60);
    writer.set_watermark(future, None, NOW).unwrap();
    let resolved = writer.reader().watermark(NOW).unwrap();
    assert_eq!(resolved.minute, now_minute);
    assert_eq!(
        resolved.origin,
        WatermarkOrigin::ClampedFromFuture { stored: future }
    );
    writer
        .set_watermark(now_minute.plus_minutes(5), None, NOW)
        .unwrap();
    assert_eq!(
        writer.reader().watermark(NOW).unwrap().minute,
        now_minute.plus_minutes(5)
    );
    assert_eq!(
        writer.reader().stored_watermark().unwrap(),
        Some((now_minute.plus_minutes(5), NOW))
    );
}

#[test]
fn the_api_hides_profit_0_and_minus_5_list_at_missing_or_0_and_one_year_average_missing_or_0() {
    let (_directory, mut writer) = temp_writer();
    let mut hidden = Vec::new();
    let variants: [fn(&mut deal_filters::AnalysedDeal); 6] = [
        |deal| deal.profit = Some(Cents(0)),
        |deal| deal.profit = Some(Cents(-500)),
        |deal| deal.list_at = None,
        |deal| deal.list_at = Some(Cents(0)),
        |deal| deal.one_year_average = None,
        |deal| deal.one_year_average = Some(Cents(0)),
    ];
    for (index, make_invalid) in (10..).zip(variants) {
        let mut deal = valid_deal(index);
        make_invalid(&mut deal);
        writer.upsert_deal(&deal, analysis_at(NOW)).unwrap();
        hidden.push(deal.asin);
    }
    writer
        .upsert_deal(&valid_deal(1), analysis_at(NOW))
        .unwrap();
    let page = writer.reader().query_deals(&Default::default()).unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.deals.len(), 1);
    assert_eq!(page.deals[0].deal.asin, asin(1));
    assert_eq!(
        writer.reader().count_deals(&DealFilter::default()).unwrap(),
        1
    );
    // They are stored, only hidden.
    assert_eq!(writer.reader().stored_deal_count().unwrap(), 7);
}

#[test]
fn stale_rescue_candidates_are_those_unseen_for_48h_oldest_first() {
    let (_directory, mut writer) = temp_writer();
    for (index, hours_ago) in [(1, 47), (2, 60), (3, 49), (4, 100), (5, 1)] {
        let when = UnixSeconds(NOW.0 - hours_ago * HOUR);
        // As the pipeline writes them: refreshed when last seen.
        let deal = AnalysedDeal {
            refreshed_at: when,
            ..valid_deal(index)
        };
        writer.upsert_deal(&deal, analysis_at(when)).unwrap();
    }
    let candidates = writer
        .reader()
        .stale_rescue_candidates(STALE_RESCUE_AGE, NOW, 10)
        .unwrap();
    let order: Vec<_> = candidates.iter().map(|(asin, _)| *asin).collect();
    assert_eq!(order, vec![asin(4), asin(2), asin(3)]);
    assert_eq!(candidates[0].1, UnixSeconds(NOW.0 - 100 * HOUR));
    let limited = writer
        .reader()
        .stale_rescue_candidates(STALE_RESCUE_AGE, NOW, 1)
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(
        writer.reader().age_buckets(NOW).unwrap(),
        AgeBuckets {
            under_1h: 0,
            from_1h_to_24h: 1,
            from_24h_to_48h: 1,
            from_48h_to_72h: 2,
            over_72h: 1,
        }
    );
}
