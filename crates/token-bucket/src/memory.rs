//! The in-memory backend: one process, the core behind a mutex.
//!
//! Every operation is a few integer updates under a `std::sync::Mutex` that is never held
//! across an await, so it is safe to call from async code without `spawn_blocking`.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;
use crate::core::{
    AcquireRequest, Core, Decision, Envelope, Policy, ReconcileOutcome, ReservationId,
    SettleOutcome, Snapshot, WaiterId,
};
use crate::tokens::Tokens;

/// The core and the clock it is driven by.
#[derive(Debug)]
pub(crate) struct MemoryBackend {
    core: Mutex<Core>,
    clock: Arc<dyn Clock>,
}

impl MemoryBackend {
    pub(crate) fn new(policy: Policy, clock: Arc<dyn Clock>) -> MemoryBackend {
        MemoryBackend {
            core: Mutex::new(Core::new(policy)),
            clock,
        }
    }

    fn lock(&self) -> (MutexGuard<'_, Core>, i64) {
        // A panic while holding the lock cannot leave the core half-updated in a way that
        // matters more than losing the bucket, so a poisoned lock is simply taken over.
        let core = self
            .core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (core, self.clock.now_ms())
    }

    pub(crate) fn acquire(&self, request: AcquireRequest) -> (Decision, i64) {
        let (mut core, now) = self.lock();
        (core.acquire(now, request), now)
    }

    pub(crate) fn settle(&self, reservation: ReservationId, actual: Tokens) -> SettleOutcome {
        let (mut core, now) = self.lock();
        core.settle(now, reservation, actual)
    }

    pub(crate) fn release(&self, reservation: ReservationId) -> SettleOutcome {
        let (mut core, now) = self.lock();
        core.release(now, reservation)
    }

    pub(crate) fn cancel(&self, waiter: WaiterId) {
        let (mut core, now) = self.lock();
        core.cancel(now, waiter);
    }

    pub(crate) fn reconcile(
        &self,
        envelope: &Envelope,
        settle: Option<ReservationId>,
    ) -> ReconcileOutcome {
        let (mut core, now) = self.lock();
        core.reconcile(now, envelope, settle)
    }

    pub(crate) fn bulk_budget(&self) -> Tokens {
        let (mut core, now) = self.lock();
        core.bulk_budget(now)
    }

    pub(crate) fn snapshot(&self) -> (Snapshot, i64) {
        let (mut core, now) = self.lock();
        (core.snapshot(now), now)
    }

    pub(crate) fn desync(&self) {
        let (mut core, _) = self.lock();
        core.desync();
    }
}
