//! The schema, as an ordered list of migrations tracked by `PRAGMA user_version`.
//!
//! Migration `n` (1-based) moves a database from version `n − 1` to `n`. A new
//! database runs them all; an older one runs the missing ones, each in one
//! `BEGIN IMMEDIATE` transaction together with its `user_version` bump, so a
//! crash mid-migration leaves the previous version intact. A database newer
//! than [`SCHEMA_VERSION`] is refused, never downgraded. Migrations are
//! append-only: never edit one that has shipped.
//!
//! Types: money is INTEGER cents, instants are INTEGER Unix seconds (Keepa
//! minutes where the column name says so), percentages are REAL, booleans are
//! INTEGER 0/1. Tables are `STRICT`, so SQLite itself refuses a wrongly typed
//! value. Indexes are explained next to their definitions.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{ResultExt, StoreError, StoreResult};
use crate::search;

/// Version 1: deals, rejections, quarantine, pipeline state, lease fences.
const MIGRATION_1: &str = r"
CREATE TABLE deals (
    asin                         TEXT    NOT NULL PRIMARY KEY CHECK (length(asin) = 10),
    title                        TEXT    NOT NULL,
    brand                        TEXT,
    root_category                INTEGER,
    keepa_last_update_minute     INTEGER,
    analysed_at                  INTEGER NOT NULL,
    refreshed_at                 INTEGER NOT NULL,
    buy_price_type               INTEGER NOT NULL,
    price_now                    INTEGER NOT NULL,
    buy_shipping                 INTEGER NOT NULL,
    seller_id                    TEXT,
    seller_is_fba                INTEGER CHECK (seller_is_fba IN (0, 1)),
    condition_code               INTEGER,
    seller_quality               REAL,
    fba_fee                      INTEGER NOT NULL,
    fba_fee_is_default           INTEGER NOT NULL CHECK (fba_fee_is_default IN (0, 1)),
    referral_fee_percent         REAL    NOT NULL,
    referral_fee_is_default      INTEGER NOT NULL CHECK (referral_fee_is_default IN (0, 1)),
    tax                          INTEGER NOT NULL,
    prep_fee                     INTEGER NOT NULL,
    inbound_shipping             INTEGER NOT NULL,
    all_in_cost                  INTEGER NOT NULL,
    list_at                      INTEGER,
    list_at_implausible          INTEGER NOT NULL CHECK (list_at_implausible IN (0, 1)),
    total_fees                   INTEGER,
    profit                       INTEGER,
    margin_percent               REAL,
    roi_percent                  REAL,
    min_listing_price            INTEGER,
    one_year_average             INTEGER,
    one_year_average_is_estimate INTEGER NOT NULL CHECK (one_year_average_is_estimate IN (0, 1)),
    percent_down                 REAL,
    inferred_sales               INTEGER NOT NULL,
    inferred_sales_last_year     INTEGER NOT NULL,
    offer_drops                  INTEGER NOT NULL,
    deal_trust_percent           REAL,
    price_trend                  TEXT CHECK (price_trend IN ('up', 'flat', 'down')),
    new_offer_trend              TEXT CHECK (new_offer_trend IN ('up', 'flat', 'down')),
    used_offer_trend             TEXT CHECK (used_offer_trend IN ('up', 'flat', 'down')),
    sales_rank                   INTEGER,
    drops_30                     INTEGER,
    drops_90                     INTEGER,
    drops_365                    INTEGER,
    amazon_sells                 INTEGER NOT NULL CHECK (amazon_sells IN (0, 1)),
    first_seen_at                INTEGER NOT NULL,
    last_seen_at                 INTEGER NOT NULL,
    source                       TEXT    NOT NULL CHECK (source IN ('discovery', 'analysis', 'refresh', 'rescue')),
    lease                        TEXT,
    fencing_number               INTEGER
) STRICT;

-- Freshness: stale rescue (oldest first), the janitor and the age buckets all
-- range-scan last_seen_at.
CREATE INDEX deals_by_last_seen ON deals (last_seen_at);

CREATE TABLE rejections (
    asin                     TEXT    NOT NULL PRIMARY KEY CHECK (length(asin) = 10),
    reason                   TEXT    NOT NULL,
    rejected_at              INTEGER NOT NULL,
    keepa_last_update_minute INTEGER
) STRICT;

