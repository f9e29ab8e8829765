//! The one module that does IO: it reads the database (through deal-store's query-only
//! readers), Redis (through fleet and token-bucket), the instance lock (through a
//! [`LockInspector`]) and, at most once, Keepa's `/token` (through a [`TokenProbe`]), and turns
//! every source that cannot be read into an `Err(`[`Unreadable`]`)` — the reason, and the remedy
//! for that kind of failure (a locked, missing or corrupt database, a dead Redis) — for the
//! checks to report as UNKNOWN.
//!
//! It also notices when Redis has lost its state (restarted without persistence): the database
//! remembers a lease's fencing number but Redis has no counter for it. The history that went
//! with the old server (incidents, call counts) is then reported as unknown, not as empty.
//!
//! It never writes to the database, never deletes a Redis key (the bucket's snapshot script
//! does apply due refills, as every bucket operation does), and never fails as a whole: a
//! dead source costs only the checks that depend on it. Database reads block the calling thread
//! (`diag` runs them on a current-thread runtime); Redis operations are bounded by
//! [`REDIS_TIMEOUT`].

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use deal_store::{DealFilter, Fence, Reader, Readers, StoreError, StoreOptions};
use fleet::{Fleet, FleetConfig, Heartbeat, Incident, KeyKind, PauseFlag, RedisEndpoint};
use keepa_model::{KeepaMinute, UnixSeconds};
use token_bucket::{Bucket, Policy, RedisConfig};

use crate::checks::{
    self, DatabaseFacts, Funnel, LeaseObservation, QuotaInput, QuotaSource, Tier, Unreadable,
    WatermarkFacts, commands,
};
use crate::records::{
    HEARTBEAT_STATE_PREFIX, INCIDENTS_STATE_KEY, PAUSE_STATE_KEY, QUOTA_STATE_KEY, QuotaRecord,
};
use crate::report::Report;

/// How long one Redis operation may take before its source is reported unreachable.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a database read waits for a lock before the database is reported locked.
pub const DATABASE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Minutes of call counts the call-rate check averages over.
pub const CALL_RATE_WINDOW_MINUTES: u32 = 10;

/// Incidents read from the fleet (the newest).
const INCIDENTS_READ: usize = 20;

/// Why diagnostics could not even start (its configuration is unusable). Sources that cannot
/// be reached are not errors: they become UNKNOWN checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Redis URL cannot be parsed. The URL is not repeated: it may hold a password.
    #[error("the redis url is not valid: {0}")]
    InvalidRedisUrl(String),
    /// The key prefix is empty.
    #[error("the key prefix is empty; use a prefix such as \"keepa-deals:\"")]
    EmptyKeyPrefix,
}

/// The fleet tier's Redis: a URL (which may hold a password, never printed) and the key prefix.
#[derive(Clone)]
pub struct RedisSource {
    url: String,
    endpoint: RedisEndpoint,
    key_prefix: String,
}

impl RedisSource {
    /// Validates `url` and `key_prefix`.
    ///
    /// # Errors
    /// [`ConfigError`] for a URL that is not a Redis URL or an empty prefix.
    pub fn new(url: &str, key_prefix: &str) -> Result<RedisSource, ConfigError> {
        if key_prefix.is_empty() {
            return Err(ConfigError::EmptyKeyPrefix);
        }
        let endpoint = RedisEndpoint::from_url(url).map_err(|error| match error {
            fleet::Error::InvalidRedisUrl { detail } => ConfigError::InvalidRedisUrl(detail),
            other => ConfigError::InvalidRedisUrl(other.to_string()),
        })?;
        Ok(RedisSource {
            url: url.to_owned(),
            endpoint,
            key_prefix: key_prefix.to_owned(),
        })
    }

    /// The endpoint, `host:port/db`, without credentials.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The URL itself, for connecting. It may hold a password: never print it.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for RedisSource {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RedisSource")
            .field("endpoint", &self.endpoint.as_str())
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// Where diagnostics looks, and the expectations it judges by.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The worker's SQLite database.
    pub database: PathBuf,
    /// Redis, in the fleet tier; `None` in the embedded tier.
    pub redis: Option<RedisSource>,
    /// Expected calls per minute per client, for the call-rate check (empty: only list them).
    pub expected_call_rates: BTreeMap<String, f64>,
    /// The bucket's deficit floor in whole tokens (the token-bucket default, −180).
    pub deficit_floor: i64,
}

