//! Wire → domain: the one place where Keepa's JSON gets its meaning.
//!
//! Sentinels (−1 no offer, −2 no data) become `None` through `keepa-model`'s helpers; arrays of
//! any length are kept at the length they arrived; Keepa minutes become [`KeepaMinute`]s. What
//! the domain does not model (offer history beyond the latest price, buy-box statistics, images,
//! …) is dropped here. This module does no IO and never fails on a missing field: only an ASIN
//! that is not an ASIN is an error.

use keepa_model::{
    Asin, AsinError, Cents, DealRecord, Histories, KeepaMinute, Offer, OfferCondition, PriceType,
    PriceTypeValues, Product, Series, Stats, keepa_value,
};

use crate::wire::{WireDeal, WireOffer, WireProduct, WireStats};

/// A record that could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The `asin` field is not a valid ASIN.
    #[error("keepa sent an invalid asin {asin:?}: {source}")]
    InvalidAsin {
        /// What Keepa sent.
        asin: String,
        /// Why it is not an ASIN.
        #[source]
        source: AsinError,
    },
}

fn asin(raw: &str) -> Result<Asin, ConvertError> {
    raw.parse().map_err(|source| ConvertError::InvalidAsin {
        asin: raw.to_owned(),
        source,
    })
}

/// A Keepa minute, `None` for 0 or negative (Keepa's "never").
fn minute(raw: i64) -> Option<KeepaMinute> {
    (raw > 0)
        .then(|| i32::try_from(raw).ok())
        .flatten()
        .map(KeepaMinute)
}

fn positive_id(raw: i64) -> Option<u64> {
    u64::try_from(raw).ok().filter(|&id| id > 0)
}

fn count(raw: i64) -> Option<i32> {
    keepa_value(raw).and_then(|value| i32::try_from(value).ok())
}

fn interval(arrays: &[Vec<i64>], index: usize) -> &[i64] {
    arrays.get(index).map_or(&[], Vec::as_slice)
}

/// One `/deal` record.
///
/// # Errors
///
/// [`ConvertError::InvalidAsin`] when the record's ASIN is not an ASIN.
pub fn deal(wire: &WireDeal) -> Result<DealRecord, ConvertError> {
    let current = PriceTypeValues::from_keepa(&wire.current);
    Ok(DealRecord {
        asin: asin(&wire.asin)?,
        title: wire.title.clone(),
        last_update: minute(wire.last_update).unwrap_or(KeepaMinute(0)),
        root_category: positive_id(wire.root_cat),
        sales_rank: current.get(PriceType::SALES),
        current,
        avg: std::array::from_fn(|index| PriceTypeValues::from_keepa(interval(&wire.avg, index))),
        delta: std::array::from_fn(|index| interval(&wire.delta, index).to_vec()),
        sales_rank_drops30: count(wire.sales_rank_drops30),
        sales_rank_drops90: count(wire.sales_rank_drops90),
        sales_rank_drops180: count(wire.sales_rank_drops180),
        sales_rank_drops365: count(wire.sales_rank_drops365),
    })
}

/// A whole `/deal` page, newest `lastUpdate` first (Keepa's own order within a page is loose).
/// Records that cannot be converted are returned apart, so one bad record costs one deal.
pub fn deal_page(wire: &[WireDeal]) -> (Vec<DealRecord>, Vec<ConvertError>) {
    let mut deals = Vec::with_capacity(wire.len());
    let mut errors = Vec::new();
    for record in wire {
        match deal(record) {
            Ok(record) => deals.push(record),
            Err(error) => errors.push(error),
        }
    }
    deals.sort_by_key(|deal| std::cmp::Reverse(deal.last_update));
    (deals, errors)
}

/// The statistics block.
pub fn stats(wire: &WireStats) -> Stats {
    Stats {
        per_type: Stats::per_type_from_keepa(
            &wire.current,
            &wire.avg30,
            &wire.avg90,
            &wire.avg180,
            &wire.avg365,
        ),
        sales_rank_drops30: count(wire.sales_rank_drops30),
        sales_rank_drops90: count(wire.sales_rank_drops90),
        sales_rank_drops180: count(wire.sales_rank_drops180),
        sales_rank_drops365: count(wire.sales_rank_drops365),
    }
}

