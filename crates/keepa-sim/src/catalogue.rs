//! The seeded catalogue: product profiles, their three-year histories, updates and live offers.
//!
//! Profiles (a few hundred bytes each) are generated for the whole catalogue when the simulator
//! is built; a product's full history is generated from its profile only when a response needs
//! it, then replayed with the updates that arrived since the start. The same seed always gives
//! the same catalogue. The mix is deliberate: good deals (a recent Used price far below the
//! product's usual price), bad deals, and incomplete data (no fees, no referral percentage, no
//! sales rank, no used offers). Sales follow the pattern the deal rules infer: an offer-count
//! drop (types 11/12) followed within 240 h by a sales-rank drop (type 3); some count drops are
//! withdrawals that no rank drop follows. This module renders no JSON.

use std::collections::HashSet;

use crate::rng::{SplitMix64, mix};

/// Entries in every price-type array (Keepa's 2026 captures have 36; 2025 ones had 34).
pub(crate) const PRICE_TYPE_COUNT: usize = 36;

/// Keepa's `csv` indices used by the simulator.
pub(crate) mod csv_type {
    pub(crate) const AMAZON: usize = 0;
    pub(crate) const NEW: usize = 1;
    pub(crate) const USED: usize = 2;
    pub(crate) const SALES: usize = 3;
    pub(crate) const LIST_PRICE: usize = 4;
    pub(crate) const NEW_FBM_SHIPPING: usize = 7;
    pub(crate) const NEW_FBA: usize = 10;
    pub(crate) const COUNT_NEW: usize = 11;
    pub(crate) const COUNT_USED: usize = 12;
    pub(crate) const RATING: usize = 16;
    pub(crate) const COUNT_REVIEWS: usize = 17;
    pub(crate) const BUY_BOX_SHIPPING: usize = 18;
    /// Used - like new, very good, good, acceptable: 19, 20, 21, 22 (offer conditions 2..=5).
    pub(crate) const USED_NEW_SHIPPING: usize = 19;
}

/// Whether a `csv` type is a shipping series (`[t, price, shipping, …]`).
pub(crate) fn is_shipping_type(kind: usize) -> bool {
    matches!(kind, 7 | 18..=29 | 32)
}

const MINUTES_PER_DAY: i64 = 1440;
const MINUTES_PER_YEAR: i64 = 365 * MINUTES_PER_DAY;
/// Amazon's seller id, as Keepa reports it on Amazon's own offers.
pub(crate) const AMAZON_SELLER_ID: &str = "ATVPDKIKX0DER";

/// Root categories (Amazon US ids and names).
const ROOT_CATEGORIES: [(i64, &str); 10] = [
    (283_155, "Books"),
    (165_793_011, "Toys & Games"),
    (1_055_398, "Home & Kitchen"),
    (3_760_911, "Beauty & Personal Care"),
    (172_282, "Electronics"),
    (3_375_251, "Sports & Outdoors"),
    (2_972_638_011, "Patio, Lawn & Garden"),
    (165_796_011, "Baby Products"),
    (228_013, "Tools & Home Improvement"),
    (468_642, "Video Games"),
];

const BRANDS: [&str; 12] = [
    "Northwind",
    "Acme",
    "Brightline",
    "Cobalt",
    "Evergreen",
    "Fjord",
    "Granite",
    "Harbor",
    "Ionic",
    "Juniper",
    "Keystone",
    "Lumen",
];
const ADJECTIVES: [&str; 12] = [
    "Heavy Duty",
    "Compact",
    "Deluxe",
    "Portable",
    "Classic",
    "Premium",
    "Foldable",
    "Waterproof",
    "Wireless",
    "Organic",
    "Rechargeable",
    "Stackable",
];
const NOUNS: [&str; 12] = [
    "Storage Bags",
    "Board Game",
    "Chef Knife",
    "Face Serum",
    "Headphones",
    "Yoga Mat",
    "Garden Hose",
    "Baby Monitor",
    "Drill Set",
    "Controller",
    "Cookbook",
    "Water Bottle",
];

/// How a product's final Used price relates to its usual price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DealKind {
    /// The Used price dropped to 40–62 % of usual: a deal the rules should keep.
    Good,
    /// The Used price sits above its usual level.
    Bad,
    /// An ordinary price, slightly below usual.
    Ordinary,
}

