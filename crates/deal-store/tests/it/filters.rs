//! Property tests of the API query: for random deals (valid, invalid, edge
//! values), the SQL validity gate selects exactly what `AnalysedDeal::is_valid`
//! accepts, every filter agrees with a Rust reference filter, and pages come
//! in the order of a Rust sort with the ASIN tie-break. Counts are checked on
//! the writer's connection (SQL) and on a pooled one (in memory).

use std::cmp::Ordering;
use std::num::NonZeroU32;

use deal_filters::AnalysedDeal;
use deal_store::{
    DealFilter, DealQuery, PageLimit, Readers, SortColumn, SortOrder, StoreOptions, Writer,
};
use keepa_model::{Asin, Cents, OfferCondition};
use proptest::prelude::*;

use crate::support::{NOW, analysis_at, arbitrary_deals, temp_writer};

/// The reference filter: what the API must show, written from DESIGN.md §7–§8.
fn reference_matches(deal: &AnalysedDeal, filter: &DealFilter) -> bool {
    fn at_least<T: PartialOrd>(value: Option<T>, bound: Option<T>) -> bool {
        bound.is_none_or(|bound| value.is_some_and(|value| value >= bound))
    }
    let keyword_matches = match filter.keyword.as_deref() {
        None | Some("") => true,
        Some(keyword) => {
            let keyword = keyword.to_ascii_lowercase();
            [
                Some(deal.title.as_str()),
                deal.brand.as_deref(),
                Some(deal.asin.as_str()),
            ]
            .into_iter()
            .flatten()
            .any(|text| text.to_ascii_lowercase().contains(&keyword))
        }
    };
    deal.is_valid()
        && at_least(deal.profit, filter.profit_gte)
        && at_least(deal.roi_percent, filter.roi_gte)
        && at_least(deal.percent_down, filter.percent_down_gte)
        && at_least(deal.drops_30, filter.drops_30_gte)
        && filter
            .sales_rank_lte
            .is_none_or(|bound| deal.sales_rank.is_some_and(|rank| rank <= bound))
        && at_least(deal.deal_trust_percent, filter.deal_trust_gte)
        && at_least(deal.seller_quality, filter.seller_quality_gte)
        && !(filter.hide_amazon && deal.amazon_sells)
        && deal
            .condition
            .is_none_or(|condition| !filter.exclude_conditions.contains(&condition))
        && keyword_matches
}

#[derive(Debug, PartialEq, PartialOrd)]
enum SortKey {
    Integer(i64),
    Real(f64),
    Text(String),
}

fn sort_key(deal: &AnalysedDeal, column: SortColumn) -> Option<SortKey> {
    let cents = |value: Option<Cents>| value.map(|cents| SortKey::Integer(cents.0));
    match column {
        SortColumn::Profit => cents(deal.profit),
        SortColumn::Roi => deal.roi_percent.map(SortKey::Real),
        SortColumn::Margin => deal.margin_percent.map(SortKey::Real),
        SortColumn::PercentDown => deal.percent_down.map(SortKey::Real),
        SortColumn::Drops30 => deal
            .drops_30
            .map(|drops| SortKey::Integer(i64::from(drops))),
        SortColumn::SalesRank => deal.sales_rank.map(SortKey::Integer),
        SortColumn::DealTrust => deal.deal_trust_percent.map(SortKey::Real),
        SortColumn::SellerQuality => deal.seller_quality.map(SortKey::Real),
        SortColumn::ListAt => cents(deal.list_at),
        SortColumn::PriceNow => Some(SortKey::Integer(deal.price_now.0)),
        SortColumn::OneYearAverage => cents(deal.one_year_average),
        // Every deal of a case is written at the same instant.
        SortColumn::LastSeen | SortColumn::FirstSeen => Some(SortKey::Integer(NOW.0)),
        SortColumn::Title => Some(SortKey::Text(deal.title.clone())),
        other => panic!("sort column {other:?} has no reference key"),
    }
}

/// The reference order: unknown values last in both directions, ties by ASIN
/// in the direction of the sort.
fn reference_order(
    left: &AnalysedDeal,
    right: &AnalysedDeal,
    column: SortColumn,
    order: SortOrder,
) -> Ordering {
    let directed = |ordering: Ordering| match order {
        SortOrder::Ascending => ordering,
        SortOrder::Descending => ordering.reverse(),
    };
    let by_key = match (sort_key(left, column), sort_key(right, column)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(left), Some(right)) => directed(left.partial_cmp(&right).expect("finite keys")),
    };
    by_key.then_with(|| directed(left.asin.cmp(&right.asin)))
}

pub(crate) fn filter_strategy() -> impl Strategy<Value = DealFilter> {
    (
        (
            prop::option::of(
                prop::sample::select(vec![0_i64, 1, 500, 5_000, 50_000]).prop_map(Cents),
            ),
            prop::option::of(prop::sample::select(vec![-10.0, 0.0, 10.0, 25.0, 80.0])),
            prop::option::of(prop::sample::select(vec![0.0, 25.0, 50.0, 90.0])),
            prop::option::of(prop::sample::select(vec![0_i32, 1, 5, 21])),
        ),
        (
            prop::option::of(prop::sample::select(vec![1_i64, 1_000, 100_000])),
            prop::option::of(prop::sample::select(vec![0.0, 10.0, 50.0])),
            prop::option::of(prop::sample::select(vec![0.0, 0.5, 0.9])),
            prop::option::of(prop::sample::select(vec![
                "",
                "widget",
                "WIDGET",
                "100%",
                "%",
                "_",
                "\\",
                "Ün",
                "ünï",
                "B00000000",
                "acme",
            ])),
            any::<bool>(),
            prop::sample::subsequence(
                vec![
                    OfferCondition::New,
                    OfferCondition::UsedGood,
                    OfferCondition::UsedAcceptable,
                    OfferCondition::Collectible,
                    OfferCondition::Rental,
                ],
                0..=3,
            ),
        ),
    )
        .prop_map(
            |(
                (profit_gte, roi_gte, percent_down_gte, drops_30_gte),
                (
                    sales_rank_lte,
                    deal_trust_gte,
                    seller_quality_gte,
                    keyword,
                    hide_amazon,
                    exclude_conditions,
                ),
            )| DealFilter {
                profit_gte,
                roi_gte,
                percent_down_gte,
                drops_30_gte,
                sales_rank_lte,
                deal_trust_gte,
                seller_quality_gte,
                keyword: keyword.map(str::to_owned),
                hide_amazon,
                exclude_conditions,
            },
        )
}

