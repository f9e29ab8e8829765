//! A state-machine property test for leases: random acquire, renew, release and clock advances
//! from several owners, checked step by step against a model, over both backends.
//!
//! Properties: at most one holder at any instant (the backend's record always matches the
//! model's single holder); fencing numbers strictly increase across successive holders; a
//! release by anyone but the current holder changes nothing; an expired lease can be taken over
//! (and is, whenever an owner asks).

use std::time::Duration;

use fleet::{Fleet, InstanceId, Lease};
use proptest::prelude::*;
use token_bucket::clock::{Clock, ManualClock};

use crate::support::{START_MS, clean_up, redis_fleet};

const TTL_MS: i64 = 30_000;
const OWNERS: usize = 3;

#[derive(Clone, Debug)]
enum Operation {
    Acquire(usize),
    Renew(usize),
    Release(usize),
    Advance(i64),
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        3 => (0..OWNERS).prop_map(Operation::Acquire),
        2 => (0..OWNERS).prop_map(Operation::Renew),
        2 => (0..OWNERS).prop_map(Operation::Release),
        3 => (0..=45_000_i64).prop_map(Operation::Advance),
    ]
}

/// The lease record the model expects the backend to hold.
#[derive(Clone, Copy, Debug)]
struct Record {
    owner: usize,
    fencing: u64,
    expires_at_ms: i64,
}

async fn run(fleet: Fleet, clock: ManualClock, operations: &[Operation]) -> Result<(), String> {
    let owners: Vec<Fleet> = (0..OWNERS)
        .map(|index| fleet.with_instance(InstanceId::new(&format!("host-{index}"), 100)))
        .collect();
    let mut leases: Vec<Option<Lease>> = vec![None; OWNERS];
    let mut record: Option<Record> = None;
    let mut last_fencing = 0_u64;
    let ttl = Duration::from_millis(TTL_MS.unsigned_abs());
    for (step, operation) in operations.iter().enumerate() {
        let now = clock.now_ms();
        let context = format!("step {step} {operation:?}");
        match *operation {
            Operation::Acquire(owner) => {
                let free = record.is_none_or(|held| held.expires_at_ms <= now);
                let taken = owners[owner].acquire_lease("discovery", ttl).await.unwrap();
                if taken.is_some() != free {
                    return Err(format!(
                        "{context}: taken {taken:?}, expected free = {free}"
                    ));
                }
                if let Some(lease) = taken {
                    if lease.fencing() <= last_fencing {
                        return Err(format!(
                            "{context}: fencing {} after {last_fencing}",
                            lease.fencing()
                        ));
                    }
                    last_fencing = lease.fencing();
                    record = Some(Record {
                        owner,
                        fencing: lease.fencing(),
                        expires_at_ms: now + TTL_MS,
                    });
                    leases[owner] = Some(lease);
                }
            }
            Operation::Renew(owner) => {
                let Some(lease) = &leases[owner] else {
                    continue;
                };
                let current = record
                    .filter(|held| held.fencing == lease.fencing() && held.expires_at_ms > now);
                let renewed = owners[owner].renew(lease).await.unwrap();
                if renewed != current.is_some() {
                    return Err(format!("{context}: renewed {renewed}, model {record:?}"));
                }
                if renewed {
                    record = record.map(|held| Record {
                        expires_at_ms: now + TTL_MS,
                        ..held
                    });
                }
            }
            Operation::Release(owner) => {
                let Some(lease) = &leases[owner] else {
                    continue;
                };
                let owns = record.is_some_and(|held| held.fencing == lease.fencing());
                let released = owners[owner].release(lease).await.unwrap();
                if released != owns {
                    return Err(format!("{context}: released {released}, model {record:?}"));
                }
                if released {
                    record = None;
                }
            }
            Operation::Advance(ms) => clock.advance_ms(ms),
        }
        let seen = fleet.inspect("discovery").await.unwrap();
        let matches = match (&seen, &record) {
            (None, None) => true,
            (Some(info), Some(held)) => {
                info.fencing == held.fencing
                    && info.expires_at_ms == held.expires_at_ms
                    && info.holder_instance == *owners[held.owner].instance()
            }
            _ => false,
        };
        if !matches {
            return Err(format!(
                "{context}: backend holds {seen:?}, model {record:?}"
            ));
        }
    }
    clean_up(&fleet).await;
    Ok(())
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn leases_in_memory_follow_the_model(operations in prop::collection::vec(operation(), 1..60)) {
        let clock = ManualClock::at(START_MS);
        let fleet = Fleet::in_memory(clock.clone());
        block_on(run(fleet, clock, &operations)).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn leases_in_redis_follow_the_model(operations in prop::collection::vec(operation(), 1..60)) {
        let outcome = block_on(async {
            let clock = ManualClock::at(START_MS);
            let fleet = redis_fleet("lease_state_machine", &clock);
            run(fleet, clock, &operations).await
        });
        outcome.map_err(TestCaseError::fail)?;
    }
}
