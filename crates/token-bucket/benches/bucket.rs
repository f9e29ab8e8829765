//! `cargo bench -p token-bucket --bench bucket`: the bucket's cost per request, against
//! baselines measured in the same run.
//!
//! - In memory: acquire + settle, uncontended and from 2 threads sharing one bucket, against
//!   `governor`'s `RateLimiter::check` under the same conditions (goal: within 2×); and, for
//!   reference, two mutex sections and an `Arc` clone, the synchronisation floor of a lock-based
//!   bucket.
//! - Redis (when `KEEPA_DEALS_TEST_REDIS_URL` names a server): acquire and settle round trips
//!   against a trivial `EVALSHA` (a script returning 1) on the same server (goal: ≤ 1.5× each,
//!   that is, one round trip per operation); and, for reference, scripts that only read and
//!   write the state key, the floor of any operation on a state shared in Redis.
//!
//! Prints one JSON line per figure (see `benchkit::report`); progress goes to stderr. It does
//! not measure waiting: the bucket always has tokens here.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use benchkit::black_box;
use governor::{Quota, RateLimiter};
use token_bucket::clock::ManualClock;
use token_bucket::redis::{RedisClock, RedisConfig};
use token_bucket::{Bucket, Envelope, Lane, Policy, Tokens};

/// Operations per timed sample in the in-memory figures, so that timer overhead vanishes.
const BATCH: u32 = 2_000;
const SAMPLES: usize = 200;

fn new_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A bucket that always has tokens: a huge balance, and a clock that never reaches a refill.
fn plentiful(bucket: &Bucket, runtime: &tokio::runtime::Runtime) {
    let envelope = Envelope {
        tokens_left: 1_000_000,
        refill_in_ms: 60_000,
        refill_rate: 20_000,
        tokens_consumed: 0,
        server_timestamp_ms: 1,
    };
    runtime.block_on(bucket.reconcile(&envelope)).unwrap();
}

async fn acquire_settle(bucket: &Bucket) {
    let permit = bucket
        .try_acquire(Tokens::from_whole(1), Lane::Urgent)
        .await
        .unwrap()
        .expect("the benchmark bucket always has tokens");
    // Settled at 0: the estimate returns, so the balance never runs down.
    black_box(permit.settle(Tokens::ZERO).await.unwrap());
}

/// Operations per thread per timed sample in the 2-thread figures: long enough (milliseconds)
/// that waking the threads for a sample is a small part of it.
const THREAD_BATCH: u32 = 50_000;

/// Measures an operation run on 2 threads at once: both threads are started once, with the state
/// `make_batch` builds in each (a runtime, say), and released together for each sample; a
/// sample is the wall time until both have run `THREAD_BATCH` operations, per operation. Thread
/// and runtime start-up are outside the samples.
fn two_threads<F>(name: &str, make_batch: F) -> benchkit::Measurement
where
    F: Fn() -> Box<dyn FnMut()> + Send + Sync + 'static,
{
    let make_batch = Arc::new(make_batch);
    let start = Arc::new(Barrier::new(3));
    let done = Arc::new(Barrier::new(3));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (make_batch, start, done, stop) = (
                make_batch.clone(),
                start.clone(),
                done.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut batch = make_batch();
                loop {
                    start.wait();
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    batch();
                    done.wait();
                }
            })
        })
        .collect();
    let sample = || {
        let began = Instant::now();
        start.wait();
        done.wait();
        began.elapsed() / (2 * THREAD_BATCH)
    };
    for _ in 0..5 {
        sample();
    }
    let measurement = benchkit::measure_samples(name, 50, sample);
    stop.store(true, Ordering::SeqCst);
    start.wait();
    for thread in threads {
        thread.join().unwrap();
    }
    measurement
}

