//! The call path: bucket → transport → envelope → bucket, with retries and cost learning.
//!
//! Every paid call acquires its estimated cost from the token bucket in the caller's lane,
//! sends, decodes the envelope before looking at the status, and hands the envelope to the
//! permit (200, 400 and 429 alike) so the bucket settles with `tokensConsumed` and re-projects
//! the quota. A 429 goes back to `acquire`, which waits exactly until the projection is
//! positive again: there is no blind sleep. 5xx answers, timeouts, broken connections and
//! malformed bodies are retried with capped exponential backoff on tokio's clock, a bounded
//! number of times; a request whose outcome is unknown is settled at its estimate. An unsynced
//! bucket (first start, Redis wiped) costs one free `/token` call. The key is added by the
//! transport; nothing here logs or formats a URL.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keepa_model::{Asin, DealRecord, Product};
use serde::de::DeserializeOwned;
use token_bucket::{Bucket, Lane, Permit, Tokens};

use crate::api_key::ApiKey;
use crate::convert::{self, ConvertError};
use crate::error::{Error, RequestLabel};
use crate::estimate::{CostEstimator, LearningRates};
use crate::request::{DealQuery, ProductQuery, ProductShape, RequestKind};
use crate::transport::{
    HttpRequest, Method, Timeouts, Transport, TransportError, TransportErrorKind,
};
use crate::wire::{DealResponse, ProductResponse, WireEnvelope};

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts for 5xx, timeouts, IO errors and malformed bodies, the first included.
    /// Default 4.
    pub max_attempts: NonZeroU32,
    /// The first backoff; each next one doubles. Default 1 s.
    pub initial_backoff: Duration,
    /// The longest backoff. Default 30 s.
    pub max_backoff: Duration,
    /// 429s in a row tolerated while Keepa's own envelope says the balance is positive (a
    /// lockout or a contradiction, where waiting for the projection cannot help). Default 5.
    pub max_contradicting_429s: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: NonZeroU32::new(4).unwrap_or(NonZeroU32::MIN),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_contradicting_429s: 5,
        }
    }
}

impl RetryPolicy {
    /// The pause after the `failures`-th failure (1-based).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// The client's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientConfig {
    /// Keepa's marketplace id (1 = amazon.com). Default 1.
    pub domain_id: u8,
    /// Connect and request timeouts. The client enforces the request timeout itself on every
    /// transport (on tokio's clock); [`crate::ReqwestTransport`] also sets both on reqwest.
    pub timeouts: Timeouts,
    /// Retries.
    pub retry: RetryPolicy,
    /// How fast cost estimates follow `tokensConsumed`.
    pub learning: LearningRates,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            domain_id: 1,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            learning: LearningRates::default(),
        }
    }
}

/// What an answer's envelope said, and how many sends it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponseInfo {
    /// Keepa's server time, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The balance after this request.
    pub tokens_left: i64,
    /// Milliseconds to the next refill.
    pub refill_in_ms: i64,
    /// Tokens per minute.
    pub refill_rate: i64,
    /// What the request cost.
    pub tokens_consumed: i64,
    /// Keepa's throttling factor.
    pub token_flow_reduction: f64,
    /// Keepa's processing time.
    pub processing_time_ms: i64,
    /// Sends it took (429s and retries included).
    pub attempts: u32,
}

impl ResponseInfo {
    fn new(envelope: &WireEnvelope, attempts: u32) -> ResponseInfo {
        ResponseInfo {
            timestamp_ms: envelope.timestamp,
            tokens_left: envelope.tokens_left,
            refill_in_ms: envelope.refill_in,
            refill_rate: envelope.refill_rate,
            tokens_consumed: envelope.tokens_consumed,
            token_flow_reduction: envelope.token_flow_reduction,
            processing_time_ms: envelope.processing_time_in_ms,
            attempts,
        }
    }
}

/// One `/deal` page.
#[derive(Debug, Clone, PartialEq)]
pub struct DealPage {
    /// The envelope.
    pub info: ResponseInfo,
    /// The deals, newest `lastUpdate` first.
    pub deals: Vec<DealRecord>,
    /// Records that could not be converted (an invalid ASIN).
    pub rejected: Vec<ConvertError>,
}

