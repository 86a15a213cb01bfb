//! openraft's own storage test suite against the redb log store and the state-machine
//! adapter (over a small in-memory machine: the server's store gets its own tests).

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use burgee_raft::types::{StorageError, TypeConfig};
use burgee_raft::{Item, LogStore, Machine, MachineError, RaftMeta, StateMachine};
use openraft::testing::{StoreBuilder, Suite};

/// Commands by log index, and the raft state stored with them.
type State = (BTreeMap<u64, Vec<u8>>, Vec<u8>);

#[derive(Default)]
struct Memory {
    state: Mutex<State>,
}

impl Machine for Memory {
    fn raft_meta(&self) -> Result<RaftMeta, MachineError> {
        Ok(RaftMeta(self.state.lock().unwrap().1.clone()))
    }

    fn apply(&self, items: &[Item], meta: &RaftMeta) -> Result<Vec<Vec<u8>>, MachineError> {
        let mut state = self.state.lock().unwrap();
        let answers = items
            .iter()
            .map(|item| match &item.command {
                Some(command) => {
                    state.0.insert(item.index, command.clone());
                    command.iter().rev().copied().collect()
                }
                None => Vec::new(),
            })
            .collect();
        state.1.clone_from(&meta.0);
        Ok(answers)
    }

    fn write_snapshot(&self, out: &mut dyn Write) -> Result<RaftMeta, MachineError> {
        let state = self.state.lock().unwrap();
        let bytes = postcard::to_stdvec(&*state).unwrap();
        out.write_all(&bytes)
            .map_err(|e| MachineError(e.to_string()))?;
        Ok(RaftMeta(state.1.clone()))
    }

    fn install_snapshot(&self, input: &mut dyn Read, meta: &RaftMeta) -> Result<(), MachineError> {
        let mut bytes = Vec::new();
        input
            .read_to_end(&mut bytes)
            .map_err(|e| MachineError(e.to_string()))?;
        let (commands, _): State =
            postcard::from_bytes(&bytes).map_err(|e| MachineError(e.to_string()))?;
        *self.state.lock().unwrap() = (commands, meta.0.clone());
        Ok(())
    }
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(&dir.path().join("raft-log.redb")).unwrap();
        let machine =
            StateMachine::new(Arc::new(Memory::default()), &dir.path().join("snapshots")).unwrap();
        Ok((dir, log, machine))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}
