#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a part of these helpers
//! A small in-memory machine for the crate's tests (the server's store has its own).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Mutex;

use burgee_raft::{Item, Machine, MachineError, RaftMeta};

/// Commands by log index, and the raft state stored with them.
pub type State = (BTreeMap<u64, Vec<u8>>, Vec<u8>);

#[derive(Default)]
pub struct Memory {
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

impl Memory {
    /// The commands applied, by log index.
    pub fn commands(&self) -> BTreeMap<u64, Vec<u8>> {
        self.state.lock().unwrap().0.clone()
    }
}

/// The cluster secret of the tests' nodes.
pub const SECRET: &str = "cluster-secret-for-tests-0123456789";

/// A node with its cluster port served, its machine and its directory.
pub struct Running {
    pub node: burgee_raft::Node,
    pub memory: std::sync::Arc<Memory>,
    pub address: String,
    pub server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A free cluster port on 127.0.0.1 and its URL.
pub async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    (listener, address)
}

/// Starts node `id` on a fresh directory, serving its cluster port on `listener`.
pub async fn start_on(id: u64, (listener, address): (tokio::net::TcpListener, String)) -> Running {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(Memory::default());
    let config = burgee_raft::NodeConfig {
        id,
        dir: dir.path().to_owned(),
        secret: Some(burgee_raft::ClusterSecret::new(SECRET)),
        snapshot_entries: burgee_raft::DEFAULT_SNAPSHOT_ENTRIES,
        peer_tls: None,
        command_format: 1,
    };
    let node = burgee_raft::Node::start(&config, Arc::clone(&memory) as Arc<dyn Machine>)
        .await
        .unwrap();
    let router = node.router().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Running {
        node,
        memory,
        address,
        server,
        _dir: dir,
    }
}

/// Waits (generously) for `check` to hold.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
