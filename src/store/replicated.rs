//! The store as the Raft log's state machine ([`burgee_raft::Machine`]): a batch of log
//! entries is applied at their own indexes in one transaction that also stores Raft's
//! progress, through the [`Writer`]; snapshots stream every table ([`super::snapshot`]).

use std::sync::{Arc, Mutex};

use burgee_raft::{Item, Machine, MachineError, RaftMeta};

use super::command::Envelope;
use super::writer::{Entry, Views, Writer};
use super::{StoreError, snapshot};

/// What a log entry answered (an answer per command), as it travels back to the node that
/// proposed it.
pub type Answer = super::writer::EntryAnswer;

pub struct Replicated<V: Views> {
    writer: Mutex<Writer<V>>,
}

fn fault(e: &StoreError) -> MachineError {
    MachineError(e.to_string())
}

impl Replicated<super::writer::NoViews> {
    /// Over `machine` (whose file is `path`), publishing only its catalog (tools and tests).
    pub fn without_views(
        machine: super::batch::StateMachine,
        path: std::path::PathBuf,
    ) -> Arc<Self> {
        let shared = Arc::new(super::shared::Shared::new(
            Arc::clone(machine.database()),
            Arc::clone(machine.catalog()),
            machine.backend().clone(),
        ));
        Self::new(Writer::new(
            machine,
            shared,
            Arc::new(super::writer::NoViews),
            path,
        ))
    }
}

impl<V: Views> Replicated<V> {
    /// Over `writer`; a background thread makes its unsynced batches durable every
    /// [`super::writer::CHECKPOINT_EVERY`] when no batch did (it ends with the machine).
    pub fn new(writer: Writer<V>) -> Arc<Self> {
        let replicated = Arc::new(Self {
            writer: Mutex::new(writer),
        });
        let weak = Arc::downgrade(&replicated);
        let spawned = std::thread::Builder::new()
            .name("burgee-checkpoint".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(super::writer::CHECKPOINT_EVERY);
                    let Some(replicated) = weak.upgrade() else {
                        return;
                    };
                    if let Err(error) = replicated.with(|w| w.checkpoint_if(Writer::checkpoint_due))
                    {
                        tracing::warn!(%error, "a checkpoint failed");
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no checkpoint thread: unsynced batches are made durable by later ones");
        }
        replicated
    }

    /// Makes every applied batch durable now (before the process stops).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.with(|w| w.checkpoint_if(|_| true))
    }

    /// Runs `f` with the state machine (reopened first if a fault closed it).
    pub fn with_machine<T>(
        &self,
        f: impl FnOnce(&mut super::batch::StateMachine) -> T,
    ) -> Result<T, StoreError> {
        self.with(|w| w.machine().map(f))
    }

    /// Runs `f` with the writer.
    pub fn with<T>(&self, f: impl FnOnce(&mut Writer<V>) -> T) -> T {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut writer)
    }
}

/// A log entry as the writer applies it: a batch of commands one node proposed.
fn entry(item: &Item) -> Entry {
    match &item.command {
        None => Entry::Raft(item.index),
        Some(bytes) => match postcard::from_bytes::<Vec<Envelope>>(bytes) {
            Ok(envelopes) => Entry::Commands(item.index, envelopes),
            Err(e) => Entry::Undecodable(item.index, e.to_string()),
        },
    }
}

impl<V: Views> Machine for Replicated<V> {
    fn raft_meta(&self) -> Result<RaftMeta, MachineError> {
        self.with(|w| {
            let machine = w.machine()?;
            snapshot::raft_meta(machine.database())
        })
        .map(RaftMeta)
        .map_err(|e| fault(&e))
    }

    fn apply(&self, items: &[Item], meta: &RaftMeta) -> Result<Vec<Vec<u8>>, MachineError> {
        let entries: Vec<Entry> = items.iter().map(entry).collect();
        let answers = self
            .with(|w| w.apply(entries, &meta.0))
            .map_err(|e| fault(&e))?;
        encode_answers(items, answers)
    }

    fn try_apply(
        &self,
        items: &[Item],
        meta: &RaftMeta,
    ) -> Option<Result<Vec<Vec<u8>>, MachineError>> {
        // Busy (a checkpoint's sync holds it): the blocking pool waits instead.
        let mut writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let entries: Vec<Entry> = items.iter().map(entry).collect();
        match writer.try_apply(entries, &meta.0) {
            Ok(Some(answers)) => Some(encode_answers(items, answers)),
            Ok(None) => None,
            Err(e) => Some(Err(fault(&e))),
        }
    }

    fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<RaftMeta, MachineError> {
        // Durable first: the log a snapshot covers is purged after it. Then only the database
        // handle is needed: the read transaction is a consistent view.
        let db = self
            .with(|w| {
                w.checkpoint_if(|_| true)?;
                w.machine().map(|m| Arc::clone(m.database()))
            })
            .map_err(|e| fault(&e))?;
        let started = std::time::Instant::now();
        let written = snapshot::write(&db, out)
            .map(|(raft, _rows)| RaftMeta(raft))
            .map_err(|e| fault(&e));
        record_snapshot("built", started);
        written
    }

    fn install_snapshot(
        &self,
        input: &mut dyn std::io::Read,
        meta: &RaftMeta,
    ) -> Result<(), MachineError> {
        let started = std::time::Instant::now();
        let installed = self
            .with(|w| w.install(input, &meta.0))
            .map_err(|e| fault(&e));
        record_snapshot("installed", started);
        installed
    }
}

/// One answer per item, as it travels back (empty for items without a command).
fn encode_answers(
    items: &[Item],
    answers: Vec<super::writer::EntryAnswer>,
) -> Result<Vec<Vec<u8>>, MachineError> {
    items
        .iter()
        .zip(answers)
        .map(|(item, answer)| match item.command {
            None => Ok(Vec::new()),
            Some(_) => postcard::to_stdvec(&answer).map_err(|e| MachineError(e.to_string())),
        })
        .collect()
}

/// Counts a snapshot built or installed, and how long it took.
fn record_snapshot(kind: &'static str, started: std::time::Instant) {
    metrics::counter!("burgee_raft_snapshots_total", "kind" => kind).increment(1);
    metrics::histogram!("burgee_raft_snapshot_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests;
