//! Models of the quota policies users run today, driving the same simulator with the same
//! demand as the real pipeline: a discovery pass over `/deal` every five minutes (one for the
//! fleet, newest first down to a watermark that starts 24 h back), a light statistics fetch to
//! screen new deals and to refresh stored ones, and a full fetch (history, offers) to analyse
//! the survivors, with deal-filters' rules deciding what is stored.
//!
//! They are models, not the full pipeline: the backlog and the stored deals live in memory, and
//! batches have fixed sizes ([`SCREEN_BATCH`], [`ANALYSE_BATCH`], [`REFRESH_BATCH`]), as the
//! replaced system's refill-rate tiers had. Only the admission policy differs:
//!
//! - [`BaselinePolicy::Legacy`], the replaced system's manager: a request goes when the shared
//!   balance is at least the threshold (1) and its estimated cost leaves it at or above the
//!   deficit floor (−180); below the soft floor (20) a recharge mode waits until the balance
//!   reaches 280 (at ≥ 10 tokens/min) or 40 (below); any wait longer than 60 s aborts the
//!   request, which is tried again at the next one-minute schedule. Every response overwrites
//!   the one balance the workers share (a plain write, so concurrent workers race on it), and the
//!   balance is projected forward by whole refills since that response.
//! - [`BaselinePolicy::Naive`]: send at once; on a 429, sleep until `refillIn` and retry.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use deal_filters::{AnalysedDeal, Settings};
use keepa_client::convert;
use keepa_client::wire::{DealResponse, ProductResponse};
use keepa_model::{Asin, KeepaMinute, Product, UnixMillis, UnixSeconds};
use keepa_sim::{Sim, SimRequest, SimResponse};
use pipeline::config::{FileConfig, Overrides, WorkerConfig};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::harness::{SIM_KEY, Workers};

/// ASINs per screening request (1 token each).
pub const SCREEN_BATCH: usize = 20;
/// ASINs per analysis request (at least 6 tokens each).
pub const ANALYSE_BATCH: usize = 5;
/// ASINs per refresh request (1 token each).
pub const REFRESH_BATCH: usize = 10;
const DISCOVERY_EVERY: Duration = Duration::from_secs(5 * 60);
const IDLE_RECHECK: Duration = Duration::from_secs(30);
const DEALS_PER_PAGE: usize = 150;

/// Which older policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaselinePolicy {
    /// The replaced system's threshold/recharge manager.
    Legacy,
    /// Sleep until `refillIn` on a 429, then retry.
    Naive,
}

/// The legacy manager's constants, as the replaced system had them.
mod legacy {
    pub(super) const THRESHOLD: i64 = 1;
    pub(super) const DEFICIT_FLOOR: i64 = -180;
    pub(super) const SOFT_FLOOR: i64 = 20;
    pub(super) const RECHARGE_TARGET_FAST: i64 = 280;
    pub(super) const RECHARGE_TARGET_SLOW: i64 = 40;
    pub(super) const FAST_RATE: i64 = 10;
    pub(super) const MAX_WAIT_MS: i64 = 60_000;
}

/// The balance the legacy workers share: the last response's word, overwritten by each.
#[derive(Debug, Default)]
struct LegacyQuota {
    /// `(tokensLeft, refillIn, refillRate, when it was seen)`; `None` before any response.
    last: Option<(i64, i64, i64, Instant)>,
    recharging: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Analyse,
    Refresh,
}

/// The backlog and the deals, as the baselines' database.
#[derive(Debug, Default)]
struct State {
    analyse: VecDeque<Asin>,
    refresh: VecDeque<Asin>,
    queued: HashSet<Asin>,
    /// Taken by a worker and not finished: put back when the workers are killed.
    in_hand: HashMap<Asin, Kind>,
    stored: HashMap<Asin, AnalysedDeal>,
    rejected: HashMap<Asin, KeepaMinute>,
    watermark: Option<KeepaMinute>,
}

struct Shared {
    sim: Sim,
    policy: BaselinePolicy,
    state: Mutex<State>,
    quota: Mutex<LegacyQuota>,
    waits: Mutex<Vec<u64>>,
    settings: Settings,
    deal_selection: Vec<u8>,
    max_pages: u32,
    domain: String,
    /// The phase of the legacy one-minute schedule.
    origin: Instant,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> UnixSeconds {
        UnixSeconds(self.sim.now_unix_ms().div_euclid(1_000))
    }
}

