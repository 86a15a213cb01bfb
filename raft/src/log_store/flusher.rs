//! The log's one writer thread: group commit. Whatever writes wait when it finishes a sync
//! (appends of many client writes, a vote, a truncation or purge) are carried out in order,
//! and one `fdatasync` makes the appends durable; only then are they acknowledged and the
//! waiting callers answered. openraft hands each client write to its own `append`, so
//! without this every write would pay for its own sync.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::LogFlushed;
use tokio::sync::oneshot;

use super::meta::{Meta, MetaFile};
use super::wal::Wal;
use crate::error::LogStoreError;
use crate::types::{Entry, LogId, TypeConfig, Vote};

/// Most writes one commit takes.
const MAX_GROUP: usize = 4096;

/// Entries appended but not yet committed, readable meanwhile; each with the sequence number
/// of its append, so a commit removes only the entries it wrote.
#[derive(Default)]
pub(super) struct Pending {
    pub entries: BTreeMap<u64, (u64, Entry)>,
    next_seq: u64,
}

impl Pending {
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

pub(super) type Done = oneshot::Sender<Result<(), LogStoreError>>;

pub(super) enum Job {
    Append {
        /// (index, append sequence, encoded entry)
        rows: Vec<(u64, u64, Vec<u8>)>,
        callback: LogFlushed<TypeConfig>,
    },
    Truncate {
        from: u64,
        done: Done,
    },
    Purge {
        log_id: LogId,
        done: Done,
    },
    Vote {
        vote: Vote,
        done: Done,
    },
    Stop,
}

/// What the writer works on, shared with the readers.
pub(super) struct Files {
    pub wal: RwLock<Wal>,
    pub meta: Mutex<MetaFile>,
}

/// Runs until [`Job::Stop`] or until every sender is gone.
pub(super) fn run(
    files: &Files,
    jobs: &Receiver<Job>,
    pending: &Mutex<Pending>,
    commits: &Arc<AtomicU64>,
) {
    loop {
        let Ok(first) = jobs.recv() else { return };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let stop = group.iter().any(|job| matches!(job, Job::Stop));
        let written = write(files, &group);
        if written.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        finish(group, &written, pending);
        if stop {
            return;
        }
    }
}

fn write(files: &Files, group: &[Job]) -> Result<(), LogStoreError> {
    let mut wal = files
        .wal
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for job in group {
        match job {
            Job::Append { rows, .. } => {
                let rows: Vec<(u64, &[u8])> = rows
                    .iter()
                    .map(|(index, _, bytes)| (*index, bytes.as_slice()))
                    .collect();
                wal.append(&rows)?;
            }
            Job::Truncate { from, .. } => wal.truncate(*from)?,
            Job::Purge { log_id, .. } => {
                let mut meta = files
                    .meta
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let next = Meta {
                    last_purged: Some(*log_id),
                    ..meta.meta.clone()
                };
                // Recorded before the segments go: a crash between leaves entries that the
                // next open drops again.
                meta.store(next)?;
                wal.purge(log_id.index)?;
            }
            Job::Vote { vote, .. } => {
                let mut meta = files
                    .meta
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let next = Meta {
                    vote: Some(*vote),
                    ..meta.meta.clone()
                };
                meta.store(next)?;
            }
            Job::Stop => {}
        }
    }
    // Synced without the lock, so readers go on meanwhile.
    let syncs = wal.syncs();
    drop(wal);
    syncs.run()
}

/// Answers every write of the group; committed appends leave the pending entries (the
/// database holds them now).
fn finish(group: Vec<Job>, written: &Result<(), LogStoreError>, pending: &Mutex<Pending>) {
    let answer = || match written {
        Ok(()) => Ok(()),
        Err(e) => Err(LogStoreError::Database(e.to_string())),
    };
    if written.is_ok() {
        let mut pending = pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for job in &group {
            if let Job::Append { rows, .. } = job {
                for (index, seq, _) in rows {
                    if pending.entries.get(index).is_some_and(|(s, _)| s == seq) {
                        pending.entries.remove(index);
                    }
                }
            }
        }
    }
    for job in group {
        match job {
            Job::Append { callback, .. } => {
                let io = answer().map_err(|e| std::io::Error::other(e.to_string()));
                callback.log_io_completed(io);
            }
            Job::Truncate { done, .. } | Job::Purge { done, .. } | Job::Vote { done, .. } => {
                let _ = done.send(answer());
            }
            Job::Stop => {}
        }
    }
}
