//! `/product`: the response shape, the documented costs, and the catalogue's realistic mix.

use serde_json::Value;

use crate::support::{i64s, products, sim, tokens_consumed};

fn first_product(body: &Value) -> &Value {
    &body["products"][0]
}

#[tokio::test(start_paused = true)]
async fn a_product_has_flat_csv_series_shipping_triples_and_stats() {
    let sim = sim(20, 1000);
    let asins = sim.asins()[..20].join(",");
    let (status, body) =
        products(&sim, &[("asin", &asins), ("stats", "180"), ("rating", "1")]).await;
    assert_eq!(status, 200);
    for product in body["products"].as_array().unwrap() {
        let csv = product["csv"].as_array().unwrap();
        assert_eq!(csv.len(), 36);
        for (kind, series) in csv.iter().enumerate() {
            let Some(series) = series.as_array() else {
                continue;
            };
            let stride = if matches!(kind, 7 | 18..=29 | 32) {
                3
            } else {
                2
            };
            assert_eq!(series.len() % stride, 0, "type {kind}");
            let times: Vec<i64> = series
                .iter()
                .step_by(stride)
                .map(|t| t.as_i64().unwrap())
                .collect();
            assert!(
                times.windows(2).all(|pair| pair[0] <= pair[1]),
                "type {kind} out of order"
            );
        }
        let stats = &product["stats"];
        for field in [
            "current",
            "avg",
            "avg30",
            "avg90",
            "avg180",
            "avg365",
            "atIntervalStart",
            "min",
            "max",
        ] {
            assert_eq!(
                stats[field].as_array().map(Vec::len),
                Some(36),
                "stats.{field}"
            );
        }
        for days in [30, 90, 180, 365] {
            assert!(stats[format!("salesRankDrops{days}")].is_i64());
        }
        assert!(product["offers"].is_null());
    }
}

/// A product whose offers fill more than one page of ten, and one that fills less.
async fn product_with_offers(sim: &keepa_sim::Sim, more_than_ten: bool) -> String {
    for asin in sim.asins() {
        let (_, body) = products(sim, &[("asin", &asin), ("offers", "100")]).await;
        let n_offers = first_product(&body)["offers"].as_array().unwrap().len();
        if (n_offers > 10) == more_than_ten && n_offers > 0 {
            return asin;
        }
    }
    panic!("no product with the wanted offers");
}

#[tokio::test(start_paused = true)]
async fn offers_cost_six_per_page_of_ten_offers_returned_instead_of_one() {
    let sim = sim(100, 6000);
    for more_than_ten in [true, false] {
        let asin = product_with_offers(&sim, more_than_ten).await;
        for wanted in ["20", "100"] {
            let (status, body) = products(&sim, &[("asin", &asin), ("offers", wanted)]).await;
            assert_eq!(status, 200);
            let offers = first_product(&body)["offers"].as_array().unwrap();
            assert!(offers.len() <= wanted.parse().unwrap());
            assert_eq!(tokens_consumed(&body), 6 * offers.len().div_ceil(10) as i64);
            let order = i64s(&first_product(&body)["liveOffersOrder"]);
            let landed = |index: i64| {
                let csv = i64s(&offers[index as usize]["offerCSV"]);
                csv[csv.len() - 2] + csv[csv.len() - 1]
            };
            assert!(
                order
                    .windows(2)
                    .all(|pair| landed(pair[0]) <= landed(pair[1])),
                "liveOffersOrder by price"
            );
            for offer in offers {
                for field in [
                    "sellerId",
                    "isFBA",
                    "isPrime",
                    "isAmazon",
                    "condition",
                    "offerCSV",
                ] {
                    assert!(!offer[field].is_null(), "offer.{field}");
                }
            }
        }
    }
}

async fn cost(sim: &keepa_sim::Sim, asin: &str, extra: &[(&str, &str)]) -> i64 {
    let mut query = vec![("asin", asin)];
    query.extend_from_slice(extra);
    let (status, body) = products(sim, &query).await;
    assert_eq!(status, 200);
    tokens_consumed(&body)
}

