//! Keepa minutes, Unix milliseconds and Unix seconds as three distinct types,
//! so a timestamp can never be compared with one of another unit (the system
//! we replace compared ISO strings with SQL datetimes).

use std::fmt;

/// Minutes between 1970-01-01 and 2011-01-01, Keepa's epoch.
const KEEPA_EPOCH_IN_UNIX_MINUTES: i64 = 21_564_000;
const MILLIS_PER_MINUTE: i64 = 60_000;

/// A Keepa timestamp: whole minutes since 2011-01-01 00:00 UTC.
///
/// `unix_ms = (keepa_minute + 21_564_000) × 60_000`, exactly.
///
/// ```
/// use keepa_model::{KeepaMinute, UnixMillis};
/// let minute = KeepaMinute(8_075_762);
/// assert_eq!(minute.to_unix_millis(), UnixMillis((8_075_762 + 21_564_000) * 60_000));
/// assert_eq!(KeepaMinute::from_unix_millis(minute.to_unix_millis()), Some(minute));
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct KeepaMinute(pub i32);

/// Milliseconds since 1970-01-01 00:00 UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

/// Seconds since 1970-01-01 00:00 UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixSeconds(pub i64);

impl KeepaMinute {
    /// The instant this minute starts, in Unix milliseconds. Exact for every `i32`.
    pub fn to_unix_millis(self) -> UnixMillis {
        UnixMillis((i64::from(self.0) + KEEPA_EPOCH_IN_UNIX_MINUTES) * MILLIS_PER_MINUTE)
    }

    /// The instant this minute starts, in Unix seconds. Exact for every `i32`.
    pub fn to_unix_seconds(self) -> UnixSeconds {
        UnixSeconds((i64::from(self.0) + KEEPA_EPOCH_IN_UNIX_MINUTES) * 60)
    }

    /// The Keepa minute containing `instant` (rounded towards the past), or
    /// `None` when it lies outside what an `i32` of minutes can express.
    pub fn from_unix_millis(instant: UnixMillis) -> Option<KeepaMinute> {
        let minutes = instant.0.div_euclid(MILLIS_PER_MINUTE) - KEEPA_EPOCH_IN_UNIX_MINUTES;
        i32::try_from(minutes).ok().map(KeepaMinute)
    }

    /// The Keepa minute containing `instant` (rounded towards the past), or
    /// `None` when it lies outside what an `i32` of minutes can express.
    pub fn from_unix_seconds(instant: UnixSeconds) -> Option<KeepaMinute> {
        let minutes = instant.0.div_euclid(60) - KEEPA_EPOCH_IN_UNIX_MINUTES;
        i32::try_from(minutes).ok().map(KeepaMinute)
    }

    /// Signed minutes from `earlier` to `self` (positive when `self` is later).
    pub fn minutes_since(self, earlier: KeepaMinute) -> i64 {
        i64::from(self.0) - i64::from(earlier.0)
    }

    /// This minute moved by `minutes` (negative moves into the past), saturating
    /// at the ends of the `i32` range.
    pub fn plus_minutes(self, minutes: i64) -> KeepaMinute {
        let moved = i64::from(self.0).saturating_add(minutes);
        KeepaMinute(moved.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
    }
}

impl UnixMillis {
    /// Whole seconds, rounded towards the past.
    pub fn to_unix_seconds(self) -> UnixSeconds {
        UnixSeconds(self.0.div_euclid(1000))
    }
}

impl UnixSeconds {
    /// The same instant in milliseconds (saturating for instants beyond ±292 million years).
    pub fn to_unix_millis(self) -> UnixMillis {
        UnixMillis(self.0.saturating_mul(1000))
    }
}

impl fmt::Display for KeepaMinute {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "keepa minute {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepa_epoch_is_2011_01_01() {
        // 2011-01-01T00:00:00Z is 1_293_840_000 Unix seconds.
        assert_eq!(KeepaMinute(0).to_unix_seconds(), UnixSeconds(1_293_840_000));
        assert_eq!(
            KeepaMinute(0).to_unix_millis(),
            UnixMillis(1_293_840_000_000)
        );
    }

    #[test]
    fn real_sample_last_update_converts_exactly() {
        // lastUpdate 8075762 from the May 2026 product sample.
        let minute = KeepaMinute(8_075_762);
        assert_eq!(
            minute.to_unix_millis(),
            UnixMillis((8_075_762 + 21_564_000) * 60_000)
        );
        assert_eq!(minute.to_unix_millis().0, 1_778_385_720_000);
        assert_eq!(
            minute.to_unix_seconds(),
            minute.to_unix_millis().to_unix_seconds()
        );
    }

    #[test]
    fn conversion_back_rounds_towards_the_past() {
        let minute = KeepaMinute(7_535_870);
        let start = minute.to_unix_millis();
        assert_eq!(KeepaMinute::from_unix_millis(start), Some(minute));
        assert_eq!(
            KeepaMinute::from_unix_millis(UnixMillis(start.0 + 59_999)),
            Some(minute)
        );
        assert_eq!(
            KeepaMinute::from_unix_millis(UnixMillis(start.0 - 1)),
            Some(KeepaMinute(7_535_869))
        );
        assert_eq!(
            KeepaMinute::from_unix_seconds(UnixSeconds(start.0 / 1000 + 59)),
            Some(minute)
        );
        assert_eq!(KeepaMinute::from_unix_millis(UnixMillis(i64::MAX)), None);
    }

    #[test]
    fn extreme_minutes_convert_without_overflow() {
        for minute in [i32::MIN, -1, 0, i32::MAX] {
            let minute = KeepaMinute(minute);
            assert_eq!(
                KeepaMinute::from_unix_millis(minute.to_unix_millis()),
                Some(minute)
            );
            assert_eq!(
                KeepaMinute::from_unix_seconds(minute.to_unix_seconds()),
                Some(minute)
            );
        }
    }

    #[test]
    fn minute_arithmetic() {
        assert_eq!(KeepaMinute(100).minutes_since(KeepaMinute(40)), 60);
        assert_eq!(KeepaMinute(100).plus_minutes(-40), KeepaMinute(60));
        assert_eq!(
            KeepaMinute(i32::MAX).plus_minutes(10),
            KeepaMinute(i32::MAX)
        );
    }

    #[test]
    fn millis_and_seconds_convert_both_ways() {
        assert_eq!(UnixMillis(1_999).to_unix_seconds(), UnixSeconds(1));
        assert_eq!(UnixMillis(-1).to_unix_seconds(), UnixSeconds(-1));
        assert_eq!(UnixSeconds(7).to_unix_millis(), UnixMillis(7_000));
    }
}
