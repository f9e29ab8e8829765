//! The watchdog's stall rule (DESIGN.md §9) as one pure function, [`decide`]: "a task has made
//! no progress for 15 min while it has work and the quota is not the reason", and "never more
//! than one restart per 30 min".
//!
//! It reads no clock, no database and no Redis: the caller hands it the heartbeats, the last
//! quota observation, the instant of the last restart (read back from the incidents) and `now`,
//! so every branch is a unit test. Acting on the decision is [`crate::watchdog`]'s job.

use std::fmt;

use diagnostics::QuotaRecord;
use diagnostics::checks::human_duration;
use fleet::{Heartbeat, Incident, TaskState, WaitReason};

/// No progress for longer than this (15 min) while having work is a stall; the same bound as
/// diag's task-progress check, so the two never disagree.
pub const STALL_AFTER_MS: i64 = diagnostics::checks::STALE_PROGRESS_MS;

/// At most one restart per this long (30 min), counted from the last restart attempt.
pub const RESTART_COOLDOWN_MS: i64 = 30 * 60 * 1000;

/// The incident kinds the watchdog records, stable for diag and for reading back the last
/// restart.
pub mod incident_kinds {
    /// A stall was found and the restart action succeeded.
    pub const RESTART: &str = "watchdog-restart";
    /// A stall was found and the restart action failed (it still counts for the cooldown).
    pub const RESTART_FAILED: &str = "watchdog-restart-failed";
    /// A stall was found within the cooldown of the last restart: nothing was done.
    pub const STALL_COOLDOWN: &str = "watchdog-stall-cooldown";
}

/// When the last restart was attempted, from the incidents (any order): the newest
/// [`incident_kinds::RESTART`] or [`incident_kinds::RESTART_FAILED`].
pub fn last_restart_at_ms(incidents: &[Incident]) -> Option<i64> {
    incidents
        .iter()
        .filter(|incident| {
            incident.kind == incident_kinds::RESTART
                || incident.kind == incident_kinds::RESTART_FAILED
        })
        .map(|incident| incident.at_ms)
        .max()
}

/// The balance the quota `record` projects at `now_ms`: its `tokens_left` plus the refills due
/// since (one at `observed_at + refill_in`, then one a minute), capped at the bucket's cap.
/// `None` when the record carries no token information (`refill_rate` 0).
///
/// ```
/// let record = diagnostics::QuotaRecord {
///     tokens_left: -20, refill_rate: 5, refill_in_ms: 10_000,
///     observed_at_ms: 0, foreign_consumption: 0,
/// };
/// assert_eq!(operations::stall::projected_balance(&record, 5_000), Some(-20));
/// assert_eq!(operations::stall::projected_balance(&record, 10_000), Some(-15));
/// assert_eq!(operations::stall::projected_balance(&record, 70_000), Some(-10));
/// assert_eq!(operations::stall::projected_balance(&record, 86_400_000), Some(300));
/// ```
pub fn projected_balance(record: &QuotaRecord, now_ms: i64) -> Option<i64> {
    if record.refill_rate <= 0 {
        return None;
    }
    let first_refill_at = record
        .observed_at_ms
        .saturating_add(record.refill_in_ms.max(0));
    let refills = if now_ms < first_refill_at {
        0
    } else {
        1 + (now_ms - first_refill_at) / 60_000
    };
    let projected = record
        .tokens_left
        .saturating_add(refills.saturating_mul(record.refill_rate));
    Some(projected.min(record.cap().max(record.tokens_left)))
}

/// How one task looks to the stall rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskJudgement {
    /// It made progress within [`STALL_AFTER_MS`].
    Progressing,
    /// It has not progressed for longer, but for a reason that is not a stall.
    Excused {
        /// The reason, for a person.
        why: String,
    },
    /// A stall: no progress for `no_progress_ms` while it has work, and the quota is not why.
    Stalled {
        /// How long since its last progress.
        no_progress_ms: i64,
    },
}

