//! The embedded tier's one-worker-per-database rule: an OS file lock beside the database.
//!
//! The lock is held by the open file, so it disappears with the process however the process
//! ends: a crash or SIGKILL leaves at most a lock file with a dead pid in it, which the next
//! worker simply locks again. Nothing here is a pidfile that can go stale; the pid inside is only
//! there so that a refused worker can say who holds the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    path: PathBuf,
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another live process holds the lock.
    #[error(
        "another worker{holder} is already running on {database}: one worker per database; stop it, \
         or give this one another --database (several workers share one key through --redis-url)",
        holder = .pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        database = .database.display()
    )]
    Held {
        /// The database the lock guards.
        database: PathBuf,
        /// The holder's pid, when it wrote one.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or written.
    #[error("cannot use the lock file {path}: {source}; check that its directory exists and is writable", path = .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The lock file that guards `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl InstanceLock {
    /// Takes the lock for `database`, writing this process's pid into the lock file.
    ///
    /// # Errors
    ///
    /// [`LockError::Held`] naming the holder's pid when another process holds it.
    pub fn acquire(database: &Path) -> Result<InstanceLock, LockError> {
        let path = lock_path(database);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    database: database.to_owned(),
                    pid: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(InstanceLock { path, _file: file })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who holds the lock for `database`, if anyone: `Some(pid)` (or `Some(None)` when the holder
    /// wrote no pid) while a live process holds it, `None` when it is free. Never takes it.
    ///
    /// # Errors
    ///
    /// When the lock file exists but cannot be opened.
    pub fn holder(database: &Path) -> Result<Option<Option<u32>>, LockError> {
        let path = lock_path(database);
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Io { path, source }),
        };
        match file.try_lock() {
            Ok(()) => {
                // Free: let go at once (dropping the file releases the lock).
                Ok(None)
            }
            Err(TryLockError::WouldBlock) => Ok(Some(read_pid(&mut file))),
            Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("deals.sqlite");
        let held = InstanceLock::acquire(&database).unwrap();
        let error = InstanceLock::acquire(&database).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("deals.sqlite"), "{message}");
        assert_eq!(
            InstanceLock::holder(&database).unwrap(),
            Some(Some(std::process::id()))
        );
        drop(held);
        assert_eq!(InstanceLock::holder(&database).unwrap(), None);
        InstanceLock::acquire(&database).expect("free again once the holder is gone");
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("deals.sqlite");
        std::fs::write(lock_path(&database), "999999\n").unwrap();
        let lock = InstanceLock::acquire(&database).unwrap();
        let written = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(written.trim(), std::process::id().to_string());
    }

    #[test]
    fn an_unwritable_place_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_directory = dir.path().join("file");
        std::fs::write(&not_a_directory, "").unwrap();
        let error = InstanceLock::acquire(&not_a_directory.join("deals.sqlite")).unwrap_err();
        assert!(error.to_string().contains("deals.sqlite.lock"), "{error}");
    }
}
