//! Online backup with SQLite's backup API: a consistent copy of the database
//! while the writer keeps committing.
//!
//! The copy runs in a single backup step from a dedicated read connection, so
//! it reads one WAL snapshot and is never restarted by concurrent commits (a
//! step-by-step backup restarts whenever another connection writes, and under
//! a busy writer might never finish). The writer is not blocked: in WAL mode a
//! reader and the writer proceed together. The destination is written to a
//! temporary file beside it and renamed into place, so a reader of the
//! destination never sees a half-written copy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::error::{ResultExt, StoreError, StoreResult};

/// How long one backup attempt waits for a lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts before the backup reports the database as locked.
const MAX_ATTEMPTS: u32 = 10;

/// Copies the database at `source` to `destination` (replacing it), safely
/// while a [`crate::Writer`] commits to `source`.
///
/// # Errors
/// [`StoreError::CannotWrite`] when the destination cannot be written,
/// [`StoreError::Locked`] when the source stays locked, and the open errors.
pub fn backup_database(source: &Path, destination: &Path) -> StoreResult<()> {
    let reader = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .context(source, "opening the database for a backup")?;
    let mut partial_name = destination.as_os_str().to_owned();
    partial_name.push(".partial");
    let partial = PathBuf::from(partial_name);
    // A leftover from an interrupted backup is garbage; the copy starts afresh.
    let _ = std::fs::remove_file(&partial);
    let mut target = Connection::open(&partial).context(&partial, "creating the backup file")?;
    reader
        .busy_timeout(BUSY_TIMEOUT)
        .context(source, "setting the busy timeout")?;
    let mut finished = false;
    for _ in 0..MAX_ATTEMPTS {
        let step = Backup::new(&reader, &mut target)
            .and_then(|copy| copy.step(-1))
            .context(&partial, "copying the database")?;
        // Anything but Done means a lock was held for a moment (a checkpoint,
        // another backup): copy again from a fresh snapshot.
        if step == StepResult::Done {
            finished = true;
            break;
        }
    }
    drop(target);
    if !finished {
        let _ = std::fs::remove_file(&partial);
        return Err(StoreError::Locked {
            path: source.to_path_buf(),
        });
    }
    std::fs::rename(&partial, destination).map_err(|error| StoreError::CannotWrite {
        path: destination.to_path_buf(),
        detail: format!("moving the finished backup into place: {error}"),
    })
}
