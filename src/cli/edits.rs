//! `burgee flags promote` and `burgee flags edit`: changes across environments, shown as the
//! exact diff (a dry run) or applied atomically. The dry run prints the ETag that, given to
//! `--if-match`, applies that very diff or nothing.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Output, pick, print};

/// How a change is reviewed: only shown, or applied if nothing moved since it was shown.
#[derive(Debug, clap::Args)]
pub struct Review {
    /// Show exactly what would change, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply only if no environment involved changed since the dry run that printed this
    /// ETag (otherwise nothing is applied).
    #[arg(long, value_name = "ETAG", conflicts_with = "dry_run")]
    if_match: Option<String>,
}

/// What a bulk edit sets.
pub struct Change {
    pub enabled: Option<bool>,
    pub value: Option<Value>,
}

/// An environment of `project` by name, id or client key.
fn environment(environments: &[Value], name: &str) -> anyhow::Result<Value> {
    pick(environments, "environment", name).or_else(|error| {
        environments
            .iter()
            .find(|e| e["client_key"] == name)
            .cloned()
            .ok_or(error)
    })
}

fn project_environments(client: &Client, project: &str) -> anyhow::Result<(Value, Vec<Value>)> {
    let project = client.project(project)?;
    let environments = client.all(&format!(
        "/admin/v1/projects/{}/environments",
        project["id"]
    ))?;
    Ok((project, environments))
}

fn ids(environments: &[Value], names: &[String]) -> anyhow::Result<Vec<Value>> {
    names
        .iter()
        .map(|name| Ok(environment(environments, name)?["id"].clone()))
        .collect()
}

pub fn promote(
    client: &Client,
    output: Output,
    project: &str,
    (from, to): (&str, &[String]),
    features: &[String],
    review: &Review,
) -> anyhow::Result<()> {
    let (_, environments) = project_environments(client, project)?;
    let source = environment(&environments, from)?;
    let body = json!({
        "to": ids(&environments, to)?,
        "features": features,
        "dry_run": review.dry_run,
    });
    let path = format!("/admin/v1/environments/{}/promote", source["id"]);
    send(client, output, &path, &body, review)
}

pub fn bulk(
    client: &Client,
    output: Output,
    project: &str,
    (environment_names, features): (&[String], &[String]),
    change: &Change,
    review: &Review,
) -> anyhow::Result<()> {
    if change.enabled.is_none() && change.value.is_none() {
        anyhow::bail!("say what to set: --enabled, --value or both");
    }
    let (project, environments) = project_environments(client, project)?;
    let mut body = json!({
        "environments": ids(&environments, environment_names)?,
        "features": features,
        "dry_run": review.dry_run,
    });
    if let Some(enabled) = change.enabled {
        body["enabled"] = json!(enabled);
    }
    if let Some(value) = &change.value {
        body["value"] = value.clone();
    }
    let path = format!("/admin/v1/projects/{}/bulk-edit", project["id"]);
    send(client, output, &path, &body, review)
}

fn send(
    client: &Client,
    output: Output,
    path: &str,
    body: &Value,
    review: &Review,
) -> anyhow::Result<()> {
    let etag = review.if_match.as_deref().map(quoted);
    let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("if-match", e.as_str())).collect();
    let answer = client.call_with(Method::POST, path, Some(body), &headers)?;
    let rows = rows(&answer);
    if output != Output::Table {
        print(output, &answer, &[], &rows);
        return Ok(());
    }
    if rows.is_empty() {
        println!("nothing to change: the environments already have this configuration");
        return Ok(());
    }
    print(
        output,
        &answer,
        &["environment", "feature", "field", "from", "to"],
        &rows,
    );
    let etag = answer["etag"].as_str().unwrap_or_default();
    if answer["applied"] == true {
        println!("applied {} edits atomically (now {etag})", answer["edits"]);
    } else {
        println!(
            "dry run: nothing changed; to apply exactly this, run again with --if-match '{}'",
            etag.trim_matches('"')
        );
    }
    Ok(())
}

pub fn history(
    client: &Client,
    output: Output,
    project: &str,
    feature: &str,
    environment_name: Option<&str>,
) -> anyhow::Result<()> {
    let (project_record, environments) = project_environments(client, project)?;
    let feature = super::features::feature(client, &project_record["id"].to_string(), feature)?;
    let mut path = format!("/admin/v1/features/{}/history", feature["id"]);
    if let Some(name) = environment_name {
        path.push_str(&format!(
            "?environment_id={}",
            environment(&environments, name)?["id"]
        ));
    }
    let entries = client.all(&path)?;
    let name_of = |id: &Value| {
        environments
            .iter()
            .find(|e| e["id"] == *id)
            .map_or_else(|| id.to_string(), |e| text(&e["name"]))
    };
    let mut rows = Vec::new();
    for entry in &entries {
        for change in entry["changes"].as_array().into_iter().flatten() {
            let side = if change["after"].is_null() {
                &change["before"]
            } else {
                &change["after"]
            };
            let place = match side.get("environment_id") {
                Some(id) => name_of(id),
                None => String::new(),
            };
            for difference in change["diff"].as_array().into_iter().flatten() {
                rows.push(json!({
                    "seq": entry["seq"],
                    "at": entry["at"],
                    "actor": entry["actor"]["name"],
                    "action": entry["action"],
                    "environment": place,
                    "field": difference["path"],
                    "before": text(&difference["before"]),
                    "after": text(&difference["after"]),
                }));
            }
        }
    }
    print(
        output,
        &json!(entries),
        &[
            "seq",
            "at",
            "actor",
            "action",
            "environment",
            "field",
            "before",
            "after",
        ],
        &rows,
    );
    Ok(())
}

pub fn rollback(
    client: &Client,
    output: Output,
    project: &str,
    (environment_name, feature): (&str, &str),
    to: u64,
    review: &Review,
) -> anyhow::Result<()> {
    let (project_record, environments) = project_environments(client, project)?;
    let feature = super::features::feature(client, &project_record["id"].to_string(), feature)?;
    let env = environment(&environments, environment_name)?;
    let body = json!({"to": to, "dry_run": review.dry_run});
    let path = format!(
        "/admin/v1/environments/{}/features/{}/rollback",
        env["id"], feature["id"]
    );
    send(client, output, &path, &body, review)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An entity tag as `If-Match` carries it.
fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim_matches('"'))
}

/// One row per environment, feature and field that changes.
fn rows(answer: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for environment in answer["environments"].as_array().into_iter().flatten() {
        for feature in environment["features"].as_array().into_iter().flatten() {
            for (field, change) in feature["changes"].as_object().into_iter().flatten() {
                rows.push(json!({
                    "environment": environment["name"],
                    "feature": feature["feature"],
                    "field": field,
                    "from": text(&change["from"]),
                    "to": text(&change["to"]),
                }));
            }
        }
    }
    rows
}
