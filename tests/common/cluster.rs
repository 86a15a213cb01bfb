//! A cluster of real `burgee` processes on loopback, each with its own data directory and
//! cluster port, formed with `--initial-cluster`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

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

pub struct Cluster {
    /// Node `i + 1`, or `None` while it is stopped.
    pub nodes: Vec<Option<Server>>,
    ports: Vec<u16>,
    secrets: Vec<String>,
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
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_owned();
        let ports = secrets.iter().map(|_| free_port()).collect();
        let mut cluster = Self {
            nodes: secrets.iter().map(|_| None).collect(),
            ports,
            secrets: secrets.to_vec(),
            _temp: temp,
            root,
        };
        for id in 1..=secrets.len() {
            cluster.start_node(id);
        }
        cluster
    }

    pub fn data_dir(&self, id: usize) -> PathBuf {
        self.root.join(format!("node{id}"))
    }

    fn initial_cluster(&self) -> String {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}=http://127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts (or restarts) node `id` on its data directory.
    pub fn start_node(&mut self, id: usize) {
        let listen = format!("127.0.0.1:{}", self.ports[id - 1]);
        let initial = self.initial_cluster();
        let node_id = id.to_string();
        let server = Server::start_in(
            &self.data_dir(id),
            &[
                "--bootstrap-token",
                TOKEN,
                "--cluster-listen",
                &listen,
                "--cluster-secret",
                &self.secrets[id - 1],
                "--node-id",
                &node_id,
                "--initial-cluster",
                &initial,
            ],
        );
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

    /// Node `id`'s `/health/cluster`.
    pub async fn status(&self, id: usize) -> Value {
        let response = client()
            .get(self.node(id).url("/health/cluster"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
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
