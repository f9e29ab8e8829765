//! The async layer: `acquire(cost, lane).await` → [`Permit`], settled with the actual cost.
//!
//! Waiting is a loop over the backend's decisions: a refused place in the queue becomes a
//! sleep until the instant the core named, cut short when anything in this process changes the
//! bucket. Dropping the waiting future gives up its place; dropping a permit returns its
//! estimate. The loop holds no lock while it sleeps, so waiting can never deadlock the bucket.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::{Clock, TokioClock};
use crate::core::{
    AcquireRequest, Decision, Envelope, Policy, ReconcileOutcome, ReservationId, SettleOutcome,
    Snapshot, WaiterId,
};
use crate::error::Error;
use crate::memory::MemoryBackend;
use crate::tokens::{Lane, Tokens};

#[derive(Debug)]
pub(crate) enum Backend {
    Memory(MemoryBackend),
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisBackend),
}

// The Redis futures are boxed: an async call's future is as large as the largest one it may
// await, and the Redis client's are kilobytes, which every memory-backed call then set up and
// copied (more than half the time of an uncontended acquire and settle). A box costs the Redis
// backend one allocation per round trip.
impl Backend {
    async fn acquire(&self, request: AcquireRequest) -> Result<(Decision, i64), Error> {
        match self {
            Backend::Memory(memory) => Ok(memory.acquire(request)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.acquire(request)).await,
        }
    }

    async fn settle(
        &self,
        reservation: ReservationId,
        actual: Tokens,
    ) -> Result<SettleOutcome, Error> {
        match self {
            Backend::Memory(memory) => Ok(memory.settle(reservation, actual)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.settle(reservation, actual)).await,
        }
    }

    async fn release(&self, reservation: ReservationId) -> Result<SettleOutcome, Error> {
        match self {
            Backend::Memory(memory) => Ok(memory.release(reservation)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.release(reservation)).await,
        }
    }

    async fn cancel(&self, waiter: WaiterId) -> Result<(), Error> {
        match self {
            Backend::Memory(memory) => {
                memory.cancel(waiter);
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.cancel(waiter)).await,
        }
    }

    async fn reconcile(
        &self,
        envelope: &Envelope,
        settle: Option<ReservationId>,
    ) -> Result<ReconcileOutcome, Error> {
        match self {
            Backend::Memory(memory) => Ok(memory.reconcile(envelope, settle)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.reconcile(envelope, settle)).await,
        }
    }

    async fn bulk_budget(&self) -> Result<Tokens, Error> {
        match self {
            Backend::Memory(memory) => Ok(memory.bulk_budget()),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.bulk_budget()).await,
        }
    }

    async fn snapshot(&self) -> Result<(Snapshot, i64), Error> {
        match self {
            Backend::Memory(memory) => Ok(memory.snapshot()),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.snapshot()).await,
        }
    }

    async fn desync(&self) -> Result<(), Error> {
        match self {
            Backend::Memory(memory) => {
                memory.desync();
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Box::pin(redis.desync()).await,
        }
    }
}

struct Inner {
    backend: Backend,
    /// Woken whenever this process changes the bucket, so local waiters ask again at once.
    changed: Notify,
    /// How many [`Bucket::acquire`] calls of this process are waiting. Changes notify
    /// [`Inner::changed`] only when some are: `Notify::notify_waiters` locks tokio's list of
    /// waiters on every call, which doubled the cost of an uncontended acquire and settle.
    n_waiting: AtomicUsize,
}

impl Inner {
    /// Wakes the local waiters, if any, after a change to the bucket.
    ///
    /// A waiter is counted before the decision it then sleeps on is asked for (see
    /// [`Bucket::acquire`]). A change made after that decision is ordered after the count by
    /// the backend itself (the memory backend's mutex; for Redis, the one connection's request
    /// and reply channels), so this load sees the waiter and wakes it; a change made before
    /// that decision is seen by the decision.
    fn notify_changed(&self) {
        if self.n_waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }
}

