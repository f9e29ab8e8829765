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
