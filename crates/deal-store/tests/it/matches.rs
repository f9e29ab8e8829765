//! The pooled read connections count the API's matches in memory, caught up
//! from the `deal_changes` log (`src/matches.rs`). Whatever changes the deals —
//! upserts that replace a deal or move it across the validity gate, the
//! janitor, another connection's SQL, a pruned log — a pooled count equals a
//! `SELECT count(*)` of the same moment.

use deal_filters::AnalysedDeal;
use deal_store::{DealFilter, DealQuery, Readers, StoreOptions, Writer};
use keepa_model::UnixSeconds;
use proptest::prelude::*;
use rusqlite::Connection;

use crate::filters::filter_strategy;
use crate::support::{HOUR, NOW, analysis_at, arbitrary_deal, asin, temp_writer, valid_deal};

/// Deals are drawn from this many ASINs, so most upserts replace one.
const ASINS: u32 = 8;

#[derive(Debug, Clone)]
enum Step {
    /// An upsert of a random deal, last seen `hours` before [`NOW`].
    Upsert(Box<AnalysedDeal>, i64),
    /// The janitor at [`NOW`]: deals not seen for 72 hours go.
    Janitor,
    /// Another connection sets a deal's profit with plain SQL.
    ForeignProfit(u32, i64),
    /// Another connection deletes a deal with plain SQL.
    ForeignDelete(u32),
    /// The writer keeps only the newest `n` log entries.
    Prune(u32),
    /// A pooled count and page, checked against SQL.
    Count(DealFilter),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..ASINS)
            .prop_flat_map(arbitrary_deal)
            .prop_flat_map(|deal| (Just(deal), prop::sample::select(vec![0_i64, 1, 80])))
            .prop_map(|(deal, hours)| Step::Upsert(Box::new(deal), hours)),
        1 => Just(Step::Janitor),
        1 => (0..ASINS, prop::sample::select(vec![-5_i64, 0, 1, 700, 60_000]))
            .prop_map(|(index, profit)| Step::ForeignProfit(index, profit)),
        1 => (0..ASINS).prop_map(Step::ForeignDelete),
        1 => (1_u32..4).prop_map(Step::Prune),
        3 => filter_strategy().prop_map(Step::Count),
    ]
}

fn foreign_connection(writer: &Writer) -> Connection {
    let connection = Connection::open(writer.path()).expect("a second connection");
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .expect("a busy timeout");
    connection
}

/// The pooled count and the page's total against SQL on the writer's connection.
fn check(readers: &Readers, writer: &Writer, filter: &DealFilter) -> Result<(), TestCaseError> {
    let in_sql = writer.reader().count_deals_in_sql(filter).unwrap();
    prop_assert_eq!(readers.count_deals(filter).unwrap(), in_sql);
    let query = DealQuery {
        filter: filter.clone(),
        ..DealQuery::default()
    };
    prop_assert_eq!(readers.query_deals(&query).unwrap().total, in_sql);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pooled_counts_equal_sql_counts_through_every_kind_of_change(
        steps in prop::collection::vec(step(), 1..40),
        reader_count in 1_usize..3,
    ) {
        let (_directory, mut writer) = temp_writer();
        let options = StoreOptions { reader_count, ..StoreOptions::default() };
        let readers = Readers::open(writer.path(), &options).unwrap();
        let foreign = foreign_connection(&writer);
        for step in steps {
            match step {
                Step::Upsert(deal, hours) => {
                    let seen = UnixSeconds(NOW.0 - hours * HOUR);
                    writer.upsert_deal(&deal, analysis_at(seen)).unwrap();
                }
                Step::Janitor => {
                    writer
                        .delete_deals_not_seen_for(std::time::Duration::from_secs(72 * 3600), NOW)
                        .unwrap();
                }
                Step::ForeignProfit(index, profit) => {
                    foreign
                        .execute(
                            "UPDATE deals SET profit = ?1 WHERE asin = ?2",
                            rusqlite::params![profit, asin(index).as_str()],
                        )
                        .unwrap();
                }
                Step::ForeignDelete(index) => {
                    foreign
                        .execute("DELETE FROM deals WHERE asin = ?1", [asin(index).as_str()])
                        .unwrap();
                }
                Step::Prune(keep) => writer.prune_change_log(keep).unwrap(),
                Step::Count(filter) => check(&readers, &writer, &filter)?,
            }
        }
        check(&readers, &writer, &DealFilter::default())?;
    }
}

#[test]
fn a_connection_behind_a_pruned_log_reads_every_deal_again() {
    let (_directory, mut writer) = temp_writer();
    let options = StoreOptions {
        reader_count: 1,
        ..StoreOptions::default()
    };
    let readers = Readers::open(writer.path(), &options).unwrap();
    writer
        .upsert_deal(&valid_deal(1), analysis_at(NOW))
        .unwrap();
    assert_eq!(readers.count_deals(&DealFilter::default()).unwrap(), 1);
    for index in 2..=4 {
        writer
            .upsert_deal(&valid_deal(index), analysis_at(NOW))
            .unwrap();
    }
    // Only the last upsert's entry is left: catching up from the log alone
    // would find one new deal, not three.
    writer.prune_change_log(1).unwrap();
    assert_eq!(readers.count_deals(&DealFilter::default()).unwrap(), 4);
    writer
        .upsert_deal(&valid_deal(5), analysis_at(NOW))
        .unwrap();
    assert_eq!(readers.count_deals(&DealFilter::default()).unwrap(), 5);
}

#[test]
fn a_pooled_total_and_its_page_follow_a_janitor_pass() {
    let (_directory, mut writer) = temp_writer();
    let readers = Readers::open(writer.path(), &StoreOptions::default()).unwrap();
    for index in 0..20 {
        writer
            .upsert_deal(&valid_deal(index), analysis_at(NOW))
            .unwrap();
    }
    // The connection's copy is built here, then must follow the deletions.
    readers
        .with(|reader| -> deal_store::StoreResult<()> {
            let page = reader.query_deals(&DealQuery::default())?;
            assert_eq!(page.total, 20);
            assert_eq!(page.deals.len(), 20);
            Ok(())
        })
        .unwrap();
    writer
        .delete_deals_not_seen_for(std::time::Duration::ZERO, UnixSeconds(NOW.0 + 1))
        .unwrap();
    assert_eq!(readers.query_deals(&DealQuery::default()).unwrap().total, 0);
}
