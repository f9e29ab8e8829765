//! Keepa's price types: the index into every per-type array (history series,
//! statistics, deal arrays). An index newtype rather than a closed enum,
//! because Keepa adds types every few months (34 in 2025, 36 in 2026).

/// A Keepa price type: the index of a series in Keepa's per-type arrays.
///
/// Named constants cover the types Keepa documents; any other index is still
/// a valid `PriceType` (Keepa adds types without notice), and every per-type
/// container answers "unknown" for an index it does not hold.
///
/// ```
/// use keepa_model::PriceType;
/// assert_eq!(PriceType::USED.index(), 2);
/// assert_eq!(PriceType::USED.name(), Some("USED"));
/// assert!(PriceType::USED_GOOD_SHIPPING.has_shipping());
/// assert_eq!(PriceType(35).name(), None);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct PriceType(pub u16);

impl PriceType {
    /// Amazon's own offer price.
    pub const AMAZON: PriceType = PriceType(0);
    /// Lowest New marketplace price (third-party and Amazon).
    pub const NEW: PriceType = PriceType(1);
    /// Lowest Used price, any Used condition.
    pub const USED: PriceType = PriceType(2);
    /// Sales rank (not money; lower is better).
    pub const SALES: PriceType = PriceType(3);
    /// The list price.
    pub const LISTPRICE: PriceType = PriceType(4);
    /// Lowest Collectible price.
    pub const COLLECTIBLE: PriceType = PriceType(5);
    /// Lowest Refurbished price.
    pub const REFURBISHED: PriceType = PriceType(6);
    /// Lowest New merchant-fulfilled price with shipping.
    pub const NEW_FBM_SHIPPING: PriceType = PriceType(7);
    /// Lightning deal price.
    pub const LIGHTNING_DEAL: PriceType = PriceType(8);
    /// Amazon Warehouse price.
    pub const WAREHOUSE: PriceType = PriceType(9);
    /// Lowest New price fulfilled by Amazon.
    pub const NEW_FBA: PriceType = PriceType(10);
    /// Number of New offers (not money).
    pub const COUNT_NEW: PriceType = PriceType(11);
    /// Number of Used offers (not money).
    pub const COUNT_USED: PriceType = PriceType(12);
    /// Number of Refurbished offers (not money).
    pub const COUNT_REFURBISHED: PriceType = PriceType(13);
    /// Number of Collectible offers (not money).
    pub const COUNT_COLLECTIBLE: PriceType = PriceType(14);
    /// Updates of extra information (not money).
    pub const EXTRA_INFO_UPDATES: PriceType = PriceType(15);
    /// Star rating × 10 (not money).
    pub const RATING: PriceType = PriceType(16);
    /// Number of reviews (not money).
    pub const COUNT_REVIEWS: PriceType = PriceType(17);
    /// Buy box price with shipping.
    pub const BUY_BOX_SHIPPING: PriceType = PriceType(18);
    /// Used, like new, with shipping.
    pub const USED_NEW_SHIPPING: PriceType = PriceType(19);
    /// Used, very good, with shipping.
    pub const USED_VERY_GOOD_SHIPPING: PriceType = PriceType(20);
    /// Used, good, with shipping.
    pub const USED_GOOD_SHIPPING: PriceType = PriceType(21);
    /// Used, acceptable, with shipping.
    pub const USED_ACCEPTABLE_SHIPPING: PriceType = PriceType(22);
    /// Collectible, like new, with shipping.
    pub const COLLECTIBLE_NEW_SHIPPING: PriceType = PriceType(23);
    /// Collectible, very good, with shipping.
    pub const COLLECTIBLE_VERY_GOOD_SHIPPING: PriceType = PriceType(24);
    /// Collectible, good, with shipping.
    pub const COLLECTIBLE_GOOD_SHIPPING: PriceType = PriceType(25);
    /// Collectible, acceptable, with shipping.
    pub const COLLECTIBLE_ACCEPTABLE_SHIPPING: PriceType = PriceType(26);
    /// Refurbished with shipping.
    pub const REFURBISHED_SHIPPING: PriceType = PriceType(27);
    /// eBay New with shipping.
    pub const EBAY_NEW_SHIPPING: PriceType = PriceType(28);
    /// eBay Used with shipping.
    pub const EBAY_USED_SHIPPING: PriceType = PriceType(29);
    /// Trade-in price.
    pub const TRADE_IN: PriceType = PriceType(30);
    /// Rental price.
    pub const RENT: PriceType = PriceType(31);
    /// Used buy box price with shipping.
    pub const BUY_BOX_USED_SHIPPING: PriceType = PriceType(32);
    /// Prime exclusive price.
    pub const PRIME_EXCL: PriceType = PriceType(33);

