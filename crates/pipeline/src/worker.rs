//! What every task shares: the Keepa client, the store, the fleet state, the metrics, the
//! clock, and the reporter that turns a task's progress into heartbeats.
//!
//! Time enters here and only here: [`UnixClock`] is wall-clock time at start plus tokio's
//! monotonic time since, so a simulation under tokio's paused clock moves the worker's notion of
//! "now" exactly as it moves the simulator's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deal_store::DealStore;
use fleet::{Fleet, InstanceId, Progress, TaskState, WaitReason};
use keepa_client::KeepaClient;
use keepa_model::{KeepaMinute, UnixMillis, UnixSeconds};
use tokio::sync::{Notify, watch};

use crate::api::Health;
use crate::config::WorkerConfig;
use crate::metrics::Metrics;

/// A task that has done no useful work for this long while it has work, and is not waiting for
/// tokens, the operator or another instance, is stalled (DESIGN.md §9).
pub const STALL_AFTER_MS: i64 = 15 * 60 * 1_000;

/// Unix time that advances with tokio's clock.
#[derive(Clone, Copy, Debug)]
pub struct UnixClock {
    origin: tokio::time::Instant,
    origin_unix_ms: i64,
}

impl UnixClock {
    /// A clock reading `unix_ms` now.
    pub fn starting_at(unix_ms: i64) -> UnixClock {
        UnixClock {
            origin: tokio::time::Instant::now(),
            origin_unix_ms: unix_ms,
        }
    }

    /// A clock reading the system's wall clock now.
    pub fn from_system() -> UnixClock {
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
            });
        UnixClock::starting_at(unix_ms)
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.origin_unix_ms.saturating_add(elapsed)
    }

    /// Unix seconds now.
    pub fn now(&self) -> UnixSeconds {
        UnixSeconds(self.now_ms().div_euclid(1_000))
    }

    /// The Keepa minute now (minute 0, 2011-01-01, for instants before Keepa's epoch).
    pub fn keepa_minute(&self) -> KeepaMinute {
        KeepaMinute::from_unix_millis(UnixMillis(self.now_ms())).unwrap_or(KeepaMinute(0))
    }
}

/// The handles every task uses. Cheap to clone.
#[derive(Debug)]
pub struct Shared<T> {
    /// Keepa, through the token bucket.
    pub client: KeepaClient<T>,
    /// The deal database.
    pub store: DealStore,
    /// Leases, heartbeats, the pause flag.
    pub fleet: Fleet,
    /// What `/metrics` shows.
    pub metrics: Metrics,
    /// The validated configuration.
    pub config: Arc<WorkerConfig>,
    /// The worker's notion of now.
    pub clock: UnixClock,
    /// Woken when discovery adds work to the backlog.
    pub backlog_changed: Arc<Notify>,
    /// Becomes `true` when the worker is asked to stop.
    pub shutdown: watch::Receiver<bool>,
    /// The tasks' last reports, for `/healthz`.
    pub health: HealthBoard,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            client: self.client.clone(),
            store: self.store.clone(),
            fleet: self.fleet.clone(),
            metrics: self.metrics.clone(),
            config: Arc::clone(&self.config),
            clock: self.clock,
            backlog_changed: Arc::clone(&self.backlog_changed),
            shutdown: self.shutdown.clone(),
            health: self.health.clone(),
        }
    }
}

impl<T: keepa_client::Transport> Shared<T> {
    /// Leaves the bucket's projection where `diag` and the watchdog read the quota in the
    /// embedded tier, while no envelope arrives (every request is waiting for tokens).
    pub async fn record_projection(&self, snapshot: &token_bucket::Snapshot) {
        let balance = snapshot.balance.whole_floor();
        self.store_quota(balance, snapshot.refill_rate, 60_000)
            .await;
    }

