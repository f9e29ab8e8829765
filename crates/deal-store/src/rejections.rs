//! Rejected ASINs and the quarantine of failing ones.
//!
//! A rejection remembers the Keepa `lastUpdate` it was made at, so discovery
//! skips the ASIN until Keepa reports a change ([`Reader::should_analyse`]).
//! The quarantine counts failed analyses per ASIN; after the attempt budget
//! ([`crate::StoreOptions::attempt_budget`]) the ASIN is quarantined with its
//! last error instead of being retried forever. Storing a deal clears both.

use deal_filters::RejectionReason;
use keepa_model::{Asin, KeepaMinute, UnixSeconds};
use rusqlite::OptionalExtension;

use crate::connection::Writer;
use crate::counters::{EventKind, increment_counter};
use crate::error::{ResultExt, StoreResult};
use crate::read::Reader;

/// What [`Writer::record_failure`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Below the attempt budget: try again later.
    Retry {
        /// Failed attempts so far, this one included.
        attempts: u32,
    },
    /// The budget is spent: the ASIN is quarantined and no longer analysed.
    Quarantined {
        /// Failed attempts, this one included.
        attempts: u32,
    },
}

/// One stored rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The rejected ASIN.
    pub asin: Asin,
    /// The stored reason code ([`RejectionReason::as_str`]); kept as text so
    /// a code written by a newer build still reads.
    pub reason: String,
    /// When it was rejected.
    pub rejected_at: UnixSeconds,
    /// Keepa's `lastUpdate` of the product when it was rejected.
    pub keepa_last_update: Option<KeepaMinute>,
}

/// One quarantine entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// The failing ASIN.
    pub asin: Asin,
    /// Failed attempts.
    pub attempts: u32,
    /// The last error's message.
    pub last_error: String,
    /// When the first recorded failure happened.
    pub first_failed_at: UnixSeconds,
    /// When the last failure happened.
    pub last_failed_at: UnixSeconds,
    /// When the budget ran out; `None` while the ASIN is still retried.
    pub quarantined_at: Option<UnixSeconds>,
}

impl Writer {
    /// Records that `asin` was rejected for `reason` at `now`, when Keepa's
    /// `lastUpdate` was `keepa_last_update`, and counts the rejection.
    pub fn record_rejection(
        &mut self,
        asin: Asin,
        reason: RejectionReason,
        keepa_last_update: Option<KeepaMinute>,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        self.write("recording a rejection", |transaction, path| {
            insert_rejection(transaction, path, asin, reason, keepa_last_update, now)
        })
    }

    /// Records a failed analysis of `asin`; quarantines it once the attempt
    /// budget is spent.
    pub fn record_failure(
        &mut self,
        asin: Asin,
        error: &str,
        now: UnixSeconds,
    ) -> StoreResult<FailureOutcome> {
        let budget = i64::from(self.options.attempt_budget.max(1));
        self.write("recording a failed analysis", |transaction, path| {
            let attempts: i64 = transaction
                .prepare_cached(
                    "INSERT INTO quarantine (asin, attempts, last_error, first_failed_at, last_failed_at, quarantined_at)
                     VALUES (?1, 1, ?2, ?3, ?3, CASE WHEN ?4 <= 1 THEN ?3 END)
                     ON CONFLICT (asin) DO UPDATE SET
                         attempts = attempts + 1,
                         last_error = excluded.last_error,
                         last_failed_at = excluded.last_failed_at,
                         quarantined_at = coalesce(quarantined_at,
                             CASE WHEN attempts + 1 >= ?4 THEN excluded.last_failed_at END)
                     RETURNING attempts",
                )
                .and_then(|mut statement| {
                    statement.query_row((asin.as_str(), error, now.0, budget), |row| row.get(0))
                })
                .context(path, "recording a failed analysis")?;
            let attempts_u32 = u32::try_from(attempts).unwrap_or(u32::MAX);
            Ok(if attempts >= budget {
                FailureOutcome::Quarantined { attempts: attempts_u32 }
            } else {
                FailureOutcome::Retry { attempts: attempts_u32 }
            })
        })
    }

