//! A typed Keepa API client whose every call goes through the shared token bucket.
//!
//! [`KeepaClient`] speaks `/deal`, `/product` and `/token`, and returns `keepa-model` domain
//! types ([`keepa_model::DealRecord`], [`keepa_model::Product`]) converted from Keepa's wire
//! JSON. It is the only crate, besides the simulator, that knows Keepa's field names.
//!
//! - **Every call is metered.** A paid call acquires its estimated cost from the
//!   [`token_bucket::Bucket`] in the caller's lane, and the answer's envelope (200, 400 and 429
//!   alike) settles the reservation with `tokensConsumed` and corrects the projection. A 429
//!   waits for the projection, never a blind sleep. Estimates are learned per request kind
//!   from `tokensConsumed` and never drop below Keepa's documented cost:
//!   [`KeepaClient::estimate`], [`KeepaClient::max_asins_for`].
//! - **Failures are bounded and typed.** Timeouts are always set; 5xx, IO errors, timeouts
//!   and malformed bodies are retried with capped exponential backoff on tokio's clock, a
//!   bounded number of times; [`Error`] says what to do.
//! - **The key is a secret.** [`ApiKey`] prints as `ApiKey(***)`; only the transport puts it
//!   on the wire, and no URL is ever logged or put in an error.
//! - **Transports are pluggable.** [`ReqwestTransport`] for HTTP (rustls, gzip), and with the
//!   `sim` feature [`SimTransport`], which calls the simulator in-process so simulations run
//!   under tokio's paused clock.
//!
//! It does not decide what to fetch, cache answers, or sort deals beyond newest-first: that is
//! the pipeline's job.

mod api_key;
mod client;
pub mod convert;
mod error;
pub mod estimate;
mod request;
mod transport;
pub mod wire;

pub use api_key::{ApiKey, ApiKeyError};
pub use client::{
    ClientConfig, DealPage, KeepaClient, ProductBatch, ResponseInfo, RetryPolicy, TokenStatus,
};
pub use convert::ConvertError;
pub use error::{Error, RequestLabel};
pub use estimate::{LearnedCost, LearningRates};
pub use request::{
    AsinBatch, BatchError, DateRange, DealQuery, MAX_ASINS_PER_REQUEST, OfferCount, ProductQuery,
    ProductShape, Range, RequestKind, SORT_BY_LAST_UPDATE,
};
#[cfg(feature = "sim")]
pub use transport::SimTransport;
pub use transport::{
    HttpRequest, HttpResponse, KEEPA_BASE_URL, Method, ReqwestTransport, Timeouts, Transport,
    TransportError, TransportErrorKind,
};
