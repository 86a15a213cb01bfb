//! `burgee environments diff A B`: how environment B's flags differ from A's (the admin API's
//! comparison), as a table of feature, what differs, A's and B's setting, or its JSON.

use serde_json::{Value, json};

use super::client::{Client, Connection, Output, pick, print};

/// An environment named by its client key, or by name (or id) within `project`.
pub fn environment(client: &Client, project: Option<&str>, name: &str) -> anyhow::Result<Value> {
    match project {
        None => client.environment(name),
        Some(project) => {
            let project = client.project(project)?;
            let environments = client.all(&format!(
                "/admin/v1/projects/{}/environments",
                project["id"]
            ))?;
            pick(&environments, "environment", name)
        }
    }
}

/// One line per difference: the feature, what differs, and both sides (compact JSON).
fn rows(comparison: &Value) -> Vec<Value> {
    let side = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rows = Vec::new();
    for feature in comparison["features"].as_array().into_iter().flatten() {
        let name = &feature["feature"];
        match feature["status"].as_str() {
            Some("only_in_from") => {
                rows.push(
                    json!({"feature": name, "differs": "only in A", "a": "present", "b": null}),
                );
            }
            Some("only_in_to") => {
                rows.push(
                    json!({"feature": name, "differs": "only in B", "a": null, "b": "present"}),
                );
            }
            _ => {
                for (field, change) in feature["changes"].as_object().into_iter().flatten() {
                    rows.push(json!({
                        "feature": name,
                        "differs": field,
                        "a": side(&change["from"]),
                        "b": side(&change["to"]),
                    }));
                }
            }
        }
    }
    rows
}

pub fn run(connection: &Connection, project: Option<&str>, a: &str, b: &str) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let from = environment(&client, project, a)?;
    let to = environment(&client, project, b)?;
    let comparison = client.get(&format!(
        "/admin/v1/environments/{}/compare/{}",
        from["id"], to["id"]
    ))?;
    if connection.output == Output::Table && comparison["same"] == true {
        println!(
            "{} and {} are the same",
            from["name"].as_str().unwrap_or("A"),
            to["name"].as_str().unwrap_or("B")
        );
        return Ok(());
    }
    print(
        connection.output,
        &comparison,
        &["feature", "differs", "a", "b"],
        &rows(&comparison),
    );
    Ok(())
}
