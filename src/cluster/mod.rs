//! A node's place in its cluster: forming or joining it at start ([`bootstrap`]), serving
//! the cluster port, and what `/health/cluster` and the metrics tell of Raft.

mod bootstrap;
mod transport;
pub mod upgrade;

pub use bootstrap::{Role, bootstrap, form};
pub use transport::Transport;

use std::sync::Arc;

use anyhow::Context as _;
use burgee_raft::{ClusterSecret, Status};
use serde_json::{Value, json};

use crate::config::{ClusterSettings, Settings};
use crate::store::{Embedded, NodeOptions};

/// The node's options from the settings (and its cluster TLS).
pub fn node_options(settings: &Settings, transport: &Transport) -> NodeOptions {
    match &settings.cluster {
        None => NodeOptions::single(),
        Some(cluster) => NodeOptions {
            id: cluster.node_id,
            secret: Some(ClusterSecret::new(cluster.secret.expose())),
            advertise: cluster.advertise_url.clone(),
            snapshot_entries: cluster.snapshot_entries,
            peer_tls: transport.peers.clone(),
        },
    }
}

/// The cluster port's connection limits: a peer's headers arrive within seconds, an idle
/// connection (peers send heartbeats many times a second) is closed after a minute.
const PORT_LIMITS: crate::connections::Limits = crate::connections::Limits {
    header_read_timeout: std::time::Duration::from_secs(10),
    idle_timeout: std::time::Duration::from_secs(60),
    max_connections: 1024,
};

/// Serves the cluster port (Raft traffic between nodes, over TLS when `transport` has a
/// certificate) until the process ends.
pub async fn serve_port(
    store: &Embedded,
    cluster: &ClusterSettings,
    transport: &Transport,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let router = store
        .node()
        .router()
        .context("the node has no cluster network")?;
    let listener = tokio::net::TcpListener::bind(cluster.listen)
        .await
        .with_context(|| format!("listening on the cluster port {}", cluster.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, node_id = cluster.node_id, advertised = %cluster.advertise_url,
        tls = transport.acceptor.is_some(), mutual_tls = cluster.tls.client_ca.is_some(), "cluster port open");
    if let Some(certificate) = &transport.certificate {
        tokio::spawn(Arc::clone(certificate).watch());
    }
    let tls = transport.acceptor.clone();
    Ok(tokio::spawn(async move {
        // The port serves until the process ends: its stop signal never comes.
        let (_never, stop) = tokio::sync::watch::channel(false);
        crate::connections::serve(listener, "cluster", router, PORT_LIMITS, tls, stop).await;
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

/// How many applied entries a node may trail its own log by and still count as healthy.
const LAG_LIMIT: u64 = 1_000;
/// How long a leader may go without a quorum's acknowledgement and still count as healthy.
const QUORUM_SILENCE_MS: u64 = 3_000;

/// Why the node cannot take part in the cluster now (no leader known, a leader without a
/// quorum, or far behind its log), if it cannot.
pub fn unhealthy(status: &Status) -> Option<String> {
    if status.leader.is_none() {
        return Some("no leader is known".into());
    }
    if status.is_leader
        && status.voters.len() > 1
        && status
            .millis_since_quorum_ack
            .is_some_and(|m| m > QUORUM_SILENCE_MS)
    {
        return Some("the leader has not heard from a majority".into());
    }
    let lag = status
        .last_log_index
        .unwrap_or(0)
        .saturating_sub(status.last_applied.unwrap_or(0));
    (lag > LAG_LIMIT).then(|| format!("{lag} entries of the log are not applied yet"))
}

/// What `/health/cluster` shows (`formats`: the node's command formats and its peers').
pub fn status_json(status: &Status, formats: &burgee_raft::Formats) -> Value {
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
        "cluster_id": status.cluster_id,
        "healthy": unhealthy(status).is_none(),
        "reason": unhealthy(status),
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
        "command_format": {
            "active": formats.active(),
            "supported": formats.own(),
            "peers": formats
                .peers()
                .into_iter()
                .map(|(id, format)| (id.to_string(), json!(format)))
                .collect::<serde_json::Map<_, _>>(),
        },
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
