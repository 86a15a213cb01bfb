//! Three real `burgee` processes as one Raft cluster on loopback: writes at any node reach
//! every node, the cluster survives `kill -9` of its leader, a node that was down catches up,
//! a cluster without a majority refuses writes with 503 `no_quorum` while it still serves
//! reads, and a node with the wrong cluster secret takes no part.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::time::Duration;

use common::cluster::{Cluster, SECRET, project_names};
use common::server::client;
use reqwest::Method;
use serde_json::json;

const ELECTION: Duration = Duration::from_secs(20);

async fn create_project(cluster: &Cluster, at: usize, name: &str) -> u16 {
    let (status, body) = cluster.create_project(at, name).await;
    assert!(status == 201 || status == 503, "node {at}: {status} {body}");
    status
}

async fn serves_project(cluster: &Cluster, id: usize, name: &str) {
    let name = name.to_owned();
    cluster
        .eventually(id, &format!("serving project {name}"), |admin| {
            let name = name.clone();
            async move { project_names(&admin).await.contains(&name) }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_at_any_node_reach_every_node_and_survive_the_leader_s_kill_9() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader(ELECTION).await;
    // The founder writes the first configuration once the cluster has a leader.
    for id in 1..=3 {
        cluster
            .eventually(id, "readiness", |admin| async move {
                let url = format!("{}/health/readiness", admin.base);
                client()
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            })
            .await;
    }

    // A write at a follower is forwarded to the leader; every node serves it.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    assert_eq!(create_project(&cluster, follower, "Web").await, 201);
    assert_eq!(create_project(&cluster, leader, "Mobile").await, 201);
    for id in 1..=3 {
        serves_project(&cluster, id, "Web").await;
        serves_project(&cluster, id, "Mobile").await;
    }
    // The SDK API answers on every node with the same client key.
    let env = cluster
        .admin(follower)
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Production"}),
        )
        .await;
    let key = env["client_key"].as_str().unwrap().to_owned();
    for id in 1..=3 {
        let url = cluster.node(id).url("/api/v1/flags/");
        let started = std::time::Instant::now();
        loop {
            let response = client()
                .get(&url)
                .header("X-Environment-Key", &key)
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "node {id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let status = cluster.status(leader).await;
    assert_eq!(status["role"], "leader");
    assert_eq!(status["members"].as_array().unwrap().len(), 3);
    // `burgee cluster status` shows the same, for people and as JSON.
    let cli = |output: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_burgee"))
            .args(["cluster", "status", "--url", &cluster.node(leader).base])
            .args(["--output", output])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let shown: serde_json::Value = serde_json::from_str(&cli("json")).unwrap();
    assert_eq!(shown["role"], "leader");
    assert_eq!(shown["node_id"], leader);
    let table = cli("table");
    assert!(
        table.starts_with(&format!("node {leader} is leader in term ")),
        "{table}"
    );
    assert_eq!(table.matches("http://127.0.0.1:").count(), 3, "{table}");
    for id in 1..=3 {
        assert!(
            table
                .lines()
                .any(|l| l.trim_start().starts_with(&id.to_string())),
            "member {id}: {table}"
        );
    }

    // kill -9 the leader: the others elect a new one and take writes.
    cluster.kill(leader);
    let new_leader = cluster.leader(ELECTION).await;
    assert_ne!(new_leader, leader);
    let survivor = cluster.running()[0];
    let mut accepted = false;
    for attempt in 0..40 {
        if create_project(&cluster, survivor, "After failover").await == 201 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt % 5 + 1))).await;
    }
    assert!(accepted, "the surviving majority takes writes");
    for id in cluster.running() {
        serves_project(&cluster, id, "After failover").await;
    }

    // The killed node comes back and catches up with what it missed.
    cluster.start_node(leader);
    serves_project(&cluster, leader, "After failover").await;
    assert_eq!(
        project_names(&cluster.admin(leader)).await,
        ["Web", "Mobile", "After failover"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_writes_are_refused_with_no_quorum_and_reads_go_on() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.ready(ELECTION).await;
    assert_eq!(create_project(&cluster, leader, "Web").await, 201);
    let env = cluster
        .admin(leader)
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Production"}),
        )
        .await;
    let key = env["client_key"].as_str().unwrap().to_owned();
    for id in 1..=3 {
        serves_project(&cluster, id, "Web").await;
    }
    // Two of three go: whichever node is left, it cannot commit.
    let left = leader;
    for id in 1..=3 {
        if id != left {
            cluster.kill(id);
        }
    }
    let admin = cluster.admin(left);
    let (status, body) = admin
        .call(
            Method::POST,
            "/admin/v1/projects",
            Some(json!({"name": "Lost"})),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_quorum", "{body}");
    // Admin reads are linearizable: without a leader to confirm them they are refused, unless
    // the caller asks for this node's own state.
    let (status, body) = admin.call(Method::GET, "/admin/v1/projects", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("no_quorum")),
        "{body}"
    );
    let admin = admin.stale();
    assert_eq!(
        project_names(&admin).await,
        ["Web"],
        "reads of its own state go on"
    );
    // Its cluster probe says it cannot take part (no leader, or a leader without a quorum).
    let status = cluster.status(left).await;
    assert_eq!(status["healthy"], false, "{status}");
    // SDK reads are served from the node's last state.
    let flags = client()
        .get(cluster.node(left).url("/api/v1/flags/"))
        .header("X-Environment-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(flags.status(), 200, "SDK reads go on without a quorum");
    let ready = client()
        .get(cluster.node(left).url("/health/readiness"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "a node without quorum stays ready to serve reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_wrong_cluster_secret_takes_no_part() {
    let wrong = "a-different-cluster-secret-0123456789abcdef".to_owned();
    let mut cluster = Cluster::start_with_secrets(&[SECRET.into(), SECRET.into(), wrong]);
    // Nodes 1 and 2 are a majority of three: they elect a leader and take writes.
    let started = std::time::Instant::now();
    let leader = loop {
        let status = cluster.status(1).await;
        if let Some(leader) = status["leader"].as_u64()
            && leader != 3
        {
            break leader as usize;
        }
        assert!(started.elapsed() < ELECTION, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    cluster
        .eventually(leader, "the first configuration", |admin| async move {
            admin.call(Method::GET, "/admin/v1/projects", None).await.0 == 200
        })
        .await;
    assert_eq!(create_project(&cluster, leader, "Web").await, 201);
    serves_project(&cluster, 2, "Web").await;
    // Node 3 never hears a word it believes: it knows no leader, which its probe says.
    let status = cluster.status(3).await;
    assert!(status["leader"].is_null(), "{status}");
    assert_eq!(status["healthy"], false, "{status}");
    assert_eq!(cluster.status(leader).await["healthy"], true);
    assert!(status["applied_index"].is_null(), "{status}");
    let ready = client()
        .get(cluster.node(3).url("/health/readiness"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "node 3 holds no configuration");
    cluster.kill(3);
}