/// The seed-derived parameters of one product; its history is generated from these.
#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub(crate) asin: String,
    pub(crate) title: String,
    pub(crate) brand: &'static str,
    pub(crate) root_category: i64,
    pub(crate) root_category_name: &'static str,
    pub(crate) categories: Vec<i64>,
    pub(crate) seed: u64,
    pub(crate) used_base_cents: f64,
    pub(crate) new_base_cents: f64,
    pub(crate) sales_per_month: f64,
    pub(crate) rank_base: f64,
    pub(crate) amazon_sells: bool,
    pub(crate) has_used: bool,
    pub(crate) has_list_price: bool,
    pub(crate) has_reviews: bool,
    pub(crate) missing_rank: bool,
    /// `None`: Keepa sent no `fbaFees`; `Some(-1)`: a negative (unknown) fee.
    pub(crate) fba_pick_and_pack_cents: Option<i64>,
    pub(crate) referral_fee_percentage: Option<f64>,
    pub(crate) seasonality: f64,
    pub(crate) season_phase: f64,
    pub(crate) kind: DealKind,
    pub(crate) tracking_since: i64,
    /// The Keepa minute of the product's last update before the simulation started.
    pub(crate) base_last_update: i64,
    pub(crate) image: String,
}

impl Profile {
    fn season(&self, minute: i64) -> f64 {
        let year_fraction = minute.rem_euclid(MINUTES_PER_YEAR) as f64 / MINUTES_PER_YEAR as f64;
        1.0 + self.seasonality * (std::f64::consts::TAU * year_fraction + self.season_phase).sin()
    }
}

/// All products of one simulator, and the sellers their offers come from.
#[derive(Debug)]
pub(crate) struct Catalogue {
    pub(crate) profiles: Vec<Profile>,
    pub(crate) sellers: Vec<String>,
    by_asin: std::collections::HashMap<String, usize>,
}

impl Catalogue {
    pub(crate) fn generate(seed: u64, size: usize, start_minute: i64) -> Self {
        let mut used_asins = HashSet::new();
        let mut profiles = Vec::with_capacity(size);
        for index in 0..size {
            profiles.push(generate_profile(
                seed,
                index as u64,
                start_minute,
                &mut used_asins,
            ));
        }
        let mut seller_rng = SplitMix64::new(mix(seed, 7));
        let sellers = (0..200)
            .map(|_| format!("A{}", random_code(&mut seller_rng, 13)))
            .collect();
        let by_asin = profiles
            .iter()
            .enumerate()
            .map(|(index, profile)| (profile.asin.clone(), index))
            .collect();
        Self {
            profiles,
            sellers,
            by_asin,
        }
    }

    pub(crate) fn index_of(&self, asin: &str) -> Option<usize> {
        self.by_asin.get(asin).copied()
    }
}

fn random_code(rng: &mut SplitMix64, length: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..length)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn pick<T: Copy>(rng: &mut SplitMix64, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize]
}

