//! flush: clears stale state safely. [`plan`] lists exactly what a request would change — each
//! item's key or path, what it holds, its holder and whether that holder is alive — and
//! [`execute`] changes only those items, refusing the ones a live process holds unless forced
//! (and lock files held by a live process always).
//!
//! Scope: in Redis, only keys under the key prefix, found with `SCAN MATCH <prefix>*` (keys
//! outside it are never read or deleted) and deleted one by one with `DEL`; never `FLUSHALL` or
//! `FLUSHDB`. In the database, only the state entries the worker and the watchdog leave for
//! diag (`pause`, `incidents`, `quota`, `heartbeat:<task>`); deal data is never touched. Fencing
//! counters are kept unless asked for: deleting one restarts fencing at 1, and the store would
//! then refuse the discovery lease holder's commits until the counter caught up.

use std::fmt;
use std::path::{Path, PathBuf};

use deadpool_redis::redis;
use diagnostics::records::{
    HEARTBEAT_STATE_PREFIX, INCIDENTS_STATE_KEY, PAUSE_STATE_KEY, QUOTA_STATE_KEY,
};
use fleet::{Fleet, KeyDescription, KeyKind, LeaseInfo, PauseFlag};
use keepa_model::UnixSeconds;
use pipeline::lock::{InstanceLock, LockError, lock_path};

use crate::error::{Error, Result};
use crate::target::{self, RedisTarget, Target, bounded};

/// flush's exit codes, documented in its `--help`.
pub mod exit_code {
    /// A dry run listed what would change, or every listed item was changed.
    pub const OK: i32 = 0;
    /// Something held by a live process was left alone (add `--force`; a lock file held by a
    /// live process is never removed).
    pub const REFUSED: i32 = 1;
    /// Bad flags or configuration (clap's code for bad flags too).
    pub const USAGE: i32 = 2;
    /// A source could not be read, or an action failed.
    pub const FAILED: i32 = 3;
}

/// What to flush.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Fleet leases (fleet tier; the embedded tier's leases live in the worker's memory).
    Leases,
    /// Set the operator's pause flag.
    SetPause {
        /// Why.
        reason: String,
        /// Who (user name), for diag.
        by: String,
    },
    /// Clear the operator's pause flag.
    ClearPause,
    /// The token state: the Redis bucket's projection (so the next request reconciles from
    /// Keepa), or the embedded tier's last stored envelope.
    Tokens,
    /// Lock files whose holder is gone.
    Locks,
    /// Everything under the key prefix and the state entries flush owns, and a stale lock file.
    All {
        /// Also delete the leases' fencing counters (see the module docs).
        with_fencing: bool,
    },
}

/// Whether the holder of an item is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Nobody holds it.
    NotHeld,
    /// A lease whose expiry has passed: anyone may take it over.
    Expired,
    /// Its holder ran on this host and is gone.
    HolderDead,
    /// Its holder is a live process on this host.
    HolderAlive,
    /// Its holder ran on another host: flush cannot tell, and treats it as alive.
    HolderElsewhere,
}

impl Liveness {
    /// Whether flush treats the holder as alive (and refuses without `--force`).
    pub fn is_live(self) -> bool {
        matches!(self, Liveness::HolderAlive | Liveness::HolderElsewhere)
    }
}

impl fmt::Display for Liveness {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Liveness::NotHeld => "not held",
            Liveness::Expired => "expired",
            Liveness::HolderDead => "dead",
            Liveness::HolderAlive => "live",
            Liveness::HolderElsewhere => "live? (another host)",
        })
    }
}

/// What would be done to an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Deleted.
    Delete,
    /// Set (the pause flag).
    Set,
    /// Forgotten (the bucket's projection; the key stays, unsynced).
    Desync,
}

impl fmt::Display for Verb {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Verb::Delete => "delete",
            Verb::Set => "set",
            Verb::Desync => "desync",
        })
    }
}

#[derive(Clone, Debug)]
enum Action {
    FleetKey {
        description: KeyDescription,
        /// For a lease: the fencing number listed, re-checked before deleting.
        lease_fencing: Option<u64>,
    },
    PrefixKey(String),
    DesyncBucket,
    StateEntry {
        database: PathBuf,
        key: String,
    },
    SetPauseFleet {
        reason: String,
        by: String,
    },
    SetPauseState {
        database: PathBuf,
        flag: PauseFlag,
    },
    ClearPauseFleet,
    LockFile {
        database: PathBuf,
    },
}

