//! Event counters in per-minute buckets: errors by kind and rejections by
//! reason, so diagnostics can report "the last 24 h" (or any window) without
//! a log. A bucket is one row `(kind, label, unix minute, count)`; old buckets
//! are removed by [`Writer::prune_counters`], not automatically.

use std::path::Path;

use keepa_model::UnixSeconds;
use rusqlite::Transaction;

use crate::connection::Writer;
use crate::error::{ResultExt, StoreResult};
use crate::read::Reader;

/// Seconds in the diagnostics window.
pub const DAY_SECONDS: i64 = 24 * 60 * 60;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Errors, labelled by the caller's error kind (`"keepa_500"`, `"timeout"`, …).
    Error,
    /// Rejections, labelled by [`deal_filters::RejectionReason::as_str`].
    Rejection,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Error => "error",
            EventKind::Rejection => "rejection",
        }
    }
}

/// Adds one to the bucket of `(kind, label)` for the minute of `now`.
pub(crate) fn increment_counter(
    transaction: &Transaction<'_>,
    path: &Path,
    kind: EventKind,
    label: &str,
    now: UnixSeconds,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO event_counts (kind, label, unix_minute, count) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (kind, label, unix_minute) DO UPDATE SET count = count + 1",
        )
        .and_then(|mut statement| statement.execute((kind.as_str(), label, now.0.div_euclid(60))))
        .context(path, "counting an event")?;
    Ok(())
}

impl Writer {
    /// Counts one error of `kind` (a short snake_case label chosen by the caller).
    pub fn record_error(&mut self, kind: &str, now: UnixSeconds) -> StoreResult<()> {
        self.write("counting an error", |transaction, path| {
            increment_counter(transaction, path, EventKind::Error, kind, now)
        })
    }

    /// Deletes counter buckets older than `before`; returns how many rows went.
    pub fn prune_counters(&mut self, before: UnixSeconds) -> StoreResult<usize> {
        self.write("pruning counters", |transaction, path| {
            transaction
                .execute(
                    "DELETE FROM event_counts WHERE unix_minute < ?1",
                    [before.0.div_euclid(60)],
                )
                .context(path, "pruning counters")
        })
    }
}

impl Reader<'_> {
    /// Counts of `kind` per label from the minute of `since` on, largest first.
    pub fn event_counts_since(
        &self,
        kind: EventKind,
        since: UnixSeconds,
    ) -> StoreResult<Vec<(String, u64)>> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT label, sum(count) AS total FROM event_counts
                 WHERE kind = ?1 AND unix_minute >= ?2
                 GROUP BY label ORDER BY total DESC, label",
            )
            .context(self.path, "reading counters")?;
        let rows = statement
            .query_map((kind.as_str(), since.0.div_euclid(60)), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .context(self.path, "reading counters")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context(self.path, "reading counters")
    }

    /// Errors by kind over the 24 h before `now`.
    pub fn errors_last_24h(&self, now: UnixSeconds) -> StoreResult<Vec<(String, u64)>> {
        self.event_counts_since(EventKind::Error, UnixSeconds(now.0 - DAY_SECONDS))
    }

    /// Rejections by reason code over the 24 h before `now`.
    pub fn rejections_last_24h(&self, now: UnixSeconds) -> StoreResult<Vec<(String, u64)>> {
        self.event_counts_since(EventKind::Rejection, UnixSeconds(now.0 - DAY_SECONDS))
    }
}
