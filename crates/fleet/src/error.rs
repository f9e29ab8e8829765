//! Why a fleet operation failed.
//!
//! A dead Redis is an error the caller sees, naming the endpoint (never its password) and saying
//! what to do. Nothing here falls back to in-memory state: a worker that quietly kept its leases
//! to itself would run a second discovery pass beside the fleet's.

/// An error boxed for transport across the crate boundary.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a fleet operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached, or the connection failed mid-command.
    #[error(
        "redis at {endpoint} is unreachable: {source}; fleet state (leases, heartbeats, the pause \
         flag, call rates) lives only in redis: start redis or fix the redis url (--redis-url), \
         then retry"
    )]
    RedisUnavailable {
        /// The Redis endpoint, without credentials.
        endpoint: String,
        /// What the Redis client said.
        #[source]
        source: BoxError,
    },
    /// Redis answered a command with an error.
    #[error("redis at {endpoint} refused a fleet command: {source}")]
    RedisCommand {
        /// The Redis endpoint, without credentials.
        endpoint: String,
        /// What Redis said.
        #[source]
        source: BoxError,
    },
    /// A key this crate owns holds a value it cannot read.
    #[error(
        "fleet key {key} holds a value that cannot be read: {detail}; remove it with the flush \
         tool and it is recreated"
    )]
    CorruptState {
        /// The full key.
        key: String,
        /// What was wrong.
        detail: String,
    },
    /// The Redis URL could not be parsed. The URL itself is not repeated: it may hold a password.
    #[error(
        "the redis url is not valid: {detail}; expected redis://[user:password@]host:port[/db]"
    )]
    InvalidRedisUrl {
        /// What was wrong, without the URL.
        detail: String,
    },
    /// The configured key prefix is empty, so fleet keys could not be told from foreign ones.
    #[error("the fleet key prefix is empty; use a prefix such as \"keepa-deals:\"")]
    EmptyKeyPrefix,
    /// A lease was asked for with a time to live below one millisecond.
    #[error("lease {name} was asked for with a time to live below one millisecond")]
    InvalidLeaseTtl {
        /// The lease name.
        name: String,
    },
    /// A key handed to [`crate::Fleet::delete`] is not one this fleet owns.
    #[error("key {key} is not a fleet key under the prefix {prefix}; refusing to delete it")]
    KeyOutsidePrefix {
        /// The key asked for.
        key: String,
        /// This fleet's prefix.
        prefix: String,
    },
}

/// The result of a fleet operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