/// One thing a flush would change.
#[derive(Clone, Debug)]
pub struct Item {
    /// The Redis key, state entry (`<database>#<key>`) or file.
    pub name: String,
    /// What it holds.
    pub kind: String,
    /// Who holds it, when anyone does.
    pub holder: Option<String>,
    /// Whether that holder is alive.
    pub liveness: Liveness,
    /// What would be done.
    pub verb: Verb,
    /// A live holder blocks it even with `--force` (a held lock file).
    pub never_when_live: bool,
    action: Action,
}

/// What a request would change, and notes on what it deliberately leaves.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The items, in the order they would be changed.
    pub items: Vec<Item>,
    /// What was looked at and left, for a person.
    pub notes: Vec<String>,
}

/// What [`execute`] did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Items changed.
    pub done: Vec<Item>,
    /// Items left alone, with why.
    pub refused: Vec<(Item, String)>,
    /// Items whose change failed, with why.
    pub failed: Vec<(Item, String)>,
}

impl Outcome {
    /// [`exit_code::FAILED`] if anything failed, else [`exit_code::REFUSED`] if anything was
    /// refused, else [`exit_code::OK`].
    pub fn exit_code(&self) -> i32 {
        if !self.failed.is_empty() {
            exit_code::FAILED
        } else if !self.refused.is_empty() {
            exit_code::REFUSED
        } else {
            exit_code::OK
        }
    }
}

// ---- Planning ------------------------------------------------------------------------------

/// Lists what `request` would change on `target` at `now_ms` (this host's clock; leases are
/// judged on the fleet's clock). Reads only.
///
/// # Errors
///
/// When Redis or the database cannot be read.
pub async fn plan(target: &Target, request: &Request, now_ms: i64) -> Result<Plan> {
    let mut plan = Plan::default();
    match request {
        Request::Leases => match &target.redis {
            Some(redis) => {
                plan_leases(redis, &mut plan).await?;
                plan.notes.push(
                    "fencing counters are kept: deleting one restarts fencing at 1".to_owned(),
                );
            }
            None => plan.notes.push(
                "the embedded tier keeps leases in the worker's memory: nothing to flush (give \
                 --redis-url for the fleet tier)"
                    .to_owned(),
            ),
        },
        Request::SetPause { reason, by } => match &target.redis {
            Some(_) => plan.items.push(Item {
                name: "pause flag".to_owned(),
                kind: format!("the operator's pause flag: {reason}"),
                holder: None,
                liveness: Liveness::NotHeld,
                verb: Verb::Set,
                never_when_live: false,
                action: Action::SetPauseFleet {
                    reason: reason.clone(),
                    by: by.clone(),
                },
            }),
            None => {
                let database = embedded_database(target)?;
                target::existing_database(database)?;
                let flag: PauseFlag = serde_json::from_value(serde_json::json!({
                    "reason": reason, "by": by, "at_ms": now_ms,
                }))
                .map_err(|error| Error::CorruptState {
                    key: PAUSE_STATE_KEY.to_owned(),
                    detail: error.to_string(),
                })?;
                plan.items.push(Item {
                    name: state_name(database, PAUSE_STATE_KEY),
                    kind: format!("the operator's pause flag: {reason}"),
                    holder: None,
                    liveness: Liveness::NotHeld,
                    verb: Verb::Set,
                    never_when_live: false,
                    action: Action::SetPauseState {
                        database: database.to_owned(),
                        flag,
                    },
                });
            }
        },
        Request::ClearPause => plan_clear_pause(target, &mut plan).await?,
        Request::Tokens => plan_tokens(target, &mut plan).await?,
        Request::Locks => plan_locks(target, &mut plan)?,
        Request::All { with_fencing } => {
            if let Some(redis) = &target.redis {
                plan_prefix(redis, *with_fencing, &mut plan).await?;
            }
            if let Some(database) = &target.database
                && (target.redis.is_none() || database.exists())
            {
                plan_state_entries(database, &mut plan)?;
            }
            plan_locks(target, &mut plan)?;
        }
    }
    Ok(plan)
}

