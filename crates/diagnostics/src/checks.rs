//! The checks of DESIGN.md §9, each a pure function from observations and `now` to a
//! [`CheckResult`]. A source that could not be read arrives as `Err(`[`Unreadable`]`)` and
//! becomes an UNKNOWN check naming the reason and the remedy, the same in every check that
//! depends on that source.
//!
//! Nothing here opens a database or a socket or reads a clock: [`crate::gather`] does the IO and
//! hands the results over, so every status boundary is a one-line unit test.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use deal_store::AgeBuckets;
use fleet::{Heartbeat, Incident, PauseFlag, TaskState, WaitReason};

use crate::records::QuotaRecord;
use crate::report::{CheckResult, Status};

/// The stable names of the checks, as they appear in the report and in JSON.
pub mod names {
    /// The Keepa token quota.
    pub const QUOTA: &str = "quota";
    /// Progress heartbeats of the worker's tasks.
    pub const TASK_PROGRESS: &str = "task_progress";
    /// Fleet-wide leases and their holders.
    pub const LEASES: &str = "leases";
    /// ASINs queued by discovery and not yet stored, rejected or quarantined.
    pub const BACKLOG: &str = "backlog";
    /// Deals not seen for more than 24 h.
    pub const STALE_DEALS: &str = "stale_deals";
    /// Stored, visible and rejected deals.
    pub const DEAL_FUNNEL: &str = "deal_funnel";
    /// Keepa API errors by kind over 24 h.
    pub const API_ERRORS: &str = "api_errors";
    /// Keepa calls per minute per client.
    pub const CALL_RATES: &str = "call_rates";
    /// SQLite integrity and file size.
    pub const DATABASE: &str = "database";
    /// How far the discovery watermark lags behind now.
    pub const WATERMARK: &str = "watermark";
    /// The watchdog's recent incidents.
    pub const INCIDENTS: &str = "incidents";
    /// The operator's pause flag.
    pub const PAUSE: &str = "pause";
    /// The embedded tier's instance lock.
    pub const INSTANCE_LOCK: &str = "instance_lock";
}

/// The commands remedies name, in one place.
pub mod commands {
    /// Removes leases held by dead owners.
    pub const FLUSH_LEASES: &str = "cargo run -p flush -- leases --yes";
    /// Clears the pause flag.
    pub const CLEAR_PAUSE: &str = "cargo run -p flush -- pause --clear --yes";
    /// Shows the watchdog's verdict without acting.
    pub const WATCHDOG_DRY_RUN: &str = "cargo run -p watchdog -- --dry-run";
    /// Starts the worker.
    pub const START_WORKER: &str = "cargo run -p worker --";
    /// Runs diagnostics again.
    pub const DIAG: &str = "cargo run -p diag";
}

/// A source that could not be read (the database, Redis, the instance lock), or a part of one
/// that is known to be lost: why, and what to do about it. Every check that depends on it is
/// UNKNOWN with this reason and remedy, so a monitoring system that reads one check alone still
/// learns what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Why, in one line. Names the file or the endpoint, never a password or the Keepa key.
    pub reason: String,
    /// What to do, naming the command to run.
    pub remedy: String,
}

impl Unreadable {
    /// A reason and a remedy.
    pub fn new(reason: impl Into<String>, remedy: impl Into<String>) -> Unreadable {
        Unreadable {
            reason: reason.into(),
            remedy: remedy.into(),
        }
    }

    /// The UNKNOWN result of check `name`, which could not look at its source.
    pub fn check(&self, name: &'static str) -> CheckResult {
        CheckResult::unknown(name, &self.reason, Some(self.remedy.clone()))
    }
}

