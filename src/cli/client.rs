//! The admin API client behind the CLI's administration commands.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::secrets::{Secret, secret_or_file};

/// Where the server is and who is calling.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The server's base URL (default: the one `burgee login` saved, else
    /// http://127.0.0.1:8000).
    #[arg(long, env = "BURGEE_URL", global = true)]
    pub url: Option<String>,
    /// Talk to the server on this host through the admin socket in its data directory
    /// (as the service's user; no token needed).
    #[arg(long, global = true)]
    pub local: bool,
    /// The server's data directory, for --local and offline commands.
    #[arg(long, env = "BURGEE_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<std::path::PathBuf>,
    /// An admin API token.
    #[arg(long, env = "BURGEE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<Secret>,
    /// The admin API token read from a file (keeps it out of the process list).
    #[arg(long, env = "BURGEE_TOKEN_FILE", value_name = "FILE", global = true)]
    pub token_file: Option<std::path::PathBuf>,
    /// Output for people (table) or scripts (json).
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub output: Output,
    /// Trust this CA (PEM) for the server's https certificate, besides the built-in roots.
    #[arg(long, env = "BURGEE_CA_FILE", value_name = "FILE", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Allow sending the token over plain http to a host other than this one (certificates
    /// are still checked wherever https is used).
    #[arg(long, env = "BURGEE_INSECURE_HTTP", global = true)]
    pub insecure_http: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
    runtime: tokio::runtime::Runtime,
}

/// The admin socket's file in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

impl Connection {
    /// The data directory: `--data-dir`, `BURGEE_DATA_DIR`, or the server's default.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("./burgee-data"))
    }

    /// The URL to use: given, else saved by `burgee login`, else the default.
    pub fn base_url(&self) -> String {
        self.url
            .clone()
            .or_else(|| super::profile::load().ok().flatten().map(|p| p.url))
            .unwrap_or_else(|| "http://127.0.0.1:8000".to_owned())
            .trim_end_matches('/')
            .to_owned()
    }
}

impl Client {
    /// A client with the connection's credential: `--local`, a token given (flags, the
    /// environment, a file), or the one `burgee login` saved.
    pub fn new(connection: &Connection) -> anyhow::Result<Self> {
        if connection.local {
            return Self::build(connection, None);
        }
        let token = match secret_or_file(
            connection.token.as_ref(),
            connection.token_file.as_deref(),
            "--token",
        )? {
            Some(token) => token,
            None => super::profile::load()?
                .map(|p| p.token)
                .context("not signed in and no admin token given: run `burgee login`, or give --token, BURGEE_TOKEN, --token-file or BURGEE_TOKEN_FILE")?,
        };
        Self::build(connection, Some(token))
    }

    /// A client that sends no credential (probes, cluster status).
    pub fn anonymous(connection: &Connection) -> anyhow::Result<Self> {
        Self::build(connection, None)
    }

    /// A client without a token whose requests carry a secret of their own (a password, a
    /// setup token): held to the same transport rule as a token.
    pub fn for_secrets(connection: &Connection) -> anyhow::Result<Self> {
        if !connection.local {
            super::https::check_credential_transport(
                &connection.base_url(),
                connection.insecure_http,
            )?;
        }
        Self::build(connection, None)
    }

    fn build(connection: &Connection, token: Option<Secret>) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(600))
            .tls_backend_preconfigured(super::https::client_config(connection.ca_file.as_deref())?);
        let base = if connection.local {
            let socket = connection.data_dir().join(ADMIN_SOCKET);
            if !socket.exists() {
                bail!(
                    "no admin socket at {}: is the server running with this --data-dir, and are you its user?",
                    socket.display()
                );
            }
            http = http.unix_socket(socket);
            "http://localhost".to_owned()
        } else {
            let base = connection.base_url();
            if token.is_some() {
                super::https::check_credential_transport(&base, connection.insecure_http)?;
            }
            base
        };
        Ok(Self {
            http: http.build()?,
            base,
            token,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Streams a GET answer's body into `out` as it arrives.
    pub fn download(&self, path: &str, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        self.runtime.block_on(async {
            let mut response = request
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.base))?;
            if !response.status().is_success() {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                bail!("GET {path}: {status}: {text}");
            }
            while let Some(chunk) = response.chunk().await? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
            Ok(())
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
        self.call_with(method, path, body, &[])
    }

    /// [`Client::call`] with extra request headers.
    #[allow(clippy::needless_pass_by_value)] // as `call`
    pub fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
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

    /// A GET whose JSON body is wanted whatever the status.
    pub fn get_any(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            let response = self
                .http
                .get(&url)
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.base))?;
            Ok(response.json().await?)
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
        pick(&self.all("/admin/v1/projects")?, "project", name_or_id)
    }
}

/// The one item named `name_or_id` (exactly, else regardless of case), or with that numeric
/// id; refuses an ambiguous name (data from before names were unique) and asks for the id.
pub fn pick(items: &[Value], kind: &str, name_or_id: &str) -> anyhow::Result<Value> {
    let exact: Vec<&Value> = items.iter().filter(|i| i["name"] == name_or_id).collect();
    let matches = if exact.is_empty() {
        let wanted = name_or_id.to_lowercase();
        items
            .iter()
            .filter(|i| {
                i["name"]
                    .as_str()
                    .is_some_and(|n| n.to_lowercase() == wanted)
            })
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => name_or_id
            .parse::<u64>()
            .ok()
            .and_then(|id| items.iter().find(|i| i["id"] == id).cloned())
            .with_context(|| format!("no {kind} is named {}", printable(name_or_id))),
        several => {
            let ids: Vec<String> = several.iter().map(|i| i["id"].to_string()).collect();
            anyhow::bail!(
                "{} {kind}s are named {}: give the id instead (one of {})",
                several.len(),
                printable(name_or_id),
                ids.join(", ")
            )
        }
    }
}

/// Text made safe for a terminal: control and invisible format characters are escaped, so
/// a name cannot forge table rows or hide itself.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_invisible(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Zero-width and direction-changing characters (Unicode format characters that print nothing).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
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
        Value::String(s) => printable(s),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{pick, printable};

    #[test]
    fn names_pick_one_item_or_ask_for_the_id() {
        let items = vec![
            json!({"id": 1, "name": "banner"}),
            json!({"id": 2, "name": "Banner"}),
            json!({"id": 3, "name": "beta"}),
            json!({"id": 4, "name": "Beta"}),
            json!({"id": 5, "name": "BETA"}),
            json!({"id": 6, "name": "7"}),
        ];
        let id = |name: &str| pick(&items, "feature", name).map(|i| i["id"].clone());
        assert_eq!(id("banner").unwrap(), 1, "an exact name wins");
        assert_eq!(id("Beta").unwrap(), 4);
        let ambiguous = id("bEtA").unwrap_err().to_string();
        assert!(
            ambiguous.contains("3 features") && ambiguous.contains("3, 4, 5"),
            "{ambiguous}"
        );
        assert_eq!(id("2").unwrap(), 2, "a number names an id");
        assert_eq!(
            id("7").unwrap(),
            6,
            "a name that is a number is a name first"
        );
        assert!(id("nothing").is_err());
    }

    #[test]
    fn printable_text_cannot_forge_rows_or_hide() {
        assert_eq!(printable("Web\r\nFAKE  row"), "Web\\u{d}\\u{a}FAKE  row");
        assert_eq!(printable("a\u{200B}b"), "a\\u{200b}b");
        assert_eq!(printable("plain ü"), "plain ü");
    }
}
