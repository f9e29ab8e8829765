//! Price now and seller: what it costs to buy the product at this moment,
//! and from whom, by matching Keepa's current statistic to a live offer.

use keepa_model::{Cents, Offer, OfferCondition, PriceType, Product, Stats};

use crate::Settings;

/// The current buy price and what is known about the offer behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyPrice {
    /// [`PriceType::USED`] or [`PriceType::NEW`]: which statistic the price came from.
    pub price_type: PriceType,
    /// The item price.
    pub price: Cents,
    /// Shipping paid to the seller: 0 for FBA, the offer's, or the default.
    pub shipping: Cents,
    /// The matching offer's seller, if one matched.
    pub seller_id: Option<String>,
    /// The matching offer's FBA flag, if one matched.
    pub is_fba: Option<bool>,
    /// The matching offer's condition, if one matched.
    pub condition: Option<OfferCondition>,
}

/// The buy price from statistics alone: current Used, else current New.
pub fn buy_price_from_stats(stats: &Stats) -> Option<(PriceType, Cents)> {
    [PriceType::USED, PriceType::NEW]
        .into_iter()
        .find_map(|price_type| {
            Some((
                price_type,
                Cents::from_keepa(stats.get(price_type).current?)?,
            ))
        })
}

/// Price now: the current Used price, else the current New price (condition
/// New), plus the shipping of the live offer at exactly that price (FBA → 0;
/// unknown merchant shipping → [`Settings::default_merchant_shipping`]). With
/// no matching offer, the statistics price plus the default shipping and an
/// unknown seller. `None` when there is no price at all (not a deal).
///
/// Among several matching offers an FBA one is preferred, then the first listed.
pub fn price_now(product: &Product, settings: &Settings) -> Option<BuyPrice> {
    let (price_type, price) = buy_price_from_stats(&product.stats)?;
    let condition_matches = |offer: &Offer| {
        if price_type == PriceType::USED {
            offer.condition.is_used()
        } else {
            offer.condition == OfferCondition::New
        }
    };
    let mut matching = product
        .offers
        .iter()
        .filter(|offer| offer.price == price && condition_matches(offer));
    let first = matching.clone().next();
    let offer = matching.find(|offer| offer.is_fba).or(first);
    Some(match offer {
        Some(offer) => BuyPrice {
            price_type,
            price,
            shipping: if offer.is_fba {
                Cents::ZERO
            } else {
                offer.shipping.unwrap_or(settings.default_merchant_shipping)
            },
            seller_id: Some(offer.seller_id.clone()),
            is_fba: Some(offer.is_fba),
            condition: Some(offer.condition),
        },
        None => BuyPrice {
            price_type,
            price,
            shipping: settings.default_merchant_shipping,
            seller_id: None,
            is_fba: None,
            condition: None,
        },
    })
}
