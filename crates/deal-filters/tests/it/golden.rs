//! Golden tests: the real product sample (read from `../shared`, never copied
//! into the repo) and the generated products in `fixtures/deal-filters/`,
//! with snapshots that make a changed number visible in review
//! (`UPDATE_SNAPSHOTS=1 cargo test -p deal-filters` rewrites them).

use std::path::PathBuf;

use deal_filters::{AnalysedDeal, Settings, analyse, refresh, screen_stats};
use keepa_model::{Cents, KeepaMinute, PriceType, Product, Series, Stats};
use serde_json::Value;

use crate::support::{
    check_snapshot, fixtures_dir, generated_product, now_seconds, updating_snapshots,
};

const GENERATED_SEEDS: std::ops::Range<u64> = 0..8;

fn sample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/keepa-samples/product-B0D8W1YVBX-2026-05.json")
}

fn numbers(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .map(|array| {
            array
                .iter()
                .map(|item| item.as_i64().unwrap_or(-2))
                .collect()
        })
        .unwrap_or_default()
}

/// A test-only extraction of the few fields the rules need; the real decoder
/// lives in keepa-client.
fn product_from_sample(json: &Value) -> Product {
    let raw = &json["products"][0];
    let mut product = Product::new(raw["asin"].as_str().unwrap().parse().unwrap());
    product.title = raw["title"].as_str().unwrap_or_default().to_owned();
    product.brand = raw["brand"].as_str().map(str::to_owned);
    product.root_category = raw["rootCategory"].as_u64();
    product.last_update = raw["lastUpdate"]
        .as_i64()
        .map(|minute| KeepaMinute(minute as i32));
    for (index, series) in raw["csv"].as_array().unwrap().iter().enumerate() {
        if series.is_array() {
            let price_type = PriceType(index as u16);
            product.histories.insert(
                price_type,
                Series::from_keepa_flat(&numbers(series), price_type),
            );
        }
    }
    let stats = &raw["stats"];
    product.stats = Stats {
        per_type: Stats::per_type_from_keepa(
            &numbers(&stats["current"]),
            &numbers(&stats["avg30"]),
            &numbers(&stats["avg90"]),
            &numbers(&stats["avg180"]),
            &numbers(&stats["avg365"]),
        ),
        sales_rank_drops30: stats["salesRankDrops30"].as_i64().map(|drops| drops as i32),
        sales_rank_drops90: stats["salesRankDrops90"].as_i64().map(|drops| drops as i32),
        sales_rank_drops180: stats["salesRankDrops180"]
            .as_i64()
            .map(|drops| drops as i32),
        sales_rank_drops365: stats["salesRankDrops365"]
            .as_i64()
            .map(|drops| drops as i32),
    };
    product.fba_pick_and_pack_fee = raw["fbaFees"]["pickAndPackFee"]
        .as_i64()
        .and_then(Cents::from_keepa);
    product.referral_fee_percent = raw["referralFeePercentage"].as_f64();
    product
}

#[test]
fn real_product_sample_analyses_to_its_snapshot() {
    let path = sample_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipping: real Keepa sample {} is absent (the shared folder lies beside the repo)",
            path.display()
        );
        return;
    };
    let product = product_from_sample(&serde_json::from_str(&text).unwrap());
    // Values checked by hand against the JSON.
    assert_eq!(
        product.histories.0.len(),
        36,
        "2026 captures have 36 price types"
    );
    assert_eq!(product.fba_pick_and_pack_fee, Some(Cents(409)));
    assert_eq!(product.referral_fee_percent, Some(15.01));
    assert_eq!(product.stats.get(PriceType::NEW).current, Some(1_499));
    assert_eq!(product.stats.get(PriceType::USED).current, None);
    assert_eq!(
        product
            .histories
            .get(PriceType::BUY_BOX_SHIPPING)
            .unwrap()
            .points()
            .len(),
        747 / 3
    );

    let now = product.last_update.unwrap().to_unix_seconds();
    let deal = analyse(&product, None, &Settings::default(), now).unwrap();
    assert_eq!(
        (deal.buy_price_type, deal.price_now),
        (PriceType::NEW, Cents(1_499))
    );
    assert_eq!(deal.fba_fee, Cents(409));
    assert_eq!(deal.seller_id, None, "fetched without offers");
    assert_eq!(
        deal.buy_shipping,
        Settings::default().default_merchant_shipping
    );
    assert_eq!(deal.drops_30, Some(35));
    assert_eq!(deal.sales_rank, Some(23));
    check_snapshot("real-B0D8W1YVBX.expected.json", &deal);
    // No Used statistics at all: the screening rule has no sell estimate.
    assert_eq!(
        screen_stats(&product.stats),
        Err(deal_filters::RejectionReason::NoSellEstimate)
    );
}