/// A task that has not progressed for longer than this (15 min) is stalled, unless it says why.
pub const STALE_PROGRESS_MS: i64 = 15 * 60 * 1000;
/// A backlog below this many items passes.
pub const BACKLOG_WARN_AT: u64 = 100;
/// A backlog of this many items or more fails.
pub const BACKLOG_FAIL_AT: u64 = 1000;
/// Incidents younger than this (24 h) make the incidents check warn.
pub const RECENT_INCIDENT_MS: i64 = 24 * 60 * 60 * 1000;
/// A watermark lagging more than this (1 h) warns.
pub const WATERMARK_WARN_LAG_MS: i64 = 60 * 60 * 1000;
/// A watermark lagging more than this (6 h) fails.
pub const WATERMARK_FAIL_LAG_MS: i64 = 6 * 60 * 60 * 1000;
/// A watermark more than this far in the future (1 h) warns: discovery clamps it to now.
pub const WATERMARK_FUTURE_TOLERANCE_MS: i64 = 60 * 60 * 1000;
/// Keepa errors of any kind beyond this many in 24 h warn.
pub const API_ERRORS_WARN_AT: u64 = 50;
/// Error kinds (keepa-client's `Error::kind`) that mean the key itself does not work.
pub const KEY_ERROR_KINDS: [&str; 2] = ["invalid_key", "no_api_access"];

/// `42 s`, `12 min`, `3 h 5 min`, `2 d 4 h`: a duration in milliseconds for a person.
pub fn human_duration(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{} min", seconds / 60),
        3_600..86_400 => format!("{} h {} min", seconds / 3_600, seconds / 60 % 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds / 3_600 % 24),
    }
}

/// `1.5 MiB`: a size in bytes for a person.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "a size for a person, one decimal"
    )]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn list_counts(counts: &[(String, u64)]) -> String {
    counts
        .iter()
        .map(|(label, count)| format!("{label} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- Quota ---------------------------------------------------------------------------------

/// Where a quota observation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaSource {
    /// The fleet's Redis bucket projection (live).
    RedisBucket,
    /// The last envelope the worker stored in the database.
    StoredEnvelope,
    /// Diagnostics' own `/token` call.
    TokenProbe,
}

impl QuotaSource {
    fn describe(self) -> &'static str {
        match self {
            QuotaSource::RedisBucket => "redis bucket",
            QuotaSource::StoredEnvelope => "last stored envelope",
            QuotaSource::TokenProbe => "one /token call",
        }
    }
}

/// What diagnostics learnt about the quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaInput {
    /// An observation and where it came from.
    Observed {
        /// The observation.
        record: QuotaRecord,
        /// Its source.
        source: QuotaSource,
    },
    /// Keepa rejected the key on the `/token` call (invalid key, no API access).
    KeyRejected(String),
    /// No observation could be had: why, and what to do.
    Unavailable(Unreadable),
}