/// Judges one task (pure). `projected_balance`: the quota's projected balance now, when known.
///
/// Excuses, in order: a stopped task; no work; waiting for tokens (while that report is fresh,
/// or the wait it announced has not ended by more than [`STALL_AFTER_MS`]); waiting for the
/// operator's pause, another instance's lease, or no new work (while that report is fresh); a
/// quota projected at or below zero (the worker blocks on the bucket inside a request and may
/// still say "working"). A task that stopped reporting altogether gets no excuse from its last
/// report: a process that died while waiting is stalled, not waiting.
pub fn judge_task(
    heartbeat: &Heartbeat,
    projected_balance: Option<i64>,
    now_ms: i64,
) -> TaskJudgement {
    let progress = &heartbeat.progress;
    let no_progress_ms = now_ms.saturating_sub(progress.last_progress_at_ms);
    let report_age_ms = now_ms.saturating_sub(heartbeat.reported_at_ms);
    let report_is_fresh = report_age_ms <= STALL_AFTER_MS;
    if matches!(progress.state, TaskState::Stopped) {
        return excused("stopped");
    }
    if no_progress_ms <= STALL_AFTER_MS {
        return TaskJudgement::Progressing;
    }
    if !progress.has_work {
        return excused("no work to do");
    }
    if let TaskState::Waiting { reason } = &progress.state {
        match reason {
            WaitReason::Tokens { until_ms }
                if report_is_fresh || now_ms.saturating_sub(*until_ms) <= STALL_AFTER_MS =>
            {
                return excused(&progress.state.to_string());
            }
            WaitReason::Paused | WaitReason::Lease | WaitReason::NoWork if report_is_fresh => {
                return excused(&progress.state.to_string());
            }
            _ => {}
        }
    }
    if let Some(balance) = projected_balance
        && balance <= 0
    {
        return excused(&format!(
            "the quota is the reason: projected balance {balance} tokens"
        ));
    }
    TaskJudgement::Stalled { no_progress_ms }
}

fn excused(why: &str) -> TaskJudgement {
    TaskJudgement::Excused {
        why: why.to_owned(),
    }
}

/// A stalled task, for the decision and the incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StalledTask {
    /// The task's name.
    pub task: String,
    /// The instance that last reported it.
    pub instance: String,
    /// How long since its last progress.
    pub no_progress_ms: i64,
    /// What it last said it was doing.
    pub last_state: String,
}

impl fmt::Display for StalledTask {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} on {}: no progress for {} ({})",
            self.task,
            self.instance,
            human_duration(self.no_progress_ms),
            self.last_state
        )
    }
}

/// What the watchdog should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No task has ever reported: nothing to judge (the worker never ran here, or its state was
    /// flushed).
    NoHeartbeats,
    /// No task is stalled.
    Healthy {
        /// One note per task: `discovery: progressing`, `analysis: excused (…)`.
        notes: Vec<String>,
    },
    /// Tasks are stalled and no restart happened within [`RESTART_COOLDOWN_MS`]: restart.
    Restart {
        /// The stalled tasks.
        stalled: Vec<StalledTask>,
    },
    /// Tasks are stalled, but the last restart was less than [`RESTART_COOLDOWN_MS`] ago: do
    /// nothing now.
    CoolingDown {
        /// The stalled tasks.
        stalled: Vec<StalledTask>,
        /// When the last restart was attempted.
        last_restart_at_ms: i64,
        /// When the next restart will be allowed.
        next_restart_at_ms: i64,
    },
}

impl Decision {
    /// The Nagios exit code of what was found: 0 healthy, 1 nothing to judge, 2 stalled
    /// (whether or not a restart follows).
    pub fn exit_code(&self) -> i32 {
        match self {
            Decision::Healthy { .. } => diagnostics::exit_code::OK,
            Decision::NoHeartbeats => diagnostics::exit_code::WARNING,
            Decision::Restart { .. } | Decision::CoolingDown { .. } => {
                diagnostics::exit_code::CRITICAL
            }
        }
    }

    /// The stalled tasks, if any.
    pub fn stalled(&self) -> &[StalledTask] {
        match self {
            Decision::Restart { stalled } | Decision::CoolingDown { stalled, .. } => stalled,
            Decision::NoHeartbeats | Decision::Healthy { .. } => &[],
        }
    }
}

