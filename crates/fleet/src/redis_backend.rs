//! The fleet tier's backend: fleet state in Redis, under the configured prefix.
//!
//! Leases are Lua scripts (`lua/`) so that compare-and-set and the expiry check against the clock
//! run atomically on the server; `redis::Script` reloads them after a `SCRIPT FLUSH` or a restart
//! (NOSCRIPT). Everything else is one command or a `MULTI` pipeline. Time is the server's `TIME`
//! unless a clock was injected. Enumeration uses `SCAN MATCH`, never `KEYS`, and deletion only
//! ever names keys that `SCAN` returned under the fleet's namespace.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use deadpool_redis::redis::{self, RedisError};
use deadpool_redis::{Pool, PoolError};
use token_bucket::clock::Clock;

use crate::backend::{IDLE_STATE_BACKSTOP_MS, INCIDENTS_KEPT, RawLease};
use crate::error::{Error, Result};
use crate::state::{Heartbeat, Incident, PauseFlag};

static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(concat!(
        include_str!("lua/now.lua"),
        include_str!("lua/lease_acquire.lua")
    ))
});
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(concat!(
        include_str!("lua/now.lua"),
        include_str!("lua/lease_renew.lua")
    ))
});
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(concat!(
        include_str!("lua/now.lua"),
        include_str!("lua/lease_release.lua")
    ))
});

/// `SET fencing max(current, ARGV[1])`, atomically.
static RAISE_FENCING: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local current = tonumber(redis.call('GET', KEYS[1]) or '0') \
         local floor = tonumber(ARGV[1]) \
         if current < floor then redis.call('SET', KEYS[1], ARGV[1]) current = floor end \
         return current",
    )
});

pub(crate) struct RedisBackend {
    pool: Pool,
    endpoint: String,
    clock: Option<Arc<dyn Clock>>,
    /// A real-time runtime to run Redis IO on (see `FleetConfig::io_runtime`).
    io_runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisBackend")
            .field("endpoint", &self.endpoint)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    pub(crate) fn new(
        pool: Pool,
        endpoint: String,
        clock: Option<Arc<dyn Clock>>,
        io_runtime: Option<tokio::runtime::Handle>,
    ) -> RedisBackend {
        RedisBackend {
            pool,
            endpoint,
            clock,
            io_runtime,
        }
    }

    /// Runs `work` (Redis IO): here, or on the real-time runtime through `spawn_blocking`,
    /// which holds a paused tokio clock still while the reply is in flight.
    async fn on_io<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T> {
        match &self.io_runtime {
            None => Ok(work.await),
            Some(handle) => {
                let handle = handle.clone();
                tokio::task::spawn_blocking(move || handle.block_on(work))
                    .await
                    .map_err(|error| Error::RedisUnavailable {
                        endpoint: self.endpoint.clone(),
                        source: Box::new(error),
                    })
            }
        }
    }