/// The quota: balance, rate, deficit, foreign consumption.
///
/// FAIL when the envelope carries no token information (refill rate 0: the key is not valid),
/// when Keepa rejected the key, or when the balance is at or below `deficit_floor`. WARN when
/// other programs spend the same key's tokens, or when the balance sits at the cap while some
/// task has work (refills are being wasted). A deficit above the floor is normal (Keepa admits
/// a request at any positive balance and charges it in full) and passes.
pub fn check_quota(
    input: &QuotaInput,
    deficit_floor: i64,
    any_task_has_work: bool,
    now_ms: i64,
) -> CheckResult {
    let (record, source) = match input {
        QuotaInput::Observed { record, source } => (record, *source),
        QuotaInput::KeyRejected(reason) => {
            return CheckResult::new(
                names::QUOTA,
                Status::Fail,
                format!("keepa rejected the api key: {reason}"),
                Some(
                    "check the key (KEEPA_API_KEY or --keepa-key-file); a revoked key must be \
                     replaced, then restart the worker"
                        .to_owned(),
                ),
            );
        }
        QuotaInput::Unavailable(unreadable) => {
            return CheckResult::unknown(
                names::QUOTA,
                format!("no quota observation: {}", unreadable.reason),
                Some(unreadable.remedy.clone()),
            );
        }
    };
    let age = now_ms.saturating_sub(record.observed_at_ms);
    let from = if age > 60_000 {
        format!("{}, {} ago", source.describe(), human_duration(age))
    } else {
        source.describe().to_owned()
    };
    if record.refill_rate <= 0 {
        return CheckResult::new(
            names::QUOTA,
            Status::Fail,
            format!(
                "the envelope carries no token information (refill rate 0, from {from}): keepa answers an invalid key so"
            ),
            Some(
                "check the key (KEEPA_API_KEY or --keepa-key-file) and the subscription".to_owned(),
            ),
        );
    }
    let cap = record.cap();
    let mut detail = format!(
        "balance {} of {cap} tokens, {}/min, next refill in {}",
        record.tokens_left,
        record.refill_rate,
        human_duration(record.refill_in_ms)
    );
    if record.tokens_left < 0 {
        let _ = write!(
            detail,
            ", deficit {} (floor {deficit_floor})",
            -record.tokens_left
        );
    }
    let _ = write!(
        detail,
        ", foreign consumption {} (from {from})",
        record.foreign_consumption
    );
    if record.tokens_left <= deficit_floor {
        let minutes = (deficit_floor.saturating_neg() + 1 + record.tokens_left.saturating_neg())
            / record.refill_rate.max(1);
        return CheckResult::new(
            names::QUOTA,
            Status::Fail,
            detail,
            Some(format!(
                "the balance is at or below the deficit floor: something spends without the \
                 bucket (see call_rates); it refills in about {minutes} min; run `cargo run -p diag` again then"
            )),
        );
    }
    if record.foreign_consumption > 0 {
        return CheckResult::new(
            names::QUOTA,
            Status::Warn,
            detail,
            Some(
                "another program spends this key's tokens: find it (see call_rates) and make it \
                 share the bucket (same --redis-url and --key-prefix) or give it its own key"
                    .to_owned(),
            ),
        );
    }
    if record.tokens_left >= cap && any_task_has_work {
        return CheckResult::new(
            names::QUOTA,
            Status::Warn,
            format!("{detail}; at the cap while tasks have work: refills are wasted"),
            Some(format!(
                "the worker is not spending: see task_progress, and run `{}`",
                commands::WATCHDOG_DRY_RUN
            )),
        );
    }
    CheckResult::pass(names::QUOTA, detail)
}

// ---- Task progress -------------------------------------------------------------------------

/// Whether a task's state explains a lack of progress: it waits for tokens, for the operator,
/// for another instance's lease, or has nothing to do.
fn excuses_no_progress(heartbeat: &Heartbeat) -> bool {
    if !heartbeat.progress.has_work {
        return true;
    }
    matches!(
        &heartbeat.progress.state,
        TaskState::Waiting {
            reason: WaitReason::Tokens { .. }
                | WaitReason::Paused
                | WaitReason::NoWork
                | WaitReason::Lease
        }
    )
}