fn product_fixture(seed: u64) -> PathBuf {
    fixtures_dir().join(format!("generated-{seed}.product.json"))
}

#[test]
fn generated_products_analyse_to_their_snapshots() {
    for seed in GENERATED_SEEDS {
        let path = product_fixture(seed);
        if updating_snapshots() {
            std::fs::write(
                &path,
                serde_json::to_string(&generated_product(seed)).unwrap() + "\n",
            )
            .unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "cannot read {}: {error}; run with UPDATE_SNAPSHOTS=1",
                path.display()
            )
        });
        let product: Product = serde_json::from_str(&text).unwrap();
        let outcome: Result<AnalysedDeal, String> =
            analyse(&product, None, &Settings::default(), now_seconds())
                .map_err(|reason| reason.as_str().to_owned());
        check_snapshot(&format!("generated-{seed}.expected.json"), &outcome);
    }
}

#[test]
fn generated_corpus_has_a_mix_of_valid_and_invalid_deals() {
    let deals: Vec<AnalysedDeal> = GENERATED_SEEDS
        .map(|seed| {
            analyse(
                &generated_product(seed),
                None,
                &Settings::default(),
                now_seconds(),
            )
            .unwrap()
        })
        .collect();
    assert!(
        deals.iter().any(AnalysedDeal::is_valid),
        "no valid deal in the corpus"
    );
    assert!(
        deals.iter().any(|deal| !deal.is_valid()),
        "no invalid deal in the corpus"
    );
    assert!(deals.iter().any(|deal| deal.inferred_sales > 0));
}

#[test]
fn refresh_keeps_list_at_and_average_and_recomputes_money() {
    let settings = Settings::default();
    let product = generated_product(3);
    let analysed = analyse(&product, None, &settings, now_seconds()).unwrap();
    let mut fresh = Product::new(product.asin);
    fresh.stats = product.stats.clone();
    let used = fresh.stats.per_type[PriceType::USED.index()]
        .current
        .unwrap();
    fresh.stats.per_type[PriceType::USED.index()].current = Some(used - 100);
    let later = keepa_model::UnixSeconds(now_seconds().0 + 3_600);
    let refreshed = refresh(&analysed, &fresh, &settings, later);
    assert_eq!(refreshed.list_at, analysed.list_at);
    assert_eq!(refreshed.one_year_average, analysed.one_year_average);
    assert_eq!(refreshed.price_now, Cents(used - 100));
    assert_eq!(
        refreshed.fba_fee, analysed.fba_fee,
        "fees kept when the light fetch has none"
    );
    assert_eq!(refreshed.refreshed_at, later);
    assert_eq!(refreshed.analysed_at, analysed.analysed_at);
    if let (Some(before), Some(after)) = (analysed.profit, refreshed.profit) {
        assert!(after > before, "a lower price raises profit");
    }
    // Refreshing with the same statistics and no offers changes nothing but the time.
    let mut same = Product::new(product.asin);
    same.stats = product.stats.clone();
    same.fba_pick_and_pack_fee = product.fba_pick_and_pack_fee;
    same.referral_fee_percent = product.referral_fee_percent;
    let unchanged = refresh(&analysed, &same, &settings, later);
    assert_eq!(
        AnalysedDeal {
            refreshed_at: analysed.refreshed_at,
            ..unchanged
        },
        analysed
    );
}
