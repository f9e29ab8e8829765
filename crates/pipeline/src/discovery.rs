//! Discovery: page Keepa's `/deal` newest first down to the watermark, and turn each changed
//! product into durable work.
//!
//! One pass runs under the fleet-wide `discovery` lease (its fencing number guards every write of
//! the pass), in the urgent lane, once per discovery interval fleet-wide: a worker whose turn
//! comes less than an interval after another instance's pass waits instead. Each page is sorted
//! by `lastUpdate` here, since Keepa's order within a page is loose. Every deal newer than the
//! watermark is either rejected from the `/deal` data itself (0 tokens), queued for a light
//! refresh (already stored), or queued for screening and analysis; the rejections, the queue
//! entries and the advanced watermark are committed in one transaction, so the watermark never
//! passes a deal that is neither stored, rejected nor durably queued. Screening and analysis
//! themselves are the analysis task's job.

use std::collections::BTreeMap;
use std::time::Duration;

use deal_store::{BacklogEntry, BacklogKind, Fence};
use fleet::WaitReason;
use keepa_client::{DateRange, DealQuery, Range, SORT_BY_LAST_UPDATE, Transport};
use keepa_model::{Asin, KeepaMinute};
use token_bucket::Lane;

use crate::config::DealSelection;
use crate::worker::{Reporter, Shared};

/// Keepa returns at most this many deals per page; a shorter page is the last one.
const DEALS_PER_PAGE: usize = 150;
/// The discovery lease's name and time to live; the holder renews it before every page.
pub const DISCOVERY_LEASE: &str = "discovery";
const DISCOVERY_LEASE_TTL: Duration = Duration::from_secs(30);

/// What one pass did, for the progress line and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryOutcome {
    /// `/deal` pages read.
    pub pages: u32,
    /// Deals queued for screening and analysis.
    pub new: usize,
    /// Stored deals queued for a light refresh.
    pub updated: usize,
    /// Deals rejected from the `/deal` data, by reason code.
    pub rejected: BTreeMap<&'static str, usize>,
    /// Tokens Keepa charged for the pages.
    pub tokens_spent: i64,
    /// The balance after the last page.
    pub tokens_left: Option<i64>,
    /// The watermark after the pass.
    pub watermark: Option<KeepaMinute>,
    /// No pass ran: another instance finished one less than the discovery interval ago.
    pub not_due: bool,
}

/// Why a pass ended early.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Keepa failed.
    #[error(transparent)]
    Keepa(#[from] keepa_client::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] deal_store::StoreError),
    /// The fleet state failed.
    #[error(transparent)]
    Fleet(#[from] fleet::Error),
    /// Another instance holds the discovery lease.
    #[error("another instance holds the discovery lease")]
    LeaseHeld,
    /// The worker began stopping during the pass.
    #[error("the worker is stopping")]
    Stopping,
}

/// The `/deal` query for `page` of the configured selection.
pub fn deal_query(selection: &DealSelection, page: u32) -> DealQuery {
    let mut query = DealQuery::new(selection.price_type);
    query.page = page;
    query.sort_type = SORT_BY_LAST_UPDATE;
    query.date_range = match selection.date_range {
        0 => DateRange::Day,
        1 => DateRange::Week,
        2 => DateRange::Month,
        _ => DateRange::Quarter,
    };
    query.current_range = selection.current_range.map(|(min, max)| Range {
        min: min.0,
        max: max.0,
    });
    query.sales_rank_range = selection
        .sales_rank_range
        .map(|(min, max)| Range { min, max });
    query.include_categories = selection.root_categories.clone();
    query
}

/// How long until the next discovery pass is due, fleet-wide: the interval after the last
/// pass any instance committed (the watermark's write time), or now when none did.
///
/// Every worker runs this task, and the lease only keeps two passes from overlapping: without
/// this, each worker would run its own pass every interval, one after the other, and a fleet
/// of three would read every `/deal` page three times (5 tokens a page, most of a small plan).
async fn next_pass_in<T>(shared: &Shared<T>) -> Result<Duration, deal_store::StoreError> {
    let last_pass = shared
        .store
        .read(|reader| reader.stored_watermark())
        .await?;
    let Some((_, at)) = last_pass else {
        return Ok(Duration::ZERO);
    };
    let since_ms = (shared.clock.now().0 - at.0).saturating_mul(1_000).max(0);
    let every = shared.config.schedule.discovery_every;
    Ok(every.saturating_sub(Duration::from_millis(u64::try_from(since_ms).unwrap_or(0))))
}

/// Runs discovery passes until the worker stops.
pub async fn run<T: Transport>(shared: Shared<T>) {
    let mut reporter = Reporter::new(&shared, "discovery");
    loop {
        if shared.stopping() {
            break;
        }
        if shared.paused().await {
            reporter.waiting(WaitReason::Paused, true).await;
            if !shared.pause_for(Duration::from_secs(30), None).await {
                break;
            }
            continue;
        }
        // Reading the store can fail; then the pass itself finds out and reports it.
        let due_in = next_pass_in(&shared).await.unwrap_or(Duration::ZERO);
        if !due_in.is_zero() {
            reporter.waiting(WaitReason::NoWork, false).await;
            if !shared.pause_for(due_in, None).await {
                break;
            }
            continue;
        }
        reporter.working("reading /deal pages").await;
        let outcome = reporter.watching_tokens(pass(&shared)).await;
        let next_in = shared.config.schedule.discovery_every;
        match outcome {
            Ok(outcome) if outcome.not_due => {
                reporter.waiting(WaitReason::NoWork, false).await;
                continue;
            }
            Ok(outcome) => {
                log_outcome(&outcome);
                reporter.progressed("discovery pass done", false).await;
                reporter.waiting(WaitReason::NoWork, false).await;
            }
            Err(DiscoveryError::LeaseHeld) => {
                reporter.waiting(WaitReason::Lease, false).await;
            }
            Err(DiscoveryError::Stopping) => break,
            Err(error) => {
                tracing::warn!(%error, "discovery pass failed; the next pass retries");
                shared
                    .metrics
                    .add("keepa_errors_total", &[("kind", error_kind(&error))], 1.0);
                if let DiscoveryError::Keepa(keepa_error) = &error {
                    // A key Keepa refuses must show even when discovery is the only task
                    // calling Keepa.
                    shared.record_keepa_error(keepa_error.kind()).await;
                }
                let until_ms =
                    shared.clock.now_ms() + i64::try_from(next_in.as_millis()).unwrap_or(i64::MAX);
                reporter
                    .waiting(WaitReason::Backoff { until_ms }, true)
                    .await;
            }
        }
        if !shared.pause_for(next_in, None).await {
            break;
        }
    }
    reporter.stopped().await;
}

fn error_kind(error: &DiscoveryError) -> &'static str {
    match error {
        DiscoveryError::Keepa(_) => "keepa",
        DiscoveryError::Store(_) => "store",
        DiscoveryError::Fleet(_) => "fleet",
        DiscoveryError::LeaseHeld => "lease",
        DiscoveryError::Stopping => "stopping",
    }
}