/// Task progress from the tasks' heartbeats.
///
/// A task whose last useful work is more than [`STALE_PROGRESS_MS`] old FAILs, unless it says
/// why it is not progressing (waiting for tokens, paused, no work, another instance's lease, or
/// no work known) *and* that report itself is no older than [`STALE_PROGRESS_MS`]: a process that
/// died while waiting for tokens stops reporting, and its old excuse does not count. A stalled
/// task that backs off after Keepa errors is sent to `api_errors` first: a restart does not fix a
/// refused key. A stopped
/// task WARNs; no heartbeat at all WARNs (the worker has never run, or its state was flushed or
/// lost with a Redis that restarted without persistence: it is written again at the next report).
pub fn check_task_progress(
    heartbeats: &Result<Vec<Heartbeat>, Unreadable>,
    now_ms: i64,
) -> CheckResult {
    let heartbeats = match heartbeats {
        Ok(heartbeats) => heartbeats,
        Err(unreadable) => return unreadable.check(names::TASK_PROGRESS),
    };
    if heartbeats.is_empty() {
        return CheckResult::new(
            names::TASK_PROGRESS,
            Status::Warn,
            "no task has reported progress: the worker has not run here, or its state was flushed or lost",
            Some(format!(
                "a running worker reports again at its next step: run `{}` again in a minute; \
                 if no worker runs, start it: `{} --database <path>`",
                commands::DIAG,
                commands::START_WORKER
            )),
        );
    }
    let mut worst = Status::Pass;
    let mut stalled_in_backoff = false;
    let mut parts = Vec::with_capacity(heartbeats.len());
    for heartbeat in heartbeats {
        let progress_age = now_ms.saturating_sub(heartbeat.progress.last_progress_at_ms);
        let report_age = now_ms.saturating_sub(heartbeat.reported_at_ms);
        let state = &heartbeat.progress.state;
        let (status, note) = if matches!(state, TaskState::Stopped) {
            (Status::Warn, "stopped".to_owned())
        } else if progress_age <= STALE_PROGRESS_MS {
            (
                Status::Pass,
                format!("{state}, progress {} ago", human_duration(progress_age)),
            )
        } else if excuses_no_progress(heartbeat) && report_age <= STALE_PROGRESS_MS {
            (
                Status::Pass,
                format!("{state}, no progress for {}", human_duration(progress_age)),
            )
        } else if report_age > STALE_PROGRESS_MS {
            (
                Status::Fail,
                format!(
                    "STALLED: no progress for {} and no report for {} (last: {state})",
                    human_duration(progress_age),
                    human_duration(report_age)
                ),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "STALLED: no progress for {} ({state})",
                    human_duration(progress_age)
                ),
            )
        };
        if status.severity() > worst.severity() {
            worst = status;
        }
        stalled_in_backoff |= status == Status::Fail
            && matches!(
                state,
                TaskState::Waiting {
                    reason: WaitReason::Backoff { .. }
                }
            );
        parts.push(format!("{}: {note}", heartbeat.task));
    }
    let detail = parts.join("; ");
    let remedy = match worst {
        // Keepa keeps failing: a restart does not fix a refused key or an outage.
        Status::Fail if stalled_in_backoff => Some(format!(
            "a task is stalled backing off after keepa errors: see api_errors first (a refused \
             key or an outage is not fixed by a restart), read the worker's log; `{}` gives the \
             watchdog's verdict",
            commands::WATCHDOG_DRY_RUN
        )),
        Status::Fail => Some(format!(
            "a task is stalled: run `{}` for the watchdog's verdict, read the worker's log, restart the worker",
            commands::WATCHDOG_DRY_RUN
        )),
        Status::Warn => Some(format!(
            "a task stopped: start the worker again (`{} --database <path>`) if it should run",
            commands::START_WORKER
        )),
        Status::Pass | Status::Unknown => None,
    };
    CheckResult::new(names::TASK_PROGRESS, worst, detail, remedy)
}

/// Whether any task says it has work (for the quota check's "wasted at the cap" rule).
pub fn any_task_has_work(heartbeats: &Result<Vec<Heartbeat>, Unreadable>) -> bool {
    heartbeats.as_ref().is_ok_and(|heartbeats| {
        heartbeats
            .iter()
            .any(|heartbeat| heartbeat.progress.has_work)
    })
}

// ---- Leases --------------------------------------------------------------------------------

/// What diagnostics saw of one lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseObservation {
    /// The lease's name.
    pub name: String,
    /// The holder instance, `hostname:pid:suffix`.
    pub holder: String,
    /// The holder's fencing number.
    pub fencing: u64,
    /// When it expires unless renewed (fleet clock, Unix ms).
    pub expires_at_ms: i64,
    /// Whether the holder ran on this host and its process is gone.
    pub holder_is_local_and_dead: bool,
}

/// Leases: WARN for a lease not yet expired whose holder is a dead local process (the work it
/// guards waits up to one TTL, or until flushed). An expired lease is free to take and passes.
pub fn check_leases(
    leases: &Result<Vec<LeaseObservation>, Unreadable>,
    now_ms: i64,
) -> CheckResult {
    let leases = match leases {
        Ok(leases) => leases,
        Err(unreadable) => return unreadable.check(names::LEASES),
    };
    if leases.is_empty() {
        return CheckResult::pass(names::LEASES, "no lease is held");
    }
    let mut dead = false;
    let parts: Vec<String> = leases
        .iter()
        .map(|lease| {
            let remaining = lease.expires_at_ms.saturating_sub(now_ms);
            if remaining <= 0 {
                format!(
                    "{}: expired {} ago, free",
                    lease.name,
                    human_duration(-remaining)
                )
            } else if lease.holder_is_local_and_dead {
                dead = true;
                format!(
                    "{}: held by DEAD {} (fencing {}), expires in {}",
                    lease.name,
                    lease.holder,
                    lease.fencing,
                    human_duration(remaining)
                )
            } else {
                format!(
                    "{}: held by {} (fencing {}), expires in {}",
                    lease.name,
                    lease.holder,
                    lease.fencing,
                    human_duration(remaining)
                )
            }
        })
        .collect();
    let detail = parts.join("; ");
    if dead {
        return CheckResult::new(
            names::LEASES,
            Status::Warn,
            detail,
            Some(format!(
                "a lease is held by a process that is gone: wait for its TTL, or run `{}`",
                commands::FLUSH_LEASES
            )),
        );
    }
    CheckResult::pass(names::LEASES, detail)
}

