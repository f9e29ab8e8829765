//! Keepa's wire JSON for deals and products, rendered from generated histories.
//!
//! The shapes copy Keepa's real responses: deal objects with `[interval 0..3][price type]`
//! arrays and `delta = avg − current`; products with flat `csv` series (`[t, v, …]`, or
//! `[t, price, shipping, …]` for shipping types), `stats`, fees and offers. Only the fields the
//! product reads, plus a few that make the shape recognisable, are rendered. The envelope and
//! errors are added by the request handler; this module does no token accounting.

use serde_json::{Map, Value, json};

use crate::catalogue::{
    AMAZON_SELLER_ID, History, Offer, PRICE_TYPE_COUNT, Point, Profile, csv_type, is_shipping_type,
};

const MINUTES_PER_DAY: i64 = 1440;
/// The four `/deal` intervals: day, week, month, 90 days.
pub(crate) const DEAL_INTERVAL_DAYS: [i64; 4] = [1, 7, 30, 90];

/// The time-weighted average of a series' landed values over `[from, to)`, ignoring −1/−2
/// stretches; −1 when the window holds no valid value.
pub(crate) fn average(series: &[Point], from: i64, to: i64) -> i64 {
    let mut weighted_sum = 0.0;
    let mut total_weight = 0.0;
    for (index, point) in series.iter().enumerate() {
        let segment_end = series.get(index + 1).map_or(to, |next| next.t);
        let start = point.t.max(from);
        let end = segment_end.min(to);
        let value = point.landed();
        if end <= start || value < 0 {
            continue;
        }
        let weight = (end - start) as f64;
        weighted_sum += weight * value as f64;
        total_weight += weight;
    }
    if total_weight == 0.0 {
        -1
    } else {
        (weighted_sum / total_weight).round() as i64
    }
}

/// The landed value in force at minute `t`, −1 before the first point.
pub(crate) fn value_at(series: &[Point], t: i64) -> i64 {
    series
        .iter()
        .take_while(|point| point.t <= t)
        .last()
        .map_or(-1, |point| point.landed())
}

/// Sales-rank drops (a point lower than the one before it) since minute `from`.
pub(crate) fn rank_drops(series: &[Point], from: i64) -> i64 {
    series
        .windows(2)
        .filter(|pair| pair[1].t >= from && pair[1].v >= 0 && pair[1].v < pair[0].v)
        .count() as i64
}

fn per_type(mut value: impl FnMut(usize) -> i64) -> Vec<i64> {
    (0..PRICE_TYPE_COUNT).map(&mut value).collect()
}

fn currents(history: &History) -> Vec<i64> {
    per_type(|kind| history.current(kind))
}

fn averages(history: &History, now: i64, days: i64, missing: i64) -> Vec<i64> {
    per_type(|kind| match &history.series[kind] {
        Some(series) => average(series, now - days * MINUTES_PER_DAY, now),
        None => missing,
    })
}

fn drops_json(history: &History, now: i64, days: i64) -> i64 {
    history.series[csv_type::SALES]
        .as_ref()
        .map_or(-1, |series| {
            rank_drops(series, now - days * MINUTES_PER_DAY)
        })
}

