//! A node's place in its cluster: forming or joining it at start, serving the cluster port,
//! and what `/health/cluster` and the metrics tell of Raft.
//!
//! Bootstrap rules: a node that belongs to a group already (its Raft log or state says so)
//! just starts. A new node without a cluster port forms a group of one; so does a new node
//! with a cluster port but no `--initial-cluster` (`burgee cluster add` grows it). With
//! `--initial-cluster`, the member with the lowest id forms the group of all of them and the
//! others wait for it to reach them, so no two nodes ever form two groups.

use std::time::Duration;

use anyhow::Context as _;
use burgee_raft::{ClusterSecret, Status};
use serde_json::{Value, json};

use crate::config::{ClusterSettings, Settings};
use crate::store::{NodeOptions, Store};

/// How long a node that forms a group of one waits to lead it.
const LEAD_ALONE: Duration = Duration::from_secs(30);

/// Where a node stands after [`bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It formed the group (now or before): it writes the first configuration.
    Founder,
    /// It waits for, or already follows, a group another node formed.
    Member,
}

/// The node's options from the settings.
pub fn node_options(settings: &Settings) -> NodeOptions {
    match &settings.cluster {
        None => NodeOptions::single(),
        Some(cluster) => NodeOptions {
            id: cluster.node_id,
            secret: Some(ClusterSecret::new(cluster.secret.expose())),
            advertise: cluster.advertise_url.clone(),
        },
    }
}

/// Forms the group when this node is the one to (see the module's rules).
pub async fn bootstrap(store: &Store, cluster: Option<&ClusterSettings>) -> anyhow::Result<Role> {
    let node = store.node();
    let status = node.status();
    let member_already = status.last_log_index.is_some() || !status.members.is_empty();
    let founder = match cluster {
        None => true,
        Some(cluster) => match cluster.initial_cluster.keys().next() {
            None => true,
            Some(lowest) => *lowest == cluster.node_id,
        },
    };
    if member_already {
        // Alone in its group, a restarted node elects itself within an election timeout;
        // until then it could take no write.
        if status.voters == [status.id] {
            node.wait_leader(LEAD_ALONE)
                .await
                .context("leading the group of one again")?;
        }
        return Ok(if founder { Role::Founder } else { Role::Member });
    }
    match cluster {
        None => {
            node.initialize_alone(&NodeOptions::single().advertise)
                .await
                .context("forming a group of one")?;
            node.wait_leader(LEAD_ALONE)
                .await
                .context("leading the group of one")?;
        }
        Some(cluster) if cluster.initial_cluster.is_empty() => {
            node.initialize_alone(&cluster.advertise_url)
                .await
                .context("forming a cluster of one")?;
            node.wait_leader(LEAD_ALONE)
                .await
                .context("leading the cluster of one")?;
            tracing::info!(
                node_id = cluster.node_id,
                "formed a cluster of one; `burgee cluster add` grows it"
            );
        }
        Some(cluster) if founder => {
            node.initialize(&cluster.initial_cluster)
                .await
                .context("forming the cluster")?;
            tracing::info!(node_id = cluster.node_id, members = ?cluster.initial_cluster, "formed the cluster");
        }
        Some(cluster) => {
            tracing::info!(
                node_id = cluster.node_id,
                "waiting for the node with the lowest id of --initial-cluster to reach this one"
            );
        }
    }
    Ok(if founder { Role::Founder } else { Role::Member })
}

/// Serves the cluster port (Raft traffic between nodes) until the process ends.
pub async fn serve_port(
    store: &Store,
    cluster: &ClusterSettings,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let router = store
        .node()
        .router()
        .context("the node has no cluster network")?;
    let listener = tokio::net::TcpListener::bind(cluster.listen)
        .await
        .with_context(|| format!("listening on the cluster port {}", cluster.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, node_id = cluster.node_id, advertised = %cluster.advertise_url, "cluster port open");
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the cluster port stopped");
        }
    }))
}

/// The node's role as people name it.
pub fn role(status: &Status) -> &'static str {
    if status.is_leader {
        "leader"
    } else if status.learners.contains(&status.id) {
        "learner"
    } else if !status.voters.contains(&status.id) {
        "joining"
    } else if status.leader.is_some() {
        "follower"
    } else {
        "candidate"
    }
}

/// What `/health/cluster` shows.
pub fn status_json(status: &Status) -> Value {
    let replication: serde_json::Map<String, Value> = status
        .replication
        .iter()
        .map(|(id, matched)| {
            let lag = match (status.last_log_index, matched) {
                (Some(last), Some(matched)) => last.saturating_sub(*matched),
                (Some(last), None) => last,
                _ => 0,
            };
            (
                id.to_string(),
                json!({"matched_index": matched, "lag": lag}),
            )
        })
        .collect();
    let members: Vec<Value> = status
        .members
        .iter()
        .map(|(id, url)| {
            json!({
                "id": id,
                "url": url,
                "voter": status.voters.contains(id),
            })
        })
        .collect();
    json!({
        "node_id": status.id,
        "role": role(status),
        "term": status.term,
        "leader": status.leader,
        "members": members,
        "last_log_index": status.last_log_index,
        "applied_index": status.last_applied,
        "snapshot_index": status.snapshot,
        "purged_index": status.purged,
        "replication": replication,
        "millis_since_quorum_ack": status.millis_since_quorum_ack,
    })
}

/// Sets the Raft gauges (on each scrape).
pub fn record_metrics(status: &Status) {
    metrics::gauge!("burgee_raft_term").set(status.term as f64);
    metrics::gauge!("burgee_raft_is_leader").set(f64::from(u8::from(status.is_leader)));
    metrics::gauge!("burgee_raft_leader_id").set(status.leader.unwrap_or(0) as f64);
    metrics::gauge!("burgee_raft_last_log_index").set(status.last_log_index.unwrap_or(0) as f64);
    metrics::gauge!("burgee_raft_applied_index").set(status.last_applied.unwrap_or(0) as f64);
    metrics::gauge!("burgee_raft_snapshot_index").set(status.snapshot.unwrap_or(0) as f64);
    metrics::gauge!("burgee_raft_voters").set(status.voters.len() as f64);
    let last = status.last_log_index.unwrap_or(0);
    for (id, matched) in &status.replication {
        let lag = last.saturating_sub(matched.unwrap_or(0));
        metrics::gauge!("burgee_raft_follower_lag_entries", "node" => id.to_string())
            .set(lag as f64);
    }
}
