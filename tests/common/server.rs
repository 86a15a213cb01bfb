//! Starting the real `burgee` binary on a free port with a temporary data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TOKEN: &str = "integration-test-admin-token";

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// The `--ops-listen` listener's base URL, when it has one.
    pub ops_base: Option<String>,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// A fresh server with the bootstrap token [`TOKEN`].
    pub fn start() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let mut server = Self::start_in(&data_dir, &["--bootstrap-token", TOKEN]);
        server._temp = Some(temp);
        server
    }

    /// A fresh server with the bootstrap token [`TOKEN`] and more arguments.
    pub fn start_fresh(extra: &[&str]) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let mut args = vec!["--bootstrap-token", TOKEN];
        args.extend_from_slice(extra);
        let mut server = Self::start_in(&data_dir, &args);
        server._temp = Some(temp);
        server
    }

    /// A server on an existing data directory.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with(data_dir, extra, &[])
    }

    /// A server on an existing data directory, with extra environment variables.
    pub fn start_with(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_burgee"));
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]);
        command.arg(data_dir).args(extra);
        Self::launch(command, data_dir, env)
    }

    /// A server whose log (at debug level) goes to `log`.
    pub fn start_logged(data_dir: &Path, extra: &[&str], log: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_burgee"));
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]);
        command.arg(data_dir).args(extra);
        command.stderr(std::fs::File::create(log).unwrap());
        Self::launch(
            command,
            data_dir,
            &[("BURGEE_LOG", "debug,h2=info,hyper=info")],
        )
    }

    /// A fresh server run under `strace`, which logs the given system calls to `trace`.
    pub fn start_traced(trace: &Path, syscalls: &str, extra: &[&str]) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let mut command = Command::new("strace");
        command
            .args(["-f", "-tt", "-y", "-s", "48", "-e"])
            .arg(format!("trace={syscalls}"))
            .arg("-o")
            .arg(trace)
            .arg(env!("CARGO_BIN_EXE_burgee"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(["--bootstrap-token", TOKEN])
            .args(extra);
        let mut server = Self::launch(command, &data_dir, &[]);
        server._temp = Some(temp);
        server
    }

    fn launch(mut command: Command, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        command.env("BURGEE_LOG", "warn");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let ops_base = match line.trim().strip_prefix("burgee ops listening on ") {
            Some(ops) => {
                let ops = ops.to_owned();
                line.clear();
                reader.read_line(&mut line).unwrap();
                Some(ops)
            }
            None => None,
        };
        let base = line
            .trim()
            .strip_prefix("burgee listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            base,
            ops_base,
            data_dir: data_dir.to_owned(),
            _temp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops with SIGKILL (no chance to flush anything).
    pub fn kill(mut self) -> Option<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._temp.take()
    }

    /// Stops with SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Option<tempfile::TempDir>) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, self._temp.take());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop after SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for tests.
pub fn client() -> reqwest::Client {
    client_builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A client builder with TLS set up once and cheaply: left to itself, reqwest reads and
/// parses the system's whole certificate store for every client, which thousands of
/// concurrent test clients cannot afford.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(burgee_raft::network::client_tls(
        rustls::RootCertStore::empty(),
    ))
}

/// Admin calls with the test token.
pub struct Admin {
    pub http: reqwest::Client,
    pub base: String,
    stale: bool,
}

impl Admin {
    pub fn new(server: &Server) -> Self {
        Self::at(&server.base)
    }

    /// Admin calls to a server this test did not start itself (a container, say).
    pub fn at(base: &str) -> Self {
        Self {
            http: client(),
            base: base.to_owned(),
            stale: false,
        }
    }

    /// Reads this node's own state (`Burgee-Consistency: stale`) instead of a linearizable
    /// read, which needs a quorum.
    pub fn stale(mut self) -> Self {
        self.stale = true;
        self
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if self.stale {
            request = request.header("Burgee-Consistency", "stale");
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            },
        )
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, value) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(
            status == 201 || status == 200,
            "POST {path}: {status} {value}"
        );
        value
    }

    /// Every item of a paginated list at `path` (which takes no query of its own).
    pub async fn all(&self, path: &str) -> Vec<serde_json::Value> {
        let mut items = Vec::new();
        let mut page_path = format!("{path}?limit=500");
        loop {
            let page = self.get(&page_path).await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => page_path = format!("{path}?limit=500&cursor={cursor}"),
                None => return items,
            }
        }
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let (status, value) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }
}

impl Admin {
    /// Project 1 "Web" with environment 1 "Production"; returns the environment's client key.
    pub async fn web_production(&self) -> String {
        self.post("/admin/v1/projects", serde_json::json!({"name": "Web"}))
            .await;
        let env = self
            .post(
                "/admin/v1/projects/1/environments",
                serde_json::json!({"name": "Production"}),
            )
            .await;
        env["client_key"].as_str().unwrap().to_owned()
    }
}

/// An unauthenticated GET: status and JSON body (`null` when there is none).
pub async fn get_json(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let response = client().get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// The whole `/metrics` page.
pub async fn metrics_text(server: &Server) -> String {
    client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of an unlabelled metric in `/metrics`.
pub async fn metric(server: &Server, name: &str) -> Option<f64> {
    metrics_text(server)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// `POST /api/v1/identities/` with `traits` (a JSON array): status and body.
pub async fn identify(
    server: &Server,
    key: &str,
    identifier: &str,
    traits: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = client()
        .post(server.url("/api/v1/identities/"))
        .header("X-Environment-Key", key)
        .json(&serde_json::json!({"identifier": identifier, "traits": traits}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

impl Admin {
    /// [`Admin::web_production`] plus feature 1 "banner" (value "hello"); the client key.
    pub async fn web_production_banner(&self) -> String {
        let key = self.web_production().await;
        self.post(
            "/admin/v1/projects/1/features",
            serde_json::json!({"name": "banner", "initial_value": "hello"}),
        )
        .await;
        key
    }
}

/// Turns feature 1 of environment 1 on with `value`, through `server`'s admin API.
pub async fn set_banner(server: &Server, value: &str) {
    let response = client()
        .patch(server.url("/admin/v1/environments/1/features/1/state"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"enabled": true, "value": value}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// Waits (up to `within`) until `server`'s SDK API serves flags that `check` accepts.
pub async fn eventually_flags(
    server: &Server,
    key: &str,
    within: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let started = std::time::Instant::now();
    loop {
        let response = client()
            .get(server.url("/api/v1/flags/"))
            .header("X-Environment-Key", key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status == 200 && check(&body) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{} still serves {status} {body}",
            server.base
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (up to `within`) until `server` serves feature 1 with `value`.
pub async fn serves_banner(server: &Server, key: &str, value: &str, within: Duration) {
    eventually_flags(server, key, within, |flags| {
        flags[0]["feature_state_value"] == value
    })
    .await;
}

/// Runs `burgee ARGS` against `server` with the test token: exit code, stdout, stderr.
pub fn cli(server: &Server, args: &[&str]) -> (i32, String, String) {
    run_cli(
        args,
        &[("BURGEE_URL", &server.base), ("BURGEE_TOKEN", TOKEN)],
    )
}

/// Runs `burgee ARGS` with extra environment variables: exit code, stdout, stderr.
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
