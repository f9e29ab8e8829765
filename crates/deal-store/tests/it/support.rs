//! Shared helpers: temporary stores, deal builders and proptest strategies.

use deal_filters::{AnalysedDeal, Trend};
use deal_store::{DealSource, DealWrite, StoreOptions, Writer};
use keepa_model::{Asin, Cents, KeepaMinute, OfferCondition, PriceType, UnixSeconds};
use proptest::prelude::*;

/// A fixed "now" for tests: 2026-05-10, roughly the samples' time.
pub(crate) const NOW: UnixSeconds = UnixSeconds(1_778_400_000);
pub(crate) const HOUR: i64 = 60 * 60;

/// A temporary directory and a writer on `deals.sqlite` inside it.
pub(crate) fn temp_writer() -> (tempfile::TempDir, Writer) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let writer = Writer::open(
        directory.path().join("deals.sqlite"),
        StoreOptions::default(),
    )
    .expect("a new store opens");
    (directory, writer)
}

/// The `index`-th test ASIN, `B000000042` style.
pub(crate) fn asin(index: u32) -> Asin {
    format!("B{index:09}").parse().expect("a valid asin")
}

/// A valid, fully populated deal.
pub(crate) fn valid_deal(index: u32) -> AnalysedDeal {
    AnalysedDeal {
        asin: asin(index),
        title: format!("Test product {index}"),
        brand: Some("Acme".to_owned()),
        root_category: Some(283_155),
        keepa_last_update: Some(KeepaMinute(8_075_762)),
        analysed_at: NOW,
        refreshed_at: NOW,
        buy_price_type: PriceType::USED,
        price_now: Cents(1_000),
        buy_shipping: Cents(399),
        seller_id: Some("A1SELLER".to_owned()),
        seller_is_fba: Some(false),
        condition: Some(OfferCondition::UsedGood),
        seller_quality: Some(0.93),
        fba_fee: Cents(550),
        fba_fee_is_default: true,
        referral_fee_percent: 15.0,
        referral_fee_is_default: true,
        tax: Cents(50),
        prep_fee: Cents(275),
        inbound_shipping: Cents(399),
        all_in_cost: Cents(2_123),
        list_at: Some(Cents(4_000)),
        list_at_implausible: false,
        total_fees: Some(Cents(1_150)),
        profit: Some(Cents(727)),
        margin_percent: Some(18.2),
        roi_percent: Some(34.2),
        min_listing_price: Some(Cents(3_560)),
        one_year_average: Some(Cents(3_800)),
        one_year_average_is_estimate: false,
        percent_down: Some(73.7),
        inferred_sales: 12,
        inferred_sales_last_year: 5,
        offer_drops: 20,
        deal_trust_percent: Some(60.0),
        price_trend: Some(Trend::Down),
        new_offer_trend: Some(Trend::Flat),
        used_offer_trend: None,
        sales_rank: Some(45_000),
        drops_30: Some(7),
        drops_90: Some(20),
        drops_365: Some(70),
        amazon_sells: false,
    }
}

/// A write attributed to analysis at `now`, without a lease.
pub(crate) fn analysis_at(now: UnixSeconds) -> DealWrite<'static> {
    DealWrite {
        source: DealSource::Analysis,
        fence: None,
        now,
    }
}

/// Money values with the gate's edge cases over-represented.
fn money() -> impl Strategy<Value = Option<Cents>> {
    prop_oneof![
        Just(None),
        Just(Some(Cents(0))),
        Just(Some(Cents(-5))),
        Just(Some(Cents(1))),
        (-10_000_i64..200_000).prop_map(|cents| Some(Cents(cents))),
    ]
}

/// Percentages, unknown included; finite only (SQLite has no NaN).
fn percent() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(0.0)),
        (-50.0_f64..150.0).prop_map(Some),
        // A few exact repeats so ties (and the asin tie-break) happen.
        prop::sample::select(vec![10.0, 25.0, 50.0]).prop_map(Some),
    ]
}

fn condition() -> impl Strategy<Value = Option<OfferCondition>> {
    prop::option::of(prop::sample::select(vec![
        OfferCondition::New,
        OfferCondition::UsedLikeNew,
        OfferCondition::UsedVeryGood,
        OfferCondition::UsedGood,
        OfferCondition::UsedAcceptable,
        OfferCondition::Refurbished,
        OfferCondition::Collectible,
        OfferCondition::Rental,
    ]))
}

/// Titles and brands that exercise the keyword filter, `LIKE` metacharacters included.
fn words() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "Blue Widget",
        "red widget",
        "GADGET 100%",
        "under_score",
        "back\\slash",
        "Ünïcode",
        "plain",
    ])
    .prop_map(str::to_owned)
}

/// A random deal (valid or not) with the given ASIN index.
pub(crate) fn arbitrary_deal(index: u32) -> impl Strategy<Value = AnalysedDeal> {
    (
        (
            money(),
            money(),
            money(),
            words(),
            prop::option::of(words()),
        ),
        (
            percent(),
            percent(),
            percent(),
            percent(),
            prop::option::of(0.0_f64..1.0),
        ),
        (
            prop::option::of(prop::sample::select(vec![0_i32, 1, 5, 20])),
            prop::option::of(prop::sample::select(vec![1_i64, 1_000, 50_000, 2_000_000])),
            any::<bool>(),
            condition(),
        ),
    )
        .prop_map(
            move |(
                (profit, list_at, one_year_average, title, brand),
                (roi, margin, percent_down, deal_trust, seller_quality),
                (drops_30, sales_rank, amazon_sells, condition),
            )| {
                let mut deal = valid_deal(index);
                deal.profit = profit;
                deal.list_at = list_at;
                deal.one_year_average = one_year_average;
                deal.title = title;
                deal.brand = brand;
                deal.roi_percent = roi;
                deal.margin_percent = margin;
                deal.percent_down = percent_down;
                deal.deal_trust_percent = deal_trust;
                deal.seller_quality = seller_quality;
                deal.drops_30 = drops_30;
                deal.sales_rank = sales_rank;
                deal.amazon_sells = amazon_sells;
                deal.condition = condition;
                deal
            },
        )
}

/// A list of random deals with distinct ASINs.
pub(crate) fn arbitrary_deals(max: u32) -> impl Strategy<Value = Vec<AnalysedDeal>> {
    (1..=max).prop_flat_map(|count| (0..count).map(arbitrary_deal).collect::<Vec<_>>())
}
