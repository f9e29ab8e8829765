//! The watchdog's run: read the heartbeats, the quota and the incidents, apply the stall rule
//! ([`crate::stall::decide`]), act on a stall (the configured restart command, or SIGTERM then
//! SIGKILL to the holder of the database's instance lock), and record what was found and done
//! as an incident that diag shows.
//!
//! One run is one decision: it never loops and never waits beyond the signal grace period; cron
//! runs it again. A dry run reads and decides but neither acts nor records.

use std::time::Duration;

use diagnostics::checks::human_duration;
use fleet::{Incident, UtcTimeOfDay};

use crate::error::{Error, Result};
use crate::process;
use crate::stall::{self, Decision, incident_kinds};
use crate::target::{self, Target};

/// The default time between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// How a stalled worker is restarted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartAction {
    /// Run this through `sh -c` (e.g. `systemctl restart keepa-deals-worker`); exit 0 is success.
    Command(String),
    /// SIGTERM the process holding the database's instance lock, SIGKILL it if it is still alive
    /// after `grace`. Something else (a supervisor) must start it again.
    SignalLockHolder {
        /// Time between SIGTERM and SIGKILL.
        grace: Duration,
    },
}

/// A validated watchdog configuration.
#[derive(Clone, Debug)]
pub struct WatchdogConfig {
    target: Target,
    action: RestartAction,
    dry_run: bool,
}

/// Why a watchdog configuration cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Fleet workers hold no OS lock, so there is no process the watchdog may safely signal.
    #[error(
        "in the fleet tier (--redis-url) the watchdog needs --restart-cmd: fleet workers hold no \
         instance lock, so there is no process it can safely signal"
    )]
    FleetNeedsRestartCommand,
    /// Signalling the lock holder needs the database whose lock it is.
    #[error("signalling the lock holder needs --database (or give --restart-cmd)")]
    NoDatabaseToSignal,
    /// An empty restart command.
    #[error("--restart-cmd is empty")]
    EmptyRestartCommand,
}

impl WatchdogConfig {
    /// Validates the combination: the fleet tier needs a restart command unless `dry_run`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a combination that cannot act.
    pub fn new(
        target: Target,
        action: RestartAction,
        dry_run: bool,
    ) -> Result<WatchdogConfig, ConfigError> {
        match &action {
            RestartAction::Command(command) if command.trim().is_empty() => {
                return Err(ConfigError::EmptyRestartCommand);
            }
            RestartAction::SignalLockHolder { .. } if !dry_run => {
                if target.redis.is_some() {
                    return Err(ConfigError::FleetNeedsRestartCommand);
                }
                if target.database.is_none() {
                    return Err(ConfigError::NoDatabaseToSignal);
                }
            }
            _ => {}
        }
        Ok(WatchdogConfig {
            target,
            action,
            dry_run,
        })
    }
}

/// What a restart attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartReport {
    /// Whether it worked.
    pub succeeded: bool,
    /// One line for a person and for the incident.
    pub detail: String,
}

/// What one watchdog run found and did.
#[derive(Clone, Debug)]
pub struct WatchdogOutcome {
    /// The stall rule's decision.
    pub decision: Decision,
    /// The restart attempt, when one was made.
    pub restart: Option<RestartReport>,
    /// The incident recorded, when one was.
    pub incident: Option<Incident>,
    /// The log: a status line, then one line per task or event.
    pub lines: Vec<String>,
    /// The Nagios exit code.
    pub exit_code: i32,
}

