//! The Redis backend: the bucket's state shared by every process of a fleet.
//!
//! Each operation of [`Core`](crate::core::Core) is one Lua script (`src/redis/*.lua`, each the
//! shared prelude `common.lua` followed by the operation's body) that loads the whole state from
//! one key, applies the operation exactly as the core would, writes it back and answers, in one
//! round trip and atomically with respect to every other client. The scripts are invoked with
//! `EVALSHA`; when Redis has forgotten them (`NOSCRIPT`, after a restart or `SCRIPT FLUSH`) they
//! are loaded again and the call retried. `now` is the Redis server's `TIME` unless a clock is
//! injected, so that every process agrees on one time.
//!
//! Every key lives under the configured prefix: the state is `{prefix}bucket:state`, one string
//! of 64-bit integers behind the tag `TBv3` (layout in `common.lua`), packed and unpacked in C
//! by Redis's `struct` library, so a script spends its time on the bucket's rules rather than on
//! encoding. Lua numbers are doubles, exact below 2^53, which every amount and identifier stays
//! under. States written by earlier versions (`TBv2`, without the waiters' costs, and before
//! that a JSON object of decimal strings) are still read, and replaced by the new layout on
//! their next write.
//!
//! This module does no waiting and keeps no state of its own beyond one multiplexed
//! connection: waiting is the async layer's job, and a dead Redis is an error for the caller
//! ([`Error::RedisUnavailable`]), never a fallback to a private bucket.

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};

use deadpool_redis::redis::{self, RedisError, Script, aio::MultiplexedConnection};

use crate::clock::Clock;
use crate::core::{
    AcquireRequest, Counters, Decision, Envelope, Policy, ReconcileOutcome, RefuseReason,
    ReservationId, SettleOutcome, Snapshot, WaiterId,
};
use crate::error::Error;
use crate::tokens::{Lane, Tokens};

/// The key prefix used when none is configured.
pub const DEFAULT_KEY_PREFIX: &str = "keepa-deals:";

/// Where the Redis backend's `now` comes from.
#[derive(Clone, Debug, Default)]
pub enum RedisClock {
    /// The Redis server's `TIME`, read inside each script: every process of the fleet agrees on
    /// one clock, whatever their own clocks say. The default.
    #[default]
    Server,
    /// A clock of this process, sent with each call: for tests and simulations (a
    /// [`ManualClock`](crate::clock::ManualClock), or a [`TokioClock`](crate::clock::TokioClock)
    /// under paused time). Every client of one prefix must then share the same clock.
    Injected(Arc<dyn Clock>),
}

/// Where the backend's Redis calls run.
#[derive(Clone, Debug, Default)]
pub enum RedisIo {
    /// On the caller's runtime. The default.
    #[default]
    Caller,
    /// On another runtime, on real time, reached through `tokio::task::spawn_blocking`.
    ///
    /// For callers under tokio's paused clock (simulations): a paused clock jumps to its next
    /// timer whenever every task is waiting, socket reads included, so simulated time would
    /// run on while a Redis reply is in flight. `spawn_blocking` holds the paused clock still
    /// until the call returns.
    RealTime(tokio::runtime::Handle),
}

/// How a Redis-backed bucket is set up. [`RedisConfig::default`] documents the defaults.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// Every key the bucket writes starts with this. Default `"keepa-deals:"`. Processes that
    /// share a Keepa key share a prefix; nothing outside the prefix is ever touched.
    pub key_prefix: String,
    /// Where `now` comes from. Default [`RedisClock::Server`].
    pub clock: RedisClock,
    /// The rules enforced. Every client of one prefix should use the same policy: each call
    /// applies the policy of the client that makes it.
    pub policy: Policy,
    /// How errors name the Redis server, for example `127.0.0.1:6379`; never a password.
    /// [`Bucket::redis_from_url`](crate::Bucket::redis_from_url) fills it from the URL without
    /// its credentials; `None` (the default) names it "the pool's redis server".
    pub endpoint: Option<String>,
    /// Where the Redis calls run. Default [`RedisIo::Caller`].
    pub io: RedisIo,
}

