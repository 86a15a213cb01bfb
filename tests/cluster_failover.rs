//! `kill -9` of the leader, again and again, under continuous writes through every node: a
//! new leader is elected each time and writes resume; once all three nodes are back, every
//! acknowledged write is on every node and no value appears that was never written.
//! `BURGEE_LEADER_KILLS` sets the number of kills (3 here; `scripts/cluster-soak.sh` runs 10).

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::server::{TOKEN, client};
use serde_json::json;

const ELECTION: Duration = Duration::from_secs(20);

fn kills() -> usize {
    std::env::var("BURGEE_LEADER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// What the writers tried and what was acknowledged.
#[derive(Default)]
struct Ledger {
    attempted: BTreeSet<String>,
    acknowledged: BTreeSet<String>,
}

/// Creates features with fresh names through whichever nodes run, until told to stop.
async fn writer(
    number: usize,
    nodes: Arc<Mutex<Vec<String>>>,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let http = client();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        n += 1;
        let name = format!("w{number}-{n}");
        let base = {
            let nodes = nodes.lock().unwrap();
            nodes[(number + n) % nodes.len()].clone()
        };
        ledger.lock().unwrap().attempted.insert(name.clone());
        let answer = http
            .post(format!("{base}/admin/v1/projects/1/features"))
            .bearer_auth(TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await;
        match answer {
            Ok(response) if response.status() == 201 => {
                ledger.lock().unwrap().acknowledged.insert(name);
            }
            Ok(response) => {
                let status = response.status().as_u16();
                assert!(
                    status == 503 || status == 408,
                    "a write answered {status}: {}",
                    response.text().await.unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The node went away mid-request.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn feature_names(cluster: &Cluster, id: usize) -> BTreeSet<String> {
    cluster
        .admin(id)
        .all("/admin/v1/projects/1/features")
        .await
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

fn bases(cluster: &Cluster) -> Vec<String> {
    cluster
        .running()
        .iter()
        .map(|id| cluster.node(*id).base.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_under_write_load_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.ready(ELECTION).await;
    cluster
        .admin(leader)
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;

    let nodes = Arc::new(Mutex::new(bases(&cluster)));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(writer(
                n,
                Arc::clone(&nodes),
                Arc::clone(&ledger),
                Arc::clone(&stop),
            ))
        })
        .collect();

    for round in 0..kills() {
        let before = ledger.lock().unwrap().acknowledged.len();
        let leader = cluster.leader(ELECTION).await;
        cluster.kill(leader);
        *nodes.lock().unwrap() = bases(&cluster);
        let elected = cluster.leader(ELECTION).await;
        assert_ne!(elected, leader, "round {round}");
        // Writes resume without the old leader…
        let started = Instant::now();
        while ledger.lock().unwrap().acknowledged.len() < before + 20 {
            assert!(
                started.elapsed() < ELECTION,
                "round {round}: writes did not resume after the leader's kill"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // …and go on once it is back.
        cluster.start_node(leader);
        *nodes.lock().unwrap() = bases(&cluster);
        let _ = cluster.leader(ELECTION).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in writers {
        task.await.unwrap();
    }

    let (attempted, acknowledged) = {
        let ledger = ledger.lock().unwrap();
        (ledger.attempted.clone(), ledger.acknowledged.clone())
    };
    assert!(acknowledged.len() > 20 * kills(), "{}", acknowledged.len());
    let mut seen = Vec::new();
    for id in 1..=3 {
        // Linearizable reads: each node first applies everything committed.
        let names = feature_names(&cluster, id).await;
        let missing: Vec<_> = acknowledged.difference(&names).collect();
        assert!(
            missing.is_empty(),
            "node {id} lost acknowledged writes {missing:?}"
        );
        let invented: Vec<_> = names.difference(&attempted).collect();
        assert!(
            invented.is_empty(),
            "node {id} holds writes never made: {invented:?}"
        );
        seen.push(names);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
}
