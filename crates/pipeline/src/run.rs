//! The worker's one entry point: [`run`] takes a validated configuration and a shutdown signal,
//! wires the parts together, starts every task, and returns when all of them have stopped.
//!
//! Every spawned task is owned by one `JoinSet` and awaited; every task loop watches the same
//! shutdown channel. On shutdown the tasks finish the deal in hand (each deal is its own
//! commit), discovery releases its lease, and the HTTP server drains its requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use deal_store::{DealStore, StoreOptions};
use fleet::{Fleet, FleetConfig};
use keepa_client::{
    ApiKey, ClientConfig, KeepaClient, ReqwestTransport, SimTransport, Timeouts, Transport,
};
use token_bucket::clock::TokioClock;
use token_bucket::redis::RedisConfig;
use token_bucket::{Bucket, Policy};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::api::{self, ApiState};
use crate::config::{KeepaSource, WorkerConfig};
use crate::lock::InstanceLock;
use crate::metrics::Metrics;
use crate::worker::{HealthBoard, Shared, UnixClock};
use crate::{analysis, discovery};

/// Why the worker could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Another worker holds this database.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Store(#[from] deal_store::StoreError),
    /// Redis (the fleet tier) could not be used.
    #[error("cannot use redis for the fleet state: {0}")]
    Fleet(#[from] fleet::Error),
    /// Redis (the fleet tier) could not be used for the token bucket.
    #[error("cannot use redis for the token bucket: {0}")]
    Bucket(#[from] token_bucket::Error),
    /// The Keepa key was refused by the client before any call.
    #[error("the keepa api key is not usable: {0}")]
    Key(String),
    /// The HTTP transport could not be set up.
    #[error("cannot set up the keepa http client: {0}")]
    Transport(String),
    /// The API's address could not be bound.
    #[error(
        "cannot listen on {address}: {source}; is another program (or worker) using it? pass --listen HOST:PORT"
    )]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Where the worker ended up listening and storing, for the start-up line and the tests.
#[derive(Clone, Debug)]
pub struct Started {
    /// The API's bound address (the port is the real one when `--listen` asked for port 0).
    pub api: SocketAddr,
    /// The database file.
    pub database: PathBuf,
    /// Whether Keepa is simulated.
    pub simulated: bool,
}

/// The token bucket's rules for the worker: the defaults, and a request is admitted beside
/// others in flight only with room for each of them to cost ten times its estimate
/// ([`Policy::surprise_factor`]), the most the client pads an estimate after a cost surprise
/// ([`keepa_client::estimate::MAX_SURPRISE_PADDING`]). Every process sharing a bucket over
/// Redis must use the same rules.
pub fn bucket_policy() -> Policy {
    Policy {
        surprise_factor: SURPRISE_FACTOR,
        ..Policy::default()
    }
}

/// [`keepa_client::estimate::MAX_SURPRISE_PADDING`] as the bucket's integer factor.
const SURPRISE_FACTOR: i64 = keepa_client::estimate::MAX_SURPRISE_PADDING as i64;

