//! Counting the matches of `/api/deals` and `/api/deal-count` in memory.
//!
//! A count in SQL visits every index entry in its range: 50,000–65,000 for
//! the dashboard's broad filters at 100,000 deals, 4–8 ms on the 2-vCPU
//! machines we run on, and about twice that while the writer commits, since
//! each read that finds a new commit starts with an empty page cache
//! (docs/benchmarks.md, store). The page itself costs 0.2 ms. So each pooled
//! read connection keeps a [`MatchCounter`]: the filter columns of every
//! valid deal, held in memory, in which a count is a loop over plain structs.
//!
//! # Why a count is exact
//!
//! The counter is brought up to date *inside the read transaction* that then
//! counts (and reads the page), from the `deal_changes` log (migration 6):
//! triggers on `deals` append the ASIN of every inserted, replaced, updated or
//! deleted row, with an increasing `seq`. The counter remembers the last `seq`
//! it applied; catching up reads the newer entries with the current row of
//! each ASIN, in the same snapshot as the page. So a count describes exactly
//! the snapshot its page comes from, whatever the writer (this process, a tool,
//! the `sqlite3` shell) did. The writer prunes the log's oldest entries
//! ([`PRUNE_KEEP`]); a counter that fell behind what was pruned, or far
//! behind ([`REBUILD_AFTER`]), or that finds the log older than itself (a
//! restored file), reads every valid deal again.
//!
//! The predicates below are the SQL of `query.rs` in Rust; the property tests
//! in `tests/it/filters.rs` and `tests/it/matches.rs` hold the two (and the
//! reference filter) to the same answers.
//!
//! # Cost
//!
//! About 225 bytes of memory per valid deal per pooled connection that has
//! counted (16 MB for the bench's 70,770 valid deals, measured as the growth
//! of the process's anonymous memory), built on a connection's first count
//! (135 ms for those deals); one `deal_changes` row per deal write.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use rusqlite::{Connection, Row};

use crate::error::{ResultExt, StoreResult};
use crate::query::{DealFilter, VALIDITY_GATE_SQL, excluded_condition_mask};
use crate::search;

/// The log entries the writer keeps; older ones are deleted (see [`PRUNE_KEEP`]'s use in
/// `connection.rs`).
pub(crate) const PRUNE_KEEP: u32 = 50_000;

/// A counter more than this many log entries behind reads every deal again
/// rather than applying them one by one.
const REBUILD_AFTER: i64 = 20_000;

/// The columns a count needs, gate-passing rows only.
static FULL_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT asin, title, brand, profit, roi_percent, percent_down, drops_30, sales_rank, \
         deal_trust_percent, seller_quality, amazon_sells, condition_code, search_trigrams \
         FROM deals WHERE {VALIDITY_GATE_SQL}"
    )
});

/// The log entries after `?1` with the current row of each ASIN (absent when
/// deleted) and whether it passes the gate (the gate's columns are the
/// deal's: the log has none of them).
static CHANGES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.asin, d.title, d.brand, d.profit, d.roi_percent, d.percent_down, d.drops_30, \
         d.sales_rank, d.deal_trust_percent, d.seller_quality, d.amazon_sells, d.condition_code, \
         d.search_trigrams, coalesce({VALIDITY_GATE_SQL}, 0) \
         FROM deal_changes AS c LEFT JOIN deals AS d ON d.asin = c.asin \
         WHERE c.seq > ?1 ORDER BY c.seq"
    )
});

/// The oldest and newest log entries (0 when the log is empty).
const LOG_BOUNDS_SQL: &str = "SELECT coalesce((SELECT min(seq) FROM deal_changes), 0), \
    coalesce((SELECT max(seq) FROM deal_changes), 0)";

/// Texts left behind by replaced and removed deals are dropped once they are
/// half of [`Table::text`] and at least this many bytes.
const COMPACT_MIN_GARBAGE: usize = 1 << 20;

const AMAZON_SELLS: u8 = 1;
const HAS_DROPS: u8 = 2;
const HAS_RANK: u8 = 4;
const HAS_CONDITION: u8 = 8;

