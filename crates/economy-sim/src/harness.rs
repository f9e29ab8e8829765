//! The run loop shared by every policy: builds the simulator for a scenario, starts the
//! policy's workers, applies the scenario's events, samples the simulator once a simulated
//! minute (work waiting, progress, tokens expiring at the cap) and turns the counts into a
//! [`Report`].
//!
//! Everything runs on one current-thread tokio runtime whose clock starts paused, so the clock
//! jumps from one timer to the next and 24 simulated hours take seconds. Waiting on SQLite goes
//! through `spawn_blocking`, which holds the paused clock still while it runs.

use std::time::Duration;

use keepa_sim::{Knobs, Sim};
use tokio::time::Instant;

use crate::report::{self, Report};
use crate::scenario::{Event, Scenario};

/// The key the simulator accepts; not a secret.
pub const SIM_KEY: &str = "economysimkeepakey0123456789";
/// 2026-05-01T00:00Z: inside the generated catalogue's history.
pub const START_UNIX_MS: i64 = 1_777_593_600_000;
/// Products in the generated catalogue.
pub const CATALOGUE_SIZE: usize = 3_000;
/// Keepa's answer time in the simulator: long enough that concurrent workers overlap, as they
/// do against the real API.
pub const SIM_LATENCY: Duration = Duration::from_millis(1_000);
/// No token charged for this long while work waits (and tokens are there) is a stall.
pub const STALL_AFTER: Duration = Duration::from_secs(15 * 60);

/// A policy's workers, as the run loop drives them.
pub trait Workers {
    /// The policy's name in the output.
    fn policy(&self) -> &'static str;
    /// Where its quota state lives, for the output.
    fn backend(&self) -> &'static str;
    /// Starts every worker.
    fn start(&mut self) -> impl Future<Output = ()>;
    /// Stops every worker and waits until they have stopped.
    fn stop(&mut self) -> impl Future<Output = ()>;
    /// Whether work is waiting (a non-empty backlog).
    fn work_exists(&self) -> impl Future<Output = bool>;
    /// Distinct deals stored so far.
    fn deals_stored(&self) -> impl Future<Output = u64>;
    /// Every urgent wait measured so far, in simulated ms.
    fn urgent_waits(&self) -> Vec<u64>;
}

/// The simulator for `scenario`, built on the current (paused) clock.
pub fn build_sim(scenario: &Scenario) -> Sim {
    let knobs = Knobs {
        refill_rate: scenario.refill_rate,
        latency: SIM_LATENCY,
        foreign_tokens_per_minute: scenario.foreign_tokens_per_minute(),
        deal_updates_per_minute: scenario.deal_updates_per_minute,
        ..Knobs::default()
    };
    Sim::builder()
        .api_key(SIM_KEY)
        .seed(scenario.seed)
        .refill_rate(scenario.refill_rate)
        .catalogue_size(CATALOGUE_SIZE)
        .start_unix_ms(START_UNIX_MS)
        .knobs(knobs)
        .build()
}

/// A current-thread runtime whose clock starts paused.
///
/// # Panics
///
/// When the runtime cannot be built (out of threads or file descriptors).
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread tokio runtime can be built")
}

