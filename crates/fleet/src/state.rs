//! The values kept in fleet state: leases, heartbeats, the pause flag, call rates, incidents.
//!
//! Plain data with human `Display`s; where they are kept (memory or Redis) is the backends'
//! business. All instants are milliseconds on the fleet's clock (the Redis server's `TIME` or an
//! injected clock), so they compare with [`crate::Fleet::now_ms`].

use std::fmt;

use crate::instance::InstanceId;

/// A held lease: proof that this process is the fleet's one holder of `name` until it expires.
///
/// Obtained from [`crate::Fleet::acquire_lease`]; kept alive with [`crate::Fleet::renew`] and
/// given up with [`crate::Fleet::release`]. Its [`fencing`](Lease::fencing) number is written
/// with every store commit the lease guards, so a commit by a holder that lost the lease can be
/// told from its successor's. `Debug` shows only the first characters of the owner token.
#[derive(Clone, PartialEq, Eq)]
pub struct Lease {
    pub(crate) name: String,
    pub(crate) token: String,
    pub(crate) fencing: u64,
    pub(crate) ttl_ms: i64,
    pub(crate) expires_at_ms: i64,
    pub(crate) holder: InstanceId,
}

impl Lease {
    /// The lease's name, e.g. `discovery`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing number: strictly greater than that of every earlier holder of this name.
    pub fn fencing(&self) -> u64 {
        self.fencing
    }

    /// The time to live the lease was taken with; each renewal extends it by this much.
    pub fn ttl_ms(&self) -> i64 {
        self.ttl_ms
    }

    /// When the lease expires unless renewed, as of its acquisition.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }

    /// The instance that holds it.
    pub fn holder(&self) -> &InstanceId {
        &self.holder
    }

    /// The first 8 characters of the owner token, for logs.
    pub fn owner_token_hint(&self) -> &str {
        token_hint(&self.token)
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Lease")
            .field("name", &self.name)
            .field("owner_token_hint", &self.owner_token_hint())
            .field("fencing", &self.fencing)
            .field("ttl_ms", &self.ttl_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .field("holder", &self.holder)
            .finish()
    }
}

pub(crate) fn token_hint(token: &str) -> &str {
    token.get(..8).unwrap_or(token)
}

/// What [`crate::Fleet::inspect`] sees of a lease, whoever holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseInfo {
    /// The lease's name.
    pub name: String,
    /// The first 8 characters of the holder's owner token.
    pub owner_token_hint: String,
    /// The instance that took it.
    pub holder_instance: InstanceId,
    /// The holder's fencing number.
    pub fencing: u64,
    /// When it expires unless renewed; it may lie in the past (expired, not yet taken over).
    pub expires_at_ms: i64,
}

impl LeaseInfo {
    /// Whether the lease has expired at `now_ms` (anyone may take it over).
    pub fn is_expired_at(&self, now_ms: i64) -> bool {
        self.expires_at_ms <= now_ms
    }
}

/// What a task is waiting for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitReason {
    /// The token bucket admits the next request at `until_ms`.
    Tokens {
        /// When the bucket expects to admit it.
        until_ms: i64,
    },
    /// There is nothing to do (no new deals, nothing stale).
    NoWork,
    /// The operator's pause flag is set.
    Paused,
    /// Another instance holds the lease this task needs.
    Lease,
    /// Backing off after errors until `until_ms`.
    Backoff {
        /// When the next attempt is due.
        until_ms: i64,
    },
}

/// What a task is doing now. It may change at any time; progress is [`Progress::last_progress_at_ms`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskState {
    /// Doing useful work.
    Working {
        /// What, in a few words ("analysing 12 deals").
        what: String,
    },
    /// Waiting, for the reason given.
    Waiting {
        /// Why.
        reason: WaitReason,
    },
    /// Stopped (shut down, or finished).
    Stopped,
}

