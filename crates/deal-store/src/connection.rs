//! Opening connections for a long-running service: the one [`Writer`] and the
//! pool of [`Readers`] the API queries through.
//!
//! Every connection runs in WAL mode (readers never wait for the writer and
//! the writer never waits for readers), with a busy timeout, foreign keys on
//! and `synchronous = NORMAL` by default. Why NORMAL: in WAL mode a commit has
//! reached the operating system (the `-wal` file) when `COMMIT` returns, so a
//! killed process — SIGKILL, panic, OOM kill — loses nothing committed; only
//! an operating-system crash or power loss can lose the last few commits,
//! never corrupt the file. FULL adds an fsync per commit for that case, at a
//! large cost in commits per second; [`Synchronous::Full`] selects it.
//!
//! Writes start with `BEGIN IMMEDIATE`, so a transaction takes the write lock
//! before reading and cannot fail half-way with a lock upgrade error. This
//! module does not stop a second *process* from opening a writer: the worker's
//! instance lock does that; here a second writer is reported as
//! [`StoreError::Locked`] once the busy timeout runs out.
//!
//! The writer runs SQLite's automatic checkpoint itself, and when readers that
//! never pause keep the WAL from starting over, a RESTART checkpoint that may
//! hold a commit's return for about 100 ms at most while they finish (see "Checkpoint
//! starvation" below): a bounded WAL keeps the API's reads fast.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{ResultExt, StoreError, StoreResult};
use crate::matches::{MatchCounter, PRUNE_KEEP};
use crate::read::Reader;
use crate::schema;

/// How hard a commit is pushed to disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `synchronous = NORMAL`: a committed transaction survives a killed
    /// process; an OS crash or power loss may lose the last commits.
    #[default]
    Normal,
    /// `synchronous = FULL`: an fsync per commit; survives power loss too.
    Full,
}

/// How the store opens its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a connection waits for a lock before reporting [`StoreError::Locked`].
    pub busy_timeout: Duration,
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// Number of read connections in [`Readers`] (at least one is opened).
    pub reader_count: usize,
    /// Failed analyses of one ASIN after which it is quarantined.
    pub attempt_budget: u32,
    /// An upper bound on the database size in pages (`PRAGMA max_page_count`);
    /// `None` leaves SQLite's default. Tests use a small value to simulate a full disk.
    pub max_page_count: Option<u32>,
    /// The WAL length, in pages, past which a commit waits (at most 100 ms) for
    /// the readers of older snapshots so that the log starts over (see
    /// "checkpoint starvation" in this module's source). Tests use a small value.
    pub wal_restart_pages: u32,
    /// Whether each pooled read connection counts the API's matches in an
    /// in-memory copy of the valid deals (fast, exact, about 225 bytes per
    /// valid deal per connection that has counted) rather than in SQL. Tools
    /// that count once turn it off.
    pub count_in_memory: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Normal,
            reader_count: 4,
            attempt_budget: 3,
            max_page_count: None,
            wal_restart_pages: DEFAULT_WAL_RESTART_PAGES,
            count_in_memory: true,
        }
    }
}

/// Bytes of the database file each connection maps into memory.
const MMAP_BYTES: i64 = 256 * 1024 * 1024;
/// Page cache per connection, in KiB.
const PAGE_CACHE_KIBIBYTES: i64 = 16 * 1024;

/// Opens one connection and applies the service pragmas.
fn open_connection(path: &Path, options: &StoreOptions, create: bool) -> StoreResult<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let connection =
        Connection::open_with_flags(path, flags).context(path, "opening the database")?;
    connection
        .busy_timeout(options.busy_timeout)
        .context(path, "setting the busy timeout")?;
    // The first statement that reads the file: a non-database file fails here.
    let journal_mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .context(path, "switching to WAL mode")?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::CannotWrite {
            path: path.to_path_buf(),
            detail: format!("sqlite kept journal mode {journal_mode:?} instead of wal"),
        });
    }
    let synchronous = match options.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    connection
        .pragma_update(None, "synchronous", synchronous)
        .context(path, "setting synchronous")?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .context(path, "enabling foreign keys")?;
    // The API's counts scan an index of every valid deal (a few MB at 100,000
    // deals). SQLite's default 2 MB page cache cannot hold it, so each scan
    // would re-read pages through system calls; a memory map reads them from
    // the OS page cache shared by all connections, and a 16 MB page cache per
    // connection keeps the hot index pages.
    connection
        .pragma_update(None, "mmap_size", MMAP_BYTES)
        .context(path, "setting mmap_size")?;
    connection
        .pragma_update(None, "cache_size", -PAGE_CACHE_KIBIBYTES)
        .context(path, "setting cache_size")?;
    if let Some(max_page_count) = options.max_page_count {
        connection
            .pragma_update(None, "max_page_count", max_page_count)
            .context(path, "setting max_page_count")?;
    }
    // Enough for every combination of API filters the dashboard sends in a session.
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// The one connection that writes. Opening it creates the file when missing
/// and migrates the schema to [`schema::SCHEMA_VERSION`].
///
/// Every write method runs in its own `BEGIN IMMEDIATE` transaction and has
/// committed when it returns `Ok`. Methods take `&mut self`: one writer, one
/// transaction at a time. Read methods are on [`Writer::reader`].
#[derive(Debug)]
pub struct Writer {
    pub(crate) connection: Connection,
    pub(crate) path: PathBuf,
    pub(crate) options: StoreOptions,
    /// Frames in the WAL after the last commit, as SQLite's WAL hook reports them.
    wal_frames: Arc<AtomicI32>,
    /// The WAL length at which the next commit tries a restart checkpoint.
    restart_at_frames: i32,
    /// Commits since the deal change log was last pruned.
    commits_since_prune: u32,
}