/// Runs `workers` through `scenario` against `sim` and reports what happened.
pub async fn run<W: Workers>(scenario: &Scenario, sim: &Sim, mut workers: W) -> Report {
    let start = Instant::now();
    let start_balance = sim.token_status().tokens_left;
    let mut events = scenario.events().into_iter().peekable();
    let mut sampler = Sampler::new(start);
    workers.start().await;

    let n_minutes = scenario.duration.as_secs().div_ceil(60);
    for minute in 1..=n_minutes {
        let at = start + Duration::from_secs(minute * 60).min(scenario.duration);
        tokio::time::sleep_until(at).await;
        let work = workers.work_exists().await;
        sampler.sample(sim, work);
        while let Some((_, event)) = events.next_if(|(when, _)| start + *when <= at) {
            match event {
                Event::SetRefillRate(rate) => sim.update_knobs(|knobs| knobs.refill_rate = rate),
                Event::SetCostMultiplier(multiplier) => {
                    sim.update_knobs(|knobs| knobs.cost_multiplier = multiplier);
                }
                Event::RestartWorkers => {
                    workers.stop().await;
                    workers.start().await;
                }
            }
        }
    }
    workers.stop().await;

    let counters = sim.counters();
    let end_balance = sim.token_status().tokens_left;
    let waits = workers.urgent_waits();
    let deals_stored = workers.deals_stored().await;
    let useful = counters.tokens_charged;
    Report {
        scenario: scenario.kind.name(),
        policy: workers.policy(),
        backend: workers.backend(),
        hours: scenario.duration.as_secs_f64() / 3600.0,
        refill_rate: scenario.refill_rate,
        workers: scenario.workers,
        utilization: report::utilization(
            useful,
            counters.tokens_refilled,
            start_balance,
            end_balance,
            counters.foreign_tokens_spent,
        ),
        useful_tokens: useful,
        tokens_refilled: counters.tokens_refilled,
        tokens_wasted_at_cap: counters.tokens_wasted_at_cap,
        wasted_at_cap_with_work: sampler.wasted_with_work,
        work_share: if sampler.minutes == 0 {
            0.0
        } else {
            sampler.work_minutes as f64 / sampler.minutes as f64
        },
        urgent_wait_p50_ms: report::percentile(&waits, 0.50),
        urgent_wait_p99_ms: report::percentile(&waits, 0.99),
        urgent_wait_max_ms: waits.iter().copied().max().unwrap_or(0),
        urgent_samples: waits.len(),
        responses_429: counters.requests_with_status(429),
        min_balance: counters.min_balance,
        deals_stored,
        tokens_per_deal: if deals_stored == 0 {
            0.0
        } else {
            useful as f64 / deals_stored as f64
        },
        stalls: sampler.stalls,
        foreign_tokens: counters.foreign_tokens_spent,
    }
}

/// Once-a-minute bookkeeping: work waiting, progress, stalls, tokens expiring with work waiting.
#[derive(Debug)]
struct Sampler {
    minutes: u64,
    work_minutes: u64,
    wasted_with_work: u64,
    stalls: u64,
    last_charged: u64,
    last_wasted: u64,
    /// Progress, or a balance at or below zero (nobody could progress): the stall clock's start.
    last_progress_or_excuse: Instant,
    in_stall: bool,
    work_at_last_sample: bool,
}

impl Sampler {
    fn new(start: Instant) -> Sampler {
        Sampler {
            minutes: 0,
            work_minutes: 0,
            wasted_with_work: 0,
            stalls: 0,
            last_charged: 0,
            last_wasted: 0,
            last_progress_or_excuse: start,
            in_stall: false,
            work_at_last_sample: true,
        }
    }

    fn sample(&mut self, sim: &Sim, work: bool) {
        let now = Instant::now();
        let counters = sim.counters();
        let balance = sim.token_status().tokens_left;
        self.minutes += 1;
        if work {
            self.work_minutes += 1;
        }
        let wasted = counters.tokens_wasted_at_cap - self.last_wasted;
        if self.work_at_last_sample || work {
            self.wasted_with_work += wasted;
        }
        let progressed = counters.tokens_charged > self.last_charged;
        if progressed || balance <= 0 || !work {
            self.last_progress_or_excuse = now;
            self.in_stall = false;
        } else if now - self.last_progress_or_excuse >= STALL_AFTER && !self.in_stall {
            self.stalls += 1;
            self.in_stall = true;
        }
        self.last_charged = counters.tokens_charged;
        self.last_wasted = counters.tokens_wasted_at_cap;
        self.work_at_last_sample = work;
    }
}