fn log_outcome(outcome: &DiscoveryOutcome) {
    let rejected: Vec<String> = outcome
        .rejected
        .iter()
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect();
    tracing::info!(
        pages = outcome.pages,
        new = outcome.new,
        updated = outcome.updated,
        rejected = %rejected.join(","),
        tokens_spent = outcome.tokens_spent,
        balance = outcome.tokens_left,
        watermark = outcome.watermark.map(|minute| minute.0),
        "discovery: {} pages, {} new, {} updated, {} rejected, {} tokens spent",
        outcome.pages,
        outcome.new,
        outcome.updated,
        outcome.rejected.values().sum::<usize>(),
        outcome.tokens_spent,
    );
}

/// One discovery pass: pages, classification, one commit.
///
/// # Errors
///
/// When Keepa, the store or the fleet state fails, or another instance holds the lease; nothing
/// of a failed pass is committed, so the next pass starts from the same watermark.
pub async fn pass<T: Transport>(shared: &Shared<T>) -> Result<DiscoveryOutcome, DiscoveryError> {
    let lease = acquire_outranking_the_store(shared).await?;
    let result = pass_under_lease(shared, &lease).await;
    if let Err(error) = shared.fleet.release(&lease).await {
        tracing::warn!(%error, "could not release the discovery lease; it expires on its own");
    }
    result
}

/// Takes the discovery lease with a fencing number above the one the store last saw. When the
/// fleet state was wiped (Redis flushed or restarted without persistence) its counter starts
/// again at 1 while the store remembers a higher number, and every commit would be refused as
/// stale: raise the counter past the store's number and take the lease again.
async fn acquire_outranking_the_store<T>(
    shared: &Shared<T>,
) -> Result<fleet::Lease, DiscoveryError> {
    let Some(lease) = shared
        .fleet
        .acquire_lease(DISCOVERY_LEASE, DISCOVERY_LEASE_TTL)
        .await?
    else {
        return Err(DiscoveryError::LeaseHeld);
    };
    let stored = shared
        .store
        .read(|reader| reader.fences())
        .await?
        .into_iter()
        .find(|fence| fence.lease == DISCOVERY_LEASE)
        .map(|fence| fence.number);
    let Some(stored) = stored.filter(|stored| *stored >= lease.fencing()) else {
        return Ok(lease);
    };
    tracing::warn!(
        given = lease.fencing(),
        stored,
        "the fleet's discovery fencing counter is behind the database's (was the fleet state wiped?); raising it"
    );
    shared.fleet.release(&lease).await?;
    shared.fleet.raise_fencing(DISCOVERY_LEASE, stored).await?;
    shared
        .fleet
        .acquire_lease(DISCOVERY_LEASE, DISCOVERY_LEASE_TTL)
        .await?
        .ok_or(DiscoveryError::LeaseHeld)
}

