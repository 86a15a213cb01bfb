//! The Helm chart's pods, run for real: three processes started with exactly the arguments and
//! environment the rendered StatefulSet gives its pods. Each runs in a UTS and mount namespace
//! of its own, so its hostname is its pod's name (the node id comes from it) and the peers'
//! DNS names resolve, through an /etc/hosts bound over the host's, to 127.0.13.x (127.0.14.x). The only
//! changes to what the chart gives: its volume mounts become local directories and `0.0.0.0`
//! becomes the pod's own address. The cluster forms, takes writes through any pod, survives a
//! pod's restart, and pod 0's only outbound connections (strace) go to its peers; the same with
//! the chart's mutual TLS between nodes.
//!
//! Needs root (namespaces), strace, and the chart tools (`BURGEE_CHART_PYTHON`, set by
//! scripts/test-all.sh).

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::project_names;
use common::server::{Admin, TOKEN, client};
use serde_json::{Value, json};

const NAMESPACE: &str = "burgee";
const CLUSTER_SECRET: &str = "a-cluster-secret-for-the-chart-test-0123456789";

fn chart_python() -> Option<PathBuf> {
    match std::env::var_os("BURGEE_CHART_PYTHON") {
        Some(python) if Path::new(&python).is_file() => Some(PathBuf::from(python)),
        _ => {
            common::skip_or_fail(
                "BURGEE_CHART_PYTHON is not set to a Python with packaging/requirements.txt \
                 (scripts/check-packaging.sh installs one under target/ci/venv)",
            );
            None
        }
    }
}

