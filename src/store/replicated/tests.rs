#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::Arc;
use std::time::Duration;

use burgee_raft::{Node, NodeConfig};

use super::{Answer, Replicated};
use crate::store::batch::StateMachine;
use crate::store::command::{Actor, Applied, Command, Envelope};
use crate::store::database::{self, Backend};
use crate::store::writer::NoViews;

type Store = Replicated<NoViews>;

fn store(dir: &std::path::Path) -> Arc<Store> {
    let path = dir.join("state.redb");
    let db = Arc::new(database::open(&path, &Backend::default()).unwrap());
    Replicated::without_views(StateMachine::new(db, Backend::default()).unwrap(), path)
}

fn catalog(replicated: &Store) -> Arc<crate::store::Catalog> {
    replicated
        .with_machine(|m| Arc::clone(m.catalog()))
        .unwrap()
}

fn dump(replicated: &Store) -> Vec<database::DumpedRow> {
    replicated
        .with_machine(|m| database::dump(m.database()).unwrap())
        .unwrap()
}

/// An initialisation and the projects Web and Mobile.
fn initialise_and_two_projects() -> [Command; 3] {
    [
        Command::Initialize {
            organisation_name: "default".into(),
            instance_seed: [3; 16],
            admin_token: None,
            setup: None,
        },
        Command::CreateProject {
            name: "Web".into(),
            hide_disabled_flags: false,
        },
        Command::CreateProject {
            name: "Mobile".into(),
            hide_disabled_flags: false,
        },
    ]
}

/// Waits until the stopped node's tasks let go of the store, then closes it.
async fn released(replicated: Arc<Store>) {
    let started = std::time::Instant::now();
    while Arc::strong_count(&replicated) > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the stopped node still holds the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Proposes one command as a log entry of its own; its answer.
async fn write(node: &Node, command: Command) -> crate::store::writer::Answer {
    let envelope = Envelope::now(Actor::System, "test", command);
    let written = node
        .write(postcard::to_stdvec(&vec![envelope]).unwrap())
        .await
        .unwrap();
    let answers: Answer = postcard::from_bytes(&written.answer).unwrap();
    answers.unwrap().remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_member_raft_group_over_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig {
        id: 1,
        dir: dir.path().join("raft"),
        secret: None,
        snapshot_entries: burgee_raft::DEFAULT_SNAPSHOT_ENTRIES,
        peer_tls: None,
        command_format: 1,
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
    // The store counts commands (22: the initialisation, 20 projects, the refused clash);
    // Raft counts entries, its own included. The node's metrics follow its applies a moment
    // later.
    assert_eq!(catalog(&replicated).meta.last_applied, 22);
    let applied = node.status().last_log_index;
    let started = std::time::Instant::now();
    while node.status().last_applied != applied {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?} vs {applied:?}",
            node.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.shutdown().await.unwrap();
    let before = dump(&replicated);
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
    let projects = catalog(&replicated).projects.len();
    assert_eq!(projects, 20);
    let after: Vec<_> = dump(&replicated);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_the_single_node_server_joins_raft_without_a_step() {
    let dir = tempfile::tempdir().unwrap();
    // What the single-node server wrote: batches applied at their own indexes, no Raft state.
    {
        let path = dir.path().join("state.redb");
        let db = Arc::new(database::open(&path, &Backend::default()).unwrap());
        let mut machine = StateMachine::new(db, Backend::default()).unwrap();
        for command in initialise_and_two_projects() {
            let mut batch = machine.begin().unwrap();
            let envelope = Envelope::now(Actor::System, "old", command);
            batch.apply(&envelope, |_, _| Ok(())).unwrap().unwrap();
            batch.commit().unwrap();
        }
        assert_eq!(machine.catalog().meta.last_applied, 3);
    }
    let store = crate::store::Store::open(dir.path(), Arc::new(NoViews))
        .await
        .unwrap();
    assert_eq!(store.catalog().projects.len(), 2, "nothing was lost");
    let envelope = Envelope::now(
        Actor::System,
        "new",
        Command::CreateProject {
            name: "Docs".into(),
            hide_disabled_flags: false,
        },
    );
    let answer = store.execute(envelope).await.unwrap();
    assert_eq!(answer, Ok(Applied::Created { id: 3 }), "ids go on");
    let applied = store.catalog().meta.last_applied;
    assert!(
        applied > 3,
        "the log goes on after the last write: {applied}"
    );
    store.close().await.unwrap();
    drop(store);

    // And it opens again as the group it became.
    let reopened = loop {
        match crate::store::Store::open(dir.path(), Arc::new(NoViews)).await {
            Ok(store) => break store,
            Err(crate::store::StoreError::Locked { .. }) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other}"),
        }
    };
    assert_eq!(reopened.catalog().projects.len(), 3);
    assert!(reopened.catalog().meta.last_applied >= applied);
    reopened.close().await.unwrap();
}

#[test]
fn a_reopen_after_unsynced_batches_applies_again_what_the_file_lost() {
    use burgee_raft::{Item, Machine as _, RaftMeta};

    let dir = tempfile::tempdir().unwrap();
    let replicated = store(dir.path());
    for (n, command) in initialise_and_two_projects().into_iter().enumerate() {
        let index = n as u64 + 1;
        let envelope = Envelope::now(Actor::System, "unsynced", command);
        let item = Item {
            index,
            command: Some(postcard::to_stdvec(&vec![envelope]).unwrap()),
        };
        let meta = RaftMeta::adopted(1, "http://test", index).unwrap();
        replicated.apply(&[item], &meta).unwrap();
    }
    let before = dump(&replicated);
    // What a storage fault does: close and reopen the file, then go on from it.
    replicated.with(crate::store::writer::Writer::reopen);
    assert_eq!(catalog(&replicated).projects.len(), 2);
    assert_eq!(catalog(&replicated).meta.last_applied, 3);
    assert!(dump(&replicated) == before, "the reopened state differs");
    assert_eq!(
        replicated.raft_meta().unwrap().last_applied().unwrap(),
        Some(3)
    );
}
