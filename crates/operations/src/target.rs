//! Where the operators' tools look and write: the [`Target`] deployment (embedded tier: one
//! database and its lock file; fleet tier: Redis under one key prefix, and optionally the
//! database), and the state both tools read — heartbeats, the quota, incidents — in either tier.
//!
//! The embedded tier's state lives in the store's key/value entries named by
//! `diagnostics::records`; the fleet tier's in Redis through the `fleet` and `token-bucket`
//! crates. This module reads and appends; it deletes nothing (flush does).

use std::path::{Path, PathBuf};
use std::time::Duration;

use deal_store::{Readers, StoreOptions, Writer};
use diagnostics::QuotaRecord;
use diagnostics::gather::{ConfigError, RedisSource};
use diagnostics::records::{HEARTBEAT_STATE_PREFIX, INCIDENTS_STATE_KEY, QUOTA_STATE_KEY};
use fleet::{Fleet, FleetConfig, Heartbeat, Incident};
use keepa_model::UnixSeconds;
use token_bucket::{Bucket, RedisConfig};

use crate::error::{Error, Result};

/// How long one Redis operation may take before Redis is reported unreachable.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a database access waits for the worker's write lock.
pub const DATABASE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded tier keeps at most this many incidents, like the fleet's capped list.
pub const INCIDENTS_KEPT: usize = 100;

/// The fleet tier's Redis: a URL (which may hold a password, never shown) and the key prefix,
/// validated as diagnostics validates them (`diagnostics::gather::RedisSource`).
#[derive(Clone, Debug)]
pub struct RedisTarget {
    source: RedisSource,
}

impl RedisTarget {
    /// Validates `url` and `key_prefix` without connecting.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRedisUrl`] (naming the problem, never the URL) or [`Error::EmptyKeyPrefix`].
    pub fn new(url: &str, key_prefix: &str) -> Result<RedisTarget> {
        let source = RedisSource::new(url, key_prefix).map_err(|error| match error {
            ConfigError::EmptyKeyPrefix => Error::EmptyKeyPrefix,
            ConfigError::InvalidRedisUrl(detail) => Error::InvalidRedisUrl(detail),
            other => Error::InvalidRedisUrl(other.to_string()),
        })?;
        Ok(RedisTarget { source })
    }

    /// `host:port/db`, without credentials.
    pub fn endpoint(&self) -> &str {
        self.source.endpoint()
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        self.source.key_prefix()
    }

    pub(crate) fn url(&self) -> &str {
        self.source.url()
    }

    pub(crate) fn fleet(&self) -> Result<Fleet> {
        Ok(Fleet::connect(
            self.url(),
            FleetConfig::with_prefix(self.key_prefix()),
        )?)
    }

    pub(crate) fn bucket(&self) -> Result<Bucket> {
        let config = RedisConfig {
            key_prefix: self.key_prefix().to_owned(),
            endpoint: Some(self.endpoint().to_owned()),
            ..RedisConfig::default()
        };
        Ok(Bucket::redis_from_url(self.url(), config)?)
    }

    /// The bucket's state key under this prefix.
    pub fn bucket_state_key(&self) -> String {
        RedisConfig {
            key_prefix: self.key_prefix().to_owned(),
            ..RedisConfig::default()
        }
        .state_key()
    }
}

/// The deployment the tools act on.
#[derive(Clone, Debug)]
pub struct Target {
    /// The worker's database (the embedded tier's state, and its lock file). In the fleet tier
    /// it is optional: only its lock file and any embedded entries it holds are looked at.
    pub database: Option<PathBuf>,
    /// Redis, in the fleet tier.
    pub redis: Option<RedisTarget>,
}

impl Target {
    /// The embedded tier on `database`.
    pub fn embedded(database: impl Into<PathBuf>) -> Target {
        Target {
            database: Some(database.into()),
            redis: None,
        }
    }

    /// The fleet tier, with or without a database to look at too.
    pub fn fleet(redis: RedisTarget, database: Option<PathBuf>) -> Target {
        Target {
            database,
            redis: Some(redis),
        }
    }
}

/// Bounds a Redis operation by [`REDIS_TIMEOUT`].
pub(crate) async fn bounded<T, E: Into<Error>>(
    what: &'static str,
    endpoint: &str,
    operation: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(REDIS_TIMEOUT, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err(Error::RedisTimeout {
            what,
            endpoint: endpoint.to_owned(),
        }),
    }
}

// ---- The embedded tier's store ------------------------------------------------------------

fn store_options() -> StoreOptions {
    StoreOptions {
        busy_timeout: DATABASE_BUSY_TIMEOUT,
        reader_count: 1,
        // The tools read state; they never count the API's deals.
        count_in_memory: false,
        ..StoreOptions::default()
    }
}

/// Refuses a database path that is not an existing file: the tools never create one.
pub(crate) fn existing_database(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(()),
        Ok(_) => Err(Error::DatabaseMissing {
            path: path.to_owned(),
            detail: "it is not a file".to_owned(),
        }),
        Err(error) => Err(Error::DatabaseMissing {
            path: path.to_owned(),
            detail: error.to_string(),
        }),
    }
}

