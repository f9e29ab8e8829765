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

/// Readers that overlap without a gap would keep SQLite's passive checkpoints
/// from ever starting the WAL over (checkpoint starvation, `connection.rs`):
/// the writer's restart checkpoints keep the log bounded while they read.
#[test]
fn the_wal_stays_bounded_while_readers_overlap_without_a_gap() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("deals.sqlite");
    // A low threshold: 800 commits of ~15 pages would grow the log to 12,000
    // pages without restarts, and a restart that times out (a reader thread
    // descheduled on a busy machine) delays the next one by only 400 pages.
    let options = StoreOptions {
        reader_count: 2,
        wal_restart_pages: 400,
        ..StoreOptions::default()
    };
    let mut writer = Writer::open(&path, options.clone()).unwrap();
    let readers = Readers::open(&path, &options).unwrap();
    let writer_done = AtomicBool::new(false);
    let largest_wal = std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !writer_done.load(Ordering::Acquire) {
                    readers.query_deals(&DealQuery::default()).unwrap();
                }
            });
        }
        let wal = directory.path().join("deals.sqlite-wal");
        let mut largest_wal = 0;
        for index in 0..800 {
            writer
                .upsert_deal(&valid_deal(index % 500), analysis_at(NOW))
                .unwrap();
            largest_wal = largest_wal.max(std::fs::metadata(&wal).map_or(0, |file| file.len()));
        }
        writer_done.store(true, Ordering::Release);
        largest_wal
    });
    eprintln!("largest wal: {largest_wal} bytes");
    // 3,000 pages of 4 KiB: a quarter of what the log grows to without restarts.
    assert!(largest_wal < 3_000 * 4_096, "{largest_wal} bytes");
}