/// The workers of an older policy.
pub struct Baseline {
    shared: Arc<Shared>,
    n_workers: usize,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baseline")
            .field("policy", &self.shared.policy)
            .field("n_workers", &self.n_workers)
            .finish_non_exhaustive()
    }
}

impl Baseline {
    /// `n_workers` workers of `policy` against `sim`.
    ///
    /// # Errors
    ///
    /// Never in practice: the default worker configuration is valid.
    pub fn new(sim: &Sim, n_workers: usize, policy: BaselinePolicy) -> anyhow::Result<Baseline> {
        let config = WorkerConfig::resolve(
            FileConfig::default(),
            Overrides {
                simulate: true,
                ..Overrides::default()
            },
        )?;
        // The same query as the pipeline's discovery.
        let selection = &config.selection;
        let query = pipeline::discovery::deal_query(selection, 0);
        let deal_selection = query.selection_json(selection.domain_id);
        Ok(Baseline {
            shared: Arc::new(Shared {
                sim: sim.clone(),
                policy,
                state: Mutex::default(),
                quota: Mutex::default(),
                waits: Mutex::default(),
                settings: config.settings.clone(),
                deal_selection,
                max_pages: selection.max_pages_per_run.get(),
                domain: selection.domain_id.to_string(),
                origin: Instant::now(),
            }),
            n_workers,
            tasks: JoinSet::new(),
        })
    }
}

impl Workers for Baseline {
    fn policy(&self) -> &'static str {
        match self.shared.policy {
            BaselinePolicy::Legacy => "legacy",
            BaselinePolicy::Naive => "naive",
        }
    }

    fn backend(&self) -> &'static str {
        "model"
    }

    async fn start(&mut self) {
        // A new process knows no balance and is not recharging.
        *self
            .shared
            .quota
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = LegacyQuota::default();
        self.tasks.spawn(discovery(Arc::clone(&self.shared)));
        for _ in 0..self.n_workers {
            self.tasks.spawn(product_worker(Arc::clone(&self.shared)));
        }
    }

    async fn stop(&mut self) {
        // Killed mid-request: the simulator charges after its latency, so an aborted request
        // costs nothing, and the work in hand goes back to the backlog.
        self.tasks.shutdown().await;
        let mut state = self.shared.state();
        let in_hand: Vec<(Asin, Kind)> = state.in_hand.drain().collect();
        for (asin, kind) in in_hand {
            match kind {
                Kind::Analyse => state.analyse.push_front(asin),
                Kind::Refresh => state.refresh.push_front(asin),
            }
            state.queued.insert(asin);
        }
    }

    async fn work_exists(&self) -> bool {
        let state = self.shared.state();
        !state.analyse.is_empty() || !state.refresh.is_empty() || !state.in_hand.is_empty()
    }

    async fn deals_stored(&self) -> u64 {
        self.shared.state().stored.len() as u64
    }

    fn urgent_waits(&self) -> Vec<u64> {
        self.shared
            .waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// What the legacy manager decides for a request now.
enum Admission {
    Go,
    Wait(Duration),
    Abort,
}

fn legacy_admission(quota: &mut LegacyQuota, estimate: i64, now: Instant) -> Admission {
    let Some((tokens_left, refill_in_ms, rate, seen_at)) = quota.last else {
        // Nothing known yet: send, and learn from the answer.
        return Admission::Go;
    };
    let rate = rate.max(1);
    let elapsed_ms = i64::try_from((now - seen_at).as_millis()).unwrap_or(i64::MAX);
    let refills = if elapsed_ms < refill_in_ms {
        0
    } else {
        1 + (elapsed_ms - refill_in_ms) / 60_000
    };
    let projected = (tokens_left + refills * rate).min(60 * rate);
    let ms_to_next_refill = refill_in_ms + refills * 60_000 - elapsed_ms;

    let target = if rate >= legacy::FAST_RATE {
        legacy::RECHARGE_TARGET_FAST
    } else {
        legacy::RECHARGE_TARGET_SLOW
    };
    if quota.recharging && projected >= target {
        quota.recharging = false;
    }
    if !quota.recharging && projected < legacy::SOFT_FLOOR {
        quota.recharging = true;
    }
    let mut needed = legacy::THRESHOLD.max(estimate + legacy::DEFICIT_FLOOR);
    if quota.recharging {
        needed = needed.max(target);
    }
    if projected >= needed {
        return Admission::Go;
    }
    let refills_needed = (needed - projected + rate - 1) / rate;
    let wait_ms = ms_to_next_refill + (refills_needed - 1) * 60_000;
    if wait_ms > legacy::MAX_WAIT_MS {
        Admission::Abort
    } else {
        Admission::Wait(Duration::from_millis(
            u64::try_from(wait_ms).unwrap_or(0) + 1,
        ))
    }
}

/// The envelope fields a policy reads: `(tokensLeft, refillIn, refillRate)`.
fn envelope(response: &SimResponse) -> Option<(i64, i64, i64)> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    Some((
        body["tokensLeft"].as_i64()?,
        body["refillIn"].as_i64()?,
        body["refillRate"].as_i64()?,
    ))
}

