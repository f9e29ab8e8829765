//! The errors of the async bucket.
//!
//! A dead Redis is an error the caller sees, never a panic and never a quiet switch to a private
//! in-memory bucket: a private bucket would let every process spend the shared quota as if it
//! were alone, which is how the system we replace dug its −150 deficit.

use crate::core::RefuseReason;
use crate::tokens::{Lane, Tokens};

/// An error boxed for transport across the crate boundary.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a bucket operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bucket has no quota state yet, or its shared state was wiped.
    #[error(
        "the token bucket has no quota state: reconcile it from a keepa response envelope \
         (a /token call costs nothing) before acquiring"
    )]
    Unsynced,
    /// The request can never be admitted at the current plan.
    #[error(
        "a {lane} request estimated at {cost} tokens can never be admitted: at the current plan \
         the most a {lane} request may cost is {maximum} tokens; split it into smaller requests"
    )]
    CostAboveMaximum {
        /// The lane asked for.
        lane: Lane,
        /// The estimate asked for.
        cost: Tokens,
        /// The most the lane admits at the current plan.
        maximum: Tokens,
    },
    /// Redis could not be reached or answered with an IO error.
    #[error(
        "redis at {endpoint} is unreachable: {source}; the bucket is shared through redis and \
         does not fall back to a private one: start redis or fix the redis url, and the bucket \
         resumes from the next keepa envelope"
    )]
    RedisUnavailable {
        /// The Redis endpoint, without credentials.
        endpoint: String,
        /// What the Redis client said.
        #[source]
        source: BoxError,
    },
    /// Redis answered, but not as the bucket's scripts expect.
    #[error("redis at {endpoint} answered the bucket's script unexpectedly: {detail}")]
    RedisProtocol {
        /// The Redis endpoint, without credentials.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
}

impl Error {
    pub(crate) fn refused(lane: Lane, reason: RefuseReason) -> Error {
        match reason {
            RefuseReason::CostAboveMaximum { cost, maximum } => Error::CostAboveMaximum {
                lane,
                cost,
                maximum,
            },
        }
    }
}
