//! Token amounts and lanes: the two words every other module speaks.
//!
//! Amounts are integer milli-tokens so that learned, fractional cost estimates (1.3 tokens per
//! ASIN) add up exactly, and so that the Redis backend's Lua scripts, whose numbers are doubles,
//! never round: every amount this crate produces stays far below 2^53 milli-tokens.

use std::fmt;

/// An amount of Keepa tokens, stored as integer milli-tokens. May be negative (a deficit).
///
/// ```
/// use token_bucket::Tokens;
/// let cost = Tokens::from_whole(5);
/// assert_eq!(cost.as_milli(), 5_000);
/// assert_eq!(Tokens::from_milli(1_300).to_string(), "1.3");
/// assert_eq!((cost - Tokens::from_whole(7)).whole_floor(), -2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tokens(i64);

impl Tokens {
    /// No tokens.
    pub const ZERO: Tokens = Tokens(0);

    /// `n` whole tokens.
    pub const fn from_whole(n: i64) -> Tokens {
        Tokens(n.saturating_mul(1000))
    }

    /// `milli` thousandths of a token.
    pub const fn from_milli(milli: i64) -> Tokens {
        Tokens(milli)
    }

    /// The amount in thousandths of a token.
    pub const fn as_milli(self) -> i64 {
        self.0
    }

    /// The amount rounded down to whole tokens (−0.5 becomes −1).
    pub const fn whole_floor(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The amount rounded up to whole tokens (0.2 becomes 1).
    pub const fn whole_ceil(self) -> i64 {
        -(-self.0).div_euclid(1000)
    }

    /// The amount as a float, for reports and metrics only.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// The larger of `self` and zero.
    pub const fn non_negative(self) -> Tokens {
        if self.0 < 0 { Tokens(0) } else { self }
    }
}

impl std::ops::Add for Tokens {
    type Output = Tokens;
    fn add(self, rhs: Tokens) -> Tokens {
        Tokens(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Sub for Tokens {
    type Output = Tokens;
    fn sub(self, rhs: Tokens) -> Tokens {
        Tokens(self.0.saturating_sub(rhs.0))
    }
}

impl std::ops::Neg for Tokens {
    type Output = Tokens;
    fn neg(self) -> Tokens {
        Tokens(self.0.saturating_neg())
    }
}

impl fmt::Display for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 1000, abs % 1000);
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// Which queue a request waits in.
///
/// `Urgent` is for small, latency-sensitive work (one `/deal` page, refreshing recent deals):
/// it is admitted under Keepa's own rule, whenever the projected balance is above zero.
/// `Bulk` is for screening and deep analysis: it is admitted only while it leaves the urgent
/// reserve untouched and no urgent request is waiting, so bulk work can never starve urgent work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// Small, latency-sensitive requests.
    Urgent,
    /// Large, throughput-oriented requests.
    Bulk,
}

impl Lane {
    /// Both lanes, urgent first.
    pub const ALL: [Lane; 2] = [Lane::Urgent, Lane::Bulk];

    /// A stable lowercase name, for logs, metrics and the Redis scripts.
    pub const fn as_str(self) -> &'static str {
        match self {
            Lane::Urgent => "urgent",
            Lane::Bulk => "bulk",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Lane::Urgent => 0,
            Lane::Bulk => 1,
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(milli: i64, expected: &str) {
        assert_eq!(Tokens::from_milli(milli).to_string(), expected);
    }

    #[test]
    fn display_trims_trailing_zeros() {
        check(0, "0");
        check(5_000, "5");
        check(1_300, "1.3");
        check(1_005, "1.005");
        check(-231_000, "-231");
        check(-500, "-0.5");
    }

    #[test]
    fn rounding_goes_the_documented_way() {
        assert_eq!(Tokens::from_milli(-500).whole_floor(), -1);
        assert_eq!(Tokens::from_milli(200).whole_ceil(), 1);
        assert_eq!(Tokens::from_milli(-200).whole_ceil(), 0);
        assert_eq!(Tokens::from_whole(3).whole_ceil(), 3);
    }
}
