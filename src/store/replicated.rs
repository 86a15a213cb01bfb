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
    pub fn new(writer: Writer<V>) -> Arc<Self> {
        Arc::new(Self {
            writer: Mutex::new(writer),
        })
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
            .with(|w| w.apply(&entries, &meta.0))
            .map_err(|e| fault(&e))?;
        entries
            .iter()
            .zip(answers)
            .map(|(entry, answer)| match entry {
                Entry::Raft(_) => Ok(Vec::new()),
                _ => postcard::to_stdvec(&answer).map_err(|e| MachineError(e.to_string())),
            })
            .collect()
    }

    fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<RaftMeta, MachineError> {
        // Only the database handle is needed: the read transaction is a consistent view.
        let db = self
            .with(|w| w.machine().map(|m| Arc::clone(m.database())))
            .map_err(|e| fault(&e))?;
        snapshot::write(&db, out)
            .map(RaftMeta)
            .map_err(|e| fault(&e))
    }

    fn install_snapshot(
        &self,
        input: &mut dyn std::io::Read,
        meta: &RaftMeta,
    ) -> Result<(), MachineError> {
        self.with(|w| w.install(input, &meta.0))
            .map_err(|e| fault(&e))
    }
}

#[cfg(test)]
mod tests;