fn embedded_database(target: &Target) -> Result<&Path> {
    target.database.as_deref().ok_or(Error::NoDatabase)
}

fn state_name(database: &Path, key: &str) -> String {
    format!("{}#{key}", database.display())
}

fn lease_liveness(info: &LeaseInfo, fleet_now_ms: i64) -> Liveness {
    if info.holder_instance.is_local_and_dead() {
        Liveness::HolderDead
    } else if info.is_expired_at(fleet_now_ms) {
        Liveness::Expired
    } else if info.holder_instance.is_local() {
        Liveness::HolderAlive
    } else {
        Liveness::HolderElsewhere
    }
}

async fn lease_item(
    fleet: &Fleet,
    endpoint: &str,
    description: KeyDescription,
    name: &str,
    fleet_now_ms: i64,
) -> Result<Option<Item>> {
    let inspected = bounded("inspecting a lease", endpoint, fleet.inspect(name)).await?;
    let Some(info) = inspected else {
        // Released between listing and inspecting.
        return Ok(None);
    };
    Ok(Some(Item {
        name: description.key().to_owned(),
        kind: format!("lease {name} (fencing {})", info.fencing),
        holder: Some(info.holder_instance.to_string()),
        liveness: lease_liveness(&info, fleet_now_ms),
        verb: Verb::Delete,
        never_when_live: false,
        action: Action::FleetKey {
            description,
            lease_fencing: Some(info.fencing),
        },
    }))
}

async fn plan_leases(redis: &RedisTarget, plan: &mut Plan) -> Result<()> {
    let fleet = redis.fleet()?;
    let endpoint = redis.endpoint();
    let now_ms = bounded("reading the fleet clock", endpoint, fleet.now_ms()).await?;
    let keys = bounded("listing fleet keys", endpoint, fleet.list_keys()).await?;
    for description in keys {
        let KeyKind::Lease { name } = description.kind().clone() else {
            continue;
        };
        if let Some(item) = lease_item(&fleet, endpoint, description, &name, now_ms).await? {
            plan.items.push(item);
        }
    }
    if plan.items.is_empty() {
        plan.notes
            .push(format!("no lease under {}fleet:", redis.key_prefix()));
    }
    Ok(())
}

async fn plan_clear_pause(target: &Target, plan: &mut Plan) -> Result<()> {
    let describe = |flag: &PauseFlag| {
        format!(
            "the operator's pause flag: {} (set by {})",
            flag.reason, flag.by
        )
    };
    if let Some(redis) = &target.redis {
        let fleet = redis.fleet()?;
        match bounded("reading the pause flag", redis.endpoint(), fleet.pause()).await? {
            Some(flag) => plan.items.push(Item {
                name: format!("{}fleet:pause", redis.key_prefix()),
                kind: describe(&flag),
                holder: None,
                liveness: Liveness::NotHeld,
                verb: Verb::Delete,
                never_when_live: false,
                action: Action::ClearPauseFleet,
            }),
            None => plan.notes.push("the pause flag is not set".to_owned()),
        }
        return Ok(());
    }
    let database = embedded_database(target)?;
    let entries = target::read_state_entries(database)?;
    match entries.iter().find(|entry| entry.key == PAUSE_STATE_KEY) {
        Some(entry) => {
            let kind = serde_json::from_str::<PauseFlag>(&entry.value).map_or_else(
                |_| "the operator's pause flag (unreadable value)".to_owned(),
                |flag| describe(&flag),
            );
            plan.items.push(Item {
                name: state_name(database, PAUSE_STATE_KEY),
                kind,
                holder: None,
                liveness: Liveness::NotHeld,
                verb: Verb::Delete,
                never_when_live: false,
                action: Action::StateEntry {
                    database: database.to_owned(),
                    key: PAUSE_STATE_KEY.to_owned(),
                },
            });
        }
        None => plan.notes.push("the pause flag is not set".to_owned()),
    }
    Ok(())
}

