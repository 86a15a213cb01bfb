//! Rolling upgrades and restarts of a three-node cluster, with the real binary.
//!
//! A node started with `BURGEE_FAULT_COMMAND_FORMAT=1` (fault injection) plays the previous
//! version: it tells its peers it reads command format 1 and refuses newer commands, as that
//! version does. With one such member, the cluster keeps format 1 on: old-format writes go
//! on, a change of the newer format is refused with 503 `upgrade_in_progress`; once the last
//! member runs the new version the leader switches the newest format on, and the change goes through.
//! An old version then cannot join: it refuses to start against the cluster, and the cluster
//! refuses to add it. And a rolling restart under SDK load loses no request for a client
//! that retries on another node, as an SDK behind a Service does.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Formation, project_names};
use serde_json::{Value, json};

const PLAY_OLD: (&str, &str) = ("BURGEE_FAULT_COMMAND_FORMAT", "1");
/// The newest command format of this build.
const NEWEST: u64 = burgee::store::command::COMMAND_FORMAT as u64;

async fn active_format(cluster: &Cluster, id: usize) -> u64 {
    cluster.status(id).await["command_format"]["active"]
        .as_u64()
        .unwrap()
}

/// Waits until every running node has switched format `format` on.
async fn wait_active(cluster: &Cluster, format: u64) {
    let started = Instant::now();
    loop {
        let mut seen = Vec::new();
        for id in cluster.running() {
            seen.push(active_format(cluster, id).await);
        }
        if seen.iter().all(|f| *f == format) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "command format {format} not on everywhere within 30 s: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_commands_switch_on_when_the_last_member_is_upgraded_and_an_old_node_cannot_join() {
    let mut cluster = Cluster::prepared(3, Formation::Initial, &[]);
    cluster.node_env(3, &[PLAY_OLD]);
    cluster.start_all();
    let leader = cluster.ready(Duration::from_secs(60)).await;
    // The leader hears from every member many times a second; give it several seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = cluster.status(leader).await;
    assert_eq!(status["command_format"]["active"], 1, "{status}");
    assert_eq!(status["command_format"]["supported"], NEWEST, "{status}");
    let (code, body) = cluster.create_project(leader, "mixed-versions").await;
    assert_eq!(code, 201, "old-format writes go on: {body}");
    // A backup records a newer-format audit event: refused until the upgrade is done.
    let (code, body) = cluster
        .admin(leader)
        .call(reqwest::Method::GET, "/admin/v1/backup", None)
        .await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["error"]["code"], "upgrade_in_progress", "{body}");
    assert_eq!(
        body["error"]["details"]["needed_command_format"], 2,
        "{body}"
    );

    // Node 3 is upgraded (restarted as the new version): the newest format switches on
    // everywhere.
    cluster.kill(3);
    cluster.node_env(3, &[]);
    cluster.start_node(3);
    wait_active(&cluster, NEWEST).await;
    let leader = cluster.ready(Duration::from_secs(60)).await;
    let (code, body) = cluster
        .admin(leader)
        .call(reqwest::Method::GET, "/admin/v1/backup", None)
        .await;
    assert_eq!(code, 200, "{body}");

    // An old version with an empty data directory refuses to start against this cluster.
    cluster.kill(3);
    cluster.wipe(3);
    let mut args = vec!["serve".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
    args.extend([
        "--data-dir".to_owned(),
        cluster.data_dir(3).display().to_string(),
    ]);
    args.extend(cluster.args(3, Formation::Initial));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = common::server::run_cli(&args, &[PLAY_OLD]);
    assert_ne!(code, 0, "an old node started against a newer cluster");
    assert!(
        stderr.contains(&format!("runs command format {NEWEST}"))
            && stderr.contains("upgrade Burgee"),
        "{stderr}"
    );

    // Started to join, it waits; the cluster refuses to add it, saying why.
    cluster.wipe(3);
    cluster.node_env(3, &[PLAY_OLD]);
    cluster.start_node_as(3, Formation::Grown);
    // Still a member, it refuses the leader's appends (426): it knows no leader.
    let leader = cluster.status(1).await["leader"].as_u64().unwrap() as usize;
    assert_eq!(cluster.status(3).await["leader"], Value::Null);
    let admin = cluster.admin(leader);
    let (code, body) = admin
        .call(reqwest::Method::DELETE, "/admin/v1/cluster/members/3", None)
        .await;
    assert_eq!(code, 200, "{body}");
    let member = json!({"id": 3, "url": cluster.cluster_url(3)});
    let (code, body) = admin
        .call(
            reqwest::Method::POST,
            "/admin/v1/cluster/members",
            Some(member.clone()),
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"]["code"], "incompatible_version", "{body}");
    // Upgraded, the same node is added and catches up.
    cluster.kill(3);
    cluster.wipe(3);
    cluster.node_env(3, &[]);
    cluster.start_node_as(3, Formation::Grown);
    let (code, body) = admin
        .call(
            reqwest::Method::POST,
            "/admin/v1/cluster/members",
            Some(member),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    cluster
        .eventually(3, "the upgraded node caught up", |admin| async move {
            project_names(&admin)
                .await
                .contains(&"mixed-versions".to_owned())
        })
        .await;
}

/// SDK calls round-robin over the nodes' current URLs; a failed call is retried on the next
/// node (each node once). Counts the calls answered and those no node answered.
struct SdkLoad {
    urls: Arc<RwLock<Vec<String>>>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl SdkLoad {
    fn start(cluster: &Cluster, key: &str, clients: usize) -> Self {
        let urls = Arc::new(RwLock::new(
            (1..=3)
                .map(|id| cluster.node(id).url(""))
                .collect::<Vec<String>>(),
        ));
        let stop: Arc<AtomicBool> = Arc::default();
        let (answered, lost): (Arc<AtomicU64>, Arc<AtomicU64>) = (Arc::default(), Arc::default());
        let tasks = (0..clients)
            .map(|offset| {
                let (urls, stop, answered, lost) = (
                    Arc::clone(&urls),
                    Arc::clone(&stop),
                    Arc::clone(&answered),
                    Arc::clone(&lost),
                );
                let key = key.to_owned();
                tokio::spawn(async move {
                    let http = common::server::client_builder()
                        .timeout(Duration::from_secs(5))
                        .build()
                        .unwrap();
                    let mut failures = Vec::new();
                    let mut turn = offset;
                    while !stop.load(Ordering::Relaxed) {
                        let bases = urls.read().unwrap().clone();
                        let mut done = false;
                        for attempt in 0..bases.len() {
                            let base = &bases[(turn + attempt) % bases.len()];
                            let answer = http
                                .get(format!("{base}/api/v1/flags/"))
                                .header("X-Environment-Key", &key)
                                .send()
                                .await;
                            match answer {
                                Ok(r) if r.status().is_success() => {
                                    let flags: Value = r.json().await.unwrap_or(Value::Null);
                                    if flags.as_array().is_some_and(|f| !f.is_empty()) {
                                        done = true;
                                        break;
                                    }
                                    failures.push(format!("{base}: {flags}"));
                                }
                                Ok(r) => failures.push(format!("{base}: {}", r.status())),
                                Err(e) => failures.push(format!("{base}: {e}")),
                            }
                        }
                        if done {
                            answered.fetch_add(1, Ordering::Relaxed);
                        } else {
                            lost.fetch_add(1, Ordering::Relaxed);
                        }
                        turn += 1;
                    }
                    failures
                })
            })
            .collect();
        Self {
            urls,
            stop,
            answered,
            lost,
            tasks,
        }
    }

    fn set_url(&self, id: usize, url: String) {
        self.urls.write().unwrap()[id - 1] = url;
    }

    /// Stops the load: calls answered, calls lost, and the failures retried past.
    async fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for task in self.tasks {
            failures.extend(task.await.unwrap());
        }
        (
            self.answered.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
            failures,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_sdk_load_loses_no_request() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.ready(Duration::from_secs(60)).await;
    let admin = cluster.admin(leader);
    let key = admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "rolling", "initial_value": "on"}),
        )
        .await;
    for id in 1..=3 {
        common::server::eventually_flags(cluster.node(id), &key, Duration::from_secs(30), |f| {
            f.as_array().is_some_and(|f| !f.is_empty())
        })
        .await;
    }
    let load = SdkLoad::start(&cluster, &key, 4);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in 1..=3 {
        // As a StatefulSet's rolling update does: stop (SIGTERM), start on the same volume,
        // wait until ready before the next.
        let server = cluster.nodes[id - 1].take().unwrap();
        let (status, _) = tokio::task::spawn_blocking(move || server.terminate())
            .await
            .unwrap();
        assert!(status.success(), "node {id} stopped with {status}");
        cluster.start_node(id);
        load.set_url(id, cluster.node(id).url(""));
        cluster.ready(Duration::from_secs(60)).await;
        common::server::eventually_flags(cluster.node(id), &key, Duration::from_secs(30), |f| {
            f.as_array().is_some_and(|f| !f.is_empty())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (answered, lost, failures) = load.finish().await;
    assert_eq!(
        lost, 0,
        "{lost} calls found no node to answer ({answered} answered); failures: {failures:?}"
    );
    assert!(answered > 100, "only {answered} calls answered");
    eprintln!(
        "rolling restart: {answered} calls answered, {} retried on another node",
        failures.len()
    );
    let (code, body) = cluster.create_project(1, "after-the-roll").await;
    assert!(code == 201, "{code} {body}");
}