    /// Leaves the quota as the last envelope showed it where `diag` (another process) can read
    /// it in the embedded tier. A fleet's bucket is in Redis, where diag reads it directly.
    pub async fn record_quota(&self, info: &keepa_client::ResponseInfo) {
        self.store_quota(info.tokens_left, info.refill_rate, info.refill_in_ms)
            .await;
    }

    /// Counts a failed Keepa call by kind in the database, where `diag` reads the error rates
    /// (a refused key must show whichever task met it). A count that cannot be written is
    /// logged: the call failed either way.
    pub async fn record_keepa_error(&self, kind: &'static str) {
        let now = self.clock.now();
        if let Err(error) = self
            .store
            .write(move |writer| writer.record_error(kind, now))
            .await
        {
            tracing::warn!(%error, "could not count a keepa error in the database");
        }
    }

    async fn store_quota(&self, tokens_left: i64, refill_rate: i64, refill_in_ms: i64) {
        if self.fleet.is_redis() {
            return;
        }
        let foreign = match self.client.bucket().snapshot().await {
            Ok(snapshot) => snapshot.counters.foreign_consumption().whole_floor(),
            Err(_) => 0,
        };
        let record = diagnostics::QuotaRecord {
            tokens_left,
            refill_rate,
            refill_in_ms,
            observed_at_ms: self.clock.now_ms(),
            foreign_consumption: foreign,
        };
        self.metrics
            .set("keepa_tokens_left", &[], tokens_left as f64);
        self.metrics
            .set("keepa_refill_rate", &[], refill_rate as f64);
        self.metrics
            .set("keepa_foreign_consumption_tokens", &[], foreign as f64);
        let Ok(json) = serde_json::to_string(&record) else {
            return;
        };
        let now = self.clock.now();
        if let Err(error) = self
            .store
            .write(move |writer| {
                writer.set_state(diagnostics::records::QUOTA_STATE_KEY, &json, now)
            })
            .await
        {
            tracing::warn!(%error, "could not record the quota in the database");
        }
    }
}

/// Where the client's learned request costs are kept between runs (the store's key/values).
pub const LEARNED_COSTS_STATE_KEY: &str = "learned_costs";

impl<T: keepa_client::Transport> Shared<T> {
    /// Starts the client from the costs an earlier run learned, so that a restart does not
    /// underestimate every request whose cost varies until it has learned them again (each
    /// underestimate can dig the balance below zero and meet a 429). Unreadable or malformed
    /// figures are logged and skipped: the documented costs are a safe start.
    pub async fn restore_learned_costs(&self) {
        let stored = self
            .store
            .read(|reader| reader.state(LEARNED_COSTS_STATE_KEY))
            .await;
        match stored {
            Ok(Some(json)) => match serde_json::from_str::<Vec<keepa_client::LearnedCost>>(&json) {
                Ok(learned) => self.client.restore_learned_costs(&learned),
                Err(error) => {
                    tracing::warn!(%error, "ignoring the stored request costs; starting from keepa's documented costs");
                }
            },
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "could not read the stored request costs; starting from keepa's documented costs");
            }
        }
    }

    /// Keeps the client's learned costs in the store for the next run.
    pub async fn save_learned_costs(&self) {
        let learned = self.client.learned_costs();
        if learned.is_empty() {
            return;
        }
        let Ok(json) = serde_json::to_string(&learned) else {
            return;
        };
        let now = self.clock.now();
        if let Err(error) = self
            .store
            .write(move |writer| writer.set_state(LEARNED_COSTS_STATE_KEY, &json, now))
            .await
        {
            tracing::warn!(%error, "could not keep the learned request costs in the database");
        }
    }
}

impl<T> Shared<T> {
    /// The name this worker's Keepa calls are counted under in the fleet's per-client call
    /// rates (`diag --expect-client worker@HOST=RATE`): one name per host, stable across
    /// restarts, so a second worker started by mistake on a host doubles its rate.
    pub fn call_client_name(&self) -> String {
        format!("worker@{}", self.fleet.instance().hostname())
    }