async fn pass_under_lease<T: Transport>(
    shared: &Shared<T>,
    lease: &fleet::Lease,
) -> Result<DiscoveryOutcome, DiscoveryError> {
    // Another instance may have finished a pass between our check and taking the lease.
    if !next_pass_in(shared).await?.is_zero() {
        return Ok(DiscoveryOutcome {
            not_due: true,
            ..DiscoveryOutcome::default()
        });
    }
    let fence = Fence {
        lease: DISCOVERY_LEASE.to_owned(),
        number: lease.fencing(),
    };
    let now = shared.clock.now();
    let watermark = shared
        .store
        .read(move |reader| reader.watermark(now))
        .await?
        .minute;
    let mut outcome = DiscoveryOutcome::default();
    let mut newest = watermark;
    let mut entries: Vec<BacklogEntry> = Vec::new();
    let mut rejections = Vec::new();
    let mut seen = std::collections::HashSet::new();

    for page in 0..shared.config.selection.max_pages_per_run.get() {
        let query = deal_query(&shared.config.selection, page);
        let Some(answer) = shared
            .unless_stopping(keeping_lease(
                shared,
                lease,
                shared.client.deals(&query, Lane::Urgent),
            ))
            .await
            .transpose()?
        else {
            // Stopping: commit nothing of this pass; the next run starts from the same watermark.
            return Err(DiscoveryError::Stopping);
        };
        shared
            .record_calls(answer.as_ref().map_or(1, |page| page.info.attempts))
            .await;
        let mut answer = answer?;
        outcome.pages += 1;
        outcome.tokens_spent += answer.info.tokens_consumed;
        outcome.tokens_left = Some(answer.info.tokens_left);
        shared.record_quota(&answer.info).await;
        let page_len = answer.deals.len();
        answer
            .deals
            .sort_by_key(|deal| std::cmp::Reverse(deal.last_update));
        let mut reached_watermark = false;
        for deal in answer.deals {
            if deal.last_update <= watermark {
                reached_watermark = true;
                continue;
            }
            if !seen.insert(deal.asin) {
                continue;
            }
            newest = newest.max(deal.last_update);
            match classify(shared, deal.asin, deal.last_update).await? {
                Classified::Stored => {
                    outcome.updated += 1;
                    entries.push(entry(deal.asin, deal.last_update, BacklogKind::Refresh));
                }
                Classified::AlreadyRejected => {}
                Classified::New => match deal_filters::screen_deal(&deal) {
                    Ok(()) => {
                        outcome.new += 1;
                        entries.push(entry(deal.asin, deal.last_update, BacklogKind::Analyse));
                    }
                    Err(reason) => {
                        *outcome.rejected.entry(reason.as_str()).or_default() += 1;
                        rejections.push((deal.asin, reason, deal.last_update));
                    }
                },
            }
        }
        if reached_watermark || page_len < DEALS_PER_PAGE {
            break;
        }
    }

    let committed_watermark = newest;
    let n_queued = entries.len();
    shared
        .store
        .write(move |writer| {
            writer.record_discovery(
                &entries,
                &rejections,
                committed_watermark,
                Some(&fence),
                now,
            )
        })
        .await?;
    for (reason, n) in &outcome.rejected {
        shared
            .metrics
            .add("deals_rejected_total", &[("reason", reason)], *n as f64);
    }
    shared.metrics.add(
        "keepa_tokens_spent_total",
        &[("lane", "urgent")],
        outcome.tokens_spent as f64,
    );
    if n_queued > 0 {
        shared.backlog_changed.notify_waiters();
    }
    outcome.watermark = Some(committed_watermark);
    Ok(outcome)
}

/// Runs `work` while renewing `lease` every third of its time to live: a page can wait for
/// tokens far longer than the lease lives, and a lease that lapsed meanwhile would let another
/// instance start a second pass over the same pages (its commits would be refused, and its
/// tokens wasted). Answers [`DiscoveryError::LeaseHeld`] when a renewal finds the lease lost.
async fn keeping_lease<T, F: Future>(
    shared: &Shared<T>,
    lease: &fleet::Lease,
    work: F,
) -> Result<F::Output, DiscoveryError> {
    // On the heap: the client's call is a large future, and nesting it here inline would make
    // the discovery task's future large enough to overflow a runtime thread's stack.
    let mut work = Box::pin(work);
    let mut renewals = tokio::time::interval(DISCOVERY_LEASE_TTL / 3);
    renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            output = &mut work => return Ok(output),
            _ = renewals.tick() => {
                if !shared.fleet.renew(lease).await? {
                    return Err(DiscoveryError::LeaseHeld);
                }
            }
        }
    }
}

enum Classified {
    Stored,
    AlreadyRejected,
    New,
}

async fn classify<T>(
    shared: &Shared<T>,
    asin: Asin,
    last_update: KeepaMinute,
) -> Result<Classified, DiscoveryError> {
    let classified = shared
        .store
        .read(move |reader| {
            if reader.deal(asin)?.is_some() {
                return Ok(Classified::Stored);
            }
            if reader.should_analyse(asin, last_update)? {
                Ok(Classified::New)
            } else {
                Ok(Classified::AlreadyRejected)
            }
        })
        .await?;
    Ok(classified)
}

fn entry(asin: Asin, keepa_last_update: KeepaMinute, kind: BacklogKind) -> BacklogEntry {
    BacklogEntry {
        asin,
        keepa_last_update,
        kind,
    }
}
