//! A one-member Raft group over the segment-file log: writes are answered once durable and applied,
//! and a restarted node replays its committed log into a machine that lost its state.

#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use std::sync::Arc;
use std::time::Duration;

use burgee_raft::{Node, NodeConfig};
use common::Memory;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_writes_restarts_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig {
        id: 1,
        dir: dir.path().to_owned(),
        secret: None,
        snapshot_entries: burgee_raft::DEFAULT_SNAPSHOT_ENTRIES,
        peer_tls: None,
        command_format: 1,
    };
    let memory = Arc::new(Memory::default());
    let node = Node::start(
        &config,
        Arc::clone(&memory) as Arc<dyn burgee_raft::Machine>,
    )
    .await
    .unwrap();
    node.initialize_alone("127.0.0.1:0").await.unwrap();
    node.wait_leader(Duration::from_secs(10)).await.unwrap();
    for n in 0..100u32 {
        let answer = node
            .write(format!("command {n}").into_bytes())
            .await
            .unwrap()
            .answer;
        assert_eq!(
            answer,
            format!("command {n}").bytes().rev().collect::<Vec<_>>()
        );
    }
    let status = node.status();
    assert!(status.is_leader);
    assert_eq!(status.voters, vec![1]);
    let applied = memory.commands();
    assert_eq!(applied.len(), 100);
    let last = status.last_applied.unwrap();
    node.shutdown().await.unwrap();

    // The machine lost everything (it lives in memory); the log brings it back.
    let fresh = Arc::new(Memory::default());
    let node = Node::start(&config, Arc::clone(&fresh) as Arc<dyn burgee_raft::Machine>)
        .await
        .unwrap();
    // Initialising again changes nothing: the node already belongs to its group.
    node.initialize_alone("127.0.0.1:0").await.unwrap();
    node.wait_leader(Duration::from_secs(10)).await.unwrap();
    let answer = node.write(b"after".to_vec()).await.unwrap().answer;
    assert_eq!(answer, b"retfa".to_vec());
    let replayed = fresh.commands();
    assert_eq!(
        replayed.len(),
        101,
        "every committed command replayed, then the new one"
    );
    for (index, command) in &applied {
        assert_eq!(replayed.get(index), Some(command));
    }
    // The node's metrics follow its applies a moment later.
    let started = std::time::Instant::now();
    while node
        .status()
        .last_applied
        .is_none_or(|applied| applied <= last)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            node.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.shutdown().await.unwrap();
}
