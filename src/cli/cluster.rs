//! `burgee cluster status`: the Raft cluster as the node at `--url` sees it
//! (`GET /health/cluster`, which needs no credential).

use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Client, Connection, Output, print};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The node's role, term and leader, then each member with its replication lag.
    Status,
}

pub fn run(connection: &Connection, command: &ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Status => {
            let status = Client::anonymous(connection)?.get("/health/cluster")?;
            if connection.output == Output::Json {
                println!("{status}");
                return Ok(());
            }
            println!(
                "node {} is {} in term {}; leader: {}; applied index {}",
                status["node_id"],
                status["role"].as_str().unwrap_or("unknown"),
                status["term"],
                display(&status["leader"]),
                display(&status["applied_index"]),
            );
            let rows = members(&status);
            print(
                Output::Table,
                &json!(rows),
                &["id", "url", "voter", "matched_index", "lag"],
                &rows,
            );
            Ok(())
        }
    }
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
