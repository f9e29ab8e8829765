//! The query behind `GET /api/deals` and `GET /api/deal-count` (DESIGN.md §8).
//!
//! The SQL is assembled from fixed fragments only: one per filter that is set,
//! each with a bound parameter, and an `ORDER BY` taken from [`SortColumn`], a
//! closed enum. No text from a request ever reaches the SQL. The validity gate
//! is part of every statement, so no caller can forget it. Pagination is
//! stable: ties on the sort column are broken by the ASIN, in the same
//! direction as the sort (which lets SQLite walk the `(column, asin)` index
//! backwards for descending sorts). Unknown values sort last in both directions.
//!
//! Parsing query strings and answering 400 is the HTTP layer's job; here the
//! types already hold valid values ([`PageLimit`] is 1–500).

use std::fmt::Write as _;
use std::num::NonZeroU32;

use keepa_model::{Cents, OfferCondition};
use rusqlite::ToSql;

use crate::deals::condition_code;
use crate::search;

/// The validity gate of DESIGN.md §7 in SQL: `deal_filters::validity_gate` in
/// Rust. It is repeated verbatim in the partial indexes' `WHERE`, which is
/// what lets SQLite use them.
pub const VALIDITY_GATE_SQL: &str = "profit > 0 AND list_at > 0 AND one_year_average > 0";

/// The most deals one page may hold.
pub const MAX_PAGE_LIMIT: u32 = 500;

/// A page size between 1 and [`MAX_PAGE_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The API's default page size.
    pub const DEFAULT: PageLimit = PageLimit(50);

    /// A limit of `limit` deals, or `None` outside 1–500.
    pub fn new(limit: u32) -> Option<PageLimit> {
        (1..=MAX_PAGE_LIMIT)
            .contains(&limit)
            .then_some(PageLimit(limit))
    }

    /// The number of deals.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        PageLimit::DEFAULT
    }
}

/// The columns the API may sort by (the whitelist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SortColumn {
    /// Profit in cents (the default).
    #[default]
    Profit,
    /// Return on investment, percent.
    Roi,
    /// Margin, percent.
    Margin,
    /// Percent below the one-year average.
    PercentDown,
    /// Sales-rank drops in 30 days.
    Drops30,
    /// Current sales rank.
    SalesRank,
    /// Deal trust, percent.
    DealTrust,
    /// Seller quality, 0–1.
    SellerQuality,
    /// The List at price.
    ListAt,
    /// The price now.
    PriceNow,
    /// The one-year average.
    OneYearAverage,
    /// When the deal was last stored.
    LastSeen,
    /// When the deal was first stored.
    FirstSeen,
    /// The title, in SQLite's binary collation.
    Title,
}

impl SortColumn {
    /// Every column, for parsers and tests.
    pub const ALL: [SortColumn; 14] = [
        SortColumn::Profit,
        SortColumn::Roi,
        SortColumn::Margin,
        SortColumn::PercentDown,
        SortColumn::Drops30,
        SortColumn::SalesRank,
        SortColumn::DealTrust,
        SortColumn::SellerQuality,
        SortColumn::ListAt,
        SortColumn::PriceNow,
        SortColumn::OneYearAverage,
        SortColumn::LastSeen,
        SortColumn::FirstSeen,
        SortColumn::Title,
    ];

    /// The API's name for the column (`sort=roi`).
    pub fn as_str(self) -> &'static str {
        match self {
            SortColumn::Profit => "profit",
            SortColumn::Roi => "roi",
            SortColumn::Margin => "margin",
            SortColumn::PercentDown => "percent_down",
            SortColumn::Drops30 => "drops_30",
            SortColumn::SalesRank => "sales_rank",
            SortColumn::DealTrust => "deal_trust",
            SortColumn::SellerQuality => "seller_quality",
            SortColumn::ListAt => "list_at",
            SortColumn::PriceNow => "price_now",
            SortColumn::OneYearAverage => "one_year_average",
            SortColumn::LastSeen => "last_seen",
            SortColumn::FirstSeen => "first_seen",
            SortColumn::Title => "title",
        }
    }

    /// The column for an API name, `None` for anything else.
    pub fn from_api_name(name: &str) -> Option<SortColumn> {
        SortColumn::ALL
            .into_iter()
            .find(|column| column.as_str() == name)
    }

    /// The SQL column (a constant of this module, never user text).
    fn sql_column(self) -> &'static str {
        match self {
            SortColumn::Profit => "profit",
            SortColumn::Roi => "roi_percent",
            SortColumn::Margin => "margin_percent",
            SortColumn::PercentDown => "percent_down",
            SortColumn::Drops30 => "drops_30",
            SortColumn::SalesRank => "sales_rank",
            SortColumn::DealTrust => "deal_trust_percent",
            SortColumn::SellerQuality => "seller_quality",
            SortColumn::ListAt => "list_at",
            SortColumn::PriceNow => "price_now",
            SortColumn::OneYearAverage => "one_year_average",
            SortColumn::LastSeen => "last_seen_at",
            SortColumn::FirstSeen => "first_seen_at",
            SortColumn::Title => "title",
        }
    }

    /// Whether the column can be NULL on a row that passes the validity gate.
    fn nullable_when_valid(self) -> bool {
        matches!(
            self,
            SortColumn::Roi
                | SortColumn::Margin
                | SortColumn::PercentDown
                | SortColumn::Drops30
                | SortColumn::SalesRank
                | SortColumn::DealTrust
                | SortColumn::SellerQuality
        )
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// Smallest first.
    Ascending,
    /// Largest first (the default).
    #[default]
    Descending,
}

