//! `burgee cluster status`: the Raft cluster as the node at `--url` sees it
//! (`GET /health/cluster`, which needs no credential); `burgee cluster add|remove`: the
//! membership changed online through any node (`MANAGE_CLUSTER`).

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Client, Connection, Output, print};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The node's role, term and leader, then each member with its replication lag.
    Status,
    /// Adds a node (started with `--join`, or a learner): it catches up with the log, through
    /// a snapshot if need be, then votes.
    Add {
        /// The new node's `--node-id`.
        id: u64,
        /// The new node's `--advertise-cluster-url` (named apart from the global `--url`, the
        /// API this command talks to).
        #[arg(value_name = "CLUSTER_URL")]
        cluster_url: String,
        /// A non-voting member: it replicates the log, serves SDK reads and forwards writes,
        /// and takes no part in elections (read capacity without slowing commits).
        #[arg(long)]
        learner: bool,
    },
    /// Removes a node (a voter or a learner) from the cluster.
    Remove { id: u64 },
    /// After a cluster lost its majority: makes the `--data-dir` of a stopped survivor a
    /// cluster of one holding its state (its old Raft directory is kept aside). Start it
    /// without `--initial-cluster`, then grow it with `burgee cluster add`.
    Recover {
        /// The id the node keeps.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        node_id: u64,
        /// The URL its cluster port will be reached at.
        #[arg(long, value_name = "URL")]
        advertise_cluster_url: String,
    },
}

pub fn run(connection: &Connection, command: &ClusterCommand) -> anyhow::Result<()> {
    let status = match command {
        ClusterCommand::Recover {
            node_id,
            advertise_cluster_url,
        } => return recover(connection, *node_id, advertise_cluster_url),
        // 503 (an unhealthy node) still carries the status, which is what is asked for.
        ClusterCommand::Status => Client::anonymous(connection)?.get_any("/health/cluster")?,
        ClusterCommand::Add {
            id,
            cluster_url,
            learner,
        } => Client::new(connection)?.call(
            reqwest::Method::POST,
            "/admin/v1/cluster/members",
            Some(&json!({"id": id, "url": cluster_url, "learner": learner})),
        )?,
        ClusterCommand::Remove { id } => Client::new(connection)?.call(
            reqwest::Method::DELETE,
            &format!("/admin/v1/cluster/members/{id}"),
            None,
        )?,
    };
    show(connection, &status);
    Ok(())
}

fn recover(connection: &Connection, node_id: u64, advertise: &str) -> anyhow::Result<()> {
    let dir = connection.data_dir();
    let advertise = crate::config::cluster_url(advertise).map_err(anyhow::Error::msg)?;
    let recovered = crate::store::recover::cluster_of_one(&dir, node_id, &advertise)
        .map_err(|e| anyhow::anyhow!("recovering {}: {e}", dir.display()))?;
    let kept = recovered.kept.map_or_else(
        || "there was no Raft directory".to_owned(),
        |p| format!("the old Raft directory is kept at {}", p.display()),
    );
    if connection.output == Output::Json {
        let report = json!({
            "data_dir": dir,
            "node_id": node_id,
            "applied_index": recovered.applied,
            "kept": kept,
        });
        println!("{report}");
    } else {
        println!(
            "{} is now a cluster of one (node {node_id}) at log index {}; {kept}. Start it \
             without --initial-cluster, then add nodes started with --join.",
            dir.display(),
            recovered.applied
        );
    }
    Ok(())
}

/// The status as JSON, or as a line about the node and a table of its members.
fn show(connection: &Connection, status: &Value) {
    if connection.output == Output::Json {
        println!("{status}");
        return;
    }
    println!(
        "node {} is {} in term {}; leader: {}; applied index {}",
        status["node_id"],
        status["role"].as_str().unwrap_or("unknown"),
        status["term"],
        display(&status["leader"]),
        display(&status["applied_index"]),
    );
    let rows = members(status);
    print(
        Output::Table,
        &json!(rows),
        &["id", "url", "voter", "matched_index", "lag"],
        &rows,
    );
}

fn display(value: &Value) -> String {
    if value.is_null() {
        "none".into()
    } else {
        value.to_string()
    }
}

/// A row per member; the lag is known on the leader only.
fn members(status: &Value) -> Vec<Value> {
    let empty = Vec::new();
    status["members"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|member| {
            let id = member["id"].to_string();
            let replication = &status["replication"][id.as_str()];
            json!({
                "id": member["id"],
                "url": member["url"],
                "voter": member["voter"],
                "matched_index": replication["matched_index"],
                "lag": replication["lag"],
            })
        })
        .collect()
}