fn generate_profile(
    seed: u64,
    index: u64,
    start_minute: i64,
    used_asins: &mut HashSet<String>,
) -> Profile {
    let mut rng = SplitMix64::new(mix(seed, 1_000 + index));
    let asin = loop {
        let candidate = format!("B0{}", random_code(&mut rng, 8));
        if used_asins.insert(candidate.clone()) {
            break candidate;
        }
    };
    let (root_category, root_category_name) = pick(&mut rng, &ROOT_CATEGORIES);
    let brand = pick(&mut rng, &BRANDS);
    let title = format!(
        "{brand} {} {}, {} Pack",
        pick(&mut rng, &ADJECTIVES),
        pick(&mut rng, &NOUNS),
        rng.between(1, 6)
    );
    let categories = vec![
        rng.between(1_000_000, 999_999_999),
        rng.between(1_000_000, 999_999_999),
    ];
    let used_base_cents = rng.log_uniform(600.0, 30_000.0);
    let new_base_cents = used_base_cents * rng.uniform(1.15, 1.6);
    let sales_per_month = rng.log_uniform(0.2, 15.0);
    let rank_base = (150_000.0 / sales_per_month).clamp(500.0, 3_000_000.0) * rng.uniform(0.7, 1.3);
    let amazon_sells = rng.chance(0.2);
    let has_used = rng.chance(0.88);
    let has_list_price = rng.chance(0.7);
    let has_reviews = rng.chance(0.9);
    let missing_rank = rng.chance(0.04);
    let fee_draw = rng.unit();
    let fba_pick_and_pack_cents = if fee_draw < 0.08 {
        None
    } else if fee_draw < 0.11 {
        Some(-1)
    } else {
        Some(rng.log_uniform(300.0, 900.0).round() as i64)
    };
    let referral_fee_percentage = if rng.chance(0.95) {
        Some(pick(&mut rng, &[8.0, 15.0, 15.01, 17.0]))
    } else {
        None
    };
    let seasonality = rng.uniform(0.0, 0.2);
    let season_phase = rng.uniform(0.0, std::f64::consts::TAU);
    let kind_draw = rng.unit();
    let kind = if kind_draw < 0.25 {
        DealKind::Good
    } else if kind_draw < 0.6 {
        DealKind::Bad
    } else {
        DealKind::Ordinary
    };
    let tracked_for = if rng.chance(0.15) {
        rng.between(60, 700) * MINUTES_PER_DAY
    } else {
        3 * MINUTES_PER_YEAR + rng.between(0, 200) * MINUTES_PER_DAY
    };
    let age_draw = rng.unit();
    let age = if age_draw < 0.35 {
        rng.between(0, MINUTES_PER_DAY)
    } else if age_draw < 0.8 {
        rng.between(MINUTES_PER_DAY, 30 * MINUTES_PER_DAY)
    } else {
        rng.between(30 * MINUTES_PER_DAY, 50 * MINUTES_PER_DAY)
    };
    let image = format!("{}.jpg", random_code(&mut rng, 11));
    Profile {
        asin,
        title,
        brand,
        root_category,
        root_category_name,
        categories,
        seed: mix(seed, 50_000 + index),
        used_base_cents,
        new_base_cents,
        sales_per_month,
        rank_base,
        amazon_sells,
        has_used,
        has_list_price,
        has_reviews,
        missing_rank,
        fba_pick_and_pack_cents,
        referral_fee_percentage,
        seasonality,
        season_phase,
        kind,
        tracking_since: start_minute - tracked_for,
        base_last_update: start_minute - age,
        image,
    }
}

/// One history point. For shipping series `ship` is the shipping cost; otherwise 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Point {
    pub(crate) t: i64,
    pub(crate) v: i64,
    pub(crate) ship: i64,
}

impl Point {
    /// Price plus shipping for shipping series; −1/−2 stay as they are.
    pub(crate) fn landed(&self) -> i64 {
        if self.v < 0 {
            self.v
        } else {
            self.v + self.ship
        }
    }
}

/// A product's history: one optional series per `csv` type.
#[derive(Clone, Debug)]
pub(crate) struct History {
    pub(crate) series: Vec<Option<Vec<Point>>>,
}

impl History {
    fn empty() -> Self {
        Self {
            series: vec![None; PRICE_TYPE_COUNT],
        }
    }

    fn push(&mut self, kind: usize, t: i64, v: i64, ship: i64) {
        let series = self.series[kind].get_or_insert_with(Vec::new);
        let t = series.last().map_or(t, |last| t.max(last.t));
        series.push(Point { t, v, ship });
    }

    /// The last landed value of a series, −1 when it has none.
    pub(crate) fn current(&self, kind: usize) -> i64 {
        self.last_point(kind).map_or(-1, |point| point.landed())
    }

    pub(crate) fn last_point(&self, kind: usize) -> Option<Point> {
        self.series[kind]
            .as_ref()
            .and_then(|series| series.last().copied())
    }

    /// The Keepa minute of the newest point in any series.
    pub(crate) fn last_change(&self) -> i64 {
        self.series
            .iter()
            .flatten()
            .filter_map(|series| series.last())
            .map(|point| point.t)
            .max()
            .unwrap_or(0)
    }
}

fn cents(value: f64) -> i64 {
    value.round().max(1.0) as i64
}