/// The filters of `/api/deals` and `/api/deal-count`. `None` (or `false`, or
/// empty) means "do not filter". A filter on a value the deal does not know
/// (`None`) excludes the deal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DealFilter {
    /// Profit ≥ this.
    pub profit_gte: Option<Cents>,
    /// ROI percent ≥ this.
    pub roi_gte: Option<f64>,
    /// Percent down ≥ this.
    pub percent_down_gte: Option<f64>,
    /// 30-day sales-rank drops ≥ this.
    pub drops_30_gte: Option<i32>,
    /// Sales rank ≤ this.
    pub sales_rank_lte: Option<i64>,
    /// Deal trust percent ≥ this.
    pub deal_trust_gte: Option<f64>,
    /// Seller quality ≥ this (0–1).
    pub seller_quality_gte: Option<f64>,
    /// Case-insensitive (ASCII) substring of the title, the brand or the ASIN; empty = no filter.
    pub keyword: Option<String>,
    /// Hide deals Amazon itself sells.
    pub hide_amazon: bool,
    /// Hide deals whose matched offer has one of these conditions (deals
    /// without a matched offer are kept).
    pub exclude_conditions: Vec<OfferCondition>,
}

/// One page request of `/api/deals`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DealQuery {
    /// The filters.
    pub filter: DealFilter,
    /// 1-based page number; `None` is page 1.
    pub page: Option<NonZeroU32>,
    /// Deals per page.
    pub limit: PageLimit,
    /// Sort column.
    pub sort: SortColumn,
    /// Sort direction.
    pub order: SortOrder,
}