/// The answer to a `/product` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductBatch {
    /// The envelope.
    pub info: ResponseInfo,
    /// The products Keepa knows, in the order asked.
    pub products: Vec<Product>,
    /// ASINs Keepa does not know (`productType` 4; they cost nothing).
    pub unknown: Vec<Asin>,
    /// Products that could not be converted (an invalid ASIN).
    pub rejected: Vec<ConvertError>,
}

/// The quota as `/token` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenStatus {
    /// The envelope.
    pub info: ResponseInfo,
}

/// What a response type says about the quota.
trait Enveloped {
    fn envelope(&self) -> WireEnvelope;
}

impl Enveloped for DealResponse {
    fn envelope(&self) -> WireEnvelope {
        DealResponse::envelope(self)
    }
}

impl Enveloped for ProductResponse {
    fn envelope(&self) -> WireEnvelope {
        ProductResponse::envelope(self)
    }
}

impl Enveloped for WireEnvelope {
    fn envelope(&self) -> WireEnvelope {
        self.clone()
    }
}

/// What a paid call reserves.
#[derive(Debug, Clone, Copy)]
struct Charge {
    kind: RequestKind,
    units: usize,
    lane: Lane,
}

struct Inner<T> {
    transport: T,
    bucket: Bucket,
    api_key: ApiKey,
    config: ClientConfig,
    estimator: Mutex<CostEstimator>,
}

