//! The [`Fleet`] handle: one API over the in-memory and the Redis backend.
//!
//! This module turns typed requests into key names and backend calls, and backend answers into
//! typed values. It holds no state of its own beyond the backend, the key layout and the
//! instance it speaks for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::IntoConnectionInfo;
use token_bucket::clock::Clock;

use crate::backend::{CALL_COUNTS_KEEP_MINUTES, RawLease, lease_backstop_ms};
use crate::error::{Error, Result};
use crate::instance::InstanceId;
use crate::keys::{KeyDescription, KeyLayout};
use crate::memory::MemoryBackend;
use crate::redis_backend::RedisBackend;
use crate::state::{
    CallRate, CallRateAlert, Heartbeat, Incident, Lease, LeaseInfo, PauseFlag, Progress, token_hint,
};

/// The default key prefix, shared with the token bucket (whose keys are outside `fleet:`).
pub const DEFAULT_KEY_PREFIX: &str = "keepa-deals:";

/// Where the Redis backend takes `now` from.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum FleetClock {
    /// The Redis server's `TIME`: every process of the fleet agrees on one clock.
    #[default]
    ServerTime,
    /// A clock of the caller's (tests: a `ManualClock`, so leases expire without sleeping).
    Injected(Arc<dyn Clock>),
}

impl FleetClock {
    /// Wraps `clock`.
    pub fn injected(clock: impl Clock) -> FleetClock {
        FleetClock::Injected(Arc::new(clock))
    }
}

/// A Redis endpoint as errors name it: `host:port/db`, never with a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisEndpoint(String);

impl RedisEndpoint {
    /// Reads the endpoint out of a Redis URL, dropping the credentials.
    ///
    /// ```
    /// let endpoint = fleet::RedisEndpoint::from_url("redis://:secret@127.0.0.1:6400/2").unwrap();
    /// assert_eq!(endpoint.as_str(), "127.0.0.1:6400/2");
    /// ```
    pub fn from_url(url: &str) -> Result<RedisEndpoint> {
        let info = parse_redis_url(url)?;
        Ok(RedisEndpoint(format!(
            "{}/{}",
            info.addr(),
            info.redis_settings().db()
        )))
    }

    /// A label for an endpoint known only to the caller (the pool was built elsewhere).
    pub fn named(label: &str) -> RedisEndpoint {
        RedisEndpoint(label.to_owned())
    }

    /// The endpoint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RedisEndpoint {
    fn default() -> RedisEndpoint {
        RedisEndpoint("redis (endpoint not given)".to_owned())
    }
}

/// How the Redis backend is set up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FleetConfig {
    /// Every key starts with this (default [`DEFAULT_KEY_PREFIX`]); this crate's keys then
    /// continue with `fleet:`.
    pub key_prefix: String,
    /// Where `now` comes from (default: the server's `TIME`).
    pub clock: FleetClock,
    /// How errors name the server; [`Fleet::connect`] fills it from the URL.
    pub endpoint: RedisEndpoint,
    /// A real-time runtime to run every Redis call on, through `spawn_blocking`, for callers
    /// under tokio's paused clock (simulations), which would otherwise jump to their next timer
    /// while a reply is in flight. `None` (the default): on the caller's runtime.
    pub io_runtime: Option<tokio::runtime::Handle>,
}

impl Default for FleetConfig {
    fn default() -> FleetConfig {
        FleetConfig {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            clock: FleetClock::ServerTime,
            endpoint: RedisEndpoint::default(),
            io_runtime: None,
        }
    }
}

impl FleetConfig {
    /// The default configuration under another prefix.
    pub fn with_prefix(key_prefix: &str) -> FleetConfig {
        FleetConfig {
            key_prefix: key_prefix.to_owned(),
            ..FleetConfig::default()
        }
    }

    /// This configuration with `clock` instead.
    #[must_use]
    pub fn clock(self, clock: FleetClock) -> FleetConfig {
        FleetConfig { clock, ..self }
    }
}