/// Generates the history a product had when the simulation started.
pub(crate) fn base_history(profile: &Profile) -> History {
    use csv_type::*;
    let mut rng = SplitMix64::new(mix(profile.seed, 11));
    let mut history = History::empty();
    let start = profile.tracking_since;
    let end = profile.base_last_update;

    // Prices: a change every few days, seasonal, with the deal kind deciding the final Used price.
    let mut t = start;
    loop {
        let is_last = t >= end;
        let here = t.min(end);
        let season = profile.season(here);
        let new_price = cents(profile.new_base_cents * season * rng.uniform(0.9, 1.1));
        history.push(NEW, here, new_price, 0);
        history.push(NEW_FBA, here, cents(new_price as f64 * 1.04), 0);
        history.push(BUY_BOX_SHIPPING, here, new_price, 0);
        history.push(NEW_FBM_SHIPPING, here, cents(new_price as f64 * 0.97), 499);
        if profile.amazon_sells {
            let amazon = if rng.chance(0.1) && !is_last {
                -1
            } else {
                cents(new_price as f64 * rng.uniform(0.97, 1.03))
            };
            history.push(AMAZON, here, amazon, 0);
        }
        if profile.has_used {
            let factor = if is_last {
                match profile.kind {
                    DealKind::Good => rng.uniform(0.40, 0.62),
                    DealKind::Bad => rng.uniform(1.05, 1.45),
                    DealKind::Ordinary => rng.uniform(0.8, 1.0),
                }
            } else if rng.chance(0.04) {
                -1.0
            } else {
                rng.uniform(0.75, 1.15)
            };
            push_used_price(
                &mut history,
                &mut rng,
                here,
                factor,
                profile.used_base_cents * season,
            );
        }
        if is_last {
            break;
        }
        t += (rng.exponential(4.0 * MINUTES_PER_DAY as f64) as i64).max(60);
    }
    if !profile.amazon_sells {
        history.push(AMAZON, start, -1, 0);
    }
    if !profile.has_used {
        history.push(USED, start, -1, 0);
    }
    if profile.has_list_price {
        history.push(LIST_PRICE, start, cents(profile.new_base_cents * 1.3), 0);
    }

    // Sales and withdrawals: offer-count drops, most followed by a sales-rank drop.
    let mean_gap = 30.0 * MINUTES_PER_DAY as f64 / profile.sales_per_month;
    let mut count_events: Vec<(i64, usize, i64)> = Vec::new();
    let mut rank_drops: Vec<i64> = Vec::new();
    let mut t = start + rng.exponential(mean_gap) as i64;
    let mut n_sales = 0;
    while t < end && n_sales < 600 {
        n_sales += 1;
        let which = if profile.has_used && rng.chance(0.65) {
            COUNT_USED
        } else {
            COUNT_NEW
        };
        if rng.chance(0.92) {
            count_events.push((t, which, -1));
            let back = t + 60 + rng.exponential(3.0 * MINUTES_PER_DAY as f64) as i64;
            if back < end {
                count_events.push((back, which, 1));
            }
        }
        let delay = if rng.chance(0.85) {
            rng.between(0, 720)
        } else {
            rng.between(720, 14_000)
        };
        if t + delay < end {
            rank_drops.push(t + delay);
        }
        if rng.chance(0.3) {
            // A seller withdrawing an offer: a count drop that no rank drop follows.
            let withdrawn = t + rng.between(1, 10 * MINUTES_PER_DAY);
            if withdrawn + 2 * MINUTES_PER_DAY < end {
                count_events.push((withdrawn, which, -1));
                count_events.push((withdrawn + rng.between(60, 2 * MINUTES_PER_DAY), which, 1));
            }
        }
        t += (rng.exponential(mean_gap) as i64).max(1);
    }
    count_events.sort_by_key(|&(t, which, _)| (t, which));
    let mut n_new = rng.between(2, 20);
    let mut n_used = if profile.has_used {
        rng.between(1, 12)
    } else {
        0
    };
    history.push(COUNT_NEW, start, n_new, 0);
    history.push(COUNT_USED, start, n_used, 0);
    for (t, which, delta) in count_events {
        let count = if which == COUNT_NEW {
            &mut n_new
        } else {
            &mut n_used
        };
        *count = (*count + delta).max(0);
        history.push(which, t, *count, 0);
    }

    if !profile.missing_rank {
        let mut events: Vec<(i64, bool)> = rank_drops.into_iter().map(|t| (t, true)).collect();
        let mut t = start;
        while t < end {
            t += rng.between(1_200, 2_880);
            events.push((t.min(end), false));
        }
        events.sort_unstable();
        let mut rank = profile.rank_base;
        history.push(SALES, start, rank as i64, 0);
        for (t, is_drop) in events {
            if is_drop {
                rank = (rank * rng.uniform(0.3, 0.8)).max(1.0);
            } else if rank < profile.rank_base * 3.0 {
                rank += (profile.rank_base * 3.0 - rank) * rng.uniform(0.05, 0.2);
            } else {
                continue;
            }
            history.push(SALES, t, rank.round().max(1.0) as i64, 0);
        }
    }

    if profile.has_reviews {
        let mut rating = rng.between(30, 50);
        let mut reviews = rng.between(1, 400);
        let mut t = start;
        while t <= end {
            history.push(RATING, t, rating, 0);
            history.push(COUNT_REVIEWS, t, reviews, 0);
            rating = (rating + rng.between(-1, 1)).clamp(10, 50);
            reviews += rng.between(0, 40);
            t += rng.between(30, 90) * MINUTES_PER_DAY;
        }
    }
    history
}

