//! Conformance: the real Keepa captures in `shared/keepa-samples/` decode, and values checked
//! by hand (with `python3 -m json.tool`) come out right, in wire and in domain form.

use keepa_client::convert;
use keepa_client::wire::{DealResponse, ProductResponse, WireEnvelope};
use keepa_model::{Cents, DealInterval, HistoryPoint, KeepaMinute, PriceType, UnixMillis};

use crate::support::sample;

const DEAL_SAMPLE: &str = "deal-page-used-2025-04.json";
const PRODUCT_SAMPLE: &str = "product-B0D8W1YVBX-2026-05.json";

#[track_caller]
fn check_envelope(envelope: &WireEnvelope, expected: (i64, i64, i64, i64, i64, i64)) {
    let (timestamp, tokens_left, refill_in, refill_rate, tokens_consumed, processing) = expected;
    assert_eq!(envelope.timestamp, timestamp);
    assert_eq!(envelope.tokens_left, tokens_left);
    assert_eq!(envelope.refill_in, refill_in);
    assert_eq!(envelope.refill_rate, refill_rate);
    assert_eq!(envelope.tokens_consumed, tokens_consumed);
    assert_eq!(envelope.processing_time_in_ms, processing);
    assert_eq!(envelope.token_flow_reduction, 0.0);
    assert_eq!(envelope.error, None);
}

#[test]
fn deal_sample_envelope_matches_the_capture() {
    let Some(bytes) = sample(DEAL_SAMPLE) else {
        return;
    };
    // The envelope alone decodes from the whole body, as the client does for non-200 answers.
    let envelope: WireEnvelope = serde_json::from_slice(&bytes).unwrap();
    check_envelope(&envelope, (1_746_053_307_585, 295, 27_893, 5, 5, 770));
    let response: DealResponse = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(response.envelope(), envelope);
}

#[test]
fn deal_sample_first_record_arrays_2025_length_34() {
    let Some(bytes) = sample(DEAL_SAMPLE) else {
        return;
    };
    let response: DealResponse = serde_json::from_slice(&bytes).unwrap();
    let records = response.deals.unwrap().dr;
    assert_eq!(records.len(), 150);
    let first = &records[0];
    assert_eq!(first.asin, "B0916T3WFJ");
    assert_eq!(first.current.len(), 34);
    assert_eq!(&first.current[..4], &[-1, 2499, 2024, 3814]);
    assert_eq!(first.avg.len(), 4);
    assert_eq!(&first.avg[0][..4], &[-2, 2499, 2422, 3491]);
    assert_eq!(&first.avg[1][..5], &[-2, 2499, 2422, 4084, 3499]);
    assert_eq!(&first.delta[0][..4], &[0, 0, 398, -323]);
    assert_eq!(&first.delta[1][..4], &[0, 0, 398, 270]);
    assert_eq!(&first.delta_percent[0][..4], &[0, 0, 16, -9]);

    let deal = convert::deal(first).unwrap();
    assert_eq!(deal.asin.as_str(), "B0916T3WFJ");
    assert_eq!(deal.last_update, KeepaMinute(7_535_870));
    assert_eq!(deal.root_category, Some(1_055_398));
    assert_eq!(deal.current.get(PriceType::USED), Some(2024));
    assert_eq!(deal.current.get(PriceType::AMAZON), None);
    assert_eq!(deal.sales_rank, Some(3814));
    assert_eq!(deal.avg(DealInterval::Day, PriceType::USED), Some(2422));
    assert_eq!(deal.avg(DealInterval::Day, PriceType::AMAZON), None);
    // delta = avg − current, from the raw array and recomputed from known values.
    assert_eq!(
        deal.delta[DealInterval::Day.index()][PriceType::USED.index()],
        398
    );
    assert_eq!(deal.delta(DealInterval::Day, PriceType::USED), Some(398));
    assert_eq!(deal.delta(DealInterval::Week, PriceType::SALES), Some(270));
    assert_eq!(deal.sales_rank_drops30, Some(34));
    assert_eq!(deal.sales_rank_drops365, Some(581));
}

#[test]
fn deal_sample_page_converts_newest_first() {
    let Some(bytes) = sample(DEAL_SAMPLE) else {
        return;
    };
    let response: DealResponse = serde_json::from_slice(&bytes).unwrap();
    let (deals, rejected) = convert::deal_page(&response.deals.unwrap().dr);
    assert!(rejected.is_empty());
    assert_eq!(deals.len(), 150);
    assert_eq!(deals[0].last_update, KeepaMinute(7_536_888));
    assert_eq!(deals[149].last_update, KeepaMinute(7_535_870));
    assert!(
        deals
            .windows(2)
            .all(|pair| pair[0].last_update >= pair[1].last_update)
    );
}

