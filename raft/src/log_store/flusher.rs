//! The log's one writer thread: group commit. Whatever writes wait when it finishes a commit
//! (appends of many client writes, a vote, the committed index) go into the next transaction
//! together, and one `Durability::Immediate` commit makes them all durable; only then are the
//! appends acknowledged and the waiting callers answered. openraft hands each client write to
//! its own `append`, so without this every write would pay for its own fsync.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use openraft::storage::LogFlushed;
use redb::{Database, Durability};
use tokio::sync::oneshot;

use super::{LOG, STATE};
use crate::error::LogStoreError;
use crate::types::{Entry, TypeConfig};

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
        through: u64,
        log_id: Vec<u8>,
        done: Done,
    },
    State {
        key: &'static str,
        value: Vec<u8>,
        done: Option<Done>,
    },
    Stop,
}

/// Runs until [`Job::Stop`] or until every sender is gone.
pub(super) fn run(
    db: &Database,
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
        let written = write(db, &group);
        if written.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        finish(group, &written, pending);
        if stop {
            return;
        }
    }
}

fn write(db: &Database, group: &[Job]) -> Result<(), LogStoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut log = txn.open_table(LOG)?;
        let mut state = txn.open_table(STATE)?;
        for job in group {
            match job {
                Job::Append { rows, .. } => {
                    for (index, _, bytes) in rows {
                        log.insert(*index, bytes.as_slice())?;
                    }
                }
                Job::Truncate { from, .. } => {
                    log.retain_in(*from.., |_, _| false)?;
                }
                Job::Purge {
                    through, log_id, ..
                } => {
                    state.insert("last_purged", log_id.as_slice())?;
                    log.retain_in(..=*through, |_, _| false)?;
                }
                Job::State { key, value, .. } => {
                    state.insert(*key, value.as_slice())?;
                }
                Job::Stop => {}
            }
        }
    }
    txn.commit()?;
    Ok(())
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
            Job::Truncate { done, .. } | Job::Purge { done, .. } => {
                let _ = done.send(answer());
            }
            Job::State { done, .. } => {
                if let Some(done) = done {
                    let _ = done.send(answer());
                }
            }
            Job::Stop => {}
        }
    }
}