impl Sources {
    /// The embedded tier on `database`, with default expectations.
    pub fn embedded(database: impl Into<PathBuf>) -> Sources {
        Sources {
            database: database.into(),
            redis: None,
            expected_call_rates: BTreeMap::new(),
            deficit_floor: Policy::default().deficit_floor.whole_floor(),
        }
    }

    /// The tier these sources describe.
    pub fn tier(&self) -> Tier {
        if self.redis.is_some() {
            Tier::Fleet
        } else {
            Tier::Embedded
        }
    }
}

/// Why a `/token` probe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Keepa refused the key (invalid key, no API access): the quota check FAILs.
    #[error("{0}")]
    KeyRejected(String),
    /// Keepa could not be asked (no key, network, timeout, 5xx): the quota check is UNKNOWN.
    #[error("{0}")]
    Unavailable(String),
}

/// Diagnostics' one `/token` call, made only when no recent quota observation exists.
/// `diag` implements it with keepa-client; tests count calls.
pub trait TokenProbe {
    /// Asks Keepa for the quota. Must never put the API key in its error.
    fn probe(&self) -> impl Future<Output = Result<QuotaRecord, ProbeError>> + Send;
}

/// A probe that never calls Keepa (`--no-probe`, or no key configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProbe;

impl TokenProbe for NoProbe {
    async fn probe(&self) -> Result<QuotaRecord, ProbeError> {
        Err(ProbeError::Unavailable(
            "diag makes no /token call (no keepa key given, or --no-probe)".to_owned(),
        ))
    }
}

/// Who holds the embedded tier's instance lock of a database. `diag` implements it with the
/// worker's `pipeline::lock::InstanceLock::holder` (diagnostics does not depend on the worker's
/// library, so the worker may depend on this crate for [`QuotaRecord`]).
pub trait LockInspector {
    /// `Ok(Some(pid))` while a process holds the lock (`Some(None)`: no pid written), `Ok(None)`
    /// when free. Must never take the lock for longer than the inspection.
    ///
    /// # Errors
    /// A one-line reason when the lock file exists but cannot be inspected.
    fn holder(&self, database: &Path) -> Result<Option<Option<u32>>, String>;
}

/// Everything gathered, each source's failure kept as `Err(`[`Unreadable`]`)`.
#[derive(Debug, Clone)]
pub struct Observations {
    /// The tier observed.
    pub tier: Tier,
    /// The quota.
    pub quota: QuotaInput,
    /// Task heartbeats (Redis in the fleet tier, the store's state in the embedded one).
    pub heartbeats: Result<Vec<Heartbeat>, Unreadable>,
    /// Leases (fleet tier; none in the embedded tier).
    pub leases: Result<Vec<LeaseObservation>, Unreadable>,
    /// Backlog depth.
    pub backlog: Result<u64, Unreadable>,
    /// Deals by age.
    pub ages: Result<deal_store::AgeBuckets, Unreadable>,
    /// The deal funnel.
    pub funnel: Result<Funnel, Unreadable>,
    /// Errors by kind over 24 h.
    pub errors: Result<Vec<(String, u64)>, Unreadable>,
    /// Call rates per client (`None` in the embedded tier).
    pub call_rates: Result<Option<Vec<(String, f64)>>, Unreadable>,
    /// Database integrity and size.
    pub database: Result<DatabaseFacts, Unreadable>,
    /// Whether no file exists at the database's path (for the database check: a missing file
    /// whose instance lock is held means a worker runs on a deleted file).
    pub database_file_missing: bool,
    /// The stored watermark.
    pub watermark: Result<Option<WatermarkFacts>, Unreadable>,
    /// Incidents, newest first.
    pub incidents: Result<Vec<Incident>, Unreadable>,
    /// The pause flag.
    pub pause: Result<Option<PauseFlag>, Unreadable>,
    /// The instance lock's holder.
    pub instance_lock: Result<Option<Option<u32>>, Unreadable>,
    /// `now` on the fleet's clock (Redis `TIME`), for fleet-sourced instants; `now` otherwise.
    pub fleet_now_ms: i64,
    /// Whether the `/token` probe was called.
    pub probed: bool,
}

