//! `burgee features`: a project's features, with their tags and archive marks, and their
//! evaluation figures (see [`super::analytics`]).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Connection, encode, pick, print};
use crate::api::admin::values::typed_text;

#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// The project's features (archived ones only with --archived or --all).
    List {
        #[arg(long)]
        project: String,
        /// Only features carrying every one of these tags (repeat, or separate by commas).
        #[arg(long, value_delimiter = ',')]
        tag: Vec<String>,
        /// Only archived features.
        #[arg(long, conflicts_with = "all")]
        archived: bool,
        /// Archived features too.
        #[arg(long)]
        all: bool,
    },
    Create {
        #[arg(long)]
        project: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        initial_value: Option<String>,
        #[arg(long)]
        default_enabled: bool,
        #[arg(long)]
        server_key_only: bool,
        /// A tag (repeat, or separate by commas).
        #[arg(long, value_delimiter = ',')]
        tag: Vec<String>,
    },
    /// Replace a feature's tags (none given: remove them all).
    Tag {
        #[arg(long)]
        project: String,
        name: String,
        tags: Vec<String>,
    },
    /// Hide a feature from SDKs and lists, keeping its states (undo with `restore`).
    Archive {
        #[arg(long)]
        project: String,
        name: String,
    },
    /// Serve an archived feature again.
    Restore {
        #[arg(long)]
        project: String,
        name: String,
    },
    Delete {
        #[arg(long)]
        project: String,
        name: String,
    },
    /// Features older than --days that no environment evaluated within them.
    Stale {
        #[arg(long)]
        project: String,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Count only evaluations the applications reported (SDK analytics), not flags
        /// the server returned in bulk.
        #[arg(long)]
        reported_only: bool,
    },
    /// Evaluations of every feature of an environment, with when each was last evaluated.
    Usage {
        /// The environment's client key.
        #[arg(long)]
        environment: String,
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

const COLUMNS: &[&str] = &[
    "id",
    "name",
    "type",
    "initial_value",
    "server_key_only",
    "tags",
    "archived",
];

/// A feature of the project by name or id, archived or not.
pub fn feature(client: &Client, project: &str, name: &str) -> anyhow::Result<Value> {
    let project = client.project(project)?;
    let features = client.all(&format!(
        "/admin/v1/projects/{}/features?archived=any",
        project["id"]
    ))?;
    pick(&features, "feature", name)
}

fn change(client: &Client, project: &str, name: &str, body: &Value) -> anyhow::Result<Value> {
    let feature = feature(client, project, name)?;
    client.call(
        Method::PATCH,
        &format!("/admin/v1/features/{}", feature["id"]),
        Some(body),
    )
}

/// A feature's row: its tags as one cell.
fn row(feature: &Value) -> Value {
    let mut row = feature.clone();
    let tags: Vec<&str> = feature["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    row["tags"] = json!(tags.join(","));
    row
}

pub fn features(connection: &Connection, command: &FeaturesCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let show = |feature: &Value| {
        print(
            connection.output,
            feature,
            COLUMNS,
            std::slice::from_ref(&row(feature)),
        );
    };
    match command {
        FeaturesCommand::List {
            project,
            tag,
            archived,
            all,
        } => {
            let project = client.project(project)?;
            let which = match (archived, all) {
                (true, _) => "true",
                (_, true) => "any",
                _ => "false",
            };
            let mut path = format!(
                "/admin/v1/projects/{}/features?archived={which}",
                project["id"]
            );
            if !tag.is_empty() {
                path.push_str(&format!("&tag={}", encode(&tag.join(","))));
            }
            let features = client.all(&path)?;
            let rows: Vec<Value> = features.iter().map(row).collect();
            print(connection.output, &json!(features), COLUMNS, &rows);
        }
        FeaturesCommand::Create {
            project,
            name,
            description,
            initial_value,
            default_enabled,
            server_key_only,
            tag,
        } => {
            let project = client.project(project)?;
            let body = json!({
                "name": name,
                "description": description,
                "initial_value": initial_value.as_deref().map(|v| crate::model::Scalar::from(&typed_text(v)).to_json()),
                "default_enabled": default_enabled,
                "server_key_only": server_key_only,
                "tags": tag,
            });
            let feature = client.call(
                Method::POST,
                &format!("/admin/v1/projects/{}/features", project["id"]),
                Some(&body),
            )?;
            show(&feature);
        }
        FeaturesCommand::Tag {
            project,
            name,
            tags,
        } => show(&change(&client, project, name, &json!({"tags": tags}))?),
        FeaturesCommand::Archive { project, name } => {
            show(&change(&client, project, name, &json!({"archived": true}))?);
        }
        FeaturesCommand::Restore { project, name } => {
            show(&change(
                &client,
                project,
                name,
                &json!({"archived": false}),
            )?);
        }
        FeaturesCommand::Delete { project, name } => {
            let feature = feature(&client, project, name)?;
            client.call(
                Method::DELETE,
                &format!("/admin/v1/features/{}", feature["id"]),
                None,
            )?;
            super::admin::deleted(connection, "feature", &feature);
        }
        FeaturesCommand::Stale {
            project,
            days,
            reported_only,
        } => super::analytics::stale(connection, &client, project, *days, *reported_only)?,
        FeaturesCommand::Usage { environment, days } => {
            super::analytics::usage(connection, &client, environment, *days)?;
        }
    }
    Ok(())
}
