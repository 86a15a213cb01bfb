//! Membership online: one node grows to three (the newcomers catch up through a snapshot,
//! the log they would need having been dropped), then shrinks to two, taking writes
//! throughout.

#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use burgee_raft::{MemberChange, MembershipError};
use std::time::Duration;

use common::{Running, eventually, listener, start_on};

async fn start(id: u64) -> Running {
    start_on(id, listener().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_grows_to_three_through_a_snapshot_then_shrinks_to_two() {
    let first = start(1).await;
    first.node.initialize_alone(&first.address).await.unwrap();
    first
        .node
        .wait_leader(Duration::from_secs(10))
        .await
        .unwrap();
    for n in 0..200 {
        first
            .node
            .write(format!("early {n}").into_bytes())
            .await
            .unwrap();
    }
    // The log of those writes is dropped: newcomers can only catch up from a snapshot.
    first.node.compact(Duration::from_secs(20)).await.unwrap();
    let status = first.node.status();
    assert!(status.purged.is_some_and(|p| p >= 200), "{status:?}");

    let second = start(2).await;
    let third = start(3).await;
    for newcomer in [&second, &third] {
        let id = newcomer.node.status().id;
        let url = newcomer.address.clone();
        let learner = MemberChange::Add {
            id,
            url,
            voter: false,
        };
        first.node.change_members(learner).await.unwrap();
    }
    eventually("two learners", || {
        first.node.status().learners == vec![2, 3]
    })
    .await;
    eventually("the learners to hold the snapshot's state", || {
        second.memory.commands().len() == 200 && third.memory.commands().len() == 200
    })
    .await;
    // A learner added again as a voter is promoted; through a follower, the leader does it.
    for newcomer in [&second, &third] {
        let promote = MemberChange::Add {
            id: newcomer.node.status().id,
            url: newcomer.address.clone(),
            voter: true,
        };
        second.node.change_members(promote).await.unwrap();
    }
    let moved = MemberChange::Add {
        id: 3,
        url: "http://127.0.0.1:1".into(),
        voter: true,
    };
    assert!(matches!(
        first.node.change_members(moved).await,
        Err(MembershipError::Conflict(_))
    ));
    eventually("three voters", || {
        first.node.status().voters == vec![1, 2, 3]
    })
    .await;
    for n in 0..20 {
        second
            .node
            .write(format!("three {n}").into_bytes())
            .await
            .unwrap();
    }
    eventually("all three to apply every write", || {
        [&first, &second, &third]
            .iter()
            .all(|r| r.memory.commands().len() == 220)
    })
    .await;
    assert_eq!(first.memory.commands(), third.memory.commands());

    // Shrink to two: node 3 leaves, the two others go on.
    first
        .node
        .change_members(MemberChange::Remove { id: 3 })
        .await
        .unwrap();
    assert_eq!(
        first
            .node
            .change_members(MemberChange::Remove { id: 3 })
            .await,
        Err(MembershipError::UnknownMember(3))
    );
    third.server.abort();
    third.node.shutdown().await.unwrap();
    eventually("two voters", || first.node.status().voters == vec![1, 2]).await;
    for n in 0..10 {
        second
            .node
            .write(format!("two {n}").into_bytes())
            .await
            .unwrap();
    }
    eventually("both to apply", || {
        first.memory.commands().len() == 230 && second.memory.commands().len() == 230
    })
    .await;
    for running in [first, second] {
        running.server.abort();
        running.node.shutdown().await.unwrap();
    }
}
