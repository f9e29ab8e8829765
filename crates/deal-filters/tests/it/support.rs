//! Test support: a deterministic generator of products with Keepa-like
//! histories, builders for series, and a hand-rolled snapshot check.

use std::path::PathBuf;

use keepa_model::{
    Cents, HistoryPoint, KeepaMinute, Offer, OfferCondition, PriceType, PriceTypeStats, Product,
    SellerRating, Series, Stats, UnixSeconds,
};

/// The instant generated products are analysed at (May 2026).
pub(crate) const NOW_MINUTE: KeepaMinute = KeepaMinute(8_075_762);

pub(crate) fn now_seconds() -> UnixSeconds {
    NOW_MINUTE.to_unix_seconds()
}

pub(crate) fn series(points: &[(i32, i64)]) -> Series {
    Series(
        points
            .iter()
            .map(|&(at, value)| HistoryPoint {
                at: KeepaMinute(at),
                value: Some(value),
                shipping: None,
            })
            .collect(),
    )
}

pub(crate) fn stats_with(entries: &[(PriceType, PriceTypeStats)]) -> Stats {
    let mut stats = Stats::default();
    for &(price_type, entry) in entries {
        if stats.per_type.len() <= price_type.index() {
            stats
                .per_type
                .resize(price_type.index() + 1, PriceTypeStats::default());
        }
        stats.per_type[price_type.index()] = entry;
    }
    stats
}

pub(crate) fn current(value: i64) -> PriceTypeStats {
    PriceTypeStats {
        current: Some(value),
        ..PriceTypeStats::default()
    }
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `low..=high`.
    pub(crate) fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn average_since(series: &Series, since: KeepaMinute) -> Option<i64> {
    let values: Vec<i64> = series
        .points()
        .iter()
        .filter(|point| point.at >= since)
        .filter_map(|point| point.value)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<i64>() / values.len() as i64)
}

fn stats_of(series: &Series) -> PriceTypeStats {
    let since = |days: i64| average_since(series, NOW_MINUTE.plus_minutes(-days * 1440));
    PriceTypeStats {
        current: series.points().last().and_then(|point| point.value),
        avg30: since(30),
        avg90: since(90),
        avg180: since(180),
        avg365: since(365),
    }
}