/// A token bucket with Keepa's quota semantics. Cheap to clone; clones share one bucket.
///
/// See the [crate documentation](crate) and the [`guide`](crate::guide) for how to use it.
#[derive(Clone)]
pub struct Bucket {
    inner: Arc<Inner>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

impl Bucket {
    /// A bucket for one process, on tokio's clock.
    ///
    /// Create it inside the runtime when that runtime's clock is paused, so that it follows it.
    pub fn in_memory(policy: Policy) -> Bucket {
        Bucket::in_memory_with_clock(policy, Arc::new(TokioClock::start()))
    }

    /// A bucket for one process on the given clock.
    ///
    /// Waiting always sleeps on tokio's clock, so a clock that does not move with tokio's
    /// (a [`ManualClock`](crate::clock::ManualClock)) suits `try_acquire`-style use and tests
    /// of decisions, not waiting acquires.
    pub fn in_memory_with_clock(policy: Policy, clock: Arc<dyn Clock>) -> Bucket {
        Bucket::from_backend(Backend::Memory(MemoryBackend::new(policy, clock)))
    }

    /// A bucket shared by every process that uses the same Redis server and key prefix: the
    /// fleet backend. Each operation is one Lua script run atomically on the server.
    ///
    /// The bucket takes one multiplexed connection from the pool and shares it between all its
    /// calls; clone the bucket rather than creating one per task. Nothing is sent until the
    /// first operation, so this never fails: an unreachable server shows up as
    /// [`Error::RedisUnavailable`] from that operation.
    #[cfg(feature = "redis")]
    pub fn redis(pool: deadpool_redis::Pool, config: crate::redis::RedisConfig) -> Bucket {
        Bucket::from_backend(Backend::Redis(crate::redis::RedisBackend::new(
            pool, config,
        )))
    }

    /// [`Bucket::redis`] with a pool made from a URL such as `redis://127.0.0.1:6379/`.
    /// Errors name the server by the URL's host and port, never by its credentials (unless
    /// `config.endpoint` says otherwise).
    ///
    /// # Errors
    ///
    /// [`Error::RedisUnavailable`] when the URL is not a Redis URL or no pool can be made
    /// from it. Nothing is connected yet.
    #[cfg(feature = "redis")]
    pub fn redis_from_url(
        url: &str,
        mut config: crate::redis::RedisConfig,
    ) -> Result<Bucket, Error> {
        let endpoint = config
            .endpoint
            .get_or_insert_with(|| crate::redis::endpoint_of(url))
            .clone();
        let pool = crate::redis::connection_pool(url, 4, None).map_err(|problem| {
            Error::RedisUnavailable {
                endpoint,
                source: problem.into(),
            }
        })?;
        Ok(Bucket::redis(pool, config))
    }