CREATE TABLE quarantine (
    asin            TEXT    NOT NULL PRIMARY KEY CHECK (length(asin) = 10),
    attempts        INTEGER NOT NULL CHECK (attempts > 0),
    last_error      TEXT    NOT NULL,
    first_failed_at INTEGER NOT NULL,
    last_failed_at  INTEGER NOT NULL,
    quarantined_at  INTEGER
) STRICT;

CREATE TABLE watermark (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    keepa_minute INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE pipeline_state (
    key        TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE fences (
    lease          TEXT    NOT NULL PRIMARY KEY,
    fencing_number INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
";

/// Version 2: event counters and the indexes behind the API query.
///
/// The API indexes are partial on the validity gate, which every API query
/// carries verbatim (`profit > 0 AND list_at > 0 AND one_year_average > 0`),
/// so they hold only the rows the API can show. What `EXPLAIN QUERY PLAN`
/// showed at 100,000 deals (the bench prints the plans; `tests/it/query_plans.rs`
/// keeps the main ones true):
/// - with only the primary key, pages were `SCAN deals` + `USE TEMP B-TREE FOR
///   ORDER BY`; a sort column without its own index (deal trust, before
///   `deals_valid_by_deal_trust`) gave `SEARCH … USING INDEX
///   deals_valid_by_profit` + a temp b-tree over 70,000 row lookups: 105 ms;
/// - with `(sort column, asin)` indexes a page is `SEARCH deals USING INDEX
///   deals_valid_by_<column>` with no temp b-tree, stopping after `limit` rows
///   when the filters are not selective (1–5 ms). Margin, List at, price now,
///   one-year average, first seen and title sorts have no index and sort;
/// - the count first chose `deals_valid_by_profit` and looked up every row; an
///   index is only *covering* for SQLite when it also holds the gate's columns,
///   hence `list_at, one_year_average` at the end of `deals_valid_filters`:
///   now `SEARCH deals USING COVERING INDEX deals_valid_filters (profit>?)`;
/// - a keyword count looked up 70,000 titles (140 ms); `deals_valid_search`
///   makes it `USING COVERING INDEX deals_valid_search` (8 ms). A keyword with
///   other numeric filters still looks rows up.
const MIGRATION_2: &str = r"
CREATE TABLE event_counts (
    kind        TEXT    NOT NULL CHECK (kind IN ('error', 'rejection')),
    label       TEXT    NOT NULL,
    unix_minute INTEGER NOT NULL,
    count       INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (kind, label, unix_minute)
) STRICT, WITHOUT ROWID;
CREATE INDEX event_counts_by_minute ON event_counts (unix_minute);

CREATE INDEX deals_valid_filters ON deals (
    profit, roi_percent, percent_down, drops_30, sales_rank, deal_trust_percent,
    seller_quality, amazon_sells, condition_code, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_profit ON deals (profit, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_roi ON deals (roi_percent, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_percent_down ON deals (percent_down, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_sales_rank ON deals (sales_rank, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_drops_30 ON deals (drops_30, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_deal_trust ON deals (deal_trust_percent, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_seller_quality ON deals (seller_quality, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_search ON deals (profit, title, brand, asin, list_at, one_year_average)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_last_seen ON deals (last_seen_at, asin)
    WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
";

/// Version 3: the backlog, the durable queue between discovery and the tasks that fetch
/// products. An ASIN is queued at most once per kind; discovery's watermark only passes deals
/// that are stored, rejected or queued here. A worker claims entries for a while before it
/// fetches them, so that workers sharing the database never fetch the same product twice.
const MIGRATION_3: &str = r"
CREATE TABLE backlog (
    asin                     TEXT    NOT NULL,
    kind                     TEXT    NOT NULL CHECK (kind IN ('analyse', 'refresh')),
    keepa_last_update_minute INTEGER NOT NULL,
    enqueued_at              INTEGER NOT NULL,
    claimed_by               TEXT,
    claimed_until            INTEGER,
    PRIMARY KEY (asin, kind)
) STRICT, WITHOUT ROWID;
CREATE INDEX backlog_by_age ON backlog (kind, enqueued_at, asin);
";

/// Version 4: the API's sort indexes carry every filter column, so that
/// counts and pages read indexes only (docs/benchmarks.md, store).
///
/// What `EXPLAIN QUERY PLAN` and the bench showed with version 2's indexes at
/// 100,000 deals (70,770 valid): every count but the keyword's ran on
/// `deals_valid_filters (profit>?)`, the one index that covered the filters, so
/// it visited all 70,770 valid deals whatever the filters; SQLite omits the
/// gate's terms inside a partial index, so a count with no filter costs about
/// 10 ns per entry (0.7 ms), but any other term makes it decode each entry
/// (about 40 ns: `sales_rank <= 100000`, 3,142 matches, took 2.0 ms; ROI ≥ 20
/// with Amazon hidden 3.5 ms). The `(column, asin)` indexes could not count:
/// without the gate's and the other filters' columns they were not covering.
///
/// Now each sort index is `(column, asin, every other filter column, list_at,
/// one_year_average)`, partial on the gate. The other filter columns come
/// smallest first (the 0/1 and small integers before the REALs): a filter is
/// checked by parsing the entry's header up to its column, and moving
/// `amazon_sells` from ninth to third place took the ROI count from 2.2 to
/// 1.9 ms.
/// - a count seeks the range of one of its filters and checks the others
///   inside the index: `SEARCH deals USING COVERING INDEX
///   deals_valid_by_sales_rank (sales_rank<?)` in 0.06 ms, ROI 2.0 ms, deal
///   trust + seller quality + condition 0.7 ms (was 3.5 ms). Which filter:
///   the planner compares their ranges with the `sqlite_stat4` samples that
///   `Writer::optimize` writes and the bound values (the bench's percent down
///   ≥ 30 with drops ≥ 3 seeks the percent, 50,000 entries, not the drops,
///   63,000); without those samples every range looks alike to it;
/// - a page still walks `(column, asin)` in order without a temp b-tree, and
///   SQLite tests the filters on the index entry before it fetches the row
///   (`DeferredSeek`), so only the rows of the page are read from the table.
///
/// The wide indexes cost the writer: each is about 5 MB at 100,000 deals instead
/// of 2 MB, and the upsert rewrites entries of the same number of indexes.
const MIGRATION_4: &str = r"
DROP INDEX deals_valid_filters;
DROP INDEX deals_valid_by_profit;
DROP INDEX deals_valid_by_roi;
DROP INDEX deals_valid_by_percent_down;
DROP INDEX deals_valid_by_drops_30;
DROP INDEX deals_valid_by_sales_rank;
DROP INDEX deals_valid_by_deal_trust;
DROP INDEX deals_valid_by_seller_quality;
DROP INDEX deals_valid_by_last_seen;

CREATE INDEX deals_valid_by_profit ON deals (
    profit, asin, amazon_sells, condition_code, drops_30, sales_rank, roi_percent, percent_down,
    deal_trust_percent, seller_quality, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_roi ON deals (
    roi_percent, asin, amazon_sells, condition_code, drops_30, sales_rank, profit, percent_down,
    deal_trust_percent, seller_quality, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_percent_down ON deals (
    percent_down, asin, amazon_sells, condition_code, drops_30, sales_rank, profit, roi_percent,
    deal_trust_percent, seller_quality, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_drops_30 ON deals (
    drops_30, asin, amazon_sells, condition_code, sales_rank, profit, roi_percent, percent_down,
    deal_trust_percent, seller_quality, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_sales_rank ON deals (
    sales_rank, asin, amazon_sells, condition_code, drops_30, profit, roi_percent, percent_down,
    deal_trust_percent, seller_quality, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_deal_trust ON deals (
    deal_trust_percent, asin, amazon_sells, condition_code, drops_30, sales_rank, profit,
    roi_percent, percent_down, seller_quality, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_seller_quality ON deals (
    seller_quality, asin, amazon_sells, condition_code, drops_30, sales_rank, profit, roi_percent,
    percent_down, deal_trust_percent, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
CREATE INDEX deals_valid_by_last_seen ON deals (
    last_seen_at, asin, amazon_sells, condition_code, drops_30, sales_rank, profit, roi_percent,
    percent_down, deal_trust_percent, seller_quality, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
";

/// Version 5: the keyword prefilter (`search.rs`) and a search index that
/// covers every filter.
///
/// A keyword count at 100,000 deals ran three `LIKE`s on each of the 65,461
/// index entries in its profit range (`widget`, profit ≥ $10: 5.5 ms). The new
/// column holds a 64-bit signature of the trigrams of the title, brand and
/// ASIN, filled here by the Rust function `deal_search_trigrams` and then by
/// every upsert; the count tests it on the index entry first and runs the
/// `LIKE`s only on the rows it lets through (12,987, of which 12,885 match):
/// 2.9 ms. Its default, −1, has every bit set, so a row written without the
/// signature is still found. The index holds every other filter column, so a
/// keyword with numeric filters no longer looks rows up. It leads with
/// `(profit, asin)`, the order of a keyword page sorted by profit, although
/// the planner prefers `deals_valid_by_profit` for those pages today.
const MIGRATION_5: &str = r"
ALTER TABLE deals ADD COLUMN search_trigrams INTEGER NOT NULL DEFAULT -1;
UPDATE deals SET search_trigrams = deal_search_trigrams(title, brand, asin);

DROP INDEX deals_valid_search;
CREATE INDEX deals_valid_search ON deals (
    profit, asin, search_trigrams, amazon_sells, condition_code, drops_30, sales_rank, roi_percent,
    percent_down, deal_trust_percent, seller_quality, title, brand, list_at, one_year_average
) WHERE profit > 0 AND list_at > 0 AND one_year_average > 0;
";

/// Version 6: the log of changed deals that the read connections' in-memory
/// counters catch up from (`matches.rs`).
///
/// The triggers append one entry per inserted, replaced, updated or deleted
/// row, whoever writes (`INSERT OR REPLACE` fires the insert trigger only).
/// `seq` is an INTEGER PRIMARY KEY without AUTOINCREMENT: a new entry gets
/// the largest `seq` plus one, and the writer prunes from the oldest end but
/// never deletes the newest entry, so `seq` only grows. The first entry,
/// written here, marks the log's start.
const MIGRATION_6: &str = r"
CREATE TABLE deal_changes (
    seq  INTEGER PRIMARY KEY,
    asin TEXT    NOT NULL
) STRICT;
INSERT INTO deal_changes (seq, asin) VALUES (1, '');

CREATE TRIGGER deal_changes_after_insert AFTER INSERT ON deals BEGIN
    INSERT INTO deal_changes (asin) VALUES (NEW.asin);
END;
CREATE TRIGGER deal_changes_after_update AFTER UPDATE ON deals BEGIN
    INSERT INTO deal_changes (asin) VALUES (NEW.asin);
    INSERT INTO deal_changes (asin) SELECT OLD.asin WHERE OLD.asin <> NEW.asin;
END;
CREATE TRIGGER deal_changes_after_delete AFTER DELETE ON deals BEGIN
    INSERT INTO deal_changes (asin) VALUES (OLD.asin);
END;
";

/// The migrations in order; index `i` holds migration `i + 1`.
const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads `PRAGMA user_version`.
pub(crate) fn schema_version(connection: &Connection, path: &Path) -> StoreResult<i64> {
    connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .context(path, "reading the schema version")
}

/// Brings the database to [`SCHEMA_VERSION`], refusing a newer one.
pub(crate) fn migrate(connection: &mut Connection, path: &Path) -> StoreResult<()> {
    migrate_to(connection, path, SCHEMA_VERSION)
}

/// Brings the database to `target` (≤ [`SCHEMA_VERSION`]); tests use it to build old databases.
pub(crate) fn migrate_to(connection: &mut Connection, path: &Path, target: i64) -> StoreResult<()> {
    // Migration 5 fills a column with a Rust function.
    search::register_signature_function(connection)
        .context(path, "registering the search signature function")?;
    loop {
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context(path, "starting a migration")?;
        // Read the version inside the write transaction: two processes opening
        // the same old file cannot both run a migration.
        let found = schema_version(&transaction, path)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found >= target {
            return Ok(());
        }
        let next_migration = MIGRATIONS[usize::try_from(found).unwrap_or(0)];
        transaction
            .execute_batch(next_migration)
            .context(path, "running a schema migration")?;
        transaction
            .pragma_update(None, "user_version", found + 1)
            .context(path, "recording the schema version")?;
        transaction
            .commit()
            .context(path, "committing a migration")?;
    }
}