/// Every state entry of the database, by key.
pub(crate) fn read_state_entries(database: &Path) -> Result<Vec<deal_store::StateEntry>> {
    existing_database(database)?;
    let readers = Readers::open(database, &store_options())?;
    Ok(readers.with(|reader| reader.all_state())?)
}

/// Opens the existing database for a write.
pub(crate) fn open_writer(database: &Path) -> Result<Writer> {
    existing_database(database)?;
    Ok(Writer::open(database, store_options())?)
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, value: &str) -> Result<T> {
    serde_json::from_str(value).map_err(|error| Error::CorruptState {
        key: key.to_owned(),
        detail: error.to_string(),
    })
}

/// What the watchdog reads.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchState {
    /// Every task's last report.
    pub heartbeats: Vec<Heartbeat>,
    /// The last quota observation, when one exists.
    pub quota: Option<QuotaRecord>,
    /// Incidents, newest first.
    pub incidents: Vec<Incident>,
    /// Now on the clock the heartbeats were stamped with (Redis `TIME` in the fleet tier).
    pub now_ms: i64,
}

/// Reads heartbeats, the quota and the incidents. `system_now_ms` is used in the embedded
/// tier; the fleet tier's heartbeats are stamped with Redis `TIME`, which is read instead.
///
/// # Errors
///
/// When the database cannot be read (embedded) or Redis cannot be reached (fleet).
pub async fn read_watch_state(target: &Target, system_now_ms: i64) -> Result<WatchState> {
    if let Some(redis) = &target.redis {
        let fleet = redis.fleet()?;
        let endpoint = redis.endpoint();
        let now_ms = bounded("reading the fleet clock", endpoint, fleet.now_ms()).await?;
        let heartbeats = bounded("reading heartbeats", endpoint, fleet.heartbeats()).await?;
        let incidents = bounded(
            "reading incidents",
            endpoint,
            fleet.incidents(INCIDENTS_KEPT),
        )
        .await?;
        let bucket = redis.bucket()?;
        let snapshot = bounded("reading the token bucket", endpoint, bucket.snapshot()).await?;
        let quota = snapshot.synced.then(|| QuotaRecord {
            tokens_left: snapshot.balance.whole_floor(),
            refill_rate: snapshot.refill_rate,
            refill_in_ms: snapshot.next_refill_ms.saturating_sub(now_ms).max(0),
            observed_at_ms: now_ms,
            foreign_consumption: snapshot.counters.foreign_consumption().whole_floor(),
        });
        return Ok(WatchState {
            heartbeats,
            quota,
            incidents,
            now_ms,
        });
    }
    let database = target.database.as_deref().ok_or(Error::NoDatabase)?;
    let mut state = WatchState {
        heartbeats: Vec::new(),
        quota: None,
        incidents: Vec::new(),
        now_ms: system_now_ms,
    };
    for entry in read_state_entries(database)? {
        if entry.key == QUOTA_STATE_KEY {
            // An unreadable quota record is as good as none: it only ever excuses.
            state.quota = serde_json::from_str(&entry.value).ok();
        } else if entry.key == INCIDENTS_STATE_KEY {
            state.incidents = parse(&entry.key, &entry.value)?;
        } else if entry.key.starts_with(HEARTBEAT_STATE_PREFIX) {
            state.heartbeats.push(parse(&entry.key, &entry.value)?);
        }
    }
    state
        .heartbeats
        .sort_by(|left, right| left.task.cmp(&right.task));
    Ok(state)
}

/// Keeps `incident` where diag shows it: the fleet's capped list, or the head of the
/// database's `incidents` entry (capped at [`INCIDENTS_KEPT`]).
///
/// # Errors
///
/// When Redis or the database cannot be written.
pub async fn record_incident(target: &Target, incident: Incident) -> Result<()> {
    if let Some(redis) = &target.redis {
        let fleet = redis.fleet()?;
        return bounded(
            "recording an incident",
            redis.endpoint(),
            fleet.record_incident(incident),
        )
        .await;
    }
    let database = target.database.as_deref().ok_or(Error::NoDatabase)?;
    let mut writer = open_writer(database)?;
    let mut incidents: Vec<Incident> = match writer.reader().state(INCIDENTS_STATE_KEY)? {
        Some(value) => parse(INCIDENTS_STATE_KEY, &value)?,
        None => Vec::new(),
    };
    let now = UnixSeconds(incident.at_ms.div_euclid(1_000));
    incidents.insert(0, incident);
    incidents.truncate(INCIDENTS_KEPT);
    let json = serde_json::to_string(&incidents).map_err(|error| Error::CorruptState {
        key: INCIDENTS_STATE_KEY.to_owned(),
        detail: error.to_string(),
    })?;
    writer.set_state(INCIDENTS_STATE_KEY, &json, now)?;
    Ok(())
}