impl Default for RedisConfig {
    fn default() -> RedisConfig {
        RedisConfig {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            clock: RedisClock::Server,
            policy: Policy::default(),
            endpoint: None,
            io: RedisIo::Caller,
        }
    }
}

impl RedisConfig {
    /// The key holding the bucket's state under this configuration's prefix.
    pub fn state_key(&self) -> String {
        format!("{}bucket:state", self.key_prefix)
    }
}

const COMMON: &str = include_str!("redis/common.lua");
const RESERVATIONS: &str = include_str!("redis/reservations.lua");
const MARGINS: &str = include_str!("redis/margins.lua");
const QUEUES: &str = include_str!("redis/queues.lua");

/// The scripts, one per operation, each the prelude, the helpers the operation uses and the
/// operation's body. A script creates every helper it contains on every call, so each carries
/// only the ones it needs.
struct Scripts {
    acquire: Script,
    settle: Script,
    release: Script,
    cancel: Script,
    reconcile: Script,
    bulk_budget: Script,
    snapshot: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let script = |helpers: &[&str], body: &str| {
        let mut source = String::from(COMMON);
        for helper in helpers {
            source.push('\n');
            source.push_str(helper);
        }
        source.push('\n');
        source.push_str(body);
        Script::new(&source)
    };
    Scripts {
        acquire: script(&[MARGINS, QUEUES], include_str!("redis/acquire.lua")),
        settle: script(&[RESERVATIONS], include_str!("redis/settle.lua")),
        release: script(&[RESERVATIONS], include_str!("redis/release.lua")),
        cancel: script(&[QUEUES], include_str!("redis/cancel.lua")),
        reconcile: script(&[RESERVATIONS], include_str!("redis/reconcile.lua")),
        bulk_budget: script(&[MARGINS], include_str!("redis/bulk_budget.lua")),
        snapshot: script(&[RESERVATIONS, MARGINS], include_str!("redis/snapshot.lua")),
    }
});

/// The bucket's operations as Redis scripts. The async layer calls the same methods on it as
/// on the memory backend.
pub(crate) struct RedisBackend {
    pool: deadpool_redis::Pool,
    /// One multiplexed connection, taken from the pool and shared by every call, so that each
    /// operation is one round trip (the pool would add a `PING` to every checkout). Dropped on
    /// a connection error; the next call takes a fresh one.
    connection: Mutex<Option<MultiplexedConnection>>,
    endpoint: String,
    state_key: String,
    clock: RedisClock,
    policy: Policy,
    io: RedisIo,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("endpoint", &self.endpoint)
            .field("state_key", &self.state_key)
            .field("clock", &self.clock)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    pub(crate) fn new(pool: deadpool_redis::Pool, config: RedisConfig) -> RedisBackend {
        let state_key = config.state_key();
        RedisBackend {
            pool,
            connection: Mutex::new(None),
            endpoint: config
                .endpoint
                .unwrap_or_else(|| "the pool's redis server".to_owned()),
            state_key,
            clock: config.clock,
            policy: config.policy,
            io: config.io,
        }
    }

