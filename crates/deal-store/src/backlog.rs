//! The backlog: the durable queue between discovery and the tasks that fetch products.
//!
//! Discovery commits, in one transaction, the deals it rejected from `/deal` data, the ASINs it
//! queued (new ones for screening and analysis, stored ones for a light refresh) and the
//! advanced watermark ([`Writer::record_discovery`]). So the watermark never passes a deal that
//! is neither stored, rejected nor queued here, and a crash between pages loses nothing. A
//! task claims entries oldest first for a while ([`Writer::claim_backlog`]), so that workers
//! sharing the database never fetch the same product twice, and removes an ASIN's entries once
//! it is stored, rejected or quarantined ([`Writer::remove_from_backlog`]). A claim that is not
//! completed (the worker crashed or stopped) lapses, and the entry is claimed again.

use deal_filters::RejectionReason;
use keepa_model::{Asin, KeepaMinute, UnixSeconds};

use crate::connection::Writer;
use crate::deals::{Fence, check_and_record_fence};
use crate::error::{ResultExt, StoreError, StoreResult};
use crate::read::Reader;
use crate::rejections::insert_rejection;
use crate::state::store_watermark;

/// What a queued ASIN is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BacklogKind {
    /// A new deal: screening, then analysis (bulk lane).
    Analyse,
    /// A stored deal that changed: a light refresh (urgent lane).
    Refresh,
}

impl BacklogKind {
    /// The stable code stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            BacklogKind::Analyse => "analyse",
            BacklogKind::Refresh => "refresh",
        }
    }
}

/// One queued ASIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogEntry {
    /// The product.
    pub asin: Asin,
    /// Keepa's `lastUpdate` when discovery saw it.
    pub keepa_last_update: KeepaMinute,
    /// What it waits for.
    pub kind: BacklogKind,
}

impl Writer {
    /// Commits one discovery pass: its rejections, its queued ASINs and the new watermark, in
    /// one transaction guarded by `fence`. An ASIN already queued for the same kind keeps its
    /// place and takes the newer `lastUpdate`.
    ///
    /// # Errors
    /// [`StoreError::StaleFence`] when `fence` is older than the stored one (nothing is
    /// written), and SQLite failures.
    pub fn record_discovery(
        &mut self,
        entries: &[BacklogEntry],
        rejections: &[(Asin, RejectionReason, KeepaMinute)],
        watermark: KeepaMinute,
        fence: Option<&Fence>,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        self.write("recording a discovery pass", |transaction, path| {
            if let Some(fence) = fence {
                check_and_record_fence(transaction, path, fence, now)?;
            }
            for &(asin, reason, last_update) in rejections {
                insert_rejection(transaction, path, asin, reason, Some(last_update), now)?;
            }
            let mut statement = transaction
                .prepare_cached(
                    "INSERT INTO backlog (asin, kind, keepa_last_update_minute, enqueued_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (asin, kind) DO UPDATE SET keepa_last_update_minute =
                         max(keepa_last_update_minute, excluded.keepa_last_update_minute)",
                )
                .context(path, "queueing discovered deals")?;
            for entry in entries {
                statement
                    .execute((
                        entry.asin.as_str(),
                        entry.kind.as_str(),
                        entry.keepa_last_update.0,
                        now.0,
                    ))
                    .context(path, "queueing discovered deals")?;
            }
            store_watermark(transaction, path, watermark, now)
        })
    }

