//! Forming or joining a cluster at start.
//!
//! * A node that belongs to a group already (its Raft log or state says so) just starts —
//!   unless a peer it knows reports another cluster id than the one its data carries: then
//!   it refuses to start and says why (its data belongs to another cluster).
//! * A new node without a cluster port forms a group of one; so does a new node with a
//!   cluster port but neither `--initial-cluster` nor `--join` (`burgee cluster add` grows it).
//! * With `--join`, a new node never forms a group: it waits to be added.
//! * With `--initial-cluster`, the member with the lowest id forms the group of all of them,
//!   once a majority of them answer and none reports an existing cluster (a wiped founder
//!   therefore rejoins instead of forming a second cluster); the others wait for it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use burgee_raft::Greeting;

use crate::config::ClusterSettings;
use crate::store::{Embedded, NodeOptions};

/// How long a node that forms a group of one waits to lead it.
const LEAD_ALONE: Duration = Duration::from_secs(30);
/// How long a peer may take to say which cluster it belongs to.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a founder asks its peers again while too few answer.
const FORM_RETRY: Duration = Duration::from_secs(1);

/// Where a node stands after [`bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It formed the group (now or before): it writes the first configuration.
    Founder,
    /// It must form the group of `--initial-cluster` once its peers allow ([`form`]).
    Forming,
    /// It waits for, or already follows, a group another node formed.
    Member,
}

/// Starts the node's part in its cluster (see the module's rules).
pub async fn bootstrap(
    store: &Embedded,
    cluster: Option<&ClusterSettings>,
) -> anyhow::Result<Role> {
    let node = store.node();
    let member_already = node.is_member().await?;
    let status = node.status();
    let founder = match cluster {
        None => true,
        Some(cluster) => match cluster.initial_cluster.keys().next() {
            None => !cluster.join,
            Some(lowest) => *lowest == cluster.node_id && !cluster.join,
        },
    };
    if member_already {
        if node.cluster_id().is_none() && status.voters == [status.id] {
            // A group of one written before nodes kept a cluster id.
            node.ensure_cluster_id()?;
        }
        if let Some(cluster) = cluster {
            refuse_another_cluster(store, cluster, &status.members).await?;
        }
        // Alone in its group, a restarted node elects itself within an election timeout;
        // until then it could take no write.
        if status.voters == [status.id] {
            node.wait_leader(LEAD_ALONE)
                .await
                .context("leading the group of one again")?;
            // Everything in the log of a group of one was committed (its own sync was the
            // quorum): apply it all before serving, so no acknowledged write is missing.
            if let Some(last) = node.status().last_log_index {
                node.wait_applied(last, LEAD_ALONE)
                    .await
                    .map_err(|e| anyhow::anyhow!("applying the log again: {e}"))?;
            }
        }
        return Ok(if founder { Role::Founder } else { Role::Member });
    }
    let advertise = cluster.map_or_else(
        || NodeOptions::single().advertise,
        |c| c.advertise_url.clone(),
    );
    match cluster {
        Some(cluster) if cluster.join => {
            tracing::info!(
                node_id = cluster.node_id,
                "waiting to be added: run `burgee cluster add {} {}` against a member",
                cluster.node_id,
                cluster.advertise_url
            );
            Ok(Role::Member)
        }
        Some(cluster) if !cluster.initial_cluster.is_empty() => {
            if founder {
                Ok(Role::Forming)
            } else {
                let answers = hellos(store, cluster, &cluster.initial_cluster).await;
                refuse_newer_cluster(store, &answers)?;
                tracing::info!(
                    node_id = cluster.node_id,
                    "waiting for the node with the lowest id of --initial-cluster to reach this one"
                );
                Ok(Role::Member)
            }
        }
        _ => {
            node.initialize_alone(&advertise)
                .await
                .context("forming a group of one")?;
            node.wait_leader(LEAD_ALONE)
                .await
                .context("leading the group of one")?;
            if let Some(cluster) = cluster {
                tracing::info!(
                    node_id = cluster.node_id,
                    "formed a cluster of one; `burgee cluster add` grows it"
                );
            }
            Ok(Role::Founder)
        }
    }
}

