#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::Arc;
use std::time::Duration;

use burgee_raft::{Node, NodeConfig};

use super::{Answer, Replicated};
use crate::store::batch::StateMachine;
use crate::store::command::{Actor, Applied, Command, Envelope};
use crate::store::database::{self, Backend};

fn store(dir: &std::path::Path) -> Arc<Replicated> {
    let db = database::open(&dir.join("state.redb"), &Backend::default()).unwrap();
    Replicated::new(StateMachine::new(Arc::new(db), Backend::default()).unwrap())
}

/// Waits until the stopped node's tasks let go of the store, then closes it.
async fn released(replicated: Arc<Replicated>) {
    let started = std::time::Instant::now();
    while Arc::strong_count(&replicated) > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the stopped node still holds the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn write(node: &Node, command: Command) -> Answer {
    let envelope = Envelope::now(Actor::System, "test", command);
    let bytes = node
        .write(postcard::to_stdvec(&envelope).unwrap())
        .await
        .unwrap();
    postcard::from_bytes(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_member_raft_group_over_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig {
        id: 1,
        dir: dir.path().join("raft"),
        secret: None,
    };
    let replicated = store(dir.path());
    let node = Node::start(
        &config,
        Arc::clone(&replicated) as Arc<dyn burgee_raft::Machine>,
    )
    .await
    .unwrap();
    node.initialize_alone("127.0.0.1:0").await.unwrap();
    node.wait_leader(Duration::from_secs(10)).await.unwrap();
    let init = Command::Initialize {
        organisation_name: "default".into(),
        instance_seed: [1; 16],
        admin_token: None,
        setup: None,
    };
    assert!(matches!(
        write(&node, init).await,
        Ok(Applied::Created { .. })
    ));
    for n in 0..20 {
        let answer = write(
            &node,
            Command::CreateProject {
                name: format!("P{n}"),
                hide_disabled_flags: false,
            },
        )
        .await;
        assert_eq!(answer, Ok(Applied::Created { id: n + 1 }));
    }
    // A refusal travels back as the same error.
    let clash = write(
        &node,
        Command::CreateProject {
            name: "P0".into(),
            hide_disabled_flags: false,
        },
    )
    .await;
    assert!(
        matches!(clash, Err(crate::store::CommandError::Conflict(_))),
        "{clash:?}"
    );
    // The store's index is the log's (blank and membership entries included); the node's
    // metrics follow its applies a moment later.
    let applied = replicated.with(|m| m.catalog().meta.last_applied);
    let started = std::time::Instant::now();
    while node.status().last_applied != Some(applied) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?} vs {applied}",
            node.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.shutdown().await.unwrap();
    let before = replicated.with(|m| database::dump(m.database()).unwrap());
    released(replicated).await;

    // Restarted: the store kept what was applied, and nothing is applied twice.
    let replicated = store(dir.path());
    let node = Node::start(
        &config,
        Arc::clone(&replicated) as Arc<dyn burgee_raft::Machine>,
    )
    .await
    .unwrap();
    node.wait_leader(Duration::from_secs(10)).await.unwrap();
    let projects = replicated.with(|m| m.catalog().projects.len());
    assert_eq!(projects, 20);
    let after: Vec<_> = replicated.with(|m| database::dump(m.database()).unwrap());
    let without = |rows: &[database::DumpedRow]| {
        rows.iter()
            .filter(|(t, k, _)| !(*t == "meta" && (k == "raft" || k == "meta")))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        without(&after) == without(&before),
        "a restart changed the state"
    );
    let answer = write(
        &node,
        Command::CreateProject {
            name: "after".into(),
            hide_disabled_flags: false,
        },
    )
    .await;
    assert_eq!(answer, Ok(Applied::Created { id: 21 }));
    node.shutdown().await.unwrap();
}
