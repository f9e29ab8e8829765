//! The sans-IO heart of the bucket: state + `now` + event → decision.
//!
//! [`Core`] holds the projection of Keepa's quota (the last authoritative balance, the refill
//! phase and rate, the reservations in flight and the requests waiting) and applies events to
//! it. It never reads a clock, sleeps or talks to a network: every method takes `now`, in
//! milliseconds on whatever clock the caller uses, and returns what should happen. The memory
//! backend wraps it in a mutex; the Redis backend runs the same algorithm as Lua scripts, and a
//! property test checks that both make identical decisions for the same events.
//!
//! The arithmetic is integer milli-tokens and integer milliseconds, and every division is a
//! floor division, so the Lua mirror can reproduce it exactly.

use std::collections::VecDeque;

use crate::tokens::{Lane, Tokens};

/// Milliseconds between two of Keepa's refills.
pub const REFILL_PERIOD_MS: i64 = 60_000;

/// How many minutes of refill the bucket holds: Keepa's "unused tokens expire after one hour".
pub const CAP_MINUTES: i64 = 60;

/// The rules the bucket enforces beyond Keepa's own. [`Policy::default`] documents the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// No request starts whose estimated cost could take the projected balance below this.
    /// Default −180 tokens: deep enough for one large urgent request, shallow enough that a
    /// 5-tokens-per-minute plan climbs out within the hour.
    pub deficit_floor: Tokens,
    /// Bulk requests must leave at least this much for urgent work. Default 10 tokens: two
    /// `/deal` pages.
    pub urgent_reserve: Tokens,
    /// A reservation neither settled nor released within this long is dropped from the
    /// in-flight set (its estimate stays spent). This is how a crashed holder's reservation
    /// expires. It must exceed the longest request timeout. Default 120 s.
    pub reservation_ttl_ms: i64,
    /// The longest a waiting request sleeps before it asks again, so that it notices changes
    /// made by other processes (a settle that refunded tokens). Default 5 s.
    pub max_wait_slice_ms: i64,
    /// A waiter that has not asked again this long after its wait ended is presumed gone (its
    /// process crashed) and leaves the queue. Default 10 s.
    pub waiter_grace_ms: i64,
    /// How many times its estimate a request in flight may turn out to cost: a request is
    /// admitted beside others only if each of them, arriving at Keepa last, would still find a
    /// positive balance after the others were charged this many times their estimates.
    /// Default 1: the estimates are trusted. 10 covers Keepa's "386-token surprise" (every
    /// cost ten times the usual); keepa-deals' worker runs with 10.
    ///
    /// Above 1, a low balance lets one request fly at a time: a request then waits for the one
    /// in flight to settle (seconds), not for a refill, and an urgent request may wait for a
    /// bulk one. A larger balance lets several fly together. When costs jump, the requests
    /// already sent cannot be recalled: at 1, the first one charged ten times its estimate
    /// takes the balance the others were admitted on, and they meet 429s.
    pub surprise_factor: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            deficit_floor: Tokens::from_whole(-180),
            urgent_reserve: Tokens::from_whole(10),
            reservation_ttl_ms: 120_000,
            max_wait_slice_ms: 5_000,
            waiter_grace_ms: 10_000,
            surprise_factor: 1,
        }
    }
}

/// What a response's envelope says about the quota, as the bucket needs it.
///
/// Keepa attaches these fields to every JSON response, errors and 429s included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `tokensLeft`: the authoritative balance after this request was charged. May be negative.
    pub tokens_left: i64,
    /// `refillIn`: milliseconds until the next refill.
    pub refill_in_ms: i64,
    /// `refillRate`: tokens added per minute. 0 means the envelope carries no token information
    /// (Keepa answers an invalid key so).
    pub refill_rate: i64,
    /// `tokensConsumed`: what this request actually cost.
    pub tokens_consumed: i64,
    /// `timestamp`: Keepa's server time in milliseconds, used to ignore envelopes that arrive
    /// after a newer one has been applied.
    pub server_timestamp_ms: i64,
}

/// Identifies an admitted request's reservation until it is settled or released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReservationId(pub u64);

/// Identifies a request waiting in a lane's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId(pub u64);