    /// Runs `work` (Redis IO) where [`RedisIo`] says.
    async fn on_io<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, Error> {
        match &self.io {
            RedisIo::Caller => Ok(work.await),
            RedisIo::RealTime(handle) => {
                let handle = handle.clone();
                tokio::task::spawn_blocking(move || handle.block_on(work))
                    .await
                    .map_err(|error| {
                        self.protocol(format!("the redis call did not finish: {error}"))
                    })
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, Error> {
        if let Some(connection) = self.cached_connection().clone() {
            return Ok(connection);
        }
        let pool = self.pool.clone();
        let pooled =
            self.on_io(async move { pool.get().await })
                .await?
                .map_err(|error| match error {
                    deadpool_redis::PoolError::Backend(error) => self.redis_error(error),
                    other => self.unavailable(Box::new(other)),
                })?;
        let connection = deadpool_redis::Connection::take(pooled);
        *self.cached_connection() = Some(connection.clone());
        Ok(connection)
    }

    fn cached_connection(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        // The guarded value is a handle that is replaced whole, so a poisoned lock holds
        // nothing half-written.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn unavailable(&self, source: crate::error::BoxError) -> Error {
        Error::RedisUnavailable {
            endpoint: self.endpoint.clone(),
            source,
        }
    }

    fn protocol(&self, detail: impl Into<String>) -> Error {
        Error::RedisProtocol {
            endpoint: self.endpoint.clone(),
            detail: detail.into(),
        }
    }

    fn redis_error(&self, error: RedisError) -> Error {
        if is_unavailability(&error) {
            self.unavailable(Box::new(error))
        } else {
            self.protocol(error.to_string())
        }
    }

    /// Runs `script` with the common arguments followed by `arguments`; answers its integers.
    ///
    /// Arguments and replies travel as little-endian 64-bit integers packed into one string
    /// (see `common.lua`): parsing and formatting decimal numbers in Lua cost more than the
    /// bucket's rules.
    async fn run(&self, script: &'static Script, arguments: &[i64]) -> Result<Vec<i64>, Error> {
        let (clock, now) = match &self.clock {
            RedisClock::Server => (1, 0),
            RedisClock::Injected(clock) => (0, clock.now_ms()),
        };
        let common = [
            clock,
            now,
            self.policy.deficit_floor.as_milli(),
            self.policy.urgent_reserve.as_milli(),
            self.policy.reservation_ttl_ms,
            self.policy.max_wait_slice_ms,
            self.policy.waiter_grace_ms,
            self.policy.surprise_factor,
        ];
        let mut packed = Vec::with_capacity(8 * (common.len() + arguments.len()));
        for integer in common.iter().chain(arguments) {
            packed.extend_from_slice(&integer.to_le_bytes());
        }
        let mut invocation = script.key(&self.state_key);
        invocation.arg(packed);
        let mut connection = self.connection().await?;
        let reply = self
            .on_io(async move { invocation.invoke_async::<Vec<u8>>(&mut connection).await })
            .await?;
        match reply {
            Ok(reply) if reply.is_empty() || reply.len() % 8 != 0 => Err(self.protocol(format!(
                "a reply of {} bytes, not packed integers",
                reply.len()
            ))),
            Ok(reply) => Ok(reply
                .chunks_exact(8)
                .map(|bytes| {
                    i64::from_le_bytes(bytes.try_into().expect("chunks of exactly 8 bytes"))
                })
                .collect()),
            Err(error) => {
                if is_unavailability(&error) || error.is_unrecoverable_error() {
                    *self.cached_connection() = None;
                }
                Err(self.redis_error(error))
            }
        }
    }

    /// An optional identifier as two arguments: whether it is there (0/1), and its value.
    fn optional_id(&self, id: Option<u64>) -> Result<[i64; 2], Error> {
        match id {
            Some(id) => Ok([1, self.id_argument(id)?]),
            None => Ok([0, 0]),
        }
    }

    fn field(&self, reply: &[i64], index: usize, what: &str) -> Result<i64, Error> {
        reply
            .get(index)
            .copied()
            .ok_or_else(|| self.protocol(format!("a reply without its {what}: {reply:?}")))
    }

    fn id(&self, reply: &[i64], index: usize, what: &str) -> Result<u64, Error> {
        let value = self.field(reply, index, what)?;
        u64::try_from(value).map_err(|_| self.protocol(format!("a negative {what}: {value}")))
    }

    pub(crate) async fn acquire(&self, request: AcquireRequest) -> Result<(Decision, i64), Error> {
        let lane = match request.lane {
            Lane::Urgent => 1,
            Lane::Bulk => 2,
        };
        let [has_waiter, waiter] = self.optional_id(request.waiter.map(|waiter| waiter.0))?;
        let reply = self
            .run(
                &SCRIPTS.acquire,
                &[request.cost.as_milli(), lane, has_waiter, waiter],
            )
            .await?;
        let now = reply[0];
        let decision = match self.field(&reply, 1, "decision")? {
            0 => Decision::Unsynced,
            1 => Decision::Admit {
                reservation: ReservationId(self.id(&reply, 2, "reservation")?),
            },
            2 => Decision::Wait {
                waiter: WaiterId(self.id(&reply, 2, "waiter")?),
                until_ms: self.field(&reply, 3, "until")?,
            },
            3 => Decision::Refuse(RefuseReason::CostAboveMaximum {
                cost: Tokens::from_milli(self.field(&reply, 2, "cost")?),
                maximum: Tokens::from_milli(self.field(&reply, 3, "maximum")?),
            }),
            other => return Err(self.protocol(format!("an unknown decision {other}"))),
        };
        Ok((decision, now))
    }

    fn settle_outcome(&self, reply: &[i64]) -> Result<SettleOutcome, Error> {
        match self.field(reply, 1, "outcome")? {
            0 => Ok(SettleOutcome::Unknown),
            1 => Ok(SettleOutcome::Settled {
                refund: Tokens::from_milli(self.field(reply, 2, "refund")?),
            }),
            other => Err(self.protocol(format!("an unknown settle outcome {other}"))),
        }
    }

    pub(crate) async fn settle(
        &self,
        reservation: ReservationId,
        actual: Tokens,
    ) -> Result<SettleOutcome, Error> {
        let reservation = self.id_argument(reservation.0)?;
        let reply = self
            .run(&SCRIPTS.settle, &[reservation, actual.as_milli()])
            .await?;
        self.settle_outcome(&reply)
    }

    pub(crate) async fn release(&self, reservation: ReservationId) -> Result<SettleOutcome, Error> {
        let reservation = self.id_argument(reservation.0)?;
        let reply = self.run(&SCRIPTS.release, &[reservation]).await?;
        self.settle_outcome(&reply)
    }

    pub(crate) async fn cancel(&self, waiter: WaiterId) -> Result<(), Error> {
        let waiter = self.id_argument(waiter.0)?;
        self.run(&SCRIPTS.cancel, &[waiter]).await?;
        Ok(())
    }

    pub(crate) async fn reconcile(
        &self,
        envelope: &Envelope,
        settle: Option<ReservationId>,
    ) -> Result<ReconcileOutcome, Error> {
        let [has_settle, settle] = self.optional_id(settle.map(|reservation| reservation.0))?;
        let reply = self
            .run(
                &SCRIPTS.reconcile,
                &[
                    envelope.tokens_left,
                    envelope.refill_in_ms,
                    envelope.refill_rate,
                    envelope.tokens_consumed,
                    envelope.server_timestamp_ms,
                    has_settle,
                    settle,
                ],
            )
            .await?;
        match self.field(&reply, 1, "outcome")? {
            0 => Ok(ReconcileOutcome::Applied {
                drift: Tokens::from_milli(self.field(&reply, 2, "drift")?),
            }),
            1 => Ok(ReconcileOutcome::Stale),
            2 => Ok(ReconcileOutcome::NoTokenInformation),
            other => Err(self.protocol(format!("an unknown reconcile outcome {other}"))),
        }
    }

    pub(crate) async fn bulk_budget(&self) -> Result<Tokens, Error> {
        let reply = self.run(&SCRIPTS.bulk_budget, &[]).await?;
        Ok(Tokens::from_milli(self.field(&reply, 1, "budget")?))
    }

    pub(crate) async fn snapshot(&self) -> Result<(Snapshot, i64), Error> {
        let reply = self.run(&SCRIPTS.snapshot, &[]).await?;
        if reply.len() != 20 {
            return Err(self.protocol(format!("a snapshot of {} fields", reply.len())));
        }
        let count = |index: usize| -> Result<u64, Error> { self.id(&reply, index, "count") };
        let size = |index: usize| -> Result<usize, Error> {
            usize::try_from(count(index)?).map_err(|_| self.protocol("a count beyond usize"))
        };
        let snapshot = Snapshot {
            synced: reply[1] == 1,
            balance: Tokens::from_milli(reply[2]),
            refill_rate: reply[3],
            cap: Tokens::from_milli(reply[4]),
            next_refill_ms: reply[5],
            in_flight: Tokens::from_milli(reply[6]),
            n_in_flight: size(7)?,
            waiting: [size(8)?, size(9)?],
            drift_margin: Tokens::from_milli(reply[18]),
            urgent_reserve: Tokens::from_milli(reply[19]),
            counters: Counters {
                granted: Tokens::from_milli(reply[10]),
                refilled: Tokens::from_milli(reply[11]),
                wasted_at_cap: Tokens::from_milli(reply[12]),
                drift: Tokens::from_milli(reply[13]),
                expired_reservations: count(14)?,
                expired_waiters: count(15)?,
                admitted: [count(16)?, count(17)?],
            },
        };
        Ok((snapshot, reply[0]))
    }

    /// Deletes the state, as a wiped or restarted Redis would: the next acquire answers
    /// [`Decision::Unsynced`]. Reservations and waiters go with it.
    pub(crate) async fn desync(&self) -> Result<(), Error> {
        let mut connection = self.connection().await?;
        let state_key = self.state_key.clone();
        let result: Result<i64, RedisError> = self
            .on_io(async move {
                redis::cmd("DEL")
                    .arg(&state_key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                if is_unavailability(&error) {
                    *self.cached_connection() = None;
                }
                Err(self.redis_error(error))
            }
        }
    }

    /// Identifiers travel through Lua as doubles: refuse one that would not survive the trip.
    fn id_argument(&self, id: u64) -> Result<i64, Error> {
        const EXACT_IN_LUA: u64 = 1 << 53;
        if id >= EXACT_IN_LUA {
            return Err(self.protocol(format!("an identifier beyond 2^53: {id}")));
        }
        Ok(i64::try_from(id).unwrap_or(i64::MAX))
    }
}

/// Whether an error means Redis cannot be used right now (rather than that it answered oddly).
fn is_unavailability(error: &RedisError) -> bool {
    use redis::ErrorKind;
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(
            error.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::InvalidClientConfig
                | ErrorKind::Server(
                    redis::ServerErrorKind::BusyLoading
                        | redis::ServerErrorKind::TryAgain
                        | redis::ServerErrorKind::MasterDown
                        | redis::ServerErrorKind::ClusterDown
                )
        )
}

/// The host and port of a Redis URL, without credentials, database or options: what errors may
/// show. Falls back to a placeholder for a URL that does not parse.
pub(crate) fn endpoint_of(url: &str) -> String {
    match redis::Client::open(url) {
        Ok(client) => client.get_connection_info().addr().to_string(),
        Err(_) => "an unparsable redis url".to_owned(),
    }
}

/// A connection pool to `url` whose connections set `TCP_NODELAY`.
///
/// Every bucket operation is one small request whose latency is its whole cost, so Nagle's
/// algorithm (the redis client's default) must never hold a request back waiting for an
/// acknowledgement. The bucket and the fleet state build their pools here. `timeout` bounds
/// waiting for, creating and recycling a connection.
///
/// # Errors
///
/// When `url` is not a redis url; the message names the problem, never the url (it may hold
/// a password).
pub fn connection_pool(
    url: &str,
    max_size: usize,
    timeout: Option<std::time::Duration>,
) -> Result<deadpool_redis::Pool, String> {
    use deadpool_redis::redis::IntoConnectionInfo;
    use deadpool_redis::redis::io::tcp::TcpSettings;

    let info = url
        .into_connection_info()
        .map_err(|error| format!("the url is not a valid redis url ({})", error.category()))?
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let manager = deadpool_redis::Manager::new(info)
        .map_err(|error| format!("the url is not a valid redis url ({})", error.category()))?;
    deadpool_redis::Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .runtime(deadpool_redis::Runtime::Tokio1)
        .build()
        .map_err(|_| "no connection pool could be built".to_owned())
}
