//! Shared builders: heartbeats, quota records, probes that count their calls, fake locks.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use diagnostics::{LockInspector, ProbeError, QuotaRecord, TokenProbe};
use fleet::{Heartbeat, InstanceId, Progress, TaskState, WaitReason};

/// A fixed "now": 2026-05-10, Unix ms.
pub(crate) const NOW_MS: i64 = 1_778_400_000_000;
pub(crate) const MINUTE_MS: i64 = 60_000;

/// A heartbeat of `task` whose last progress and last report are the given ages before `NOW_MS`.
pub(crate) fn heartbeat(
    task: &str,
    progress_age_ms: i64,
    report_age_ms: i64,
    state: TaskState,
    has_work: bool,
) -> Heartbeat {
    let progress = Progress::new(
        InstanceId::new("test-host", 42),
        NOW_MS - progress_age_ms,
        state,
        has_work,
    );
    // `Heartbeat` is non-exhaustive: build it the way the store hands it over, from JSON.
    serde_json::from_value(serde_json::json!({
        "task": task,
        "progress": progress,
        "reported_at_ms": NOW_MS - report_age_ms,
    }))
    .expect("a heartbeat")
}

pub(crate) fn working() -> TaskState {
    TaskState::Working {
        what: "analysing 12 deals".to_owned(),
    }
}

pub(crate) fn waiting(reason: WaitReason) -> TaskState {
    TaskState::Waiting { reason }
}

pub(crate) fn quota(tokens_left: i64, refill_rate: i64, observed_age_ms: i64) -> QuotaRecord {
    QuotaRecord {
        tokens_left,
        refill_rate,
        refill_in_ms: 30_000,
        observed_at_ms: NOW_MS - observed_age_ms,
        foreign_consumption: 0,
    }
}

/// A probe that answers `answer` and counts its calls.
pub(crate) struct CountingProbe {
    pub(crate) calls: AtomicU32,
    pub(crate) answer: Result<QuotaRecord, ProbeError>,
}

impl CountingProbe {
    pub(crate) fn answering(answer: Result<QuotaRecord, ProbeError>) -> CountingProbe {
        CountingProbe {
            calls: AtomicU32::new(0),
            answer,
        }
    }

    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenProbe for CountingProbe {
    async fn probe(&self) -> Result<QuotaRecord, ProbeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.clone()
    }
}

/// An instance lock with a fixed answer.
pub(crate) struct FixedLock(pub(crate) Result<Option<Option<u32>>, String>);

impl LockInspector for FixedLock {
    fn holder(&self, _database: &Path) -> Result<Option<Option<u32>>, String> {
        self.0.clone()
    }
}