async fn plan_tokens(target: &Target, plan: &mut Plan) -> Result<()> {
    if let Some(redis) = &target.redis {
        let key = redis.bucket_state_key();
        let mut connection = RawRedis::connect(redis).await?;
        if connection.exists(&key).await? {
            plan.items.push(Item {
                name: key,
                kind: "the shared token bucket's projection: the next request asks Keepa's /token \
                       once and reconciles"
                    .to_owned(),
                holder: None,
                liveness: Liveness::NotHeld,
                verb: Verb::Desync,
                never_when_live: false,
                action: Action::DesyncBucket,
            });
        } else {
            plan.notes.push(format!(
                "no token state under the prefix ({key} does not exist)"
            ));
        }
        return Ok(());
    }
    let database = embedded_database(target)?;
    let entries = target::read_state_entries(database)?;
    if entries.iter().any(|entry| entry.key == QUOTA_STATE_KEY) {
        plan.items.push(Item {
            name: state_name(database, QUOTA_STATE_KEY),
            kind: "the last quota envelope kept for diag (diag then asks /token once)".to_owned(),
            holder: None,
            liveness: Liveness::NotHeld,
            verb: Verb::Delete,
            never_when_live: false,
            action: Action::StateEntry {
                database: database.to_owned(),
                key: QUOTA_STATE_KEY.to_owned(),
            },
        });
    }
    let holder = match InstanceLock::holder(database)? {
        Some(Some(pid)) => format!("its worker (pid {pid})"),
        Some(None) => "its worker".to_owned(),
        None => "a worker".to_owned(),
    };
    plan.notes.push(format!(
        "the embedded tier's token bucket lives in {holder}'s memory: restart the worker to make \
         it resynchronise from Keepa"
    ));
    Ok(())
}

fn plan_locks(target: &Target, plan: &mut Plan) -> Result<()> {
    let Some(database) = &target.database else {
        plan.notes
            .push("no --database given: no lock file looked at".to_owned());
        return Ok(());
    };
    let path = lock_path(database);
    if !path.exists() {
        plan.notes
            .push(format!("no lock file at {}", path.display()));
        return Ok(());
    }
    let (holder, liveness) = match InstanceLock::holder(database)? {
        Some(Some(pid)) => (Some(format!("pid {pid}")), Liveness::HolderAlive),
        Some(None) => (
            Some("a process (no pid written)".to_owned()),
            Liveness::HolderAlive,
        ),
        None => {
            let written = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok());
            (written.map(|pid| format!("pid {pid}")), Liveness::NotHeld)
        }
    };
    plan.items.push(Item {
        name: path.display().to_string(),
        kind: "the worker's instance lock file".to_owned(),
        holder,
        liveness,
        verb: Verb::Delete,
        never_when_live: true,
        action: Action::LockFile {
            database: database.clone(),
        },
    });
    Ok(())
}

/// The embedded tier's state entries that flush owns: what the worker and the watchdog leave for
/// diag. Deal data, the watermark and counters are never among them.
pub fn is_owned_state_key(key: &str) -> bool {
    key == PAUSE_STATE_KEY
        || key == INCIDENTS_STATE_KEY
        || key == QUOTA_STATE_KEY
        || key.starts_with(HEARTBEAT_STATE_PREFIX)
}

fn plan_state_entries(database: &Path, plan: &mut Plan) -> Result<()> {
    let entries = target::read_state_entries(database)?;
    let (holder, liveness) = match InstanceLock::holder(database)? {
        Some(Some(pid)) => (Some(format!("worker pid {pid}")), Liveness::HolderAlive),
        Some(None) => (Some("a worker".to_owned()), Liveness::HolderAlive),
        None => (None, Liveness::NotHeld),
    };
    for entry in entries
        .into_iter()
        .filter(|entry| is_owned_state_key(&entry.key))
    {
        let kind = match entry.key.as_str() {
            PAUSE_STATE_KEY => "the operator's pause flag".to_owned(),
            INCIDENTS_STATE_KEY => {
                "watchdog incidents (the 30 min restart limit forgets its last restart)".to_owned()
            }
            QUOTA_STATE_KEY => "the last quota envelope kept for diag".to_owned(),
            other => format!(
                "progress heartbeat of task {}",
                other.trim_start_matches(HEARTBEAT_STATE_PREFIX)
            ),
        };
        plan.items.push(Item {
            name: state_name(database, &entry.key),
            kind,
            holder: holder.clone(),
            liveness,
            verb: Verb::Delete,
            never_when_live: false,
            action: Action::StateEntry {
                database: database.to_owned(),
                key: entry.key,
            },
        });
    }
    Ok(())
}

