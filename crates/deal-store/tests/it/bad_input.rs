//! Bad files and hostile environments: each failure is an error that names
//! the file and the problem.

use std::time::Duration;

use deal_store::{StoreError, StoreOptions, Writer};

use crate::support::{NOW, analysis_at, valid_deal};

#[track_caller]
fn assert_names_file_and_problem(error: &StoreError, path: &std::path::Path, problem: &str) {
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "path missing in: {message}"
    );
    assert!(
        message.contains(problem),
        "{problem:?} missing in: {message}"
    );
}

#[test]
fn a_non_sqlite_file_is_reported_as_corrupt() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("notes.sqlite");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let error = Writer::open(&path, StoreOptions::default()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert_names_file_and_problem(&error, &path, "corrupt or not an sqlite database");
    assert_names_file_and_problem(&error, &path, "restore it from a backup");
}

#[test]
fn a_database_with_damaged_pages_is_reported_as_corrupt() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("damaged.sqlite");
    {
        let mut writer = Writer::open(&path, StoreOptions::default()).unwrap();
        for index in 0..200 {
            writer
                .upsert_deal(&valid_deal(index), analysis_at(NOW))
                .unwrap();
        }
        // Fold the WAL into the main file so the damage below hits real pages.
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    // Overwrite everything after the first page (the header stays valid).
    let mut bytes = std::fs::read(&path).unwrap();
    for byte in bytes.iter_mut().skip(4096) {
        *byte = 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();
    let error = Writer::open(&path, StoreOptions::default())
        .and_then(|writer| writer.reader().integrity_check().map(|_| writer))
        .and_then(|writer| writer.reader().all_deals())
        .unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert_names_file_and_problem(&error, &path, "corrupt");
}

/// Whether this process can write into a directory whose permissions forbid it
/// (root can: permission bits do not stop root).
fn permission_bits_are_ignored() -> bool {
    use std::os::unix::fs::PermissionsExt;
    let directory = tempfile::tempdir().unwrap();
    let locked = directory.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let ignored = std::fs::write(locked.join("probe"), b"x").is_ok();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    ignored
}

#[test]
fn an_unwritable_directory_is_reported_naming_the_file() {
    let directory = tempfile::tempdir().unwrap();
    // Tests often run as root, where a 0o555 directory is still writable. A
    // path "inside" a regular file can never be created, by anyone: use that
    // always, and the permission bits too when they are enforced.
    let regular_file = directory.path().join("a-regular-file");
    std::fs::write(&regular_file, b"not a directory").unwrap();
    let mut paths = vec![regular_file.join("deals.sqlite")];
    if !permission_bits_are_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let read_only = directory.path().join("read-only");
        std::fs::create_dir(&read_only).unwrap();
        std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
        paths.push(read_only.join("deals.sqlite"));
    }
    for path in paths {
        let error = Writer::open(&path, StoreOptions::default()).unwrap_err();
        assert!(matches!(error, StoreError::CannotWrite { .. }), "{error:?}");
        assert_names_file_and_problem(&error, &path, "cannot open database");
        assert_names_file_and_problem(&error, &path, "writable");
    }
}

#[test]
fn a_full_disk_is_reported_and_earlier_deals_survive() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("full.sqlite");
    let options = StoreOptions {
        max_page_count: Some(40),
        ..StoreOptions::default()
    };
    let mut writer = Writer::open(&path, options).unwrap();
    let mut committed = 0;
    let error = loop {
        match writer.upsert_deal(&valid_deal(committed), analysis_at(NOW)) {
            Ok(()) => committed += 1,
            Err(error) => break error,
        }
        assert!(committed < 100_000, "the page limit never filled");
    };
    assert!(matches!(error, StoreError::DiskFull { .. }), "{error:?}");
    assert_names_file_and_problem(&error, &path, "is full");
    drop(writer);
    let reopened = Writer::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(
        reopened.reader().stored_deal_count().unwrap(),
        u64::from(committed)
    );
    assert_eq!(
        reopened.reader().integrity_check().unwrap(),
        vec!["ok".to_owned()]
    );
}

#[test]
fn a_second_writer_holding_the_lock_is_reported_as_locked() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("deals.sqlite");
    let options = StoreOptions {
        busy_timeout: Duration::from_millis(20),
        ..StoreOptions::default()
    };
    let mut writer = Writer::open(&path, options.clone()).unwrap();
    let other_writer = rusqlite::Connection::open(&path).unwrap();
    other_writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Opening while another writer holds the lock is reported the same way.
    let opening = Writer::open(&path, options).unwrap_err();
    assert!(matches!(opening, StoreError::Locked { .. }), "{opening:?}");
    let error = writer
        .upsert_deal(&valid_deal(1), analysis_at(NOW))
        .unwrap_err();
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert_names_file_and_problem(&error, &path, "locked by another writer");
    other_writer.execute_batch("ROLLBACK").unwrap();
    writer
        .upsert_deal(&valid_deal(1), analysis_at(NOW))
        .unwrap();
}
