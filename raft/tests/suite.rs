//! openraft's own storage test suite against the segment-file log store and the state-machine
//! adapter (over a small in-memory machine: the server's store gets its own tests).

#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use std::sync::Arc;

use burgee_raft::types::{StorageError, TypeConfig};
use burgee_raft::{LogStore, StateMachine};
use common::Memory;
use openraft::testing::{StoreBuilder, Suite};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(&dir.path().join("log")).unwrap();
        let machine =
            StateMachine::new(Arc::new(Memory::default()), &dir.path().join("snapshots")).unwrap();
        Ok((dir, log, machine))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}
