//! Membership online with `burgee cluster add|remove` against real processes: one node grows
//! to three and shrinks to two while it takes writes, a learner serves SDK reads and
//! forwards writes, admin reads after a write through another node see it at once (read
//! index), every change is in the audit log, a node whose data belongs to another cluster
//! refuses to start, and the survivor of a lost majority recovers as a cluster of one.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Formation, project_names};
use common::server::{TOKEN, client};
use reqwest::Method;
use serde_json::{Value, json};

/// `burgee cluster …` against node `id`, as JSON.
fn cluster_cli(cluster: &Cluster, id: usize, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .arg("cluster")
        .args(args)
        .args(["--output", "json"])
        .env("BURGEE_URL", &cluster.node(id).base)
        .env("BURGEE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "burgee cluster {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Members as (id, voter) as node `id` sees them.
async fn members(cluster: &Cluster, id: usize) -> Vec<(u64, bool)> {
    let status = cluster.status(id).await;
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["voter"].as_bool().unwrap()))
        .collect()
}

async fn until_members(cluster: &Cluster, id: usize, expected: &[(u64, bool)]) {
    let started = Instant::now();
    loop {
        let seen = members(cluster, id).await;
        if seen == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node {id} sees members {seen:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_project(cluster: &Cluster, at: usize, name: &str) {
    let (status, body) = cluster.create_project(at, name).await;
    assert_eq!(status, 201, "node {at}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_grows_to_three_and_shrinks_to_two_online_and_a_learner_serves_reads() {
    let mut cluster = Cluster::prepared(4, Formation::Grown, &[]);
    cluster.start_node(1);
    cluster
        .eventually(1, "the first configuration", |admin| async move {
            admin.call(Method::GET, "/admin/v1/projects", None).await.0 == 200
        })
        .await;
    let key = cluster.admin(1).web_production().await;

    // Two nodes started with --join wait to be added; node 2 through the leader, node 3
    // through node 2 (which forwards the change to the leader).
    cluster.start_node(2);
    cluster.start_node(3);
    assert_eq!(cluster.status(2).await["role"], "joining");
    let shown = cluster_cli(&cluster, 1, &["add", "2", &cluster.cluster_url(2)]);
    assert_eq!(shown["node_id"], 1, "{shown}");
    until_members(&cluster, 2, &[(1, true), (2, true)]).await;
    cluster_cli(&cluster, 2, &["add", "3", &cluster.cluster_url(3)]);
    for id in 1..=3 {
        until_members(&cluster, id, &[(1, true), (2, true), (3, true)]).await;
    }
    // The newcomers hold what was written before they joined.
    for id in 2..=3 {
        assert_eq!(project_names(&cluster.admin(id)).await, ["Web"]);
    }

    // A read right after a write acknowledged through another node sees it: no waiting.
    for (writer, reader) in [(3, 2), (2, 1), (1, 3)] {
        let name = format!("Written at {writer}");
        create_project(&cluster, writer, &name).await;
        assert!(
            project_names(&cluster.admin(reader)).await.contains(&name),
            "node {reader} did not see {name}"
        );
    }

    // Three shrink to two; the two go on taking writes.
    cluster_cli(&cluster, 2, &["remove", "3"]);
    until_members(&cluster, 1, &[(1, true), (2, true)]).await;
    until_members(&cluster, 2, &[(1, true), (2, true)]).await;
    cluster.kill(3);
    create_project(&cluster, 2, "After shrinking").await;

    // A learner replicates, serves SDK reads and forwards writes, and votes on nothing.
    cluster.start_node(4);
    cluster_cli(
        &cluster,
        1,
        &["add", "4", &cluster.cluster_url(4), "--learner"],
    );
    until_members(&cluster, 1, &[(1, true), (2, true), (4, false)]).await;
    let started = Instant::now();
    loop {
        let flags = client()
            .get(cluster.node(4).url("/api/v1/flags/"))
            .header("X-Environment-Key", &key)
            .send()
            .await
            .unwrap();
        if flags.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the learner serves no flags"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cluster.status(4).await["role"], "learner");
    create_project(&cluster, 4, "Through the learner").await;
    assert!(
        project_names(&cluster.admin(1))
            .await
            .contains(&"Through the learner".to_owned())
    );
    // Losing the learner costs the voters nothing.
    cluster.kill(4);
    create_project(&cluster, 1, "Without the learner").await;

    // A bad change is refused with a clear error and changes nothing.
    let admin = cluster.admin(1);
    let (status, body) = admin
        .call(
            Method::POST,
            "/admin/v1/cluster/members",
            Some(json!({"id": 2, "url": "http://elsewhere:1"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("membership_conflict")),
        "{body}"
    );
    let (status, body) = admin
        .call(
            Method::POST,
            "/admin/v1/cluster/members",
            Some(json!({"id": 9, "url": "not a url"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_member")),
        "{body}"
    );
    let (status, body) = admin
        .call(Method::DELETE, "/admin/v1/cluster/members/9", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    until_members(&cluster, 1, &[(1, true), (2, true), (4, false)]).await;

    // Every change is in the audit log, with who made it.
    let audit = admin.get("/admin/v1/audit?action=cluster.").await;
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("cluster.member_added", "node 2"),
        ("cluster.member_added", "node 3"),
        ("cluster.member_removed", "node 3"),
        ("cluster.member_added", "node 4"),
    ]
    .iter()
    .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
    .collect();
    assert_eq!(actions, expected, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_data_belongs_to_another_cluster_refuses_to_start() {
    let mut ours = Cluster::prepared(1, Formation::Grown, &[]);
    ours.start_node(1);
    let mut theirs = Cluster::prepared(1, Formation::Grown, &[]);
    theirs.start_node(1);
    let their_id = theirs.status(1).await["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let our_id = ours.status(1).await["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(our_id, their_id);
    ours.kill(1);

    // Our node's data, pointed at their cluster.
    let listen = format!("127.0.0.1:{}", common::cluster::free_port());
    let initial = format!("1=http://{listen},2={}", theirs.cluster_url(1));
    let log = ours.data_dir(1).with_extension("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(ours.data_dir(1))
        .args(["--cluster-listen", &listen, "--node-id", "1"])
        .args(["--cluster-secret", common::cluster::SECRET])
        .args(["--initial-cluster", &initial])
        .env("BURGEE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            let stderr = std::fs::read_to_string(&log).unwrap();
            panic!("a node with another cluster's data started: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("belongs to cluster {our_id}"))
            && stderr.contains(&format!("belongs to cluster {their_id}")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survivor_of_a_lost_majority_recovers_as_a_cluster_of_one_and_grows_again() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.ready(Duration::from_secs(20)).await;
    create_project(&cluster, leader, "Kept").await;
    let survivor = (1..=3).find(|id| *id != leader).unwrap();
    cluster
        .eventually(survivor, "the project replicated", |admin| async move {
            project_names(&admin.stale()).await == ["Kept"]
        })
        .await;
    // Two of three are lost for good; the survivor stops cleanly.
    for id in 1..=3 {
        if id != survivor {
            cluster.kill(id);
        }
    }
    let server = cluster.nodes[survivor - 1].take().unwrap();
    let (status, _) = server.terminate();
    assert!(status.success());

    let dir = cluster.data_dir(survivor);
    let url = cluster.cluster_url(survivor);
    let node_id = survivor.to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["cluster", "recover", "--data-dir"])
        .arg(&dir)
        .args(["--node-id", &node_id, "--advertise-cluster-url", &url])
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["kept"].as_str().unwrap().contains("raft.replaced-"),
        "{report}"
    );

    // Alone now: it takes writes, and keeps what it had.
    let listen = url.trim_start_matches("http://").to_owned();
    let alone = common::server::Server::start_in(
        &dir,
        &[
            "--cluster-listen",
            &listen,
            "--advertise-cluster-url",
            &url,
            "--cluster-secret",
            common::cluster::SECRET,
            "--node-id",
            &node_id,
        ],
    );
    let admin = common::server::Admin::new(&alone);
    let started = Instant::now();
    loop {
        let (status, body) = admin
            .call(
                Method::POST,
                "/admin/v1/projects",
                Some(json!({"name": "After recovery"})),
            )
            .await;
        if status == 201 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(project_names(&admin).await, ["Kept", "After recovery"]);
    let (_, health) = common::server::get_json(&alone, "/health/cluster").await;
    assert_eq!(health["members"].as_array().unwrap().len(), 1, "{health}");

    // And it grows again: a new node joins and receives everything.
    let fresh = tempfile::tempdir().unwrap();
    let port = common::cluster::free_port();
    let joining = common::server::Server::start_in(
        fresh.path(),
        &[
            "--cluster-listen",
            &format!("127.0.0.1:{port}"),
            "--cluster-secret",
            common::cluster::SECRET,
            "--node-id",
            "9",
            "--join",
        ],
    );
    let (status, body) = admin
        .call(
            Method::POST,
            "/admin/v1/cluster/members",
            Some(json!({"id": 9, "url": format!("http://127.0.0.1:{port}")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let newcomer = common::server::Admin::new(&joining);
    assert_eq!(project_names(&newcomer).await, ["Kept", "After recovery"]);
}