/// Runs the worker until `shutdown` completes. `on_started` is called once everything is up.
///
/// # Errors
///
/// When a part cannot be set up (lock, database, Redis, listen address); errors after start-up
/// are reported by the tasks themselves and never stop the worker.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_started: impl FnOnce(&Started),
) -> Result<(), RunError> {
    let _lock = match config.redis {
        None => Some(InstanceLock::acquire(&config.database)?),
        Some(_) => None,
    };
    let options = StoreOptions {
        attempt_budget: config.attempt_budget.get(),
        ..StoreOptions::default()
    };
    let store = DealStore::open(&config.database, options).await?;
    let (bucket, fleet) = match &config.redis {
        None => (
            Bucket::in_memory(bucket_policy()),
            Fleet::in_memory(TokioClock::start()),
        ),
        Some(url) => {
            let bucket_config = RedisConfig {
                key_prefix: config.key_prefix.clone(),
                policy: bucket_policy(),
                ..RedisConfig::default()
            };
            let bucket = Bucket::redis_from_url(url.expose(), bucket_config)?;
            let fleet = Fleet::connect(url.expose(), FleetConfig::with_prefix(&config.key_prefix))?;
            (bucket, fleet)
        }
    };
    let client_config = ClientConfig {
        domain_id: config.selection.domain_id,
        ..ClientConfig::default()
    };
    match config.keepa.clone() {
        KeepaSource::Simulated { seed, refill_rate } => {
            let clock = UnixClock::from_system();
            let sim = keepa_sim::Sim::builder()
                .api_key(SIMULATED_KEY)
                .seed(seed)
                .refill_rate(refill_rate)
                .start_unix_ms(clock.now_ms())
                .build();
            let key =
                ApiKey::new(SIMULATED_KEY).map_err(|error| RunError::Key(error.to_string()))?;
            let client = KeepaClient::new(SimTransport::new(sim), bucket, key, client_config);
            run_with(config, store, fleet, client, clock, shutdown, on_started).await
        }
        KeepaSource::Live { api_key, base_url } => {
            let key =
                ApiKey::new(api_key.expose()).map_err(|error| RunError::Key(error.to_string()))?;
            let transport = ReqwestTransport::new(&base_url, Timeouts::default())
                .map_err(|error| RunError::Transport(error.to_string()))?;
            let client = KeepaClient::new(transport, bucket, key, client_config);
            run_with(
                config,
                store,
                fleet,
                client,
                UnixClock::from_system(),
                shutdown,
                on_started,
            )
            .await
        }
    }
}

/// The key the in-process simulator accepts; it is not a secret.
const SIMULATED_KEY: &str = "simulatedkeepakey0123456789";

/// Runs the worker on a given client, store and fleet: the seam the simulation and the tests use.
///
/// # Errors
///
/// When the API's address cannot be bound.
pub async fn run_with<T: Transport + 'static>(
    config: WorkerConfig,
    store: DealStore,
    fleet: Fleet,
    client: KeepaClient<T>,
    clock: UnixClock,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_started: impl FnOnce(&Started),
) -> Result<(), RunError> {
    let (stop, stopping) = watch::channel(false);
    let metrics = Metrics::default();
    let health = HealthBoard::default();
    let shared = Shared {
        client,
        store: store.clone(),
        fleet,
        metrics: metrics.clone(),
        config: Arc::new(config.clone()),
        clock,
        backlog_changed: Arc::new(Notify::new()),
        shutdown: stopping.clone(),
        health: health.clone(),
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RunError::Listen {
            address: config.listen,
            source,
        })?;
    let api_address = listener.local_addr().map_err(|source| RunError::Listen {
        address: config.listen,
        source,
    })?;
    shared.restore_learned_costs().await;
    let health_clock = clock;
    let api_state = ApiState::new(store, metrics, move || health.health(health_clock.now_ms()));

    let mut tasks = JoinSet::new();
    let mut api_stopping = stopping.clone();
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = api_stopping.wait_for(|stop| *stop).await;
        };
        if let Err(error) = api::serve(listener, api_state, shutdown).await {
            tracing::error!(%error, "the http api stopped");
        }
    });
    tasks.spawn(discovery::run(shared.clone()));
    tasks.spawn(analysis::run_analysis(shared.clone()));
    tasks.spawn(analysis::run_refresh(shared.clone()));
    tasks.spawn(analysis::run_upkeep(shared.clone()));

    on_started(&Started {
        api: api_address,
        database: config.database.clone(),
        simulated: matches!(config.keepa, KeepaSource::Simulated { .. }),
    });

    shutdown.await;
    tracing::info!("shutting down: finishing the deals in hand");
    let _ = stop.send(true);
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "a worker task panicked");
        }
    }
    shared.save_learned_costs().await;
    tracing::info!("stopped");
    Ok(())
}