/// Why a request can never be admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// The estimate is more than the lane can ever admit at the current plan: the balance never
    /// exceeds the cap (60 × the refill rate), urgent requests may not end below the deficit
    /// floor and bulk requests must leave the urgent reserve.
    CostAboveMaximum {
        /// The estimate asked for.
        cost: Tokens,
        /// The most this lane can admit at the current rate.
        maximum: Tokens,
    },
}

/// The answer to an acquire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go: the estimate is reserved. Settle or release the reservation when the request ends.
    Admit {
        /// The reservation to settle or release.
        reservation: ReservationId,
    },
    /// Not yet: ask again (with `waiter`, to keep the place in the queue) at `until`, or earlier
    /// when the bucket changes.
    Wait {
        /// The place in the lane's queue.
        waiter: WaiterId,
        /// When to ask again, in the caller's clock.
        until_ms: i64,
    },
    /// Never, at the current plan.
    Refuse(RefuseReason),
    /// The bucket has no authoritative state yet (first start, or the shared state was wiped):
    /// reconcile it from an envelope first; a `/token` call costs nothing.
    Unsynced,
}

/// What a settle found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettleOutcome {
    /// The reservation was settled; the difference between estimate and actual was refunded
    /// (positive) or charged (negative).
    Settled {
        /// Estimate minus actual.
        refund: Tokens,
    },
    /// No such reservation: it expired or was already settled. Its estimate stays spent; the
    /// next envelope corrects the projection.
    Unknown,
}

/// What a reconcile did with the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// The projection now follows the envelope.
    Applied {
        /// Projection minus authoritative balance before the correction: positive when
        /// tokens vanished that this bucket did not spend (foreign consumption, or estimates
        /// of concurrent requests already charged), negative when more were there than
        /// projected.
        drift: Tokens,
    },
    /// A newer envelope had already been applied; only the settle (if any) took effect.
    Stale,
    /// The envelope carried no token information (`refillRate` 0); only the settle took effect.
    NoTokenInformation,
}

/// An acquire request as the core sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquireRequest {
    /// The estimated cost to reserve.
    pub cost: Tokens,
    /// The queue to wait in.
    pub lane: Lane,
    /// The place in the queue from an earlier [`Decision::Wait`], if any.
    pub waiter: Option<WaiterId>,
}

/// Running totals, for reports, metrics and the property tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Estimates reserved by admitted requests.
    pub granted: Tokens,
    /// Tokens added by refills the projection applied (before the cap).
    pub refilled: Tokens,
    /// Tokens lost because a refill arrived at the cap.
    pub wasted_at_cap: Tokens,
    /// Cumulative drift from reconciliations: positive means tokens were spent by someone this
    /// bucket does not know of.
    pub drift: Tokens,
    /// Reservations that expired without a settle (crashed or hung holders).
    pub expired_reservations: u64,
    /// Waiters that left the queue because they stopped asking.
    pub expired_waiters: u64,
    /// Admitted requests, per lane (urgent, bulk).
    pub admitted: [u64; 2],
}

impl Counters {
    /// The estimated consumption by other programs on the same key: the positive part of the
    /// cumulative drift.
    pub fn foreign_consumption(&self) -> Tokens {
        self.drift.non_negative()
    }
}

