//! Freshness (DESIGN.md §6): which deals to rescue with a light refresh (not
//! seen for 48 h, oldest first), the janitor that deletes deals not seen for
//! 72 h, and counts of deals by age for diagnostics. Ages are measured from
//! `last_seen_at`, which every upsert sets; all instants are passed in.

use std::time::Duration;

use keepa_model::{Asin, UnixSeconds};

use crate::connection::Writer;
use crate::error::{ResultExt, StoreError, StoreResult};
use crate::read::Reader;

/// Deals not seen for this long are rescued first (48 h).
pub const STALE_RESCUE_AGE: Duration = Duration::from_secs(48 * 60 * 60);
/// Deals not seen for this long are deleted by the janitor (72 h).
pub const JANITOR_AGE: Duration = Duration::from_secs(72 * 60 * 60);

/// How many stored deals were last seen within each age range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgeBuckets {
    /// Seen less than 1 h ago (or in the future).
    pub under_1h: u64,
    /// Seen 1 h to 24 h ago.
    pub from_1h_to_24h: u64,
    /// Seen 24 h to 48 h ago.
    pub from_24h_to_48h: u64,
    /// Seen 48 h to 72 h ago: stale-rescue candidates.
    pub from_48h_to_72h: u64,
    /// Seen 72 h ago or earlier: the janitor's next victims.
    pub over_72h: u64,
}

fn seconds(age: Duration) -> i64 {
    i64::try_from(age.as_secs()).unwrap_or(i64::MAX)
}

fn cutoff(now: UnixSeconds, age: Duration) -> UnixSeconds {
    UnixSeconds(now.0.saturating_sub(seconds(age)))
}

impl Writer {
    /// Deletes every deal not seen for `max_age` (at least: `last_seen_at`
    /// strictly before `now − max_age`) and returns how many went.
    pub fn delete_deals_not_seen_for(
        &mut self,
        max_age: Duration,
        now: UnixSeconds,
    ) -> StoreResult<usize> {
        self.write("running the janitor", |transaction, path| {
            transaction
                .execute(
                    "DELETE FROM deals WHERE last_seen_at < ?1",
                    [cutoff(now, max_age).0],
                )
                .context(path, "running the janitor")
        })
    }
}

impl Writer {
    /// Refreshes the query planner's statistics (`PRAGMA optimize`, which runs `ANALYZE` on
    /// tables whose statistics are stale). Without statistics the planner picks among the
    /// partial indexes blindly; the worker runs this with the janitor.
    ///
    /// The analysis is not limited (`analysis_limit = 0`): only a full `ANALYZE` writes
    /// `sqlite_stat4`, the samples with which the planner compares the ranges of a count's
    /// filters for their bound values and seeks the narrowest (percent down ≥ 30 rather than
    /// drops ≥ 3 in the store bench: 2.2 ms instead of 3.1 ms). It took 0.25 s at 100,000
    /// deals, and `optimize` runs it only when a table changed a lot since the last one.
    pub fn optimize(&mut self) -> StoreResult<()> {
        self.write(
            "refreshing the planner's statistics",
            |transaction, path| {
                transaction
                    .execute_batch("PRAGMA analysis_limit = 0; PRAGMA optimize = 0x10002;")
                    .context(path, "refreshing the planner's statistics")
            },
        )
    }
}

impl Reader<'_> {
    /// Deals not seen for at least `min_age` and not yet rescued since (a
    /// rescue sets `refreshed_at` but keeps `last_seen_at`), oldest first, at
    /// most `limit`, with their `last_seen_at`.
    pub fn stale_rescue_candidates(
        &self,
        min_age: Duration,
        now: UnixSeconds,
        limit: u32,
    ) -> StoreResult<Vec<(Asin, UnixSeconds)>> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT asin, last_seen_at FROM deals WHERE last_seen_at <= ?1
                   AND refreshed_at < last_seen_at + ?3
                 ORDER BY last_seen_at, asin LIMIT ?2",
            )
            .context(self.path, "listing stale deals")?;
        let rows = statement
            .query_map(
                (
                    cutoff(now, min_age).0,
                    limit,
                    i64::try_from(min_age.as_secs()).unwrap_or(i64::MAX),
                ),
                |row| Ok((row.get::<_, String>(0)?, UnixSeconds(row.get(1)?))),
            )
            .context(self.path, "listing stale deals")?;
        let mut candidates = Vec::new();
        for row in rows {
            let (asin_text, last_seen) = row.context(self.path, "listing stale deals")?;
            let asin = asin_text
                .parse()
                .map_err(|_| StoreError::InvalidStoredValue {
                    path: self.path.to_path_buf(),
                    detail: format!("deals.asin {asin_text:?} is not an asin"),
                })?;
            candidates.push((asin, last_seen));
        }
        Ok(candidates)
    }

    /// Stored deals by the age of `last_seen_at` at `now`.
    pub fn age_buckets(&self, now: UnixSeconds) -> StoreResult<AgeBuckets> {
        let hour = 60 * 60;
        self.connection
            .prepare_cached(
                "SELECT
                    count(*) FILTER (WHERE last_seen_at > ?1 - 1 * ?2),
                    count(*) FILTER (WHERE last_seen_at <= ?1 - 1 * ?2 AND last_seen_at > ?1 - 24 * ?2),
                    count(*) FILTER (WHERE last_seen_at <= ?1 - 24 * ?2 AND last_seen_at > ?1 - 48 * ?2),
                    count(*) FILTER (WHERE last_seen_at <= ?1 - 48 * ?2 AND last_seen_at > ?1 - 72 * ?2),
                    count(*) FILTER (WHERE last_seen_at <= ?1 - 72 * ?2)
                 FROM deals",
            )
            .and_then(|mut statement| {
                statement.query_row((now.0, hour), |row| {
                    Ok(AgeBuckets {
                        under_1h: row.get(0)?,
                        from_1h_to_24h: row.get(1)?,
                        from_24h_to_48h: row.get(2)?,
                        from_48h_to_72h: row.get(3)?,
                        over_72h: row.get(4)?,
                    })
                })
            })
            .context(self.path, "counting deals by age")
    }
}
