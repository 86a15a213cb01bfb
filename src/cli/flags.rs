//! `burgee flags`: an environment's flags, one flag pinned, and changes across
//! environments (promotions and bulk edits, see [`super::edits`]).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Connection, pick, print};
use super::edits::{self, Review};
use crate::api::admin::values::typed_text;

#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// The environment's flags (default states).
    List {
        #[arg(long, value_name = "CLIENT_KEY")]
        environment: String,
    },
    /// Pin a flag's state, or every flag of one row of a matrix (`--from-matrix`).
    Set {
        #[arg(long, value_name = "CLIENT_KEY")]
        environment: String,
        #[arg(required_unless_present = "from_matrix")]
        feature: Option<String>,
        /// A matrix as `burgee flags matrix --output json` printed it.
        #[arg(long, value_name = "FILE", requires = "row", conflicts_with_all = ["enabled", "value"])]
        from_matrix: Option<std::path::PathBuf>,
        /// The row of --from-matrix to pin.
        #[arg(long, requires = "from_matrix")]
        row: Option<usize>,
        #[arg(long)]
        enabled: Option<bool>,
        /// An integer or true/false when it reads as one, otherwise a string.
        #[arg(long)]
        value: Option<String>,
        /// Keep `--value` a string.
        #[arg(long, requires = "value")]
        string: bool,
    },
    /// The combinations of flag states to run a test suite under: each flag on and off, a
    /// multivariate one also with each variant forced; all of them, or --pairwise.
    Matrix {
        #[arg(long, value_name = "CLIENT_KEY")]
        environment: String,
        /// The flags (repeat, or separate by commas).
        #[arg(long, value_delimiter = ',', required = true)]
        features: Vec<String>,
        /// Only enough rows to hold every pair of states of every two flags.
        #[arg(long)]
        pairwise: bool,
    },
    /// Copy features' configuration (enabled, value, weights, segment overrides in order)
    /// from one environment to others of the project, all of them or none.
    Promote {
        /// The project (a name or an id).
        #[arg(long)]
        project: String,
        /// The environment to copy from (a name, an id or a client key).
        #[arg(long, value_name = "ENVIRONMENT")]
        from: String,
        /// An environment to copy to (repeat for several).
        #[arg(long = "to", value_name = "ENVIRONMENT", required = true)]
        to: Vec<String>,
        /// The features to copy, by name.
        #[arg(required = true)]
        features: Vec<String>,
        #[command(flatten)]
        review: Review,
    },
    /// Set enabled and/or the value of many features in many environments of a project in
    /// one atomic change.
    Edit {
        /// The project (a name or an id).
        #[arg(long)]
        project: String,
        /// An environment to edit (repeat for several).
        #[arg(long = "env", value_name = "ENVIRONMENT", required = true)]
        environments: Vec<String>,
        /// The features to edit, by name.
        #[arg(required = true)]
        features: Vec<String>,
        #[arg(long)]
        enabled: Option<bool>,
        /// An integer or true/false when it reads as one, otherwise a string.
        #[arg(long)]
        value: Option<String>,
        /// Keep `--value` a string.
        #[arg(long, requires = "value")]
        string: bool,
        #[command(flatten)]
        review: Review,
    },
    /// Every audited change of a feature: its record and tags, and its states in every
    /// environment (or in one, with --env), oldest first.
    History {
        /// The project (a name or an id).
        #[arg(long)]
        project: String,
        feature: String,
        /// Only its states in this environment (a name, an id or a client key).
        #[arg(long = "env", value_name = "ENVIRONMENT")]
        environment: Option<String>,
    },
    /// Restore a feature's configuration in an environment as it was right after an audit
    /// entry (its seq, from `history`), as a new audited change.
    Rollback {
        /// The project (a name or an id).
        #[arg(long)]
        project: String,
        /// The environment (a name, an id or a client key).
        #[arg(long = "env", value_name = "ENVIRONMENT")]
        environment: String,
        feature: String,
        /// The audit entry's seq.
        #[arg(long, value_name = "SEQ")]
        to: u64,
        #[command(flatten)]
        review: Review,
    },
}