fn memory() {
    let governor = RateLimiter::direct(Quota::per_second(NonZeroU32::MAX));
    let governor_uncontended = benchkit::measure("governor check", || {
        black_box(governor.check().is_ok());
    });

    let runtime = new_runtime();
    let bucket = Bucket::in_memory_with_clock(Policy::default(), Arc::new(ManualClock::at(0)));
    plentiful(&bucket, &runtime);
    let uncontended = benchkit::measure_samples("in-memory acquire+settle", SAMPLES, || {
        let start = Instant::now();
        runtime.block_on(async {
            for _ in 0..BATCH {
                acquire_settle(&bucket).await;
            }
        });
        start.elapsed() / BATCH
    });
    benchkit::report(
        "memory_acquire_settle_uncontended",
        uncontended.p50_ns,
        "ns",
        "governor_check_uncontended",
        governor_uncontended.ns_per_iter,
    );

    let governor = Arc::new(RateLimiter::direct(Quota::per_second(NonZeroU32::MAX)));
    let governor_2_threads = two_threads("governor check, 2 threads", move || {
        let governor = governor.clone();
        Box::new(move || {
            for _ in 0..THREAD_BATCH {
                black_box(governor.check().is_ok());
            }
        })
    });
    let shared = bucket.clone();
    let bucket_2_threads = two_threads("in-memory acquire+settle, 2 threads", move || {
        let bucket = shared.clone();
        let runtime = new_runtime();
        Box::new(move || {
            runtime.block_on(async {
                for _ in 0..THREAD_BATCH {
                    acquire_settle(&bucket).await;
                }
            });
        })
    });
    benchkit::report(
        "memory_acquire_settle_2_threads",
        bucket_2_threads.p50_ns,
        "ns",
        "governor_check_2_threads",
        governor_2_threads.p50_ns,
    );

    // Reference figures, with no goal of their own: the synchronisation any acquire and settle
    // of a permit must do when the bucket's state is a reservation list behind a lock, with no
    // rule applied: two sections of a `std::sync::Mutex` (one to reserve, one to settle) and the
    // permit's clone of the bucket's `Arc`. Against governor's one compare-and-swap they show
    // how much of the ratios above is the floor of that design.
    let floor_state = Arc::new((Mutex::new([0_u64; 4]), Arc::new(())));
    let floor_operation = |state: &(Mutex<[u64; 4]>, Arc<()>)| {
        let permit = black_box(state.1.clone());
        state.0.lock().unwrap()[0] += 1;
        state.0.lock().unwrap()[1] += 1;
        drop(permit);
    };
    let floor_uncontended = benchkit::measure("two mutex sections + Arc clone", || {
        floor_operation(&floor_state);
    });
    let floor_2_threads = two_threads("two mutex sections + Arc clone, 2 threads", move || {
        let state = floor_state.clone();
        Box::new(move || {
            for _ in 0..THREAD_BATCH {
                floor_operation(&state);
            }
        })
    });
    benchkit::report(
        "mutex_arc_floor_uncontended",
        floor_uncontended.ns_per_iter,
        "ns",
        "governor_check_uncontended",
        governor_uncontended.ns_per_iter,
    );
    benchkit::report(
        "mutex_arc_floor_2_threads",
        floor_2_threads.p50_ns,
        "ns",
        "governor_check_2_threads",
        governor_2_threads.p50_ns,
    );
}

/// Rounds of the Redis figures: each round runs every measured operation once, in turn.
const REDIS_ROUNDS: usize = 5_000;

