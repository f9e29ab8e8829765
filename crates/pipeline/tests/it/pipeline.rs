//! The worker's pipeline end to end against the in-process keepa-sim under tokio's paused clock:
//! simulated hours in seconds, the real tasks, the real store, the real bucket.

use std::time::Duration;

use deal_store::{DealStore, StoreOptions};
use fleet::Fleet;
use keepa_client::{ApiKey, ClientConfig, KeepaClient, SimTransport};
use keepa_sim::{Knobs, Sim};
use pipeline::config::{FileConfig, Overrides, WorkerConfig};
use pipeline::worker::UnixClock;
use token_bucket::Bucket;
use token_bucket::clock::TokioClock;

const KEY: &str = "simulatedkeepakey0123456789";
/// 2026-05-01, within the catalogue's history.
const START_UNIX_MS: i64 = 1_777_593_600_000;

struct Run {
    sim: Sim,
    store: DealStore,
    bucket: Bucket,
    _directory: tempfile::TempDir,
}

/// Runs one worker for `hours` of simulated time against a sim at `refill_rate` tokens/min.
async fn run_worker(hours: u64, refill_rate: u32, knobs: Option<Knobs>) -> Run {
    run_worker_with_key(hours, refill_rate, knobs, KEY, |_| Ok(())).await
}

/// As `run_worker`, with the key the client sends and a chance to seed the database first.
async fn run_worker_with_key(
    hours: u64,
    refill_rate: u32,
    knobs: Option<Knobs>,
    client_key: &str,
    seed: impl FnOnce(&mut deal_store::Writer) -> deal_store::StoreResult<()> + Send + 'static,
) -> Run {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("deals.sqlite");
    let mut sim = Sim::builder()
        .api_key(KEY)
        .seed(11)
        .refill_rate(refill_rate)
        .catalogue_size(600)
        .start_unix_ms(START_UNIX_MS);
    if let Some(knobs) = knobs {
        sim = sim.knobs(knobs);
    }
    let sim = sim.build();
    let bucket = Bucket::in_memory(pipeline::run::bucket_policy());
    let client = KeepaClient::new(
        SimTransport::new(sim.clone()),
        bucket.clone(),
        ApiKey::new(client_key).unwrap(),
        ClientConfig::default(),
    );
    let store = DealStore::open(&database, StoreOptions::default())
        .await
        .unwrap();
    store.write(seed).await.unwrap();
    let overrides = Overrides {
        simulate: true,
        database: Some(database),
        listen: Some("127.0.0.1:0".to_owned()),
        ..Overrides::default()
    };
    let config = WorkerConfig::resolve(FileConfig::default(), overrides).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(pipeline::run::run_with(
        config,
        store.clone(),
        Fleet::in_memory(TokioClock::start()),
        client,
        UnixClock::starting_at(START_UNIX_MS),
        async move {
            let _ = stopped.await;
        },
        |_| {},
    ));
    // Simulated time: the paused clock jumps from one timer to the next.
    tokio::time::sleep(Duration::from_secs(hours * 3600)).await;
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
    Run {
        sim,
        store,
        bucket,
        _directory: directory,
    }
}

#[tokio::test(start_paused = true)]
async fn simulated_hours_store_deals_without_a_429_or_a_deficit_below_the_floor() {
    let run = run_worker(3, 20, None).await;
    let counters = run.sim.counters();
    assert_eq!(counters.requests_with_status(429), 0, "{counters:?}");
    assert!(counters.min_balance >= -180, "{counters:?}");
    let (stored, visible, watermark) = run
        .store
        .read(|reader| {
            Ok((
                reader.stored_deal_count()?,
                reader.count_deals(&deal_store::DealFilter::default())?,
                reader.stored_watermark()?,
            ))
        })
        .await
        .unwrap();
    assert!(stored > 20, "{stored} deals stored");
    assert!(
        visible > 0 && visible <= stored,
        "{visible} of {stored} visible"
    );
    assert!(watermark.is_some(), "discovery advanced the watermark");
    // The bucket was spent, not left to fill: tokens wasted at the cap stay a small share.
    assert!(
        counters.tokens_wasted_at_cap * 10 <= counters.tokens_refilled,
        "{} of {} refilled tokens expired at the cap",
        counters.tokens_wasted_at_cap,
        counters.tokens_refilled
    );
    let snapshot = run.bucket.snapshot().await.unwrap();
    assert!(snapshot.synced);
}