#[derive(Clone, Debug)]
enum Backend {
    Memory(Arc<MemoryBackend>),
    Redis(Arc<RedisBackend>),
}

/// Fleet state: leases, progress heartbeats, the pause flag, per-client call rates and
/// incidents. Cheap to clone; clones share the backend.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use token_bucket::clock::ManualClock;
///
/// let clock = ManualClock::at(1_000_000);
/// let fleet = fleet::Fleet::in_memory(clock.clone());
/// let lease = fleet.acquire_lease("discovery", Duration::from_secs(30)).await?.unwrap();
/// assert!(fleet.acquire_lease("discovery", Duration::from_secs(30)).await?.is_none());
/// clock.advance_ms(30_000);
/// let successor = fleet.acquire_lease("discovery", Duration::from_secs(30)).await?.unwrap();
/// assert!(successor.fencing() > lease.fencing());
/// assert!(!fleet.renew(&lease).await?);
/// # Ok::<(), fleet::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Fleet {
    backend: Backend,
    layout: Arc<KeyLayout>,
    instance: InstanceId,
}

impl Fleet {
    /// The embedded tier: state in this process, time from `clock`, key names under
    /// [`DEFAULT_KEY_PREFIX`].
    pub fn in_memory(clock: impl Clock) -> Fleet {
        Fleet {
            backend: Backend::Memory(Arc::new(MemoryBackend::new(Arc::new(clock)))),
            layout: Arc::new(KeyLayout::new(DEFAULT_KEY_PREFIX)),
            instance: InstanceId::current().clone(),
        }
    }

    /// The fleet tier over a pool the caller built. Connects lazily: a dead Redis shows up as
    /// [`Error::RedisUnavailable`] on the first operation.
    pub fn redis(pool: deadpool_redis::Pool, config: FleetConfig) -> Result<Fleet> {
        if config.key_prefix.is_empty() {
            return Err(Error::EmptyKeyPrefix);
        }
        let clock = match config.clock {
            FleetClock::ServerTime => None,
            FleetClock::Injected(clock) => Some(clock),
        };
        Ok(Fleet {
            backend: Backend::Redis(Arc::new(RedisBackend::new(
                pool,
                config.endpoint.0,
                clock,
                config.io_runtime,
            ))),
            layout: Arc::new(KeyLayout::new(&config.key_prefix)),
            instance: InstanceId::current().clone(),
        })
    }

    /// The fleet tier from a Redis URL: builds a small pool with 5 s connect and wait timeouts
    /// and names the endpoint (without credentials) in errors. `config.endpoint` is replaced.
    /// The pool connects lazily, on the first operation, inside the caller's tokio runtime.
    pub fn connect(redis_url: &str, mut config: FleetConfig) -> Result<Fleet> {
        config.endpoint = RedisEndpoint::from_url(redis_url)?;
        let pool = token_bucket::redis::connection_pool(redis_url, 4, Some(Duration::from_secs(5)))
            .map_err(|detail| Error::InvalidRedisUrl { detail })?;
        Fleet::redis(pool, config)
    }

    /// A handle on the same state that speaks for `instance` (tests and tools acting for several
    /// simulated processes).
    #[must_use]
    pub fn with_instance(&self, instance: InstanceId) -> Fleet {
        Fleet {
            instance,
            ..self.clone()
        }
    }

