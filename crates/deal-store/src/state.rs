//! Pipeline state: the discovery watermark with the clamping rules of
//! DESIGN.md §6, free-form key/values that diagnostics show ("last discovery
//! pass", "waiting for tokens until …"), and the fencing numbers per lease.
//!
//! The clamping is a pure function, [`resolve_watermark`], applied on read;
//! the stored value is what the pipeline last wrote, so diagnostics can show
//! a future watermark that was clamped.

use keepa_model::{KeepaMinute, UnixSeconds};
use rusqlite::OptionalExtension;

use crate::connection::Writer;
use crate::deals::{Fence, check_and_record_fence};
use crate::error::{ResultExt, StoreResult};
use crate::read::Reader;

/// A stored watermark more than this many minutes ahead of `now` is clamped to
/// `now` (clock skew between Keepa and us stays well below an hour; 5 minutes
/// ahead is kept, 25 hours ahead is clamped).
pub const WATERMARK_FUTURE_TOLERANCE_MINUTES: i64 = 60;

/// A missing watermark starts this many minutes before `now` (24 h).
pub const MISSING_WATERMARK_LOOKBACK_MINUTES: i64 = 24 * 60;

/// Where a resolved watermark came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkOrigin {
    /// The stored value, used as is.
    Stored,
    /// The stored value lay too far in the future and was replaced by `now`.
    ClampedFromFuture {
        /// The stored value.
        stored: KeepaMinute,
    },
    /// Nothing was stored; the watermark starts 24 h back.
    Missing,
}

/// The watermark discovery should page down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedWatermark {
    /// Stop at deals last updated at or before this minute.
    pub minute: KeepaMinute,
    /// How the minute was obtained.
    pub origin: WatermarkOrigin,
}

/// Applies DESIGN.md §6: a watermark more than
/// [`WATERMARK_FUTURE_TOLERANCE_MINUTES`] ahead of `now` is clamped to `now`;
/// a missing one starts [`MISSING_WATERMARK_LOOKBACK_MINUTES`] back.
///
/// ```
/// use deal_store::{resolve_watermark, WatermarkOrigin};
/// use keepa_model::KeepaMinute;
/// let now = KeepaMinute(8_000_000);
/// assert_eq!(resolve_watermark(Some(now.plus_minutes(5)), now).minute, now.plus_minutes(5));
/// assert_eq!(resolve_watermark(Some(now.plus_minutes(25 * 60)), now).minute, now);
/// assert_eq!(resolve_watermark(None, now).origin, WatermarkOrigin::Missing);
/// ```
pub fn resolve_watermark(stored: Option<KeepaMinute>, now: KeepaMinute) -> ResolvedWatermark {
    match stored {
        None => ResolvedWatermark {
            minute: now.plus_minutes(-MISSING_WATERMARK_LOOKBACK_MINUTES),
            origin: WatermarkOrigin::Missing,
        },
        Some(stored) if stored.minutes_since(now) > WATERMARK_FUTURE_TOLERANCE_MINUTES => {
            ResolvedWatermark {
                minute: now,
                origin: WatermarkOrigin::ClampedFromFuture { stored },
            }
        }
        Some(stored) => ResolvedWatermark {
            minute: stored,
            origin: WatermarkOrigin::Stored,
        },
    }
}

/// One free-form state entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// When it was last written.
    pub updated_at: UnixSeconds,
}

impl Writer {
    /// Stores the discovery watermark, guarded by the discovery lease's fence.
    ///
    /// # Errors
    /// [`crate::StoreError::StaleFence`] when `fence` is older than the stored one.
    pub fn set_watermark(
        &mut self,
        minute: KeepaMinute,
        fence: Option<&Fence>,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        self.write("storing the watermark", |transaction, path| {
            if let Some(fence) = fence {
                check_and_record_fence(transaction, path, fence, now)?;
            }
            store_watermark(transaction, path, minute, now)
        })
    }