    pub(crate) fn from_backend(backend: Backend) -> Bucket {
        Bucket {
            inner: Arc::new(Inner {
                backend,
                changed: Notify::new(),
                n_waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Waits until a request of estimated `cost` may start in `lane`, and reserves the estimate.
    ///
    /// Requests in one lane are admitted in the order they asked. Cancelling the returned
    /// future (dropping it) gives up the place in the queue.
    ///
    /// # Errors
    ///
    /// [`Error::Unsynced`] until the bucket has seen an envelope; [`Error::CostAboveMaximum`]
    /// for a cost the lane can never admit at the current plan; Redis errors from the Redis
    /// backend.
    pub async fn acquire(&self, cost: Tokens, lane: Lane) -> Result<Permit, Error> {
        let mut place = QueuePlace {
            bucket: self,
            waiter: None,
            counted: false,
        };
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            if place.counted {
                // Registered before asking, so a change between the answer and the sleep still
                // wakes us.
                changed.as_mut().enable();
            }
            let request = AcquireRequest {
                cost,
                lane,
                waiter: place.waiter,
            };
            let (decision, now_ms) = self.inner.backend.acquire(request).await?;
            match decision {
                Decision::Admit { reservation } => {
                    place.waiter = None;
                    // The next waiter in line may now be at the head of its queue.
                    self.inner.notify_changed();
                    return Ok(Permit::new(self.clone(), reservation, cost, lane));
                }
                Decision::Wait { waiter, until_ms } => {
                    place.waiter = Some(waiter);
                    if !place.counted {
                        // Only a waiting acquire is counted, so that one admitted at once pays
                        // nothing for waking. Ask again before sleeping: a change made before
                        // the count was taken notified nobody.
                        place.count_as_waiting();
                        continue;
                    }
                    let wait = Duration::from_millis(u64::try_from(until_ms - now_ms).unwrap_or(0));
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = &mut changed => {}
                    }
                }
                Decision::Refuse(reason) => {
                    place.waiter = None;
                    return Err(Error::refused(lane, reason));
                }
                Decision::Unsynced => return Err(Error::Unsynced),
            }
        }
    }

    /// Reserves `cost` in `lane` only if it may start right now; never waits.
    ///
    /// # Errors
    ///
    /// As [`Bucket::acquire`].
    pub async fn try_acquire(&self, cost: Tokens, lane: Lane) -> Result<Option<Permit>, Error> {
        let request = AcquireRequest {
            cost,
            lane,
            waiter: None,
        };
        // The memory backend's answer without an await on its path, so that the compiler sees a
        // plain call there: through the async backend layer it was measurably slower.
        #[cfg_attr(
            not(feature = "redis"),
            expect(irrefutable_let_patterns, reason = "redis adds a variant")
        )]
        if let Backend::Memory(memory) = &self.inner.backend {
            return match memory.acquire(request).0 {
                Decision::Wait { waiter, .. } => {
                    memory.cancel(waiter);
                    Ok(None)
                }
                decision => self.permit_for(decision, cost, lane),
            };
        }
        match self.inner.backend.acquire(request).await?.0 {
            Decision::Wait { waiter, .. } => {
                self.inner.backend.cancel(waiter).await?;
                Ok(None)
            }
            decision => self.permit_for(decision, cost, lane),
        }
    }

    /// What [`Bucket::try_acquire`] answers for a decision other than a wait.
    fn permit_for(
        &self,
        decision: Decision,
        cost: Tokens,
        lane: Lane,
    ) -> Result<Option<Permit>, Error> {
        match decision {
            Decision::Admit { reservation } => {
                Ok(Some(Permit::new(self.clone(), reservation, cost, lane)))
            }
            Decision::Wait { .. } => Ok(None),
            Decision::Refuse(reason) => Err(Error::refused(lane, reason)),
            Decision::Unsynced => Err(Error::Unsynced),
        }
    }

    /// Corrects the projection from an envelope that settles no permit of this bucket (a
    /// `/token` call, or a response whose permit was already settled).
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend.
    pub async fn reconcile(&self, envelope: &Envelope) -> Result<ReconcileOutcome, Error> {
        let outcome = self.inner.backend.reconcile(envelope, None).await?;
        self.inner.notify_changed();
        Ok(outcome)
    }

    /// How much bulk work may reserve right now without waiting. Size batches to this (and to
    /// learned costs) instead of waiting for a threshold.
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend.
    pub async fn bulk_budget(&self) -> Result<Tokens, Error> {
        self.inner.backend.bulk_budget().await
    }

    /// A read-only view of the projection, for progress reports, metrics and diagnostics.
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend.
    pub async fn snapshot(&self) -> Result<Snapshot, Error> {
        Ok(self.inner.backend.snapshot().await?.0)
    }

    /// Forgets the projection, so the next acquire answers [`Error::Unsynced`] and the caller
    /// resynchronises from Keepa. For operators' "flush token state".
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend.
    pub async fn desync(&self) -> Result<(), Error> {
        self.inner.backend.desync().await
    }

