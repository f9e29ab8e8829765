//! Shared helpers: a simulator, a client on it, sample paths.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use keepa_client::{
    ApiKey, AsinBatch, ClientConfig, KeepaClient, ProductQuery, RetryPolicy, SimTransport, Timeouts,
};
use keepa_sim::{Sim, SimBuilder};
use token_bucket::{Bucket, Policy};

/// The simulator's key. Distinctive, so a leak is easy to find.
pub(crate) const KEY: &str = "SimKeyZ9Q8W7E6R5T4Y3";

pub(crate) fn sim_builder() -> SimBuilder {
    Sim::builder().api_key(KEY).seed(11).catalogue_size(300)
}

pub(crate) fn config() -> ClientConfig {
    ClientConfig {
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(10),
        },
        retry: RetryPolicy {
            max_attempts: NonZeroU32::new(3).unwrap(),
            ..RetryPolicy::default()
        },
        ..ClientConfig::default()
    }
}

pub(crate) fn client_with_key(sim: &Sim, key: &str) -> KeepaClient<SimTransport> {
    KeepaClient::new(
        SimTransport::new(sim.clone()),
        Bucket::in_memory(Policy::default()),
        ApiKey::new(key).unwrap(),
        config(),
    )
}

pub(crate) fn client(sim: &Sim) -> KeepaClient<SimTransport> {
    client_with_key(sim, KEY)
}

pub(crate) fn batch(sim: &Sim, skip: usize, n: usize) -> AsinBatch {
    let asins = sim
        .asins()
        .into_iter()
        .skip(skip)
        .take(n)
        .map(|asin| asin.parse().unwrap())
        .collect();
    AsinBatch::new(asins).unwrap()
}

pub(crate) fn stats_query(sim: &Sim, skip: usize, n: usize) -> ProductQuery {
    ProductQuery {
        stats_days: NonZeroU32::new(90),
        ..ProductQuery::new(batch(sim, skip, n))
    }
}

/// `shared/keepa-samples/` beside the repository, or `None` (with the reason printed).
pub(crate) fn sample(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/keepa-samples")
        .join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            eprintln!(
                "skipping: the real Keepa sample {} is not readable ({error}); it lives in the \
                 shared folder beside the repository",
                path.display()
            );
            None
        }
    }
}