/// The numeric filter columns of one valid deal. An unknown REAL is NaN,
/// which fails every `>=` as SQL's NULL does; unknown integers have a flag.
#[derive(Debug, Clone, Copy)]
struct Numbers {
    profit: i64,
    sales_rank: i64,
    drops_30: i64,
    condition_code: i64,
    roi: f64,
    percent_down: f64,
    deal_trust: f64,
    seller_quality: f64,
    trigrams: i64,
    flags: u8,
}

/// The keyword's fields of one deal, ASCII-lowercased (what `LIKE`
/// compares), as read.
struct Texts {
    title: String,
    brand: Option<String>,
    asin: String,
}

/// Where one deal's [`Texts`] are in [`Table::text`]: the title from
/// `start`, then the brand, then the ASIN.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    title: u32,
    /// `u32::MAX` when the deal has no brand.
    brand: u32,
    asin: u32,
}

const NO_BRAND: u32 = u32::MAX;

/// One valid deal's row, as read.
struct Entry {
    numbers: Numbers,
    texts: Texts,
}

/// Reads columns 1–12 of [`FULL_SQL`] / [`CHANGES_SQL`] (column 0 is the ASIN).
fn entry_from_row(row: &Row<'_>, asin: &str) -> rusqlite::Result<Entry> {
    let real = |index: usize| -> rusqlite::Result<f64> {
        Ok(row.get::<_, Option<f64>>(index)?.unwrap_or(f64::NAN))
    };
    let mut flags = 0;
    let mut flagged = |index: usize, flag: u8| -> rusqlite::Result<i64> {
        Ok(match row.get::<_, Option<i64>>(index)? {
            Some(value) => {
                flags |= flag;
                value
            }
            None => 0,
        })
    };
    let drops_30 = flagged(6, HAS_DROPS)?;
    let sales_rank = flagged(7, HAS_RANK)?;
    let condition_code = flagged(11, HAS_CONDITION)?;
    if row.get::<_, i64>(10)? != 0 {
        flags |= AMAZON_SELLS;
    }
    let lowercase = |text: &str| text.to_ascii_lowercase();
    Ok(Entry {
        numbers: Numbers {
            profit: row.get(3)?,
            sales_rank,
            drops_30,
            condition_code,
            roi: real(4)?,
            percent_down: real(5)?,
            deal_trust: real(8)?,
            seller_quality: real(9)?,
            trigrams: row.get(12)?,
            flags,
        },
        texts: Texts {
            title: lowercase(&row.get::<_, String>(1)?),
            brand: row.get::<_, Option<String>>(2)?.as_deref().map(lowercase),
            asin: lowercase(asin),
        },
    })
}

/// The valid deals of one snapshot.
///
/// The texts live in one string, not one allocation each: a keyword count
/// reads the texts of thousands of deals, and scattered allocations made
/// that a cache miss per field (3.1 ms for `widget` at 70,000 valid deals).
/// Replaced and removed texts stay behind until they are half of the string,
/// which is then rewritten in slot order.
#[derive(Debug, Default)]
struct Table {
    /// The newest log entry applied.
    applied_through: i64,
    slots: HashMap<Box<str>, usize>,
    asins: Vec<Box<str>>,
    numbers: Vec<Numbers>,
    spans: Vec<Span>,
    text: String,
    /// Bytes of `text` no span points to.
    garbage: usize,
}

impl Table {
    fn put(&mut self, asin: &str, entry: Entry) {
        if let Some(&slot) = self.slots.get(asin) {
            self.numbers[slot] = entry.numbers;
            if self.texts_of(slot) != entry.texts.as_parts() {
                self.garbage += self.spans[slot].len();
                self.spans[slot] = self.append(&entry.texts);
                self.compact_if_wasteful();
            }
        } else {
            self.slots.insert(asin.into(), self.numbers.len());
            self.asins.push(asin.into());
            self.numbers.push(entry.numbers);
            let span = self.append(&entry.texts);
            self.spans.push(span);
        }
    }

