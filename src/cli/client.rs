//! The admin API client behind the CLI's administration commands.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;

/// Where the server is and who is calling.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(
        long,
        env = "BURGEE_URL",
        default_value = "http://127.0.0.1:8000",
        global = true
    )]
    pub url: String,
    /// An admin API token.
    #[arg(long, env = "BURGEE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Output for people (table) or scripts (json).
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    pub fn new(connection: &Connection) -> anyhow::Result<Self> {
        let token = connection
            .token
            .clone()
            .context("an admin token is needed: --token or BURGEE_TOKEN")?;
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
            base: connection.url.trim_end_matches('/').to_owned(),
            token,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// Sends a request; an error answer becomes an error carrying the server's message.
    #[allow(clippy::needless_pass_by_value)] // call sites pass `Method::POST` and friends
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.base))?;
            let status = response.status();
            let text = response.text().await?;
            let value: Value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            if !status.is_success() {
                let message = value["error"]["message"]
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                bail!("{method} {path}: {status}: {message}");
            }
            Ok(value)
        })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None)
    }

    /// Every item of a paginated list.
    pub fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page_path = match &cursor {
                Some(c) => format!("{path}{separator}limit=500&cursor={c}"),
                None => format!("{path}{separator}limit=500"),
            };
            let page = self.get(&page_path)?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }

    /// The environment with this client key.
    pub fn environment(&self, client_key: &str) -> anyhow::Result<Value> {
        let found = self.get(&format!(
            "/admin/v1/environments?client_key={}",
            encode(client_key)
        ))?;
        found["items"]
            .get(0)
            .cloned()
            .with_context(|| format!("no environment has the client key {client_key}"))
    }

    /// A project by name or numeric id.
    pub fn project(&self, name_or_id: &str) -> anyhow::Result<Value> {
        let projects = self.all("/admin/v1/projects")?;
        projects
            .into_iter()
            .find(|p| {
                p["name"] == name_or_id || name_or_id.parse::<u64>().is_ok_and(|id| p["id"] == id)
            })
            .with_context(|| format!("no project is named {name_or_id:?}"))
    }
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Prints `rows` as an aligned table, or the raw JSON.
pub fn print(output: Output, json: &Value, columns: &[&str], rows: &[Value]) {
    if output == Output::Json {
        println!("{json}");
        return;
    }
    let cell = |row: &Value, column: &str| match &row[column] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(r, c).chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for row in rows {
        println!("{}", line(columns.iter().map(|c| cell(row, c)).collect()));
    }
}
