//! The Raft log: append-only segment files in `raft/log/` (see [`wal`]), beside the state's
//! file, as etcd keeps its WAL. An append costs a write at the end of a file and its share
//! of one `fdatasync`, where a database commit would rewrite B-tree pages for each entry.
//!
//! Writes go to one writer thread ([`flusher`]) that carries out whatever is waiting and
//! syncs once (group commit): an append is acknowledged to openraft (its `LogFlushed`
//! callback) only after that sync returned, so an acknowledged entry survives a crash, and
//! the entries of concurrent client writes share one sync. Until then appended entries are
//! readable from memory, as openraft requires. The vote and the last purged id live in a
//! small file replaced atomically ([`meta`]). The committed index is not kept: after a
//! restart the leader tells it again, and entries up to it apply then.

mod flusher;
mod meta;
mod migrate;
mod wal;

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, StorageIOError};
use tokio::sync::oneshot;

use crate::error::LogStoreError;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use flusher::{Files, Job, Pending};

/// The Raft log. Cloning shares it (openraft's log readers are clones).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    files: Arc<Files>,
    /// Held while the log is open: a second process is refused.
    _lock: std::fs::File,
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
    /// Opens (or creates) the log in the directory `dir`; a log a former version kept in
    /// `raft-log.redb` beside it moves in first.
    pub fn open(dir: &Path) -> Result<Self, LogStoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| LogStoreError::Database(format!("creating {}: {e}", dir.display())))?;
        let lock = lock(dir)?;
        if let Some(parent) = dir.parent() {
            migrate::from_redb(&parent.join("raft-log.redb"), dir)?;
        }
        let meta = meta::MetaFile::open(dir)?;
        let mut wal = wal::Wal::open(dir)?;
        if let Some(purged) = meta.meta.last_purged {
            wal.purge(purged.index)?;
        }
        let files = Arc::new(Files {
            wal: std::sync::RwLock::new(wal),
            meta: Mutex::new(meta),
        });
        let pending = Arc::new(Mutex::new(Pending::default()));
        let commits = Arc::new(AtomicU64::new(0));
        let (jobs, receiver) = channel();
        let writer = {
            let (files, pending, commits) = (
                Arc::clone(&files),
                Arc::clone(&pending),
                Arc::clone(&commits),
            );
            std::thread::Builder::new()
                .name("burgee-raft-log".into())
                .spawn(move || flusher::run(&files, &receiver, &pending, &commits))
                .map_err(|e| LogStoreError::Database(format!("starting the log writer: {e}")))?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                files,
                _lock: lock,
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

    fn wal(&self) -> std::sync::RwLockReadGuard<'_, wal::Wal> {
        self.inner
            .files
            .wal
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn meta(&self) -> meta::Meta {
        self.inner
            .files
            .meta
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .meta
            .clone()
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, LogStoreError> {
        // Pending first: an entry that leaves it is in the files by then.
        let pending = self
            .pending()
            .entries
            .last_key_value()
            .map(|(_, (_, e))| e.log_id);
        let stored = self.wal().last_entry()?.map(|e| e.log_id);
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
        let wal = self.wal();
        for index in wal.indexes(range) {
            if let std::collections::btree_map::Entry::Vacant(slot) = found.entry(index)
                && let Some(entry) = wal.read(index)?
            {
                slot.insert(entry);
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
        let last_purged_log_id = self.meta().last_purged;
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
        let vote = *vote;
        self.commit(|done| Job::Vote { vote, done })
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.meta().vote)
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
        self.commit(|done| Job::Purge { log_id, done })
            .await
            .map_err(write_error)
    }
}

/// Takes the directory's lock file, or says another process holds it.
fn lock(dir: &Path) -> Result<std::fs::File, LogStoreError> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogStoreError::Database(format!("opening {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(LogStoreError::Locked(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(LogStoreError::Database(format!(
            "locking {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests;