/// Pushes a Used price (factor < 0 means no used offer) with its condition's shipping series.
fn push_used_price(history: &mut History, rng: &mut SplitMix64, t: i64, factor: f64, usual: f64) {
    let condition = rng.between(2, 5) as usize;
    let shipping = if rng.chance(0.5) { 0 } else { 399 };
    let price = if factor < 0.0 {
        -1
    } else {
        cents(usual * factor)
    };
    history.push(csv_type::USED, t, price, 0);
    let shipping_series = csv_type::USED_NEW_SHIPPING + condition - 2;
    history.push(
        shipping_series,
        t,
        price,
        if price < 0 { -1 } else { shipping },
    );
}

/// A product update that arrived during the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UpdateEvent {
    pub(crate) minute: i64,
    pub(crate) seed: u64,
}

/// Replays one update on a history: a price move, a sale, or a new offer.
pub(crate) fn apply_update(history: &mut History, profile: &Profile, event: UpdateEvent) {
    use csv_type::*;
    let mut rng = SplitMix64::new(event.seed);
    let t = event.minute;
    let draw = rng.unit();
    if draw < 0.55 {
        if profile.has_used {
            let usual = profile.used_base_cents * profile.season(t);
            let current = history.current(USED);
            let factor = if rng.chance(0.15) {
                rng.uniform(0.4, 0.6)
            } else if current > 0 {
                current as f64 / usual * rng.uniform(0.88, 1.08)
            } else {
                rng.uniform(0.8, 1.1)
            };
            push_used_price(history, &mut rng, t, factor, usual);
        }
        if rng.chance(0.3) {
            let new_price =
                cents(profile.new_base_cents * profile.season(t) * rng.uniform(0.9, 1.1));
            history.push(NEW, t, new_price, 0);
            history.push(BUY_BOX_SHIPPING, t, new_price, 0);
        }
    } else if draw < 0.85 {
        let which = if profile.has_used && rng.chance(0.65) {
            COUNT_USED
        } else {
            COUNT_NEW
        };
        let count = history.current(which);
        if count > 0 {
            history.push(which, t, count - 1, 0);
        }
        if let Some(rank) = history.last_point(SALES) {
            history.push(
                SALES,
                t,
                ((rank.v as f64) * rng.uniform(0.3, 0.8)).max(1.0) as i64,
                0,
            );
        }
    } else {
        let which = if profile.has_used && rng.chance(0.65) {
            COUNT_USED
        } else {
            COUNT_NEW
        };
        history.push(which, t, history.current(which).max(0) + 1, 0);
    }
}

/// One live offer as Keepa lists it under `offers`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Offer {
    pub(crate) seller_id: String,
    pub(crate) is_fba: bool,
    pub(crate) is_prime: bool,
    pub(crate) is_amazon: bool,
    /// 1 new, 2 used - like new, 3 very good, 4 good, 5 acceptable.
    pub(crate) condition: i64,
    pub(crate) price: i64,
    pub(crate) shipping: i64,
    pub(crate) first_seen: i64,
    pub(crate) last_change: i64,
}