// ---- Store-derived checks ------------------------------------------------------------------

/// Backlog depth: below [`BACKLOG_WARN_AT`] PASS, below [`BACKLOG_FAIL_AT`] WARN, else FAIL.
pub fn check_backlog(depth: &Result<u64, Unreadable>) -> CheckResult {
    let depth = match depth {
        Ok(depth) => *depth,
        Err(unreadable) => return unreadable.check(names::BACKLOG),
    };
    let detail = format!("{depth} items waiting");
    if depth < BACKLOG_WARN_AT {
        CheckResult::pass(names::BACKLOG, detail)
    } else if depth < BACKLOG_FAIL_AT {
        CheckResult::new(
            names::BACKLOG,
            Status::Warn,
            detail,
            Some("the worker falls behind: see quota and task_progress".to_owned()),
        )
    } else {
        CheckResult::new(
            names::BACKLOG,
            Status::Fail,
            detail,
            Some(
                "the worker cannot keep up: see quota (a larger plan?) and task_progress, or \
                 narrow the deal query"
                    .to_owned(),
            ),
        )
    }
}

/// Stale deals: how many stored deals were not seen for more than 24 h. WARN when some are past
/// the janitor's 72 h (the janitor is not running) or when more than half of the stored deals
/// are stale (refresh does not keep up).
pub fn check_stale_deals(ages: &Result<AgeBuckets, Unreadable>) -> CheckResult {
    let ages = match ages {
        Ok(ages) => ages,
        Err(unreadable) => return unreadable.check(names::STALE_DEALS),
    };
    let stale = ages.from_24h_to_48h + ages.from_48h_to_72h + ages.over_72h;
    let total = stale + ages.under_1h + ages.from_1h_to_24h;
    let detail = format!(
        "{stale} of {total} deals not seen for > 24 h ({} for 48–72 h: rescue candidates, {} for > 72 h)",
        ages.from_48h_to_72h, ages.over_72h
    );
    if ages.over_72h > 0 {
        return CheckResult::new(
            names::STALE_DEALS,
            Status::Warn,
            detail,
            Some(
                "deals past 72 h should be gone: the janitor is not running; see task_progress"
                    .to_owned(),
            ),
        );
    }
    if stale.saturating_mul(2) > total {
        return CheckResult::new(
            names::STALE_DEALS,
            Status::Warn,
            detail,
            Some("refresh does not keep up: see quota and task_progress".to_owned()),
        );
    }
    CheckResult::pass(names::STALE_DEALS, detail)
}

/// The deal funnel's figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Funnel {
    /// Deals stored, valid or not.
    pub stored: u64,
    /// Deals the API shows (the validity gate).
    pub visible: u64,
    /// ASINs quarantined after repeated failures.
    pub quarantined: u64,
    /// Rejections by reason over the last 24 h, largest first.
    pub rejected_last_24h: Vec<(String, u64)>,
}

