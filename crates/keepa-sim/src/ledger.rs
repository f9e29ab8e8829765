//! Keepa's token accounting for one API key, as DESIGN.md §2 describes it.
//!
//! Refill ticks land once a minute at a per-key phase; each adds `refillRate` tokens and the
//! balance is capped at 60 × `refillRate` (the excess is counted as wasted). A request is admitted
//! while the balance is > 0 and then charged in full, so the balance may go negative. A foreign
//! consumer (another program on the same key) spends at the half-minute between ticks and obeys
//! the same > 0 rule. The ledger is advanced lazily to "now" by replaying every event in time
//! order; it never reads a clock itself.

/// Milliseconds between two refill ticks.
pub(crate) const TICK_MS: u64 = 60_000;

#[derive(Clone, Debug)]
pub(crate) struct Ledger {
    balance: i64,
    refill_rate: i64,
    /// Elapsed milliseconds of the first refill tick; later ticks follow every [`TICK_MS`].
    phase_ms: u64,
    ticks_applied: u64,
    foreign_events_applied: u64,
    pub(crate) foreign_tokens_per_minute: i64,
    /// When set, every request is refused until this elapsed millisecond (the −200 lockout knob).
    locked_until_ms: Option<u64>,
    pub(crate) tokens_refilled: u64,
    pub(crate) tokens_wasted_at_cap: u64,
    pub(crate) foreign_tokens_spent: u64,
    pub(crate) tokens_charged: u64,
    pub(crate) min_balance: i64,
    pub(crate) max_balance: i64,
}

impl Ledger {
    pub(crate) fn new(balance: i64, refill_rate: i64, phase_ms: u64) -> Self {
        Self {
            balance,
            refill_rate,
            phase_ms: phase_ms % TICK_MS,
            ticks_applied: 0,
            foreign_events_applied: 0,
            foreign_tokens_per_minute: 0,
            locked_until_ms: None,
            tokens_refilled: 0,
            tokens_wasted_at_cap: 0,
            foreign_tokens_spent: 0,
            tokens_charged: 0,
            min_balance: balance,
            max_balance: balance,
        }
    }

    pub(crate) fn balance(&self) -> i64 {
        self.balance
    }

    pub(crate) fn refill_rate(&self) -> i64 {
        self.refill_rate
    }

    pub(crate) fn cap(&self) -> i64 {
        60 * self.refill_rate
    }

    fn tick_at(&self, index: u64) -> u64 {
        self.phase_ms + index * TICK_MS
    }

    fn foreign_event_at(&self, index: u64) -> u64 {
        self.phase_ms + TICK_MS / 2 + index * TICK_MS
    }

    /// Applies every refill tick and foreign spend due at or before `elapsed_ms`, in time order.
    pub(crate) fn advance_to(&mut self, elapsed_ms: u64) {
        loop {
            let next_tick = self.tick_at(self.ticks_applied);
            let next_foreign = self.foreign_event_at(self.foreign_events_applied);
            if next_tick.min(next_foreign) > elapsed_ms {
                return;
            }
            if next_tick <= next_foreign {
                self.ticks_applied += 1;
                self.refill();
            } else {
                self.foreign_events_applied += 1;
                self.foreign_spend();
            }
        }
    }

    fn refill(&mut self) {
        let cap = self.cap();
        let before = self.balance;
        let unclamped = before + self.refill_rate;
        // A balance above a lowered cap (after a plan downgrade) is clamped at the next tick.
        let after = unclamped.min(cap);
        self.tokens_refilled += self.refill_rate.max(0) as u64;
        if unclamped > after {
            self.tokens_wasted_at_cap += (unclamped - after).min(self.refill_rate).max(0) as u64;
        }
        self.set_balance(after);
    }

    fn foreign_spend(&mut self) {
        if self.foreign_tokens_per_minute > 0 && self.balance > 0 {
            self.foreign_tokens_spent += self.foreign_tokens_per_minute as u64;
            self.set_balance(self.balance - self.foreign_tokens_per_minute);
        }
    }

    pub(crate) fn set_balance(&mut self, balance: i64) {
        self.balance = balance;
        self.min_balance = self.min_balance.min(balance);
        self.max_balance = self.max_balance.max(balance);
    }

    /// Milliseconds from `elapsed_ms` to the next refill tick (always in `1..=60_000`).
    pub(crate) fn refill_in_ms(&self, elapsed_ms: u64) -> u64 {
        let next = self.tick_at(self.ticks_applied);
        if next > elapsed_ms {
            next - elapsed_ms
        } else {
            // Not advanced yet: compute from the phase alone.
            TICK_MS - elapsed_ms.saturating_sub(self.phase_ms) % TICK_MS
        }
    }

    /// Keepa's admission rule: a request is accepted while the balance is > 0 (and no lockout).
    pub(crate) fn admits(&self, elapsed_ms: u64) -> bool {
        let locked = self.locked_until_ms.is_some_and(|until| elapsed_ms < until);
        !locked && self.balance > 0
    }

    /// Charges an admitted request in full; the balance may go negative.
    pub(crate) fn charge(&mut self, tokens: i64) {
        self.tokens_charged += tokens.max(0) as u64;
        self.set_balance(self.balance - tokens);
    }

    /// Locks the key until `until_ms` when the balance is at or below `threshold`.
    pub(crate) fn apply_lockout(&mut self, threshold: i64, elapsed_ms: u64, duration_ms: u64) {
        if self.balance <= threshold {
            self.locked_until_ms = Some(elapsed_ms + duration_ms);
        }
    }

    /// A plan change: keeps the balance, changes the rate and with it the cap.
    pub(crate) fn set_refill_rate(&mut self, refill_rate: i64) {
        self.refill_rate = refill_rate.max(0);
    }
}
