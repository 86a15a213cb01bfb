//! The Raft log in its own redb file (`raft-log.redb`), beside the state's file so that log
//! appends and state applies never queue on one writer lock.
//!
//! Every write is one `Durability::Immediate` transaction: an append is acknowledged to
//! openraft (its `LogFlushed` callback) only after its commit returned, so an acknowledged
//! entry survives a crash. openraft hands the entries of concurrent client writes to one
//! `append` call, so they share that one commit. Writes run on Tokio's blocking pool, never on
//! the runtime's threads.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, StorageIOError};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::LogStoreError;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// Log index → postcard-encoded entry.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// `vote`, `committed`, `last_purged` → postcard-encoded values.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");

/// The Raft log. Cloning shares the database (openraft's log readers are clones).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, LogStoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(LOG)?;
        txn.open_table(STATE)?;
        txn.commit()?;
        Ok(Self { db: Arc::new(db) })
    }

    fn state<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, LogStoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(STATE)?;
        let value = table.get(key)?;
        Ok(value.map(|v| postcard::from_bytes(v.value())).transpose()?)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, LogStoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let last = table.last()?;
        Ok(last
            .map(|(_, v)| postcard::from_bytes::<Entry>(v.value()).map(|e| e.log_id))
            .transpose()?)
    }

    fn entries(&self, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<Entry>, LogStoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let mut entries = Vec::new();
        for row in table.range(range)? {
            let (_, value) = row?;
            entries.push(postcard::from_bytes(value.value())?);
        }
        Ok(entries)
    }

    /// Runs `change` in one durable write transaction on the blocking pool.
    async fn write(
        &self,
        change: impl FnOnce(&WriteTransaction) -> Result<(), LogStoreError> + Send + 'static,
    ) -> Result<(), LogStoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            change(&txn)?;
            txn.commit()?;
            Ok(())
        })
        .await
        .map_err(|e| LogStoreError::Database(format!("the log writer task failed: {e}")))?
    }

    async fn put_state<T: Serialize>(
        &self,
        key: &'static str,
        value: &T,
    ) -> Result<(), LogStoreError> {
        let bytes = postcard::to_stdvec(value)?;
        self.write(move |txn| {
            txn.open_table(STATE)?.insert(key, bytes.as_slice())?;
            Ok(())
        })
        .await
    }
}

/// A storage error of the log, as openraft reports it (it stops the node).
#[allow(clippy::needless_pass_by_value)] // used as `map_err(read_error)`
fn read_error(e: LogStoreError) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(write_error)`
fn write_error(e: LogStoreError) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.entries((range.start_bound().cloned(), range.end_bound().cloned()))
            .map_err(read_error)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.state("last_purged").map_err(read_error)?;
        let last_log_id = self
            .last_entry_id()
            .map_err(read_error)?
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_state("vote", vote)
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.state("vote")
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_state("committed", &committed)
            .await
            .map_err(write_error)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self
            .state::<Option<LogId>>("committed")
            .map_err(read_error)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut rows = Vec::new();
        for entry in entries {
            let bytes = postcard::to_stdvec(&entry).map_err(|e| write_error(e.into()))?;
            rows.push((entry.log_id.index, bytes));
        }
        let written = self
            .write(move |txn| {
                let mut log = txn.open_table(LOG)?;
                for (index, bytes) in &rows {
                    log.insert(*index, bytes.as_slice())?;
                }
                Ok(())
            })
            .await;
        match written {
            Ok(()) => {
                // Durable now: only now may openraft count these entries as stored.
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_error(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let from = log_id.index;
        self.write(move |txn| {
            txn.open_table(LOG)?.retain_in(from.., |_, _| false)?;
            Ok(())
        })
        .await
        .map_err(write_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let bytes = postcard::to_stdvec(&log_id).map_err(|e| write_error(e.into()))?;
        let through = log_id.index;
        self.write(move |txn| {
            txn.open_table(STATE)?
                .insert("last_purged", bytes.as_slice())?;
            txn.open_table(LOG)?.retain_in(..=through, |_, _| false)?;
            Ok(())
        })
        .await
        .map_err(write_error)
    }
}

#[cfg(test)]
mod tests;
