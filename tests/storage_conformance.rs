//! One storage conformance suite, run against every store: the embedded store on one node
//! and on a three-node Raft cluster, and the PostgreSQL store with two replicas. Each case
//! writes through one server and reads through another (the same one on a single node), so
//! the stores must agree on results, refusals, concurrent writes and what every server sees.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::postgres::Replicas;
use common::server::{Admin, Server, TOKEN, client, eventually_flags};
use reqwest::Method;
use serde_json::{Value, json};

/// The servers of one deployment.
enum Deployment {
    Single(Server),
    Cluster(Cluster),
    Postgres(Replicas),
}

#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))] // an embedded-only build
enum Kind {
    Single,
    Cluster,
    Postgres,
}

impl Deployment {
    /// `None` only for PostgreSQL when no database answers (outside CI).
    async fn start(kind: Kind) -> Option<Self> {
        // Evaluation counts are written every second instead of every minute.
        let extra = ["--analytics-flush-interval", "1s"];
        Some(match kind {
            Kind::Single => Self::Single(Server::start_fresh(&extra)),
            Kind::Cluster => {
                let mut cluster = Cluster::prepared(3, common::cluster::Formation::Initial, &extra);
                cluster.start_all();
                cluster.ready(Duration::from_secs(60)).await;
                Self::Cluster(cluster)
            }
            Kind::Postgres => Self::Postgres(Replicas::start_with(2, &extra)?),
        })
    }

    /// Where writes go.
    fn writer(&self) -> &Server {
        match self {
            Self::Single(server) => server,
            Self::Cluster(cluster) => cluster.node(1),
            Self::Postgres(replicas) => &replicas.servers[0],
        }
    }

    /// Where reads go: another server than the writer where there is one.
    fn reader(&self) -> &Server {
        match self {
            Self::Single(server) => server,
            Self::Cluster(cluster) => cluster.node(2),
            Self::Postgres(replicas) => &replicas.servers[1],
        }
    }

    fn servers(&self) -> Vec<&Server> {
        match self {
            Self::Single(server) => vec![server],
            Self::Cluster(cluster) => (1..=3).map(|id| cluster.node(id)).collect(),
            Self::Postgres(replicas) => replicas.servers.iter().collect(),
        }
    }
}

/// One cluster at a time: seven three-node clusters electing their leaders at once on a
/// two-core machine spend their time in elections (and openraft's debug builds assert on a
/// race that only such starved elections reach).
static CLUSTERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod single {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() {
                super::$case(super::Deployment::start(super::Kind::Single).await.unwrap()).await;
            })*
        }
        mod cluster {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() {
                let _one_at_a_time = super::CLUSTERS.lock().await;
                super::$case(super::Deployment::start(super::Kind::Cluster).await.unwrap()).await;
            })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() {
                if let Some(deployment) = super::Deployment::start(super::Kind::Postgres).await {
                    super::$case(deployment).await;
                }
            })*
        }
    };
}

conformance!(
    configuration_round_trips,
    bad_input_is_refused_and_changes_nothing,
    stale_revisions_are_refused,
    concurrent_writes_apply_exactly_once,
    identities_and_traits,
    audit_chain_is_complete_and_verifies,
    deleted_environments_lose_their_identities,
    evaluation_counts_add_up_across_servers,
);

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// Project "Web", environment "Production" and feature "banner" through the writer; the
/// environment's client key.
async fn web_production_banner(deployment: &Deployment) -> String {
    Admin::new(deployment.writer())
        .web_production_banner()
        .await
}