impl fmt::Display for TaskState {
    /// `working: analysing 12 deals`, `waiting for tokens until 12:03:00Z`, `idle: no new work`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::Working { what } => write!(formatter, "working: {what}"),
            TaskState::Waiting { reason } => match reason {
                WaitReason::Tokens { until_ms } => write!(
                    formatter,
                    "waiting for tokens until {}",
                    UtcTimeOfDay(*until_ms)
                ),
                WaitReason::NoWork => formatter.write_str("idle: no new work"),
                WaitReason::Paused => formatter.write_str("paused by the operator"),
                WaitReason::Lease => {
                    formatter.write_str("waiting for the lease: another instance holds it")
                }
                WaitReason::Backoff { until_ms } => write!(
                    formatter,
                    "backing off after errors until {}",
                    UtcTimeOfDay(*until_ms)
                ),
            },
            TaskState::Stopped => formatter.write_str("stopped"),
        }
    }
}

/// `HH:MM:SSZ` of a Unix millisecond instant, in UTC.
#[derive(Clone, Copy, Debug)]
pub struct UtcTimeOfDay(pub i64);

impl fmt::Display for UtcTimeOfDay {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds_of_day = self.0.div_euclid(1_000).rem_euclid(86_400);
        write!(
            formatter,
            "{:02}:{:02}:{:02}Z",
            seconds_of_day / 3_600,
            seconds_of_day / 60 % 60,
            seconds_of_day % 60
        )
    }
}

/// A task's progress report: when it last completed useful work and what it is doing now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Progress {
    /// The reporting process.
    pub instance: InstanceId,
    /// When the task last completed useful work. Changes only then, never on a mere report.
    pub last_progress_at_ms: i64,
    /// What the task is doing or waiting for.
    pub state: TaskState,
    /// Whether the task knows of work it has not done yet (a stall needs work to be a stall).
    pub has_work: bool,
}

impl Progress {
    /// A progress report.
    pub fn new(
        instance: InstanceId,
        last_progress_at_ms: i64,
        state: TaskState,
        has_work: bool,
    ) -> Progress {
        Progress {
            instance,
            last_progress_at_ms,
            state,
            has_work,
        }
    }

    /// Whether the quota is why the task is not progressing (waiting for tokens): the watchdog's
    /// stall rule excludes it.
    pub fn is_waiting_for_quota(&self) -> bool {
        matches!(
            self.state,
            TaskState::Waiting {
                reason: WaitReason::Tokens { .. }
            }
        )
    }
}

/// A task's last report, as [`crate::Fleet::heartbeats`] returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Heartbeat {
    /// The task's name.
    pub task: String,
    /// What it reported.
    pub progress: Progress,
    /// When it reported, on the fleet's clock (a report with no progress still moves this).
    pub reported_at_ms: i64,
}

/// The operator's pause flag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PauseFlag {
    /// Why the fleet is paused.
    pub reason: String,
    /// Who paused it.
    pub by: String,
    /// When, on the fleet's clock.
    pub at_ms: i64,
}

/// Something the watchdog did or saw, kept for diag to show.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Incident {
    /// When it happened (the caller's clock; usually [`crate::Fleet::now_ms`]).
    pub at_ms: i64,
    /// A short stable code, e.g. `stall-restart`.
    pub kind: String,
    /// One line for a person.
    pub detail: String,
}

impl Incident {
    /// An incident.
    pub fn new(at_ms: i64, kind: &str, detail: &str) -> Incident {
        Incident {
            at_ms,
            kind: kind.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

/// A client's observed call rate.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CallRate {
    /// The client's name as given to [`crate::Fleet::record_call`].
    pub client: String,
    /// Calls per minute over the window asked for.
    pub calls_per_minute: f64,
}

/// A client calling faster than expected, or a client nobody expected at all.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CallRateAlert {
    /// The client's name.
    pub client: String,
    /// Its observed calls per minute.
    pub observed_per_minute: f64,
    /// What it was expected to stay within; `None` for a client not in the expectations (the
    /// "phantom" caller spending the quota unnoticed).
    pub expected_per_minute: Option<f64>,
}

impl fmt::Display for CallRateAlert {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected_per_minute {
            Some(expected) => write!(
                formatter,
                "client {} calls {:.1}/min, above its expected {expected:.1}/min",
                self.client, self.observed_per_minute
            ),
            None => write!(
                formatter,
                "client {} calls {:.1}/min and is not an expected client",
                self.client, self.observed_per_minute
            ),
        }
    }
}
