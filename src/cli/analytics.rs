//! `burgee features stale` and `burgee features usage`: evaluation analytics from the
//! admin API, as tables or JSON.

use serde_json::Value;

use super::client::{Client, Connection, print};

pub fn stale(
    connection: &Connection,
    client: &Client,
    project: &str,
    days: u32,
    reported_only: bool,
) -> anyhow::Result<()> {
    let project = client.project(project)?;
    let source = if reported_only { "reported" } else { "any" };
    let answer = client.get(&format!(
        "/admin/v1/projects/{}/stale-features?days={days}&source={source}",
        project["id"]
    ))?;
    let rows = items(&answer);
    print(
        connection.output,
        &answer,
        &["id", "name", "created_at", "last_evaluated_at"],
        &rows,
    );
    Ok(())
}

pub fn usage(
    connection: &Connection,
    client: &Client,
    client_key: &str,
    days: u32,
) -> anyhow::Result<()> {
    let environment = client.environment(client_key)?;
    let answer = client.get(&format!(
        "/admin/v1/environments/{}/feature-usage?days={days}",
        environment["id"]
    ))?;
    // Flattened for the table: the window's counts beside the feature.
    let rows: Vec<Value> = items(&answer)
        .into_iter()
        .map(|mut row| {
            row["reported"] = row["evaluations"]["reported"].clone();
            row["served"] = row["evaluations"]["served"].clone();
            row
        })
        .collect();
    print(
        connection.output,
        &answer,
        &["id", "name", "reported", "served", "last_evaluated_at"],
        &rows,
    );
    Ok(())
}

fn items(answer: &Value) -> Vec<Value> {
    answer["features"].as_array().cloned().unwrap_or_default()
}