    /// The Used conditions the deal rules average over: Used (2) and the four
    /// Used-with-shipping conditions (19–22).
    pub const USED_CONDITIONS: [PriceType; 5] = [
        PriceType::USED,
        PriceType::USED_NEW_SHIPPING,
        PriceType::USED_VERY_GOOD_SHIPPING,
        PriceType::USED_GOOD_SHIPPING,
        PriceType::USED_ACCEPTABLE_SHIPPING,
    ];

    const NAMES: [&'static str; 34] = [
        "AMAZON",
        "NEW",
        "USED",
        "SALES",
        "LISTPRICE",
        "COLLECTIBLE",
        "REFURBISHED",
        "NEW_FBM_SHIPPING",
        "LIGHTNING_DEAL",
        "WAREHOUSE",
        "NEW_FBA",
        "COUNT_NEW",
        "COUNT_USED",
        "COUNT_REFURBISHED",
        "COUNT_COLLECTIBLE",
        "EXTRA_INFO_UPDATES",
        "RATING",
        "COUNT_REVIEWS",
        "BUY_BOX_SHIPPING",
        "USED_NEW_SHIPPING",
        "USED_VERY_GOOD_SHIPPING",
        "USED_GOOD_SHIPPING",
        "USED_ACCEPTABLE_SHIPPING",
        "COLLECTIBLE_NEW_SHIPPING",
        "COLLECTIBLE_VERY_GOOD_SHIPPING",
        "COLLECTIBLE_GOOD_SHIPPING",
        "COLLECTIBLE_ACCEPTABLE_SHIPPING",
        "REFURBISHED_SHIPPING",
        "EBAY_NEW_SHIPPING",
        "EBAY_USED_SHIPPING",
        "TRADE_IN",
        "RENT",
        "BUY_BOX_USED_SHIPPING",
        "PRIME_EXCL",
    ];

    /// The position of this type in Keepa's per-type arrays.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Keepa's name for the type, or `None` for a type newer than this crate.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES.get(self.index()).copied()
    }

    /// Whether this type's history series carries `[time, price, shipping]`
    /// triples instead of `[time, value]` pairs.
    pub fn has_shipping(self) -> bool {
        matches!(self.0, 7 | 18..=29 | 32)
    }
}

/// One value per price type, as in a deal record's `current` or one interval
/// of its `avg` array. Index by [`PriceType`]; an index beyond the stored
/// length, or a value Keepa marked −1/−2, is `None`.
///
/// ```
/// use keepa_model::{PriceType, PriceTypeValues};
/// let values = PriceTypeValues(vec![None, Some(2_499), Some(2_024)]);
/// assert_eq!(values.get(PriceType::USED), Some(2_024));
/// assert_eq!(values.get(PriceType::SALES), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PriceTypeValues(pub Vec<Option<i64>>);

impl PriceTypeValues {
    /// Builds the values from raw Keepa numbers, turning −1/−2 into `None`.
    pub fn from_keepa(raw: &[i64]) -> PriceTypeValues {
        PriceTypeValues(raw.iter().map(|&value| crate::keepa_value(value)).collect())
    }

    /// The value of one price type, `None` when unknown or not held.
    pub fn get(&self, price_type: PriceType) -> Option<i64> {
        self.0.get(price_type.index()).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipping_types_are_the_documented_ones() {
        let shipping: Vec<u16> = (0..40)
            .filter(|&index| PriceType(index).has_shipping())
            .collect();
        assert_eq!(
            shipping,
            vec![7, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 32]
        );
    }

    #[test]
    fn arrays_of_any_length_are_tolerated() {
        let short = PriceTypeValues::from_keepa(&[-1, 1499, -2]);
        assert_eq!(short.get(PriceType::AMAZON), None);
        assert_eq!(short.get(PriceType::NEW), Some(1499));
        assert_eq!(short.get(PriceType::USED), None);
        assert_eq!(short.get(PriceType(35)), None);
        let long = PriceTypeValues::from_keepa(&[7; 40]);
        assert_eq!(long.get(PriceType(39)), Some(7));
    }
}