impl DealQuery {
    /// Rows skipped before this page.
    pub fn offset(&self) -> i64 {
        let page = self.page.map_or(1, NonZeroU32::get);
        i64::from(page - 1) * i64::from(self.limit.get())
    }
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn like_pattern(keyword: &str) -> String {
    let mut pattern = String::with_capacity(keyword.len() + 2);
    pattern.push('%');
    for character in keyword.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// A statement's text and its named parameters.
pub(crate) struct BuiltQuery {
    pub(crate) sql: String,
    pub(crate) parameters: Vec<(&'static str, Box<dyn ToSql>)>,
}

impl BuiltQuery {
    pub(crate) fn parameter_refs(&self) -> Vec<(&str, &dyn ToSql)> {
        self.parameters
            .iter()
            .map(|(name, value)| (*name, value.as_ref()))
            .collect()
    }
}

/// The `exclude_conditions` filter as one bitmask (`None` when it is empty):
/// bit n set excludes condition code n, so the statement text does not vary
/// with the number of conditions. Codes outside 0–62 have no bit, and deals
/// with such a code are kept.
pub(crate) fn excluded_condition_mask(filter: &DealFilter) -> Option<i64> {
    (!filter.exclude_conditions.is_empty()).then(|| {
        filter
            .exclude_conditions
            .iter()
            .map(|&condition| condition_code(condition))
            .filter(|code| (0..63).contains(code))
            .fold(0_i64, |mask, code| mask | (1_i64 << code))
    })
}

/// Appends `WHERE <filters> AND <gate>` with one named parameter per filter.
///
/// The filters come first because SQLite seeks an index with only one lower
/// bound per column, the first it meets: with the gate first, `profit >=
/// :profit_gte` was checked on every entry above `profit > 0` (1.9 ms for a
/// count at 100,000 deals) instead of bounding the seek (0.4 ms).
fn push_where(
    filter: &DealFilter,
    sql: &mut String,
    parameters: &mut Vec<(&'static str, Box<dyn ToSql>)>,
) {
    sql.push_str(" WHERE ");
    let mut bound =
        |sql: &mut String, fragment: &str, name: &'static str, value: Box<dyn ToSql>| {
            sql.push_str(fragment);
            sql.push_str(" AND ");
            parameters.push((name, value));
        };
    if let Some(profit) = filter.profit_gte {
        bound(
            sql,
            "profit >= :profit_gte",
            ":profit_gte",
            Box::new(profit.0),
        );
    }
    if let Some(roi) = filter.roi_gte {
        bound(sql, "roi_percent >= :roi_gte", ":roi_gte", Box::new(roi));
    }
    if let Some(percent_down) = filter.percent_down_gte {
        bound(
            sql,
            "percent_down >= :percent_down_gte",
            ":percent_down_gte",
            Box::new(percent_down),
        );
    }
    if let Some(drops) = filter.drops_30_gte {
        bound(
            sql,
            "drops_30 >= :drops_30_gte",
            ":drops_30_gte",
            Box::new(drops),
        );
    }
    if let Some(rank) = filter.sales_rank_lte {
        bound(
            sql,
            "sales_rank <= :sales_rank_lte",
            ":sales_rank_lte",
            Box::new(rank),
        );
    }
    if let Some(trust) = filter.deal_trust_gte {
        bound(
            sql,
            "deal_trust_percent >= :deal_trust_gte",
            ":deal_trust_gte",
            Box::new(trust),
        );
    }
    if let Some(quality) = filter.seller_quality_gte {
        bound(
            sql,
            "seller_quality >= :seller_quality_gte",
            ":seller_quality_gte",
            Box::new(quality),
        );
    }
    if filter.hide_amazon {
        sql.push_str("amazon_sells = 0 AND ");
    }
    if let Some(mask) = excluded_condition_mask(filter) {
        bound(
            sql,
            "(condition_code IS NULL OR condition_code NOT BETWEEN 0 AND 62 OR ((:excluded_conditions >> condition_code) & 1) = 0)",
            ":excluded_conditions",
            Box::new(mask),
        );
    }
    if let Some(keyword) = filter
        .keyword
        .as_deref()
        .filter(|keyword| !keyword.is_empty())
    {
        // The signature test first: SQLite checks the terms an index covers in
        // their written order, and it turns most rows away before the `LIKE`s.
        bound(
            sql,
            "(search_trigrams & :keyword_trigrams) = :keyword_trigrams",
            ":keyword_trigrams",
            Box::new(search::keyword_trigrams(keyword)),
        );
        bound(
            sql,
            "(title LIKE :keyword ESCAPE '\\' OR brand LIKE :keyword ESCAPE '\\' OR asin LIKE :keyword ESCAPE '\\')",
            ":keyword",
            Box::new(like_pattern(keyword)),
        );
    }
    sql.push_str(VALIDITY_GATE_SQL);
}

/// `SELECT count(*)` with the gate and the filters.
pub(crate) fn count_query(filter: &DealFilter) -> BuiltQuery {
    let mut sql = String::from("SELECT count(*) FROM deals");
    let mut parameters = Vec::new();
    push_where(filter, &mut sql, &mut parameters);
    BuiltQuery { sql, parameters }
}

/// The page query: gate, filters, whitelisted order, asin tie-break, limit and offset.
pub(crate) fn page_query(query: &DealQuery, columns: &str) -> BuiltQuery {
    let mut sql = format!("SELECT {columns} FROM deals");
    let mut parameters: Vec<(&'static str, Box<dyn ToSql>)> = Vec::new();
    push_where(&query.filter, &mut sql, &mut parameters);
    let column = query.sort.sql_column();
    let direction = match query.order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    // NULLS LAST only where the gate leaves NULLs possible: on descending
    // sorts it is SQLite's natural order anyway, and leaving it off elsewhere
    // keeps the ORDER BY identical to the (column, asin) index.
    let nulls = if query.sort.nullable_when_valid() && query.order == SortOrder::Ascending {
        " NULLS LAST"
    } else {
        ""
    };
    let _ = write!(
        sql,
        " ORDER BY {column} {direction}{nulls}, asin {direction} LIMIT :limit OFFSET :offset"
    );
    parameters.push((":limit", Box::new(i64::from(query.limit.get()))));
    parameters.push((":offset", Box::new(query.offset())));
    BuiltQuery { sql, parameters }
}
