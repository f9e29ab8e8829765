//! The store's error type: every variant names the database file and says what
//! to do. Raw SQLite errors are classified once, in [`classify`], so callers
//! match on "locked", "disk full" or "newer schema" rather than on result codes.
//! This module does not retry anything; retries are the caller's policy.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Everything that can go wrong in deal-store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file exists but is not an SQLite database, or its contents are damaged.
    #[error(
        "database {path} is corrupt or not an sqlite database ({detail}); restore it from a backup or move it aside to start with an empty store"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's description of the damage.
        detail: String,
    },
    /// The file or its directory cannot be opened or written.
    #[error(
        "cannot open database {path} for writing ({detail}); check that its directory exists, is a directory and is writable by this user"
    )]
    CannotWrite {
        /// The database file.
        path: PathBuf,
        /// SQLite's or the operating system's description.
        detail: String,
    },
    /// The disk (or the configured `max_page_count`) is full.
    #[error(
        "database {path} is full: the disk or the configured page limit has no room; free disk space or raise the limit, then retry"
    )]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },
    /// Another connection holds the write lock for longer than the busy timeout.
    #[error(
        "database {path} is locked by another writer for longer than the busy timeout; is a second worker or a manual sqlite3 session writing to it? stop it and retry"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The database was written by a newer build of keepa-deals.
    #[error(
        "database {path} has schema version {found}, newer than version {supported} that this build knows; run a newer keepa-deals or open a backup made by this version"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The `user_version` found in the file.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// A read connection found a schema older than this build's: the writer has not migrated it yet.
    #[error(
        "database {path} has schema version {found} but readers need version {expected}; open the writer first, which migrates it"
    )]
    NotMigrated {
        /// The database file.
        path: PathBuf,
        /// The `user_version` found in the file.
        found: i64,
        /// The version this build writes.
        expected: i64,
    },
    /// A write carried a fencing number lower than one already stored for its lease:
    /// the writer lost its lease and another holder has written since.
    #[error(
        "stale lease holder: lease {lease:?} wrote with fencing number {given} but {stored} is already stored; this process no longer holds the lease and must stop writing"
    )]
    StaleFence {
        /// The lease name.
        lease: String,
        /// The fencing number of the rejected write.
        given: u64,
        /// The highest fencing number stored for the lease.
        stored: u64,
    },
    /// A stored value could not be turned back into a domain type.
    #[error(
        "database {path}: stored value is invalid ({detail}); the row was written by another program or the file is damaged"
    )]
    InvalidStoredValue {
        /// The database file.
        path: PathBuf,
        /// Which column and value.
        detail: String,
    },
    /// Any other SQLite failure, with the operation that was attempted.
    #[error("database {path}: {operation} failed")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// The blocking task running a store operation panicked or was cancelled.
    #[error("a blocking store task did not complete: {0}")]
    TaskFailed(String),
}

/// Short alias used throughout the crate.
pub type StoreResult<T> = Result<T, StoreError>;

/// Turns a rusqlite error into the [`StoreError`] a caller can act on.
pub(crate) fn classify(path: &Path, operation: &'static str, error: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    let rusqlite::Error::SqliteFailure(failure, message) = &error else {
        if let rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) = error
        {
            return StoreError::InvalidStoredValue {
                path,
                detail: error.to_string(),
            };
        }
        return StoreError::Sqlite {
            path,
            operation,
            source: error,
        };
    };
    let detail = message.clone().unwrap_or_else(|| failure.to_string());
    match failure.code {
        ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
            StoreError::Corrupt { path, detail }
        }
        ErrorCode::DiskFull => StoreError::DiskFull { path },
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Locked { path },
        ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
            StoreError::CannotWrite { path, detail }
        }
        _ => StoreError::Sqlite {
            path,
            operation,
            source: error,
        },
    }
}

/// Extension to classify rusqlite results in one call.
pub(crate) trait ResultExt<T> {
    /// Classifies the error with the database path and the attempted operation.
    fn context(self, path: &Path, operation: &'static str) -> StoreResult<T>;
}

impl<T> ResultExt<T> for rusqlite::Result<T> {
    fn context(self, path: &Path, operation: &'static str) -> StoreResult<T> {
        self.map_err(|error| classify(path, operation, error))
    }
}
