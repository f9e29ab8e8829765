//! Benchmark: full analysis of one product with three years of history,
//! per second, against decoding that product's JSON in the same run.
//!
//! The product is the generated fixture `fixtures/deal-filters/generated-0.product.json`.
//! The typed Keepa decoder lives in keepa-client (not a dependency of this
//! pure crate), so the baseline is parsing the same product, written out in
//! Keepa's wire shape (flat `csv` arrays, `stats` arrays, `fbaFees`,
//! `referralFeePercentage`, `offers`), into `serde_json::Value`.
//! Goal: analysis costs less than decoding (ratio > 1 in analyses per second).
//! Run with `cargo bench -p deal-filters --bench rules`.

use deal_filters::{Settings, analyse};
use keepa_model::{PriceType, Product};
use serde_json::{Value, json};

fn keepa_shaped_json(product: &Product) -> Vec<u8> {
    let csv: Vec<Value> = product
        .histories
        .0
        .iter()
        .enumerate()
        .map(|(index, series)| match series {
            None => Value::Null,
            Some(series) => {
                let shipping = PriceType(index as u16).has_shipping();
                let mut flat = Vec::new();
                for point in series.points() {
                    flat.push(i64::from(point.at.0));
                    flat.push(point.value.unwrap_or(-1));
                    if shipping {
                        flat.push(point.shipping.unwrap_or(-1));
                    }
                }
                json!(flat)
            }
        })
        .collect();
    let column = |pick: fn(&keepa_model::PriceTypeStats) -> Option<i64>| -> Vec<i64> {
        product
            .stats
            .per_type
            .iter()
            .map(|entry| pick(entry).unwrap_or(-1))
            .collect()
    };
    let offers: Vec<Value> = product
        .offers
        .iter()
        .map(|offer| {
            json!({"sellerId": offer.seller_id, "condition": 4, "isFBA": offer.is_fba, "isPrime": offer.is_prime,
                   "isAmazon": offer.is_amazon, "isShippable": offer.is_shippable,
                   "offerCSV": [8_075_000, offer.price.0, offer.shipping.map_or(-1, |shipping| shipping.0)]})
        })
        .collect();
    let body = json!({
        "timestamp": 1_778_385_720_000_i64, "tokensLeft": 100, "refillIn": 30_000, "refillRate": 20,
        "tokenFlowReduction": 0.0, "tokensConsumed": 7, "processingTimeInMs": 12,
        "products": [{
            "asin": product.asin.as_str(), "title": product.title, "rootCategory": product.root_category,
            "lastUpdate": product.last_update.map(|minute| minute.0), "csv": csv,
            "stats": {
                "current": column(|entry| entry.current), "avg30": column(|entry| entry.avg30),
                "avg90": column(|entry| entry.avg90), "avg180": column(|entry| entry.avg180),
                "avg365": column(|entry| entry.avg365),
                "salesRankDrops30": product.stats.sales_rank_drops30, "salesRankDrops90": product.stats.sales_rank_drops90,
                "salesRankDrops180": product.stats.sales_rank_drops180, "salesRankDrops365": product.stats.sales_rank_drops365,
            },
            "fbaFees": {"pickAndPackFee": product.fba_pick_and_pack_fee.map(|fee| fee.0)},
            "referralFeePercentage": product.referral_fee_percent,
            "offers": offers,
        }],
    });
    serde_json::to_vec(&body).expect("serialises")
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/deal-filters/generated-0.product.json"
    );
    let text = std::fs::read_to_string(path).expect("the generated product fixture exists");
    let product: Product = serde_json::from_str(&text).expect("the fixture is a domain Product");
    let bytes = keepa_shaped_json(&product);
    let settings = Settings::default();
    let now = product
        .last_update
        .expect("fixture has a last update")
        .to_unix_seconds();

    let decode = benchkit::measure("rules/decode_value", || {
        let value: Value = serde_json::from_slice(benchkit::black_box(&bytes)).expect("valid json");
        benchkit::black_box(value);
    });
    let analysis = benchkit::measure("rules/analyse", || {
        let deal = analyse(benchkit::black_box(&product), None, &settings, now);
        benchkit::black_box(deal.ok());
    });
    benchkit::report(
        "rules/analyse_3y_product_per_second",
        1e9 / analysis.ns_per_iter,
        "products/s",
        "serde_json::Value decode of the same product (Keepa wire shape)",
        1e9 / decode.ns_per_iter,
    );
}
