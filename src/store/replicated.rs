//! The store as the Raft log's state machine ([`burgee_raft::Machine`]): a batch of log
//! entries is applied at their own indexes in one transaction that also stores Raft's
//! progress; snapshots stream every table ([`super::snapshot`]).

use std::sync::{Arc, Mutex};

use burgee_raft::{Item, Machine, MachineError, RaftMeta};

use super::batch::StateMachine;
use super::command::{Applied, Envelope};
use super::state_machine::CommandError;
use super::{StoreError, snapshot};

/// What a log entry answered, as it travels back to the node that proposed it.
pub type Answer = Result<Applied, CommandError>;

pub struct Replicated {
    machine: Mutex<StateMachine>,
}

fn fault(e: &StoreError) -> MachineError {
    MachineError(e.to_string())
}

impl Replicated {
    pub fn new(machine: StateMachine) -> Arc<Self> {
        Arc::new(Self {
            machine: Mutex::new(machine),
        })
    }

    /// Runs `f` with the state machine.
    pub fn with<T>(&self, f: impl FnOnce(&mut StateMachine) -> T) -> T {
        let mut machine = self
            .machine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut machine)
    }
}

impl Machine for Replicated {
    fn raft_meta(&self) -> Result<RaftMeta, MachineError> {
        self.with(|m| snapshot::raft_meta(m.database()))
            .map(RaftMeta)
            .map_err(|e| fault(&e))
    }

    fn apply(&self, items: &[Item], meta: &RaftMeta) -> Result<Vec<Vec<u8>>, MachineError> {
        self.with(|machine| {
            let mut batch = machine.begin().map_err(|e| fault(&e))?;
            let mut answers = Vec::with_capacity(items.len());
            for item in items {
                let Some(bytes) = &item.command else {
                    batch.advance(item.index);
                    answers.push(Vec::new());
                    continue;
                };
                // An entry that does not decode is refused like any other, on every node.
                let answer: Answer = match postcard::from_bytes::<Envelope>(bytes) {
                    Ok(envelope) => batch
                        .apply_at(item.index, &envelope, |_, _| Ok(()))
                        .map_err(|e| fault(&e))?,
                    Err(e) => {
                        batch.advance(item.index);
                        Err(CommandError::Invalid(format!(
                            "the log entry is not a command: {e}"
                        )))
                    }
                };
                answers
                    .push(postcard::to_stdvec(&answer).map_err(|e| MachineError(e.to_string()))?);
            }
            batch.set_raft_meta(meta.0.clone());
            batch.commit().map_err(|e| fault(&e))?;
            Ok(answers)
        })
    }

    fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<RaftMeta, MachineError> {
        // Only the database handle is needed: the read transaction is a consistent view.
        let db = self.with(|m| Arc::clone(m.database()));
        snapshot::write(&db, out)
            .map(RaftMeta)
            .map_err(|e| fault(&e))
    }

    fn install_snapshot(
        &self,
        input: &mut dyn std::io::Read,
        meta: &RaftMeta,
    ) -> Result<(), MachineError> {
        self.with(|machine| {
            let db = Arc::clone(machine.database());
            snapshot::install(&db, input, &meta.0).map_err(|e| fault(&e))?;
            machine.replace_database(db).map_err(|e| fault(&e))
        })
    }
}

#[cfg(test)]
mod tests;