/// One watchdog run. `system_now_ms` is now on this host's clock (the embedded tier's
/// heartbeats are stamped with it; the fleet tier reads Redis `TIME` instead).
///
/// # Errors
///
/// When the state cannot be read (the binary exits UNKNOWN).
pub async fn run(config: &WatchdogConfig, system_now_ms: i64) -> Result<WatchdogOutcome> {
    let state = target::read_watch_state(&config.target, system_now_ms).await?;
    let now_ms = state.now_ms;
    let last_restart = stall::last_restart_at_ms(&state.incidents);
    let decision = stall::decide(
        &state.heartbeats,
        state.quota.as_ref(),
        last_restart,
        now_ms,
    );
    let mut lines = Vec::new();
    let mut restart = None;
    let mut incident = None;
    match &decision {
        Decision::NoHeartbeats => lines.push(
            "watchdog: WARNING: no task has reported progress (the worker has not run here, or \
             its state was flushed); nothing to judge"
                .to_owned(),
        ),
        Decision::Healthy { notes } => {
            lines.push("watchdog: OK: no task is stalled".to_owned());
            lines.extend(notes.iter().map(|note| format!("  {note}")));
        }
        Decision::CoolingDown {
            stalled,
            last_restart_at_ms,
            next_restart_at_ms,
        } => {
            let stalled_text = join(stalled);
            let why = format!(
                "not restarting: the last restart was {} ago; the next is allowed at {}",
                human_duration(now_ms.saturating_sub(*last_restart_at_ms)),
                UtcTimeOfDay(*next_restart_at_ms)
            );
            lines.push(format!(
                "watchdog: CRITICAL: stalled: {stalled_text}; {why}"
            ));
            if !config.dry_run {
                incident = Some(Incident::new(
                    now_ms,
                    incident_kinds::STALL_COOLDOWN,
                    &format!("stalled: {stalled_text}; {why}"),
                ));
            }
        }
        Decision::Restart { stalled } => {
            let stalled_text = join(stalled);
            if config.dry_run {
                lines.push(format!(
                    "watchdog: CRITICAL: stalled: {stalled_text}; dry run: would {}",
                    describe(&config.action)
                ));
            } else {
                let report = restart_worker(&config.target, &config.action);
                let (kind, verb) = if report.succeeded {
                    (incident_kinds::RESTART, "restarted")
                } else {
                    (incident_kinds::RESTART_FAILED, "restart FAILED")
                };
                lines.push(format!(
                    "watchdog: CRITICAL: stalled: {stalled_text}; {verb}: {}",
                    report.detail
                ));
                incident = Some(Incident::new(
                    now_ms,
                    kind,
                    &format!("stalled: {stalled_text}; {verb}: {}", report.detail),
                ));
                restart = Some(report);
            }
        }
    }
    if let Some(incident) = &incident
        && let Err(error) = target::record_incident(&config.target, incident.clone()).await
    {
        lines.push(format!(
            "watchdog: could not record the incident ({error}); the 30 min restart limit cannot \
             see this run"
        ));
    }
    Ok(WatchdogOutcome {
        exit_code: decision.exit_code(),
        decision,
        restart,
        incident,
        lines,
    })
}

fn join(stalled: &[stall::StalledTask]) -> String {
    stalled
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe(action: &RestartAction) -> String {
    match action {
        RestartAction::Command(command) => format!("run the restart command `{command}`"),
        RestartAction::SignalLockHolder { grace } => format!(
            "send SIGTERM to the holder of the instance lock, SIGKILL after {} s",
            grace.as_secs()
        ),
    }
}

fn restart_worker(target: &Target, action: &RestartAction) -> RestartReport {
    match action {
        RestartAction::Command(command) => match process::run_shell(command) {
            Ok(outcome) => {
                let code = outcome.exit_code.map_or_else(
                    || "killed by a signal".to_owned(),
                    |code| format!("exit {code}"),
                );
                let said = if outcome.last_line.is_empty() {
                    String::new()
                } else {
                    format!(": {}", outcome.last_line)
                };
                RestartReport {
                    succeeded: outcome.succeeded(),
                    detail: format!("ran `{command}` ({code}{said})"),
                }
            }
            Err(error) => RestartReport {
                succeeded: false,
                detail: format!("cannot run `{command}` through sh -c: {error}"),
            },
        },
        RestartAction::SignalLockHolder { grace } => signal_lock_holder(target, *grace),
    }
}

fn signal_lock_holder(target: &Target, grace: Duration) -> RestartReport {
    let failed = |detail: String| RestartReport {
        succeeded: false,
        detail,
    };
    let Some(database) = target.database.as_deref() else {
        return failed(Error::NoDatabase.to_string());
    };
    match pipeline::lock::InstanceLock::holder(database) {
        Ok(Some(Some(pid))) => match process::terminate(pid, grace) {
            Ok(process::Termination::Stopped) => RestartReport {
                succeeded: true,
                detail: format!(
                    "sent SIGTERM to worker pid {pid}, which stopped; its supervisor starts it again"
                ),
            },
            Ok(process::Termination::Killed) => RestartReport {
                succeeded: true,
                detail: format!(
                    "worker pid {pid} ignored SIGTERM for {} s and was killed with SIGKILL; its \
                     supervisor starts it again",
                    grace.as_secs()
                ),
            },
            Err(reason) => failed(reason),
        },
        Ok(Some(None)) => failed(format!(
            "a process holds the lock of {} but wrote no pid; stop it by hand",
            database.display()
        )),
        Ok(None) => failed(format!(
            "no worker holds the lock of {}: nothing to signal; start the worker",
            database.display()
        )),
        Err(error) => failed(error.to_string()),
    }
}
