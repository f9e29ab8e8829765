//! A faithful Keepa API simulator for tests, benchmarks, simulations and the offline demo.
//!
//! It speaks Keepa's wire JSON (`/deal`, `/product`, `/token`), keeps Keepa's token accounting
//! (DESIGN.md §2), serves a seeded, generated catalogue with three years of history per product,
//! and misbehaves on purpose when its [`Knobs`] say so. It does not implement Keepa's other
//! endpoints, its deal filters beyond the price type and date range, or any persistence.
//!
//! The core is socket-free: [`Sim::handle`] answers a [`SimRequest`] with a [`SimResponse`], and
//! all its time comes from tokio's clock, so a test under a paused clock runs 24 simulated hours
//! in seconds. [`serve`] puts the same core behind HTTP; the `keepa-sim` binary runs it on real
//! time (`cargo run -p keepa-sim -- --port 8091 --refill-rate 5`).
//!
//! # In-process use
//!
//! ```
//! use keepa_sim::{Sim, SimRequest};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), serde_json::Error> {
//! let sim = Sim::builder().api_key("test-key").seed(7).refill_rate(5).tokens(3).catalogue_size(200).build();
//!
//! // A product costs 1 token per ASIN found; Keepa admits at > 0 and charges in full.
//! let asin = sim.asins()[0].clone();
//! let response = sim
//!     .handle(SimRequest::get("/product", &[("key", "test-key"), ("domain", "1"), ("asin", &asin), ("stats", "90")]))
//!     .await;
//! assert_eq!(response.status, 200);
//! let body = response.json()?;
//! assert_eq!(body["tokensConsumed"], 1);
//! assert_eq!(body["tokensLeft"], 2);
//!
//! // The next refill lands exactly when `refillIn` says.
//! let refill_in = body["refillIn"].as_u64().unwrap();
//! tokio::time::sleep(std::time::Duration::from_millis(refill_in)).await;
//! assert_eq!(sim.token_status().tokens_left, 2 + 5);
//! # Ok(())
//! # }
//! ```
//!
//! # Endpoints
//!
//! Every API answer is JSON with Keepa's envelope: `timestamp` (simulated Unix ms), `tokensLeft`,
//! `refillIn` (ms to the next tick), `refillRate`, `tokenFlowReduction` (always 0.0),
//! `tokensConsumed`, `processingTimeInMs` (the latency knob); failures add
//! `error {type, message, details}`. Bodies are gzipped (`Content-Encoding: gzip`) when the
//! request accepts gzip.
//!
//! | Request | Parameters | Cost |
//! | --- | --- | --- |
//! | `GET /deal?key&selection=<JSON>` or `POST /deal?key` with the JSON body | selection: `domainId` (or `domain` in the query), `priceTypes` (exactly one of 0..36), `dateRange` 0–3 (day, week, month, 90 days; default 0), `page` (from 0); other fields accepted and ignored | 5 per page |
//! | `GET /product?key&domain&asin=A,B,…` | `asin` 1–100, `stats` (days), `history` 0/1 (default 1), `days`, `offers` 20–100, `buybox` 0/1, `rating` 0/1, `update` (hours, −1 never) | per ASIN found: 1, or with `offers` 6 per page of 10 offers returned (at least one page); `buybox` +2; `rating` +1 when the product has ratings; `update` +1 when the product is older than `update` hours (always for 0) |
//! | `GET /token?key` | — | 0, answered at any balance |
//!
//! Statuses: 400 `invalidKey` for a missing or wrong key, with an all-zero envelope
//! (`refillRate: 0`); 400 `invalidParameter` with `details` naming the parameter; 404 for
//! unknown paths; 405 for other methods; 429 `notEnoughToken` at a balance ≤ 0 (or during the
//! lockout) with `tokensConsumed: 0`; 500 from the `serverErrorRate` knob. Unknown ASINs come
//! back as `productType: 4` and cost nothing.
//!
//! `/deal` lists the products that have data for the price type and whose `lastUpdate` lies in
//! the date range, newest first by page (150 per page) but loosely ordered within a page, like
//! Keepa. Deal arrays are `[interval][price type]` with 36 price types, `delta = avg − current`.
//!
//! # Tokens
//!
//! Refill ticks add `refillRate` once a minute at a per-key phase derived from the seed; the
//! balance is capped at 60 × `refillRate` (overflow counted in
//! [`Counters::tokens_wasted_at_cap`]); a request is admitted while the balance is > 0 and
//! charged in full, so the balance may go negative.
//!
//! # Knobs and admin routes
//!
//! See [`Knobs`] for each knob. Change them with [`Sim::set_knobs`] / [`Sim::update_knobs`], or
//! on the standalone server with these routes (no key needed):
//!
//! - `GET /_sim/knobs`, `POST /_sim/knobs` with a partial JSON object, for example
//!   `{"refillRate": 25, "costMultiplier": 10.0, "latencyMs": 200}`;
//! - `GET /_sim/counters` ([`Counters`]);
//! - `GET /_sim/tokens`, `POST /_sim/tokens` with `{"tokensLeft": N}`.

mod catalogue;
mod clock;
mod knobs;
mod ledger;
mod rng;
mod server;
mod sim;
mod wire;

pub use clock::{KEEPA_EPOCH_OFFSET_MINUTES, keepa_minute_to_unix_ms, unix_ms_to_keepa_minute};
pub use knobs::{Counters, Knobs};
pub use server::serve;
pub use sim::{
    DEALS_PER_PAGE, MAX_ASINS_PER_REQUEST, Sim, SimBuilder, SimConfig, SimRequest, SimResponse,
    TokenStatus,
};
