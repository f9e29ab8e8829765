//! Versioned migrations: an older database is migrated with its data kept; a
//! newer one is refused with a message naming the file and both versions.

use deal_store::{SCHEMA_VERSION, StoreError, StoreOptions, Writer};
use keepa_model::UnixSeconds;

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_rows() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("old.sqlite");
    deal_store::create_database_at_schema_version(&path, 1).unwrap();
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute(
                "INSERT INTO pipeline_state (key, value, updated_at) VALUES ('legacy', 'kept', 1)",
                [],
            )
            .unwrap();
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 1);
    }
    let mut writer = Writer::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(
        writer.reader().state("legacy").unwrap().as_deref(),
        Some("kept")
    );
    // A version-2 table works.
    writer.record_error("timeout", UnixSeconds(1_000)).unwrap();
    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn reopening_a_current_database_changes_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("deals.sqlite");
    drop(Writer::open(&path, StoreOptions::default()).unwrap());
    let mut writer = Writer::open(&path, StoreOptions::default()).unwrap();
    writer.set_state("key", "value", UnixSeconds(1)).unwrap();
}

#[test]
fn a_newer_database_is_refused_naming_the_file_and_both_versions() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("future.sqlite");
    drop(Writer::open(&path, StoreOptions::default()).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = Writer::open(&path, StoreOptions::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { found: 99, supported, .. } if supported == SCHEMA_VERSION),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("99") && message.contains(&SCHEMA_VERSION.to_string()),
        "{message}"
    );
    let readers = deal_store::Readers::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(
        matches!(readers, StoreError::NewerSchema { .. }),
        "{readers:?}"
    );
}

#[test]
fn readers_refuse_a_database_the_writer_has_not_migrated() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("old.sqlite");
    deal_store::create_database_at_schema_version(&path, 1).unwrap();
    let error = deal_store::Readers::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(
        matches!(error, StoreError::NotMigrated { found: 1, .. }),
        "{error:?}"
    );
}

/// A valid deal inserted with plain SQL, the way a version-4 build stored it.
fn insert_raw_deal(connection: &rusqlite::Connection, asin: &str, title: &str, brand: &str) {
    connection
        .execute(
            "INSERT INTO deals (asin, title, brand, analysed_at, refreshed_at, buy_price_type,
                 price_now, buy_shipping, fba_fee, fba_fee_is_default, referral_fee_percent,
                 referral_fee_is_default, tax, prep_fee, inbound_shipping, all_in_cost, list_at,
                 list_at_implausible, profit, one_year_average, one_year_average_is_estimate,
                 inferred_sales, inferred_sales_last_year, offer_drops, amazon_sells,
                 first_seen_at, last_seen_at, source)
             VALUES (?1, ?2, ?3, 1, 1, 2, 1000, 0, 550, 1, 15.0, 1, 50, 275, 399, 2274, 5000,
                 0, 1000, 4000, 0, 3, 1, 4, 0, 1, 1, 'analysis')",
            (asin, title, brand),
        )
        .unwrap();
}

fn keyword_count(writer: &Writer, keyword: &str) -> u64 {
    writer
        .reader()
        .count_deals(&deal_store::DealFilter {
            keyword: Some(keyword.to_owned()),
            ..deal_store::DealFilter::default()
        })
        .unwrap()
}

#[test]
fn deals_stored_before_version_5_get_keyword_signatures_and_are_found() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("v4.sqlite");
    deal_store::create_database_at_schema_version(&path, 4).unwrap();
    insert_raw_deal(
        &rusqlite::Connection::open(&path).unwrap(),
        "B000000001",
        "Blue Widget",
        "Acme",
    );
    let writer = Writer::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(keyword_count(&writer, "WIDGET"), 1);
    assert_eq!(keyword_count(&writer, "acme"), 1);
    assert_eq!(keyword_count(&writer, "B000000001"), 1);
    assert_eq!(keyword_count(&writer, "garden hose"), 0);
    let signature: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT search_trigrams FROM deals", [], |row| row.get(0))
        .unwrap();
    assert_ne!(signature, -1, "the migration computed the signature");
}

#[test]
fn a_deal_written_without_a_signature_is_still_found_by_keyword() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("deals.sqlite");
    let writer = Writer::open(&path, StoreOptions::default()).unwrap();
    // Plain SQL leaves the column at its default, as any writer but `upsert_deal` would.
    insert_raw_deal(
        &rusqlite::Connection::open(&path).unwrap(),
        "B000000002",
        "Red Gadget",
        "Globex",
    );
    assert_eq!(keyword_count(&writer, "gadget"), 1);
    assert_eq!(keyword_count(&writer, "globex"), 1);
}