/// Forms the cluster of `--initial-cluster` once a majority of its members answer and none
/// belongs to a cluster; returns whether it did (else this node waits to be contacted, as a
/// member of the cluster that exists).
pub async fn form(store: &Embedded, cluster: &ClusterSettings) -> anyhow::Result<bool> {
    let node = store.node();
    let majority = cluster.initial_cluster.len() / 2 + 1;
    let mut reported = false;
    loop {
        let answers = hellos(store, cluster, &cluster.initial_cluster).await;
        refuse_newer_cluster(store, &answers)?;
        if let Some((id, _)) = answers
            .iter()
            .find(|(_, greeting)| greeting.as_ref().is_some_and(|g| g.hello.member))
        {
            tracing::info!(
                node_id = cluster.node_id,
                peer = id,
                "node {id} belongs to the cluster already: this node waits to be brought back \
                 into it (through a snapshot) instead of forming one"
            );
            return Ok(false);
        }
        let empty = 1 + answers.iter().filter(|(_, h)| h.is_some()).count();
        if empty >= majority {
            node.initialize(&cluster.initial_cluster)
                .await
                .context("forming the cluster")?;
            tracing::info!(node_id = cluster.node_id, members = ?cluster.initial_cluster, "formed the cluster");
            return Ok(true);
        }
        if !reported {
            tracing::info!(
                answered = empty,
                needed = majority,
                "waiting for a majority of --initial-cluster to answer before forming the cluster"
            );
            reported = true;
        }
        tokio::time::sleep(FORM_RETRY).await;
    }
}

/// Refuses to start when a peer reports another cluster than this node's data belongs to.
async fn refuse_another_cluster(
    store: &Embedded,
    cluster: &ClusterSettings,
    members: &BTreeMap<u64, String>,
) -> anyhow::Result<()> {
    let Some(ours) = store.node().cluster_id() else {
        return Ok(());
    };
    let mut peers = cluster.initial_cluster.clone();
    peers.extend(members.iter().map(|(id, url)| (*id, url.clone())));
    let answers = hellos(store, cluster, &peers).await;
    refuse_newer_cluster(store, &answers)?;
    for (id, greeting) in answers {
        if let Some(theirs) = greeting.and_then(|g| g.hello.cluster_id)
            && theirs != ours
        {
            anyhow::bail!(
                "this node's data in {} belongs to cluster {ours}, but node {id} belongs to \
                 cluster {theirs}: the data directory comes from another cluster. Start this \
                 node with an empty data directory to join cluster {theirs} (it then receives \
                 a snapshot), or point it at the members of its own cluster",
                store.path().display()
            );
        }
    }
    Ok(())
}

/// Refuses to start when a peer's cluster has switched on a command format this node cannot
/// read: it runs an older version than its cluster, and would refuse its log.
fn refuse_newer_cluster(
    store: &Embedded,
    answers: &[(u64, Option<Greeting>)],
) -> anyhow::Result<()> {
    let own = store.node().formats().own();
    for (id, greeting) in answers {
        if let Some(greeting) = greeting
            && greeting.cluster_format > own
        {
            anyhow::bail!(
                "node {id}'s cluster runs command format {}, and this version of Burgee reads \
                 up to {own}: upgrade Burgee on this node (every member must run a version \
                 at least as new as the cluster's format)",
                greeting.cluster_format
            );
        }
    }
    Ok(())
}

/// Asks every peer but this node which cluster it belongs to (`None`: no answer).
async fn hellos(
    store: &Embedded,
    cluster: &ClusterSettings,
    peers: &BTreeMap<u64, String>,
) -> Vec<(u64, Option<Greeting>)> {
    let asks = peers
        .iter()
        .filter(|(id, _)| **id != cluster.node_id)
        .map(|(id, url)| async move {
            let answer = tokio::time::timeout(HELLO_TIMEOUT, store.node().hello(url)).await;
            match answer {
                Ok(Ok(hello)) => (*id, Some(hello)),
                Ok(Err(error)) => {
                    tracing::debug!(peer = id, %error, "no answer to hello");
                    (*id, None)
                }
                Err(_) => (*id, None),
            }
        });
    futures_util::future::join_all(asks).await
}
