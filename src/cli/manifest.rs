//! Flags as code from the command line: `burgee validate`, `burgee plan` and `burgee apply`
//! read a flags file (YAML or JSON); `burgee export yaml` writes one. `plan` against a live
//! server shows the drift: every change applying the file would make, and what the server
//! has that the file does not mention.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Connection, Output, print};
use crate::manifest::{Manifest, from_yaml, to_yaml};

#[derive(Debug, clap::Args)]
pub struct FileArgs {
    /// The flags file (YAML or JSON; `-` reads standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// Apply only if the project is still as the plan that printed this ETag saw it.
    #[arg(long, value_name = "ETAG")]
    pub if_match: Option<String>,
}

/// Reads and checks a flags file; errors name the line and column.
pub fn read(path: &Path) -> anyhow::Result<Manifest> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    from_yaml(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

/// `burgee validate -f FILE`: the file is well formed (no server needed).
pub fn validate(args: &FileArgs) -> anyhow::Result<()> {
    let manifest = read(&args.file)?;
    println!(
        "{}: a valid flags file for project {:?} ({} features, {} segments, {} environments)",
        args.file.display(),
        manifest.project.name,
        manifest.features.len(),
        manifest.segments.len(),
        manifest.environments.len()
    );
    Ok(())
}

fn send(
    client: &Client,
    manifest: &Manifest,
    dry_run: bool,
    if_match: Option<&str>,
) -> anyhow::Result<Value> {
    let etag = if_match.map(|e| format!("\"{}\"", e.trim_matches('"')));
    let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("if-match", e.as_str())).collect();
    client.call_with(
        Method::POST,
        "/admin/v1/manifest",
        Some(&json!({"manifest": manifest, "dry_run": dry_run})),
        &headers,
    )
}

/// One line per changed field of each planned record change.
fn rows(plan: &Value) -> Vec<Value> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut rows = Vec::new();
    for change in plan["changes"].as_array().into_iter().flatten() {
        let what = [&change["name"], &change["feature"]]
            .into_iter()
            .find(|v| v.is_string())
            .map(text)
            .unwrap_or_default();
        for difference in change["diff"].as_array().into_iter().flatten() {
            rows.push(json!({
                "action": change["action"],
                "kind": change["kind"],
                "name": what,
                "environment": text(&change["environment"]),
                "field": difference["path"],
                "from": text(&difference["before"]),
                "to": text(&difference["after"]),
            }));
        }
    }
    rows
}

fn show(output: Output, plan: &Value) {
    if output != Output::Table {
        print(output, plan, &[], &[]);
        return;
    }
    let rows = rows(plan);
    if rows.is_empty() {
        println!("no changes: the project matches the file");
    } else {
        print(
            output,
            plan,
            &[
                "action",
                "kind",
                "name",
                "environment",
                "field",
                "from",
                "to",
            ],
            &rows,
        );
    }
    for (kind, names) in plan["unmanaged"].as_object().into_iter().flatten() {
        let names: Vec<&str> = names
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !names.is_empty() {
            println!(
                "not in the file (left as they are): {kind} {}",
                names.join(", ")
            );
        }
    }
}

/// `burgee plan -f FILE`: what applying the file would change.
pub fn plan(connection: &Connection, args: &FileArgs) -> anyhow::Result<()> {
    let manifest = read(&args.file)?;
    let client = Client::new(connection)?;
    let plan = send(&client, &manifest, true, None)?;
    show(connection.output, &plan);
    if connection.output == Output::Table {
        println!(
            "to apply exactly this: burgee apply -f {} --if-match '{}'",
            args.file.display(),
            plan["etag"].as_str().unwrap_or_default().trim_matches('"')
        );
    }
    Ok(())
}

/// `burgee apply -f FILE`: makes the project match the file, atomically.
pub fn apply(connection: &Connection, args: &ApplyArgs) -> anyhow::Result<()> {
    let manifest = read(&args.file.file)?;
    let client = Client::new(connection)?;
    let answer = send(&client, &manifest, false, args.if_match.as_deref())?;
    show(connection.output, &answer);
    if connection.output == Output::Table && answer["applied"] == true {
        println!(
            "applied {} changes in one change",
            answer["changes"].as_array().map_or(0, Vec::len)
        );
    }
    Ok(())
}

/// `burgee export yaml --project P`: the project as a flags file.
pub fn export_yaml(
    connection: &Connection,
    project: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let project = client.project(project)?;
    let manifest: Manifest = serde_json::from_value(
        client.get(&format!("/admin/v1/projects/{}/manifest", project["id"]))?,
    )
    .context("the server answered something that is not a flags file")?;
    let text = to_yaml(&manifest)?;
    match out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
