//! The client's errors, each saying what happened and what to do about it.
//!
//! Every variant names the request by a [`RequestLabel`] (endpoint and size, never a URL or
//! the key). Retryable failures (5xx, timeouts, IO, malformed bodies) appear only after the
//! client's bounded retries ran out, with the number of attempts.

use std::fmt;
use std::time::Duration;

use crate::transport::TransportError;

/// Which request failed, for messages: `"POST /deal page 3"`, `"GET /product (100 asins)"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLabel(pub(crate) String);

impl fmt::Display for RequestLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a Keepa call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Keepa rejected the key (400 with `refillRate` 0).
    #[error(
        "{request}: keepa rejected the api key (400 invalidKey): check the configured key; \
         retrying will not help"
    )]
    InvalidKey {
        /// The request.
        request: RequestLabel,
    },
    /// Keepa rejected a parameter (400 `invalidParameter`).
    #[error("{request}: keepa rejected parameter `{details}`: {message}; fix the request")]
    InvalidParameter {
        /// The request.
        request: RequestLabel,
        /// The parameter Keepa named (`error.details`).
        details: String,
        /// Keepa's message.
        message: String,
    },
    /// The key has no API access (402).
    #[error(
        "{request}: the key has no api access (402): the keepa subscription lapsed or lacks api \
         access; renew it"
    )]
    NoApiAccess {
        /// The request.
        request: RequestLabel,
    },
    /// Keepa does not know the path (404).
    #[error("{request}: keepa answered 404 not found: check the configured base url")]
    NotFound {
        /// The request.
        request: RequestLabel,
    },
    /// A status this client does not expect (405, other 4xx).
    #[error("{request}: keepa answered unexpected status {status}: {message}")]
    UnexpectedStatus {
        /// The request.
        request: RequestLabel,
        /// The status.
        status: u16,
        /// Keepa's error message, if any.
        message: String,
    },
    /// Keepa kept refusing for lack of tokens although the quota projection said it had some
    /// (an unknown lockout, or another program spending the key faster than it refills).
    #[error(
        "{request}: keepa answered 429 not enough tokens {attempts} times although the balance \
         it reported was positive: another program may be spending this key, or keepa locked \
         it; check foreign consumption in diagnostics"
    )]
    RateLimited {
        /// The request.
        request: RequestLabel,
        /// 429s in a row.
        attempts: u32,
    },
    /// 5xx answers on every attempt.
    #[error("{request}: keepa answered {status} on all {attempts} attempts; try again later")]
    ServerError {
        /// The request.
        request: RequestLabel,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// No answer within the request timeout on every attempt.
    #[error(
        "{request}: no answer within {timeout:?} on all {attempts} attempts; keepa or the \
         network is slow: try again later or raise the request timeout"
    )]
    Timeout {
        /// The request.
        request: RequestLabel,
        /// The request timeout.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed on every attempt.
    #[error("{request}: transport failed on all {attempts} attempts; check the network")]
    Transport {
        /// The request.
        request: RequestLabel,
        /// Attempts made.
        attempts: u32,
        /// The last failure (no URL, no key).
        #[source]
        source: TransportError,
    },
    /// The body was not the JSON expected (truncated, HTML from a proxy, a changed shape) on
    /// every attempt.
    #[error(
        "{request}: keepa answered status {status} with a body of {bytes} bytes that is not the \
         expected json ({reason}) on all {attempts} attempts; try again later"
    )]
    MalformedBody {
        /// The request.
        request: RequestLabel,
        /// The status of the last answer.
        status: u16,
        /// The size of the last body.
        bytes: usize,
        /// The decoder's complaint (position and kind, no body content).
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The token bucket refused or failed.
    #[error("{request}: token bucket: {source}")]
    Bucket {
        /// The request.
        request: RequestLabel,
        /// The bucket's error, which says what to do.
        #[source]
        source: token_bucket::Error,
    },
}

impl Error {
    /// Whether trying the same request later may succeed (as opposed to a request or
    /// configuration that must change).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::ServerError { .. }
                | Error::Timeout { .. }
                | Error::Transport { .. }
                | Error::MalformedBody { .. }
        ) || matches!(
            self,
            Error::Bucket {
                source: token_bucket::Error::RedisUnavailable { .. },
                ..
            }
        )
    }

    /// A short stable name for metrics and error counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidKey { .. } => "invalid_key",
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::NoApiAccess { .. } => "no_api_access",
            Error::NotFound { .. } => "not_found",
            Error::UnexpectedStatus { .. } => "unexpected_status",
            Error::RateLimited { .. } => "rate_limited",
            Error::ServerError { .. } => "server_error",
            Error::Timeout { .. } => "timeout",
            Error::Transport { .. } => "transport",
            Error::MalformedBody { .. } => "malformed_body",
            Error::Bucket { .. } => "bucket",
        }
    }
}
