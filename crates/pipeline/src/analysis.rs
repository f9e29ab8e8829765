//! The tasks that spend tokens on products: screening and analysis of new deals (bulk), the
//! light refresh of changed deals (urgent), the rescue of deals not seen for 48 h (bulk), and the
//! janitor that deletes deals not seen for 72 h.
//!
//! Batch sizes come from what the bucket says bulk work may spend now and from the client's
//! learned per-ASIN costs, never from refill-rate tiers or thresholds: a batch is as large as
//! the tokens at hand allow (at least one ASIN, which then simply waits for its tokens).
//! Every deal is committed on its own as soon as it is computed.

use std::num::NonZeroU32;
use std::time::Duration;

use deal_store::{BacklogKind, DealSource, DealWrite, FailureOutcome, StoredDeal};
use fleet::WaitReason;
use keepa_client::{
    AsinBatch, MAX_ASINS_PER_REQUEST, OfferCount, ProductBatch, ProductQuery, ProductShape,
    RequestKind, Transport,
};
use keepa_model::{Asin, Product};
use token_bucket::{Lane, Tokens};

use crate::worker::{Reporter, Shared};

/// Statistics over a year: the screening rule and the one-year fallbacks need the 365-day
/// averages. Statistics cost nothing extra.
const STATS_DAYS: u32 = 365;
/// Offers fetched for analysis (one page of 10 costs 6 tokens).
const ANALYSIS_OFFERS: u8 = 20;
/// Urgent refreshes are small: at most this many ASINs per request.
const URGENT_REFRESH_BATCH: usize = 10;
/// How long an idle task sleeps before looking again (it is also woken by new work).
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// How long a task backs off after an error it cannot attribute to one ASIN.
const ERROR_BACKOFF: Duration = Duration::from_secs(30);

/// Why a batch failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum BatchFailure {
    /// Keepa failed.
    #[error(transparent)]
    Keepa(#[from] keepa_client::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] deal_store::StoreError),
}

fn light_query(asins: AsinBatch) -> ProductQuery {
    let mut query = ProductQuery::new(asins);
    query.history = false;
    query.stats_days = NonZeroU32::new(STATS_DAYS);
    query
}

fn full_query(asins: AsinBatch) -> ProductQuery {
    let mut query = ProductQuery::new(asins);
    query.history = true;
    query.stats_days = NonZeroU32::new(STATS_DAYS);
    query.offers = OfferCount::new(ANALYSIS_OFFERS);
    query
}

fn full_shape() -> ProductShape {
    ProductShape {
        offers: OfferCount::new(ANALYSIS_OFFERS),
        ..ProductShape::default()
    }
}

/// How many ASINs of `shape` bulk work may fetch now: what the bucket allows at the learned
/// cost, at least one (which then waits for its tokens), at most one request's worth; one
/// while the shape's cost is still unlearned.
///
/// A first batch sized at Keepa's documented cost can cost twice its estimate (offers are
/// charged per page found): at a small plan that digs a deficit urgent work then waits out
/// for many minutes. One ASIN teaches the cost for the price of one.
async fn bulk_batch_size<T: Transport>(shared: &Shared<T>, shape: ProductShape) -> usize {
    if !shared.client.has_learned_cost(RequestKind::Product(shape)) {
        return 1;
    }
    let budget = shared
        .client
        .bucket()
        .bulk_budget()
        .await
        .unwrap_or(Tokens::ZERO);
    shared
        .client
        .max_asins_for(budget, shape)
        .clamp(1, MAX_ASINS_PER_REQUEST)
}

/// What one urgent refresh may cost: a quarter of what one refill brings this fleet (the plan
/// less what other programs on the key were seen spending, the bucket's drift margin).
///
/// Every worker's refresh task queues at most one request in the urgent lane, where requests
/// are served in order. Kept to a fraction of a refill, the refreshes of a whole fleet, plus a
/// discovery page, fit in about one refill, so a discovery page never waits behind a long
/// queue of refreshes; a burst of changed deals is worked through batch by batch instead.
async fn urgent_refresh_budget<T: Transport>(shared: &Shared<T>) -> Tokens {
    let our_refill = shared
        .client
        .bucket()
        .snapshot()
        .await
        .map_or(Tokens::ZERO, |snapshot| {
            Tokens::from_whole(snapshot.refill_rate) - snapshot.drift_margin
        });
    Tokens::from_milli(our_refill.as_milli() / 4)
}

