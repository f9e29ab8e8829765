//! API-style reads from several threads while the writer commits
//! continuously: no read fails (in particular never with "database is
//! locked"), and a backup taken meanwhile is consistent.

use std::sync::atomic::{AtomicBool, Ordering};

use deal_store::{DealFilter, DealQuery, Readers, SortColumn, SortOrder, StoreOptions, Writer};

use crate::support::{NOW, analysis_at, valid_deal};

#[test]
fn readers_never_fail_while_the_writer_commits() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("deals.sqlite");
    let options = StoreOptions {
        reader_count: 3,
        ..StoreOptions::default()
    };
    let mut writer = Writer::open(&path, options.clone()).unwrap();
    let readers = Readers::open(&path, &options).unwrap();
    let writer_done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for index in 0..1_500 {
                let mut deal = valid_deal(index % 500);
                deal.profit = Some(keepa_model::Cents(i64::from(index % 97) + 1));
                writer.upsert_deal(&deal, analysis_at(NOW)).unwrap();
            }
            writer_done.store(true, Ordering::Release);
        });
        for thread in 0..4_u32 {
            let readers = &readers;
            scope.spawn(move || {
                let query = DealQuery {
                    sort: if thread % 2 == 0 {
                        SortColumn::Profit
                    } else {
                        SortColumn::SalesRank
                    },
                    order: SortOrder::Descending,
                    filter: DealFilter {
                        profit_gte: Some(keepa_model::Cents(i64::from(thread) * 10)),
                        ..DealFilter::default()
                    },
                    ..DealQuery::default()
                };
                for _ in 0..300 {
                    let page = readers
                        .query_deals(&query)
                        .unwrap_or_else(|error| panic!("a read failed during writes: {error}"));
                    assert!(page.deals.len() as u64 <= page.total);
                    readers.count_deals(&query.filter).unwrap();
                }
            });
        }
    });
    assert!(writer_done.load(Ordering::Acquire));
    assert_eq!(readers.count_deals(&DealFilter::default()).unwrap(), 500);
}

#[test]
fn a_backup_taken_while_writing_is_consistent() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("deals.sqlite");
    let backup_path = directory.path().join("backup.sqlite");
    let mut writer = Writer::open(&path, StoreOptions::default()).unwrap();
    for index in 0..200 {
        writer
            .upsert_deal(&valid_deal(index), analysis_at(NOW))
            .unwrap();
    }
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for index in 200..1_200 {
                writer
                    .upsert_deal(&valid_deal(index), analysis_at(NOW))
                    .unwrap();
            }
        });
        deal_store::backup_database(&path, &backup_path).unwrap();
    });
    let copy = Writer::open(&backup_path, StoreOptions::default()).unwrap();
    assert_eq!(
        copy.reader().integrity_check().unwrap(),
        vec!["ok".to_owned()]
    );
    let copied = copy.reader().stored_deal_count().unwrap();
    assert!((200..=1_200).contains(&copied), "{copied}");
}