    /// Sets a free-form state value.
    pub fn set_state(&mut self, key: &str, value: &str, now: UnixSeconds) -> StoreResult<()> {
        self.write("storing pipeline state", |transaction, path| {
            transaction
                .prepare_cached(
                    "INSERT INTO pipeline_state (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                                                     updated_at = excluded.updated_at",
                )
                .and_then(|mut statement| statement.execute((key, value, now.0)))
                .context(path, "storing pipeline state")?;
            Ok(())
        })
    }
}

impl Writer {
    /// Removes a free-form state value; answers whether it existed. For the operators' `flush`
    /// (clearing the pause flag, forgetting heartbeats) in the embedded tier.
    pub fn delete_state(&mut self, key: &str) -> StoreResult<bool> {
        self.write("deleting pipeline state", |transaction, path| {
            let deleted = transaction
                .prepare_cached("DELETE FROM pipeline_state WHERE key = ?1")
                .and_then(|mut statement| statement.execute([key]))
                .context(path, "deleting pipeline state")?;
            Ok(deleted > 0)
        })
    }
}

impl Reader<'_> {
    /// The stored watermark and when it was written, unclamped.
    pub fn stored_watermark(&self) -> StoreResult<Option<(KeepaMinute, UnixSeconds)>> {
        self.connection
            .query_row(
                "SELECT keepa_minute, updated_at FROM watermark WHERE id = 1",
                [],
                |row| Ok((KeepaMinute(row.get(0)?), UnixSeconds(row.get(1)?))),
            )
            .optional()
            .context(self.path, "reading the watermark")
    }

    /// The watermark discovery should use at `now` (see [`resolve_watermark`]).
    pub fn watermark(&self, now: UnixSeconds) -> StoreResult<ResolvedWatermark> {
        let stored = self.stored_watermark()?.map(|(minute, _)| minute);
        // `now` beyond the i32 minute range is centuries away; saturate.
        let now_minute = KeepaMinute::from_unix_seconds(now).unwrap_or(KeepaMinute(i32::MAX));
        Ok(resolve_watermark(stored, now_minute))
    }

    /// A free-form state value.
    pub fn state(&self, key: &str) -> StoreResult<Option<String>> {
        self.connection
            .prepare_cached("SELECT value FROM pipeline_state WHERE key = ?1")
            .and_then(|mut statement| statement.query_row([key], |row| row.get(0)).optional())
            .context(self.path, "reading pipeline state")
    }

    /// Every free-form state entry, by key.
    pub fn all_state(&self) -> StoreResult<Vec<StateEntry>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT key, value, updated_at FROM pipeline_state ORDER BY key")
            .context(self.path, "listing pipeline state")?;
        let rows = statement
            .query_map([], |row| {
                Ok(StateEntry {
                    key: row.get(0)?,
                    value: row.get(1)?,
                    updated_at: UnixSeconds(row.get(2)?),
                })
            })
            .context(self.path, "listing pipeline state")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context(self.path, "listing pipeline state")
    }

    /// The highest fencing number stored per lease, by lease name.
    pub fn fences(&self) -> StoreResult<Vec<Fence>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT lease, fencing_number FROM fences ORDER BY lease")
            .context(self.path, "listing fences")?;
        let rows = statement
            .query_map([], |row| {
                Ok(Fence {
                    lease: row.get(0)?,
                    number: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                })
            })
            .context(self.path, "listing fences")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context(self.path, "listing fences")
    }
}

/// Writes the watermark inside the caller's transaction (the fence, if any, already checked).
pub(crate) fn store_watermark(
    transaction: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    minute: KeepaMinute,
    now: UnixSeconds,
) -> StoreResult<()> {
    transaction
        .execute(
            "INSERT INTO watermark (id, keepa_minute, updated_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET keepa_minute = excluded.keepa_minute,
                                            updated_at = excluded.updated_at",
            (minute.0, now.0),
        )
        .context(path, "storing the watermark")?;
    Ok(())
}