/// How many changed deals one refresh may take: what [`urgent_refresh_budget`] buys at the
/// learned cost, between 1 and [`URGENT_REFRESH_BATCH`].
async fn urgent_refresh_batch_size<T: Transport>(shared: &Shared<T>) -> usize {
    let budget = urgent_refresh_budget(shared).await;
    shared
        .client
        .max_asins_for(budget, ProductShape::default())
        .clamp(1, URGENT_REFRESH_BATCH)
}

/// The lane for refreshing `n_asins` recently seen deals: urgent while the request fits
/// [`urgent_refresh_budget`], bulk when even one deal costs more (after Keepa's costs jumped,
/// the "386-token surprise"). Three workers sending one such refresh after another would
/// queue more urgent work than a refill brings, and every urgent request, discovery's pages
/// included, would wait behind them for several refills.
async fn recent_refresh_lane<T: Transport>(shared: &Shared<T>, n_asins: usize) -> Lane {
    let budget = urgent_refresh_budget(shared).await;
    let estimate = shared
        .client
        .estimate_per_unit(RequestKind::Product(ProductShape::default()));
    let units = i64::try_from(n_asins).unwrap_or(i64::MAX);
    refresh_lane(
        Tokens::from_milli(estimate.as_milli().saturating_mul(units)),
        budget,
    )
}

/// Urgent for a refresh estimated within `budget`, bulk otherwise.
fn refresh_lane(estimate: Tokens, budget: Tokens) -> Lane {
    if estimate <= budget {
        Lane::Urgent
    } else {
        Lane::Bulk
    }
}

fn batch(asins: Vec<Asin>) -> Option<AsinBatch> {
    AsinBatch::new(asins).ok()
}

/// Screening and analysis of the backlog's new deals, in the bulk lane, until the worker stops.
pub async fn run_analysis<T: Transport>(shared: Shared<T>) {
    drain_backlog(
        shared,
        "analysis",
        BacklogKind::Analyse,
        async |shared| bulk_batch_size(shared, ProductShape::default()).await,
        async |shared, asins| {
            let n_stored = screen_and_analyse(shared, asins).await?;
            if n_stored > 0 {
                tracing::info!(stored = n_stored, "analysis: stored {n_stored} deals");
            }
            Ok(format!("stored {n_stored} deals"))
        },
    )
    .await;
}

/// Light refresh of stored deals that discovery saw change, in the urgent lane.
pub async fn run_refresh<T: Transport>(shared: Shared<T>) {
    drain_backlog(
        shared,
        "refresh",
        BacklogKind::Refresh,
        async |shared| urgent_refresh_batch_size(shared).await,
        async |shared, asins| {
            let (recent, older) = split_by_recency(shared, asins).await?;
            let mut n = 0;
            if !recent.is_empty() {
                let lane = recent_refresh_lane(shared, recent.len()).await;
                n += refresh(shared, recent, lane, DealSource::Refresh).await?;
            }
            if !older.is_empty() {
                n += refresh(shared, older, Lane::Bulk, DealSource::Refresh).await?;
            }
            Ok(format!("refreshed {n} deals"))
        },
    )
    .await;
}

/// Splits changed deals into those seen within the schedule's `recent_window` (refreshed in
/// the urgent lane: what the API shows now) and the rest (bulk: deals nobody has seen lately
/// can wait behind urgent work). A deal no longer stored counts as recent; `refresh` analyses
/// it again.
async fn split_by_recency<T>(
    shared: &Shared<T>,
    asins: Vec<Asin>,
) -> Result<(Vec<Asin>, Vec<Asin>), BatchFailure> {
    let window = i64::try_from(shared.config.schedule.recent_window.as_secs()).unwrap_or(i64::MAX);
    let since = shared.clock.now().0.saturating_sub(window);
    let seen: Vec<Option<i64>> = shared
        .store
        .read({
            let asins = asins.clone();
            move |reader| {
                asins
                    .iter()
                    .map(|&asin| Ok(reader.deal(asin)?.map(|stored| stored.last_seen_at.0)))
                    .collect()
            }
        })
        .await?;
    Ok(partition_by_recency(asins.into_iter().zip(seen), since))
}