async fn plan_prefix(redis: &RedisTarget, with_fencing: bool, plan: &mut Plan) -> Result<()> {
    let fleet = redis.fleet()?;
    let endpoint = redis.endpoint();
    let now_ms = bounded("reading the fleet clock", endpoint, fleet.now_ms()).await?;
    let fleet_keys = bounded("listing fleet keys", endpoint, fleet.list_keys()).await?;
    let mut connection = RawRedis::connect(redis).await?;
    let mut keys = connection.scan_prefix(redis.key_prefix()).await?;
    keys.sort();
    keys.dedup();
    let bucket_key = redis.bucket_state_key();
    let mut kept_fencing = Vec::new();
    for key in keys {
        let description = fleet_keys
            .iter()
            .find(|description| description.key() == key)
            .cloned();
        let Some(description) = description else {
            let kind = if key == bucket_key {
                "the shared token bucket's state (workers resynchronise with one /token call)"
                    .to_owned()
            } else {
                "a key under the prefix that flush does not know".to_owned()
            };
            plan.items.push(Item {
                name: key.clone(),
                kind,
                holder: None,
                liveness: Liveness::NotHeld,
                verb: Verb::Delete,
                never_when_live: false,
                action: Action::PrefixKey(key),
            });
            continue;
        };
        match description.kind().clone() {
            KeyKind::Lease { name } => {
                if let Some(item) = lease_item(&fleet, endpoint, description, &name, now_ms).await?
                {
                    plan.items.push(item);
                }
            }
            KeyKind::LeaseFencing { .. } if !with_fencing => kept_fencing.push(key),
            kind => plan.items.push(Item {
                name: key,
                kind: kind.to_string(),
                holder: None,
                liveness: Liveness::NotHeld,
                verb: Verb::Delete,
                never_when_live: false,
                action: Action::FleetKey {
                    description,
                    lease_fencing: None,
                },
            }),
        }
    }
    if !kept_fencing.is_empty() {
        plan.notes.push(format!(
            "kept {} (fencing counters; deleting one restarts fencing at 1, below the number \
             the database remembers, and discovery then raises it past the database's before its \
             next commit; --with-fencing deletes them too)",
            kept_fencing.join(", ")
        ));
    }
    Ok(())
}

// ---- Executing -----------------------------------------------------------------------------

/// Changes the items of `plan`. Items held by a live process are refused unless `force`; a
/// lock file held by a live process is refused always. A lease is re-inspected first and left
/// alone if another holder took it since it was listed.
///
/// # Errors
///
/// Never for one item (its failure is in [`Outcome::failed`]); only when a source cannot be
/// opened at all.
pub async fn execute(target: &Target, plan: Plan, force: bool) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    for item in plan.items {
        if item.liveness.is_live() {
            if item.never_when_live {
                outcome.refused.push((
                    item,
                    "held by a live process; never removed (stop that process first)".to_owned(),
                ));
                continue;
            }
            if !force {
                outcome.refused.push((
                    item,
                    "held by a live process; add --force to remove it anyway".to_owned(),
                ));
                continue;
            }
        }
        match act(target, &item).await {
            Ok(Acted::Done) => outcome.done.push(item),
            Ok(Acted::Refused(why)) => outcome.refused.push((item, why)),
            Err(error) => {
                let why = error.to_string();
                outcome.failed.push((item, why));
            }
        }
    }
    Ok(outcome)
}

enum Acted {
    Done,
    Refused(String),
}

fn redis_of(target: &Target) -> Result<&RedisTarget> {
    target
        .redis
        .as_ref()
        .ok_or_else(|| Error::InvalidRedisUrl("this item needs --redis-url".to_owned()))
}

