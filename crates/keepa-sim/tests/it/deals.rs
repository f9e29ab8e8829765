//! `/deal`: paging, Keepa's loose order, the date range, deal arrays, and updates over time.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::support::{deal_page, i64s, sim};

fn selection(price_type: u8, date_range: u8, page: usize) -> String {
    format!(
        r#"{{"domainId":1,"priceTypes":[{price_type}],"dateRange":{date_range},"page":{page},"sortType":4}}"#
    )
}

fn deals(body: &Value) -> &Vec<Value> {
    body["deals"]["dr"].as_array().expect("deals.dr")
}

fn last_updates(body: &Value) -> Vec<i64> {
    deals(body)
        .iter()
        .map(|deal| deal["lastUpdate"].as_i64().unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_page_holds_150_deals_newest_first_by_page_but_loosely_ordered_within() {
    let sim = sim(20, 1000);
    let (status, first) = deal_page(&sim, &selection(1, 3, 0)).await;
    assert_eq!(status, 200);
    let (_, second) = deal_page(&sim, &selection(1, 3, 1)).await;
    let (first, second) = (last_updates(&first), last_updates(&second));
    assert_eq!(first.len(), 150);
    assert!(
        second.iter().max() <= first.iter().min(),
        "page 0 holds the newest deals"
    );
    let inversions = first.windows(2).filter(|pair| pair[0] < pair[1]).count();
    assert!(inversions > 0, "Keepa's order within a page is not strict");
    let mut sorted = first.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_ne!(first, sorted);
}

#[tokio::test(start_paused = true)]
async fn pages_are_disjoint_and_cover_every_deal_once() {
    let sim = sim(20, 1000);
    let mut seen = HashSet::new();
    let mut total = None;
    for page in 0.. {
        let (status, body) = deal_page(&sim, &selection(1, 3, page)).await;
        assert_eq!(status, 200);
        total.get_or_insert_with(|| i64s(&body["deals"]["categoryCount"]).iter().sum::<i64>());
        if deals(&body).is_empty() {
            break;
        }
        for deal in deals(&body) {
            assert!(
                seen.insert(deal["asin"].as_str().unwrap().to_owned()),
                "a deal on two pages"
            );
        }
    }
    assert_eq!(Some(seen.len() as i64), total);
    assert_eq!(
        seen.len(),
        400,
        "every product has a New price and an update in the last 90 days"
    );
}

#[tokio::test(start_paused = true)]
async fn deal_arrays_have_36_price_types_and_delta_is_avg_minus_current() {
    let sim = sim(20, 1000);
    let (_, body) = deal_page(&sim, &selection(2, 3, 0)).await;
    for deal in deals(&body) {
        let current = i64s(&deal["current"]);
        assert_eq!(current.len(), 36);
        assert!(current[2] > 0, "a Used deal has a Used price");
        let avg: Vec<Vec<i64>> = deal["avg"].as_array().unwrap().iter().map(i64s).collect();
        let delta: Vec<Vec<i64>> = deal["delta"].as_array().unwrap().iter().map(i64s).collect();
        assert_eq!((avg.len(), delta.len()), (4, 4));
        for (interval, averages) in avg.iter().enumerate() {
            assert_eq!(averages.len(), 36);
            for kind in 0..36 {
                if averages[kind] >= 0 && current[kind] >= 0 {
                    assert_eq!(delta[interval][kind], averages[kind] - current[kind]);
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_date_range_keeps_only_recent_updates() {
    let sim = sim(20, 1000);
    let now_minute = keepa_sim::unix_ms_to_keepa_minute(sim.now_unix_ms());
    let (_, day) = deal_page(&sim, &selection(1, 0, 0)).await;
    let (_, quarter) = deal_page(&sim, &selection(1, 3, 0)).await;
    let day_count: i64 = i64s(&day["deals"]["categoryCount"]).iter().sum();
    let quarter_count: i64 = i64s(&quarter["deals"]["categoryCount"]).iter().sum();
    assert!(
        0 < day_count && day_count < quarter_count,
        "{day_count} vs {quarter_count}"
    );
    assert!(
        last_updates(&day)
            .iter()
            .all(|&minute| minute >= now_minute - 1440)
    );
    assert!(
        deals(&day)
            .iter()
            .all(|deal| deal["dateIntervalIndex"] == 0)
    );
}

#[tokio::test(start_paused = true)]
async fn new_updates_surface_at_the_top_over_time() {
    let sim = sim(20, 1000);
    let (_, before) = deal_page(&sim, &selection(1, 0, 0)).await;
    let newest_before = *last_updates(&before).iter().max().unwrap();
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    assert_eq!(
        sim.counters().deal_updates,
        100,
        "10 updates a minute by default"
    );
    let (_, after) = deal_page(&sim, &selection(1, 0, 0)).await;
    let fresh = last_updates(&after)
        .into_iter()
        .filter(|&minute| minute > newest_before)
        .count();
    assert!(fresh >= 80, "only {fresh} updated deals on top");
}