/// `(recent, older)`: deals last seen at or after `since` (Unix seconds), or not stored, and
/// the rest.
fn partition_by_recency(
    deals: impl Iterator<Item = (Asin, Option<i64>)>,
    since: i64,
) -> (Vec<Asin>, Vec<Asin>) {
    let (recent, older): (Vec<_>, Vec<_>) =
        deals.partition(|(_, last_seen)| last_seen.is_none_or(|at| at >= since));
    (
        recent.into_iter().map(|(asin, _)| asin).collect(),
        older.into_iter().map(|(asin, _)| asin).collect(),
    )
}

/// The loop of a task that works through one kind of backlog entry: claim a batch (as large as
/// `batch_size` says), `process` it, report; idle until discovery adds work; back off after an
/// error; give the claims back when the worker stops.
async fn drain_backlog<T: Transport>(
    shared: Shared<T>,
    task: &str,
    kind: BacklogKind,
    batch_size: impl AsyncFn(&Shared<T>) -> usize,
    process: impl AsyncFn(&Shared<T>, Vec<Asin>) -> Result<String, BatchFailure>,
) {
    let mut reporter = Reporter::new(&shared, task);
    while !shared.stopping() {
        if shared.paused().await {
            reporter.waiting(WaitReason::Paused, true).await;
            shared.pause_for(IDLE_RECHECK, None).await;
            continue;
        }
        let limit = batch_size(&shared).await;
        let entries = match claim(&shared, kind, limit).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, task, "could not claim backlog entries");
                back_off(&shared, &mut reporter).await;
                continue;
            }
        };
        if entries.is_empty() {
            reporter.waiting(WaitReason::NoWork, false).await;
            shared
                .pause_for(IDLE_RECHECK, Some(&shared.backlog_changed))
                .await;
            continue;
        }
        let asins: Vec<Asin> = entries.iter().map(|entry| entry.asin).collect();
        reporter
            .working(&format!("{task}: {} deals", asins.len()))
            .await;
        match reporter.watching_tokens(process(&shared, asins)).await {
            Ok(done) => reporter.progressed(&done, true).await,
            Err(error) => {
                tracing::warn!(%error, task, "a batch failed");
                back_off(&shared, &mut reporter).await;
            }
        }
    }
    release_claims(&shared).await;
    reporter.stopped().await;
}

/// How long a worker holds the backlog entries it took; longer than any batch takes, short
/// enough that a crashed worker's entries are soon taken by another.
const CLAIM_FOR: Duration = Duration::from_secs(10 * 60);

/// Takes backlog entries of `kind` for this worker, so that workers sharing the database never
/// fetch the same product twice.
async fn claim<T>(
    shared: &Shared<T>,
    kind: BacklogKind,
    limit: usize,
) -> Result<Vec<deal_store::BacklogEntry>, deal_store::StoreError> {
    let claimant = shared.fleet.instance().to_string();
    let now = shared.clock.now();
    shared
        .store
        .write(move |writer| writer.claim_backlog(kind, limit, &claimant, now, CLAIM_FOR))
        .await
}

/// Gives this worker's claims back as a task stops, so another worker takes them at once.
async fn release_claims<T>(shared: &Shared<T>) {
    let claimant = shared.fleet.instance().to_string();
    if let Err(error) = shared
        .store
        .write(move |writer| writer.release_claims(&claimant))
        .await
    {
        tracing::warn!(%error, "could not release backlog claims; they lapse on their own");
    }
}

async fn back_off<T>(shared: &Shared<T>, reporter: &mut Reporter<T>) {
    let until_ms =
        shared.clock.now_ms() + i64::try_from(ERROR_BACKOFF.as_millis()).unwrap_or(i64::MAX);
    reporter
        .waiting(WaitReason::Backoff { until_ms }, true)
        .await;
    shared.pause_for(ERROR_BACKOFF, None).await;
}

