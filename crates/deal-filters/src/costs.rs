//! The money calculations of DESIGN.md §7: fees with their defaults, all-in
//! cost, profit, margin, ROI and the minimum listing price. Every sum is
//! checked; `None` means unknown (a missing input) or overflow.

use keepa_model::{Cents, Product};

use crate::Settings;

/// The fees Amazon takes, with whether each fell back to a default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fees {
    /// FBA pick-and-pack fee per unit.
    pub fba_fee: Cents,
    /// True when `fba_fee` is [`Settings::default_fba_fee`] (Keepa had none or a negative one).
    pub fba_fee_is_default: bool,
    /// Referral fee in percent of the sale price.
    pub referral_percent: f64,
    /// True when `referral_percent` is [`Settings::default_referral_percent`].
    pub referral_is_default: bool,
}

/// The product's fees, falling back to the settings' defaults when Keepa has
/// none, a negative FBA fee, or a referral percentage outside [0, 100).
pub fn fees(product: &Product, settings: &Settings) -> Fees {
    let keepa_fba_fee = product.fba_pick_and_pack_fee.filter(|fee| fee.0 >= 0);
    let keepa_referral = product
        .referral_fee_percent
        .filter(|percent| percent.is_finite() && (0.0..100.0).contains(percent));
    Fees {
        fba_fee: keepa_fba_fee.unwrap_or(settings.default_fba_fee),
        fba_fee_is_default: keepa_fba_fee.is_none(),
        referral_percent: keepa_referral.unwrap_or(settings.default_referral_percent),
        referral_is_default: keepa_referral.is_none(),
    }
}

/// Total Amazon fees for selling at `list_at`: List at × referral % + FBA fee.
pub fn total_fees(list_at: Cents, fees: &Fees) -> Option<Cents> {
    list_at
        .checked_mul_ratio(fees.referral_percent / 100.0)?
        .checked_add(fees.fba_fee)
}

/// The parts of the all-in cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllInCost {
    /// Sales tax on the item price (0 when exempt).
    pub tax: Cents,
    /// Price + buy shipping + tax + prep fee + inbound shipping.
    pub total: Cents,
}

/// All-in cost of buying one unit and getting it to Amazon: the item price,
/// the shipping paid to the seller, tax on the item price (unless exempt),
/// the prep fee and inbound shipping.
pub fn all_in_cost(
    price_now: Cents,
    buy_shipping: Cents,
    settings: &Settings,
) -> Option<AllInCost> {
    let tax = price_now.checked_mul_ratio(settings.tax_ratio())?;
    let total = price_now
        .checked_add(buy_shipping)?
        .checked_add(tax)?
        .checked_add(settings.prep_fee)?
        .checked_add(settings.inbound_shipping)?;
    Some(AllInCost { tax, total })
}

/// Profit = List at − all-in cost − total fees.
pub fn profit(list_at: Cents, all_in_cost: Cents, total_fees: Cents) -> Option<Cents> {
    list_at.checked_sub(all_in_cost)?.checked_sub(total_fees)
}

/// Margin = profit / List at, in percent; `None` when List at is not positive.
pub fn margin_percent(profit: Cents, list_at: Cents) -> Option<f64> {
    list_at
        .is_positive()
        .then(|| profit.0 as f64 / list_at.0 as f64 * 100.0)
}

/// ROI = profit / all-in cost, in percent; `None` when the cost is not positive.
pub fn roi_percent(profit: Cents, all_in_cost: Cents) -> Option<f64> {
    all_in_cost
        .is_positive()
        .then(|| profit.0 as f64 / all_in_cost.0 as f64 * 100.0)
}

/// Minimum listing price = (all-in cost + FBA fee) / (1 − markup − referral %),
/// rounded up to the cent; `None` when markup and referral leave nothing.
pub fn min_listing_price(all_in_cost: Cents, fees: &Fees, settings: &Settings) -> Option<Cents> {
    let remaining = 1.0 - settings.markup_percent / 100.0 - fees.referral_percent / 100.0;
    if !(remaining.is_finite() && remaining > 0.0) {
        return None;
    }
    let numerator = all_in_cost.checked_add(fees.fba_fee)?;
    let price = (numerator.0 as f64 / remaining).ceil();
    (price.is_finite() && price.abs() < 9.0e15).then_some(Cents(price as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_fees_are_missing_or_negative() {
        let settings = Settings::default();
        let mut product = keepa_model::Product::new("B000000001".parse().unwrap());
        let missing = fees(&product, &settings);
        assert_eq!(
            (missing.fba_fee, missing.fba_fee_is_default),
            (Cents(550), true)
        );
        assert_eq!(
            (missing.referral_percent, missing.referral_is_default),
            (15.0, true)
        );
        product.fba_pick_and_pack_fee = Some(Cents(-1));
        assert_eq!(fees(&product, &settings).fba_fee, Cents(550));
        product.fba_pick_and_pack_fee = Some(Cents(409));
        product.referral_fee_percent = Some(15.01);
        let known = fees(&product, &settings);
        assert_eq!(
            (
                known.fba_fee,
                known.referral_percent,
                known.fba_fee_is_default
            ),
            (Cents(409), 15.01, false)
        );
    }

    #[test]
    fn worked_example() {
        // Buy $10.00 used FBA, defaults: tax 50, prep 275, inbound 399.
        let settings = Settings::default();
        let cost = all_in_cost(Cents(1000), Cents(0), &settings).unwrap();
        assert_eq!(
            cost,
            AllInCost {
                tax: Cents(50),
                total: Cents(1724)
            }
        );
        let fees = Fees {
            fba_fee: Cents(550),
            fba_fee_is_default: true,
            referral_percent: 15.0,
            referral_is_default: true,
        };
        let list_at = Cents(4000);
        let total = total_fees(list_at, &fees).unwrap();
        assert_eq!(total, Cents(1150));
        let profit = profit(list_at, cost.total, total).unwrap();
        assert_eq!(profit, Cents(1126));
        assert_eq!(margin_percent(profit, list_at), Some(28.15));
        assert!((roi_percent(profit, cost.total).unwrap() - 65.313_225).abs() < 1e-4);
        // (1724 + 550) / (1 - 0.10 - 0.15) = 3032
        assert_eq!(
            min_listing_price(cost.total, &fees, &settings),
            Some(Cents(3032))
        );
    }

    #[test]
    fn tax_exempt_pays_no_tax() {
        let settings = Settings {
            tax_exempt: true,
            ..Settings::default()
        };
        assert_eq!(
            all_in_cost(Cents(1000), Cents(399), &settings).unwrap().tax,
            Cents(0)
        );
    }
}