// Checkpoint starvation. A passive checkpoint (SQLite's automatic one) copies
// the WAL into the database only up to the oldest snapshot a reader holds, and
// the log starts over from its beginning only when a write finds it fully
// copied and no reader in it. API readers that follow one another without a
// gap never allow that, so the WAL grows without bound: 585 MB during the
// bench's 8 s of queries under a busy writer. Each read then searches a longer
// WAL index and reads more pages through read() instead of the memory map.
// So the writer takes over SQLite's automatic checkpoint: its WAL hook counts
// the log's frames, and past `StoreOptions::wal_restart_pages` a commit runs a
// RESTART checkpoint, which waits a little for the readers of older
// snapshots; readers that start meanwhile read the fully copied database file,
// not the log, so the next commit starts the log over.

/// How many commits go by between two prunes of the deal change log.
const PRUNE_EVERY_COMMITS: u32 = 1024;

/// SQLite's automatic (passive) checkpoint threshold, in WAL frames (pages).
const PASSIVE_CHECKPOINT_FRAMES: i32 = 1000;
/// The default of [`StoreOptions::wal_restart_pages`]: the passive threshold,
/// so a log under readers restarts where one without readers would.
const DEFAULT_WAL_RESTART_PAGES: u32 = 1000;
/// How often a RESTART checkpoint looks again whether the readers it waits
/// for have finished. SQLite's own busy handler sleeps 1, 2, 5, 10 ms… and
/// would keep the writer waiting long after a query of a few milliseconds ended.
const RESTART_CHECKPOINT_POLL: Duration = Duration::from_micros(250);
/// How many times a RESTART checkpoint looks (about 100 ms). A reader holding
/// one snapshot for longer (a backup) is not waited for: the next attempt
/// comes after another [`StoreOptions::wal_restart_pages`].
const RESTART_CHECKPOINT_POLLS: i32 = 400;