/// A read-only view of the projection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Whether the projection has been set from an envelope.
    pub synced: bool,
    /// The projected balance, with the estimates of requests in flight already deducted.
    pub balance: Tokens,
    /// Tokens per minute.
    pub refill_rate: i64,
    /// 60 × the refill rate.
    pub cap: Tokens,
    /// When the next refill lands, in the caller's clock.
    pub next_refill_ms: i64,
    /// The sum of the estimates in flight.
    pub in_flight: Tokens,
    /// Reservations in flight.
    pub n_in_flight: usize,
    /// Requests waiting, per lane (urgent, bulk).
    pub waiting: [usize; 2],
    /// The drift margin: what the balance must stay above for a request to be admitted,
    /// learned from unexplained drops in the last refill periods. See [`Core::drift_margin`].
    pub drift_margin: Tokens,
    /// The urgent reserve bulk work must leave: the policy's, or the urgent demand of the last
    /// refill periods when that is larger. See [`Core::urgent_reserve`].
    pub urgent_reserve: Tokens,
    /// Running totals.
    pub counters: Counters,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reservation {
    lane: Lane,
    cost: Tokens,
    expires_ms: i64,
    /// The server timestamp of the newest applied envelope whose `tokensLeft` had this
    /// reservation's estimate subtracted, if any. See [`Core::reconcile`].
    subtracted_at_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Waiter {
    id: WaiterId,
    expires_ms: i64,
    /// The estimate it asked for last: an urgent waiter larger than one refill does not hold
    /// back the urgent requests behind it (see [`Core::one_refill_for_us`]).
    cost: Tokens,
}

/// The projection and the rules that act on it. See the module documentation.
///
/// ```
/// use token_bucket::core::{AcquireRequest, Core, Decision, Envelope, Policy};
/// use token_bucket::{Lane, Tokens};
///
/// let mut core = Core::new(Policy::default());
/// let now = 0;
/// core.reconcile(now, &Envelope { tokens_left: 20, refill_in_ms: 30_000, refill_rate: 5,
///                                 tokens_consumed: 0, server_timestamp_ms: 1 }, None);
/// let request = AcquireRequest { cost: Tokens::from_whole(10), lane: Lane::Urgent, waiter: None };
/// assert!(matches!(core.acquire(now, request), Decision::Admit { .. }));
/// ```
#[derive(Clone, Debug)]
pub struct Core {
    policy: Policy,
    synced: bool,
    balance: Tokens,
    refill_rate: i64,
    next_refill_ms: i64,
    last_server_timestamp_ms: i64,
    next_id: u64,
    /// In no particular order. A vector rather than a map: a bucket has tens of requests in
    /// flight at most, and reusing the vector's allocation keeps acquire and settle
    /// allocation-free.
    reservations: Vec<(ReservationId, Reservation)>,
    waiters: [VecDeque<Waiter>; 2],
    /// No reservation or waiter expires before this instant: [`Core::tick`] looks for expired
    /// entries only from then on. Lowered whenever an entry is added or its expiry moves;
    /// entries leaving never make it wrong, only early.
    next_expiry_ms: i64,
    /// Drift observed during the refill period before the current one, and during the current
    /// one (signed). See [`Core::drift_margin`].
    drift_window: [Tokens; 2],
    /// Estimates admitted in the urgent lane during the previous refill period and the
    /// current one. See [`Core::urgent_reserve`].
    urgent_window: [Tokens; 2],
    counters: Counters,
}

impl Core {
    /// An unsynced bucket: every acquire answers [`Decision::Unsynced`] until the first
    /// [`Core::reconcile`].
    pub fn new(policy: Policy) -> Core {
        Core {
            policy,
            synced: false,
            balance: Tokens::ZERO,
            refill_rate: 0,
            next_refill_ms: 0,
            last_server_timestamp_ms: i64::MIN,
            next_id: 1,
            reservations: Vec::new(),
            waiters: [VecDeque::new(), VecDeque::new()],
            next_expiry_ms: i64::MAX,
            drift_window: [Tokens::ZERO; 2],
            urgent_window: [Tokens::ZERO; 2],
            counters: Counters::default(),
        }
    }

    /// The policy this bucket enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// 60 × the refill rate.
    pub fn cap(&self) -> Tokens {
        Tokens::from_whole(self.refill_rate.saturating_mul(CAP_MINUTES))
    }

    /// The most a request in `lane` can ever cost at the current plan.
    pub fn maximum_cost(&self, lane: Lane) -> Tokens {
        match lane {
            Lane::Urgent => self.cap() - self.policy.deficit_floor,
            Lane::Bulk => self.cap() - self.policy.urgent_reserve,
        }
    }

    /// What the projected balance must stay above for a request to be admitted: the larger of
    /// the drift (unexplained drops: another program spending the same key) seen in the
    /// current refill period and in the one before, between zero and one refill's worth.
    ///
    /// Between two envelopes the projection cannot see another program's spending. Keepa
    /// refuses a request that arrives at a balance of zero or below, so admitting down to a
    /// projected zero would meet a 429 whenever the other program spent first. Keeping one
    /// period's worth of the observed foreign spending in hand avoids that; the margin
    /// vanishes two refill periods after the drift stops, and costs nothing but a slightly
    /// later start while the balance is low.
    pub fn drift_margin(&self) -> Tokens {
        // A one-off drain says little about the next minute, and a consumer spending more
        // than the refill leaves nothing to keep in hand: one refill's worth at most.
        let one_refill = Tokens::from_whole(self.refill_rate.max(0));
        self.drift_window[0]
            .max(self.drift_window[1])
            .min(one_refill)
            .non_negative()
    }

    /// What one refill brings the requests of this bucket: the refill rate less the drift
    /// margin (other programs' spending), never below zero.
    ///
    /// An urgent request may take the balance below zero, as Keepa allows, but not so far that
    /// one refill leaves the next urgent request still waiting: one costing more than this
    /// waits until the part above it is in hand, and while it waits, smaller urgent requests
    /// behind it go first (they wait at most one refill). A `/deal` page that costs ten times
    /// its usual price (Keepa's "386-token surprise") would otherwise leave the balance below
    /// zero for several refills and make every urgent request wait them out.
    pub fn one_refill_for_us(&self) -> Tokens {
        (Tokens::from_whole(self.refill_rate.max(0)) - self.drift_margin()).non_negative()
    }

    /// The reserve bulk work must leave for urgent work: the policy's
    /// [`urgent_reserve`](Policy::urgent_reserve), or, when larger, the urgent estimates
    /// admitted in the current or the previous refill period, up to one refill's worth.
    ///
    /// A fixed reserve protects one or two urgent requests per refill. When urgent demand is
    /// larger (refreshes of many changed deals), saturating bulk work would spend the balance
    /// down to the fixed reserve after every refill, and the urgent requests beyond it would
    /// wait for the next refill. Sized to the urgent demand just seen, the reserve keeps a
    /// refill's urgent work from waiting behind bulk; the tokens are not lost, bulk spends them
    /// as soon as urgent work no longer needs them.
    pub fn urgent_reserve(&self) -> Tokens {
        let one_refill = Tokens::from_whole(self.refill_rate.max(0));
        let demand = self.urgent_window[0].max(self.urgent_window[1]);
        self.policy.urgent_reserve.max(demand.min(one_refill))
    }

    /// Applies the refills due by `now` and expires reservations and waiters whose time ran out.
    #[inline]
    pub fn tick(&mut self, now_ms: i64) {
        if self.synced && self.refill_rate > 0 && now_ms >= self.next_refill_ms {
            let ticks = (now_ms - self.next_refill_ms).div_euclid(REFILL_PERIOD_MS) + 1;
            let added = Tokens::from_whole(self.refill_rate.saturating_mul(ticks));
            let cap = self.cap();
            let refilled = (self.balance + added).min(cap).max(self.balance);
            self.counters.refilled = self.counters.refilled + added;
            self.counters.wasted_at_cap =
                self.counters.wasted_at_cap + (self.balance + added - refilled);
            self.balance = refilled;
            self.next_refill_ms += ticks * REFILL_PERIOD_MS;
            // The current period's drift becomes the previous period's; after more than one
            // tick, the period just ended saw nothing.
            for window in [&mut self.drift_window, &mut self.urgent_window] {
                *window = if ticks == 1 {
                    [window[1], Tokens::ZERO]
                } else {
                    [Tokens::ZERO; 2]
                };
            }
        }
        // Almost every call has nothing to expire; the scans below cost more than the rules.
        if now_ms >= self.next_expiry_ms {
            self.expire(now_ms);
        }
    }

    /// Drops the reservations and waiters whose time ran out, and finds the next expiry.
    fn expire(&mut self, now_ms: i64) {
        let n_before = self.reservations.len();
        self.reservations.retain(|(_, r)| r.expires_ms > now_ms);
        self.counters.expired_reservations += (n_before - self.reservations.len()) as u64;
        for queue in &mut self.waiters {
            let n_before = queue.len();
            queue.retain(|w| w.expires_ms > now_ms);
            self.counters.expired_waiters += (n_before - queue.len()) as u64;
        }
        let reservations = self.reservations.iter().map(|(_, r)| r.expires_ms);
        let waiters = self.waiters.iter().flatten().map(|w| w.expires_ms);
        self.next_expiry_ms = reservations.chain(waiters).min().unwrap_or(i64::MAX);
    }

    /// Asks to start a request. See [`Decision`].
    #[inline]
    pub fn acquire(&mut self, now_ms: i64, request: AcquireRequest) -> Decision {
        self.tick(now_ms);
        if !self.synced {
            return Decision::Unsynced;
        }
        let lane = request.lane;
        let maximum = self.maximum_cost(lane);
        if request.cost > maximum {
            if let Some(waiter) = request.waiter {
                self.remove_waiter(waiter);
            }
            return Decision::Refuse(RefuseReason::CostAboveMaximum {
                cost: request.cost,
                maximum,
            });
        }

        let queue = &self.waiters[lane.index()];
        let position = request
            .waiter
            .and_then(|id| queue.iter().position(|w| w.id == id));
        let ahead_end = position.unwrap_or(queue.len());
        let is_head = match lane {
            Lane::Bulk => ahead_end == 0,
            // Urgent requests larger than one refill wait for their tokens to be in hand
            // (see `balance_needed`); the smaller ones behind them go first.
            Lane::Urgent => {
                ahead_end == 0 || {
                    let one_refill = self.one_refill_for_us();
                    queue
                        .iter()
                        .take(ahead_end)
                        .all(|waiter| waiter.cost > one_refill)
                }
            }
        };
        let blocked_by_urgent =
            lane == Lane::Bulk && !self.waiters[Lane::Urgent.index()].is_empty();
        let needed = self.balance_needed(request.cost, lane);

        if is_head && !blocked_by_urgent && self.balance >= needed {
            if let Some(index) = position {
                self.waiters[lane.index()].remove(index);
            }
            let reservation = ReservationId(self.take_id());
            let expires_ms = now_ms + self.policy.reservation_ttl_ms;
            self.next_expiry_ms = self.next_expiry_ms.min(expires_ms);
            self.reservations.push((
                reservation,
                Reservation {
                    lane,
                    cost: request.cost,
                    expires_ms,
                    subtracted_at_ms: None,
                },
            ));
            self.balance = self.balance - request.cost;
            if lane == Lane::Urgent {
                self.urgent_window[1] = self.urgent_window[1] + request.cost;
            }
            self.counters.granted = self.counters.granted + request.cost;
            self.counters.admitted[lane.index()] += 1;
            return Decision::Admit { reservation };
        }

        let latest = now_ms + self.policy.max_wait_slice_ms;
        let until_ms = if is_head && !blocked_by_urgent {
            self.refill_reaching(needed).min(latest)
        } else {
            latest
        };
        let expires_ms = until_ms + self.policy.waiter_grace_ms;
        self.next_expiry_ms = self.next_expiry_ms.min(expires_ms);
        let waiter = match position {
            Some(index) => {
                let entry = &mut self.waiters[lane.index()][index];
                entry.expires_ms = expires_ms;
                entry.cost = request.cost;
                entry.id
            }
            None => {
                let id = WaiterId(self.take_id());
                self.waiters[lane.index()].push_back(Waiter {
                    id,
                    expires_ms,
                    cost: request.cost,
                });
                id
            }
        };
        Decision::Wait { waiter, until_ms }
    }

    /// Settles a reservation with the request's actual cost (`tokensConsumed`).
    #[inline]
    pub fn settle(
        &mut self,
        now_ms: i64,
        reservation: ReservationId,
        actual: Tokens,
    ) -> SettleOutcome {
        self.tick(now_ms);
        self.settle_ticked(reservation, actual)
    }

    /// Returns an unused reservation's whole estimate: the request was never sent.
    pub fn release(&mut self, now_ms: i64, reservation: ReservationId) -> SettleOutcome {
        self.tick(now_ms);
        match self.reservation(reservation) {
            Some(r) => {
                let cost = r.cost;
                self.settle_ticked(reservation, Tokens::ZERO);
                SettleOutcome::Settled { refund: cost }
            }
            None => SettleOutcome::Unknown,
        }
    }

    /// Gives up a place in a queue (a waiting acquire was cancelled).
    pub fn cancel(&mut self, now_ms: i64, waiter: WaiterId) {
        self.tick(now_ms);
        self.remove_waiter(waiter);
    }

    /// Corrects the projection from a response's envelope, settling that response's
    /// reservation first when given.
    ///
    /// The balance becomes `tokensLeft` minus the estimates still in flight, so concurrent
    /// reservations are never lost; the refill phase and rate follow the envelope; the
    /// difference from the projection is counted as drift.
    ///
    /// Subtracting every estimate in flight is conservative: Keepa may already have charged
    /// some of those requests when it wrote `tokensLeft`. Such a request's own envelope is then
    /// older than the one applied, so it arrives stale; when it does, the cost it was charged is
    /// given back, which removes the double count instead of leaving the projection low until
    /// the next request (a wait that, at a low balance, nothing else would end).
    pub fn reconcile(
        &mut self,
        now_ms: i64,
        envelope: &Envelope,
        settle: Option<ReservationId>,
    ) -> ReconcileOutcome {
        self.tick(now_ms);
        let stale = self.synced && envelope.server_timestamp_ms < self.last_server_timestamp_ms;
        if let Some(reservation) = settle {
            let double_counted = envelope.refill_rate > 0
                && stale
                && self
                    .reservation(reservation)
                    .and_then(|r| r.subtracted_at_ms)
                    .is_some_and(|at| at > envelope.server_timestamp_ms);
            let actual = Tokens::from_whole(envelope.tokens_consumed);
            self.settle_ticked(reservation, actual);
            if double_counted {
                self.balance = (self.balance + actual).min(self.cap().max(self.balance));
                // The newer envelope counted this charge as drift; it was ours.
                self.counters.drift = self.counters.drift - actual;
                self.drift_window[1] = self.drift_window[1] - actual;
            }
        }
        if envelope.refill_rate <= 0 {
            return ReconcileOutcome::NoTokenInformation;
        }
        if stale {
            return ReconcileOutcome::Stale;
        }
        let in_flight = self.in_flight();
        let authoritative = Tokens::from_whole(envelope.tokens_left) - in_flight;
        // Two envelopes stamped in the same millisecond cannot be ordered: the one applied
        // last may be the older, and taking its word would put back what the other request
        // spent. Keep the lower of the two balances; the next envelope settles it.
        let tie = self.synced && envelope.server_timestamp_ms == self.last_server_timestamp_ms;
        let corrected = if tie {
            authoritative.min(self.balance)
        } else {
            authoritative
        };
        let drift = if self.synced {
            self.balance - corrected
        } else {
            Tokens::ZERO
        };
        self.counters.drift = self.counters.drift + drift;
        self.drift_window[1] = self.drift_window[1] + drift;
        self.balance = corrected;
        for (_, reservation) in &mut self.reservations {
            reservation.subtracted_at_ms = Some(envelope.server_timestamp_ms);
        }
        self.refill_rate = envelope.refill_rate;
        self.next_refill_ms = if envelope.refill_in_ms > 0 {
            now_ms + envelope.refill_in_ms
        } else {
            // A refill due "now" is already in tokensLeft; the next one is a period away.
            now_ms + REFILL_PERIOD_MS
        };
        self.last_server_timestamp_ms = envelope.server_timestamp_ms;
        self.synced = true;
        ReconcileOutcome::Applied { drift }
    }

    /// How much bulk work may reserve right now without waiting: the balance above the urgent
    /// reserve, or zero while any request waits. Size batches to this.
    pub fn bulk_budget(&mut self, now_ms: i64) -> Tokens {
        self.tick(now_ms);
        if !self.synced || self.waiters.iter().any(|q| !q.is_empty()) {
            return Tokens::ZERO;
        }
        (self.balance - self.urgent_reserve() - self.drift_margin()).non_negative()
    }

    /// Forgets the projection (as a wiped Redis would): the next acquire answers
    /// [`Decision::Unsynced`]. Reservations and waiters are kept.
    pub fn desync(&mut self) {
        self.synced = false;
    }

    /// A read-only view of the projection at `now`.
    pub fn snapshot(&mut self, now_ms: i64) -> Snapshot {
        self.tick(now_ms);
        Snapshot {
            synced: self.synced,
            balance: self.balance,
            refill_rate: self.refill_rate,
            cap: self.cap(),
            next_refill_ms: self.next_refill_ms,
            in_flight: self.in_flight(),
            n_in_flight: self.reservations.len(),
            waiting: [self.waiters[0].len(), self.waiters[1].len()],
            drift_margin: self.drift_margin(),
            urgent_reserve: self.urgent_reserve(),
            counters: self.counters,
        }
    }

    fn balance_needed(&self, cost: Tokens, lane: Lane) -> Tokens {
        // Keepa admits a request whose balance is above zero when it *arrives*, and requests in
        // flight may arrive in any order. After this one is admitted, each request in flight
        // must still find a positive balance if it arrives last, after all the others were
        // charged: the balance less every estimate in flight, plus its own, must stay above
        // zero. The cheapest one is the tightest; when that is this request, the rule is
        // Keepa's own (balance > 0 before it).
        let cheapest = self
            .reservations
            .iter()
            .map(|(_, r)| r.cost)
            .fold(cost, Tokens::min);
        let reordering = cost - cheapest;
        let needed_with = |margin: Tokens, reserve: Tokens| {
            let above_margin = margin + Tokens::from_milli(1);
            match lane {
                // Keepa's rule (balance > 0, kept above the drift margin, whatever order the
                // requests in flight arrive in), and never below the deficit floor afterwards.
                Lane::Urgent => (above_margin + reordering).max(self.policy.deficit_floor + cost),
                // Leave the urgent reserve above the margin; the reserve is never negative, so
                // this also means > 0.
                Lane::Bulk => above_margin.max(reserve + margin + cost),
            }
        };
        // The learned parts (margin, urgent demand, one refill, surprises) never make a
        // request wait at the cap: refills would expire meanwhile.
        let fixed = needed_with(Tokens::ZERO, self.policy.urgent_reserve);
        let margin = self.drift_margin();
        let mut learned = needed_with(margin, self.urgent_reserve());
        if lane == Lane::Urgent {
            // One refill must bring the balance back above the margin (see
            // `one_refill_for_us`): no more than Keepa's rule for a request within one refill.
            learned = learned.max(cost - self.one_refill_for_us() + Tokens::from_milli(1));
        }
        // Requests in flight may cost `surprise_factor` times their estimates: the cheapest
        // request, arriving after all the others were charged that much, must still find the
        // balance above the margin. The balance already has every estimate deducted, this one
        // included once admitted. Alone, a request needs nothing more than Keepa's rule.
        let others = if self.policy.surprise_factor > 1 {
            self.in_flight()
        } else {
            Tokens::ZERO
        };
        if others > Tokens::ZERO {
            let charged_before_cheapest = (others + cost - cheapest)
                .as_milli()
                .saturating_mul(self.policy.surprise_factor);
            let surprised = Tokens::from_milli(charged_before_cheapest) - others
                + margin
                + Tokens::from_milli(1);
            learned = learned.max(surprised);
        }
        fixed.max(learned.min(self.cap()))
    }

    /// The first refill instant at which the balance reaches `needed`, refills alone assumed.
    fn refill_reaching(&self, needed: Tokens) -> i64 {
        let missing = (needed - self.balance).as_milli();
        let per_tick = Tokens::from_whole(self.refill_rate).as_milli().max(1);
        let ticks = (missing + per_tick - 1).div_euclid(per_tick).max(1);
        self.next_refill_ms + (ticks - 1) * REFILL_PERIOD_MS
    }

    fn settle_ticked(&mut self, reservation: ReservationId, actual: Tokens) -> SettleOutcome {
        let index = self
            .reservations
            .iter()
            .position(|(id, _)| *id == reservation);
        // The order of reservations means nothing, and `swap_remove` moves at most one.
        match index.map(|index| self.reservations.swap_remove(index).1) {
            Some(r) => {
                let refund = r.cost - actual;
                // Keepa's balance never exceeds the cap: a refund of an overestimate that
                // arrives after a refill filled the bucket is lost, as the refill's excess was.
                let ceiling = self.cap().max(self.balance);
                self.balance = (self.balance + refund).min(ceiling);
                SettleOutcome::Settled { refund }
            }
            None => SettleOutcome::Unknown,
        }
    }

    fn remove_waiter(&mut self, waiter: WaiterId) {
        for queue in &mut self.waiters {
            queue.retain(|w| w.id != waiter);
        }
    }

    fn reservation(&self, reservation: ReservationId) -> Option<&Reservation> {
        self.reservations
            .iter()
            .find(|(id, _)| *id == reservation)
            .map(|(_, r)| r)
    }

    fn in_flight(&self) -> Tokens {
        self.reservations
            .iter()
            .fold(Tokens::ZERO, |sum, (_, r)| sum + r.cost)
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The lane of an in-flight reservation, if it is still in flight.
    pub fn reservation_lane(&self, reservation: ReservationId) -> Option<Lane> {
        self.reservation(reservation).map(|r| r.lane)
    }
}