/// Sends `request` under the policy until it is answered 200 (or another non-429 status);
/// answers the response and when the successful attempt was sent.
async fn send(shared: &Shared, request: SimRequest, estimate: i64) -> (SimResponse, Instant) {
    loop {
        match shared.policy {
            BaselinePolicy::Naive => {
                let sent_at = Instant::now();
                let response = shared.sim.handle(request.clone()).await;
                if response.status != 429 {
                    return (response, sent_at);
                }
                let refill_in_ms = envelope(&response).map_or(1_000, |(_, refill_in, _)| refill_in);
                tokio::time::sleep(Duration::from_millis(
                    u64::try_from(refill_in_ms).unwrap_or(0).max(1),
                ))
                .await;
            }
            BaselinePolicy::Legacy => {
                let admission = {
                    let mut quota = shared
                        .quota
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    legacy_admission(&mut quota, estimate, Instant::now())
                };
                match admission {
                    Admission::Wait(wait) => tokio::time::sleep(wait).await,
                    Admission::Abort => sleep_to_next_minute(shared).await,
                    Admission::Go => {
                        let sent_at = Instant::now();
                        let response = shared.sim.handle(request.clone()).await;
                        if let Some((tokens_left, refill_in, rate)) = envelope(&response) {
                            // The plain overwrite: whatever other workers did meanwhile is lost.
                            shared
                                .quota
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .last = Some((tokens_left, refill_in, rate, Instant::now()));
                        }
                        if response.status != 429 {
                            return (response, sent_at);
                        }
                        sleep_to_next_minute(shared).await;
                    }
                }
            }
        }
    }
}

/// The legacy scheduler's one-minute beat, counted from the workers' creation.
async fn sleep_to_next_minute(shared: &Shared) {
    let minute_ms = 60_000_u64;
    let elapsed_ms = u64::try_from(shared.origin.elapsed().as_millis()).unwrap_or(0);
    let wait_ms = minute_ms - elapsed_ms % minute_ms;
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
}

async fn discovery(shared: Arc<Shared>) {
    loop {
        let asked = Instant::now();
        discovery_pass(&shared, asked).await;
        tokio::time::sleep_until(asked + DISCOVERY_EVERY).await;
    }
}

async fn discovery_pass(shared: &Shared, asked: Instant) {
    let now_minute = KeepaMinute::from_unix_millis(UnixMillis(shared.sim.now_unix_ms()))
        .unwrap_or(KeepaMinute(0));
    let watermark = {
        let mut state = shared.state();
        *state
            .watermark
            .get_or_insert(KeepaMinute(now_minute.0 - 24 * 60))
    };
    let mut newest = watermark;
    let mut page_asked = asked;
    for page in 0..shared.max_pages {
        let mut selection: serde_json::Value =
            serde_json::from_slice(&shared.deal_selection).unwrap_or_default();
        selection["page"] = page.into();
        let request = SimRequest::post(
            "/deal",
            &[("key", SIM_KEY)],
            serde_json::to_vec(&selection).unwrap_or_default(),
        );
        let (response, sent_at) = send(shared, request, 5).await;
        record_wait(shared, sent_at - page_asked);
        page_asked = Instant::now();
        let Ok(decoded) = serde_json::from_slice::<DealResponse>(&response.body) else {
            return;
        };
        let records = decoded.deals.map(|deals| deals.dr).unwrap_or_default();
        let page_len = records.len();
        let (mut deals, _) = convert::deal_page(&records);
        deals.sort_by_key(|deal| std::cmp::Reverse(deal.last_update));
        let mut reached_watermark = false;
        let mut state = shared.state();
        for deal in deals {
            if deal.last_update <= watermark {
                reached_watermark = true;
                continue;
            }
            newest = newest.max(deal.last_update);
            if state.queued.contains(&deal.asin) || state.in_hand.contains_key(&deal.asin) {
                continue;
            }
            if state.stored.contains_key(&deal.asin) {
                state.refresh.push_back(deal.asin);
                state.queued.insert(deal.asin);
                continue;
            }
            if state
                .rejected
                .get(&deal.asin)
                .is_some_and(|rejected_at| *rejected_at >= deal.last_update)
            {
                continue;
            }
            match deal_filters::screen_deal(&deal) {
                Ok(()) => {
                    state.analyse.push_back(deal.asin);
                    state.queued.insert(deal.asin);
                }
                Err(_) => {
                    state.rejected.insert(deal.asin, deal.last_update);
                }
            }
        }
        state.watermark = Some(newest);
        if reached_watermark || page_len < DEALS_PER_PAGE {
            break;
        }
    }
}