    /// The instance this handle writes into leases.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        self.layout.prefix()
    }

    /// Whether state lives in Redis (fleet tier) rather than in this process.
    pub fn is_redis(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// Now on the fleet's clock: the server's `TIME`, or the injected clock.
    pub async fn now_ms(&self) -> Result<i64> {
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.now_ms()),
            Backend::Redis(redis) => redis.now_ms().await,
        }
    }

    // ---- Leases -------------------------------------------------------------------------

    /// Takes the lease `name` for `ttl` if nobody holds it or its holder let it expire.
    /// `Ok(None)`: someone else holds it. Each successful acquisition gets a fencing number
    /// above every earlier one for this name, even across expiry and deletion of the lease.
    pub async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        if ttl_ms < 1 {
            return Err(Error::InvalidLeaseTtl {
                name: name.to_owned(),
            });
        }
        let token = crate::random::random_hex(16);
        let instance = self.instance.to_string();
        let lease_key = self.layout.lease(name);
        let fencing_key = self.layout.fencing(name);
        let taken = match &self.backend {
            Backend::Memory(memory) => {
                memory.acquire(&lease_key, &fencing_key, ttl_ms, &token, &instance)
            }
            Backend::Redis(redis) => {
                redis
                    .acquire(
                        &lease_key,
                        &fencing_key,
                        ttl_ms,
                        &token,
                        &instance,
                        lease_backstop_ms(ttl_ms),
                    )
                    .await?
            }
        };
        Ok(taken.map(|(fencing, expires_at_ms)| Lease {
            name: name.to_owned(),
            token,
            fencing,
            ttl_ms,
            expires_at_ms,
            holder: self.instance.clone(),
        }))
    }

    /// Extends `lease` by its TTL from now. `Ok(false)`: the lease was lost (expired, taken
    /// over, or deleted); stop the work it guards.
    pub async fn renew(&self, lease: &Lease) -> Result<bool> {
        let lease_key = self.layout.lease(&lease.name);
        let renewed = match &self.backend {
            Backend::Memory(memory) => memory.renew(&lease_key, &lease.token, lease.ttl_ms),
            Backend::Redis(redis) => {
                redis
                    .renew(
                        &lease_key,
                        &lease.token,
                        lease.ttl_ms,
                        lease_backstop_ms(lease.ttl_ms),
                    )
                    .await?
            }
        };
        Ok(renewed.is_some())
    }

    /// Gives `lease` up, only if it is still this owner's (compare-and-delete). `Ok(false)`: it
    /// was no longer held by this owner, and nothing was changed.
    pub async fn release(&self, lease: &Lease) -> Result<bool> {
        let lease_key = self.layout.lease(&lease.name);
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.release(&lease_key, &lease.token)),
            Backend::Redis(redis) => redis.release(&lease_key, &lease.token).await,
        }
    }

    /// Raises the fencing counter of lease `name` to at least `at_least` and answers its value,
    /// so the next acquisition gets a higher number. For a holder's store that remembers a
    /// higher number than the counter (the fleet state was wiped while the store was not):
    /// without this, every write the lease guards would be refused as stale until the counter
    /// caught up.
    pub async fn raise_fencing(&self, name: &str, at_least: u64) -> Result<u64> {
        let fencing_key = self.layout.fencing(name);
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.raise_fencing(&fencing_key, at_least)),
            Backend::Redis(redis) => redis.raise_fencing(&fencing_key, at_least).await,
        }
    }

    /// Who holds the lease `name`, if any record of it exists (an expired lease not yet taken
    /// over is returned; compare [`LeaseInfo::expires_at_ms`] with [`Fleet::now_ms`]).
    pub async fn inspect(&self, name: &str) -> Result<Option<LeaseInfo>> {
        let lease_key = self.layout.lease(name);
        let raw = match &self.backend {
            Backend::Memory(memory) => memory.read_lease(&lease_key),
            Backend::Redis(redis) => redis.read_lease(&lease_key).await?,
        };
        raw.map(|raw| lease_info(name, &lease_key, raw)).transpose()
    }

    // ---- Heartbeats ---------------------------------------------------------------------

    /// Records `task`'s progress report, stamped with the fleet's clock. One entry per task
    /// name: a task that runs in several workers should carry the worker in its name.
    pub async fn report_progress(&self, task: &str, progress: Progress) -> Result<()> {
        let key = self.layout.heartbeats();
        let reported_at_ms = self.now_ms().await?;
        let heartbeat = Heartbeat {
            task: task.to_owned(),
            progress,
            reported_at_ms,
        };
        match &self.backend {
            Backend::Memory(memory) => {
                memory.put_heartbeat(&key, heartbeat);
                Ok(())
            }
            Backend::Redis(redis) => redis.put_heartbeat(&key, &heartbeat).await,
        }
    }

    /// Removes `task`'s heartbeat (a task that no longer exists).
    pub async fn forget_task(&self, task: &str) -> Result<()> {
        let key = self.layout.heartbeats();
        match &self.backend {
            Backend::Memory(memory) => {
                memory.remove_heartbeat(&key, task);
                Ok(())
            }
            Backend::Redis(redis) => redis.remove_heartbeat(&key, task).await,
        }
    }

    /// Every task's last report, sorted by task name.
    pub async fn heartbeats(&self) -> Result<Vec<Heartbeat>> {
        let key = self.layout.heartbeats();
        let mut heartbeats = match &self.backend {
            Backend::Memory(memory) => memory.heartbeats(&key),
            Backend::Redis(redis) => redis.heartbeats(&key).await?,
        };
        heartbeats.sort_by(|left, right| left.task.cmp(&right.task));
        Ok(heartbeats)
    }

    // ---- Flags --------------------------------------------------------------------------

    /// Sets the operator's pause flag (replacing an earlier one). Nothing in this crate sets it.
    pub async fn set_pause(&self, reason: &str, by: &str) -> Result<PauseFlag> {
        let key = self.layout.pause();
        let flag = PauseFlag {
            reason: reason.to_owned(),
            by: by.to_owned(),
            at_ms: self.now_ms().await?,
        };
        match &self.backend {
            Backend::Memory(memory) => memory.set_pause(&key, flag.clone()),
            Backend::Redis(redis) => redis.set_pause(&key, &flag).await?,
        }
        Ok(flag)
    }

    /// Clears the pause flag (a no-op when it is not set).
    pub async fn clear_pause(&self) -> Result<()> {
        let key = self.layout.pause();
        match &self.backend {
            Backend::Memory(memory) => {
                memory.clear_pause(&key);
                Ok(())
            }
            Backend::Redis(redis) => redis.clear_pause(&key).await,
        }
    }

    /// The pause flag, when set.
    pub async fn pause(&self) -> Result<Option<PauseFlag>> {
        let key = self.layout.pause();
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.pause(&key)),
            Backend::Redis(redis) => redis.pause(&key).await,
        }
    }

    // ---- Call rates ---------------------------------------------------------------------

    /// Counts one Keepa call by `client` in the current minute. Counts are kept two hours.
    pub async fn record_call(&self, client: &str) -> Result<()> {
        let minute = self.now_ms().await?.div_euclid(60_000);
        let key = self.layout.calls(minute);
        match &self.backend {
            Backend::Memory(memory) => {
                memory.record_call(&key, minute, client);
                Ok(())
            }
            Backend::Redis(redis) => {
                redis
                    .record_call(&key, client, CALL_COUNTS_KEEP_MINUTES * 60_000)
                    .await
            }
        }
    }

    /// Each client's calls per minute over the last `window_minutes` minutes (the current,
    /// partial minute included; the window is clamped to 1..=120), sorted by client.
    pub async fn call_rates(&self, window_minutes: u32) -> Result<Vec<CallRate>> {
        let window = i64::from(window_minutes).clamp(1, CALL_COUNTS_KEEP_MINUTES);
        let current_minute = self.now_ms().await?.div_euclid(60_000);
        let keys: Vec<String> = (current_minute - window + 1..=current_minute)
            .map(|minute| self.layout.calls(minute))
            .collect();
        let per_minute = match &self.backend {
            Backend::Memory(memory) => memory.call_counts(&keys),
            Backend::Redis(redis) => redis.call_counts(&keys).await?,
        };
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for counts in per_minute {
            for (client, count) in counts {
                *totals.entry(client).or_insert(0) += count;
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "call counts are far below 2^52")]
        let rates = totals
            .into_iter()
            .map(|(client, total)| CallRate {
                client,
                calls_per_minute: total as f64 / window as f64,
            })
            .collect();
        Ok(rates)
    }

    /// Clients calling faster than `expected` says (calls per minute, over the last
    /// `window_minutes`), and clients not in `expected` at all, sorted by client.
    pub async fn call_rate_alerts(
        &self,
        window_minutes: u32,
        expected: &HashMap<String, f64>,
    ) -> Result<Vec<CallRateAlert>> {
        let rates = self.call_rates(window_minutes).await?;
        Ok(rates
            .into_iter()
            .filter_map(|rate| {
                let expected_per_minute = expected.get(&rate.client).copied();
                let above = expected_per_minute.is_none_or(|limit| rate.calls_per_minute > limit);
                above.then_some(CallRateAlert {
                    client: rate.client,
                    observed_per_minute: rate.calls_per_minute,
                    expected_per_minute,
                })
            })
            .collect())
    }

    // ---- Incidents ----------------------------------------------------------------------

    /// Keeps `incident` at the head of the capped list (the newest 100 are kept).
    pub async fn record_incident(&self, incident: Incident) -> Result<()> {
        let key = self.layout.incidents();
        match &self.backend {
            Backend::Memory(memory) => {
                memory.push_incident(&key, incident);
                Ok(())
            }
            Backend::Redis(redis) => redis.push_incident(&key, &incident).await,
        }
    }

    /// The newest `limit` incidents, newest first.
    pub async fn incidents(&self, limit: usize) -> Result<Vec<Incident>> {
        let key = self.layout.incidents();
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.incidents(&key, limit)),
            Backend::Redis(redis) => redis.incidents(&key, limit).await,
        }
    }

    // ---- Enumeration and deletion (diag, flush) -----------------------------------------

    /// Every key this crate owns under the prefix, described and sorted. Redis: `SCAN MATCH
    /// <prefix>fleet:*` (never `KEYS`); keys outside that namespace are never returned.
    pub async fn list_keys(&self) -> Result<Vec<KeyDescription>> {
        let keys = match &self.backend {
            Backend::Memory(memory) => memory.keys_starting_with(&self.layout.owned_start()),
            Backend::Redis(redis) => redis.scan(&self.layout.scan_pattern()).await?,
        };
        let mut descriptions: Vec<KeyDescription> = keys
            .iter()
            .filter_map(|key| self.layout.describe(key))
            .collect();
        // SCAN may return a key twice.
        descriptions.sort();
        descriptions.dedup();
        Ok(descriptions)
    }

    /// Deletes the described keys and returns how many existed. Every key must be one this
    /// fleet owns (as [`Fleet::list_keys`] describes them); otherwise nothing is deleted.
    pub async fn delete(&self, keys: &[KeyDescription]) -> Result<u64> {
        for description in keys {
            if self.layout.describe(description.key()).as_ref() != Some(description) {
                return Err(Error::KeyOutsidePrefix {
                    key: description.key().to_owned(),
                    prefix: self.layout.owned_start(),
                });
            }
        }
        let names: Vec<&str> = keys.iter().map(KeyDescription::key).collect();
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.delete(&names)),
            Backend::Redis(redis) => redis.delete(&names).await,
        }
    }
}

/// Parses a Redis URL; the error names the kind of problem, never the URL (it may hold a password).
fn parse_redis_url(url: &str) -> Result<deadpool_redis::redis::ConnectionInfo> {
    url.into_connection_info()
        .map_err(|error| Error::InvalidRedisUrl {
            detail: format!("it did not parse ({:?})", error.kind()),
        })
}

fn lease_info(name: &str, lease_key: &str, raw: RawLease) -> Result<LeaseInfo> {
    let holder_instance = raw.instance.parse().map_err(|error| Error::CorruptState {
        key: lease_key.to_owned(),
        detail: format!("{error}"),
    })?;
    Ok(LeaseInfo {
        name: name.to_owned(),
        owner_token_hint: token_hint(&raw.token).to_owned(),
        holder_instance,
        fencing: raw.fencing,
        expires_at_ms: raw.expires_at_ms,
    })
}