/// Screens `asins` with a statistics fetch, then analyses the survivors in full; answers how
/// many deals were stored.
///
/// # Errors
///
/// When the store fails. A Keepa failure is recorded against each ASIN of the batch (the
/// attempt budget quarantines an ASIN that keeps failing) and is not an error here.
pub async fn screen_and_analyse<T: Transport>(
    shared: &Shared<T>,
    asins: Vec<Asin>,
) -> Result<usize, BatchFailure> {
    let Some(asins) = batch(asins) else {
        return Ok(0);
    };
    let screened = match fetch(shared, light_query(asins.clone()), Lane::Bulk).await {
        Ok(Some(screened)) => screened,
        Ok(None) => return Ok(0),
        Err(error) => {
            record_failures(shared, asins.asins(), error).await?;
            return Ok(0);
        }
    };
    let mut survivors = Vec::new();
    for product in &screened.products {
        match deal_filters::screen_stats(&product.stats) {
            Ok(()) => survivors.push(product.asin),
            Err(reason) => reject(shared, product.asin, reason, product).await?,
        }
    }
    forget_unknown(shared, &screened).await?;

    let mut n_stored = 0;
    let mut rest = survivors.as_slice();
    while !rest.is_empty() && !shared.stopping() {
        let size = bulk_batch_size(shared, full_shape()).await.min(rest.len());
        let (chunk, remaining) = rest.split_at(size);
        rest = remaining;
        let Some(chunk_batch) = batch(chunk.to_vec()) else {
            continue;
        };
        let analysed = match fetch(shared, full_query(chunk_batch), Lane::Bulk).await {
            Ok(Some(analysed)) => analysed,
            Ok(None) => break,
            Err(error) => {
                record_failures(shared, chunk, error).await?;
                continue;
            }
        };
        for product in &analysed.products {
            let now = shared.clock.now();
            match deal_filters::analyse(product, None, &shared.config.settings, now) {
                Ok(deal) => {
                    store_deal(shared, deal, DealSource::Analysis).await?;
                    n_stored += 1;
                }
                Err(reason) => reject(shared, product.asin, reason, product).await?,
            }
        }
        forget_unknown(shared, &analysed).await?;
    }
    Ok(n_stored)
}

/// Fetches products; `Ok(None)` when the worker began stopping while waiting.
async fn fetch<T: Transport>(
    shared: &Shared<T>,
    query: ProductQuery,
    lane: Lane,
) -> Result<Option<ProductBatch>, keepa_client::Error> {
    let Some(result) = shared
        .unless_stopping(shared.client.products(&query, lane))
        .await
    else {
        return Ok(None);
    };
    match &result {
        Ok(answer) => {
            shared.metrics.add(
                "keepa_tokens_spent_total",
                &[("lane", lane.as_str())],
                answer.info.tokens_consumed as f64,
            );
            shared.record_calls(answer.info.attempts).await;
            shared.record_quota(&answer.info).await;
        }
        Err(error) => {
            shared.record_calls(1).await;
            shared
                .metrics
                .add("keepa_errors_total", &[("kind", error.kind())], 1.0);
            shared.record_keepa_error(error.kind()).await;
        }
    }
    result.map(Some)
}

async fn store_deal<T>(
    shared: &Shared<T>,
    deal: deal_filters::AnalysedDeal,
    source: DealSource,
) -> Result<(), BatchFailure> {
    let now = shared.clock.now();
    shared
        .store
        .write(move |writer| {
            let asin = deal.asin;
            writer.upsert_deal(
                &deal,
                DealWrite {
                    source,
                    fence: None,
                    now,
                },
            )?;
            writer.remove_from_backlog(asin)
        })
        .await?;
    shared
        .metrics
        .add("deals_stored_total", &[("source", source.as_str())], 1.0);
    Ok(())
}