/// Runs every check over `observations` at `now_ms` (pure).
pub fn evaluate(observations: &Observations, sources: &Sources, now_ms: i64) -> Report {
    let fleet_now = observations.fleet_now_ms;
    let checks = vec![
        checks::check_quota(
            &observations.quota,
            sources.deficit_floor,
            checks::any_task_has_work(&observations.heartbeats),
            now_ms,
        ),
        checks::check_task_progress(&observations.heartbeats, fleet_now),
        checks::check_leases(&observations.leases, fleet_now),
        checks::check_backlog(&observations.backlog),
        checks::check_stale_deals(&observations.ages),
        checks::check_deal_funnel(&observations.funnel),
        checks::check_api_errors(&observations.errors),
        checks::check_call_rates(&observations.call_rates, &sources.expected_call_rates),
        checks::check_database(
            &observations.database,
            observations.database_file_missing,
            &observations.instance_lock,
        ),
        checks::check_watermark(&observations.watermark, now_ms),
        checks::check_incidents(&observations.incidents, fleet_now),
        checks::check_pause(&observations.pause, fleet_now),
        checks::check_instance_lock(&observations.instance_lock, observations.tier),
    ];
    Report::new(checks, now_ms)
}

/// Gathers every source, then [`evaluate`]s: the whole of `diag` but argument parsing and
/// rendering.
pub async fn diagnose(
    sources: &Sources,
    probe: &impl TokenProbe,
    lock: &impl LockInspector,
    now_ms: i64,
) -> Report {
    let observations = gather(sources, probe, lock, now_ms).await;
    evaluate(&observations, sources, now_ms)
}

/// Reads every source. Never fails: unreachable sources are `Err(reason)` in the result. Calls
/// `probe` at most once, and only when neither Redis nor the store holds a quota observation
/// younger than [`crate::RECENT_QUOTA_MS`].
pub async fn gather(
    sources: &Sources,
    probe: &impl TokenProbe,
    lock: &impl LockInspector,
    now_ms: i64,
) -> Observations {
    let store = read_store(&sources.database, now_ms);
    let instance_lock = lock
        .holder(&sources.database)
        .map_err(|reason| lock_unreadable(reason, &sources.database));
    let tier = sources.tier();

    let (fleet_state, redis_quota) = match &sources.redis {
        Some(redis) => {
            let fleet_state = read_fleet(redis).await;
            let redis_quota = match &fleet_state {
                // Redis is down: do not wait for a second timeout on the bucket.
                Err(unreadable) => Err(unreadable.clone()),
                Ok(state) => read_redis_quota(redis, state.now_ms).await,
            };
            (Some(fleet_state), Some(redis_quota))
        }
        None => (None, None),
    };

    let stored_quota = store
        .state
        .as_ref()
        .map(|state| state.quota)
        .map_err(Clone::clone);
    let (quota, probed) = match choose_quota(redis_quota.as_ref(), &stored_quota, now_ms) {
        QuotaChoice::Use { record, source } => (QuotaInput::Observed { record, source }, false),
        QuotaChoice::Probe { fallback, why } => {
            let input = match probe.probe().await {
                Ok(record) => QuotaInput::Observed {
                    record,
                    source: QuotaSource::TokenProbe,
                },
                Err(ProbeError::KeyRejected(reason)) => QuotaInput::KeyRejected(reason),
                Err(ProbeError::Unavailable(reason)) => match fallback {
                    Some(record) => QuotaInput::Observed {
                        record,
                        source: QuotaSource::StoredEnvelope,
                    },
                    None => QuotaInput::Unavailable(Unreadable::new(
                        format!("{}; {reason}", why.reason),
                        format!(
                            "{}; or give diag the key (KEEPA_API_KEY or --keepa-key-file) for one \
                             /token call",
                            why.remedy
                        ),
                    )),
                },
            };
            (input, true)
        }
    };

    let (heartbeats, leases, call_rates, incidents, pause, fleet_now_ms) = match fleet_state {
        Some(Ok(state)) => {
            let lost = match &store.fences {
                Ok(fences) => fleet_state_lost(fences, &state.fencing_counters),
                Err(_) => None,
            };
            let call_rates = match &lost {
                Some(lost) if state.call_rates.is_empty() => Err(Unreadable::new(
                    format!("no keepa calls recorded since {lost}"),
                    format!(
                        "call counts from before then are gone: run `{}` again after a full \
                         window ({CALL_RATE_WINDOW_MINUTES} min) to judge the rates",
                        commands::DIAG
                    ),
                )),
                _ => Ok(Some(state.call_rates)),
            };
            let incidents = match &lost {
                Some(lost) if state.incidents.is_empty() => Err(Unreadable::new(
                    format!("no incident recorded since {lost}; earlier ones are gone"),
                    "read the watchdog's log (its cron output) for incidents before then; give \
                     redis persistence (appendonly yes) to keep them across restarts",
                )),
                _ => Ok(state.incidents),
            };
            (
                Ok(state.heartbeats),
                Ok(state.leases),
                call_rates,
                incidents,
                Ok(state.pause),
                state.now_ms,
            )
        }
        Some(Err(unreadable)) => (
            Err(unreadable.clone()),
            Err(unreadable.clone()),
            Err(unreadable.clone()),
            Err(unreadable.clone()),
            Err(unreadable),
            now_ms,
        ),
        None => {
            let state = store.state.as_ref().map_err(Clone::clone);
            (
                state.clone().and_then(|state| state.heartbeats.clone()),
                Ok(Vec::new()),
                Ok(None),
                state.clone().and_then(|state| state.incidents.clone()),
                state.and_then(|state| state.pause.clone()),
                now_ms,
            )
        }
    };

    Observations {
        tier,
        quota,
        heartbeats,
        leases,
        backlog: store.backlog,
        ages: store.ages,
        funnel: store.funnel,
        errors: store.errors,
        call_rates,
        database: store.database,
        database_file_missing: store.file_missing,
        watermark: store.watermark,
        incidents,
        pause,
        instance_lock,
        fleet_now_ms,
        probed,
    }
}