    /// One acquire decision, without waiting and without a [`Permit`]: the low-level form of
    /// [`Bucket::acquire`], for simulations, cross-backend tests and callers that drive their
    /// own waiting. Also answers the `now` the backend used, on its clock, so that a
    /// [`Decision::Wait`] can be turned into a sleep of `until_ms − now`.
    ///
    /// A [`Decision::Admit`]'s reservation must be finished with
    /// [`Bucket::settle_reservation`], [`Bucket::release_reservation`] or
    /// [`Bucket::reconcile_reservation`] (or left to expire); a [`Decision::Wait`]'s place must
    /// be asked with again or given up with [`Bucket::cancel_waiter`] (or left to expire).
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend. Refusals and an unsynced bucket are decisions
    /// here, not errors.
    pub async fn decide(&self, request: AcquireRequest) -> Result<(Decision, i64), Error> {
        let answer = self.inner.backend.acquire(request).await?;
        if matches!(answer.0, Decision::Admit { .. }) {
            self.inner.notify_changed();
        }
        Ok(answer)
    }

    /// Gives up a place in a queue that [`Bucket::decide`] answered with.
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend; the place then expires on its own.
    pub async fn cancel_waiter(&self, waiter: WaiterId) -> Result<(), Error> {
        self.inner.backend.cancel(waiter).await?;
        self.inner.notify_changed();
        Ok(())
    }

    /// Settles a reservation by its identity; the low-level form of [`Permit::settle`].
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend.
    pub async fn settle_reservation(
        &self,
        reservation: ReservationId,
        actual: Tokens,
    ) -> Result<SettleOutcome, Error> {
        // Without an await on the memory backend's path, as in `try_acquire`.
        let outcome = match &self.inner.backend {
            Backend::Memory(memory) => memory.settle(reservation, actual),
            #[cfg(feature = "redis")]
            backend => backend.settle(reservation, actual).await?,
        };
        self.inner.notify_changed();
        Ok(outcome)
    }

    /// Returns a reservation's whole estimate; the low-level form of [`Permit::release`].
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend.
    pub async fn release_reservation(
        &self,
        reservation: ReservationId,
    ) -> Result<SettleOutcome, Error> {
        let outcome = self.inner.backend.release(reservation).await?;
        self.inner.notify_changed();
        Ok(outcome)
    }

    /// Settles a reservation with the envelope's `tokensConsumed` and corrects the projection
    /// from the rest of it, atomically; the low-level form of [`Permit::reconcile`].
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend.
    pub async fn reconcile_reservation(
        &self,
        reservation: ReservationId,
        envelope: &Envelope,
    ) -> Result<ReconcileOutcome, Error> {
        let outcome = self
            .inner
            .backend
            .reconcile(envelope, Some(reservation))
            .await?;
        self.inner.notify_changed();
        Ok(outcome)
    }

    /// Runs a cleanup that `Drop` cannot await: at once for the memory backend, on the current
    /// tokio runtime otherwise. Without a runtime, the backend's expiry cleans up instead.
    fn clean_up_later(&self, cleanup: Cleanup) {
        #[cfg_attr(
            not(feature = "redis"),
            expect(irrefutable_let_patterns, reason = "redis adds a variant")
        )]
        if let Backend::Memory(memory) = &self.inner.backend {
            match cleanup {
                Cleanup::Release(reservation) => {
                    memory.release(reservation);
                }
                Cleanup::Spend(reservation, cost) => {
                    memory.settle(reservation, cost);
                }
                Cleanup::Cancel(waiter) => memory.cancel(waiter),
            }
            self.inner.notify_changed();
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let bucket = self.clone();
        runtime.spawn(async move {
            let result = match cleanup {
                Cleanup::Release(reservation) => bucket.release_reservation(reservation).await.map(drop),
                Cleanup::Spend(reservation, cost) => bucket.settle_reservation(reservation, cost).await.map(drop),
                Cleanup::Cancel(waiter) => bucket.inner.backend.cancel(waiter).await,
            };
            if let Err(error) = result {
                tracing::warn!(%error, "token bucket cleanup failed; the entry will expire on its own");
            }
        });
    }
}

