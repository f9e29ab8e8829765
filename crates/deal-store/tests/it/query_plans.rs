//! Keeps the index choices of `schema.rs` true: the plans SQLite picks for the
//! API queries use the partial indexes rather than scanning and sorting the
//! table, and counts read an index only.

use deal_store::{DealFilter, DealQuery, SortColumn, SortOrder};
use keepa_model::{Cents, OfferCondition};

use crate::support::{NOW, analysis_at, temp_writer, valid_deal};

fn plans(query: &DealQuery) -> (String, String) {
    let (_directory, mut writer) = temp_writer();
    for index in 0..50 {
        writer
            .upsert_deal(&valid_deal(index), analysis_at(NOW))
            .unwrap();
    }
    let (page, count) = writer.reader().explain_query_plan(query).unwrap();
    (page.join(" | "), count.join(" | "))
}

#[test]
fn the_default_page_walks_the_profit_index_without_sorting() {
    let (page, count) = plans(&DealQuery::default());
    eprintln!("page: {page}\ncount: {count}");
    assert!(page.contains("deals_valid_by_profit"), "{page}");
    assert!(!page.contains("TEMP B-TREE"), "{page}");
    assert!(count.contains("COVERING INDEX deals_valid_by_"), "{count}");
}

#[test]
fn sorted_and_filtered_pages_use_a_partial_index() {
    for (sort, order) in [
        (SortColumn::Roi, SortOrder::Descending),
        (SortColumn::PercentDown, SortOrder::Descending),
        (SortColumn::SalesRank, SortOrder::Descending),
    ] {
        let query = DealQuery {
            sort,
            order,
            filter: DealFilter {
                roi_gte: Some(10.0),
                hide_amazon: true,
                ..DealFilter::default()
            },
            ..DealQuery::default()
        };
        let (page, _) = plans(&query);
        eprintln!("{sort:?} {order:?}: {page}");
        assert!(
            page.contains("USING INDEX deals_valid_by"),
            "{sort:?}: {page}"
        );
        assert!(!page.contains("TEMP B-TREE"), "{sort:?}: {page}");
    }
}

/// Every filter column is in every sort index, so a count never reads the table,
/// whichever filters are set and whichever index the planner seeks.
#[test]
fn counts_read_only_an_index_whatever_the_filters() {
    let filters = [
        DealFilter {
            profit_gte: Some(Cents(1_000)),
            ..DealFilter::default()
        },
        DealFilter {
            roi_gte: Some(20.0),
            hide_amazon: true,
            ..DealFilter::default()
        },
        DealFilter {
            percent_down_gte: Some(30.0),
            drops_30_gte: Some(3),
            ..DealFilter::default()
        },
        DealFilter {
            sales_rank_lte: Some(100_000),
            ..DealFilter::default()
        },
        DealFilter {
            deal_trust_gte: Some(50.0),
            seller_quality_gte: Some(0.8),
            exclude_conditions: vec![OfferCondition::UsedAcceptable],
            ..DealFilter::default()
        },
    ];
    for filter in filters {
        let (_, count) = plans(&DealQuery {
            filter: filter.clone(),
            ..DealQuery::default()
        });
        eprintln!("{filter:?}: {count}");
        assert!(
            count.contains("COVERING INDEX deals_valid_by_"),
            "{filter:?}: {count}"
        );
    }
}

/// The keyword's signature and `LIKE`s are tested on `deals_valid_search`,
/// which also holds the numeric filters' columns.
#[test]
fn a_keyword_count_with_numeric_filters_reads_only_the_search_index() {
    let (_, count) = plans(&DealQuery {
        filter: DealFilter {
            keyword: Some("widget".to_owned()),
            profit_gte: Some(Cents(1_000)),
            roi_gte: Some(10.0),
            hide_amazon: true,
            ..DealFilter::default()
        },
        ..DealQuery::default()
    });
    assert!(
        count.contains("COVERING INDEX deals_valid_search"),
        "{count}"
    );
}

#[test]
fn with_planner_statistics_the_default_page_still_walks_the_profit_index() {
    let (_directory, mut writer) = temp_writer();
    for index in 0..200 {
        writer
            .upsert_deal(&valid_deal(index), analysis_at(NOW))
            .unwrap();
    }
    writer.optimize().unwrap();
    let (page, _) = writer
        .reader()
        .explain_query_plan(&DealQuery::default())
        .unwrap();
    let page = page.join(" | ");
    assert!(page.contains("deals_valid_by_profit"), "{page}");
    assert!(!page.contains("TEMP B-TREE"), "{page}");
}