/// The deal funnel: stored, visible, quarantined, rejected by reason in the last 24 h. WARN when
/// deals are stored but none passes the validity gate.
pub fn check_deal_funnel(funnel: &Result<Funnel, Unreadable>) -> CheckResult {
    let funnel = match funnel {
        Ok(funnel) => funnel,
        Err(unreadable) => return unreadable.check(names::DEAL_FUNNEL),
    };
    let rejected: u64 = funnel
        .rejected_last_24h
        .iter()
        .map(|(_, count)| count)
        .sum();
    let mut detail = format!(
        "{} stored, {} visible, {} quarantined; {rejected} rejected in 24 h",
        funnel.stored, funnel.visible, funnel.quarantined
    );
    if rejected > 0 {
        let _ = write!(detail, " ({})", list_counts(&funnel.rejected_last_24h));
    }
    if funnel.stored > 0 && funnel.visible == 0 {
        return CheckResult::new(
            names::DEAL_FUNNEL,
            Status::Warn,
            detail,
            Some("no stored deal passes the validity gate: check the deal query and the cost settings".to_owned()),
        );
    }
    CheckResult::pass(names::DEAL_FUNNEL, detail)
}

/// Keepa API errors by kind over 24 h. FAIL when any says the key does not work
/// ([`KEY_ERROR_KINDS`]); WARN above [`API_ERRORS_WARN_AT`] errors in total.
pub fn check_api_errors(errors: &Result<Vec<(String, u64)>, Unreadable>) -> CheckResult {
    let errors = match errors {
        Ok(errors) => errors,
        Err(unreadable) => return unreadable.check(names::API_ERRORS),
    };
    let total: u64 = errors.iter().map(|(_, count)| count).sum();
    if total == 0 {
        return CheckResult::pass(names::API_ERRORS, "no keepa errors in 24 h");
    }
    let detail = format!("{total} keepa errors in 24 h: {}", list_counts(errors));
    if errors
        .iter()
        .any(|(kind, count)| *count > 0 && KEY_ERROR_KINDS.contains(&kind.as_str()))
    {
        return CheckResult::new(
            names::API_ERRORS,
            Status::Fail,
            detail,
            Some("keepa refused the key: check it (KEEPA_API_KEY or --keepa-key-file) and the subscription".to_owned()),
        );
    }
    if total > API_ERRORS_WARN_AT {
        return CheckResult::new(
            names::API_ERRORS,
            Status::Warn,
            detail,
            Some("many keepa errors: read the worker's log for the failing requests".to_owned()),
        );
    }
    CheckResult::pass(names::API_ERRORS, detail)
}

/// Per-client call rates. `rates` is `None` in the embedded tier (one process, nothing to
/// compare). With `expected` empty the rates are listed and pass; otherwise a client above its
/// expected calls per minute, or one not expected at all, WARNs.
pub fn check_call_rates(
    rates: &Result<Option<Vec<(String, f64)>>, Unreadable>,
    expected: &BTreeMap<String, f64>,
) -> CheckResult {
    let rates = match rates {
        Ok(Some(rates)) => rates,
        Ok(None) => {
            return CheckResult::pass(
                names::CALL_RATES,
                "embedded tier: one process spends the key; per-client rates are kept in redis only",
            );
        }
        Err(unreadable) => return unreadable.check(names::CALL_RATES),
    };
    if rates.is_empty() {
        return CheckResult::pass(names::CALL_RATES, "no keepa calls recorded in the window");
    }
    let listed = rates
        .iter()
        .map(|(client, rate)| format!("{client} {rate:.1}/min"))
        .collect::<Vec<_>>()
        .join(", ");
    if expected.is_empty() {
        return CheckResult::pass(
            names::CALL_RATES,
            format!("{listed} (no expectations configured)"),
        );
    }
    let alerts: Vec<String> = rates
        .iter()
        .filter_map(|(client, rate)| match expected.get(client) {
            Some(limit) if rate > limit => {
                Some(format!("{client} above its expected {limit:.1}/min"))
            }
            Some(_) => None,
            None => Some(format!("{client} is not an expected client")),
        })
        .collect();
    if alerts.is_empty() {
        return CheckResult::pass(names::CALL_RATES, listed);
    }
    CheckResult::new(
        names::CALL_RATES,
        Status::Warn,
        format!("{listed}; {}", alerts.join("; ")),
        Some("a client calls more than expected: find the program (the phantom trap) and stop it or raise its expectation (--expect-client)".to_owned()),
    )
}

/// What the database check looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFacts {
    /// `PRAGMA integrity_check`'s lines (`["ok"]` when sound).
    pub integrity: Vec<String>,
    /// The database file plus its WAL, in bytes.
    pub size_bytes: u64,
}

