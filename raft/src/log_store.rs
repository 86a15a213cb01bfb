//! The Raft log in its own redb file (`raft-log.redb`), beside the state's file so that log
//! appends and state applies never queue on one writer lock.
//!
//! Writes go to one writer thread ([`flusher`]) that commits whatever is waiting in one
//! `Durability::Immediate` transaction (group commit): an append is acknowledged to openraft
//! (its `LogFlushed` callback) only after that commit returned, so an acknowledged entry
//! survives a crash, and the entries of concurrent client writes share one fsync. Until then
//! appended entries are readable from memory, as openraft requires.

mod flusher;

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, StorageIOError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::error::LogStoreError;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use flusher::{Job, Pending};

/// Log index → postcard-encoded entry.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// `vote`, `committed`, `last_purged` → postcard-encoded values.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");

/// The Raft log. Cloning shares it (openraft's log readers are clones).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    pending: Arc<Mutex<Pending>>,
    jobs: Sender<Job>,
    commits: Arc<AtomicU64>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    /// Finishes what was handed to the writer and closes the file before the handle is gone,
    /// so the log can be opened again at once.
    fn drop(&mut self) {
        let _ = self.jobs.send(Job::Stop);
        if let Some(writer) = self.writer.get_mut().ok().and_then(Option::take) {
            let _ = writer.join();
        }
    }
}

impl LogStore {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, LogStoreError> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                LogStoreError::Locked(path.display().to_string())
            }
            other => other.into(),
        })?;
        let txn = db.begin_write()?;
        txn.open_table(LOG)?;
        txn.open_table(STATE)?;
        txn.commit()?;
        let db = Arc::new(db);
        let pending = Arc::new(Mutex::new(Pending::default()));
        let commits = Arc::new(AtomicU64::new(0));
        let (jobs, receiver) = channel();
        let writer = {
            let (db, pending, commits) =
                (Arc::clone(&db), Arc::clone(&pending), Arc::clone(&commits));
            std::thread::Builder::new()
                .name("burgee-raft-log".into())
                .spawn(move || flusher::run(&db, &receiver, &pending, &commits))
                .map_err(|e| LogStoreError::Database(format!("starting the log writer: {e}")))?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                pending,
                jobs,
                commits,
                writer: Mutex::new(Some(writer)),
            }),
        })
    }

    /// How many commits the log has made since it was opened.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn state<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, LogStoreError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(STATE)?;
        let value = table.get(key)?;
        Ok(value.map(|v| postcard::from_bytes(v.value())).transpose()?)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, LogStoreError> {
        // Pending first: an entry that leaves it is in the database by then.
        let pending = self
            .pending()
            .entries
            .last_key_value()
            .map(|(_, (_, e))| e.log_id);
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let stored = table
            .last()?
            .map(|(_, v)| postcard::from_bytes::<Entry>(v.value()).map(|e| e.log_id))
            .transpose()?;
        Ok(pending.max(stored))
    }

    fn entries(&self, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<Entry>, LogStoreError> {
        // Pending first (see `last_entry_id`); a pending entry wins over a stored one.
        let mut found: std::collections::BTreeMap<u64, Entry> = self
            .pending()
            .entries
            .range(range)
            .map(|(index, (_, entry))| (*index, entry.clone()))
            .collect();
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        for row in table.range(range)? {
            let (index, value) = row?;
            if let std::collections::btree_map::Entry::Vacant(slot) = found.entry(index.value()) {
                slot.insert(postcard::from_bytes(value.value())?);
            }
        }
        Ok(found.into_values().collect())
    }

    fn send(&self, job: Job) -> Result<(), LogStoreError> {
        self.inner
            .jobs
            .send(job)
            .map_err(|_| LogStoreError::Database("the log writer has stopped".into()))
    }

    /// Hands a write to the writer and waits for its commit.
    async fn commit(&self, job: impl FnOnce(flusher::Done) -> Job) -> Result<(), LogStoreError> {
        let (done, committed) = oneshot::channel();
        self.send(job(done))?;
        committed
            .await
            .map_err(|_| LogStoreError::Database("the log writer has stopped".into()))?
    }

    async fn put_state<T: Serialize>(
        &self,
        key: &'static str,
        value: &T,
    ) -> Result<(), LogStoreError> {
        let value = postcard::to_stdvec(value)?;
        self.commit(|done| Job::State {
            key,
            value,
            done: Some(done),
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

    /// Rides along with the next commit, unawaited: the committed index only saves work at a
    /// restart (entries up to it are applied again at once), and a lagging one is safe.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let value = postcard::to_stdvec(&committed).map_err(|e| write_error(e.into()))?;
        self.send(Job::State {
            key: "committed",
            value,
            done: None,
        })
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
        {
            let mut pending = self.pending();
            for entry in entries {
                let bytes = postcard::to_stdvec(&entry).map_err(|e| write_error(e.into()))?;
                let seq = pending.next_seq();
                rows.push((entry.log_id.index, seq, bytes));
                pending.entries.insert(entry.log_id.index, (seq, entry));
            }
        }
        // Readable from now on; durable (and acknowledged) once the writer's commit returns.
        self.send(Job::Append { rows, callback })
            .map_err(write_error)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let from = log_id.index;
        self.pending().entries.retain(|index, _| *index < from);
        self.commit(|done| Job::Truncate { from, done })
            .await
            .map_err(write_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let encoded = postcard::to_stdvec(&log_id).map_err(|e| write_error(e.into()))?;
        let through = log_id.index;
        self.commit(|done| Job::Purge {
            through,
            log_id: encoded,
            done,
        })
        .await
        .map_err(write_error)
    }
}

#[cfg(test)]
mod tests;
