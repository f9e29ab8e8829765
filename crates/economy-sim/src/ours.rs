//! "Ours": the real worker pipeline (`pipeline::run::run_with`), several workers sharing one
//! deal store, one fleet state and one token bucket, against the simulator in-process.
//!
//! The bucket and the fleet state live in memory (one process running every worker) or in
//! Redis with an injected tokio clock (the fleet tier). A restart stops every worker
//! gracefully and starts new ones: in memory the bucket starts unsynced again (a new process),
//! in Redis it resumes from the state there.
//!
//! Only the memory backend gives trustworthy figures. Under the paused clock tokio advances
//! time whenever every task is idle, and a task waiting for a Redis reply is idle: each round
//! trip lets the clock jump to the next timer (up to a minute), so the Redis-backed workers
//! barely work (measured: 5 useful tokens in 2 simulated hours instead of ~875). Making that
//! right means running each Redis call where it holds the clock (`spawn_blocking` on a real-time
//! runtime), inside token-bucket and fleet; it is not done.
//!
//! The pipeline does not expose how long its urgent requests wait, so a probe measures it: every
//! 97 simulated seconds (a period that sweeps the refill phase) it asks the shared bucket for
//! one `/deal` page's estimate in the urgent lane, records the wait until admission, and gives
//! the reservation back unspent. It waits exactly as a discovery page or an urgent refresh asked
//! at that instant would, and, like them, holds bulk work back while it waits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deal_store::{DealStore, StoreOptions, Synchronous};
use fleet::{Fleet, FleetClock, FleetConfig};
use keepa_client::{ApiKey, ClientConfig, KeepaClient, SimTransport};
use keepa_sim::Sim;
use pipeline::config::{FileConfig, Overrides, WorkerConfig};
use pipeline::run::bucket_policy;
use pipeline::worker::UnixClock;
use token_bucket::clock::TokioClock;
use token_bucket::{Bucket, Lane, RedisClock, RedisConfig, RedisIo, Tokens};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::harness::{SIM_KEY, START_UNIX_MS, Workers};

/// Between two probes of the urgent lane.
const PROBE_EVERY: Duration = Duration::from_secs(97);
/// What a probe asks for: one `/deal` page.
const PROBE_COST: i64 = 5;

/// Where the bucket and the fleet state live.
#[derive(Clone, Debug)]
pub enum Backend {
    /// In this process, shared by the workers.
    Memory,
    /// In Redis at this URL, under a prefix of its own, on the simulation's clock.
    Redis {
        /// The server.
        url: String,
        /// Every key starts with this.
        key_prefix: String,
    },
}

/// The real pipeline's workers.
#[derive(Debug)]
pub struct Ours {
    sim: Sim,
    backend: Backend,
    n_workers: usize,
    store: DealStore,
    fleet: Fleet,
    /// Kept for the Redis backend, where the bucket outlives a restart.
    redis_bucket: Option<Bucket>,
    clock: TokioClock,
    running: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
    probe: Option<JoinHandle<()>>,
    waits: Arc<Mutex<Vec<u64>>>,
    config: WorkerConfig,
    /// The real-time runtime the Redis bucket's calls run on (`RedisIo::RealTime`).
    _real_time: Option<RealTime>,
    _directory: tempfile::TempDir,
}

/// A real-time runtime for Redis IO, shut down without blocking when dropped (it may be
/// dropped inside the paused runtime, where a blocking shutdown is not allowed).
#[derive(Debug)]
struct RealTime(Option<tokio::runtime::Runtime>);