/// Database integrity and size: FAIL when `PRAGMA integrity_check` reports problems.
///
/// A database that cannot be read is UNKNOWN with the reason and remedy gathering found, except
/// one that is missing (`file_missing`) while a process holds its instance lock: that worker
/// still runs on a file someone deleted, and everything it stores vanishes when it stops, so it
/// FAILs with a remedy that says how to save the data first.
pub fn check_database(
    facts: &Result<DatabaseFacts, Unreadable>,
    file_missing: bool,
    instance_lock: &Result<Option<Option<u32>>, Unreadable>,
) -> CheckResult {
    let facts = match (facts, file_missing, instance_lock) {
        (Ok(facts), _, _) => facts,
        (Err(unreadable), true, Ok(Some(pid))) => {
            let (holder, find_pid, pid) = match pid {
                Some(pid) => (format!("worker pid {pid}"), String::new(), pid.to_string()),
                None => (
                    "a worker".to_owned(),
                    "find its pid with `fuser -v <database>.lock`, ".to_owned(),
                    "<pid>".to_owned(),
                ),
            };
            return CheckResult::new(
                names::DATABASE,
                Status::Fail,
                format!(
                    "{}, yet {holder} holds its instance lock: the worker runs on a deleted file, \
                     and what it stores is lost when it stops",
                    unreadable.reason
                ),
                Some(format!(
                    "do not stop or restart the worker yet: {find_pid}freeze it (`kill -STOP \
                     {pid}`), copy the file it still has open back into place (`cp \
                     /proc/{pid}/fd/N <database>`, N being the entry `ls -l /proc/{pid}/fd` \
                     marks \"(deleted)\"), then `kill -KILL {pid}` and start the worker again \
                     (docs/operations.md, \"The database file was deleted\")"
                )),
            );
        }
        (Err(unreadable), _, _) => return unreadable.check(names::DATABASE),
    };
    let size = human_bytes(facts.size_bytes);
    if facts.integrity.len() == 1 && facts.integrity[0].eq_ignore_ascii_case("ok") {
        return CheckResult::pass(names::DATABASE, format!("integrity ok, {size}"));
    }
    let first = facts.integrity.first().map_or("no answer", String::as_str);
    CheckResult::new(
        names::DATABASE,
        Status::Fail,
        format!(
            "integrity check found {} problem(s), first: {first}; {size}",
            facts.integrity.len().max(1)
        ),
        Some(
            "stop the worker and restore the database from a backup (deal-store backup_database)"
                .to_owned(),
        ),
    )
}

/// The stored discovery watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkFacts {
    /// The watermark (the newest `lastUpdate` discovery has passed), Unix ms.
    pub watermark_ms: i64,
    /// When discovery last wrote it, Unix ms.
    pub updated_at_ms: i64,
}

/// Watermark lag: how far the discovery watermark is behind `now`. PASS up to
/// [`WATERMARK_WARN_LAG_MS`], WARN up to [`WATERMARK_FAIL_LAG_MS`], FAIL beyond; WARN for a
/// watermark more than [`WATERMARK_FUTURE_TOLERANCE_MS`] in the future (clamped on use). No
/// watermark yet passes: discovery starts 24 h back.
pub fn check_watermark(
    watermark: &Result<Option<WatermarkFacts>, Unreadable>,
    now_ms: i64,
) -> CheckResult {
    let facts = match watermark {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            return CheckResult::pass(
                names::WATERMARK,
                "no watermark yet: the first discovery pass starts 24 h back",
            );
        }
        Err(unreadable) => return unreadable.check(names::WATERMARK),
    };
    let lag = now_ms.saturating_sub(facts.watermark_ms);
    let written = human_duration(now_ms.saturating_sub(facts.updated_at_ms));
    if lag < -WATERMARK_FUTURE_TOLERANCE_MS {
        return CheckResult::new(
            names::WATERMARK,
            Status::Warn,
            format!(
                "watermark lies {} in the future (written {written} ago): discovery clamps it to now",
                human_duration(-lag)
            ),
            Some("check this host's clock".to_owned()),
        );
    }
    let detail = format!("lag {} (written {written} ago)", human_duration(lag));
    let remedy = || {
        Some(format!(
            "discovery is behind: see task_progress and quota; run `{}`",
            commands::WATCHDOG_DRY_RUN
        ))
    };
    if lag > WATERMARK_FAIL_LAG_MS {
        CheckResult::new(names::WATERMARK, Status::Fail, detail, remedy())
    } else if lag > WATERMARK_WARN_LAG_MS {
        CheckResult::new(names::WATERMARK, Status::Warn, detail, remedy())
    } else {
        CheckResult::pass(names::WATERMARK, detail)
    }
}