    /// Sends `command` on a pooled connection.
    async fn command<T: redis::FromRedisValue + Send + 'static>(
        &self,
        command: redis::Cmd,
    ) -> Result<T> {
        let mut connection = self.connection().await?;
        self.on_io(async move { command.query_async(&mut connection).await })
            .await?
            .map_err(|error| self.redis_error(error))
    }

    /// Runs a lease script invocation on a pooled connection.
    async fn script<T: redis::FromRedisValue + Send + 'static>(
        &self,
        invocation: redis::ScriptInvocation<'static>,
    ) -> Result<T> {
        let mut connection = self.connection().await?;
        self.on_io(async move { invocation.invoke_async(&mut connection).await })
            .await?
            .map_err(|error| self.redis_error(error))
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection> {
        let pool = self.pool.clone();
        self.on_io(async move { pool.get().await })
            .await?
            .map_err(|error| match error {
                PoolError::Backend(error) => self.redis_error(error),
                other => Error::RedisUnavailable {
                    endpoint: self.endpoint.clone(),
                    source: Box::new(other),
                },
            })
    }

    fn redis_error(&self, error: RedisError) -> Error {
        let endpoint = self.endpoint.clone();
        if error.is_io_error()
            || error.is_connection_refusal()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_unrecoverable_error()
        {
            Error::RedisUnavailable {
                endpoint,
                source: Box::new(error),
            }
        } else {
            Error::RedisCommand {
                endpoint,
                source: Box::new(error),
            }
        }
    }

    async fn query<T: redis::FromRedisValue + Send + 'static>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T> {
        self.command(command.clone()).await
    }

    async fn query_pipeline<T: redis::FromRedisValue + Send + 'static>(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<T> {
        let mut connection = self.connection().await?;
        let pipeline = pipeline.clone();
        self.on_io(async move { pipeline.query_async(&mut connection).await })
            .await?
            .map_err(|error| self.redis_error(error))
    }

    /// The script's ARGV[1]: the injected clock's reading, or empty for the server's TIME.
    fn script_now(&self) -> String {
        self.clock
            .as_ref()
            .map_or_else(String::new, |clock| clock.now_ms().to_string())
    }

    pub(crate) async fn now_ms(&self) -> Result<i64> {
        if let Some(clock) = &self.clock {
            return Ok(clock.now_ms());
        }
        let (seconds, microseconds): (i64, i64) = self.query(&redis::cmd("TIME")).await?;
        Ok(seconds * 1_000 + microseconds / 1_000)
    }

    pub(crate) async fn acquire(
        &self,
        lease_key: &str,
        fencing_key: &str,
        ttl_ms: i64,
        token: &str,
        instance: &str,
        backstop_ms: i64,
    ) -> Result<Option<(u64, i64)>> {
        let mut invocation = ACQUIRE.key(lease_key);
        invocation
            .key(fencing_key)
            .arg(self.script_now())
            .arg(ttl_ms)
            .arg(token)
            .arg(instance)
            .arg(backstop_ms);
        let reply: Vec<i64> = self.script(invocation).await?;
        match reply.as_slice() {
            [0] => Ok(None),
            [1, fencing, expires_at_ms] => {
                Ok(Some((u64::try_from(*fencing).unwrap_or(0), *expires_at_ms)))
            }
            other => Err(self.unexpected(lease_key, other)),
        }
    }

    pub(crate) async fn raise_fencing(&self, fencing_key: &str, at_least: u64) -> Result<u64> {
        let mut invocation = RAISE_FENCING.key(fencing_key);
        invocation.arg(at_least.to_string());
        let raised: i64 = self.script(invocation).await?;
        Ok(u64::try_from(raised).unwrap_or(0))
    }

    pub(crate) async fn renew(
        &self,
        lease_key: &str,
        token: &str,
        ttl_ms: i64,
        backstop_ms: i64,
    ) -> Result<Option<i64>> {
        let mut invocation = RENEW.key(lease_key);
        invocation
            .arg(self.script_now())
            .arg(ttl_ms)
            .arg(token)
            .arg(backstop_ms);
        let reply: Vec<i64> = self.script(invocation).await?;
        match reply.as_slice() {
            [0] => Ok(None),
            [1, expires_at_ms] => Ok(Some(*expires_at_ms)),
            other => Err(self.unexpected(lease_key, other)),
        }
    }

    pub(crate) async fn release(&self, lease_key: &str, token: &str) -> Result<bool> {
        // ARGV[1] is a fixed instant: release does not look at time, and "0" spares a TIME call.
        let mut invocation = RELEASE.key(lease_key);
        invocation.arg("0").arg(token);
        let released: i64 = self.script(invocation).await?;
        Ok(released == 1)
    }

    fn unexpected(&self, key: &str, reply: &[i64]) -> Error {
        Error::CorruptState {
            key: key.to_owned(),
            detail: format!("a lease script on {} answered {reply:?}", self.endpoint),
        }
    }

    pub(crate) async fn read_lease(&self, lease_key: &str) -> Result<Option<RawLease>> {
        let fields: BTreeMap<String, String> =
            self.query(redis::cmd("HGETALL").arg(lease_key)).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let corrupt = |detail: &str| Error::CorruptState {
            key: lease_key.to_owned(),
            detail: detail.to_owned(),
        };
        let field = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| corrupt(&format!("the lease has no {name} field")))
        };
        Ok(Some(RawLease {
            token: field("token")?.clone(),
            instance: field("instance")?.clone(),
            fencing: field("fencing")?
                .parse()
                .map_err(|_| corrupt("the fencing number is not an integer"))?,
            expires_at_ms: field("expires_at_ms")?
                .parse()
                .map_err(|_| corrupt("the expiry is not an integer"))?,
        }))
    }

    pub(crate) async fn put_heartbeat(&self, key: &str, heartbeat: &Heartbeat) -> Result<()> {
        let json = to_json(heartbeat);
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .hset(key, &heartbeat.task, json)
            .ignore()
            .pexpire(key, IDLE_STATE_BACKSTOP_MS)
            .ignore();
        self.query_pipeline(&pipeline).await
    }

    pub(crate) async fn remove_heartbeat(&self, key: &str, task: &str) -> Result<()> {
        self.query(redis::cmd("HDEL").arg(key).arg(task)).await
    }

    pub(crate) async fn heartbeats(&self, key: &str) -> Result<Vec<Heartbeat>> {
        let fields: BTreeMap<String, String> = self.query(redis::cmd("HGETALL").arg(key)).await?;
        fields.values().map(|json| from_json(key, json)).collect()
    }

    pub(crate) async fn set_pause(&self, key: &str, flag: &PauseFlag) -> Result<()> {
        self.query(redis::cmd("SET").arg(key).arg(to_json(flag)))
            .await
    }

    pub(crate) async fn clear_pause(&self, key: &str) -> Result<()> {
        self.query(redis::cmd("DEL").arg(key)).await
    }

    pub(crate) async fn pause(&self, key: &str) -> Result<Option<PauseFlag>> {
        let json: Option<String> = self.query(redis::cmd("GET").arg(key)).await?;
        json.map(|json| from_json(key, &json)).transpose()
    }

    pub(crate) async fn record_call(&self, key: &str, client: &str, keep_ms: i64) -> Result<()> {
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .hincr(key, client, 1)
            .ignore()
            .pexpire(key, keep_ms)
            .ignore();
        self.query_pipeline(&pipeline).await
    }

    pub(crate) async fn call_counts(&self, keys: &[String]) -> Result<Vec<BTreeMap<String, u64>>> {
        let mut pipeline = redis::pipe();
        for key in keys {
            pipeline.hgetall(key);
        }
        self.query_pipeline(&pipeline).await
    }

    pub(crate) async fn push_incident(&self, key: &str, incident: &Incident) -> Result<()> {
        let last_kept = isize::try_from(INCIDENTS_KEPT).unwrap_or(isize::MAX) - 1;
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .lpush(key, to_json(incident))
            .ignore()
            .ltrim(key, 0, last_kept)
            .ignore()
            .pexpire(key, IDLE_STATE_BACKSTOP_MS)
            .ignore();
        self.query_pipeline(&pipeline).await
    }

    pub(crate) async fn incidents(&self, key: &str, limit: usize) -> Result<Vec<Incident>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let items: Vec<String> = self
            .query(redis::cmd("LRANGE").arg(key).arg(0).arg(last))
            .await?;
        items.iter().map(|json| from_json(key, json)).collect()
    }

    pub(crate) async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1_000);
            let (next, batch): (u64, Vec<String>) = self.command(scan).await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(keys)
    }

    pub(crate) async fn delete(&self, keys: &[&str]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.query(redis::cmd("DEL").arg(keys)).await
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our types are plain structs and enums with string keys: serialising cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(key: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|error| Error::CorruptState {
        key: key.to_owned(),
        detail: error.to_string(),
    })
}