/// A product with about three years of history, deterministic for a seed.
/// Seeds vary the price level, sales frequency, Amazon presence and offers.
pub(crate) fn generated_product(seed: u64) -> Product {
    let mut rng = Rng::new(seed);
    let asin = format!("G{seed:09}")
        .parse()
        .expect("generated asin is valid");
    let mut product = Product::new(asin);
    product.title = format!("Generated product {seed}");
    product.root_category = Some(1_000 + seed % 7);
    product.last_update = Some(NOW_MINUTE);
    let base_price = rng.range(800, 9_000);
    let sale_percent = rng.range(5, 60) as u64;
    let mut minute = NOW_MINUTE.plus_minutes(-(3 * 365 + 20) * 1440);
    let (mut used_count, mut new_count, mut rank) =
        (rng.range(2, 8), rng.range(1, 5), rng.range(5_000, 400_000));
    let (mut used, mut new, mut ranks, mut used_counts, mut new_counts) =
        (vec![], vec![], vec![], vec![], vec![]);
    while minute < NOW_MINUTE {
        let used_price = base_price + rng.range(-base_price / 5, base_price / 5);
        used.push((minute.0, used_price));
        new.push((minute.0, used_price * 13 / 10));
        if rng.chance(sale_percent) && used_count > 0 {
            used_count -= 1;
            used_counts.push((minute.0, used_count));
            if rng.chance(80) {
                let lag = rng.range(0, 300) as i32 * 60;
                rank = (rank * 7 / 10).max(1);
                ranks.push((minute.0 + lag, rank));
            }
        } else {
            used_count += 1;
            used_counts.push((minute.0, used_count));
            rank += rng.range(100, 20_000);
            ranks.push((minute.0 + 1, rank));
        }
        if rng.chance(10) {
            new_count = (new_count + rng.range(-1, 1)).max(0);
            new_counts.push((minute.0 + 2, new_count));
        }
        minute = minute.plus_minutes(rng.range(6, 96) * 60);
    }
    // Deals surface when the current price drops below the usual level.
    let discount_percent = rng.range(35, 100);
    used.push((NOW_MINUTE.0 - 60, base_price * discount_percent / 100));
    ranks.sort_unstable();
    let used = series(&used);
    let new = series(&new);
    let ranks = series(&ranks);
    let used_counts = series(&used_counts);
    let new_counts = series(&new_counts);
    let mut entries = vec![
        (PriceType::NEW, stats_of(&new)),
        (PriceType::USED, stats_of(&used)),
        (PriceType::SALES, stats_of(&ranks)),
        (PriceType::COUNT_NEW, stats_of(&new_counts)),
        (PriceType::COUNT_USED, stats_of(&used_counts)),
    ];
    if rng.chance(30) {
        entries.push((
            PriceType::AMAZON,
            PriceTypeStats {
                current: Some(base_price),
                avg180: Some(base_price),
                avg365: Some(base_price),
                ..PriceTypeStats::default()
            },
        ));
    }
    product.stats = stats_with(&entries);
    product.stats.sales_rank_drops30 = Some(rng.range(0, 40) as i32);
    product.stats.sales_rank_drops90 = Some(rng.range(0, 120) as i32);
    product.stats.sales_rank_drops365 = Some(rng.range(0, 400) as i32);
    product.histories.insert(PriceType::NEW, new);
    product.histories.insert(PriceType::USED, used.clone());
    product.histories.insert(PriceType::SALES, ranks);
    product.histories.insert(PriceType::COUNT_NEW, new_counts);
    product.histories.insert(PriceType::COUNT_USED, used_counts);
    product.fba_pick_and_pack_fee = rng.chance(80).then(|| Cents(rng.range(300, 900)));
    product.referral_fee_percent = rng.chance(80).then_some(15.0);
    if let (true, Some(price)) = (
        rng.chance(70),
        used.points().last().and_then(|point| point.value),
    ) {
        let is_fba = rng.chance(50);
        product.offers.push(Offer {
            seller_id: format!("SELLER{seed}"),
            condition: OfferCondition::UsedGood,
            price: Cents(price),
            shipping: (!is_fba && rng.chance(50)).then_some(Cents(499)),
            is_fba,
            is_prime: is_fba,
            is_amazon: false,
            is_shippable: true,
            last_seen: Some(NOW_MINUTE),
        });
        product.sellers.push(SellerRating {
            seller_id: format!("SELLER{seed}"),
            positive_percent: Some(rng.range(80, 100) as f64),
            rating_count: Some(rng.range(1, 5_000) as u32),
        });
    }
    product
}

pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/deal-filters")
}

pub(crate) fn updating_snapshots() -> bool {
    std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1")
}

/// Compares `value` as pretty JSON with `fixtures/deal-filters/<name>`, or
/// writes it there when `UPDATE_SNAPSHOTS=1`.
#[track_caller]
pub(crate) fn check_snapshot<T: serde::Serialize>(name: &str, value: &T) {
    let path = fixtures_dir().join(name);
    let actual = serde_json::to_string_pretty(value).expect("serialises") + "\n";
    if updating_snapshots() {
        std::fs::write(&path, &actual).expect("writes the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read snapshot {}: {error}; run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first_difference = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .find(|(_, (expected, actual))| expected != actual)
            .map(|(line, (expected, actual))| {
                format!("line {}: expected {expected:?}, got {actual:?}", line + 1)
            })
            .unwrap_or_else(|| "lengths differ".to_owned());
        panic!(
            "snapshot {} changed ({first_difference}); review and re-run with UPDATE_SNAPSHOTS=1 if intended",
            path.display()
        );
    }
}
