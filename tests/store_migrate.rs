//! `burgee migrate` moves a whole installation from the embedded store to PostgreSQL and
//! back: every environment document, identity, trait and audit entry arrives, the audit
//! chain still verifies, and a target that is not empty is refused.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::path::Path;
use std::process::Command;

use common::postgres::{Schema, replica};
use common::server::{Admin, Server, TOKEN};
use reqwest::Method;
use serde_json::{Value, json};

/// Everything an installation serves that a migration must keep.
async fn everything(server: &Server) -> Value {
    let admin = Admin::new(server);
    let mut environments = Vec::new();
    for environment in admin.all("/admin/v1/environments").await {
        let id = environment["id"].as_u64().unwrap();
        let mut identities = Vec::new();
        for identity in admin
            .all(&format!("/admin/v1/environments/{id}/identities"))
            .await
        {
            let identifier = identity["identifier"].as_str().unwrap();
            identities.push(
                admin
                    .get(&format!(
                        "/admin/v1/environments/{id}/identities/{identifier}"
                    ))
                    .await,
            );
        }
        environments.push(json!({
            "environment": environment,
            "document": admin.get(&format!("/admin/v1/environments/{id}/document")).await,
            "feature_usage": admin.get(&format!("/admin/v1/environments/{id}/feature-usage")).await,
            "identities": identities,
        }));
    }
    let verified = admin.get("/admin/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    json!({
        "projects": admin.all("/admin/v1/projects").await,
        "environments": environments,
        "audit": admin.all("/admin/v1/audit").await,
        "tokens": admin.all("/admin/v1/tokens").await,
        "verification": verified["verification"],
    })
}

async fn populate(server: &Server) {
    let admin = Admin::new(server);
    let key = admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Staging"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "checkout", "type": "MULTIVARIATE", "initial_value": "a",
                   "options": [{"value": "b", "key": "b", "default_weight": 30},
                               {"value": "c", "key": "c", "default_weight": 20}]}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "beta", "rules": [{"type": "ALL", "conditions": [
                {"property": "plan", "operator": "EQUAL", "value": "beta"}]}]}),
        )
        .await;
    let (status, body) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/features/1/segment-overrides/1",
            Some(json!({"enabled": true, "value": "beta banner"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for i in 0..30 {
        let (status, _) = common::server::identify(
            server,
            &key,
            &format!("user-{i:02}"),
            json!([{"trait_key": "plan", "trait_value": if i % 3 == 0 { "beta" } else { "free" }},
                   {"trait_key": "n", "trait_value": i}]),
        )
        .await;
        assert_eq!(status, 200);
    }
    // The identify calls' evaluation counts are written (every second here).
    let started = std::time::Instant::now();
    while admin.get("/admin/v1/environments/1/feature-usage").await["features"][0]["total"]["served"]
        != 30
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, body) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/identities/user-07/overrides/2",
            Some(json!({"enabled": true, "value": "c"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn migrate(from: &str, to: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["migrate", "--from", from, "--to", to])
        .env("BURGEE_LOG", "warn")
        .output()
        .unwrap()
}

fn assert_migrated(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("30 identities"), "{said}");
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installation_moves_to_postgres_and_back_whole() {
    let Some(schema) = Schema::create() else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let embedded_dir = temp.path().join("embedded");
    let server = Server::start_in(
        &embedded_dir,
        &[
            "--bootstrap-token",
            TOKEN,
            "--analytics-flush-interval",
            "1s",
        ],
    );
    populate(&server).await;
    let before = everything(&server).await;
    // Killed, not stopped: what the log holds beyond the state file moves too.
    drop(server.kill());

    assert_migrated(&migrate(path(&embedded_dir), &schema.url()));
    // Counts of the calls below are not written while the comparisons run.
    let no_flush = ["--analytics-flush-interval", "1d"];
    let on_postgres = replica(&schema, &temp.path().join("replica"), &no_flush);
    assert_eq!(everything(&on_postgres).await, before);
    // The SDK API serves the moved data: the segment override and the identity override.
    let key = before["environments"][0]["environment"]["client_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, flags) = common::server::identify(&on_postgres, &key, "user-03", json!([])).await;
    assert_eq!(
        flags["flags"][0]["feature_state_value"], "beta banner",
        "{flags}"
    );
    let (_, flags) = common::server::identify(&on_postgres, &key, "user-07", json!([])).await;
    assert_eq!(flags["flags"][1]["feature_state_value"], "c", "{flags}");
    // A change made on PostgreSQL goes back with the rest.
    Admin::new(&on_postgres)
        .post("/admin/v1/projects", json!({"name": "Made on PostgreSQL"}))
        .await;
    let changed = everything(&on_postgres).await;
    drop(on_postgres.kill());

    let back_dir = temp.path().join("back");
    assert_migrated(&migrate(&schema.url(), path(&back_dir)));
    let back = Server::start_in(&back_dir, &no_flush);
    assert_eq!(everything(&back).await, changed);
    // Writes go on where they left off.
    Admin::new(&back)
        .post(
            "/admin/v1/projects",
            json!({"name": "Made after the way back"}),
        )
        .await;
    let verified = Admin::new(&back).get("/admin/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    drop(back.kill());

    // Targets that hold an installation are refused, and left as they are.
    let refused = migrate(path(&embedded_dir), &schema.url());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("empty schema"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refused = migrate(&schema.url(), path(&back_dir));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("new data directory"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refused = migrate(path(&embedded_dir), path(&back_dir));
    assert!(!refused.status.success());
    // A source that holds nothing is refused, and nothing is created for it.
    let nowhere = temp.path().join("nowhere");
    let refused = migrate(path(&nowhere), &schema.url());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("holds no Burgee store"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!nowhere.exists());
    let Some(empty) = Schema::create() else {
        return;
    };
    let refused = migrate(&empty.url(), path(&temp.path().join("from-empty")));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("holds no Burgee installation"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!temp.path().join("from-empty").exists());
}