/// A Keepa client whose every call goes through the token bucket. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use keepa_client::{ApiKey, AsinBatch, ClientConfig, DealQuery, KeepaClient, ProductQuery, SimTransport};
/// use keepa_model::PriceType;
/// use token_bucket::{Bucket, Lane, Policy};
///
/// let sim = keepa_sim::Sim::builder().api_key("key1").catalogue_size(50).build();
/// let asin = sim.asins()[0].parse().unwrap();
/// let client = KeepaClient::new(
///     SimTransport::new(sim),
///     Bucket::in_memory(Policy::default()),
///     ApiKey::new("key1").unwrap(),
///     ClientConfig::default(),
/// );
/// let page = client.deals(&DealQuery::new(PriceType::USED), Lane::Urgent).await.unwrap();
/// assert_eq!(page.info.tokens_consumed, 5);
/// let query = ProductQuery::new(AsinBatch::new(vec![asin]).unwrap());
/// let batch = client.products(&query, Lane::Bulk).await.unwrap();
/// assert_eq!(batch.products.len(), 1);
/// # }
/// ```
pub struct KeepaClient<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for KeepaClient<T> {
    fn clone(&self) -> Self {
        KeepaClient {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for KeepaClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepaClient")
            .field("api_key", &self.inner.api_key)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

type BoxFuture<'a, O> = Pin<Box<dyn Future<Output = O> + Send + 'a>>;

impl<T: Transport> KeepaClient<T> {
    /// A client spending `bucket` (shared with every other user of the key) through `transport`.
    pub fn new(transport: T, bucket: Bucket, api_key: ApiKey, config: ClientConfig) -> Self {
        KeepaClient {
            inner: Arc::new(Inner {
                transport,
                bucket,
                api_key,
                estimator: Mutex::new(CostEstimator::new(config.learning)),
                config,
            }),
        }
    }

    /// The bucket this client spends from.
    pub fn bucket(&self) -> &Bucket {
        &self.inner.bucket
    }

    /// The transport (for a simulator's knobs).
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn estimator(&self) -> std::sync::MutexGuard<'_, CostEstimator> {
        self.inner
            .estimator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The estimated cost of `query`: the learned cost per ASIN of its shape (never below
    /// Keepa's documented cost) times its ASINs.
    pub fn estimate(&self, query: &ProductQuery) -> Tokens {
        self.estimator()
            .estimate(RequestKind::Product(query.shape()), query.asins.len())
    }

    /// The per-kind costs learned so far, to be kept across restarts (see
    /// [`KeepaClient::restore_learned_costs`]).
    pub fn learned_costs(&self) -> Vec<crate::LearnedCost> {
        self.estimator().learned()
    }

    /// Whether the cost of `kind` has been learned (observed, or restored from an earlier
    /// run); until then its estimate is Keepa's documented cost, which a kind whose cost varies
    /// can exceed several times over.
    pub fn has_learned_cost(&self, kind: RequestKind) -> bool {
        self.estimator().has_learned(kind)
    }

    /// Starts from costs an earlier run learned (for the kinds this client has not observed
    /// itself yet), instead of Keepa's documented costs, which underestimate every kind whose
    /// cost varies.
    pub fn restore_learned_costs(&self, learned: &[crate::LearnedCost]) {
        self.estimator().restore(learned);
    }

    /// The estimated cost of one `/deal` page.
    pub fn estimate_deal_page(&self) -> Tokens {
        self.estimator().estimate(RequestKind::Deal, 1)
    }

    /// The estimated cost per unit of `kind` (page or ASIN).
    pub fn estimate_per_unit(&self, kind: RequestKind) -> Tokens {
        self.estimator().per_unit(kind)
    }

    /// How many ASINs of `shape` fit in `budget` (for example [`Bucket::bulk_budget`]), at
    /// most 100; 0 when not even one does.
    pub fn max_asins_for(&self, budget: Tokens, shape: ProductShape) -> usize {
        self.estimator()
            .units_within(budget, RequestKind::Product(shape))
            .min(crate::request::MAX_ASINS_PER_REQUEST)
    }

    /// One `/deal` page (5 tokens), in `lane`.
    ///
    /// # Errors
    ///
    /// See [`Error`]; each variant says what to do.
    pub async fn deals(&self, query: &DealQuery, lane: Lane) -> Result<DealPage, Error> {
        let request = HttpRequest {
            method: Method::Post,
            path: "/deal",
            query: Vec::new(),
            body: Some(query.selection_json(self.inner.config.domain_id)),
            api_key: self.inner.api_key.clone(),
        };
        let label = RequestLabel(format!(
            "POST /deal page {} price type {}",
            query.page, query.price_type.0
        ));
        let charge = Charge {
            kind: RequestKind::Deal,
            units: 1,
            lane,
        };
        let (response, info) = self
            .execute::<DealResponse>(request, &label, Some(charge))
            .await?;
        let records = response.deals.map(|deals| deals.dr).unwrap_or_default();
        let (deals, rejected) = convert::deal_page(&records);
        Ok(DealPage {
            info,
            deals,
            rejected,
        })
    }

    /// A `/product` request, in `lane`.
    ///
    /// # Errors
    ///
    /// See [`Error`]; each variant says what to do. A batch whose estimate can never be
    /// admitted is [`Error::Bucket`] with `CostAboveMaximum`: use [`KeepaClient::max_asins_for`].
    pub async fn products(&self, query: &ProductQuery, lane: Lane) -> Result<ProductBatch, Error> {
        let request = HttpRequest {
            method: Method::Get,
            path: "/product",
            query: query.query_pairs(self.inner.config.domain_id),
            body: None,
            api_key: self.inner.api_key.clone(),
        };
        let label = RequestLabel(format!("GET /product ({} asins)", query.asins.len()));
        let charge = Charge {
            kind: RequestKind::Product(query.shape()),
            units: query.asins.len(),
            lane,
        };
        let (response, info) = self
            .execute::<ProductResponse>(request, &label, Some(charge))
            .await?;
        let mut batch = ProductBatch {
            info,
            products: Vec::with_capacity(response.products.len()),
            unknown: Vec::new(),
            rejected: Vec::new(),
        };
        for wire in &response.products {
            if convert::is_unknown_product(wire) {
                match wire.asin.parse() {
                    Ok(asin) => batch.unknown.push(asin),
                    Err(source) => batch.rejected.push(ConvertError::InvalidAsin {
                        asin: wire.asin.clone(),
                        source,
                    }),
                }
                continue;
            }
            match convert::product(wire) {
                Ok(product) => batch.products.push(product),
                Err(error) => batch.rejected.push(error),
            }
        }
        Ok(batch)
    }

    /// One `/token` call (free; answered at any balance), reconciled into the bucket.
    ///
    /// Keepa asks clients not to poll it: the client calls it by itself only when the bucket
    /// has no state (first start, Redis wiped).
    ///
    /// # Errors
    ///
    /// See [`Error`].
    pub async fn token_status(&self) -> Result<TokenStatus, Error> {
        let request = HttpRequest {
            method: Method::Get,
            path: "/token",
            query: Vec::new(),
            body: None,
            api_key: self.inner.api_key.clone(),
        };
        let label = RequestLabel("GET /token".to_owned());
        let (_, info) = self.execute::<WireEnvelope>(request, &label, None).await?;
        Ok(TokenStatus { info })
    }

    /// Boxed, because `execute` reaches it and it reaches `execute`.
    fn resync(&self) -> BoxFuture<'_, Result<TokenStatus, Error>> {
        Box::pin(self.token_status())
    }

    async fn acquire(&self, charge: Charge, label: &RequestLabel) -> Result<Permit, Error> {
        let mut resynced = false;
        loop {
            let estimate = self.estimator().estimate(charge.kind, charge.units);
            match self.inner.bucket.acquire(estimate, charge.lane).await {
                Ok(permit) => return Ok(permit),
                Err(token_bucket::Error::Unsynced) if !resynced => {
                    tracing::info!(request = %label, "token bucket has no quota state; asking /token once");
                    resynced = true;
                    self.resync().await?;
                }
                Err(source) => {
                    return Err(Error::Bucket {
                        request: label.clone(),
                        source,
                    });
                }
            }
        }
    }

    async fn execute<R: DeserializeOwned + Enveloped>(
        &self,
        request: HttpRequest,
        label: &RequestLabel,
        charge: Option<Charge>,
    ) -> Result<(R, ResponseInfo), Error> {
        let retry = self.inner.config.retry;
        let request_timeout = self.inner.config.timeouts.request;
        let bucket_error = |source| Error::Bucket {
            request: label.clone(),
            source,
        };
        let mut failures = 0_u32;
        let mut contradicting_429s = 0_u32;
        let mut attempts = 0_u32;
        loop {
            let mut permit = match charge {
                Some(charge) => Some(self.acquire(charge, label).await?),
                None => None,
            };
            // If this call is dropped from here on (a shutdown mid-request), the request has
            // most likely been charged: the permit must not hand its estimate back.
            if let Some(permit) = permit.as_mut() {
                permit.mark_sent();
            }
            attempts += 1;
            tracing::debug!(request = %label, attempt = attempts, estimate = %permit.as_ref().map_or(Tokens::ZERO, Permit::cost), "sending");
            let sent =
                tokio::time::timeout(request_timeout, self.inner.transport.send(request.clone()))
                    .await
                    .unwrap_or_else(|_| {
                        Err(TransportError {
                            kind: TransportErrorKind::Timeout,
                            message: "no answer within the request timeout".to_owned(),
                        })
                    });

            let response = match sent {
                Ok(response) => response,
                Err(error) => {
                    if let Some(permit) = permit {
                        // A connection never made cost nothing; any other failure may have.
                        let finished = if error.kind == TransportErrorKind::Connect {
                            permit.release().await.map(drop)
                        } else {
                            let estimate = permit.cost();
                            permit.settle(estimate).await.map(drop)
                        };
                        finished.map_err(bucket_error)?;
                    }
                    failures += 1;
                    tracing::warn!(request = %label, attempt = attempts, kind = ?error.kind, error = %error.message, "keepa request failed");
                    if failures >= retry.max_attempts.get() {
                        return Err(match error.kind {
                            TransportErrorKind::Timeout => Error::Timeout {
                                request: label.clone(),
                                timeout: request_timeout,
                                attempts,
                            },
                            _ => Error::Transport {
                                request: label.clone(),
                                attempts,
                                source: error,
                            },
                        });
                    }
                    tokio::time::sleep(retry.backoff(failures)).await;
                    continue;
                }
            };

            // The envelope first, whatever the status: a 400 or 429 still says where the quota
            // stands. On 200 the typed decode yields it in the same pass.
            let status = response.status;
            let typed = (status == 200).then(|| serde_json::from_slice::<R>(&response.body));
            let envelope = match &typed {
                Some(Ok(decoded)) => Ok(decoded.envelope()),
                _ => serde_json::from_slice::<WireEnvelope>(&response.body),
            };
            match (&envelope, permit) {
                (Ok(envelope), Some(permit)) => {
                    permit
                        .reconcile(&envelope.to_bucket())
                        .await
                        .map_err(bucket_error)?;
                }
                (Ok(envelope), None) => {
                    self.inner
                        .bucket
                        .reconcile(&envelope.to_bucket())
                        .await
                        .map_err(bucket_error)?;
                }
                (Err(_), Some(permit)) => {
                    // No envelope: the outcome is unknown, so count the estimate as spent; the
                    // next envelope corrects the projection.
                    let estimate = permit.cost();
                    permit.settle(estimate).await.map_err(bucket_error)?;
                }
                (Err(_), None) => {}
            }

            let (envelope, typed) = match (envelope, typed) {
                (Ok(envelope), Some(Ok(decoded))) => (envelope, Some(decoded)),
                (Ok(envelope), None) => (envelope, None),
                (Ok(_), Some(Err(reason))) | (Err(reason), _) => {
                    failures += 1;
                    tracing::warn!(request = %label, attempt = attempts, status, bytes = response.body.len(), reason = %reason, "keepa answered a malformed body");
                    if failures >= retry.max_attempts.get() {
                        // A proxy's 5xx page is a server error, not a changed format.
                        if (500..=599).contains(&status) {
                            return Err(Error::ServerError {
                                request: label.clone(),
                                status,
                                attempts,
                            });
                        }
                        return Err(Error::MalformedBody {
                            request: label.clone(),
                            status,
                            bytes: response.body.len(),
                            reason: reason.to_string(),
                            attempts,
                        });
                    }
                    tokio::time::sleep(retry.backoff(failures)).await;
                    continue;
                }
            };

            let error = envelope
                .error
                .clone()
                .unwrap_or_else(|| crate::wire::WireError {
                    kind: String::new(),
                    message: String::new(),
                    details: String::new(),
                });
            if let Some(decoded) = typed {
                if let Some(charge) = charge {
                    self.estimator()
                        .observe(charge.kind, envelope.tokens_consumed, charge.units);
                }
                return Ok((decoded, ResponseInfo::new(&envelope, attempts)));
            }
            match status {
                429 => {
                    tracing::info!(request = %label, attempt = attempts, tokens_left = envelope.tokens_left, refill_in_ms = envelope.refill_in, "keepa answered 429; waiting for the projection");
                    if envelope.tokens_left > 0 || charge.is_none() {
                        // Keepa refused although it says the balance is positive: waiting for
                        // the projection cannot help, so back off, a bounded number of times.
                        contradicting_429s += 1;
                        if contradicting_429s >= retry.max_contradicting_429s {
                            return Err(Error::RateLimited {
                                request: label.clone(),
                                attempts: contradicting_429s,
                            });
                        }
                        tokio::time::sleep(retry.backoff(contradicting_429s)).await;
                    }
                }
                400 if envelope.refill_rate == 0 || error.kind == "invalidKey" => {
                    return Err(Error::InvalidKey {
                        request: label.clone(),
                    });
                }
                400 => {
                    return Err(Error::InvalidParameter {
                        request: label.clone(),
                        details: error.details,
                        message: error.message,
                    });
                }
                402 => {
                    return Err(Error::NoApiAccess {
                        request: label.clone(),
                    });
                }
                404 => {
                    return Err(Error::NotFound {
                        request: label.clone(),
                    });
                }
                500..=599 => {
                    failures += 1;
                    tracing::warn!(request = %label, attempt = attempts, status, "keepa answered a server error");
                    if failures >= retry.max_attempts.get() {
                        return Err(Error::ServerError {
                            request: label.clone(),
                            status,
                            attempts,
                        });
                    }
                    tokio::time::sleep(retry.backoff(failures)).await;
                }
                _ => {
                    return Err(Error::UnexpectedStatus {
                        request: label.clone(),
                        status,
                        message: error.message,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let retry = RetryPolicy::default();
        let seconds: Vec<u64> = (1..=7).map(|n| retry.backoff(n).as_secs()).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30, 30]);
    }
}