fn redis(url: &str) {
    use deadpool_redis::redis::Script;

    let runtime = new_runtime();
    let config = RedisConfig {
        key_prefix: format!("bench:token-bucket:{}:", std::process::id()),
        clock: RedisClock::Injected(Arc::new(ManualClock::at(0))),
        ..RedisConfig::default()
    };
    let state_key = config.state_key();
    let bucket = Bucket::redis_from_url(url, config).unwrap();
    plentiful(&bucket, &runtime);

    let client = deadpool_redis::redis::Client::open(url).unwrap();
    let mut connection = runtime
        .block_on(client.get_multiplexed_async_connection())
        .unwrap();

    // Reference scripts, with no goal of their own: what any operation on a state shared in
    // one key must at least do, on the same connection. The first reads the bucket's state and
    // writes it back unchanged; the second also unpacks and packs its integers, as every bucket
    // script does. They show how much of the ratios is the floor of a read-modify-write.
    let trivial = Script::new("return 1");
    let read_write = Script::new(
        "local raw = redis.call('GET', KEYS[1]) redis.call('SET', KEYS[1], raw) return 'ok'",
    );
    let read_write_packed = Script::new(
        "local raw = redis.call('GET', KEYS[1])
         local n = (#raw - 4) / 8
         local format = '<' .. string.rep('i8', n)
         local s = { struct.unpack(format, raw, 5) }
         s[n + 1] = nil
         redis.call('SET', KEYS[1], 'TBv3' .. struct.pack(format, unpack(s)))
         return struct.pack('<i8i8i8', 0, 1, 2)",
    );

    // Every operation runs once per round, one after the other, so that all of them meet the
    // same conditions. On a virtual machine the round trip to an idle server depends on how
    // quickly the host wakes a halted vCPU, which drifts between ~10 and ~100 µs over seconds;
    // measured one after the other, the baseline and the bucket met different regimes and the
    // ratios followed the host, not the code.
    #[derive(Default)]
    struct Times {
        trivial: Vec<Duration>,
        acquire: Vec<Duration>,
        settle: Vec<Duration>,
        acquire_settle: Vec<Duration>,
        read_write: Vec<Duration>,
        read_write_packed: Vec<Duration>,
    }
    let mut times = Times::default();
    let mut round = |times: Option<&mut Times>| {
        let start = Instant::now();
        let one: i64 = runtime
            .block_on(trivial.prepare_invoke().invoke_async(&mut connection))
            .unwrap();
        black_box(one);
        let trivial_time = start.elapsed();

        let start = Instant::now();
        let permit = runtime
            .block_on(bucket.try_acquire(Tokens::from_whole(1), Lane::Urgent))
            .unwrap()
            .expect("the benchmark bucket always has tokens");
        let acquire_time = start.elapsed();
        let start = Instant::now();
        black_box(runtime.block_on(permit.settle(Tokens::ZERO)).unwrap());
        let settle_time = start.elapsed();

        let mut floor = |script: &Script| {
            let start = Instant::now();
            let reply: Vec<u8> = runtime
                .block_on(script.key(&state_key).invoke_async(&mut connection))
                .unwrap();
            black_box(reply);
            start.elapsed()
        };
        let read_write_time = floor(&read_write);
        let read_write_packed_time = floor(&read_write_packed);

        if let Some(times) = times {
            times.trivial.push(trivial_time);
            times.acquire.push(acquire_time);
            times.settle.push(settle_time);
            times.acquire_settle.push(acquire_time + settle_time);
            times.read_write.push(read_write_time);
            times.read_write_packed.push(read_write_packed_time);
        }
    };
    for _ in 0..200 {
        round(None);
    }
    eprintln!("running {REDIS_ROUNDS} interleaved rounds of the Redis operations …");
    for _ in 0..REDIS_ROUNDS {
        round(Some(&mut times));
    }
    let summary = |name: &str, samples: Vec<Duration>| {
        let mut samples = samples.into_iter();
        benchkit::measure_samples(name, REDIS_ROUNDS, || samples.next().unwrap())
    };
    let baseline = summary("trivial EVALSHA", times.trivial);
    let acquire = summary("redis acquire", times.acquire);
    let settle = summary("redis settle", times.settle);
    let acquire_settle = summary("redis acquire+settle", times.acquire_settle);
    let read_write = summary("redis GET+SET script", times.read_write);
    let read_write_packed = summary("redis GET+unpack+pack+SET script", times.read_write_packed);

    benchkit::report(
        "redis_acquire_p50",
        acquire.p50_ns,
        "ns",
        "trivial_evalsha_p50",
        baseline.p50_ns,
    );
    benchkit::report(
        "redis_settle_p50",
        settle.p50_ns,
        "ns",
        "trivial_evalsha_p50",
        baseline.p50_ns,
    );
    benchkit::report(
        "redis_acquire_settle_p50",
        acquire_settle.p50_ns,
        "ns",
        "two_trivial_evalsha_p50",
        2.0 * baseline.p50_ns,
    );
    benchkit::report(
        "redis_acquire_p99",
        acquire.p99_ns,
        "ns",
        "trivial_evalsha_p99",
        baseline.p99_ns,
    );
    benchkit::report(
        "redis_get_set_script_p50",
        read_write.p50_ns,
        "ns",
        "trivial_evalsha_p50",
        baseline.p50_ns,
    );
    benchkit::report(
        "redis_get_unpack_pack_set_script_p50",
        read_write_packed.p50_ns,
        "ns",
        "trivial_evalsha_p50",
        baseline.p50_ns,
    );

    let _: i64 = runtime
        .block_on(
            deadpool_redis::redis::cmd("DEL")
                .arg(&state_key)
                .query_async(&mut connection),
        )
        .unwrap();
}

fn main() {
    memory();
    match std::env::var("KEEPA_DEALS_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => redis(&url),
        _ => eprintln!(
            "KEEPA_DEALS_TEST_REDIS_URL is not set: the Redis figures were not measured; \
             run `cargo xtask bench bucket`, or set it to a redis-server you own"
        ),
    }
}