fn namespaces_available() -> bool {
    let works = Command::new("unshare")
        .args(["--uts", "--mount", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        common::skip_or_fail("unshare --uts --mount needs root");
    }
    works
}

/// The chart rendered with a cluster secret and a bootstrap token from existing Secrets
/// (which this test then provides as files), and TLS between nodes from one if `tls`.
fn render(python: &Path, tls: bool) -> Vec<Value> {
    let mut values = json!({
        "cluster": {"existingSecret": "chart-test-cluster", "existingSecretKey": "cluster-secret"},
        "bootstrapToken": {"existingSecret": "chart-test-admin", "key": "token"},
    });
    if tls {
        values["cluster"]["tls"] = json!({"existingSecret": "chart-test-peers-tls"});
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packaging/helm/check.py");
    let out = Command::new(python)
        .arg(script)
        .arg("render")
        .arg(values.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What the chart gives each pod of its StatefulSet.
struct PodTemplate {
    statefulset: String,
    peers_service: String,
    replicas: usize,
    args: Vec<String>,
    env: Vec<Value>,
    /// Mount path → volume name.
    mounts: Vec<(String, String)>,
    ops_port: u16,
    http_port: u16,
}

impl PodTemplate {
    fn from(docs: &[Value]) -> Self {
        let statefulset = docs
            .iter()
            .find(|d| d["kind"] == "StatefulSet")
            .expect("a StatefulSet");
        let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
        let port = |name: &str| {
            container["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .and_then(|p| p["containerPort"].as_u64())
                .unwrap() as u16
        };
        Self {
            statefulset: statefulset["metadata"]["name"].as_str().unwrap().to_owned(),
            peers_service: statefulset["spec"]["serviceName"]
                .as_str()
                .unwrap()
                .to_owned(),
            replicas: statefulset["spec"]["replicas"].as_u64().unwrap() as usize,
            args: serde_json::from_value(container["args"].clone()).unwrap(),
            env: container["env"].as_array().unwrap().clone(),
            mounts: container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["mountPath"].as_str().unwrap().to_owned(),
                        m["name"].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            ops_port: port("ops"),
            http_port: port("http"),
        }
    }

    fn pod_name(&self, ordinal: usize) -> String {
        format!("{}-{ordinal}", self.statefulset)
    }

    /// The pod's environment as the kubelet builds it: field references filled in, `$(NAME)`
    /// expanded from the variables before it; then mount paths mapped to `volumes`.
    fn environment(
        &self,
        ordinal: usize,
        address: &str,
        volumes: &BTreeMap<String, PathBuf>,
    ) -> Vec<(String, String)> {
        let mut defined: Vec<(String, String)> = Vec::new();
        for entry in &self.env {
            let name = entry["name"].as_str().unwrap().to_owned();
            let value = if let Some(field) = entry["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                match field {
                    "metadata.name" => self.pod_name(ordinal),
                    "metadata.namespace" => NAMESPACE.to_owned(),
                    other => panic!("the chart reads field {other}, which this test lacks"),
                }
            } else {
                let mut value = entry["value"].as_str().unwrap().to_owned();
                for (earlier, its_value) in &defined {
                    value = value.replace(&format!("$({earlier})"), its_value);
                }
                value
            };
            defined.push((name, value));
        }
        defined
            .into_iter()
            .map(|(name, mut value)| {
                value = value.replace("0.0.0.0:", &format!("{address}:"));
                for (mount, volume) in &self.mounts {
                    if value == *mount || value.starts_with(&format!("{mount}/")) {
                        let local = volumes[volume].display().to_string();
                        value = value.replacen(mount.as_str(), &local, 1);
                    }
                }
                (name, value)
            })
            .collect()
    }
}

/// One pod's process and where its files are.
struct Pod {
    child: Option<Child>,
    command: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    address: String,
}

impl Pod {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL, as a node failure. The namespaces' shell execs the server, so the child is
    /// the server itself, or strace with the server as its child (killed first: a killed
    /// strace would leave it running).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let traced = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            for grandchild in traced.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", grandchild]).status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, port: u16, path: &str) -> String {
        format!("http://{}:{port}{path}", self.address)
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for<F, Fut>(what: &str, within: Duration, logs: &[&Path], mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        if Instant::now() > deadline {
            let tails: Vec<String> = logs
                .iter()
                .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                .map(|l| l.lines().rev().take(15).collect::<Vec<_>>().join("\n"))
                .collect();
            panic!("{what} did not happen within {within:?}; logs (newest first):\n{tails:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get(url: &str) -> Option<Value> {
    let response = client().get(url).send().await.ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json().await.ok()
}

#[tokio::test]
async fn three_pods_as_the_chart_starts_them_form_a_cluster_and_survive_a_restart() {
    run_pods(false).await;
}

/// The same with the chart's mutual TLS between nodes, from a Secret of tls.crt, tls.key and
/// ca.crt as cert-manager makes it (one certificate for every pod's peer name).
#[tokio::test]
async fn three_pods_with_mutual_tls_between_them_form_a_cluster_and_survive_a_restart() {
    run_pods(true).await;
}

async fn run_pods(tls: bool) {
    let Some(python) = chart_python() else { return };
    if !namespaces_available() || !common::strace_available() {
        return;
    }
    let template = PodTemplate::from(&render(&python, tls));
    assert_eq!(template.replicas, 3, "the chart's default is three nodes");
    let temp = tempfile::tempdir().unwrap();
    let certificate = tls.then(|| {
        let ca = common::certs::TestCa::new(temp.path());
        let sans = format!(
            "DNS:*.{}.{NAMESPACE}.svc.cluster.local",
            template.peers_service
        );
        let (cert, key) = ca.server_for("peers", &sans);
        (ca.cert, cert, key)
    });

    // Each test's pods on addresses of their own: both use the chart's ports.
    let subnet = if tls { 14 } else { 13 };
    let address = |ordinal: usize| format!("127.0.{subnet}.{}", ordinal + 1);
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for ordinal in 0..template.replicas {
        let pod = template.pod_name(ordinal);
        let fqdn = format!(
            "{pod}.{}.{NAMESPACE}.svc.cluster.local",
            template.peers_service
        );
        hosts.push_str(&format!("{} {fqdn} {pod}\n", address(ordinal)));
    }
    let hosts_file = temp.path().join("hosts");
    std::fs::write(&hosts_file, hosts).unwrap();

    let trace = temp.path().join("pod-0.connect.trace");
    let mut pods = Vec::new();
    for ordinal in 0..template.replicas {
        let dir = temp.path().join(template.pod_name(ordinal));
        let volumes: BTreeMap<String, PathBuf> = template
            .mounts
            .iter()
            .map(|(_, volume)| (volume.clone(), dir.join(volume)))
            .collect();
        for path in volumes.values() {
            std::fs::create_dir_all(path).unwrap();
        }
        std::fs::write(dir.join("cluster-secret/cluster-secret"), CLUSTER_SECRET).unwrap();
        std::fs::write(dir.join("bootstrap-token/token"), TOKEN).unwrap();
        if let Some((ca, cert, key)) = &certificate {
            let secret = &volumes["cluster-tls"];
            std::fs::copy(ca, secret.join("ca.crt")).unwrap();
            std::fs::copy(cert, secret.join("tls.crt")).unwrap();
            std::fs::copy(key, secret.join("tls.key")).unwrap();
        }
        let mut command: Vec<String> = [
            "unshare",
            "--uts",
            "--mount",
            "--",
            "sh",
            "-c",
            r#"mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@""#,
            "sh",
        ]
        .map(str::to_owned)
        .to_vec();
        command.push(hosts_file.display().to_string());
        command.push(template.pod_name(ordinal));
        if ordinal == 0 {
            let strace = ["strace", "-f", "-e", "trace=connect", "-o"];
            command.extend(strace.map(str::to_owned));
            command.push(trace.display().to_string());
        }
        command.push(env!("CARGO_BIN_EXE_burgee").to_owned());
        command.extend(template.args.iter().cloned());
        let mut pod = Pod {
            child: None,
            command,
            env: template.environment(ordinal, &address(ordinal), &volumes),
            log: temp.path().join(format!("pod-{ordinal}.log")),
            address: address(ordinal),
        };
        pod.start();
        pods.push(pod);
    }
    let logs: Vec<PathBuf> = pods.iter().map(|p| p.log.clone()).collect();
    let logs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    let ops = template.ops_port;

    // The cluster forms by itself: every pod ready, three voters, one leader, ids 1..=3.
    for pod in &pods {
        let ready = pod.url(ops, "/health/readiness");
        wait_for("a pod's readiness", Duration::from_secs(90), &logs, || {
            let ready = ready.clone();
            async move { get(&ready).await.is_some() }
        })
        .await;
    }
    let status_url = pods[0].url(ops, "/health/cluster");
    wait_for(
        "three voters and a leader",
        Duration::from_secs(30),
        &logs,
        || {
            let url = status_url.clone();
            async move {
                get(&url).await.is_some_and(|s| {
                    let voters: Vec<u64> = s["members"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|m| m["voter"] == true)
                        .filter_map(|m| m["id"].as_u64())
                        .collect();
                    voters == [1, 2, 3] && s["leader"].as_u64().is_some()
                })
            }
        },
    )
    .await;
    for (ordinal, pod) in pods.iter().enumerate() {
        let status = get(&pod.url(ops, "/health/cluster")).await.unwrap();
        assert_eq!(
            status["node_id"],
            json!(ordinal + 1),
            "node id from the pod's hostname"
        );
        let scheme = if tls { "https://" } else { "http://" };
        assert!(
            status["members"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["url"].as_str().unwrap().starts_with(scheme)),
            "peers reached at {scheme}: {status}"
        );
    }

    // Writes through any pod (the client service spreads them); every pod serves them.
    let http = template.http_port;
    let admins: Vec<Admin> = pods
        .iter()
        .map(|p| Admin::at(&format!("http://{}:{http}", p.address)).stale())
        .collect();
    for (i, admin) in admins.iter().enumerate() {
        let (status, body) = admin
            .call(
                reqwest::Method::POST,
                "/admin/v1/projects",
                Some(json!({"name": format!("via-pod-{i}")})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // A pod dies; the other two keep taking writes; the pod comes back on its volume and
    // catches up.
    pods[1].kill();
    let (status, body) = admins[2]
        .call(
            reqwest::Method::POST,
            "/admin/v1/projects",
            Some(json!({"name": "while-pod-1-was-down"})),
        )
        .await;
    assert_eq!(status, 201, "two of three take writes: {body}");
    pods[1].start();
    let ready = pods[1].url(ops, "/health/readiness");
    wait_for(
        "the restarted pod's readiness",
        Duration::from_secs(60),
        &logs,
        || {
            let ready = ready.clone();
            async move { get(&ready).await.is_some() }
        },
    )
    .await;
    wait_for(
        "the restarted pod to catch up",
        Duration::from_secs(60),
        &logs,
        || async {
            project_names(&admins[1])
                .await
                .contains(&"while-pod-1-was-down".to_owned())
        },
    )
    .await;
    let names = project_names(&admins[1]).await;
    for i in 0..3 {
        assert!(names.contains(&format!("via-pod-{i}")), "{names:?}");
    }

    // Pod 0 talked to nobody but its peers (glibc's address sorting connects a UDP socket
    // to each resolved peer too: same addresses).
    pods[0].kill();
    let trace = std::fs::read_to_string(&trace).unwrap();
    let peers: Vec<String> = (1..template.replicas).map(address).collect();
    let outbound: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("connect(") && l.contains("AF_INET"))
        .collect();
    assert!(
        outbound
            .iter()
            .any(|l| peers.iter().any(|p| l.contains(p.as_str()))),
        "the trace shows the peer connections: {outbound:#?}"
    );
    let strangers: Vec<&&str> = outbound
        .iter()
        .filter(|l| !peers.iter().any(|p| l.contains(&format!("\"{p}\""))))
        .collect();
    assert!(
        strangers.is_empty(),
        "connections to non-peers: {strangers:#?}"
    );
}