/// The stall rule over every task (pure).
///
/// `quota` is the last quota observation (Redis bucket or stored envelope), `last_restart_at_ms`
/// the last restart attempt (see [`last_restart_at_ms`]).
pub fn decide(
    heartbeats: &[Heartbeat],
    quota: Option<&QuotaRecord>,
    last_restart_at_ms: Option<i64>,
    now_ms: i64,
) -> Decision {
    if heartbeats.is_empty() {
        return Decision::NoHeartbeats;
    }
    let balance = quota.and_then(|record| projected_balance(record, now_ms));
    let mut stalled = Vec::new();
    let mut notes = Vec::new();
    for heartbeat in heartbeats {
        match judge_task(heartbeat, balance, now_ms) {
            TaskJudgement::Progressing => notes.push(format!(
                "{}: progress {} ago",
                heartbeat.task,
                human_duration(now_ms.saturating_sub(heartbeat.progress.last_progress_at_ms))
            )),
            TaskJudgement::Excused { why } => {
                notes.push(format!("{}: not a stall ({why})", heartbeat.task));
            }
            TaskJudgement::Stalled { no_progress_ms } => stalled.push(StalledTask {
                task: heartbeat.task.clone(),
                instance: heartbeat.progress.instance.to_string(),
                no_progress_ms,
                last_state: heartbeat.progress.state.to_string(),
            }),
        }
    }
    if stalled.is_empty() {
        return Decision::Healthy { notes };
    }
    match last_restart_at_ms {
        Some(last) if now_ms.saturating_sub(last) < RESTART_COOLDOWN_MS => Decision::CoolingDown {
            stalled,
            last_restart_at_ms: last,
            next_restart_at_ms: last.saturating_add(RESTART_COOLDOWN_MS),
        },
        _ => Decision::Restart { stalled },
    }
}

#[cfg(test)]
mod tests {
    use fleet::{InstanceId, Progress};

    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const MINUTE: i64 = 60_000;

    fn heartbeat(
        task: &str,
        progress_minutes_ago: i64,
        reported_minutes_ago: i64,
        state: TaskState,
        has_work: bool,
    ) -> Heartbeat {
        let progress = Progress::new(
            InstanceId::new("host", 4242),
            NOW - progress_minutes_ago * MINUTE,
            state,
            has_work,
        );
        serde_json::from_value(serde_json::json!({
            "task": task,
            "progress": progress,
            "reported_at_ms": NOW - reported_minutes_ago * MINUTE,
        }))
        .unwrap()
    }

    fn working() -> TaskState {
        TaskState::Working {
            what: "analysing 12 deals".to_owned(),
        }
    }

    fn waiting(reason: WaitReason) -> TaskState {
        TaskState::Waiting { reason }
    }

    fn quota(tokens_left: i64, minutes_ago: i64) -> QuotaRecord {
        QuotaRecord {
            tokens_left,
            refill_rate: 5,
            refill_in_ms: 30_000,
            observed_at_ms: NOW - minutes_ago * MINUTE,
            foreign_consumption: 0,
        }
    }

    #[track_caller]
    fn check(heartbeats: &[Heartbeat], quota: Option<QuotaRecord>, expected_exit: i32) -> Decision {
        let decision = decide(heartbeats, quota.as_ref(), None, NOW);
        assert_eq!(decision.exit_code(), expected_exit, "{decision:?}");
        decision
    }

    #[test]
    fn no_heartbeats_is_nothing_to_judge() {
        assert_eq!(check(&[], None, 1), Decision::NoHeartbeats);
    }

    #[test]
    fn fourteen_fifty_nine_is_not_a_stall_and_fifteen_oh_one_is() {
        let mut fresh = heartbeat("analysis", 0, 0, working(), true);
        fresh.progress.last_progress_at_ms = NOW - (15 * MINUTE - 1_000);
        check(&[fresh.clone()], None, 0);
        fresh.progress.last_progress_at_ms = NOW - 15 * MINUTE;
        check(&[fresh.clone()], None, 0);
        fresh.progress.last_progress_at_ms = NOW - (15 * MINUTE + 1_000);
        let decision = check(&[fresh], None, 2);
        assert!(matches!(decision, Decision::Restart { .. }), "{decision:?}");
    }

    #[test]
    fn waiting_for_tokens_is_not_a_stall() {
        let tokens = waiting(WaitReason::Tokens {
            until_ms: NOW + 5 * MINUTE,
        });
        check(
            &[heartbeat("analysis", 40, 1, tokens.clone(), true)],
            None,
            0,
        );
        // The announced wait has not ended, even though the report is old.
        check(&[heartbeat("analysis", 40, 20, tokens, true)], None, 0);
    }