async fn reject<T>(
    shared: &Shared<T>,
    asin: Asin,
    reason: deal_filters::RejectionReason,
    product: &Product,
) -> Result<(), BatchFailure> {
    let now = shared.clock.now();
    let last_update = product.last_update;
    shared
        .store
        .write(move |writer| {
            writer.record_rejection(asin, reason, last_update, now)?;
            writer.remove_from_backlog(asin)
        })
        .await?;
    shared
        .metrics
        .add("deals_rejected_total", &[("reason", reason.as_str())], 1.0);
    Ok(())
}

/// ASINs Keepa does not know count as failed attempts: the attempt budget retires them.
async fn forget_unknown<T>(shared: &Shared<T>, answer: &ProductBatch) -> Result<(), BatchFailure> {
    for &asin in &answer.unknown {
        record_failure(shared, asin, "keepa does not know this asin").await?;
    }
    Ok(())
}

/// Counts a failed request against each ASIN of its batch, when the failure may be the
/// batch's own doing (Keepa refused a parameter, or answered with a body that does not decode);
/// otherwise (an invalid key, no API access, the bucket, Keepa down or unreachable after the
/// retries) the ASINs are not to blame: nothing is counted, and the error is returned so the
/// task backs off with the batch still queued.
async fn record_failures<T>(
    shared: &Shared<T>,
    asins: &[Asin],
    error: keepa_client::Error,
) -> Result<(), BatchFailure> {
    let blames_the_batch = matches!(
        error,
        keepa_client::Error::InvalidParameter { .. }
            | keepa_client::Error::MalformedBody { .. }
            | keepa_client::Error::UnexpectedStatus { .. }
            | keepa_client::Error::NotFound { .. }
    );
    if !blames_the_batch {
        return Err(BatchFailure::Keepa(error));
    }
    tracing::warn!(%error, n_asins = asins.len(), "a keepa request failed; counted against each asin's attempt budget");
    let message = error.to_string();
    for &asin in asins {
        record_failure(shared, asin, &message).await?;
    }
    Ok(())
}

async fn record_failure<T>(
    shared: &Shared<T>,
    asin: Asin,
    message: &str,
) -> Result<(), BatchFailure> {
    let now = shared.clock.now();
    let message = message.to_owned();
    let outcome = shared
        .store
        .write(move |writer| {
            let outcome = writer.record_failure(asin, &message, now)?;
            if let FailureOutcome::Quarantined { .. } = outcome {
                writer.remove_from_backlog(asin)?;
            }
            Ok(outcome)
        })
        .await?;
    if let FailureOutcome::Quarantined { .. } = outcome {
        tracing::warn!(%asin, "quarantined after repeated failures");
    }
    Ok(())
}

/// Refreshes stored deals with a statistics fetch: List at and the one-year average are kept,
/// money figures recomputed. Answers how many were refreshed.
///
/// # Errors
///
/// When the store fails; Keepa failures count against each ASIN's attempt budget.
pub async fn refresh<T: Transport>(
    shared: &Shared<T>,
    asins: Vec<Asin>,
    lane: Lane,
    source: DealSource,
) -> Result<usize, BatchFailure> {
    let Some(asin_batch) = batch(asins.clone()) else {
        return Ok(0);
    };
    let answer = match fetch(shared, light_query(asin_batch), lane).await {
        Ok(Some(answer)) => answer,
        Ok(None) => return Ok(0),
        Err(error) => {
            record_failures(shared, &asins, error).await?;
            return Ok(0);
        }
    };
    let mut n_refreshed = 0;
    for product in &answer.products {
        let asin = product.asin;
        let stored: Option<StoredDeal> = shared.store.read(move |reader| reader.deal(asin)).await?;
        let now = shared.clock.now();
        match stored {
            Some(stored) => {
                let refreshed =
                    deal_filters::refresh(&stored.deal, product, &shared.config.settings, now);
                store_deal(shared, refreshed, source).await?;
                n_refreshed += 1;
            }
            // Deleted by the janitor since it was queued: analyse it again from scratch.
            None => {
                if let Ok(deal) = deal_filters::analyse(product, None, &shared.config.settings, now)
                {
                    store_deal(shared, deal, DealSource::Analysis).await?;
                    n_refreshed += 1;
                }
            }
        }
    }
    forget_unknown(shared, &answer).await?;
    Ok(n_refreshed)
}