fn store_with(deals: &[AnalysedDeal]) -> (tempfile::TempDir, Writer) {
    let (directory, mut writer) = temp_writer();
    for deal in deals {
        writer.upsert_deal(deal, analysis_at(NOW)).expect("upsert");
    }
    (directory, writer)
}

fn asins(deals: &[&AnalysedDeal]) -> Vec<Asin> {
    deals.iter().map(|deal| deal.asin).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sql_validity_gate_selects_exactly_the_valid_deals(deals in arbitrary_deals(40)) {
        let (_directory, writer) = store_with(&deals);
        let reader = writer.reader();
        let expected: Vec<Asin> = {
            let mut valid: Vec<&AnalysedDeal> = deals.iter().filter(|deal| deal.is_valid()).collect();
            valid.sort_by_key(|deal| deal.asin);
            asins(&valid)
        };
        let unfiltered = DealFilter::default();
        prop_assert_eq!(reader.count_deals(&unfiltered).unwrap(), expected.len() as u64);
        // A pooled connection counts in memory (`matches.rs`).
        let readers = Readers::open(writer.path(), &StoreOptions::default()).unwrap();
        prop_assert_eq!(readers.count_deals(&unfiltered).unwrap(), expected.len() as u64);
        let page = reader
            .query_deals(&DealQuery {
                limit: PageLimit::new(500).unwrap(),
                sort: SortColumn::Title,
                order: SortOrder::Ascending,
                ..DealQuery::default()
            })
            .unwrap();
        let mut shown: Vec<Asin> = page.deals.iter().map(|stored| stored.deal.asin).collect();
        shown.sort();
        prop_assert_eq!(shown, expected);
        for stored in &page.deals {
            prop_assert!(stored.deal.is_valid());
        }
    }

    #[test]
    fn every_filter_sort_and_page_agrees_with_the_reference(
        deals in arbitrary_deals(40),
        filter in filter_strategy(),
        sort in prop::sample::select(SortColumn::ALL.to_vec()),
        order in prop::sample::select(vec![SortOrder::Ascending, SortOrder::Descending]),
        limit in 1_u32..15,
        page in 1_u32..5,
    ) {
        let (_directory, writer) = store_with(&deals);
        let reader = writer.reader();
        let mut expected: Vec<&AnalysedDeal> =
            deals.iter().filter(|deal| reference_matches(deal, &filter)).collect();
        expected.sort_by(|left, right| reference_order(left, right, sort, order));
        let query = DealQuery {
            filter: filter.clone(),
            page: NonZeroU32::new(page),
            limit: PageLimit::new(limit).unwrap(),
            sort,
            order,
        };
        let result = reader.query_deals(&query).unwrap();
        prop_assert_eq!(result.total, expected.len() as u64);
        prop_assert_eq!(reader.count_deals(&filter).unwrap(), expected.len() as u64);
        // The same through a pooled connection, which counts in memory.
        let readers = Readers::open(writer.path(), &StoreOptions::default()).unwrap();
        let pooled = readers.query_deals(&query).unwrap();
        prop_assert_eq!(pooled.total, expected.len() as u64);
        prop_assert_eq!(&pooled.deals, &result.deals);
        prop_assert_eq!(readers.count_deals(&filter).unwrap(), expected.len() as u64);
        let expected_page: Vec<Asin> = expected
            .iter()
            .skip(((page - 1) * limit) as usize)
            .take(limit as usize)
            .map(|deal| deal.asin)
            .collect();
        let shown: Vec<Asin> = result.deals.iter().map(|stored| stored.deal.asin).collect();
        prop_assert_eq!(shown, expected_page);
    }

    #[test]
    fn every_deal_round_trips_exactly(deals in arbitrary_deals(10)) {
        let (_directory, writer) = store_with(&deals);
        for deal in &deals {
            let stored = writer.reader().deal(deal.asin).unwrap().expect("stored");
            prop_assert_eq!(&stored.deal, deal);
        }
    }
}

#[test]
fn page_limit_accepts_1_to_500_only() {
    assert_eq!(PageLimit::new(0), None);
    assert_eq!(PageLimit::new(1).map(PageLimit::get), Some(1));
    assert_eq!(PageLimit::new(500).map(PageLimit::get), Some(500));
    assert_eq!(PageLimit::new(501), None);
}

#[test]
fn sort_columns_parse_from_their_api_names_only() {
    for column in SortColumn::ALL {
        assert_eq!(SortColumn::from_api_name(column.as_str()), Some(column));
    }
    assert_eq!(SortColumn::from_api_name("roi"), Some(SortColumn::Roi));
    assert_eq!(SortColumn::from_api_name("profit; DROP TABLE deals"), None);
}
