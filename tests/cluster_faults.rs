//! A three-node cluster of real processes through faults: a node cut off by a network
//! partition refuses writes, serves stale reads and catches up once healed; a wiped node
//! rejoins through a snapshot of a store with many identities; all three restarted together
//! keep their state. (`kill -9` of the leader under write load: `cluster_failover.rs`.)

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, project_names};
use common::server::{client, identify, metric, metrics_text};
use reqwest::Method;
use serde_json::json;

const ELECTION: Duration = Duration::from_secs(20);

async fn flags_status(cluster: &Cluster, id: usize, key: &str) -> (u16, serde_json::Value) {
    let response = client()
        .get(cluster.node(id).url("/api/v1/flags/"))
        .header("X-Environment-Key", key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Whether feature `name` is enabled in the flags node `id` serves.
async fn enabled(cluster: &Cluster, id: usize, key: &str, name: &str) -> Option<bool> {
    let (status, flags) = flags_status(cluster, id, key).await;
    assert_eq!(status, 200, "node {id}: {flags}");
    flags
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"]["name"] == name)
        .map(|f| f["enabled"].as_bool().unwrap())
}

async fn toggle(cluster: &Cluster, at: usize, enabled: bool) -> (u16, serde_json::Value) {
    cluster
        .admin(at)
        .call(
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            Some(json!({ "enabled": enabled })),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_node_refuses_writes_serves_stale_reads_and_catches_up_when_healed() {
    let cluster = Cluster::proxied(3, &[]).await;
    let leader = cluster.ready(ELECTION).await;
    let admin = cluster.admin(leader);
    let key = admin.web_production().await;
    admin
        .post("/admin/v1/projects/1/features", json!({"name": "banner"}))
        .await;
    let cut = (1..=3).find(|id| *id != leader).unwrap();
    let started = Instant::now();
    while enabled(&cluster, cut, &key, "banner").await != Some(false) {
        assert!(
            started.elapsed() < ELECTION,
            "node {cut} never served the feature"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    cluster.partition(cut);
    // The majority goes on: a write through it is acknowledged.
    let (status, body) = toggle(&cluster, leader, true).await;
    assert_eq!(status, 200, "{body}");
    // The node cut off refuses writes within a few seconds, with no_quorum…
    let asked = Instant::now();
    let (status, body) = toggle(&cluster, cut, false).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("no_quorum")),
        "{body}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
    // …and serves its last state to SDKs: the feature as it was before the cut.
    assert_eq!(enabled(&cluster, cut, &key, "banner").await, Some(false));
    let ready = client()
        .get(cluster.node(cut).url("/health/readiness"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "stale flags beat no flags");

    cluster.heal();
    let started = Instant::now();
    while enabled(&cluster, cut, &key, "banner").await != Some(true) {
        assert!(started.elapsed() < ELECTION, "node {cut} did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Healed, it takes writes again, and its refused write never applied anywhere.
    let mut accepted = false;
    for _ in 0..100 {
        if toggle(&cluster, cut, true).await.0 == 200 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "the healed node takes writes");
    for id in 1..=3 {
        assert_eq!(enabled(&cluster, id, &key, "banner").await, Some(true));
    }
}

/// Identities the snapshot test writes (more in `scripts/cluster-soak.sh`).
fn identity_count() -> usize {
    std::env::var("BURGEE_REJOIN_IDENTITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_rejoins_through_a_snapshot_of_many_identities() {
    // Snapshots every 100 entries, so the log a wiped node would need is long gone.
    let mut cluster = Cluster::proxied(3, &["--snapshot-entries", "100"]).await;
    let leader = cluster.ready(ELECTION).await;
    let key = cluster.admin(leader).web_production().await;
    let count = identity_count();
    let writers = 8;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let base = cluster.node(leader).base.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let http = client();
            for n in (writer..count).step_by(writers) {
                let traits = json!([{"trait_key": "plan", "trait_value": format!("plan {n}")}, {"trait_key": "n", "trait_value": n}]);
                let response = http
                    .post(format!("{base}/api/v1/identities/"))
                    .header("X-Environment-Key", &key)
                    .json(&json!({"identifier": format!("user-{n}"), "traits": traits}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    // Node 1 has the lowest id: wiped, it must rejoin rather than form a second cluster.
    let wiped = 1;
    cluster.kill(wiped);
    cluster.wipe(wiped);
    let leader = cluster.leader(ELECTION).await;
    let status = cluster.status(leader).await;
    assert!(
        status["purged_index"].as_u64().is_some(),
        "the leader dropped the log: {status}"
    );
    cluster.start_node(wiped);
    let started = Instant::now();
    loop {
        let identities = metric(cluster.node(wiped), "burgee_identities").await;
        if identities == Some(count as f64) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120 + count as u64 / 1000),
            "node {wiped} holds {identities:?} identities, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = cluster.status(wiped).await;
    assert!(
        status["snapshot_index"].as_u64().is_some(),
        "it caught up through a snapshot: {status}"
    );
    assert_eq!(
        status["cluster_id"],
        cluster.status(leader).await["cluster_id"]
    );
    // Its metrics count the snapshot it installed, and how long that took.
    let metrics = metrics_text(cluster.node(wiped)).await;
    let installed = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{kind=\"installed\"}} ")))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(installed("burgee_raft_snapshots_total") >= 1.0, "{metrics}");
    assert!(
        installed("burgee_raft_snapshot_seconds_count") >= 1.0,
        "{metrics}"
    );
    // Its identities carry their traits.
    for n in [0, count / 2, count - 1] {
        let (status, body) =
            identify(cluster.node(wiped), &key, &format!("user-{n}"), json!([])).await;
        assert_eq!(status, 200, "{body}");
        let plan = body["traits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["trait_key"] == "plan")
            .map(|t| t["trait_value"].clone());
        assert_eq!(plan, Some(json!(format!("plan {n}"))), "{body}");
    }
    // And it takes part: a write through it is acknowledged.
    let (status, body) = cluster
        .admin(wiped)
        .call(
            Method::POST,
            "/admin/v1/projects",
            Some(json!({"name": "After rejoining"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_restarted_together_keep_their_state() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.ready(ELECTION).await;
    let admin = cluster.admin(leader);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    admin
        .post("/admin/v1/projects", json!({"name": "Mobile"}))
        .await;
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.start_node(id);
    }
    let leader = cluster.leader(ELECTION).await;
    for id in 1..=3 {
        cluster
            .eventually(
                id,
                "the state from before the restart",
                |admin| async move { project_names(&admin).await == ["Web", "Mobile"] },
            )
            .await;
    }
    let (status, body) = cluster
        .admin(leader)
        .call(
            Method::POST,
            "/admin/v1/projects",
            Some(json!({"name": "After"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}