    fn remove(&mut self, asin: &str) {
        let Some(slot) = self.slots.remove(asin) else {
            return;
        };
        self.garbage += self.spans[slot].len();
        self.asins.swap_remove(slot);
        self.numbers.swap_remove(slot);
        self.spans.swap_remove(slot);
        if let Some(moved) = self.asins.get(slot) {
            self.slots.insert(moved.clone(), slot);
        }
        self.compact_if_wasteful();
    }

    fn append(&mut self, texts: &Texts) -> Span {
        let (title, brand, asin) = texts.as_parts();
        let start = self.text.len();
        self.text.push_str(title);
        self.text.push_str(brand.unwrap_or(""));
        self.text.push_str(asin);
        let length = |text: &str| u32::try_from(text.len()).unwrap_or(u32::MAX);
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            title: length(title),
            brand: brand.map_or(NO_BRAND, length),
            asin: length(asin),
        }
    }

    /// The title, brand and ASIN of the deal in `slot`.
    fn texts_of(&self, slot: usize) -> (&str, Option<&str>, &str) {
        let span = self.spans[slot];
        let start = span.start as usize;
        let title_end = start + span.title as usize;
        let brand_end = title_end + span.brand_len();
        let brand = (span.brand != NO_BRAND).then(|| &self.text[title_end..brand_end]);
        (
            &self.text[start..title_end],
            brand,
            &self.text[brand_end..brand_end + span.asin as usize],
        )
    }

    fn compact_if_wasteful(&mut self) {
        if self.garbage < COMPACT_MIN_GARBAGE || self.garbage < self.text.len() / 2 {
            return;
        }
        let old = std::mem::take(&mut self.text);
        let old_spans = std::mem::take(&mut self.spans);
        self.text.reserve(old.len() - self.garbage);
        self.garbage = 0;
        for span in old_spans {
            let start = span.start as usize;
            let moved_start = self.text.len();
            self.text.push_str(&old[start..start + span.len()]);
            self.spans.push(Span {
                start: u32::try_from(moved_start).unwrap_or(u32::MAX),
                ..span
            });
        }
    }
}

impl Span {
    fn brand_len(self) -> usize {
        if self.brand == NO_BRAND {
            0
        } else {
            self.brand as usize
        }
    }

    fn len(self) -> usize {
        self.title as usize + self.brand_len() + self.asin as usize
    }
}

impl Texts {
    fn as_parts(&self) -> (&str, Option<&str>, &str) {
        (&self.title, self.brand.as_deref(), &self.asin)
    }
}

/// One read connection's in-memory copy of what the API counts (see the
/// module documentation). Empty until its first count.
#[derive(Debug, Default)]
pub(crate) struct MatchCounter {
    table: Option<Table>,
}

impl MatchCounter {
    /// How many valid deals match `filter` in the snapshot of `connection`'s
    /// open read transaction, which the caller holds until it has also read
    /// the page: the copy is first brought to that snapshot.
    pub(crate) fn count(
        &mut self,
        connection: &Connection,
        path: &Path,
        filter: &DealFilter,
    ) -> StoreResult<u64> {
        let (oldest, newest): (i64, i64) = connection
            .prepare_cached(LOG_BOUNDS_SQL)
            .and_then(|mut statement| statement.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
            .context(path, "reading the deal change log")?;
        let table = match self.table.as_mut() {
            Some(table) if table.applied_through == newest => table,
            // Entries after `applied_through` are all still there when nothing
            // newer than it was pruned (the log is pruned from its oldest end).
            Some(table)
                if newest > table.applied_through
                    && oldest <= table.applied_through.saturating_add(1)
                    && newest - table.applied_through <= REBUILD_AFTER =>
            {
                table.apply_changes(connection, path, newest)?;
                table
            }
            _ => self.table.insert(Table::read(connection, path, newest)?),
        };
        Ok(table.count(filter))
    }
}

impl Table {
    /// Every valid deal, as of log entry `newest`.
    fn read(connection: &Connection, path: &Path, newest: i64) -> StoreResult<Table> {
        const READING: &str = "reading the deals to count";
        let mut table = Table {
            applied_through: newest,
            ..Table::default()
        };
        let mut statement = connection
            .prepare_cached(&FULL_SQL)
            .context(path, READING)?;
        let mut rows = statement.query([]).context(path, READING)?;
        while let Some(row) = rows.next().context(path, READING)? {
            let asin: String = row.get(0).context(path, READING)?;
            let entry = entry_from_row(row, &asin).context(path, READING)?;
            table.put(&asin, entry);
        }
        Ok(table)
    }