impl Offer {
    pub(crate) fn landed(&self) -> i64 {
        self.price + self.shipping
    }
}

/// The live offers consistent with a history's current state: the cheapest Used and New offers
/// match the current prices (and the Used condition's shipping), the rest sit above them.
pub(crate) fn live_offers(profile: &Profile, history: &History, sellers: &[String]) -> Vec<Offer> {
    use csv_type::*;
    let mut rng = SplitMix64::new(mix(profile.seed, 21) ^ history.last_change() as u64);
    let mut offers = Vec::new();
    let mut seller =
        |rng: &mut SplitMix64| sellers[rng.below(sellers.len() as u64) as usize].clone();
    let used_price = history.current(USED);
    let used_count = if used_price > 0 {
        history.current(COUNT_USED).clamp(1, 40)
    } else {
        0
    };
    if used_price > 0 {
        // The condition whose shipping series changed last is the one behind the current price.
        let (condition, shipping) = (0..4)
            .filter_map(|offset| {
                history
                    .last_point(USED_NEW_SHIPPING + offset)
                    .map(|point| (offset, point))
            })
            .filter(|(_, point)| point.v == used_price)
            .max_by_key(|(_, point)| point.t)
            .map_or((4, 399), |(offset, point)| {
                (offset as i64 + 2, point.ship.max(0))
            });
        let is_fba = shipping == 0 && rng.chance(0.8);
        let since = history.last_point(USED).map_or(0, |point| point.t);
        offers.push(Offer {
            seller_id: seller(&mut rng),
            is_fba,
            is_prime: is_fba,
            is_amazon: false,
            condition,
            price: used_price,
            shipping,
            first_seen: since - rng.between(0, 20_000),
            last_change: since,
        });
    }
    for _ in 1..used_count {
        offers.push(other_offer(
            &mut rng,
            &mut seller,
            used_price,
            rng_condition_used,
            history.last_change(),
        ));
    }
    let new_price = history.current(NEW);
    if new_price > 0 {
        let new_count = history.current(COUNT_NEW).clamp(1, 40);
        let since = history.last_point(NEW).map_or(0, |point| point.t);
        offers.push(Offer {
            seller_id: seller(&mut rng),
            is_fba: true,
            is_prime: true,
            is_amazon: false,
            condition: 1,
            price: new_price,
            shipping: 0,
            first_seen: since - rng.between(0, 20_000),
            last_change: since,
        });
        for _ in 1..new_count {
            offers.push(other_offer(
                &mut rng,
                &mut seller,
                new_price,
                |_| 1,
                history.last_change(),
            ));
        }
    }
    let amazon_price = history.current(AMAZON);
    if profile.amazon_sells && amazon_price > 0 {
        offers.push(Offer {
            seller_id: AMAZON_SELLER_ID.to_owned(),
            is_fba: false,
            is_prime: true,
            is_amazon: true,
            condition: 1,
            price: amazon_price,
            shipping: 0,
            first_seen: profile.tracking_since,
            last_change: history.last_point(AMAZON).map_or(0, |point| point.t),
        });
    }
    // Keepa's `offers` array is not price-ordered; `liveOffersOrder` is.
    for index in (1..offers.len()).rev() {
        let other = rng.below(index as u64 + 1) as usize;
        offers.swap(index, other);
    }
    offers
}

fn rng_condition_used(rng: &mut SplitMix64) -> i64 {
    rng.between(2, 5)
}

fn other_offer(
    rng: &mut SplitMix64,
    seller: &mut impl FnMut(&mut SplitMix64) -> String,
    cheapest: i64,
    condition: impl Fn(&mut SplitMix64) -> i64,
    now: i64,
) -> Offer {
    let is_fba = rng.chance(0.4);
    let shipping = if is_fba { 0 } else { pick(rng, &[0, 399, 499]) };
    let last_change = now - rng.between(0, 30 * MINUTES_PER_DAY);
    Offer {
        seller_id: seller(rng),
        is_fba,
        is_prime: is_fba,
        is_amazon: false,
        condition: condition(rng),
        price: cents(cheapest as f64 * rng.uniform(1.0, 1.8)),
        shipping,
        first_seen: last_change - rng.between(0, 100 * MINUTES_PER_DAY),
        last_change,
    }
}