    /// Claims up to `limit` unclaimed (or lapsed) entries of `kind`, oldest first, for
    /// `claimant` until `now + claim_for`, and answers them. Entries claimed by another worker
    /// and not yet lapsed are skipped.
    pub fn claim_backlog(
        &mut self,
        kind: BacklogKind,
        limit: usize,
        claimant: &str,
        now: UnixSeconds,
        claim_for: std::time::Duration,
    ) -> StoreResult<Vec<BacklogEntry>> {
        let until = now
            .0
            .saturating_add(i64::try_from(claim_for.as_secs()).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("claiming backlog entries", |transaction, path| {
            let mut statement = transaction
                .prepare_cached(
                    "UPDATE backlog SET claimed_by = ?1, claimed_until = ?2
                     WHERE (asin, kind) IN (
                         SELECT asin, kind FROM backlog
                         WHERE kind = ?3 AND (claimed_until IS NULL OR claimed_until <= ?4)
                         ORDER BY enqueued_at, asin LIMIT ?5)
                     RETURNING asin, keepa_last_update_minute, enqueued_at",
                )
                .context(path, "claiming backlog entries")?;
            let rows = statement
                .query_map((claimant, until, kind.as_str(), now.0, limit), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i32>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .context(path, "claiming backlog entries")?;
            let mut claimed = Vec::new();
            for row in rows {
                let (asin_text, minute, enqueued_at) =
                    row.context(path, "claiming backlog entries")?;
                let asin = parse_asin(path, &asin_text)?;
                claimed.push((
                    enqueued_at,
                    BacklogEntry {
                        asin,
                        keepa_last_update: KeepaMinute(minute),
                        kind,
                    },
                ));
            }
            // RETURNING gives no order; answer oldest first like `Reader::backlog`.
            claimed.sort_by_key(|(enqueued_at, entry)| (*enqueued_at, entry.asin));
            Ok(claimed.into_iter().map(|(_, entry)| entry).collect())
        })
    }

    /// Gives up every claim `claimant` holds (it is stopping), so other workers take the
    /// entries at once rather than when the claims lapse.
    pub fn release_claims(&mut self, claimant: &str) -> StoreResult<usize> {
        self.write("releasing backlog claims", |transaction, path| {
            transaction
                .execute(
                    "UPDATE backlog SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?1",
                    [claimant],
                )
                .context(path, "releasing backlog claims")
        })
    }

    /// Removes every backlog entry of `asin` (it was stored, rejected or quarantined).
    pub fn remove_from_backlog(&mut self, asin: Asin) -> StoreResult<usize> {
        self.write("removing a deal from the backlog", |transaction, path| {
            transaction
                .execute("DELETE FROM backlog WHERE asin = ?1", [asin.as_str()])
                .context(path, "removing a deal from the backlog")
        })
    }
}

impl Reader<'_> {
    /// Up to `limit` entries of `kind`, oldest first.
    pub fn backlog(&self, kind: BacklogKind, limit: usize) -> StoreResult<Vec<BacklogEntry>> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT asin, keepa_last_update_minute FROM backlog WHERE kind = ?1
                 ORDER BY enqueued_at, asin LIMIT ?2",
            )
            .context(self.path, "reading the backlog")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement
            .query_map((kind.as_str(), limit), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i32>(1)?))
            })
            .context(self.path, "reading the backlog")?;
        let mut entries = Vec::new();
        for row in rows {
            let (asin_text, minute) = row.context(self.path, "reading the backlog")?;
            let asin = asin_text
                .parse()
                .map_err(|_| StoreError::InvalidStoredValue {
                    path: self.path.to_path_buf(),
                    detail: format!("backlog.asin {asin_text:?} is not an asin"),
                })?;
            entries.push(BacklogEntry {
                asin,
                keepa_last_update: KeepaMinute(minute),
                kind,
            });
        }
        Ok(entries)
    }

    /// How many entries wait, of every kind.
    pub fn backlog_depth(&self) -> StoreResult<u64> {
        self.connection
            .query_row("SELECT count(*) FROM backlog", [], |row| {
                row.get::<_, i64>(0)
            })
            .context(self.path, "counting the backlog")
            .map(|n| u64::try_from(n).unwrap_or(0))
    }
}

fn parse_asin(path: &std::path::Path, text: &str) -> StoreResult<Asin> {
    text.parse().map_err(|_| StoreError::InvalidStoredValue {
        path: path.to_path_buf(),
        detail: format!("backlog.asin {text:?} is not an asin"),
    })
}