/// The history series, indexed by price type.
pub fn histories(csv: &[Option<Vec<i64>>]) -> Histories {
    let series = csv
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let price_type = PriceType(u16::try_from(index).unwrap_or(u16::MAX));
            raw.as_deref()
                .map(|raw| Series::from_keepa_flat(raw, price_type))
        })
        .collect();
    Histories(series)
}

/// One live offer, from the latest `[t, price, shipping]` triple of its `offerCSV`. `None` when
/// the offer has no price now (Keepa's −1/−2): the domain's offers always have one.
pub fn offer(wire: &WireOffer) -> Option<Offer> {
    let latest = wire.offer_csv.rchunks_exact(3).next().or_else(|| {
        // Keepa documents triples; tolerate an older pair layout.
        wire.offer_csv.rchunks_exact(2).next()
    })?;
    let price = Cents::from_keepa(latest[1])?;
    let shipping = if wire.is_fba {
        Some(Cents::ZERO)
    } else {
        latest.get(2).copied().and_then(Cents::from_keepa)
    };
    Some(Offer {
        seller_id: wire.seller_id.clone(),
        condition: OfferCondition::from_keepa_code(wire.condition),
        price,
        shipping,
        is_fba: wire.is_fba,
        is_prime: wire.is_prime,
        is_amazon: wire.is_amazon,
        is_shippable: wire.is_shippable,
        last_seen: minute(wire.last_seen),
    })
}

/// One product.
///
/// # Errors
///
/// [`ConvertError::InvalidAsin`] when the product's ASIN is not an ASIN.
pub fn product(wire: &WireProduct) -> Result<Product, ConvertError> {
    let mut product = Product::new(asin(&wire.asin)?);
    product.title.clone_from(&wire.title);
    product.brand = wire.brand.clone().filter(|brand| !brand.is_empty());
    product.category = wire.categories.first().copied().and_then(positive_id);
    product.root_category = positive_id(wire.root_category);
    product.last_update = minute(wire.last_update);
    product.histories = histories(&wire.csv);
    product.stats = wire.stats.as_ref().map(stats).unwrap_or_default();
    product.fba_pick_and_pack_fee = wire
        .fba_fees
        .and_then(|fees| Cents::from_keepa(fees.pick_and_pack_fee));
    product.referral_fee_percent = wire
        .referral_fee_percentage
        .filter(|percent| percent.is_finite() && *percent >= 0.0);
    product.offers = live_offers(wire).filter_map(offer).collect();
    Ok(product)
}

/// The live offers in `liveOffersOrder` when Keepa sent one, else all offers.
fn live_offers(wire: &WireProduct) -> impl Iterator<Item = &WireOffer> {
    let ordered = !wire.live_offers_order.is_empty();
    let by_order = wire
        .live_offers_order
        .iter()
        .filter_map(|&index| wire.offers.get(index));
    let all = wire.offers.iter().filter(move |_| !ordered);
    by_order.chain(all)
}

/// Whether Keepa answered "unknown ASIN" for this product (`productType` 4).
pub fn is_unknown_product(wire: &WireProduct) -> bool {
    wire.product_type == 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_takes_latest_triple_and_fba_ships_free() {
        let wire = WireOffer {
            seller_id: "A1".into(),
            condition: 4,
            offer_csv: vec![10, 1500, 399, 20, 1400, 499],
            last_seen: 20,
            is_fba: false,
            is_prime: false,
            is_amazon: false,
            is_shippable: true,
        };
        let offer = offer(&wire).unwrap();
        assert_eq!(
            (offer.price, offer.shipping),
            (Cents(1400), Some(Cents(499)))
        );
        assert_eq!(offer.condition, OfferCondition::UsedGood);
        let fba = WireOffer {
            is_fba: true,
            ..wire.clone()
        };
        assert_eq!(super::offer(&fba).unwrap().shipping, Some(Cents::ZERO));
        let gone = WireOffer {
            offer_csv: vec![10, -1, -1],
            ..wire
        };
        assert_eq!(super::offer(&gone), None);
    }

    #[test]
    fn minutes_and_ids_drop_sentinels() {
        assert_eq!(minute(0), None);
        assert_eq!(minute(-1), None);
        assert_eq!(minute(7_535_870), Some(KeepaMinute(7_535_870)));
        assert_eq!(positive_id(0), None);
        assert_eq!(count(-1), None);
        assert_eq!(count(34), Some(34));
    }
}