    /// Applies the log entries after `applied_through`, up to `newest`.
    /// Applying one twice gives the same table, so an error half-way leaves
    /// a table that the next catch-up completes.
    fn apply_changes(
        &mut self,
        connection: &Connection,
        path: &Path,
        newest: i64,
    ) -> StoreResult<()> {
        const READING: &str = "reading the deal change log";
        let mut statement = connection
            .prepare_cached(&CHANGES_SQL)
            .context(path, READING)?;
        let mut rows = statement
            .query([self.applied_through])
            .context(path, READING)?;
        while let Some(row) = rows.next().context(path, READING)? {
            let asin: String = row.get(0).context(path, READING)?;
            let valid: i64 = row.get(13).context(path, READING)?;
            if valid == 0 {
                self.remove(&asin);
            } else {
                let entry = entry_from_row(row, &asin).context(path, READING)?;
                self.put(&asin, entry);
            }
        }
        self.applied_through = newest;
        Ok(())
    }

    /// How many of the deals match `filter`.
    fn count(&self, filter: &DealFilter) -> u64 {
        let test = NumberTest::new(filter);
        let keyword = filter
            .keyword
            .as_deref()
            .filter(|keyword| !keyword.is_empty());
        let matches = match keyword {
            None => self
                .numbers
                .iter()
                .filter(|numbers| test.passes(numbers))
                .count(),
            Some(keyword) => {
                let signature = search::keyword_trigrams(keyword);
                let keyword = keyword.to_ascii_lowercase();
                // Built once: `str::contains` would set up a searcher per field.
                let finder = Finder::new(keyword.as_bytes());
                let found = |text: &str| finder.find(text.as_bytes()).is_some();
                (0..self.numbers.len())
                    .filter(|&slot| {
                        let numbers = &self.numbers[slot];
                        numbers.trigrams & signature == signature && test.passes(numbers) && {
                            let (title, brand, asin) = self.texts_of(slot);
                            found(title) || brand.is_some_and(found) || found(asin)
                        }
                    })
                    .count()
            }
        };
        matches as u64
    }
}

/// The numeric filters of a [`DealFilter`], as `query.rs` writes them in SQL.
struct NumberTest {
    profit_gte: Option<i64>,
    roi_gte: Option<f64>,
    percent_down_gte: Option<f64>,
    drops_30_gte: Option<i64>,
    sales_rank_lte: Option<i64>,
    deal_trust_gte: Option<f64>,
    seller_quality_gte: Option<f64>,
    hide_amazon: bool,
    excluded_conditions: Option<i64>,
}

impl NumberTest {
    fn new(filter: &DealFilter) -> NumberTest {
        NumberTest {
            profit_gte: filter.profit_gte.map(|cents| cents.0),
            roi_gte: filter.roi_gte,
            percent_down_gte: filter.percent_down_gte,
            drops_30_gte: filter.drops_30_gte.map(i64::from),
            sales_rank_lte: filter.sales_rank_lte,
            deal_trust_gte: filter.deal_trust_gte,
            seller_quality_gte: filter.seller_quality_gte,
            hide_amazon: filter.hide_amazon,
            excluded_conditions: excluded_condition_mask(filter),
        }
    }

