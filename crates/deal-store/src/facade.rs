//! [`DealStore`]: the async face of the store for the worker's tasks and the
//! HTTP API. The store itself is synchronous ([`Writer`], [`Readers`]); every
//! call here moves the blocking SQLite work to tokio's blocking pool with
//! `spawn_blocking`, so a slow query or a commit waiting on the disk never
//! holds a runtime worker thread.
//!
//! Writes are serialised by a mutex around the one [`Writer`]; reads take a
//! connection from the [`Readers`] pool. The generic [`DealStore::write`] and
//! [`DealStore::read`] run any sync method; the typed methods cover the hot
//! paths. This module adds no caching and no retries.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use deal_filters::AnalysedDeal;
use keepa_model::UnixSeconds;

use crate::connection::{Readers, StoreOptions, Writer};
use crate::deals::{DealSource, DealWrite, Fence};
use crate::error::{StoreError, StoreResult};
use crate::query::{DealFilter, DealQuery};
use crate::read::{DealPage, Reader};

/// The writer and the read pool, shareable across tasks (`Clone` is cheap).
#[derive(Debug, Clone)]
pub struct DealStore {
    writer: Arc<Mutex<Writer>>,
    readers: Arc<Readers>,
    path: PathBuf,
}

async fn blocking<T: Send + 'static>(
    body: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(body)
        .await
        .map_err(|error| StoreError::TaskFailed(error.to_string()))?
}

impl DealStore {
    /// Opens the writer (creating and migrating the file) and the read pool.
    pub async fn open(path: impl AsRef<Path>, options: StoreOptions) -> StoreResult<DealStore> {
        let path = path.as_ref().to_path_buf();
        let opened_path = path.clone();
        let (writer, readers) = blocking(move || {
            let writer = Writer::open(&opened_path, options.clone())?;
            let readers = Readers::open(&opened_path, &options)?;
            Ok((writer, readers))
        })
        .await?;
        Ok(DealStore {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `body` with the writer on the blocking pool.
    pub async fn write<T: Send + 'static>(
        &self,
        body: impl FnOnce(&mut Writer) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
            body(&mut writer)
        })
        .await
    }

    /// Runs `body` with a pooled read connection on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        body: impl FnOnce(Reader<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let readers = Arc::clone(&self.readers);
        blocking(move || readers.with(body)).await
    }

    /// Upserts one deal in its own transaction; committed when this returns `Ok`.
    pub async fn upsert_deal(
        &self,
        deal: AnalysedDeal,
        source: DealSource,
        fence: Option<Fence>,
        now: UnixSeconds,
    ) -> StoreResult<()> {
        self.write(move |writer| {
            writer.upsert_deal(
                &deal,
                DealWrite {
                    source,
                    fence: fence.as_ref(),
                    now,
                },
            )
        })
        .await
    }

    /// `/api/deals`.
    pub async fn query_deals(&self, query: DealQuery) -> StoreResult<DealPage> {
        self.read(move |reader| reader.query_deals(&query)).await
    }

    /// `/api/deal-count`.
    pub async fn count_deals(&self, filter: DealFilter) -> StoreResult<u64> {
        self.read(move |reader| reader.count_deals(&filter)).await
    }

    /// A consistent copy of the database at `destination`, while writes go on.
    pub async fn backup_to(&self, destination: impl AsRef<Path>) -> StoreResult<()> {
        let source = self.path.clone();
        let destination = destination.as_ref().to_path_buf();
        blocking(move || crate::backup::backup_database(&source, &destination)).await
    }
}
