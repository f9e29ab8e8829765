//! A token bucket with Keepa's quota semantics, shared by every process that spends one API key.
//!
//! Keepa meters its API in tokens: a key's balance refills by a fixed number of tokens once a
//! minute, holds at most an hour of refill, admits any request while the balance is above zero
//! and then charges it in full (so the balance may go negative), and refuses requests with
//! HTTP 429 at zero or below. Every response carries an envelope saying where the balance
//! stood. This crate keeps a *projection* of that balance, admits requests against it, and
//! corrects it from every envelope, so that a program (or a fleet of programs over Redis)
//! spends the quota fully without ever being refused:
//!
//! - **Two lanes.** [`Lane::Urgent`] requests go whenever the projected balance is above zero
//!   (Keepa's rule), as long as the next refill brings it back above zero: one costing more
//!   than a refill waits for the rest of its tokens, and the smaller urgent requests behind it
//!   go first, so that no urgent request waits more than one refill for another's deficit.
//!   [`Lane::Bulk`] requests go only while they leave an urgent reserve and no
//!   urgent request waits, so bulk work never starves urgent work. The reserve grows to the
//!   urgent demand of the last refill periods (up to one refill), so a refill's urgent work
//!   does not wait behind bulk.
//! - **No 429s.** Keepa judges a request when it *arrives*: an urgent request is admitted only
//!   if every request in flight would still find a positive balance whatever order they reach
//!   Keepa in, and the balance is kept above the *drift margin*, the spending of other
//!   programs on the same key seen in the last refill periods (up to one refill). With
//!   [`Policy::surprise_factor`] above 1, that holds even if the requests in flight cost that
//!   many times their estimates (Keepa's "386-token surprise").
//! - **No thresholds.** Nothing waits for the bucket to "recharge". Bulk work asks
//!   [`Bucket::bulk_budget`] how much it may spend now and sizes its batch to that.
//! - **A deficit floor.** No request starts whose estimate could take the balance below the
//!   floor (default −180).
//! - **Reconciliation.** Every envelope resets the balance to `tokensLeft` minus the estimates
//!   still in flight, re-phases the refill from `refillIn`, learns the refill rate, and settles
//!   the request's reservation with `tokensConsumed`. Unexplained drops are counted as
//!   foreign consumption.
//!
//! The decisions live in [`core`], which is sans-IO: state + `now` + event → decision. The
//! [`Bucket`] wraps it with waiting and a backend: in-memory for one process, or Redis for a
//! fleet (feature `redis`, on by default), where each operation is one Lua script.
//!
//! ```
//! use token_bucket::{Bucket, Envelope, Lane, Policy, Tokens};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), token_bucket::Error> {
//! let bucket = Bucket::in_memory(Policy::default());
//! // The first envelope (from a free /token call, or any response) synchronises the bucket.
//! bucket.reconcile(&Envelope { tokens_left: 300, refill_in_ms: 20_000, refill_rate: 5,
//!                              tokens_consumed: 0, server_timestamp_ms: 1 }).await?;
//!
//! let permit = bucket.acquire(Tokens::from_whole(5), Lane::Urgent).await?;
//! // ... send the request; its response carries the next envelope ...
//! let envelope = Envelope { tokens_left: 295, refill_in_ms: 19_000, refill_rate: 5,
//!                           tokens_consumed: 5, server_timestamp_ms: 2 };
//! permit.reconcile(&envelope).await?;
//! assert_eq!(bucket.snapshot().await?.balance, Tokens::from_whole(295));
//! # Ok(()) }
//! ```
//!
//! The [`guide`] walks through one process, a fleet over Redis, and embedding the bucket in
//! another program's HTTP client.

pub mod clock;
pub mod core;
pub mod guide;

mod bucket;
mod error;
mod memory;
#[cfg(feature = "redis")]
pub mod redis;
mod tokens;

pub use crate::bucket::{Bucket, Permit};
pub use crate::core::{Envelope, Policy, ReconcileOutcome, SettleOutcome, Snapshot};
pub use crate::error::Error;
#[cfg(feature = "redis")]
pub use crate::redis::{RedisClock, RedisConfig, RedisIo};
pub use crate::tokens::{Lane, Tokens};
