//! The async facade runs the sync store on tokio's blocking pool.

use deal_store::{DealFilter, DealQuery, DealSource, DealStore, StoreOptions};

use crate::support::{NOW, asin, valid_deal};

#[tokio::test]
async fn the_async_store_upserts_queries_and_backs_up() {
    let directory = tempfile::tempdir().unwrap();
    let store = DealStore::open(
        directory.path().join("deals.sqlite"),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    for index in 0..3 {
        store
            .upsert_deal(valid_deal(index), DealSource::Analysis, None, NOW)
            .await
            .unwrap();
    }
    let page = store.query_deals(DealQuery::default()).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(store.count_deals(DealFilter::default()).await.unwrap(), 3);
    let found = store
        .read(|reader| reader.deal(asin(1)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.source, DealSource::Analysis);
    store
        .write(|writer| writer.set_state("discovery.status", "idle", NOW))
        .await
        .unwrap();
    let backup = directory.path().join("copy.sqlite");
    store.backup_to(&backup).await.unwrap();
    assert!(backup.exists());
}