#[tokio::test(start_paused = true)]
async fn stored_deals_are_what_the_rules_compute_from_keepas_data() {
    let run = run_worker(2, 20, None).await;
    let deals = run.store.read(|reader| reader.all_deals()).await.unwrap();
    assert!(!deals.is_empty());
    // Fetch the same products straight from the sim (outside the bucket) and apply the rules.
    let bucket = Bucket::in_memory(pipeline::run::bucket_policy());
    let client = KeepaClient::new(
        SimTransport::new(run.sim.clone()),
        bucket,
        ApiKey::new(KEY).unwrap(),
        ClientConfig::default(),
    );
    let mut n_compared = 0;
    for stored in &deals {
        let batch = keepa_client::AsinBatch::new(vec![stored.deal.asin]).unwrap();
        let mut query = keepa_client::ProductQuery::new(batch);
        query.stats_days = std::num::NonZeroU32::new(365);
        query.offers = keepa_client::OfferCount::new(20);
        let answer = client
            .products(&query, token_bucket::Lane::Urgent)
            .await
            .unwrap();
        let product = &answer.products[0];
        // Only products Keepa has not updated since the analysis still hold the data it used.
        let analysed_minute =
            keepa_model::KeepaMinute::from_unix_seconds(stored.deal.analysed_at).unwrap();
        if product
            .last_update
            .is_none_or(|minute| minute > analysed_minute)
        {
            continue;
        }
        let expected =
            deal_filters::analyse(product, None, &Default::default(), stored.deal.analysed_at)
                .expect("the stored deal passed analysis");
        assert_eq!(
            stored.deal.list_at, expected.list_at,
            "{}",
            stored.deal.asin
        );
        assert_eq!(
            stored.deal.one_year_average, expected.one_year_average,
            "{}",
            stored.deal.asin
        );
        assert_eq!(
            stored.deal.fba_fee, expected.fba_fee,
            "{}",
            stored.deal.asin
        );
        assert_eq!(
            stored.deal.price_now, expected.price_now,
            "{}",
            stored.deal.asin
        );
        assert_eq!(stored.deal.profit, expected.profit, "{}", stored.deal.asin);
        n_compared += 1;
        if n_compared == 10 {
            break;
        }
    }
    assert!(
        n_compared >= 3,
        "only {n_compared} products were unchanged since their analysis"
    );
}

#[tokio::test(start_paused = true)]
async fn keepa_faults_are_retried_and_counted_without_stopping_the_worker() {
    let knobs = Knobs {
        refill_rate: 20,
        server_error_rate: 0.5,
        truncated_body_rate: 0.05,
        ..Knobs::default()
    };
    let run = run_worker(2, 20, Some(knobs)).await;
    let counters = run.sim.counters();
    assert!(
        counters.requests_with_status(500) > 0,
        "the knob produced 500s: {counters:?}"
    );
    let (stored, errors) = run
        .store
        .read(|reader| {
            Ok((
                reader.stored_deal_count()?,
                reader.errors_last_24h(deal_store_now())?,
            ))
        })
        .await
        .unwrap();
    assert!(
        stored > 0,
        "the worker kept storing deals through the faults"
    );
    let server_errors: u64 = errors
        .iter()
        .filter(|(kind, _)| kind == "server_error")
        .map(|(_, n)| n)
        .sum();
    assert!(
        server_errors > 0,
        "calls that failed after their retries are counted by kind: {errors:?}"
    );
}