enum Cleanup {
    Release(ReservationId),
    /// Settle at this cost: the request was sent, so its estimate is presumed spent.
    Spend(ReservationId, Tokens),
    Cancel(WaiterId),
}

/// A place in a lane's queue, given up when the waiting acquire is dropped.
struct QueuePlace<'a> {
    bucket: &'a Bucket,
    waiter: Option<WaiterId>,
    /// Whether this acquire is counted in [`Inner::n_waiting`].
    counted: bool,
}

impl QueuePlace<'_> {
    fn count_as_waiting(&mut self) {
        self.bucket.inner.n_waiting.fetch_add(1, Ordering::SeqCst);
        self.counted = true;
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            self.bucket.clean_up_later(Cleanup::Cancel(waiter));
        }
        if self.counted {
            self.bucket.inner.n_waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// An admitted request's reservation.
///
/// Finish it with [`Permit::reconcile`] (the response's envelope: settles with
/// `tokensConsumed` and corrects the projection in one step), [`Permit::settle`] (an actual
/// cost known another way), or [`Permit::release`] (the request was never sent). Dropping an
/// unfinished permit releases it, unless [`Permit::mark_sent`] said the request went out, in
/// which case its estimate counts as spent. When a request was sent but its outcome is unknown
/// (a timeout), settle it at its estimate: the tokens were most likely spent.
#[must_use = "a permit reserves tokens until it is settled, released or dropped"]
pub struct Permit {
    bucket: Bucket,
    reservation: ReservationId,
    cost: Tokens,
    lane: Lane,
    finished: bool,
    sent: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("reservation", &self.reservation)
            .field("cost", &self.cost)
            .field("lane", &self.lane)
            .finish_non_exhaustive()
    }
}

impl Permit {
    fn new(bucket: Bucket, reservation: ReservationId, cost: Tokens, lane: Lane) -> Permit {
        Permit {
            bucket,
            reservation,
            cost,
            lane,
            finished: false,
            sent: false,
        }
    }

    /// Says that the request is on its way to Keepa: from now on, dropping the permit without
    /// finishing it (a cancelled call, a shutdown mid-request) settles it at its estimate
    /// instead of returning the estimate, because Keepa has most likely charged the request.
    /// Returning tokens that were spent would let the projection admit requests that Keepa
    /// then refuses with a 429.
    pub fn mark_sent(&mut self) {
        self.sent = true;
    }

    /// The estimate reserved.
    pub fn cost(&self) -> Tokens {
        self.cost
    }

    /// The lane the request was admitted in.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// The reservation's identity, for logs.
    pub fn reservation(&self) -> ReservationId {
        self.reservation
    }

    /// Settles with the actual cost: refunds an overestimate, charges an underestimate.
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend; the reservation then expires on its own.
    pub async fn settle(mut self, actual: Tokens) -> Result<SettleOutcome, Error> {
        self.finished = true;
        self.bucket
            .settle_reservation(self.reservation, actual)
            .await
    }

    /// Settles with the envelope's `tokensConsumed` and corrects the projection from the rest
    /// of the envelope, atomically.
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend; the reservation then expires on its own.
    pub async fn reconcile(mut self, envelope: &Envelope) -> Result<ReconcileOutcome, Error> {
        self.finished = true;
        self.bucket
            .reconcile_reservation(self.reservation, envelope)
            .await
    }

    /// Returns the whole estimate: the request was never sent.
    ///
    /// # Errors
    ///
    /// Redis errors from the Redis backend; the reservation then expires on its own.
    pub async fn release(mut self) -> Result<SettleOutcome, Error> {
        self.finished = true;
        self.bucket.release_reservation(self.reservation).await
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.finished {
            let cleanup = if self.sent {
                Cleanup::Spend(self.reservation, self.cost)
            } else {
                Cleanup::Release(self.reservation)
            };
            self.bucket.clean_up_later(cleanup);
        }
    }
}
