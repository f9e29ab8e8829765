//! Where the bucket's `now` comes from.
//!
//! The core never reads a clock; backends ask a [`Clock`]. [`TokioClock`] follows tokio's
//! clock, so a test or simulation under `tokio::time::pause` runs hours of quota in
//! milliseconds; [`ManualClock`] is moved by hand; the Redis backend uses the Redis server's
//! `TIME` unless given a clock, so that every process of a fleet agrees on one time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of milliseconds. Only differences and the order of instants matter to the bucket.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant in milliseconds.
    fn now_ms(&self) -> i64;
}

/// Milliseconds since the clock was created, on tokio's clock (paused-time aware).
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading 0 now.
    ///
    /// Creating it outside a tokio runtime is fine; under a paused runtime, create it inside so
    /// that it reads the paused clock.
    pub fn start() -> TokioClock {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to. Clones share the same instant.
///
/// ```
/// use token_bucket::clock::{Clock, ManualClock};
/// let clock = ManualClock::at(1_000);
/// clock.advance_ms(500);
/// assert_eq!(clock.now_ms(), 1_500);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now_ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn at(now_ms: i64) -> ManualClock {
        ManualClock {
            now_ms: Arc::new(AtomicI64::new(now_ms)),
        }
    }

    /// Moves the clock forward by `ms`.
    pub fn advance_ms(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `now_ms`.
    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}
