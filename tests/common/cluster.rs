//! A cluster of real `burgee` processes on loopback, each with its own data directory and
//! cluster port: formed with `--initial-cluster`, or grown from a node of its own with
//! `--join` and `burgee cluster add`; optionally with a [`Proxy`] in front of every cluster
//! port, so a test can partition the network.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::proxy::Proxy;
use super::server::{Admin, Server, TOKEN, client};

pub const SECRET: &str = "integration-test-cluster-secret-0123456789";

/// A port free now (the OS hands it out again only after a while).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How the cluster comes together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formation {
    /// Every node starts with the same `--initial-cluster`.
    Initial,
    /// Node 1 forms a cluster of one; the others start with `--join` and wait to be added.
    Grown,
}

pub struct Cluster {
    /// Node `i + 1`, or `None` while it is stopped.
    pub nodes: Vec<Option<Server>>,
    ports: Vec<u16>,
    /// In front of each node's cluster port, when partitions are wanted.
    pub proxies: Vec<Proxy>,
    secrets: Vec<String>,
    formation: Formation,
    /// More arguments for every node.
    extra: Vec<String>,
    /// More arguments for one node (by id).
    per_node: Vec<Vec<String>>,
    /// Environment variables for one node (by id).
    per_node_env: Vec<Vec<(String, String)>>,
    /// `http`, or `https` when the nodes' cluster ports speak TLS.
    scheme: &'static str,
    _temp: tempfile::TempDir,
    root: PathBuf,
}

impl Cluster {
    /// `size` nodes formed as one cluster.
    pub fn start(size: usize) -> Self {
        Self::start_with_secrets(&vec![SECRET.to_owned(); size])
    }

    /// One node per secret (a node given another secret than its peers cannot take part).
    pub fn start_with_secrets(secrets: &[String]) -> Self {
        let mut cluster = Self::prepare(secrets, Formation::Initial, Vec::new(), &[]);
        cluster.start_all();
        cluster
    }

    /// `size` nodes behind proxies, each with `extra` arguments.
    pub async fn proxied(size: usize, extra: &[&str]) -> Self {
        let ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let mut proxies = Vec::new();
        for port in &ports {
            proxies.push(Proxy::start(*port).await);
        }
        let secrets = vec![SECRET.to_owned(); size];
        let mut cluster = Self::prepare(&secrets, Formation::Initial, proxies, extra);
        cluster.ports = ports;
        cluster.start_all();
        cluster
    }

    /// Room for `size` nodes, formed as `formation` says, each with `extra` arguments; no
    /// node runs yet.
    pub fn prepared(size: usize, formation: Formation, extra: &[&str]) -> Self {
        Self::prepare(&vec![SECRET.to_owned(); size], formation, Vec::new(), extra)
    }

