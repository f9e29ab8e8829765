//! [`Reader`]: read queries over one borrowed connection, the writer's or a
//! pooled one. The deal queries live here; the other modules add their own
//! read methods to [`Reader`] next to the writes they pair with.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use keepa_model::Asin;
use rusqlite::{Connection, OptionalExtension};

use crate::deals::{DEAL_COLUMNS, StoredDeal, collect_deals, stored_deal_from_row};
use crate::error::{ResultExt, StoreError, StoreResult};
use crate::matches::MatchCounter;
use crate::query::{DealFilter, DealQuery, count_query, page_query};

/// Read access to the store through one connection.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'connection> {
    pub(crate) connection: &'connection Connection,
    pub(crate) path: &'connection Path,
    /// A pooled connection's in-memory counter; `None` counts in SQL.
    pub(crate) counter: Option<&'connection Mutex<MatchCounter>>,
}

/// One page of `/api/deals`: the number of matching deals and the page's deals.
#[derive(Debug, Clone, PartialEq)]
pub struct DealPage {
    /// How many deals match the filters (all pages).
    pub total: u64,
    /// The deals of the requested page, in order.
    pub deals: Vec<StoredDeal>,
}

impl Reader<'_> {
    /// The database file.
    pub fn path(&self) -> &Path {
        self.path
    }

    /// The deal stored for `asin`, valid or not.
    pub fn deal(&self, asin: Asin) -> StoreResult<Option<StoredDeal>> {
        let sql = format!("SELECT {DEAL_COLUMNS} FROM deals WHERE asin = ?1");
        let row = self
            .connection
            .prepare_cached(&sql)
            .and_then(|mut statement| {
                statement
                    .query_row([asin.as_str()], stored_deal_from_row)
                    .optional()
            })
            .context(self.path, "reading a deal")?;
        row.transpose()
            .map_err(|detail| StoreError::InvalidStoredValue {
                path: self.path.to_path_buf(),
                detail,
            })
    }

    /// Every stored deal, valid or not, in ASIN order (for tests and exports;
    /// the API uses [`Reader::query_deals`]).
    pub fn all_deals(&self) -> StoreResult<Vec<StoredDeal>> {
        let sql = format!("SELECT {DEAL_COLUMNS} FROM deals ORDER BY asin");
        let mut statement = self
            .connection
            .prepare_cached(&sql)
            .context(self.path, "listing deals")?;
        let rows = statement
            .query_map([], stored_deal_from_row)
            .context(self.path, "listing deals")?;
        collect_deals(self.path, rows)
    }

    /// How many deals are stored, valid or not.
    pub fn stored_deal_count(&self) -> StoreResult<u64> {
        self.connection
            .prepare_cached("SELECT count(*) FROM deals")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .context(self.path, "counting deals")
    }

    /// `/api/deal-count`: how many valid deals match the filters.
    ///
    /// On a pooled connection ([`Readers`](crate::Readers)) the count comes
    /// from the connection's in-memory copy of the valid deals, brought up to
    /// date in the same read transaction (see `matches.rs`); on the writer's
    /// connection it is a `SELECT count(*)`. Both give the same answer.
    pub fn count_deals(&self, filter: &DealFilter) -> StoreResult<u64> {
        let Some(counter) = self.counter else {
            return self.count_deals_in_sql(filter);
        };
        let snapshot = SnapshotGuard::begin(self)?;
        let total = counter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .count(self.connection, self.path, filter)?;
        snapshot.end()?;
        Ok(total)
    }

    /// [`Reader::count_deals`] as a `SELECT count(*)`, whatever the connection.
    pub fn count_deals_in_sql(&self, filter: &DealFilter) -> StoreResult<u64> {
        let built = count_query(filter);
        self.connection
            .prepare_cached(&built.sql)
            .and_then(|mut statement| {
                statement.query_row(built.parameter_refs().as_slice(), |row| row.get(0))
            })
            .context(self.path, "counting deals for the api")
    }

    /// `/api/deals`: the total and one page of valid deals matching the filters.
    ///
    /// Both statements run in one read transaction, so the total and the page
    /// describe the same snapshot even while the writer commits.
    pub fn query_deals(&self, query: &DealQuery) -> StoreResult<DealPage> {
        let snapshot = SnapshotGuard::begin(self)?;
        let total = self.count_deals(&query.filter)?;
        let built = page_query(query, DEAL_COLUMNS);
        let mut statement = self
            .connection
            .prepare_cached(&built.sql)
            .context(self.path, "querying deals for the api")?;
        let rows = statement
            .query_map(built.parameter_refs().as_slice(), stored_deal_from_row)
            .context(self.path, "querying deals for the api")?;
        let deals = collect_deals(self.path, rows)?;
        snapshot.end()?;
        Ok(DealPage { total, deals })
    }

    /// The plan SQLite chooses for the page query and the count query of
    /// `query`, one `EXPLAIN QUERY PLAN` detail line per step.
    pub fn explain_query_plan(&self, query: &DealQuery) -> StoreResult<(Vec<String>, Vec<String>)> {
        let explain = |built: crate::query::BuiltQuery| -> StoreResult<Vec<String>> {
            let sql = format!("EXPLAIN QUERY PLAN {}", built.sql);
            let mut statement = self
                .connection
                .prepare(&sql)
                .context(self.path, "explaining a query")?;
            let rows = statement
                .query_map(built.parameter_refs().as_slice(), |row| {
                    row.get::<_, String>(3)
                })
                .context(self.path, "explaining a query")?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .context(self.path, "explaining a query")
        };
        Ok((
            explain(page_query(query, DEAL_COLUMNS))?,
            explain(count_query(&query.filter))?,
        ))
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound file, otherwise the problems found.
    pub fn integrity_check(&self) -> StoreResult<Vec<String>> {
        let mut statement = self
            .connection
            .prepare("PRAGMA integrity_check")
            .context(self.path, "checking integrity")?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .context(self.path, "checking integrity")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context(self.path, "checking integrity")
    }
}

/// A deferred read transaction; rolled back on drop (a read has nothing to commit).
struct SnapshotGuard<'reader> {
    connection: &'reader Connection,
    path: &'reader Path,
    open: bool,
}

impl<'reader> SnapshotGuard<'reader> {
    fn begin(reader: &Reader<'reader>) -> StoreResult<Self> {
        // The writer's own connection may already be inside a transaction
        // (never between calls, but be safe): then the reads share it.
        let open = reader.connection.is_autocommit();
        if open {
            reader
                .connection
                .execute_batch("BEGIN DEFERRED")
                .context(reader.path, "starting a read snapshot")?;
        }
        Ok(SnapshotGuard {
            connection: reader.connection,
            path: reader.path,
            open,
        })
    }

    fn end(mut self) -> StoreResult<()> {
        if self.open {
            self.open = false;
            self.connection
                .execute_batch("COMMIT")
                .context(self.path, "ending a read snapshot")?;
        }
        Ok(())
    }
}

impl Drop for SnapshotGuard<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing was written; a failure to roll back leaves a read
            // transaction that the next BEGIN reports.
            let _ = self.connection.execute_batch("ROLLBACK");
        }
    }
}
