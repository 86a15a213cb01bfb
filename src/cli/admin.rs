//! Administration commands: they speak HTTP to a server (`--url`, `--token`).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Connection, pick, print};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Flagsmith environment document as a new environment.
    Flagsmith {
        file: PathBuf,
        /// Project to import into (created when missing); default: the document's.
        #[arg(long)]
        project: Option<String>,
        /// Replace an environment that has the same client key.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Print the environment document, as the SDK endpoint serves it.
    Flagsmith {
        #[arg(long, value_name = "CLIENT_KEY")]
        environment: String,
    },
    /// Write a project as a flags file (features, segments, every environment's flags with
    /// their hash seeds; no keys), for `burgee apply`.
    Yaml {
        /// The project (a name or an id).
        #[arg(long)]
        project: String,
        /// Write here instead of to standard output.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once.
    Create {
        #[arg(long, value_name = "CLIENT_KEY")]
        environment: String,
        /// A server-side key (`ser.…`), the only kind there is to create.
        #[arg(long)]
        server: bool,
        #[arg(long)]
        name: Option<String>,
        /// e.g. 90d; without it, the key works until revoked.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// Server-side keys of an environment (never the keys themselves).
    List {
        #[arg(long, value_name = "CLIENT_KEY")]
        environment: String,
    },
    /// A new key beside the old one, which keeps working until revoked or --old-expires-in.
    Rotate {
        id: u32,
        #[arg(long)]
        old_expires_in: Option<String>,
    },
    Revoke {
        id: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    List,
    Create { name: String },
}

#[derive(Debug, Subcommand)]
pub enum EnvironmentsCommand {
    List {
        #[arg(long)]
        project: String,
    },
    Create {
        #[arg(long)]
        project: String,
        name: String,
        /// Copy this environment of the project (a name or a client key): its settings,
        /// feature states and segment overrides, with their hash seeds.
        #[arg(long, value_name = "ENVIRONMENT")]
        from: Option<String>,
        /// With --from: copy its identity overrides too (in bounded batches).
        #[arg(long, requires = "from")]
        identity_overrides: bool,
    },
    Delete {
        #[arg(long, value_name = "CLIENT_KEY")]
        environment: String,
    },
    /// How environment B's flags differ from A's, per feature: enabled, value, multivariate
    /// weights and segment overrides (features matched by name, so two projects compare too).
    Diff {
        /// Environment A: a client key, or a name with --project.
        a: String,
        /// Environment B: a client key, or a name with --project.
        b: String,
        /// Name both environments within this project instead of by client key.
        #[arg(long)]
        project: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    List {
        #[arg(long)]
        project: String,
    },
    /// Create a segment; the rules come from a JSON file (`[{"type": "ALL", ...}]`).
    Create {
        #[arg(long)]
        project: String,
        name: String,
        #[arg(long, value_name = "FILE")]
        rules: PathBuf,
        #[arg(long)]
        description: Option<String>,
    },
    Delete {
        #[arg(long)]
        project: String,
        name: String,
    },
}

/// Reports a deletion: a line for people, `{"deleted": ...}` for scripts.
pub fn deleted(connection: &Connection, kind: &str, item: &Value) {
    match connection.output {
        super::client::Output::Json => println!("{}", json!({"deleted": item})),
        super::client::Output::Table => {
            println!("deleted {kind} {} ({})", item["name"], item["id"]);
        }
    }
}

fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

pub fn import(connection: &Connection, command: &ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Flagsmith {
        file,
        project,
        replace,
    } = command;
    let client = Client::new(connection)?;
    let document = read_json(file)?;
    let mut path = format!("/admin/v1/import/flagsmith?replace={replace}");
    if let Some(project) = project {
        path.push_str(&format!("&project={}", super::client::encode(project)));
    }
    let env = client.call(Method::POST, &path, Some(&document))?;
    print(
        connection.output,
        &env,
        &["id", "name", "client_key", "project_id"],
        std::slice::from_ref(&env),
    );
    Ok(())
}

pub fn export(connection: &Connection, command: &ExportCommand) -> anyhow::Result<()> {
    let environment = match command {
        ExportCommand::Flagsmith { environment } => environment,
        ExportCommand::Yaml { project, file } => {
            return super::manifest::export_yaml(connection, project, file.as_deref());
        }
    };
    let client = Client::new(connection)?;
    let env = client.environment(environment)?;
    let document = client.get(&format!("/admin/v1/environments/{}/document", env["id"]))?;
    println!("{document}");
    Ok(())
}

pub fn keys(connection: &Connection, command: &KeysCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let key = match command {
        KeysCommand::Create {
            environment,
            server,
            name,
            expires_in,
        } => {
            if !server {
                bail!(
                    "only server-side keys can be created (--server); the client key is the environment's own"
                );
            }
            let env = client.environment(environment)?;
            let mut body = json!({});
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if let Some(expires_in) = expires_in {
                body["expires_in"] = json!(expires_in);
            }
            client.call(
                Method::POST,
                &format!("/admin/v1/environments/{}/server-keys", env["id"]),
                Some(&body),
            )?
        }
        KeysCommand::Rotate { id, old_expires_in } => {
            let body = old_expires_in
                .as_ref()
                .map_or_else(|| json!({}), |d| json!({"old_expires_in": d}));
            client.call(
                Method::POST,
                &format!("/admin/v1/server-keys/{id}/rotate"),
                Some(&body),
            )?
        }
        KeysCommand::List { environment } => {
            let env = client.environment(environment)?;
            let keys = client.all(&format!("/admin/v1/environments/{}/server-keys", env["id"]))?;
            super::client::print(
                connection.output,
                &json!(keys),
                &["id", "name", "prefix", "active", "expires_at", "created_at"],
                &keys,
            );
            return Ok(());
        }
        KeysCommand::Revoke { id } => {
            client.call(Method::DELETE, &format!("/admin/v1/server-keys/{id}"), None)?;
            return Ok(());
        }
    };
    match connection.output {
        super::client::Output::Json => println!("{key}"),
        super::client::Output::Table => println!("{}", key["key"].as_str().unwrap_or_default()),
    }
    Ok(())
}

pub fn projects(connection: &Connection, command: &ProjectsCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        ProjectsCommand::List => {
            let rows = client.all("/admin/v1/projects")?;
            print(connection.output, &json!(rows), &["id", "name"], &rows);
        }
        ProjectsCommand::Create { name } => {
            let project = client.call(
                Method::POST,
                "/admin/v1/projects",
                Some(&json!({"name": name})),
            )?;
            print(
                connection.output,
                &project,
                &["id", "name"],
                std::slice::from_ref(&project),
            );
        }
    }
    Ok(())
}

pub fn environments(connection: &Connection, command: &EnvironmentsCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        EnvironmentsCommand::List { project } => {
            let project = client.project(project)?;
            let rows = client.all(&format!(
                "/admin/v1/projects/{}/environments",
                project["id"]
            ))?;
            print(
                connection.output,
                &json!(rows),
                &["id", "name", "client_key", "revision"],
                &rows,
            );
        }
        EnvironmentsCommand::Create {
            project: project_name,
            name,
            from,
            identity_overrides,
        } => {
            let project = client.project(project_name)?;
            let mut body = json!({"name": name});
            if let Some(from) = from {
                let source = super::diff::environment(&client, Some(project_name), from)
                    .or_else(|_| client.environment(from))?;
                body["clone_from"] = source["id"].clone();
                body["identity_overrides"] = json!(identity_overrides);
            }
            let env = client.call(
                Method::POST,
                &format!("/admin/v1/projects/{}/environments", project["id"]),
                Some(&body),
            )?;
            print(
                connection.output,
                &env,
                &["id", "name", "client_key", "identity_overrides_copied"],
                std::slice::from_ref(&env),
            );
        }
        EnvironmentsCommand::Delete { environment } => {
            let env = client.environment(environment)?;
            client.call(
                Method::DELETE,
                &format!("/admin/v1/environments/{}", env["id"]),
                None,
            )?;
            deleted(connection, "environment", &env);
        }
        EnvironmentsCommand::Diff { a, b, project } => {
            super::diff::run(connection, project.as_deref(), a, b)?;
        }
    }
    Ok(())
}

pub fn segments(connection: &Connection, command: &SegmentsCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        SegmentsCommand::List { project } => {
            let project = client.project(project)?;
            let rows = client.all(&format!("/admin/v1/projects/{}/segments", project["id"]))?;
            print(
                connection.output,
                &json!(rows),
                &["id", "name", "description"],
                &rows,
            );
        }
        SegmentsCommand::Create {
            project,
            name,
            rules,
            description,
        } => {
            let project = client.project(project)?;
            let body =
                json!({"name": name, "description": description, "rules": read_json(rules)?});
            let segment = client.call(
                Method::POST,
                &format!("/admin/v1/projects/{}/segments", project["id"]),
                Some(&body),
            )?;
            print(
                connection.output,
                &segment,
                &["id", "name"],
                std::slice::from_ref(&segment),
            );
        }
        SegmentsCommand::Delete { project, name } => {
            let project = client.project(project)?;
            let segments = client.all(&format!("/admin/v1/projects/{}/segments", project["id"]))?;
            let segment = &pick(&segments, "segment", name)?;
            client.call(
                Method::DELETE,
                &format!("/admin/v1/segments/{}", segment["id"]),
                None,
            )?;
            deleted(connection, "segment", segment);
        }
    }
    Ok(())
}