    fn prepare(
        secrets: &[String],
        formation: Formation,
        proxies: Vec<Proxy>,
        extra: &[&str],
    ) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_owned();
        Self {
            nodes: secrets.iter().map(|_| None).collect(),
            ports: secrets.iter().map(|_| free_port()).collect(),
            proxies,
            secrets: secrets.to_vec(),
            formation,
            extra: extra.iter().map(|e| (*e).to_owned()).collect(),
            per_node: secrets.iter().map(|_| Vec::new()).collect(),
            per_node_env: secrets.iter().map(|_| Vec::new()).collect(),
            scheme: "http",
            _temp: temp,
            root,
        }
    }

    /// Peers reach each other at https URLs (give each node its certificate with
    /// [`Cluster::node_args`]).
    pub fn use_https(&mut self) {
        self.scheme = "https";
    }

    /// Arguments for node `id` alone (its certificate, say), from its next start.
    pub fn node_args(&mut self, id: usize, args: &[&str]) {
        self.per_node[id - 1] = args.iter().map(|a| (*a).to_owned()).collect();
    }

    /// Environment variables for node `id` alone, from its next start.
    pub fn node_env(&mut self, id: usize, env: &[(&str, &str)]) {
        self.per_node_env[id - 1] = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// Where node `id`'s cluster port listens.
    pub fn cluster_address(&self, id: usize) -> String {
        format!("127.0.0.1:{}", self.ports[id - 1])
    }

    pub fn start_all(&mut self) {
        for id in 1..=self.nodes.len() {
            self.start_node(id);
        }
    }

    /// The URL the other nodes reach node `id`'s cluster port at.
    pub fn cluster_url(&self, id: usize) -> String {
        let port = self
            .proxies
            .get(id - 1)
            .map_or(self.ports[id - 1], |p| p.port);
        format!("{}://127.0.0.1:{port}", self.scheme)
    }

    /// Cuts node `id` off from the others, both ways (needs [`Cluster::proxied`]).
    pub fn partition(&self, id: usize) {
        for (i, proxy) in self.proxies.iter().enumerate() {
            if i + 1 == id {
                proxy.cut_all();
            } else {
                proxy.cut_from(id as u64);
            }
        }
    }

    /// Lets every node reach every other again.
    pub fn heal(&self) {
        for proxy in &self.proxies {
            proxy.heal();
        }
    }

    /// Deletes node `id`'s data directory (stop it first).
    pub fn wipe(&self, id: usize) {
        assert!(self.nodes[id - 1].is_none(), "stop node {id} first");
        std::fs::remove_dir_all(self.data_dir(id)).unwrap();
    }

    pub fn data_dir(&self, id: usize) -> PathBuf {
        self.root.join(format!("node{id}"))
    }

    fn initial_cluster(&self) -> String {
        (1..=self.nodes.len())
            .map(|id| format!("{id}={}", self.cluster_url(id)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The arguments node `id` starts with (after `serve --data-dir DIR`), joining with
    /// `--join` as `formation` says.
    pub fn args(&self, id: usize, formation: Formation) -> Vec<String> {
        let mut args: Vec<String> = [
            "--bootstrap-token",
            TOKEN,
            "--cluster-listen",
            &format!("127.0.0.1:{}", self.ports[id - 1]),
            "--advertise-cluster-url",
            &self.cluster_url(id),
            "--cluster-secret",
            &self.secrets[id - 1],
            "--node-id",
            &id.to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        match formation {
            Formation::Initial => {
                args.extend(["--initial-cluster".to_owned(), self.initial_cluster()]);
            }
            Formation::Grown if id > 1 => args.push("--join".into()),
            Formation::Grown => {}
        }
        args.extend(self.extra.iter().cloned());
        args.extend(self.per_node[id - 1].iter().cloned());
        args
    }

    /// Node `id`'s own environment variables.
    pub fn env(&self, id: usize) -> Vec<(&str, &str)> {
        self.per_node_env[id - 1]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Starts (or restarts) node `id` on its data directory.
    pub fn start_node(&mut self, id: usize) {
        self.start_node_as(id, self.formation);
    }

    /// The same, joining as `formation` says.
    pub fn start_node_as(&mut self, id: usize, formation: Formation) {
        let args = self.args(id, formation);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::start_with(&self.data_dir(id), &args, &self.env(id));
        self.nodes[id - 1] = Some(server);
    }

    /// Stops node `id` with SIGKILL.
    pub fn kill(&mut self, id: usize) {
        if let Some(server) = self.nodes[id - 1].take() {
            drop(server.kill());
        }
    }

    pub fn node(&self, id: usize) -> &Server {
        self.nodes[id - 1].as_ref().unwrap()
    }

    pub fn admin(&self, id: usize) -> Admin {
        Admin::new(self.node(id))
    }

    /// Node `id`'s `/health/cluster` (200 when healthy, else 503 with the same body).
    pub async fn status(&self, id: usize) -> Value {
        let response = client()
            .get(self.node(id).url("/health/cluster"))
            .send()
            .await
            .unwrap();
        let code = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(code == 200, body["healthy"] == true, "{code} {body}");
        assert!(code == 200 || code == 503, "{code} {body}");
        body
    }

    /// The leader every running node agrees on, once they do.
    pub async fn leader(&self, within: Duration) -> usize {
        let started = Instant::now();
        loop {
            let mut seen = Vec::new();
            for id in self.running() {
                seen.push(self.status(id).await["leader"].as_u64());
            }
            if let Some(Some(leader)) = seen.first()
                && seen.iter().all(|s| *s == Some(*leader))
                && self.running().contains(&(*leader as usize))
            {
                return *leader as usize;
            }
            assert!(
                started.elapsed() < within,
                "no leader agreed within {within:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The leader, once it holds the first configuration (admin reads answer).
    pub async fn ready(&self, within: Duration) -> usize {
        let leader = self.leader(within).await;
        self.eventually(leader, "the first configuration", |admin| async move {
            admin
                .call(reqwest::Method::GET, "/admin/v1/projects", None)
                .await
                .0
                == 200
        })
        .await;
        leader
    }

    /// Creates project `name` through node `at`: the status and body of the answer.
    pub async fn create_project(&self, at: usize, name: &str) -> (u16, Value) {
        self.admin(at)
            .call(
                reqwest::Method::POST,
                "/admin/v1/projects",
                Some(serde_json::json!({ "name": name })),
            )
            .await
    }

    /// Ids of the running nodes.
    pub fn running(&self) -> Vec<usize> {
        (1..=self.nodes.len())
            .filter(|id| self.nodes[id - 1].is_some())
            .collect()
    }

    /// Waits until `check` holds on node `id`.
    pub async fn eventually<F, Fut>(&self, id: usize, what: &str, mut check: F)
    where
        F: FnMut(Admin) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !check(self.admin(id)).await {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {id}: {what} did not happen within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Names of the projects a node serves.
pub async fn project_names(admin: &Admin) -> Vec<String> {
    let (status, list) = admin
        .call(reqwest::Method::GET, "/admin/v1/projects", None)
        .await;
    if status != 200 {
        return Vec::new();
    }
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