/// Why Redis must have lost its state, if it did: the database remembers a fencing number for
/// a lease whose counter Redis no longer has. Counters never expire and `flush all` keeps them,
/// so only a Redis that lost its data (a restart without persistence, `FLUSHALL`), `flush all
/// --with-fencing`, or a database last written in the embedded tier leaves one missing. The
/// worker raises the counter again at its next discovery pass.
fn fleet_state_lost(fences: &[Fence], fencing_counters: &[String]) -> Option<String> {
    let fence = fences
        .iter()
        .find(|fence| !fencing_counters.contains(&fence.lease))?;
    Some(format!(
        "redis lost its state (it has no fencing counter for lease {}, though the database \
         recorded fencing {}: a restart without persistence, `flush all --with-fencing`, or a \
         database last written in the embedded tier)",
        fence.lease, fence.number
    ))
}

fn lock_unreadable(reason: String, database: &Path) -> Unreadable {
    Unreadable::new(
        reason,
        format!(
            "check that this user may open {}.lock: run diag as the worker's user",
            database.display()
        ),
    )
}

/// Where the quota check's observation comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaChoice {
    /// Use this observation; no `/token` call.
    Use {
        /// The observation.
        record: QuotaRecord,
        /// Its source.
        source: QuotaSource,
    },
    /// No recent observation: make the one `/token` call, and fall back to `fallback` (an old
    /// stored envelope) if it cannot be made.
    Probe {
        /// An observation older than [`crate::RECENT_QUOTA_MS`], if one is stored.
        fallback: Option<QuotaRecord>,
        /// Why no observation was used, and what would give one, for the UNKNOWN check.
        why: Unreadable,
    },
}

/// Chooses the quota observation (pure): a synced Redis bucket first, then a stored envelope
/// younger than [`crate::RECENT_QUOTA_MS`]; otherwise a probe.
///
/// `redis` is `None` in the embedded tier, `Some(Ok(None))` when the Redis bucket has no state
/// (never synced, flushed, or a restarted Redis); `stored` is the database's record, or why it
/// could not be read.
pub fn choose_quota(
    redis: Option<&Result<Option<QuotaRecord>, Unreadable>>,
    stored: &Result<Option<QuotaRecord>, Unreadable>,
    now_ms: i64,
) -> QuotaChoice {
    let (stored_record, stored_part) = match stored {
        Ok(None) => (None, "no envelope stored in the database".to_owned()),
        Ok(Some(record)) => (
            Some(*record),
            "the stored envelope is older than 10 min".to_owned(),
        ),
        Err(unreadable) => (
            None,
            format!("the database is unreadable ({})", unreadable.reason),
        ),
    };
    if let Some(Ok(Some(record))) = redis {
        return QuotaChoice::Use {
            record: *record,
            source: QuotaSource::RedisBucket,
        };
    }
    if let Some(record) = stored_record.filter(|record| record.is_recent_at(now_ms)) {
        return QuotaChoice::Use {
            record,
            source: QuotaSource::StoredEnvelope,
        };
    }
    let redis_part = match redis {
        None => String::new(),
        Some(Ok(_)) => "the redis bucket has no state; ".to_owned(),
        Some(Err(unreadable)) => {
            format!("the redis bucket is unreadable ({}); ", unreadable.reason)
        }
    };
    // The remedy of the first source that failed; a source that merely has nothing yet comes
    // after one that cannot be read.
    let remedy = match (redis, stored) {
        (Some(Err(unreadable)), _) => unreadable.remedy.clone(),
        (_, Err(unreadable)) => unreadable.remedy.clone(),
        (Some(Ok(_)), _) => format!(
            "the redis bucket resynchronises from the next keepa answer to a running worker \
             (after a redis restart, `flush tokens` or `flush all`): run `{}` again in a minute; \
             if no worker runs, start one",
            commands::DIAG
        ),
        (None, Ok(_)) => "start the worker (it records every envelope)".to_owned(),
    };
    QuotaChoice::Probe {
        fallback: stored_record,
        why: Unreadable::new(format!("{redis_part}{stored_part}"), remedy),
    }
}