    /// Forgets the failures of `asin` (an operator releasing it from quarantine).
    pub fn clear_failures(&mut self, asin: Asin) -> StoreResult<bool> {
        self.write("clearing failures", |transaction, path| {
            let deleted = transaction
                .execute("DELETE FROM quarantine WHERE asin = ?1", [asin.as_str()])
                .context(path, "clearing failures")?;
            Ok(deleted > 0)
        })
    }
}

impl Reader<'_> {
    /// Whether discovery should analyse `asin`, whose Keepa `lastUpdate` is
    /// now `keepa_last_update`: not while it is quarantined, and not while it
    /// is rejected at this or a later `lastUpdate` (it has not changed since).
    /// A rejection made without a known `lastUpdate` lets the ASIN through.
    pub fn should_analyse(&self, asin: Asin, keepa_last_update: KeepaMinute) -> StoreResult<bool> {
        let blocked: bool = self
            .connection
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM quarantine WHERE asin = ?1 AND quarantined_at IS NOT NULL)
                     OR EXISTS (SELECT 1 FROM rejections WHERE asin = ?1
                                AND keepa_last_update_minute >= ?2)",
            )
            .and_then(|mut statement| {
                statement.query_row((asin.as_str(), keepa_last_update.0), |row| row.get(0))
            })
            .context(self.path, "checking whether to analyse")?;
        Ok(!blocked)
    }

    /// The stored rejection of `asin`.
    pub fn rejection(&self, asin: Asin) -> StoreResult<Option<Rejection>> {
        self.connection
            .prepare_cached(
                "SELECT reason, rejected_at, keepa_last_update_minute FROM rejections WHERE asin = ?1",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([asin.as_str()], |row| {
                        Ok(Rejection {
                            asin,
                            reason: row.get(0)?,
                            rejected_at: UnixSeconds(row.get(1)?),
                            keepa_last_update: row.get::<_, Option<i32>>(2)?.map(KeepaMinute),
                        })
                    })
                    .optional()
            })
            .context(self.path, "reading a rejection")
    }

    /// The quarantine entry of `asin` (also while it is still being retried).
    pub fn quarantine_entry(&self, asin: Asin) -> StoreResult<Option<QuarantineEntry>> {
        self.connection
            .prepare_cached(
                "SELECT attempts, last_error, first_failed_at, last_failed_at, quarantined_at
                 FROM quarantine WHERE asin = ?1",
            )
            .and_then(|mut statement| {
                statement
                    .query_row([asin.as_str()], |row| {
                        Ok(QuarantineEntry {
                            asin,
                            attempts: row.get(0)?,
                            last_error: row.get(1)?,
                            first_failed_at: UnixSeconds(row.get(2)?),
                            last_failed_at: UnixSeconds(row.get(3)?),
                            quarantined_at: row.get::<_, Option<i64>>(4)?.map(UnixSeconds),
                        })
                    })
                    .optional()
            })
            .context(self.path, "reading a quarantine entry")
    }

    /// How many ASINs are quarantined (budget spent).
    pub fn quarantined_count(&self) -> StoreResult<u64> {
        self.connection
            .query_row(
                "SELECT count(*) FROM quarantine WHERE quarantined_at IS NOT NULL",
                [],
                |row| row.get(0),
            )
            .context(self.path, "counting quarantined asins")
    }
}

/// Records a rejection and counts it, inside the caller's transaction.
pub(crate) fn insert_rejection(
    transaction: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    asin: Asin,
    reason: RejectionReason,
    keepa_last_update: Option<KeepaMinute>,
    now: UnixSeconds,
) -> StoreResult<()> {
    transaction
        .prepare_cached(
            "INSERT INTO rejections (asin, reason, rejected_at, keepa_last_update_minute)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (asin) DO UPDATE SET reason = excluded.reason,
                 rejected_at = excluded.rejected_at,
                 keepa_last_update_minute = excluded.keepa_last_update_minute",
        )
        .and_then(|mut statement| {
            statement.execute((
                asin.as_str(),
                reason.as_str(),
                now.0,
                keepa_last_update.map(|minute| minute.0),
            ))
        })
        .context(path, "recording a rejection")?;
    increment_counter(
        transaction,
        path,
        EventKind::Rejection,
        reason.as_str(),
        now,
    )
}