/// One `/deal` entry (`deals.dr[i]`).
pub(crate) fn deal_json(
    profile: &Profile,
    history: &History,
    last_update: i64,
    now: i64,
    date_range: usize,
) -> Value {
    let current = currents(history);
    let avg: Vec<Vec<i64>> = DEAL_INTERVAL_DAYS
        .iter()
        .map(|&days| averages(history, now, days, -2))
        .collect();
    let delta: Vec<Vec<i64>> = avg
        .iter()
        .map(|interval| {
            interval
                .iter()
                .zip(&current)
                .map(|(&a, &c)| if a >= 0 && c >= 0 { a - c } else { 0 })
                .collect()
        })
        .collect();
    let delta_percent: Vec<Vec<i64>> = avg
        .iter()
        .map(|interval| {
            interval
                .iter()
                .zip(&current)
                .map(|(&a, &c)| {
                    if a > 0 && c >= 0 {
                        (a - c) * 100 / a
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    let delta_last = per_type(|kind| match history.series[kind].as_deref() {
        Some([.., previous, last]) if previous.landed() >= 0 && last.landed() >= 0 => {
            previous.landed() - last.landed()
        }
        _ => 0,
    });
    let current_since = per_type(|kind| match history.series[kind].as_deref() {
        Some(series) if !series.is_empty() => {
            let last = series[series.len() - 1].landed();
            let mut since = series[series.len() - 1].t;
            for point in series.iter().rev().skip(1) {
                if point.landed() != last {
                    break;
                }
                since = point.t;
            }
            since
        }
        _ => -1,
    });
    json!({
        "asin": profile.asin,
        "title": profile.title,
        "rootCat": profile.root_category,
        "categories": profile.categories,
        "image": profile.image.bytes().collect::<Vec<u8>>(),
        "creationDate": last_update,
        "lastUpdate": last_update,
        "lightningStart": 0,
        "lightningEnd": 0,
        "salesRankDrops30": drops_json(history, now, 30),
        "salesRankDrops90": drops_json(history, now, 90),
        "salesRankDrops180": drops_json(history, now, 180),
        "salesRankDrops365": drops_json(history, now, 365),
        "backInStock": vec![false; PRICE_TYPE_COUNT],
        "dateIntervalIndex": date_range,
        "warehouseCondition": 0,
        "warehouseConditionComment": null,
        "flags": null,
        "current": current,
        "avg": avg,
        "delta": delta,
        "deltaPercent": delta_percent,
        "deltaLast": delta_last,
        "currentSince": current_since,
    })
}

/// What a `/product` request asked for, already validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProductOptions {
    pub(crate) stats_days: Option<i64>,
    pub(crate) history: bool,
    pub(crate) days: Option<i64>,
    pub(crate) offers: Option<usize>,
    pub(crate) buybox: bool,
    pub(crate) rating: bool,
    pub(crate) domain: i64,
}

fn flatten(series: &[Point], shipping: bool, from: Option<i64>) -> Vec<i64> {
    let mut points: Vec<Point> = Vec::with_capacity(series.len());
    match from {
        Some(from) => {
            // Keep the value in force at the window's start so the series stays meaningful.
            if let Some(before) = series.iter().take_while(|point| point.t < from).last() {
                points.push(Point { t: from, ..*before });
            }
            points.extend(series.iter().filter(|point| point.t >= from));
        }
        None => points.extend_from_slice(series),
    }
    let mut flat = Vec::with_capacity(points.len() * if shipping { 3 } else { 2 });
    for point in points {
        flat.push(point.t);
        flat.push(point.v);
        if shipping {
            flat.push(point.ship);
        }
    }
    flat
}

fn extreme(series: &[Point], pick_lower: bool) -> Value {
    let mut best: Option<(i64, i64)> = None;
    for point in series {
        let value = point.landed();
        if value < 0 {
            continue;
        }
        let better = best.is_none_or(|(_, current)| {
            if pick_lower {
                value < current
            } else {
                value > current
            }
        });
        if better {
            best = Some((point.t, value));
        }
    }
    best.map_or(Value::Null, |(t, value)| json!([t, value]))
}

/// One product object, and the number of offers it returned (for the cost).
pub(crate) fn product_json(
    profile: &Profile,
    history: &History,
    offers: &[Offer],
    last_update: i64,
    now: i64,
    options: &ProductOptions,
) -> Value {
    let mut product = Map::new();
    product.insert("asin".into(), json!(profile.asin));
    product.insert("domainId".into(), json!(options.domain));
    product.insert("productType".into(), json!(0));
    product.insert("title".into(), json!(profile.title));
    product.insert("brand".into(), json!(profile.brand));
    product.insert("rootCategory".into(), json!(profile.root_category));
    product.insert("categories".into(), json!(profile.categories));
    product.insert(
        "categoryTree".into(),
        json!([{"catId": profile.root_category, "name": profile.root_category_name}]),
    );
    product.insert("trackingSince".into(), json!(profile.tracking_since));
    product.insert("listedSince".into(), json!(profile.tracking_since));
    product.insert("lastUpdate".into(), json!(last_update));
    let last_price_change = [csv_type::NEW, csv_type::USED, csv_type::AMAZON]
        .iter()
        .filter_map(|&kind| history.last_point(kind).map(|point| point.t))
        .max()
        .unwrap_or(-1);
    product.insert("lastPriceChange".into(), json!(last_price_change));
    product.insert(
        "availabilityAmazon".into(),
        json!(if profile.amazon_sells { 0 } else { -1 }),
    );
    product.insert("salesRankReference".into(), json!(profile.root_category));
    product.insert("hasReviews".into(), json!(profile.has_reviews));
    product.insert("isAdultProduct".into(), json!(false));
    product.insert(
        "fbaFees".into(),
        profile.fba_pick_and_pack_cents.map_or(
            Value::Null,
            |fee| json!({"lastUpdate": profile.base_last_update, "pickAndPackFee": fee}),
        ),
    );
    product.insert(
        "referralFeePercentage".into(),
        json!(profile.referral_fee_percentage),
    );
    product.insert(
        "referralFeePercent".into(),
        json!(
            profile
                .referral_fee_percentage
                .map(|percentage| percentage.round() as i64)
        ),
    );

    let csv = if options.history {
        let from = options.days.map(|days| now - days * MINUTES_PER_DAY);
        let series: Vec<Value> = (0..PRICE_TYPE_COUNT)
            .map(|kind| {
                let hidden =
                    matches!(kind, csv_type::RATING | csv_type::COUNT_REVIEWS) && !options.rating;
                match &history.series[kind] {
                    Some(series) if !hidden => json!(flatten(series, is_shipping_type(kind), from)),
                    _ => Value::Null,
                }
            })
            .collect();
        Value::Array(series)
    } else {
        Value::Null
    };
    product.insert("csv".into(), csv);

    if let Some(stats_days) = options.stats_days {
        product.insert(
            "stats".into(),
            stats_json(history, offers, now, stats_days, options),
        );
    }
    if options.offers.is_some() {
        let mut order: Vec<usize> = (0..offers.len()).collect();
        order.sort_by_key(|&index| (offers[index].landed(), index));
        product.insert(
            "offers".into(),
            Value::Array(offers.iter().enumerate().map(offer_json).collect()),
        );
        product.insert("liveOffersOrder".into(), json!(order));
        product.insert("offersSuccessful".into(), json!(true));
    } else {
        product.insert("offers".into(), Value::Null);
        product.insert("liveOffersOrder".into(), Value::Null);
        product.insert("offersSuccessful".into(), json!(false));
    }
    if options.buybox {
        let history_of_winner =
            history
                .last_point(csv_type::BUY_BOX_SHIPPING)
                .map_or(Value::Null, |point| {
                    json!([
                        point.t.to_string(),
                        buy_box_winner(offers).map_or("-1", |offer| offer.seller_id.as_str())
                    ])
                });
        product.insert("buyBoxSellerIdHistory".into(), history_of_winner);
    }
    Value::Object(product)
}

fn buy_box_winner(offers: &[Offer]) -> Option<&Offer> {
    offers
        .iter()
        .filter(|offer| offer.condition == 1)
        .min_by_key(|offer| offer.landed())
}

fn offer_json((index, offer): (usize, &Offer)) -> Value {
    json!({
        "offerId": index,
        "lastSeen": offer.last_change.max(offer.first_seen),
        "sellerId": offer.seller_id,
        "offerCSV": [offer.first_seen, offer.price, offer.shipping, offer.last_change, offer.price, offer.shipping],
        "condition": offer.condition,
        "conditionComment": null,
        "isPrime": offer.is_prime,
        "isMAP": false,
        "isShippable": true,
        "isAddonItem": false,
        "isPreorder": false,
        "isWarehouseDeal": false,
        "isScam": false,
        "isAmazon": offer.is_amazon,
        "isFBA": offer.is_fba,
        "isPrimeExcl": false,
        "shipsFromChina": false,
        "minOrderQty": 1,
    })
}

fn stats_json(
    history: &History,
    offers: &[Offer],
    now: i64,
    stats_days: i64,
    options: &ProductOptions,
) -> Value {
    let mut stats = Map::new();
    stats.insert("current".into(), json!(currents(history)));
    stats.insert("avg".into(), json!(averages(history, now, stats_days, -1)));
    for days in [30, 90, 180, 365] {
        stats.insert(
            format!("avg{days}"),
            json!(averages(history, now, days, -1)),
        );
    }
    let interval_start = now - stats_days * MINUTES_PER_DAY;
    stats.insert(
        "atIntervalStart".into(),
        json!(per_type(|kind| history.series[kind]
            .as_ref()
            .map_or(-1, |series| value_at(series, interval_start)))),
    );
    for (name, pick_lower) in [("min", true), ("max", false)] {
        let values: Vec<Value> = (0..PRICE_TYPE_COUNT)
            .map(|kind| {
                history.series[kind]
                    .as_ref()
                    .map_or(Value::Null, |series| extreme(series, pick_lower))
            })
            .collect();
        stats.insert(name.into(), Value::Array(values));
    }
    for days in [30, 90, 180, 365] {
        stats.insert(
            format!("salesRankDrops{days}"),
            json!(drops_json(history, now, days)),
        );
    }
    let count = |kind| history.current(kind).max(0);
    stats.insert(
        "totalOfferCount".into(),
        json!(count(csv_type::COUNT_NEW) + count(csv_type::COUNT_USED)),
    );
    if options.offers.is_some() {
        let fba = offers.iter().filter(|offer| offer.is_fba).count();
        stats.insert("offerCountFBA".into(), json!(fba));
        stats.insert("offerCountFBM".into(), json!(offers.len() - fba));
        stats.insert("retrievedOfferCount".into(), json!(offers.len()));
    } else {
        stats.insert("offerCountFBA".into(), json!(-2));
        stats.insert("offerCountFBM".into(), json!(-2));
        stats.insert("retrievedOfferCount".into(), json!(-2));
    }
    stats.insert("lastOffersUpdate".into(), json!(history.last_change()));
    if options.buybox {
        match buy_box_winner(offers) {
            Some(winner) => {
                stats.insert("buyBoxPrice".into(), json!(winner.price));
                stats.insert("buyBoxShipping".into(), json!(winner.shipping));
                stats.insert("buyBoxSellerId".into(), json!(winner.seller_id));
                stats.insert("buyBoxIsFBA".into(), json!(winner.is_fba));
                stats.insert(
                    "buyBoxIsAmazon".into(),
                    json!(winner.seller_id == AMAZON_SELLER_ID),
                );
                stats.insert("buyBoxIsUsed".into(), json!(false));
                stats.insert("buyBoxCondition".into(), json!(1));
            }
            None => {
                stats.insert("buyBoxPrice".into(), json!(-1));
                stats.insert("buyBoxShipping".into(), json!(-1));
                stats.insert("buyBoxSellerId".into(), Value::Null);
            }
        }
    }
    Value::Object(stats)
}