/// The watchdog's incidents, newest first: WARN when one is younger than [`RECENT_INCIDENT_MS`].
pub fn check_incidents(incidents: &Result<Vec<Incident>, Unreadable>, now_ms: i64) -> CheckResult {
    let incidents = match incidents {
        Ok(incidents) => incidents,
        Err(unreadable) => return unreadable.check(names::INCIDENTS),
    };
    let recent: Vec<&Incident> = incidents
        .iter()
        .filter(|incident| now_ms.saturating_sub(incident.at_ms) <= RECENT_INCIDENT_MS)
        .collect();
    let Some(newest) = recent.iter().max_by_key(|incident| incident.at_ms) else {
        return CheckResult::pass(
            names::INCIDENTS,
            format!("no incident in 24 h ({} older kept)", incidents.len()),
        );
    };
    CheckResult::new(
        names::INCIDENTS,
        Status::Warn,
        format!(
            "{} incident(s) in 24 h; newest {} ago: {}: {}",
            recent.len(),
            human_duration(now_ms.saturating_sub(newest.at_ms)),
            newest.kind,
            newest.detail
        ),
        Some(format!(
            "the watchdog acted recently: read the worker's log around then; run `{}` for its current verdict",
            commands::WATCHDOG_DRY_RUN
        )),
    )
}

/// The operator's pause flag: WARN while it is set (nothing sets it automatically).
pub fn check_pause(pause: &Result<Option<PauseFlag>, Unreadable>, now_ms: i64) -> CheckResult {
    match pause {
        Ok(None) => CheckResult::pass(names::PAUSE, "not paused"),
        Ok(Some(flag)) => CheckResult::new(
            names::PAUSE,
            Status::Warn,
            format!(
                "paused by {} {} ago: {}",
                flag.by,
                human_duration(now_ms.saturating_sub(flag.at_ms)),
                flag.reason
            ),
            Some(format!(
                "when the reason is resolved, run `{}`",
                commands::CLEAR_PAUSE
            )),
        ),
        Err(unreadable) => unreadable.check(names::PAUSE),
    }
}

/// Which tier diagnostics looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// One worker per database, no Redis.
    Embedded,
    /// Redis holds the bucket and fleet state.
    Fleet,
}

/// The embedded tier's instance lock: `Some(pid)` while a worker holds it (`Some(None)`: a
/// holder that wrote no pid), `None` when free. Free WARNs in the embedded tier (no worker runs
/// on this database); in the fleet tier it is only reported.
pub fn check_instance_lock(
    holder: &Result<Option<Option<u32>>, Unreadable>,
    tier: Tier,
) -> CheckResult {
    match (holder, tier) {
        (Err(unreadable), _) => unreadable.check(names::INSTANCE_LOCK),
        (Ok(Some(Some(pid))), _) => {
            CheckResult::pass(names::INSTANCE_LOCK, format!("held by worker pid {pid}"))
        }
        (Ok(Some(None)), _) => {
            CheckResult::pass(names::INSTANCE_LOCK, "held by a worker that wrote no pid")
        }
        (Ok(None), Tier::Fleet) => CheckResult::pass(
            names::INSTANCE_LOCK,
            "free (fleet tier: workers coordinate through redis)",
        ),
        (Ok(None), Tier::Embedded) => CheckResult::new(
            names::INSTANCE_LOCK,
            Status::Warn,
            "free: no worker runs on this database",
            Some(format!(
                "start the worker: `{} --database <path>`",
                commands::START_WORKER
            )),
        ),
    }
}