async fn act(target: &Target, item: &Item) -> Result<Acted> {
    match &item.action {
        Action::FleetKey {
            description,
            lease_fencing,
        } => {
            let redis = redis_of(target)?;
            let fleet = redis.fleet()?;
            let endpoint = redis.endpoint();
            if let (KeyKind::Lease { name }, Some(listed)) = (description.kind(), lease_fencing) {
                let now = bounded("inspecting a lease", endpoint, fleet.inspect(name)).await?;
                match now {
                    None => return Ok(Acted::Done),
                    Some(info) if info.fencing != *listed => {
                        return Ok(Acted::Refused(format!(
                            "taken by {} (fencing {}) since it was listed",
                            info.holder_instance, info.fencing
                        )));
                    }
                    Some(_) => {}
                }
            }
            bounded(
                "deleting a fleet key",
                endpoint,
                fleet.delete(std::slice::from_ref(description)),
            )
            .await?;
            Ok(Acted::Done)
        }
        Action::PrefixKey(key) => {
            let redis = redis_of(target)?;
            RawRedis::connect(redis)
                .await?
                .delete_under_prefix(redis.key_prefix(), key)
                .await?;
            Ok(Acted::Done)
        }
        Action::DesyncBucket => {
            let redis = redis_of(target)?;
            let bucket = redis.bucket()?;
            bounded(
                "forgetting the token state",
                redis.endpoint(),
                bucket.desync(),
            )
            .await?;
            Ok(Acted::Done)
        }
        Action::StateEntry { database, key } => {
            let mut writer = target::open_writer(database)?;
            writer.delete_state(key)?;
            Ok(Acted::Done)
        }
        Action::SetPauseFleet { reason, by } => {
            let redis = redis_of(target)?;
            let fleet = redis.fleet()?;
            bounded(
                "setting the pause flag",
                redis.endpoint(),
                fleet.set_pause(reason, by),
            )
            .await?;
            Ok(Acted::Done)
        }
        Action::SetPauseState { database, flag } => {
            let json = serde_json::to_string(flag).map_err(|error| Error::CorruptState {
                key: PAUSE_STATE_KEY.to_owned(),
                detail: error.to_string(),
            })?;
            let mut writer = target::open_writer(database)?;
            writer.set_state(
                PAUSE_STATE_KEY,
                &json,
                UnixSeconds(flag.at_ms.div_euclid(1_000)),
            )?;
            Ok(Acted::Done)
        }
        Action::ClearPauseFleet => {
            let redis = redis_of(target)?;
            let fleet = redis.fleet()?;
            bounded(
                "clearing the pause flag",
                redis.endpoint(),
                fleet.clear_pause(),
            )
            .await?;
            Ok(Acted::Done)
        }
        Action::LockFile { database } => {
            // Hold the lock while removing the file, so a worker starting meanwhile either
            // waits on the old file (and is refused) or creates a new one: never two holders.
            let lock = match InstanceLock::acquire(database) {
                Ok(lock) => lock,
                Err(LockError::Held { pid, .. }) => {
                    return Ok(Acted::Refused(format!(
                        "taken by a live process{} since it was listed",
                        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
                    )));
                }
                Err(error) => return Err(error.into()),
            };
            let path = lock.path().to_owned();
            std::fs::remove_file(&path).map_err(|source| Error::RemoveFile { path, source })?;
            drop(lock);
            Ok(Acted::Done)
        }
    }
}

// ---- Rendering -----------------------------------------------------------------------------