impl Drop for RealTime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Ours {
    /// Workers against `sim`; call inside the paused runtime.
    ///
    /// # Errors
    ///
    /// When the temporary database or the Redis clients cannot be set up.
    pub async fn new(sim: &Sim, n_workers: usize, backend: Backend) -> anyhow::Result<Ours> {
        let directory = tempfile::tempdir()?;
        let database = directory.path().join("deals.sqlite");
        let options = StoreOptions {
            // Durability does not matter here, and fewer syncs keep the run fast.
            synchronous: Synchronous::Normal,
            ..StoreOptions::default()
        };
        let store = DealStore::open(&database, options).await?;
        let overrides = Overrides {
            simulate: true,
            database: Some(database),
            listen: Some("127.0.0.1:0".to_owned()),
            ..Overrides::default()
        };
        let config = WorkerConfig::resolve(FileConfig::default(), overrides)?;
        let clock = TokioClock::start();
        let (fleet, redis_bucket, real_time) = match &backend {
            Backend::Memory => (Fleet::in_memory(clock), None, None),
            Backend::Redis { url, key_prefix } => {
                // Redis calls run on a real-time runtime (`RedisIo::RealTime`,
                // `FleetConfig::io_runtime`): under the paused clock, waiting on a socket would
                // otherwise let simulated time jump to the next timer.
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()?;
                let bucket_config = RedisConfig {
                    key_prefix: key_prefix.clone(),
                    clock: RedisClock::Injected(Arc::new(clock)),
                    io: RedisIo::RealTime(runtime.handle().clone()),
                    policy: bucket_policy(),
                    ..RedisConfig::default()
                };
                let bucket = Bucket::redis_from_url(url, bucket_config)?;
                let mut fleet_config = FleetConfig::with_prefix(key_prefix);
                fleet_config.clock = FleetClock::injected(clock);
                fleet_config.io_runtime = Some(runtime.handle().clone());
                let fleet = Fleet::connect(url, fleet_config)?;
                (fleet, Some(bucket), Some(RealTime(Some(runtime))))
            }
        };
        Ok(Ours {
            sim: sim.clone(),
            backend,
            n_workers,
            store,
            fleet,
            redis_bucket,
            clock,
            running: Vec::new(),
            probe: None,
            waits: Arc::default(),
            config,
            _real_time: real_time,
            _directory: directory,
        })
    }
}

impl Workers for Ours {
    fn policy(&self) -> &'static str {
        "ours"
    }

    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Memory => "memory",
            Backend::Redis { .. } => "redis",
        }
    }

    async fn start(&mut self) {
        let bucket = match &self.redis_bucket {
            Some(bucket) => bucket.clone(),
            // A new process: its in-memory bucket knows nothing yet.
            None => Bucket::in_memory_with_clock(bucket_policy(), Arc::new(self.clock)),
        };
        let origin_ms = self.clock_unix_ms();
        for _ in 0..self.n_workers {
            let client = KeepaClient::new(
                SimTransport::new(self.sim.clone()),
                bucket.clone(),
                ApiKey::new(SIM_KEY).expect("the simulator's key is well-formed"),
                ClientConfig::default(),
            );
            let (stop, stopped) = oneshot::channel::<()>();
            let worker = pipeline::run::run_with(
                self.config.clone(),
                self.store.clone(),
                self.fleet.clone(),
                client,
                UnixClock::starting_at(origin_ms),
                async move {
                    let _ = stopped.await;
                },
                |_| {},
            );
            let handle = tokio::spawn(async move {
                if let Err(error) = worker.await {
                    eprintln!("economy-sim: a worker could not start: {error}");
                }
            });
            self.running.push((stop, handle));
        }
        self.probe = Some(tokio::spawn(probe(bucket, Arc::clone(&self.waits))));
    }

    async fn stop(&mut self) {
        if let Some(probe) = self.probe.take() {
            probe.abort();
            let _ = probe.await;
        }
        for (stop, _) in &mut self.running {
            let _ = std::mem::replace(stop, oneshot::channel().0).send(());
        }
        for (_, handle) in self.running.drain(..) {
            let _ = handle.await;
        }
    }

    async fn work_exists(&self) -> bool {
        self.store
            .read(|reader| reader.backlog_depth())
            .await
            .is_ok_and(|depth| depth > 0)
    }

    async fn deals_stored(&self) -> u64 {
        self.store
            .read(|reader| reader.stored_deal_count())
            .await
            .unwrap_or(0)
    }

    fn urgent_waits(&self) -> Vec<u64> {
        self.waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Ours {
    /// The simulator's Unix time now, so the workers' clocks agree with Keepa's.
    fn clock_unix_ms(&self) -> i64 {
        let now = self.sim.now_unix_ms();
        debug_assert!(now >= START_UNIX_MS);
        now
    }
}

/// Asks the bucket for an urgent `/deal` page's worth every [`PROBE_EVERY`], records the wait,
/// and gives the tokens back.
async fn probe(bucket: Bucket, waits: Arc<Mutex<Vec<u64>>>) {
    let mut next = tokio::time::Instant::now() + PROBE_EVERY;
    loop {
        tokio::time::sleep_until(next).await;
        let asked = tokio::time::Instant::now();
        // Not synced yet (just after a start): nothing to measure.
        if let Ok(permit) = bucket
            .acquire(Tokens::from_whole(PROBE_COST), Lane::Urgent)
            .await
        {
            let waited = u64::try_from(asked.elapsed().as_millis()).unwrap_or(u64::MAX);
            waits
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(waited);
            let _ = permit.release().await;
        }
        // After a long wait, the next probe is one period later, not at once.
        next = (next + PROBE_EVERY).max(tokio::time::Instant::now() + Duration::from_secs(1));
    }
}
