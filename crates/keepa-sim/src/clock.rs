//! Simulated time: tokio's clock mapped to Keepa server milliseconds and Keepa minutes.
//!
//! All time in the simulator comes from [`tokio::time::Instant`], so under a paused clock
//! (`#[tokio::test(start_paused = true)]`) hours pass in milliseconds, and on a normal runtime the
//! server runs on real time. The wall clock is never read here; the binary passes the current
//! Unix time as the configured start.

use tokio::time::Instant;

/// Minutes between the Unix epoch and Keepa's epoch (2011-01-01T00:00Z).
pub const KEEPA_EPOCH_OFFSET_MINUTES: i64 = 21_564_000;

/// Converts Unix milliseconds to Keepa minutes (minutes since 2011-01-01).
pub fn unix_ms_to_keepa_minute(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(60_000) - KEEPA_EPOCH_OFFSET_MINUTES
}

/// Converts Keepa minutes to Unix milliseconds: `(keepa_minute + 21_564_000) × 60_000`.
pub fn keepa_minute_to_unix_ms(keepa_minute: i64) -> i64 {
    (keepa_minute + KEEPA_EPOCH_OFFSET_MINUTES) * 60_000
}

/// The simulator's clock: an origin instant and the Unix time it stands for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SimClock {
    origin: Instant,
    start_unix_ms: i64,
}

impl SimClock {
    pub(crate) fn starting_now(start_unix_ms: i64) -> Self {
        Self {
            origin: Instant::now(),
            start_unix_ms,
        }
    }

    /// Milliseconds since the simulator was built.
    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn unix_ms_at(&self, elapsed_ms: u64) -> i64 {
        self.start_unix_ms + elapsed_ms as i64
    }

    pub(crate) fn start_unix_ms(&self) -> i64 {
        self.start_unix_ms
    }
}