async fn configuration_round_trips(deployment: Deployment) {
    let key = web_production_banner(&deployment).await;
    let writer = Admin::new(deployment.writer());
    let reader = Admin::new(deployment.reader());
    let revision = reader.get("/admin/v1/environments/1").await["revision"]
        .as_u64()
        .unwrap();
    let response = client()
        .patch(
            deployment
                .writer()
                .url("/admin/v1/environments/1/features/1/state"),
        )
        .bearer_auth(TOKEN)
        .header("If-Match", format!("\"{revision}\""))
        .json(&json!({"enabled": true, "value": "welcome"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // Admin reads are linearizable everywhere: the change is visible at once.
    let states = reader.all("/admin/v1/environments/1/feature-states").await;
    let state = states.iter().find(|s| s["feature_id"] == 1).unwrap();
    assert_eq!(
        (&state["enabled"], &state["value"]),
        (&json!(true), &json!("welcome")),
        "{state}"
    );
    assert_eq!(
        reader.get("/admin/v1/environments/1").await["revision"],
        revision + 1
    );
    let segment = writer
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "beta", "rules": [{"type": "ALL", "rules": [{"type": "ANY", "conditions": [{"operator": "EQUAL", "property": "plan", "value": "beta"}]}]}]}),
        )
        .await;
    assert_eq!(
        reader
            .get(&format!("/admin/v1/segments/{}", segment["id"]))
            .await["name"],
        "beta"
    );
    for server in deployment.servers() {
        eventually_flags(server, &key, Duration::from_secs(10), |flags| {
            flags[0]["enabled"] == true && flags[0]["feature_state_value"] == "welcome"
        })
        .await;
    }
}

