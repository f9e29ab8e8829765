//! How to use the bucket: one process, a fleet over Redis, and embedding it in an HTTP client.
//!
//! # One process
//!
//! Create one [`Bucket`](crate::Bucket) per API key and share clones of it. Synchronise it from
//! an envelope before the first acquire: after a restart, the last response's envelope or one
//! `/token` call (it costs nothing) is enough; there is no warm-up and no recharge pause.
//!
//! ```
//! use token_bucket::{Bucket, Envelope, Error, Lane, Policy, Tokens};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Error> {
//! let bucket = Bucket::in_memory(Policy::default());
//! assert!(matches!(bucket.acquire(Tokens::from_whole(1), Lane::Urgent).await, Err(Error::Unsynced)));
//!
//! bucket.reconcile(&Envelope { tokens_left: 20, refill_in_ms: 30_000, refill_rate: 5,
//!                              tokens_consumed: 0, server_timestamp_ms: 1 }).await?;
//!
//! // Bulk work sizes its batch to what it may spend now: 20 tokens less the urgent reserve.
//! assert_eq!(bucket.bulk_budget().await?, Tokens::from_whole(10));
//! let batch = bucket.acquire(Tokens::from_whole(10), Lane::Bulk).await?;
//!
//! // Urgent work still goes at once: the reserve is there for it.
//! let page = bucket.acquire(Tokens::from_whole(5), Lane::Urgent).await?;
//!
//! // The request cost less than estimated: the difference returns to the bucket.
//! batch.settle(Tokens::from_whole(8)).await?;
//! page.settle(Tokens::from_whole(5)).await?;
//! assert_eq!(bucket.snapshot().await?.balance, Tokens::from_whole(7));
//! # Ok(()) }
//! ```
//!
//! # Fleet over Redis
//!
//! Every process that spends one Keepa key points a bucket at the same Redis server and key
//! prefix (feature `redis`, on by default). Each operation is one Lua script that applies the
//! same rules as the in-memory bucket, atomically, on the server's clock (`TIME`), so the
//! processes share one projection, one pair of queues and one deficit floor. Any process may
//! reconcile from any envelope: reservations in flight elsewhere are never overwritten.
//!
//! ```no_run
//! use token_bucket::{Bucket, Envelope, Error, Lane, RedisConfig, Tokens};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! let config = RedisConfig { key_prefix: "keepa-deals:".to_owned(), ..RedisConfig::default() };
//! let bucket = Bucket::redis_from_url("redis://127.0.0.1:6379/", config)?;
//!
//! match bucket.acquire(Tokens::from_whole(5), Lane::Urgent).await {
//!     Ok(permit) => {
//!         // ... send the request, then hand its envelope to the permit ...
//! #       let envelope = Envelope { tokens_left: 95, refill_in_ms: 19_000, refill_rate: 5,
//! #           tokens_consumed: 5, server_timestamp_ms: 2 };
//!         permit.reconcile(&envelope).await?;
//!     }
//!     // First start, or Redis was restarted or flushed: one free /token call resynchronises
//!     // the whole fleet.
//!     Err(Error::Unsynced) => {
//! #       let token_envelope = Envelope { tokens_left: 100, refill_in_ms: 20_000, refill_rate: 5,
//! #           tokens_consumed: 0, server_timestamp_ms: 1 };
//!         bucket.reconcile(&token_envelope).await?;
//!     }
//!     // Redis is down: the error says so and names the server (never its password). There
//!     // is no silent fallback to a private bucket, which would let every process spend the
//!     // shared quota as if it were alone.
//!     Err(error @ Error::RedisUnavailable { .. }) => {
//!         eprintln!("{error}");
//!         return Err(error);
//!     }
//!     Err(error) => return Err(error),
//! }
//! # Ok(()) }
//! ```
//!
//! Everything lives under the prefix (the state is one key, `{prefix}bucket:state`); nothing
//! outside it is read or written. A process that dies holding a reservation cannot return it:
//! the others see it in flight until [`Policy::reservation_ttl_ms`](crate::Policy) passes, then
//! it expires with its estimate counted as spent. For tests and simulations,
//! [`RedisClock::Injected`](crate::RedisClock::Injected) replaces the server's clock with one
//! of yours (every client of the prefix must then share it).
//!
//! Upgrading a fleet: a state written by an earlier version of this crate is read and rewritten
//! in the current layout on the next operation, so the bucket carries on. A process still on an
//! earlier version cannot read a state the current version wrote; its operations answer
//! [`Error::RedisProtocol`](crate::Error::RedisProtocol) until it is upgraded too (it never
//! falls back to a private bucket), so upgrade every process of a prefix together.
//!
//! # Embedding in another program's HTTP client
//!
//! Wrap every call: acquire with an estimate and a lane, send, then hand the response's
//! envelope to the permit, whatever the status (200, 400 and 429 all carry one). On a 429 the
//! reconcile has already set the balance to what Keepa said, so the next acquire waits exactly
//! until the projection is positive again; never sleep blindly.
//!
//! ```
//! use token_bucket::{Bucket, Envelope, Error, Lane, Tokens};
//!
//! /// What your HTTP layer returns: the status and the envelope decoded from the body.
//! struct Response { status: u16, envelope: Envelope }
//!
//! async fn send(request: &str) -> Response {
//!     // Your HTTP client goes here.
//! #   let _ = request;
//! #   Response { status: 200, envelope: Envelope { tokens_left: 14, refill_in_ms: 1_000,
//! #       refill_rate: 5, tokens_consumed: 1, server_timestamp_ms: 2 } }
//! }
//!
//! async fn call(bucket: &Bucket, request: &str, estimate: Tokens) -> Result<Response, Error> {
//!     loop {
//!         let mut permit = bucket.acquire(estimate, Lane::Urgent).await?;
//!         // If this call is cancelled from here on, Keepa has most likely charged it.
//!         permit.mark_sent();
//!         let response = send(request).await;
//!         permit.reconcile(&response.envelope).await?;
//!         if response.status != 429 {
//!             return Ok(response);
//!         }
//!     }
//! }
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! # let bucket = Bucket::in_memory(token_bucket::Policy::default());
//! # bucket.reconcile(&Envelope { tokens_left: 15, refill_in_ms: 1_000, refill_rate: 5,
//! #     tokens_consumed: 0, server_timestamp_ms: 1 }).await?;
//! # let response = call(&bucket, "/product?asin=B000000001", Tokens::from_whole(1)).await?;
//! # assert_eq!(response.status, 200);
//! # Ok(()) }
//! ```
//!
//! # Cancellation and crashes
//!
//! Dropping a waiting `acquire` future gives up its place in the queue; dropping an unfinished
//! [`Permit`](crate::Permit) returns its estimate, unless
//! [`Permit::mark_sent`](crate::Permit::mark_sent) said the request went out: then the estimate
//! stays spent, since Keepa most likely charged it (returning it would let the projection admit
//! a request Keepa then refuses). A process that dies holding a reservation
//! cannot return it: the reservation leaves the in-flight set after
//! [`Policy::reservation_ttl_ms`](crate::Policy::reservation_ttl_ms) with its estimate counted as
//! spent, and the next envelope corrects the balance.