#[test]
fn product_sample_envelope_matches_the_capture() {
    let Some(bytes) = sample(PRODUCT_SAMPLE) else {
        return;
    };
    let envelope: WireEnvelope = serde_json::from_slice(&bytes).unwrap();
    check_envelope(&envelope, (1_778_386_768_884, 94, 53_441, 60, 4, 1));
    let response: ProductResponse = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(response.envelope(), envelope);
}

#[test]
fn product_sample_fees_stats_and_series_2026_length_36() {
    let Some(bytes) = sample(PRODUCT_SAMPLE) else {
        return;
    };
    let response: ProductResponse = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(response.products.len(), 1);
    let wire = &response.products[0];
    assert_eq!(wire.csv.len(), 36);
    assert_eq!(wire.fba_fees.unwrap().pick_and_pack_fee, 409);
    assert_eq!(wire.referral_fee_percentage, Some(15.01));
    let stats = wire.stats.as_ref().unwrap();
    assert_eq!(stats.current.len(), 36);
    assert!(
        wire.offers.is_empty(),
        "the capture was fetched without offers"
    );

    let product = convert::product(wire).unwrap();
    assert_eq!(product.asin.as_str(), "B0D8W1YVBX");
    assert_eq!(product.brand.as_deref(), Some("EQQUALBERRY"));
    assert_eq!(product.root_category, Some(3_760_911));
    assert_eq!(product.category, Some(7_792_528_011));
    assert_eq!(product.fba_pick_and_pack_fee, Some(Cents(409)));
    assert_eq!(product.referral_fee_percent, Some(15.01));
    assert_eq!(product.last_update, Some(KeepaMinute(8_075_762)));
    assert_eq!(
        product.last_update.unwrap().to_unix_millis(),
        UnixMillis(1_778_385_720_000),
        "(8075762 + 21564000) × 60000"
    );

    let new = product.histories.get(PriceType::NEW).unwrap();
    assert_eq!(new.points().len(), 129);
    let point = |at, value| HistoryPoint {
        at: KeepaMinute(at),
        value: Some(value),
        shipping: None,
    };
    assert_eq!(
        &new.points()[..2],
        &[point(7_207_224, 2499), point(7_246_852, 1999)]
    );
    assert_eq!(new.points()[128], point(8_057_266, 1499));
    // A shipping series: [t, price, shipping] triples.
    let buy_box = product.histories.get(PriceType::BUY_BOX_SHIPPING).unwrap();
    assert_eq!(buy_box.points().len(), 249);
    assert_eq!(buy_box.points()[0].shipping, Some(0));
    assert_eq!(buy_box.points()[0].landed(), Some(2499));
    // csv[0] is [t, −1]: Amazon never sold it.
    assert_eq!(
        product.histories.get(PriceType::AMAZON).unwrap().points()[0].value,
        None
    );
    assert!(product.histories.get(PriceType(35)).is_some());

    let new_stats = product.stats.get(PriceType::NEW);
    assert_eq!(
        (
            new_stats.current,
            new_stats.avg30,
            new_stats.avg90,
            new_stats.avg180,
            new_stats.avg365
        ),
        (Some(1499), Some(1742), Some(1797), Some(1849), Some(1908))
    );
    assert_eq!(product.stats.get(PriceType::USED).current, None);
    assert_eq!(product.stats.get(PriceType::PRIME_EXCL).avg365, Some(1598));
    assert_eq!(
        (
            product.stats.sales_rank_drops30,
            product.stats.sales_rank_drops90,
            product.stats.sales_rank_drops180,
            product.stats.sales_rank_drops365
        ),
        (Some(35), Some(75), Some(165), Some(424))
    );
}

#[test]
fn unknown_fields_and_nulls_are_tolerated() {
    let body = br#"{"timestamp":1,"tokensLeft":2,"refillIn":3,"refillRate":4,"tokensConsumed":1,
        "tokenFlowReduction":null,"processingTimeInMs":null,"brandNewField":{"x":[1,2]},
        "products":[{"asin":"B000000001","title":null,"brand":null,"csv":[null,[5,100],[5,-2]],
        "stats":{"current":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38],
        "salesRankDrops30":null,"futureStat":true},"fbaFees":null,"offers":null,"liveOffersOrder":null,
        "referralFeePercentage":null}]}"#;
    let response: ProductResponse = serde_json::from_slice(body).unwrap();
    let product = convert::product(&response.products[0]).unwrap();
    assert_eq!(product.title, "");
    assert_eq!(product.fba_pick_and_pack_fee, None);
    assert_eq!(product.stats.get(PriceType(37)).current, Some(38));
    assert_eq!(product.stats.sales_rank_drops30, None);
    assert_eq!(
        product.histories.get(PriceType::NEW).unwrap().points()[0].value,
        Some(100)
    );
    assert_eq!(
        product.histories.get(PriceType::USED).unwrap().points()[0].value,
        None
    );
}
