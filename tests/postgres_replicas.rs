//! Several Burgee replicas on one PostgreSQL database: changes reach every replica (and its
//! real-time subscribers) by notification, a replica that starts or restarts later holds
//! everything, a replica that missed more than the change log reloads, and exactly one
//! replica runs the periodic work. (What every store must do alike is in `storage_conformance`.)

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::postgres::{Replicas, Schema, replica};
use common::server::{Admin, Server, TOKEN, client, metric, serves_banner, set_banner};
use common::sse::EventStream;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn notifications_alone_carry_changes_to_every_replica() {
    let Some(schema) = Schema::create() else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    // Polling off: only LISTEN/NOTIFY can bring the changes.
    let quiet = [("BURGEE_PG_POLL_SECONDS", "3600")];
    let start = |i: usize| {
        let url = schema.url();
        Server::start_with(
            &temp.path().join(format!("r{i}")),
            &[
                "--store",
                "postgres",
                "--postgres-url",
                &url,
                "--bootstrap-token",
                TOKEN,
            ],
            &quiet,
        )
    };
    let replicas: Vec<Server> = (0..3).map(start).collect();
    let key = Admin::new(&replicas[0]).web_production_banner().await;
    // Real-time subscribers on every replica hear every change, whichever replica took it.
    let mut streams = Vec::new();
    for server in &replicas {
        serves_banner(server, &key, "hello", Duration::from_secs(10)).await;
        let mut stream = EventStream::open(
            &server.url("/api/v1/flags/stream"),
            &[("X-Environment-Key", &key)],
        )
        .await;
        assert_eq!(
            stream.next(Duration::from_secs(10)).await.json()["complete"],
            true
        );
        streams.push(stream);
    }
    for round in 0..10 {
        let writer = &replicas[round % 3];
        let value = format!("round-{round}");
        set_banner(writer, &value).await;
        for server in &replicas {
            serves_banner(server, &key, &value, Duration::from_secs(10)).await;
        }
        for stream in &mut streams {
            let change = stream.next(Duration::from_secs(10)).await.json();
            assert_eq!(change["flags"][0]["feature_state_value"], value.as_str());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_started_or_restarted_later_hold_everything() {
    let Some(mut replicas) = Replicas::start(2) else {
        return;
    };
    let key = Admin::new(&replicas.servers[0])
        .web_production_banner()
        .await;
    set_banner(&replicas.servers[1], "from-b").await;
    for i in 0..20 {
        let (status, _) = common::server::identify(
            &replicas.servers[0],
            &key,
            &format!("user-{i}"),
            json!([{"trait_key": "n", "trait_value": i}]),
        )
        .await;
        assert_eq!(status, 200);
    }
    let document = Admin::new(&replicas.servers[0])
        .get("/admin/v1/environments/1/document")
        .await;
    // A third replica, started now, loads the whole configuration.
    let late = replica(&replicas.schema, &replicas.local(2), &[]);
    assert_eq!(
        Admin::new(&late)
            .get("/admin/v1/environments/1/document")
            .await,
        document
    );
    serves_banner(&late, &key, "from-b", Duration::from_secs(5)).await;
    // Killed without warning and started again: nothing acknowledged is lost.
    let first = replicas.servers.remove(0);
    drop(first.kill());
    let restarted = replica(&replicas.schema, &replicas.local(0), &[]);
    let admin = Admin::new(&restarted);
    assert_eq!(
        admin.get("/admin/v1/environments/1/document").await,
        document
    );
    assert_eq!(
        admin.all("/admin/v1/environments/1/identities").await.len(),
        20
    );
    assert_eq!(metric(&restarted, "burgee_identities").await, Some(20.0));
    // Each stored identity is read by identifier (the filter of stored identities was built
    // from the database at start, not only from what this replica wrote).
    for server in [&late, &restarted] {
        for i in 0..20 {
            assert_eq!(
                traits_of(server, &key, &format!("user-{i}")).await,
                json!({"n": i})
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_missed_more_than_the_change_log_reloads() {
    let Some(replicas) = Replicas::start(2) else {
        return;
    };
    let key = Admin::new(&replicas.servers[0])
        .web_production_banner()
        .await;
    serves_banner(&replicas.servers[1], &key, "hello", Duration::from_secs(10)).await;
    let sleeper = "/admin/v1/environments/1/identities/arrived-while-b-slept";
    let (status, _) = Admin::new(&replicas.servers[1])
        .call(reqwest::Method::GET, sleeper, None)
        .await;
    assert_eq!(status, 404);
    // Replica B stops running; meanwhile A writes and the change log is emptied.
    let paused = replicas.servers[1].child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &paused])
            .status()
            .unwrap()
            .success()
    );
    set_banner(&replicas.servers[0], "while-b-slept").await;
    Admin::new(&replicas.servers[0])
        .post("/admin/v1/projects/1/features", json!({"name": "second"}))
        .await;
    let (status, _) = common::server::identify(
        &replicas.servers[0],
        &key,
        "arrived-while-b-slept",
        json!([{"trait_key": "plan", "trait_value": "pro"}]),
    )
    .await;
    assert_eq!(status, 200);
    replicas.schema.execute("DELETE FROM burgee_changes");
    assert!(
        Command::new("kill")
            .args(["-CONT", &paused])
            .status()
            .unwrap()
            .success()
    );
    serves_banner(
        &replicas.servers[1],
        &key,
        "while-b-slept",
        Duration::from_secs(10),
    )
    .await;
    let features = Admin::new(&replicas.servers[1])
        .all("/admin/v1/projects/1/features")
        .await;
    assert_eq!(features.len(), 2, "{features:?}");
    // The identities it never heard of are found too (the reload scanned them).
    let arrived = Admin::new(&replicas.servers[1]).get(sleeper).await;
    assert_eq!(arrived["traits"], json!({"plan": "pro"}), "{arrived}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_replica_runs_the_periodic_work() {
    let Some(mut replicas) = Replicas::start(3) else {
        return;
    };
    let leaders = |servers: &[Server]| {
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        async move {
            let mut leading = Vec::new();
            for (i, base) in bases.iter().enumerate() {
                let text = client()
                    .get(format!("{base}/metrics"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                if text.lines().any(|l| l == "burgee_periodic_work_leader 1") {
                    leading.push(i);
                }
            }
            leading
        }
    };
    let started = Instant::now();
    let leader = loop {
        let leading = leaders(&replicas.servers).await;
        assert!(leading.len() <= 1, "two leaders: {leading:?}");
        if let [one] = leading[..] {
            break one;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no replica took the lock"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The leader dies: another takes over, and it purges a deleted environment's rows.
    drop(replicas.servers.remove(leader).kill());
    let started = Instant::now();
    loop {
        let leading = leaders(&replicas.servers).await;
        assert!(leading.len() <= 1, "two leaders: {leading:?}");
        if leading.len() == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nobody took over the lock"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writer = &replicas.servers[0];
    let key = Admin::new(writer).web_production_banner().await;
    for i in 0..10 {
        common::server::identify(writer, &key, &format!("u{i}"), json!([])).await;
    }
    let (status, _) = Admin::new(writer)
        .call(reqwest::Method::DELETE, "/admin/v1/environments/1", None)
        .await;
    assert_eq!(status, 204);
    let started = Instant::now();
    while replicas
        .schema
        .query("SELECT count(*) FROM burgee_identities")[0][0]
        .as_deref()
        != Some("0")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the purge never ran"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The traits `server`'s SDK API reports for `identifier`, by key.
async fn traits_of(server: &Server, key: &str, identifier: &str) -> Value {
    let (status, body) = common::server::identify(server, key, identifier, json!([])).await;
    assert_eq!(status, 200, "{body}");
    let mut traits = serde_json::Map::new();
    for t in body["traits"].as_array().unwrap() {
        traits.insert(
            t["trait_key"].as_str().unwrap().to_owned(),
            t["trait_value"].clone(),
        );
    }
    Value::Object(traits)
}

#[tokio::test(flavor = "multi_thread")]
async fn identities_read_before_a_change_are_read_fresh_after_it() {
    let Some(replicas) = Replicas::start(2) else {
        return;
    };
    let (a, b) = (&replicas.servers[0], &replicas.servers[1]);
    let key = Admin::new(a).web_production_banner().await;
    // Both replicas read (and keep) the identity, and one that does not exist yet.
    common::server::identify(
        a,
        &key,
        "kept",
        json!([{"trait_key": "plan", "trait_value": "free"}]),
    )
    .await;
    assert_eq!(traits_of(a, &key, "kept").await, json!({"plan": "free"}));
    let started = Instant::now();
    while traits_of(b, &key, "kept").await != json!({"plan": "free"}) {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = Admin::new(b)
        .call(
            reqwest::Method::GET,
            "/admin/v1/environments/1/identities/newcomer",
            None,
        )
        .await;
    assert_eq!(status, 404);
    // A change through the same replica is read back at once.
    common::server::identify(
        a,
        &key,
        "kept",
        json!([{"trait_key": "plan", "trait_value": "pro"}]),
    )
    .await;
    assert_eq!(traits_of(a, &key, "kept").await, json!({"plan": "pro"}));
    common::server::identify(
        a,
        &key,
        "newcomer",
        json!([{"trait_key": "n", "trait_value": 1}]),
    )
    .await;
    // The other replica reads both fresh once it has caught up.
    let started = Instant::now();
    while traits_of(b, &key, "kept").await != json!({"plan": "pro"}) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the other replica kept the old traits"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let newcomer = Admin::new(b)
        .get("/admin/v1/environments/1/identities/newcomer")
        .await;
    assert_eq!(newcomer["traits"], json!({"n": 1}));
    // An identity deleted through one replica is gone at the other.
    let (status, _) = Admin::new(a)
        .call(
            reqwest::Method::DELETE,
            "/admin/v1/environments/1/identities/kept",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = Admin::new(b)
        .call(
            reqwest::Method::GET,
            "/admin/v1/environments/1/identities/kept",
            None,
        )
        .await;
    assert_eq!(status, 404);
}