async fn bad_input_is_refused_and_changes_nothing(deployment: Deployment) {
    web_production_banner(&deployment).await;
    let reader = Admin::new(deployment.reader());
    let before = reader.get("/admin/v1/environments/1").await["revision"].clone();
    let long = "x".repeat(10_000);
    let cases: Vec<(Method, &str, String, u16, &str)> = vec![
        (Method::POST, "/admin/v1/projects", "{not json".into(), 400, "invalid_json"),
        (Method::POST, "/admin/v1/projects", "{\"name\": 5}".into(), 400, "invalid_json"),
        (Method::POST, "/admin/v1/projects", "{\"name\": \"   \"}".into(), 400, "invalid_request"),
        (Method::POST, "/admin/v1/projects", format!("{{\"name\": \"{long}\"}}"), 400, "invalid_request"),
        (Method::POST, "/admin/v1/projects", "{\"name\": \"Web\"}".into(), 409, "conflict"),
        (Method::POST, "/admin/v1/projects/99/environments", "{\"name\": \"x\"}".into(), 404, "not_found"),
        (Method::PATCH, "/admin/v1/environments/1/features/99/state", "{\"enabled\": true}".into(), 404, "not_found"),
        (Method::POST, "/admin/v1/projects/1/features", "{\"name\": \"banner\"}".into(), 409, "conflict"),
        (
            Method::POST,
            "/admin/v1/projects/1/segments",
            "{\"name\": \"bad\", \"rules\": [{\"type\": \"ALL\", \"conditions\": [{\"operator\": \"REGEX\", \"property\": \"p\", \"value\": \"(\"}]}]}".into(),
            400,
            "invalid_rules",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let response = client()
            .request(method.clone(), deployment.writer().url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let got = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{method} {path}: {answer}"
        );
    }
    assert_eq!(
        reader.get("/admin/v1/environments/1").await["revision"],
        before
    );
    let projects = reader.all("/admin/v1/projects").await;
    assert_eq!(projects.len(), 1, "{projects:?}");
    assert_eq!(reader.all("/admin/v1/projects/1/segments").await.len(), 0);
    assert_eq!(reader.all("/admin/v1/projects/1/features").await.len(), 1);
}

async fn stale_revisions_are_refused(deployment: Deployment) {
    web_production_banner(&deployment).await;
    let reader = Admin::new(deployment.reader());
    let revision = reader.get("/admin/v1/environments/1").await["revision"]
        .as_u64()
        .unwrap();
    let patch = |server: &Server, path: &str, body: Value| {
        client()
            .patch(server.url(path))
            .bearer_auth(TOKEN)
            .header("If-Match", format!("\"{revision}\""))
            .json(&body)
            .send()
    };
    let first = patch(
        deployment.writer(),
        "/admin/v1/environments/1/features/1/state",
        json!({"enabled": true}),
    )
    .await
    .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    // The same revision through the other server: someone changed it meanwhile.
    let second = patch(
        deployment.reader(),
        "/admin/v1/environments/1",
        json!({"name": "Prod"}),
    )
    .await
    .unwrap();
    assert_eq!(second.status().as_u16(), 412);
    let body: Value = second.json().await.unwrap();
    assert_eq!(error_code(&body), "revision_mismatch");
    assert_eq!(
        reader.get("/admin/v1/environments/1").await["name"],
        "Production"
    );
}

async fn concurrent_writes_apply_exactly_once(deployment: Deployment) {
    web_production_banner(&deployment).await;
    let servers: Vec<String> = deployment
        .servers()
        .iter()
        .map(|s| s.base.clone())
        .collect();
    let create = |base: String, name: String| async move {
        client()
            .post(format!("{base}/admin/v1/projects/1/features"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    // Distinct names through every server at once: every one is created, once.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let base = servers[i % servers.len()].clone();
        tasks.push(tokio::spawn(create(base, format!("feature-{i}"))));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    // One name through every server at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let base = servers[i % servers.len()].clone();
        tasks.push(tokio::spawn(create(base, "contested".into())));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    // Concurrent toggles of one feature state: none lost, each one revision.
    let reader = Admin::new(deployment.reader());
    let before = reader.get("/admin/v1/environments/1").await["revision"]
        .as_u64()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let base = servers[i % servers.len()].clone();
        tasks.push(tokio::spawn(async move {
            client()
                .patch(format!("{base}/admin/v1/environments/1/features/1/state"))
                .bearer_auth(TOKEN)
                .json(&json!({"value": format!("v{i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    for server in deployment.servers() {
        let admin = Admin::new(server);
        let features = admin.all("/admin/v1/projects/1/features").await;
        assert_eq!(features.len(), 42, "{}", server.base);
        let mut ids: Vec<u64> = features.iter().map(|f| f["id"].as_u64().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 42);
        assert_eq!(
            admin.get("/admin/v1/environments/1").await["revision"],
            before + 20,
            "every toggle is one revision at {}",
            server.base
        );
    }
}

async fn identities_and_traits(deployment: Deployment) {
    let key = web_production_banner(&deployment).await;
    let writer = deployment.writer();
    let reader = Admin::new(deployment.reader());
    for i in 0..25 {
        let (status, _) = common::server::identify(
            writer,
            &key,
            &format!("user-{i:02}"),
            json!([{"trait_key": "n", "trait_value": i}, {"trait_key": "plan", "trait_value": "free"}]),
        )
        .await;
        assert_eq!(status, 200);
    }
    // An identifier that needs care: non-ASCII, quotes, SQL-looking text.
    let odd = "Zoë'; DROP TABLE burgee_identities; --";
    let (status, _) = common::server::identify(
        writer,
        &key,
        odd,
        json!([{"trait_key": "k", "trait_value": true}]),
    )
    .await;
    assert_eq!(status, 200);
    let encoded: String = odd
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let found = reader
        .get(&format!("/admin/v1/environments/1/identities/{encoded}"))
        .await;
    assert_eq!(found["traits"], json!({"k": true}), "{found}");
    let user = reader
        .get("/admin/v1/environments/1/identities/user-07")
        .await;
    assert_eq!(user["traits"], json!({"n": 7, "plan": "free"}), "{user}");
    // The SDK's identify through the other server sees the stored traits.
    let (status, flags) =
        common::server::identify(deployment.reader(), &key, "user-07", json!([])).await;
    assert_eq!(status, 200);
    let traits = flags["traits"].as_array().unwrap();
    assert_eq!(traits.len(), 2, "{flags}");
    let (status, updated) = Admin::new(writer)
        .call(
            Method::PUT,
            "/admin/v1/environments/1/identities/user-04/traits",
            Some(json!({"traits": {"n": null, "plan": "pro"}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        reader
            .get("/admin/v1/environments/1/identities/user-04")
            .await["traits"],
        json!({"plan": "pro"})
    );
    let (status, _) = Admin::new(writer)
        .call(
            Method::DELETE,
            "/admin/v1/environments/1/identities/user-05",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = reader
        .call(
            Method::GET,
            "/admin/v1/environments/1/identities/user-05",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let all = reader.all("/admin/v1/environments/1/identities").await;
    assert_eq!(all.len(), 25);
    let (status, deleted) = Admin::new(writer)
        .call(Method::DELETE, "/admin/v1/environments/1/identities", None)
        .await;
    assert_eq!(
        (status, deleted["deleted"].as_u64()),
        (200, Some(25)),
        "{deleted}"
    );
    assert!(
        reader
            .all("/admin/v1/environments/1/identities")
            .await
            .is_empty()
    );
}

async fn audit_chain_is_complete_and_verifies(deployment: Deployment) {
    web_production_banner(&deployment).await;
    let reader = Admin::new(deployment.reader());
    let entries = reader.all("/admin/v1/audit").await;
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for wanted in ["project.created", "environment.created", "feature.created"] {
        assert!(
            actions.contains(&wanted),
            "{wanted} missing from {actions:?}"
        );
    }
    for server in deployment.servers() {
        let verified = Admin::new(server).get("/admin/v1/audit/verify").await;
        assert_eq!(verified["ok"], true, "{}: {verified}", server.base);
        assert_eq!(
            verified["verification"]["entries"].as_u64().unwrap(),
            entries.len() as u64
        );
    }
}

async fn deleted_environments_lose_their_identities(deployment: Deployment) {
    let key = web_production_banner(&deployment).await;
    let writer = deployment.writer();
    for i in 0..30 {
        let (status, _) = common::server::identify(
            writer,
            &key,
            &format!("user-{i}"),
            json!([{"trait_key": "n", "trait_value": i}]),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, _) = Admin::new(writer)
        .call(Method::DELETE, "/admin/v1/environments/1", None)
        .await;
    assert_eq!(status, 204);
    let reader = Admin::new(deployment.reader());
    let (status, _) = reader
        .call(Method::GET, "/admin/v1/environments/1", None)
        .await;
    assert_eq!(status, 404);
    let response = client()
        .get(deployment.reader().url("/api/v1/flags/"))
        .header("X-Environment-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        403,
        "a deleted environment's key is refused"
    );
    // The purge removes every identity row in the background.
    let started = Instant::now();
    loop {
        let identities = common::server::metric(writer, "burgee_identities").await;
        let pending = common::server::metric(writer, "burgee_environments_being_deleted").await;
        if identities == Some(0.0) && pending == Some(0.0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the purge did not finish: {identities:?} identities, {pending:?} pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every server counts its own SDK traffic and writes it through the one write path: the
/// counts of all of them add up, whichever server is asked.
async fn evaluation_counts_add_up_across_servers(deployment: Deployment) {
    let key = web_production_banner(&deployment).await;
    let servers = deployment.servers();
    for (n, server) in servers.iter().enumerate() {
        eventually_flags(server, &key, Duration::from_secs(30), |flags| {
            flags.as_array().is_some_and(|f| f.len() == 1)
        })
        .await;
        let response = client()
            .post(server.url("/api/v1/analytics/flags/"))
            .header("X-Environment-Key", &key)
            .json(&json!({"banner": n + 1, "unknown": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (status, _) =
            common::server::identify(server, &key, &format!("counted-{n}"), json!([])).await;
        assert_eq!(status, 200);
    }
    let count = servers.len() as u64;
    let reported = count * (count + 1) / 2;
    let started = Instant::now();
    for server in &servers {
        loop {
            let usage = Admin::new(server)
                .stale()
                .get("/admin/v1/environments/1/feature-usage")
                .await;
            let banner = &usage["features"][0];
            if banner["total"]["reported"] == reported && banner["total"]["served"] == count {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} still shows {usage}",
                server.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