impl Writer {
    /// Opens (creating if needed) and migrates the database at `path`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a non-database file, [`StoreError::CannotWrite`]
    /// for a missing or read-only directory, [`StoreError::NewerSchema`] for a
    /// file from a newer build, [`StoreError::Locked`] when another writer holds it.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> StoreResult<Writer> {
        let path = path.as_ref().to_path_buf();
        let mut connection = open_connection(&path, &options, true)?;
        schema::migrate(&mut connection, &path)?;
        // Replaces SQLite's automatic checkpoint: `checkpoint_after_commit` runs it.
        let wal_frames = Arc::new(AtomicI32::new(0));
        let hook_frames = Arc::clone(&wal_frames);
        connection
            .wal_hook(Some(move |_: &mut Wal, frames: i32| {
                hook_frames.store(frames, Ordering::Relaxed);
                Ok(())
            }))
            .context(&path, "installing the checkpoint hook")?;
        Ok(Writer {
            connection,
            path,
            options,
            wal_frames,
            restart_at_frames: 0,
            commits_since_prune: 0,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read queries on the writer's connection (they see its own commits at once).
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            connection: &self.connection,
            path: &self.path,
            counter: None,
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction and commits it.
    pub(crate) fn write<T>(
        &mut self,
        operation: &'static str,
        body: impl FnOnce(&rusqlite::Transaction<'_>, &Path) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context(&self.path, operation)?;
        let value = body(&transaction, &self.path)?;
        transaction.commit().context(&self.path, operation)?;
        self.prune_after_commit();
        self.checkpoint_after_commit();
        Ok(value)
    }

    /// Every [`PRUNE_EVERY_COMMITS`] commits, deletes the deal change log's
    /// entries older than the newest [`PRUNE_KEEP`] (read connections that
    /// are further behind read every deal again). Like the checkpoint, it
    /// reports nothing: the commit has happened, and a failed prune is tried
    /// again after the next batch.
    fn prune_after_commit(&mut self) {
        self.commits_since_prune += 1;
        if self.commits_since_prune < PRUNE_EVERY_COMMITS {
            return;
        }
        self.commits_since_prune = 0;
        let _ = self.prune_change_log(PRUNE_KEEP);
    }

    /// Deletes all but the newest `keep` (at least one) entries of the deal
    /// change log that read connections count from. The writer does this by
    /// itself; tests call it to make a read connection fall behind the log.
    #[doc(hidden)]
    pub fn prune_change_log(&mut self, keep: u32) -> StoreResult<()> {
        self.connection
            .execute(
                "DELETE FROM deal_changes WHERE seq < (SELECT max(seq) FROM deal_changes) - ?1",
                [i64::from(keep.max(1)) - 1],
            )
            .context(&self.path, "pruning the deal change log")?;
        Ok(())
    }

    /// SQLite's automatic checkpoint, with a RESTART checkpoint once the WAL is
    /// longer than [`StoreOptions::wal_restart_pages`] (see "Checkpoint
    /// starvation" above). It reports nothing because the commit has happened:
    /// a checkpoint that fails leaves the frames in the log, where readers still
    /// find them, and is tried again after a later commit.
    fn checkpoint_after_commit(&mut self) {
        let frames = self.wal_frames.load(Ordering::Relaxed);
        let restart_threshold = i32::try_from(self.options.wal_restart_pages).unwrap_or(i32::MAX);
        if frames < restart_threshold {
            // The log started over (or never grew): no failed attempt to wait out.
            self.restart_at_frames = restart_threshold;
        } else if frames >= self.restart_at_frames {
            let restarted = self
                .connection
                .busy_handler(Some(|polls: i32| {
                    let again = polls < RESTART_CHECKPOINT_POLLS;
                    if again {
                        std::thread::sleep(RESTART_CHECKPOINT_POLL);
                    }
                    again
                }))
                .and_then(|()| {
                    self.connection
                        .wal_checkpoint_v2(None::<&str>, CheckpointMode::RESTART)
                })
                .is_ok();
            // Back to the busy timeout of every other statement.
            let _ = self.connection.busy_timeout(self.options.busy_timeout);
            self.restart_at_frames = if restarted {
                restart_threshold
            } else {
                frames.saturating_add(restart_threshold)
            };
            return;
        }
        if frames >= PASSIVE_CHECKPOINT_FRAMES {
            let _ = self
                .connection
                .wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE);
        }
    }
}

/// A small pool of read connections for the API: `query_only`, so a bug can
/// never write through them, and never blocked by the writer (WAL).
///
/// [`Readers::with`] lends a connection for the duration of a closure and
/// blocks (on a condition variable, not a spin) while all are lent.
#[derive(Debug)]
pub struct Readers {
    idle: Mutex<Vec<Pooled>>,
    returned: Condvar,
    path: PathBuf,
    count_in_memory: bool,
}

/// A read connection and its in-memory counter (`matches.rs`).
#[derive(Debug)]
struct Pooled {
    connection: Connection,
    counter: Mutex<MatchCounter>,
}

impl Readers {
    /// Opens `options.reader_count` read connections (at least one).
    ///
    /// The database must exist and be migrated: open the [`Writer`] first.
    ///
    /// # Errors
    /// The errors of [`Writer::open`], and [`StoreError::NotMigrated`] when the
    /// file's schema is older than this build's.
    pub fn open(path: impl AsRef<Path>, options: &StoreOptions) -> StoreResult<Readers> {
        let path = path.as_ref().to_path_buf();
        let count = options.reader_count.max(1);
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            let connection = open_connection(&path, options, false)?;
            connection
                .pragma_update(None, "query_only", "ON")
                .context(&path, "making a read connection query-only")?;
            let found = schema::schema_version(&connection, &path)?;
            if found > schema::SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    path,
                    found,
                    supported: schema::SCHEMA_VERSION,
                });
            }
            if found < schema::SCHEMA_VERSION {
                return Err(StoreError::NotMigrated {
                    path,
                    found,
                    expected: schema::SCHEMA_VERSION,
                });
            }
            idle.push(Pooled {
                connection,
                counter: Mutex::new(MatchCounter::default()),
            });
        }
        Ok(Readers {
            idle: Mutex::new(idle),
            returned: Condvar::new(),
            path,
            count_in_memory: options.count_in_memory,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `body` with a pooled read connection, waiting while all are lent.
    pub fn with<T>(&self, body: impl FnOnce(Reader<'_>) -> T) -> T {
        let pooled = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(pooled) = idle.pop() {
                    break pooled;
                }
                idle = self
                    .returned
                    .wait(idle)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        // Give the connection back even when `body` panics.
        struct GiveBack<'pool> {
            readers: &'pool Readers,
            pooled: Option<Pooled>,
        }
        impl Drop for GiveBack<'_> {
            fn drop(&mut self) {
                if let Some(pooled) = self.pooled.take() {
                    self.readers
                        .idle
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(pooled);
                    self.readers.returned.notify_one();
                }
            }
        }
        let lent = GiveBack {
            readers: self,
            pooled: Some(pooled),
        };
        let Some(pooled) = lent.pooled.as_ref() else {
            unreachable!("the connection is only taken on drop")
        };
        body(Reader {
            connection: &pooled.connection,
            path: &self.path,
            counter: self.count_in_memory.then_some(&pooled.counter),
        })
    }
}