fn record_wait(shared: &Shared, waited: Duration) {
    shared
        .waits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
}

fn take(state: &mut State, kind: Kind, n: usize) -> Vec<Asin> {
    let queue = match kind {
        Kind::Analyse => &mut state.analyse,
        Kind::Refresh => &mut state.refresh,
    };
    let taken: Vec<Asin> = (0..n).map_while(|_| queue.pop_front()).collect();
    for asin in &taken {
        state.queued.remove(asin);
        state.in_hand.insert(*asin, kind);
    }
    taken
}

async fn product_worker(shared: Arc<Shared>) {
    loop {
        let (kind, asins) = {
            let mut state = shared.state();
            if !state.refresh.is_empty() {
                (
                    Kind::Refresh,
                    take(&mut state, Kind::Refresh, REFRESH_BATCH),
                )
            } else {
                (Kind::Analyse, take(&mut state, Kind::Analyse, SCREEN_BATCH))
            }
        };
        if asins.is_empty() {
            tokio::time::sleep(IDLE_RECHECK).await;
            continue;
        }
        match kind {
            Kind::Refresh => refresh(&shared, &asins).await,
            Kind::Analyse => screen_and_analyse(&shared, &asins).await,
        }
        let mut state = shared.state();
        for asin in &asins {
            state.in_hand.remove(asin);
        }
    }
}

async fn fetch(shared: &Shared, asins: &[Asin], full: bool) -> Vec<Product> {
    let joined = asins.iter().map(Asin::as_str).collect::<Vec<_>>().join(",");
    let mut query = vec![
        ("key", SIM_KEY),
        ("domain", shared.domain.as_str()),
        ("asin", joined.as_str()),
        ("stats", "365"),
    ];
    if full {
        query.push(("history", "1"));
        query.push(("offers", "20"));
    } else {
        query.push(("history", "0"));
    }
    let per_asin = if full { 6 } else { 1 };
    let estimate = per_asin * asins.len() as i64;
    let (response, _) = send(shared, SimRequest::get("/product", &query), estimate).await;
    let Ok(decoded) = serde_json::from_slice::<ProductResponse>(&response.body) else {
        return Vec::new();
    };
    decoded
        .products
        .iter()
        .filter(|wire| !convert::is_unknown_product(wire))
        .filter_map(|wire| convert::product(wire).ok())
        .collect()
}

async fn refresh(shared: &Shared, asins: &[Asin]) {
    let products = fetch(shared, asins, false).await;
    let now = shared.now();
    let mut state = shared.state();
    for product in &products {
        if let Some(previous) = state.stored.get(&product.asin) {
            let refreshed = deal_filters::refresh(previous, product, &shared.settings, now);
            state.stored.insert(product.asin, refreshed);
        }
    }
}

async fn screen_and_analyse(shared: &Shared, asins: &[Asin]) {
    let screened = fetch(shared, asins, false).await;
    let survivors: Vec<Asin> = {
        let mut state = shared.state();
        let mut survivors = Vec::new();
        for product in &screened {
            match deal_filters::screen_stats(&product.stats) {
                Ok(()) => survivors.push(product.asin),
                Err(_) => {
                    state
                        .rejected
                        .insert(product.asin, product.last_update.unwrap_or(KeepaMinute(0)));
                }
            }
        }
        survivors
    };
    for chunk in survivors.chunks(ANALYSE_BATCH) {
        let analysed = fetch(shared, chunk, true).await;
        let now = shared.now();
        let mut state = shared.state();
        for product in &analysed {
            match deal_filters::analyse(product, None, &shared.settings, now) {
                Ok(deal) => {
                    state.stored.insert(product.asin, deal);
                }
                Err(_) => {
                    state
                        .rejected
                        .insert(product.asin, product.last_update.unwrap_or(KeepaMinute(0)));
                }
            }
        }
    }
}