/// Rescues deals not seen for the rescue age (default 48 h) with a light refresh in the bulk
/// lane, oldest first, and runs the janitor, until the worker stops.
pub async fn run_upkeep<T: Transport>(shared: Shared<T>) {
    let mut reporter = Reporter::new(&shared, "upkeep");
    let schedule = shared.config.schedule.clone();
    let mut next_janitor_ms = shared.clock.now_ms();
    while !shared.stopping() {
        if shared.clock.now_ms() >= next_janitor_ms {
            let now = shared.clock.now();
            let max_age = schedule.delete_after;
            match shared
                .store
                .write(move |writer| {
                    let deleted = writer.delete_deals_not_seen_for(max_age, now)?;
                    // Keep the planner's statistics current for the API's queries.
                    writer.optimize()?;
                    Ok(deleted)
                })
                .await
            {
                Ok(n) if n > 0 => tracing::info!(
                    deleted = n,
                    "janitor: deleted deals not seen for {max_age:?}"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "janitor failed; it runs again at the next interval");
                }
            }
            // Also kept here, not only at shutdown, so a killed worker's successor starts
            // from recent figures.
            shared.save_learned_costs().await;
            next_janitor_ms = shared.clock.now_ms()
                + i64::try_from(schedule.janitor_every.as_millis()).unwrap_or(i64::MAX);
        }
        if shared.paused().await {
            reporter.waiting(WaitReason::Paused, true).await;
            shared.pause_for(IDLE_RECHECK, None).await;
            continue;
        }
        let now = shared.clock.now();
        let min_age = schedule.rescue_after;
        let limit =
            u32::try_from(bulk_batch_size(&shared, ProductShape::default()).await).unwrap_or(1);
        let candidates = shared
            .store
            .read(move |reader| reader.stale_rescue_candidates(min_age, now, limit))
            .await;
        match candidates {
            Ok(candidates) if !candidates.is_empty() => {
                let asins: Vec<Asin> = candidates.into_iter().map(|(asin, _)| asin).collect();
                reporter
                    .working(&format!("rescuing {} stale deals", asins.len()))
                    .await;
                match refresh(&shared, asins, Lane::Bulk, DealSource::Rescue).await {
                    Ok(n) => {
                        reporter
                            .progressed(&format!("rescued {n} deals"), true)
                            .await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "a rescue batch failed");
                        back_off(&shared, &mut reporter).await;
                    }
                }
            }
            Ok(_) => {
                reporter.waiting(WaitReason::NoWork, false).await;
                shared.pause_for(schedule.refresh_every, None).await;
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the rescue candidates");
                back_off(&shared, &mut reporter).await;
            }
        }
    }
    reporter.stopped().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deals_seen_within_the_recent_window_are_refreshed_urgently() {
        let asin = |text: &str| -> Asin { text.parse().unwrap() };
        let deals = [
            (asin("B000000001"), Some(1_000)),
            (asin("B000000002"), Some(999)),
            (asin("B000000003"), None),
            (asin("B000000004"), Some(5_000)),
        ];
        let (recent, older) = partition_by_recency(deals.into_iter(), 1_000);
        assert_eq!(
            recent,
            [asin("B000000001"), asin("B000000003"), asin("B000000004")]
        );
        assert_eq!(older, [asin("B000000002")]);
    }

    #[test]
    fn a_refresh_that_outgrows_its_share_of_a_refill_goes_to_bulk() {
        // A quarter of 20 tokens a minute: 5 tokens for one refresh.
        let budget = Tokens::from_whole(5);
        // Five deals at 1 token each fit; after costs went up tenfold, one deal does not.
        assert_eq!(refresh_lane(Tokens::from_whole(5), budget), Lane::Urgent);
        assert_eq!(refresh_lane(Tokens::from_whole(10), budget), Lane::Bulk);
        // Another program spending the whole refill leaves no urgent share at all.
        assert_eq!(
            refresh_lane(Tokens::from_whole(1), Tokens::ZERO),
            Lane::Bulk
        );
    }
}