// ---- The store -----------------------------------------------------------------------------

/// What the worker leaves in the store's key/value state.
#[derive(Debug, Clone)]
struct StoredState {
    quota: Option<QuotaRecord>,
    heartbeats: Result<Vec<Heartbeat>, Unreadable>,
    pause: Result<Option<PauseFlag>, Unreadable>,
    incidents: Result<Vec<Incident>, Unreadable>,
}

struct StoreFacts {
    state: Result<StoredState, Unreadable>,
    backlog: Result<u64, Unreadable>,
    ages: Result<deal_store::AgeBuckets, Unreadable>,
    funnel: Result<Funnel, Unreadable>,
    errors: Result<Vec<(String, u64)>, Unreadable>,
    database: Result<DatabaseFacts, Unreadable>,
    watermark: Result<Option<WatermarkFacts>, Unreadable>,
    fences: Result<Vec<Fence>, Unreadable>,
    file_missing: bool,
}

impl StoreFacts {
    fn unavailable(unreadable: &Unreadable) -> StoreFacts {
        StoreFacts {
            state: Err(unreadable.clone()),
            backlog: Err(unreadable.clone()),
            ages: Err(unreadable.clone()),
            funnel: Err(unreadable.clone()),
            errors: Err(unreadable.clone()),
            database: Err(unreadable.clone()),
            watermark: Err(unreadable.clone()),
            fences: Err(unreadable.clone()),
            file_missing: false,
        }
    }
}

/// A store error as an [`Unreadable`] source, with the remedy for its kind.
fn store_unreadable(error: &StoreError, path: &Path) -> Unreadable {
    let path = path.display();
    let remedy = match error {
        StoreError::Locked { .. } => format!(
            "another process holds {path} locked (a sqlite3 session, or a tool in exclusive \
             locking mode: the worker's own writes never block readers): find it with \
             `fuser -v {path}`, end its transaction or stop it, then run `{}` again",
            commands::DIAG
        ),
        StoreError::Corrupt { .. } => "stop the worker and restore the database from a backup, \
             or move it aside so that the worker starts an empty store"
            .to_owned(),
        StoreError::NewerSchema { .. } => {
            "run a diag built from the same version as the worker that wrote the database"
                .to_owned()
        }
        StoreError::NotMigrated { .. } => format!(
            "start the worker once (it migrates the database), then run `{}` again",
            commands::DIAG
        ),
        _ => "check --database: it must name the worker's sqlite file, which this user can read \
             and write (sqlite's WAL index needs it): run diag as the worker's user"
            .to_owned(),
    };
    Unreadable::new(error.to_string(), remedy)
}