#[tokio::test(start_paused = true)]
async fn buybox_rating_and_update_add_their_documented_costs() {
    let sim = sim(100, 6000);
    let (_, body) = products(
        &sim,
        &[("asin", &sim.asins()[..20].join(",")), ("rating", "1")],
    )
    .await;
    let asin = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|product| product["csv"][16].is_array())
        .and_then(|product| product["asin"].as_str())
        .expect("a product with ratings")
        .to_owned();
    assert_eq!(cost(&sim, &asin, &[]).await, 1);
    assert_eq!(
        cost(
            &sim,
            &asin,
            &[("stats", "365"), ("history", "1"), ("days", "90")]
        )
        .await,
        1,
        "free parameters"
    );
    assert_eq!(cost(&sim, &asin, &[("buybox", "1")]).await, 3);
    assert_eq!(cost(&sim, &asin, &[("rating", "1")]).await, 2);
    assert_eq!(cost(&sim, &asin, &[("update", "0")]).await, 2);
    assert_eq!(cost(&sim, &asin, &[("update", "-1")]).await, 1);
    assert_eq!(
        cost(
            &sim,
            &asin,
            &[("buybox", "1"), ("rating", "1"), ("update", "0")]
        )
        .await,
        5
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_asin_costs_nothing() {
    let sim = sim(20, 100);
    let known = sim.asins()[0].clone();
    let (status, body) = products(&sim, &[("asin", &format!("{known},B000000000"))]).await;
    assert_eq!(status, 200);
    assert_eq!(tokens_consumed(&body), 1);
    assert_eq!(body["products"][1]["productType"], 4);
}

#[tokio::test(start_paused = true)]
async fn the_catalogue_mixes_good_bad_and_incomplete_deals() {
    let sim = sim(100, 6000);
    let (mut good, mut bad, mut no_used, mut no_fees, mut no_referral, mut no_rank) =
        (0, 0, 0, 0, 0, 0);
    for chunk in sim.asins().chunks(100) {
        let (_, body) = products(&sim, &[("asin", &chunk.join(",")), ("stats", "365")]).await;
        for product in body["products"].as_array().unwrap() {
            let used_now = product["stats"]["current"][2].as_i64().unwrap();
            let used_year = product["stats"]["avg365"][2].as_i64().unwrap();
            match used_now {
                -1 => no_used += 1,
                now if now * 10 < used_year * 7 => good += 1,
                now if now >= used_year => bad += 1,
                _ => {}
            }
            no_fees += i32::from(
                product["fbaFees"].is_null() || product["fbaFees"]["pickAndPackFee"] == -1,
            );
            no_referral += i32::from(product["referralFeePercentage"].is_null());
            no_rank += i32::from(product["csv"][3].is_null());
        }
    }
    for (what, count) in [
        ("good", good),
        ("bad", bad),
        ("no used", no_used),
        ("no fees", no_fees),
        ("no referral", no_referral),
        ("no rank", no_rank),
    ] {
        assert!(count > 3, "only {count} {what} products among 400");
    }
}

/// A count drop (types 11/12) followed by a rank drop (type 3) within 240 h.
fn inferred_sales(product: &Value) -> usize {
    let pairs = |kind: usize| -> Vec<(i64, i64)> {
        product["csv"][kind]
            .as_array()
            .map_or_else(Vec::new, |series| {
                series
                    .chunks(2)
                    .map(|pair| (pair[0].as_i64().unwrap(), pair[1].as_i64().unwrap()))
                    .collect()
            })
    };
    let drops = |series: Vec<(i64, i64)>| -> Vec<i64> {
        series
            .windows(2)
            .filter(|pair| pair[1].1 < pair[0].1)
            .map(|pair| pair[1].0)
            .collect()
    };
    let rank_drops = drops(pairs(3));
    [11, 12]
        .into_iter()
        .flat_map(|kind| drops(pairs(kind)))
        .filter(|&t| {
            rank_drops
                .iter()
                .any(|&rank_t| (t..=t + 240 * 60).contains(&rank_t))
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn histories_hold_the_inferred_sale_pattern() {
    let sim = sim(100, 6000);
    let (_, body) = products(&sim, &[("asin", &sim.asins()[..50].join(","))]).await;
    let with_sales = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|product| inferred_sales(product) > 0)
        .count();
    assert!(
        with_sales >= 25,
        "only {with_sales} of 50 products show inferred sales"
    );
}