fn deal_store_now() -> keepa_model::UnixSeconds {
    keepa_model::UnixSeconds(START_UNIX_MS / 1_000 + 2 * 3600)
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_quarantines_nothing_and_keeps_the_backlog() {
    let queued: Vec<deal_store::BacklogEntry> = (1..=5)
        .map(|n| deal_store::BacklogEntry {
            asin: format!("B00000000{n}").parse().unwrap(),
            keepa_last_update: keepa_model::KeepaMinute(8_000_000),
            kind: deal_store::BacklogKind::Analyse,
        })
        .collect();
    let seeded = queued.clone();
    let run = run_worker_with_key(1, 20, None, "revokedkey0123456789", move |writer| {
        let now = keepa_model::UnixSeconds(START_UNIX_MS / 1_000);
        writer.record_discovery(&seeded, &[], keepa_model::KeepaMinute(8_000_000), None, now)
    })
    .await;
    let (depth, quarantined) = run
        .store
        .read(|reader| Ok((reader.backlog_depth()?, reader.quarantined_count()?)))
        .await
        .unwrap();
    assert_eq!(
        depth,
        queued.len() as u64,
        "the queued deals wait for a working key"
    );
    assert_eq!(quarantined, 0, "a bad key is not the deals' fault");
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_is_counted_where_diag_reads_it_even_with_nothing_queued() {
    // Nothing queued: discovery is the only task that calls Keepa, and diag's api_errors check
    // must still see that Keepa refuses the key.
    let run = run_worker_with_key(1, 20, None, "revokedkey0123456789", |_| Ok(())).await;
    let now = keepa_model::UnixSeconds(START_UNIX_MS / 1_000 + 3600);
    let errors = run
        .store
        .read(move |reader| reader.errors_last_24h(now))
        .await
        .unwrap();
    assert!(
        errors
            .iter()
            .any(|(kind, count)| kind == "invalid_key" && *count > 0),
        "discovery's refused requests are counted by kind: {errors:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn discovery_outranks_a_store_that_remembers_a_higher_fence_than_the_fleet() {
    // As after a wiped Redis: the database saw fencing 41, the fleet counter starts again at 1.
    let run = run_worker_with_key(1, 20, None, KEY, |writer| {
        let fence = deal_store::Fence {
            lease: pipeline::discovery::DISCOVERY_LEASE.to_owned(),
            number: 41,
        };
        let now = keepa_model::UnixSeconds(START_UNIX_MS / 1_000);
        writer.set_watermark(keepa_model::KeepaMinute(0), Some(&fence), now)
    })
    .await;
    let (fences, stored) = run
        .store
        .read(|reader| Ok((reader.fences()?, reader.stored_deal_count()?)))
        .await
        .unwrap();
    let discovery = fences
        .iter()
        .find(|fence| fence.lease == "discovery")
        .unwrap();
    assert!(
        discovery.number > 41,
        "discovery committed under a fence above the store's: {fences:?}"
    );
    assert!(stored > 0);
}

/// Two workers, each with its own database, on one Keepa key: they share the token bucket and
/// the fleet state (the discovery lease) in the private Redis, their calls on a real-time
/// runtime so the paused clock holds still while they are in flight, and together never take
/// the key below the floor or into a 429.
#[tokio::test(start_paused = true)]
async fn two_workers_on_one_key_share_a_redis_bucket_and_never_pass_the_floor() {
    let real_time = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = Sim::builder()
        .api_key(KEY)
        .seed(5)
        .refill_rate(5)
        .catalogue_size(600)
        .start_unix_ms(START_UNIX_MS)
        .build();
    let bucket_config = token_bucket::RedisConfig {
        key_prefix: testkit::unique_prefix("two-workers"),
        clock: token_bucket::RedisClock::Injected(std::sync::Arc::new(TokioClock::start())),
        io: token_bucket::RedisIo::RealTime(real_time.handle().clone()),
        ..token_bucket::RedisConfig::default()
    };
    let mut fleet_config = fleet::FleetConfig::with_prefix(&bucket_config.key_prefix);
    fleet_config.clock = fleet::FleetClock::injected(TokioClock::start());
    fleet_config.io_runtime = Some(real_time.handle().clone());
    let fleet = Fleet::connect(&testkit::redis_url(), fleet_config).unwrap();
    let mut stops = Vec::new();
    let mut workers = Vec::new();
    let mut stores = Vec::new();
    let mut directories = Vec::new();
    for n in 0..2 {
        let directory = tempfile::tempdir().unwrap();
        let database = directory.path().join("deals.sqlite");
        let bucket = Bucket::redis_from_url(&testkit::redis_url(), bucket_config.clone()).unwrap();
        let client = KeepaClient::new(
            SimTransport::new(sim.clone()),
            bucket,
            ApiKey::new(KEY).unwrap(),
            ClientConfig::default(),
        );
        let store = DealStore::open(&database, StoreOptions::default())
            .await
            .unwrap();
        let overrides = Overrides {
            simulate: true,
            database: Some(database),
            listen: Some("127.0.0.1:0".to_owned()),
            ..Overrides::default()
        };
        let config = WorkerConfig::resolve(FileConfig::default(), overrides).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let instance = fleet::InstanceId::new("host", n + 1);
        workers.push(tokio::spawn(pipeline::run::run_with(
            config,
            store.clone(),
            fleet.with_instance(instance),
            client,
            UnixClock::starting_at(START_UNIX_MS),
            async move {
                let _ = stopped.await;
            },
            |_| {},
        )));
        stops.push(stop);
        stores.push(store);
        directories.push(directory);
    }
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    for stop in stops {
        stop.send(()).unwrap();
    }
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    let counters = sim.counters();
    assert_eq!(counters.requests_with_status(429), 0, "{counters:?}");
    assert!(counters.min_balance >= -180, "{counters:?}");
    assert!(
        counters.tokens_charged > 500,
        "the two workers spent the quota: {counters:?}"
    );
    let mut stored = 0;
    for store in &stores {
        stored += store
            .read(|reader| reader.stored_deal_count())
            .await
            .unwrap();
    }
    assert!(stored > 0);
    // Every paid call was counted under the host's worker name in the fleet's call rates,
    // where diag looks for a phantom caller (the window misses at most the run's first minute).
    let rates = fleet.call_rates(120).await.unwrap();
    assert_eq!(
        rates
            .iter()
            .map(|rate| rate.client.as_str())
            .collect::<Vec<_>>(),
        ["worker@host"]
    );
    let counted = (rates[0].calls_per_minute * 120.0).round() as u64;
    let sent = counters
        .requests
        .get("/deal")
        .map_or(0, |by| by.values().sum::<u64>())
        + counters
            .requests
            .get("/product")
            .map_or(0, |by| by.values().sum::<u64>());
    assert!(
        counted <= sent && counted * 10 >= sent * 9,
        "counted {counted} of {sent} calls"
    );
    real_time.shutdown_background();
}
