//! deal-store: the SQLite database of keepa-deals — analysed deals, the
//! pipeline's state and the facts diagnostics need. It is the only crate that
//! links SQLite.
//!
//! # Shape
//!
//! - [`Writer`]: the one connection that writes. Every write method is one
//!   `BEGIN IMMEDIATE` transaction, committed when the method returns `Ok`.
//!   Opening it creates the file and runs the schema migrations.
//! - [`Readers`]: a small pool of query-only connections for the HTTP API;
//!   WAL mode lets them read while the writer commits. Each counts the API's
//!   matches in an in-memory copy of the valid deals that it brings up to
//!   date from the `deal_changes` log in the same read transaction, so a
//!   total is exact for its page's snapshot ([`StoreOptions::count_in_memory`]).
//! - [`Reader`]: the read queries, over the writer's connection
//!   ([`Writer::reader`]) or a pooled one ([`Readers::with`]).
//! - [`DealStore`]: the async facade — the same operations moved to tokio's
//!   blocking pool with `spawn_blocking`. The sync API is the primary one; the
//!   facade only wraps it.
//!
//! What is stored: deals ([`Writer::upsert_deal`], the `/api/deals` query
//! [`Reader::query_deals`]), rejections and the quarantine
//! ([`Writer::record_rejection`], [`Reader::should_analyse`],
//! [`Writer::record_failure`]), pipeline state (the watermark, key/values,
//! lease fences), event counters per minute, freshness queries and the
//! janitor. Online backups with [`backup_database`].
//!
//! What it does not do: decide anything about deals (deal-filters does), talk
//! to Keepa, keep time (every `now` is an argument), or stop a second process
//! from writing (the worker's instance lock does; here that shows up as
//! [`StoreError::Locked`]).

mod backlog;
mod backup;
mod connection;
mod counters;
mod deals;
mod error;
mod facade;
mod freshness;
mod matches;
mod query;
mod read;
mod rejections;
mod schema;
mod search;
mod state;

use std::path::Path;

use deal_filters::AnalysedDeal;

pub use backlog::{BacklogEntry, BacklogKind};
pub use backup::backup_database;
pub use connection::{Readers, StoreOptions, Synchronous, Writer};
pub use counters::{DAY_SECONDS, EventKind};
pub use deals::{DealSource, DealWrite, Fence, StoredDeal, condition_code};
pub use error::{StoreError, StoreResult};
pub use facade::DealStore;
pub use freshness::{AgeBuckets, JANITOR_AGE, STALE_RESCUE_AGE};
pub use query::{
    DealFilter, DealQuery, MAX_PAGE_LIMIT, PageLimit, SortColumn, SortOrder, VALIDITY_GATE_SQL,
};
pub use read::{DealPage, Reader};
pub use rejections::{FailureOutcome, QuarantineEntry, Rejection};
pub use schema::SCHEMA_VERSION;
pub use state::{
    MISSING_WATERMARK_LOOKBACK_MINUTES, ResolvedWatermark, StateEntry,
    WATERMARK_FUTURE_TOLERANCE_MINUTES, WatermarkOrigin, resolve_watermark,
};

impl Writer {
    /// Inserts or updates one deal in its own transaction: keeps
    /// `first_seen_at`, sets `last_seen_at` to `write.now`, records the source
    /// and the fence, and clears any rejection or failures of the ASIN.
    ///
    /// # Errors
    /// [`StoreError::StaleFence`] when `write.fence` is older than the one
    /// stored for its lease (nothing is written), [`StoreError::DiskFull`],
    /// [`StoreError::Locked`], and other SQLite failures.
    pub fn upsert_deal(&mut self, deal: &AnalysedDeal, write: DealWrite<'_>) -> StoreResult<()> {
        deals::upsert_deal(self, deal, write)
    }

    /// A consistent copy of the database at `destination` (see [`backup_database`]).
    pub fn backup_to(&self, destination: impl AsRef<Path>) -> StoreResult<()> {
        backup_database(&self.path, destination.as_ref())
    }
}

/// Creates (or migrates) the database at `path` to schema `version` only, for
/// tests of migrations from older versions. Not for production use.
#[doc(hidden)]
pub fn create_database_at_schema_version(path: impl AsRef<Path>, version: i64) -> StoreResult<()> {
    let path = path.as_ref();
    let mut connection = rusqlite::Connection::open(path)
        .map_err(|error| error::classify(path, "creating an old database", error))?;
    schema::migrate_to(&mut connection, path, version)
}

impl Readers {
    /// `/api/deals` on a pooled connection.
    pub fn query_deals(&self, query: &DealQuery) -> StoreResult<DealPage> {
        self.with(|reader| reader.query_deals(query))
    }

    /// `/api/deal-count` on a pooled connection.
    pub fn count_deals(&self, filter: &DealFilter) -> StoreResult<u64> {
        self.with(|reader| reader.count_deals(filter))
    }
}