fn read_store(path: &Path, now_ms: i64) -> StoreFacts {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => {}
        Ok(_) => {
            return StoreFacts::unavailable(&Unreadable::new(
                format!("database {} is not a file", path.display()),
                "check --database: it must name the worker's sqlite file, not a directory",
            ));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return StoreFacts {
                file_missing: true,
                ..StoreFacts::unavailable(&Unreadable::new(
                    format!("database {} does not exist", path.display()),
                    "check --database: it must name the worker's sqlite file (the worker \
                     creates it at its first start; diag never does)",
                ))
            };
        }
        Err(error) => {
            return StoreFacts::unavailable(&Unreadable::new(
                format!("database {} cannot be read: {error}", path.display()),
                "check --database and its permissions: run diag as the worker's user",
            ));
        }
    }
    let options = StoreOptions {
        busy_timeout: DATABASE_BUSY_TIMEOUT,
        reader_count: 1,
        // One count: SQL is faster than copying every valid deal into memory.
        count_in_memory: false,
        ..StoreOptions::default()
    };
    let readers = match Readers::open(path, &options) {
        Ok(readers) => readers,
        Err(error) => return StoreFacts::unavailable(&store_unreadable(&error, path)),
    };
    let now = UnixSeconds(now_ms.div_euclid(1000));
    let unreadable = |error: StoreError| store_unreadable(&error, path);
    readers.with(|reader| StoreFacts {
        state: read_state(&reader, path),
        backlog: reader.backlog_depth().map_err(unreadable),
        ages: reader.age_buckets(now).map_err(unreadable),
        funnel: read_funnel(&reader, now).map_err(unreadable),
        errors: reader.errors_last_24h(now).map_err(unreadable),
        database: read_database_facts(&reader, path).map_err(unreadable),
        watermark: reader
            .stored_watermark()
            .map(|stored| {
                stored.map(|(minute, updated_at)| WatermarkFacts {
                    watermark_ms: keepa_minute_to_unix_ms(minute),
                    updated_at_ms: updated_at.0.saturating_mul(1000),
                })
            })
            .map_err(unreadable),
        fences: reader.fences().map_err(unreadable),
        file_missing: false,
    })
}

fn keepa_minute_to_unix_ms(minute: KeepaMinute) -> i64 {
    minute.to_unix_seconds().0.saturating_mul(1000)
}

fn read_funnel(reader: &Reader<'_>, now: UnixSeconds) -> Result<Funnel, StoreError> {
    Ok(Funnel {
        stored: reader.stored_deal_count()?,
        visible: reader.count_deals(&DealFilter::default())?,
        quarantined: reader.quarantined_count()?,
        rejected_last_24h: reader.rejections_last_24h(now)?,
    })
}

fn read_database_facts(reader: &Reader<'_>, path: &Path) -> Result<DatabaseFacts, StoreError> {
    let integrity = reader.integrity_check()?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let size_bytes = [path.as_os_str(), wal.as_os_str()]
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|metadata| metadata.len())
        .sum();
    Ok(DatabaseFacts {
        integrity,
        size_bytes,
    })
}

fn read_state(reader: &Reader<'_>, path: &Path) -> Result<StoredState, Unreadable> {
    let entries = reader
        .all_state()
        .map_err(|error| store_unreadable(&error, path))?;
    let mut state = StoredState {
        quota: None,
        heartbeats: Ok(Vec::new()),
        pause: Ok(None),
        incidents: Ok(Vec::new()),
    };
    let mut heartbeats = Vec::new();
    let mut heartbeat_errors = Vec::new();
    for entry in entries {
        let corrupt = |error: serde_json::Error| {
            Unreadable::new(
                format!(
                    "state key {} holds a value that cannot be read: {error}",
                    entry.key
                ),
                format!(
                    "the worker rewrites its heartbeats at the next report; to remove the state \
                     entries kept for diag, run `cargo run -p flush -- all --yes --database {}`",
                    path.display()
                ),
            )
        };
        if entry.key == QUOTA_STATE_KEY {
            // An unreadable quota record is as good as none: the probe may replace it.
            state.quota = serde_json::from_str(&entry.value).ok();
        } else if entry.key == PAUSE_STATE_KEY {
            state.pause = serde_json::from_str(&entry.value)
                .map(Some)
                .map_err(corrupt);
        } else if entry.key == INCIDENTS_STATE_KEY {
            state.incidents = serde_json::from_str(&entry.value).map_err(corrupt);
        } else if entry.key.starts_with(HEARTBEAT_STATE_PREFIX) {
            match serde_json::from_str::<Heartbeat>(&entry.value) {
                Ok(heartbeat) => heartbeats.push(heartbeat),
                Err(error) => heartbeat_errors.push(corrupt(error)),
            }
        }
    }
    state.heartbeats = match heartbeat_errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(heartbeats),
    };
    Ok(state)
}

// ---- Redis ---------------------------------------------------------------------------------

