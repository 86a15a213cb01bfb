//! Three nodes in one process, each with its own cluster port: they form a group, replicate
//! writes made through any of them, elect a new leader when the leader stops, and refuse
//! cluster traffic without the cluster's secret.

#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use burgee_raft::Node;
use common::{eventually, listener, start_on};

/// Writes through `node`, retrying while an election is under way.
async fn write(node: &Node, command: &str) -> Vec<u8> {
    let started = Instant::now();
    loop {
        match node.write(command.as_bytes().to_vec()).await {
            Ok(written) => return written.answer,
            Err(error) => {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "write {command}: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_fail_over_and_refuse_strangers() {
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(start_on(id, listener().await).await);
    }
    let members: BTreeMap<u64, String> = nodes
        .iter()
        .zip(1..)
        .map(|(n, id)| (id, n.address.clone()))
        .collect();
    nodes[0].node.initialize(&members).await.unwrap();
    eventually("a leader", || {
        nodes.iter().all(|n| n.node.status().leader.is_some())
    })
    .await;
    let leader = nodes[0].node.status().leader.unwrap();
    eventually("three voters", || {
        nodes[0].node.status().voters == vec![1, 2, 3]
    })
    .await;

    // Writes through every node, followers forwarding to the leader.
    for n in 0..30 {
        let node = &nodes[n % 3].node;
        let command = format!("write {n}");
        assert_eq!(
            write(node, &command).await,
            command.bytes().rev().collect::<Vec<_>>()
        );
    }
    eventually("every node to apply every write", || {
        nodes.iter().all(|n| n.memory.commands().len() == 30)
    })
    .await;
    let first = nodes[0].memory.commands();
    assert!(nodes.iter().all(|n| n.memory.commands() == first));

    // The leader knows how far each follower's log matches; linearizable reads go through it.
    let leader_node = &nodes
        .iter()
        .find(|n| n.node.status().is_leader)
        .unwrap()
        .node;
    eventually("the followers to match the leader's log", || {
        let status = leader_node.status();
        status.replication.len() == 3
            && status
                .replication
                .values()
                .all(|m| *m == status.last_log_index)
    })
    .await;
    // A read after an acknowledged write sees it on every node: a follower asks the leader
    // for its read index and applies up to it before it answers.
    let timeout = Duration::from_secs(10);
    leader_node.linearize(timeout).await.unwrap();
    let written = leader_node.write(b"read me".to_vec()).await.unwrap();
    let follower = nodes.iter().find(|n| !n.node.status().is_leader).unwrap();
    follower.node.linearize(timeout).await.unwrap();
    assert_eq!(
        follower
            .memory
            .commands()
            .get(&written.index)
            .map(Vec::as_slice),
        Some(&b"read me"[..])
    );

    // A request without the cluster's secret is refused.
    let refused = reqwest::Client::builder()
        .tls_backend_preconfigured(burgee_raft::network::client_tls(
            rustls::RootCertStore::empty(),
        ))
        .build()
        .unwrap()
        .post(format!("{}/raft/vote", members[&1]))
        .header(burgee_raft::network::SECRET_HEADER, "not-the-secret")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    // The leader stops: the others elect a new one and take writes (41 in all, with the
    // read-index write above).
    let position = nodes
        .iter()
        .position(|n| n.node.status().id == leader)
        .unwrap();
    let stopped = nodes.remove(position);
    stopped.server.abort();
    stopped.node.shutdown().await.unwrap();
    for n in 30..40 {
        write(&nodes[n % 2].node, &format!("write {n}")).await;
    }
    eventually("a new leader known to the survivors", || {
        nodes
            .iter()
            .all(|n| n.node.status().leader.is_some_and(|l| l != leader))
    })
    .await;
    eventually("both survivors to apply every write", || {
        nodes.iter().all(|n| n.memory.commands().len() == 41)
    })
    .await;
    assert_eq!(nodes[0].memory.commands(), nodes[1].memory.commands());
    for running in nodes {
        running.server.abort();
        running.node.shutdown().await.unwrap();
    }
}
