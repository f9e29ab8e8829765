//! The one error type of the operators' tools. Messages are lowercase fragments that say what
//! was attempted; none ever holds a Redis URL (it may carry a password).

use std::path::PathBuf;

/// Why a tool could not do its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL cannot be used; the URL itself is not repeated.
    #[error("the redis url is not valid: {0}")]
    InvalidRedisUrl(String),
    /// The key prefix is empty, which would put every key of the server in scope.
    #[error("the key prefix is empty; use a prefix such as \"keepa-deals:\"")]
    EmptyKeyPrefix,
    /// The embedded tier needs a database and none was given.
    #[error("no database given; pass --database PATH (or --redis-url for the fleet tier)")]
    NoDatabase,
    /// The database file does not exist or is not a file; the tools never create one.
    #[error("no database at {path} ({detail}); pass the worker's --database", path = .path.display())]
    DatabaseMissing {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        detail: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] deal_store::StoreError),
    /// The fleet state in Redis failed.
    #[error(transparent)]
    Fleet(#[from] fleet::Error),
    /// The token bucket in Redis failed.
    #[error(transparent)]
    Bucket(#[from] token_bucket::Error),
    /// A plain Redis command failed.
    #[error("redis at {endpoint}: {what}: {detail}")]
    Redis {
        /// `host:port/db`.
        endpoint: String,
        /// What was being done.
        what: &'static str,
        /// The error's kind and description.
        detail: String,
    },
    /// Redis did not answer in time.
    #[error("{what}: redis at {endpoint} did not answer within {} s", crate::target::REDIS_TIMEOUT.as_secs())]
    RedisTimeout {
        /// What was being done.
        what: &'static str,
        /// `host:port/db`.
        endpoint: String,
    },
    /// A stored value cannot be read.
    #[error("state {key} holds a value that cannot be read: {detail}")]
    CorruptState {
        /// The key or state entry.
        key: String,
        /// Why.
        detail: String,
    },
    /// The instance lock cannot be inspected.
    #[error(transparent)]
    Lock(#[from] pipeline::lock::LockError),
    /// A file could not be removed.
    #[error("cannot remove {path}: {source}", path = .path.display())]
    RemoveFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The tools' result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