struct FleetState {
    now_ms: i64,
    heartbeats: Vec<Heartbeat>,
    leases: Vec<LeaseObservation>,
    call_rates: Vec<(String, f64)>,
    incidents: Vec<Incident>,
    pause: Option<PauseFlag>,
    /// The leases whose fencing counter Redis holds.
    fencing_counters: Vec<String>,
}

/// A dead or unusable Redis as an [`Unreadable`] source.
fn redis_unreadable(reason: String, endpoint: &str) -> Unreadable {
    Unreadable::new(
        reason,
        format!(
            "start redis at {endpoint}, or fix --redis-url (KEEPA_DEALS_REDIS_URL); then run `{}` \
             again",
            commands::DIAG
        ),
    )
}

async fn bounded<T, E: fmt::Display>(
    what: &str,
    endpoint: &str,
    operation: impl Future<Output = Result<T, E>>,
) -> Result<T, Unreadable> {
    let reason = match tokio::time::timeout(REDIS_TIMEOUT, operation).await {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(error)) => format!("{what}: {error}"),
        Err(_) => format!(
            "{what}: redis at {endpoint} did not answer within {} s",
            REDIS_TIMEOUT.as_secs()
        ),
    };
    Err(redis_unreadable(reason, endpoint))
}

async fn read_fleet(redis: &RedisSource) -> Result<FleetState, Unreadable> {
    let endpoint = redis.endpoint();
    let fleet = Fleet::connect(&redis.url, FleetConfig::with_prefix(&redis.key_prefix))
        .map_err(|error| redis_unreadable(error.to_string(), endpoint))?;
    // The first operation tells a dead Redis; the others then are not attempted.
    let now_ms = bounded("reading the fleet clock", endpoint, fleet.now_ms()).await?;
    let heartbeats = bounded("reading heartbeats", endpoint, fleet.heartbeats()).await?;
    let keys = bounded("listing fleet keys", endpoint, fleet.list_keys()).await?;
    let mut leases = Vec::new();
    let mut fencing_counters = Vec::new();
    for key in &keys {
        let name = match key.kind() {
            KeyKind::Lease { name } => name,
            KeyKind::LeaseFencing { name } => {
                fencing_counters.push(name.clone());
                continue;
            }
            _ => continue,
        };
        let inspected = bounded("inspecting a lease", endpoint, fleet.inspect(name)).await?;
        if let Some(info) = inspected {
            leases.push(LeaseObservation {
                name: info.name.clone(),
                holder: info.holder_instance.to_string(),
                fencing: info.fencing,
                expires_at_ms: info.expires_at_ms,
                holder_is_local_and_dead: info.holder_instance.is_local_and_dead(),
            });
        }
    }
    let call_rates = bounded(
        "reading call rates",
        endpoint,
        fleet.call_rates(CALL_RATE_WINDOW_MINUTES),
    )
    .await?
    .into_iter()
    .map(|rate| (rate.client, rate.calls_per_minute))
    .collect();
    let incidents = bounded(
        "reading incidents",
        endpoint,
        fleet.incidents(INCIDENTS_READ),
    )
    .await?;
    let pause = bounded("reading the pause flag", endpoint, fleet.pause()).await?;
    Ok(FleetState {
        now_ms,
        heartbeats,
        leases,
        call_rates,
        incidents,
        pause,
        fencing_counters,
    })
}

async fn read_redis_quota(
    redis: &RedisSource,
    fleet_now_ms: i64,
) -> Result<Option<QuotaRecord>, Unreadable> {
    let config = RedisConfig {
        key_prefix: redis.key_prefix.clone(),
        endpoint: Some(redis.endpoint().to_owned()),
        ..RedisConfig::default()
    };
    let bucket = Bucket::redis_from_url(&redis.url, config)
        .map_err(|error| redis_unreadable(error.to_string(), redis.endpoint()))?;
    let snapshot = bounded("reading the bucket", redis.endpoint(), bucket.snapshot()).await?;
    if !snapshot.synced {
        return Ok(None);
    }
    Ok(Some(QuotaRecord {
        tokens_left: snapshot.balance.whole_floor(),
        refill_rate: snapshot.refill_rate,
        refill_in_ms: snapshot.next_refill_ms.saturating_sub(fleet_now_ms).max(0),
        observed_at_ms: fleet_now_ms,
        foreign_consumption: snapshot.counters.foreign_consumption().whole_floor(),
    }))
}