    #[test]
    fn a_process_that_died_waiting_for_tokens_long_ago_is_stalled() {
        let tokens = waiting(WaitReason::Tokens {
            until_ms: NOW - 30 * MINUTE,
        });
        check(&[heartbeat("analysis", 40, 35, tokens, true)], None, 2);
    }

    #[test]
    fn a_quota_projected_at_or_below_zero_is_the_reason() {
        let stuck = heartbeat("discovery", 20, 20, working(), true);
        // -100 five minutes ago at 5/min: still about -75 now.
        check(std::slice::from_ref(&stuck), Some(quota(-100, 5)), 0);
        // -10 an hour ago has long refilled: the quota is not the reason.
        check(std::slice::from_ref(&stuck), Some(quota(-10, 60)), 2);
        // Tokens near the cap (the replaced watchdog's trigger) are no excuse either.
        check(&[stuck], Some(quota(290, 1)), 2);
    }

    #[test]
    fn no_work_stopped_paused_and_lease_waits_are_not_stalls_while_reported() {
        check(&[heartbeat("analysis", 60, 60, working(), false)], None, 0);
        check(
            &[heartbeat("analysis", 60, 60, TaskState::Stopped, true)],
            None,
            0,
        );
        for reason in [WaitReason::Paused, WaitReason::Lease, WaitReason::NoWork] {
            check(
                &[heartbeat("discovery", 60, 1, waiting(reason.clone()), true)],
                None,
                0,
            );
            check(
                &[heartbeat("discovery", 60, 16, waiting(reason), true)],
                None,
                2,
            );
        }
    }

    #[test]
    fn backing_off_for_sixteen_minutes_with_work_is_a_stall() {
        let backoff = waiting(WaitReason::Backoff {
            until_ms: NOW + MINUTE,
        });
        check(&[heartbeat("discovery", 16, 0, backoff, true)], None, 2);
    }

    #[test]
    fn one_stalled_task_among_healthy_ones_is_named() {
        let decision = check(
            &[
                heartbeat("analysis", 1, 1, working(), true),
                heartbeat("refresh", 16, 16, working(), true),
            ],
            None,
            2,
        );
        let stalled = decision.stalled();
        assert_eq!(stalled.len(), 1);
        assert_eq!(stalled[0].task, "refresh");
        assert_eq!(stalled[0].no_progress_ms, 16 * MINUTE);
        assert!(stalled[0].to_string().contains("no progress for 16 min"));
    }

    #[test]
    fn the_restart_cooldown_is_thirty_minutes_from_the_last_attempt() {
        let stuck = [heartbeat("refresh", 40, 40, working(), true)];
        let at = |minutes_ago: i64| decide(&stuck, None, Some(NOW - minutes_ago * MINUTE), NOW);
        assert!(matches!(at(29), Decision::CoolingDown { .. }));
        assert!(matches!(at(30), Decision::Restart { .. }));
        assert!(matches!(at(31), Decision::Restart { .. }));
        let Decision::CoolingDown {
            next_restart_at_ms, ..
        } = at(10)
        else {
            panic!("cooling down");
        };
        assert_eq!(next_restart_at_ms, NOW + 20 * MINUTE);
    }

    #[test]
    fn the_last_restart_is_read_from_restart_incidents_only() {
        let incidents = [
            Incident::new(NOW - 5 * MINUTE, incident_kinds::STALL_COOLDOWN, "cooling"),
            Incident::new(NOW - 20 * MINUTE, incident_kinds::RESTART_FAILED, "failed"),
            Incident::new(NOW - 50 * MINUTE, incident_kinds::RESTART, "restarted"),
        ];
        assert_eq!(last_restart_at_ms(&incidents), Some(NOW - 20 * MINUTE));
        assert_eq!(last_restart_at_ms(&incidents[..1]), None);
    }

    #[test]
    fn a_projection_without_token_information_excuses_nothing() {
        let mut record = quota(-50, 1);
        record.refill_rate = 0;
        assert_eq!(projected_balance(&record, NOW), None);
        check(
            &[heartbeat("discovery", 20, 20, working(), true)],
            Some(record),
            2,
        );
    }
}