/// The plan as aligned lines: a header, one row per item, then the notes.
pub fn render_plan(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    if plan.items.is_empty() {
        lines.push("nothing to flush".to_owned());
    } else {
        let rows: Vec<[String; 5]> = plan
            .items
            .iter()
            .map(|item| {
                [
                    item.verb.to_string(),
                    item.name.clone(),
                    item.holder.clone().unwrap_or_else(|| "-".to_owned()),
                    item.liveness.to_string(),
                    item.kind.clone(),
                ]
            })
            .collect();
        let header = [
            "ACTION".to_owned(),
            "KEY/PATH".to_owned(),
            "HOLDER".to_owned(),
            "HOLDER STATE".to_owned(),
            "WHAT".to_owned(),
        ];
        let mut widths = [0_usize; 4];
        for row in std::iter::once(&header).chain(rows.iter()) {
            for (width, cell) in widths.iter_mut().zip(row.iter()) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(rows.iter()) {
            lines.push(format!(
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            ));
        }
    }
    lines.extend(plan.notes.iter().map(|note| format!("note: {note}")));
    lines
}

/// The outcome as lines: one per item changed, refused or failed.
pub fn render_outcome(outcome: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    for item in &outcome.done {
        lines.push(format!("done: {} {} ({})", item.verb, item.name, item.kind));
    }
    for (item, why) in &outcome.refused {
        lines.push(format!("REFUSED: {} {}: {why}", item.verb, item.name));
    }
    for (item, why) in &outcome.failed {
        lines.push(format!("FAILED: {} {}: {why}", item.verb, item.name));
    }
    lines
}

// ---- Raw Redis under the prefix ------------------------------------------------------------

/// The few plain commands flush needs beyond `fleet` and `token-bucket`: `SCAN MATCH`,
/// `EXISTS` and `DEL`, each only on names under the prefix.
struct RawRedis {
    connection: deadpool_redis::Connection,
    endpoint: String,
}

impl RawRedis {
    async fn connect(redis: &RedisTarget) -> Result<RawRedis> {
        let endpoint = redis.endpoint().to_owned();
        let pool = deadpool_redis::Config::from_url(redis.url())
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|_| Error::InvalidRedisUrl("no connection pool could be built".to_owned()))?;
        let connection = bounded("connecting", &endpoint, async {
            pool.get().await.map_err(|error| Error::Redis {
                endpoint: endpoint.clone(),
                what: "connecting",
                detail: error.to_string(),
            })
        })
        .await?;
        Ok(RawRedis {
            connection,
            endpoint,
        })
    }

    async fn query<T: redis::FromRedisValue>(
        &mut self,
        what: &'static str,
        command: &redis::Cmd,
    ) -> Result<T> {
        let endpoint = self.endpoint.clone();
        let connection = &mut self.connection;
        bounded(what, &endpoint, async {
            command
                .query_async(connection)
                .await
                .map_err(|error| Error::Redis {
                    endpoint: endpoint.clone(),
                    what,
                    detail: error.to_string(),
                })
        })
        .await
    }

    async fn exists(&mut self, key: &str) -> Result<bool> {
        let count: i64 = self
            .query("checking a key", redis::cmd("EXISTS").arg(key))
            .await?;
        Ok(count > 0)
    }

    async fn scan_prefix(&mut self, prefix: &str) -> Result<Vec<String>> {
        let pattern = scan_pattern(prefix);
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .query(
                    "scanning the prefix",
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            // MATCH already filters on the server; this keeps a pattern bug from ever reaching DEL.
            keys.extend(batch.into_iter().filter(|key| key.starts_with(prefix)));
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn delete_under_prefix(&mut self, prefix: &str, key: &str) -> Result<()> {
        if prefix.is_empty() || !key.starts_with(prefix) {
            return Err(Error::Redis {
                endpoint: self.endpoint.clone(),
                what: "deleting a key",
                detail: format!("{key:?} is not under the prefix {prefix:?}; not deleted"),
            });
        }
        let _: i64 = self
            .query("deleting a key", redis::cmd("DEL").arg(key))
            .await?;
        Ok(())
    }
}

/// `SCAN MATCH` pattern for every key under `prefix`, glob characters escaped.
pub fn scan_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('*');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_pattern_escapes_glob_characters_of_the_prefix() {
        assert_eq!(scan_pattern("keepa-deals:"), "keepa-deals:*");
        assert_eq!(scan_pattern("a*b?[c]\\:"), "a\\*b\\?\\[c\\]\\\\:*");
    }

    #[test]
    fn only_the_diagnostic_state_entries_are_owned() {
        for key in ["pause", "incidents", "quota", "heartbeat:discovery"] {
            assert!(is_owned_state_key(key), "{key}");
        }
        for key in ["watermark", "discovery.status", "pauses", "heartbeat"] {
            assert!(!is_owned_state_key(key), "{key}");
        }
    }

    #[test]
    fn live_holders_are_alive_or_elsewhere() {
        assert!(Liveness::HolderAlive.is_live());
        assert!(Liveness::HolderElsewhere.is_live());
        for liveness in [Liveness::NotHeld, Liveness::Expired, Liveness::HolderDead] {
            assert!(!liveness.is_live(), "{liveness}");
        }
    }
}