    /// Counts `calls` Keepa requests (429s and retries included) in the fleet's per-client
    /// call rates, where diag flags a client calling faster than expected (another program,
    /// or a forgotten worker, spending the key: the "phantom" caller). A failure to count is
    /// logged and never stops the work.
    pub async fn record_calls(&self, calls: u32) {
        let client = self.call_client_name();
        for _ in 0..calls {
            if let Err(error) = self.fleet.record_call(&client).await {
                tracing::debug!(%error, "could not count a keepa call in the fleet's call rates");
                return;
            }
        }
    }

    /// Whether the worker has been asked to stop.
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Whether the operator's pause flag is set: in Redis for a fleet, in the database's state
    /// for the embedded tier (where `flush` sets it from another process). An unreadable flag
    /// counts as not set: pausing is the operator's explicit act, never a failure's side effect.
    pub async fn paused(&self) -> bool {
        if self.fleet.is_redis() {
            return matches!(self.fleet.pause().await, Ok(Some(_)));
        }
        let flag = self
            .store
            .read(|reader| reader.state(diagnostics::records::PAUSE_STATE_KEY))
            .await;
        matches!(flag, Ok(Some(_)))
    }

    /// Runs `work` unless the worker is asked to stop first; `None` when it was. Dropping the
    /// work mid-way loses nothing: only committed deals count, and the backlog keeps the rest.
    pub async fn unless_stopping<F: Future>(&self, work: F) -> Option<F::Output> {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            output = work => Some(output),
            _ = shutdown.wait_for(|stop| *stop) => None,
        }
    }

    /// Sleeps for `duration`, or less when the worker is asked to stop or `wake` fires.
    /// Answers `false` when the worker is stopping.
    pub async fn pause_for(&self, duration: Duration, wake: Option<&Notify>) -> bool {
        let mut shutdown = self.shutdown.clone();
        let woken = async {
            match wake {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = woken => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
        !self.stopping()
    }
}

/// A task's voice: reports its state to the fleet (and, in the embedded tier, to the store,
/// where `diag` running in another process can read it).
#[derive(Debug)]
pub struct Reporter<T> {
    shared: Shared<T>,
    task: String,
    instance: InstanceId,
    last_progress_at_ms: i64,
}

impl<T> Reporter<T> {
    /// A reporter for `task`, counting the start as progress.
    pub fn new(shared: &Shared<T>, task: &str) -> Reporter<T> {
        Reporter {
            shared: shared.clone(),
            task: task.to_owned(),
            instance: shared.fleet.instance().clone(),
            last_progress_at_ms: shared.clock.now_ms(),
        }
    }

    /// Useful work completed.
    pub async fn progressed(&mut self, now_doing: &str, has_work: bool) {
        self.last_progress_at_ms = self.shared.clock.now_ms();
        self.report(
            TaskState::Working {
                what: now_doing.to_owned(),
            },
            has_work,
        )
        .await;
    }

    /// Working on something, not yet finished.
    pub async fn working(&mut self, what: &str) {
        self.report(
            TaskState::Working {
                what: what.to_owned(),
            },
            true,
        )
        .await;
    }

    /// Waiting, for `reason`.
    pub async fn waiting(&mut self, reason: WaitReason, has_work: bool) {
        self.report(TaskState::Waiting { reason }, has_work).await;
    }

    /// The task ended.
    pub async fn stopped(&mut self) {
        self.report(TaskState::Stopped, false).await;
    }

    async fn report(&mut self, state: TaskState, has_work: bool) {
        let now_ms = self.shared.clock.now_ms();
        self.shared
            .health
            .update(&self.task, self.last_progress_at_ms, &state, has_work);
        let progress = Progress::new(
            self.instance.clone(),
            self.last_progress_at_ms,
            state,
            has_work,
        );
        self.shared.metrics.set(
            "task_last_progress_seconds",
            &[("task", &self.task)],
            self.last_progress_at_ms as f64 / 1_000.0,
        );
        if let Err(error) = self
            .shared
            .fleet
            .report_progress(&self.task, progress.clone())
            .await
        {
            tracing::warn!(task = %self.task, %error, "could not report progress to the fleet state");
        }
        if !self.shared.fleet.is_redis() {
            let record = serde_json::json!({
                "task": self.task,
                "progress": progress,
                "reported_at_ms": now_ms,
            });
            let key = format!("heartbeat:{}", self.task);
            let now = UnixSeconds(now_ms.div_euclid(1_000));
            let result = self
                .shared
                .store
                .write(move |writer| writer.set_state(&key, &record.to_string(), now))
                .await;
            if let Err(error) = result {
                tracing::warn!(task = %self.task, %error, "could not record progress in the database");
            }
        }
    }
}

/// The tasks' last reports, kept in memory for `/healthz` (which must not block).
#[derive(Clone, Debug, Default)]
pub struct HealthBoard {
    tasks: Arc<Mutex<BTreeMap<String, TaskView>>>,
}

#[derive(Clone, Debug)]
struct TaskView {
    last_progress_at_ms: i64,
    /// Waiting for tokens, the operator or a lease: not a stall whatever the age.
    excused: bool,
    has_work: bool,
}

impl HealthBoard {
    fn update(&self, task: &str, last_progress_at_ms: i64, state: &TaskState, has_work: bool) {
        let excused = matches!(
            state,
            TaskState::Waiting {
                reason: WaitReason::Tokens { .. } | WaitReason::Paused | WaitReason::Lease
            } | TaskState::Stopped
        );
        let view = TaskView {
            last_progress_at_ms,
            excused,
            has_work,
        };
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(task.to_owned(), view);
    }

    /// Unhealthy when a task with work has made no progress for [`STALL_AFTER_MS`] without an
    /// excuse; the reason names the task and how long.
    pub fn health(&self, now_ms: i64) -> Health {
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stalled: Vec<String> = tasks
            .iter()
            .filter(|(_, view)| {
                view.has_work && !view.excused && now_ms - view.last_progress_at_ms > STALL_AFTER_MS
            })
            .map(|(task, view)| {
                format!(
                    "{task}: no progress for {} min",
                    (now_ms - view.last_progress_at_ms) / 60_000
                )
            })
            .collect();
        if stalled.is_empty() {
            Health::Healthy
        } else {
            Health::Unhealthy {
                reason: stalled.join("; "),
            }
        }
    }
}

/// How often a task waiting inside a Keepa call looks at the bucket to say whether it is
/// waiting for tokens.
const TOKEN_WATCH: Duration = Duration::from_secs(30);

impl<T: keepa_client::Transport> Reporter<T> {
    /// Runs `work` (Keepa calls), and while it runs, reports every `TOKEN_WATCH` whether the
    /// task is waiting for tokens: a request queued in the bucket, or a projection at or below
    /// zero. A task blocked on the quota then says so instead of "working", which is what keeps
    /// the watchdog from mistaking it for a stall (DESIGN.md §5); a call that hangs with tokens
    /// available keeps saying "working" and becomes a stall after 15 minutes.
    pub async fn watching_tokens<F: Future>(&mut self, work: F) -> F::Output {
        tokio::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return output,
                () = tokio::time::sleep(TOKEN_WATCH) => self.report_quota_wait().await,
            }
        }
    }

    async fn report_quota_wait(&mut self) {
        let Ok(snapshot) = self.shared.client.bucket().snapshot().await else {
            return;
        };
        let waiting = snapshot.waiting.iter().sum::<usize>() > 0;
        if !waiting && snapshot.balance > token_bucket::Tokens::ZERO {
            return;
        }
        // The next refill is at most a minute away; the projection says how many it takes.
        let until_ms = self.shared.clock.now_ms() + 60_000;
        self.waiting(WaitReason::Tokens { until_ms }, true).await;
        self.shared.record_projection(&snapshot).await;
    }
}
