//! Money as integer cents. The system we replace stored `'$246.26'` as text
//! and computed negative profits from it; here money is a number from the
//! moment it leaves Keepa, and arithmetic that could overflow is checked.

use std::fmt;

/// An amount of money in integer cents of the marketplace currency (US cents
/// for amazon.com). Negative amounts are allowed (a loss is a negative profit).
///
/// Arithmetic is checked (`checked_add`, `checked_sub`, `checked_mul`,
/// `checked_mul_ratio`): a result that does not fit an `i64` is `None`, never
/// a wrapped number. Keepa's prices are below $2^31$ cents, so sums and
/// products of a few of them never come near the limit.
///
/// `Display` writes `$1,200.50` / `-$5.00`; `deal-filters`' lenient parser
/// reads that back.
///
/// ```
/// use keepa_model::Cents;
/// let price = Cents(120_050);
/// assert_eq!(price.to_string(), "$1,200.50");
/// assert_eq!(price.checked_add(Cents(50)), Some(Cents(120_100)));
/// assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None);
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    /// No money.
    pub const ZERO: Cents = Cents(0);

    /// A whole number of dollars (saturating at the ends of the range).
    pub fn from_dollars(dollars: i64) -> Cents {
        Cents(dollars.saturating_mul(100))
    }

    /// A Keepa price (integer cents, −1 = no offer, −2 = no data) as money:
    /// negative values are `None`.
    pub fn from_keepa(raw: i64) -> Option<Cents> {
        crate::keepa_value(raw).map(Cents)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// `self − other`, or `None` on overflow.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// `self × factor`, or `None` on overflow.
    pub fn checked_mul(self, factor: i64) -> Option<Cents> {
        self.0.checked_mul(factor).map(Cents)
    }

    /// `self × ratio`, rounded to the nearest cent (halves away from zero), or
    /// `None` when the ratio is not finite or the result does not fit.
    ///
    /// ```
    /// use keepa_model::Cents;
    /// assert_eq!(Cents(1_999).checked_mul_ratio(0.15), Some(Cents(300)));
    /// assert_eq!(Cents(1_000).checked_mul_ratio(f64::NAN), None);
    /// ```
    pub fn checked_mul_ratio(self, ratio: f64) -> Option<Cents> {
        let product = (self.0 as f64 * ratio).round();
        // `i64::MAX as f64` rounds up to 2^63, which itself does not fit: compare strictly.
        if !product.is_finite() || product >= i64::MAX as f64 || product < i64::MIN as f64 {
            return None;
        }
        Some(Cents(product as i64))
    }

    /// The amount in dollars as a float, for ratios and display only.
    pub fn as_dollars(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// Whether the amount is above zero.
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let dollars = (magnitude / 100).to_string();
        let cents = magnitude % 100;
        let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
        for (position, digit) in dollars.chars().enumerate() {
            if position > 0 && (dollars.len() - position).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(formatter, "{sign}${grouped}.{cents:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_groups_thousands_and_keeps_two_decimals() {
        let cases = [
            (0, "$0.00"),
            (5, "$0.05"),
            (99_999, "$999.99"),
            (100_000, "$1,000.00"),
            (120_050, "$1,200.50"),
            (-500, "-$5.00"),
            (123_456_789_012, "$1,234,567,890.12"),
            (i64::MIN, "-$92,233,720,368,547,758.08"),
        ];
        for (cents, text) in cases {
            assert_eq!(Cents(cents).to_string(), text);
        }
    }

    #[test]
    fn keepa_sentinels_are_not_money() {
        assert_eq!(Cents::from_keepa(-1), None);
        assert_eq!(Cents::from_keepa(-2), None);
        assert_eq!(Cents::from_keepa(0), Some(Cents::ZERO));
        assert_eq!(Cents::from_keepa(2_499), Some(Cents(2_499)));
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(Cents(i64::MIN).checked_sub(Cents(1)), None);
        assert_eq!(Cents(i64::MAX).checked_mul(2), None);
        assert_eq!(Cents(i64::MAX).checked_mul_ratio(1.0), None);
        assert_eq!(Cents(-1_001).checked_mul_ratio(0.5), Some(Cents(-501)));
        assert_eq!(Cents::from_dollars(12), Cents(1_200));
    }
}