/// Features of the environment's project with their default states, by name.
fn flag_rows(client: &Client, env: &Value) -> anyhow::Result<Vec<Value>> {
    let features = client.all(&format!(
        "/admin/v1/projects/{}/features",
        env["project_id"]
    ))?;
    let states = client.all(&format!(
        "/admin/v1/environments/{}/feature-states",
        env["id"]
    ))?;
    Ok(features
        .iter()
        .map(|f| {
            let state = states.iter().find(|s| {
                s["feature_id"] == f["id"]
                    && s.get("segment_id").is_none()
                    && s.get("identifier").is_none()
            });
            json!({
                "feature_id": f["id"],
                "name": f["name"],
                "type": f["type"],
                "enabled": state.map(|s| s["enabled"].clone()),
                "value": state.map(|s| s["value"].clone()),
            })
        })
        .collect())
}

pub fn flags(connection: &Connection, command: &FlagsCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        FlagsCommand::Promote {
            project,
            from,
            to,
            features,
            review,
        } => edits::promote(
            &client,
            connection.output,
            project,
            (from, to),
            features,
            review,
        )?,
        FlagsCommand::Edit {
            project,
            environments,
            features,
            enabled,
            value,
            string,
            review,
        } => {
            let value = value.as_deref().map(|v| typed(v, *string));
            let change = edits::Change {
                enabled: *enabled,
                value,
            };
            edits::bulk(
                &client,
                connection.output,
                project,
                (environments, features),
                &change,
                review,
            )?;
        }
        FlagsCommand::History {
            project,
            feature,
            environment,
        } => edits::history(
            &client,
            connection.output,
            project,
            feature,
            environment.as_deref(),
        )?,
        FlagsCommand::Rollback {
            project,
            environment,
            feature,
            to,
            review,
        } => edits::rollback(
            &client,
            connection.output,
            project,
            (environment, feature),
            *to,
            review,
        )?,
        FlagsCommand::List { environment } => {
            let env = client.environment(environment)?;
            let rows = flag_rows(&client, &env)?;
            print(
                connection.output,
                &json!(rows),
                &["name", "enabled", "value", "type"],
                &rows,
            );
        }
        FlagsCommand::Matrix {
            environment,
            features,
            pairwise,
        } => super::matrix::matrix(&client, connection.output, environment, features, *pairwise)?,
        FlagsCommand::Set {
            environment,
            from_matrix: Some(file),
            row: Some(row),
            ..
        } => super::matrix::set_row(&client, connection.output, environment, file, *row)?,
        FlagsCommand::Set {
            environment,
            feature,
            enabled,
            value,
            string,
            ..
        } => {
            let feature = feature.as_deref().unwrap_or_default();
            let env = client.environment(environment)?;
            let rows = flag_rows(&client, &env)?;
            let row = &pick(&rows, "feature", feature)?;
            let mut body = json!({});
            if let Some(enabled) = enabled {
                body["enabled"] = json!(enabled);
            }
            if let Some(value) = value {
                body["value"] = typed(value, *string);
            }
            let state = client.call(
                Method::PATCH,
                &format!(
                    "/admin/v1/environments/{}/features/{}/state",
                    env["id"], row["feature_id"]
                ),
                Some(&body),
            )?;
            print(
                connection.output,
                &state,
                &["feature_id", "enabled", "value"],
                std::slice::from_ref(&state),
            );
        }
    }
    Ok(())
}

/// `--value` as JSON: typed as Flagsmith types text, or a string with `--string`.
fn typed(value: &str, string: bool) -> Value {
    if string {
        json!(value)
    } else {
        crate::model::Scalar::from(&typed_text(value)).to_json()
    }
}