    fn passes(&self, numbers: &Numbers) -> bool {
        // A NaN bound (SQL binds it as NULL) or a NaN value fails `>=`, as NULL does.
        let at_least = |value: f64, bound: Option<f64>| bound.is_none_or(|bound| value >= bound);
        let has = |flag: u8| numbers.flags & flag != 0;
        self.profit_gte.is_none_or(|bound| numbers.profit >= bound)
            && at_least(numbers.roi, self.roi_gte)
            && at_least(numbers.percent_down, self.percent_down_gte)
            && self
                .drops_30_gte
                .is_none_or(|bound| has(HAS_DROPS) && numbers.drops_30 >= bound)
            && self
                .sales_rank_lte
                .is_none_or(|bound| has(HAS_RANK) && numbers.sales_rank <= bound)
            && at_least(numbers.deal_trust, self.deal_trust_gte)
            && at_least(numbers.seller_quality, self.seller_quality_gte)
            && !(self.hide_amazon && has(AMAZON_SELLS))
            && self.excluded_conditions.is_none_or(|mask| {
                !has(HAS_CONDITION)
                    || !(0..=62).contains(&numbers.condition_code)
                    || (mask >> numbers.condition_code) & 1 == 0
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{COMPACT_MIN_GARBAGE, Entry, Numbers, Table, Texts};

    fn entry(title: &str, brand: Option<&str>, asin: &str) -> Entry {
        Entry {
            numbers: Numbers {
                profit: 1,
                sales_rank: 0,
                drops_30: 0,
                condition_code: 0,
                roi: f64::NAN,
                percent_down: f64::NAN,
                deal_trust: f64::NAN,
                seller_quality: f64::NAN,
                trigrams: -1,
                flags: 0,
            },
            texts: Texts {
                title: title.to_owned(),
                brand: brand.map(str::to_owned),
                asin: asin.to_owned(),
            },
        }
    }

    fn texts(table: &Table, asin: &str) -> (String, Option<String>, String) {
        let (title, brand, asin) = table.texts_of(table.slots[asin]);
        (title.to_owned(), brand.map(str::to_owned), asin.to_owned())
    }

    #[test]
    fn replaced_and_removed_texts_are_compacted_and_the_rest_kept() {
        let mut table = Table::default();
        table.put(
            "b000000001",
            entry("kept title", Some("acme"), "b000000001"),
        );
        table.put("b000000002", entry("no brand", None, "b000000002"));
        table.put("b000000003", entry("empty brand", Some(""), "b000000003"));
        table.put("b000000004", entry("removed", None, "b000000004"));
        table.remove("b000000004");
        // Rewrite one deal's title until its old titles pass the threshold.
        let long_title = "x".repeat(1_000);
        let mut rewrites = 0;
        let mut most_garbage = 0;
        loop {
            let title = format!("{rewrites} {long_title}");
            table.put("b000000002", entry(&title, None, "b000000002"));
            rewrites += 1;
            if table.garbage == 0 {
                break;
            }
            most_garbage = most_garbage.max(table.garbage);
            assert!(rewrites < 10_000, "never compacted");
        }
        assert!(most_garbage >= COMPACT_MIN_GARBAGE - 1_100);
        assert!(
            table.text.len() < 1_100,
            "only the live texts are left: {} bytes",
            table.text.len()
        );
        assert_eq!(
            texts(&table, "b000000001"),
            (
                "kept title".to_owned(),
                Some("acme".to_owned()),
                "b000000001".to_owned()
            )
        );
        assert_eq!(
            texts(&table, "b000000002"),
            (
                format!("{} {long_title}", rewrites - 1),
                None,
                "b000000002".to_owned()
            )
        );
        assert_eq!(
            texts(&table, "b000000003").1,
            Some(String::new()),
            "an empty brand is not a missing one"
        );
        assert!(!table.slots.contains_key("b000000004"));
        assert_eq!(table.numbers.len(), 3);
    }

    #[test]
    fn an_unchanged_text_is_not_copied_again() {
        let mut table = Table::default();
        table.put("b000000001", entry("title", Some("brand"), "b000000001"));
        let length = table.text.len();
        table.put("b000000001", entry("title", Some("brand"), "b000000001"));
        assert_eq!(table.text.len(), length);
        assert_eq!(table.garbage, 0);
    }
}
