//! Starting, stopping, crashing and restarting the real server; configuration; probes.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::server::{Admin, Server, TOKEN, client};
use serde_json::json;

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Production"}),
        )
        .await;
    let key = admin.get("/admin/v1/environments/1").await["client_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Concurrent identify calls share group commits; every acknowledged one must survive.
    let mut calls = Vec::new();
    for i in 0..50 {
        let url = server.url("/api/v1/identities/");
        let key = key.clone();
        calls.push(tokio::spawn(async move {
            client().post(url).header("X-Environment-Key", key)
                .json(&json!({"identifier": format!("u{i}"), "traits": [{"trait_key": "i", "trait_value": i}]}))
                .send().await.unwrap().status().as_u16()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "last", "initial_value": "x"}),
        )
        .await;
    let data_dir = server.data_dir.clone();
    let temp = server.kill();
    let restarted = Server::start_in(&data_dir, &[]);
    let admin = Admin::new(&restarted);
    assert_eq!(
        admin.get("/admin/v1/projects/1/features").await["items"][0]["name"],
        "last"
    );
    for i in 0..50 {
        let identity = admin
            .get(&format!("/admin/v1/environments/1/identities/u{i}"))
            .await;
        assert_eq!(identity["traits"]["i"], i);
    }
    drop(restarted);
    drop(temp);
}

#[tokio::test]
async fn restart_keeps_data_and_ignores_a_new_bootstrap_token() {
    let server = Server::start();
    Admin::new(&server)
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    let data_dir = server.data_dir.clone();
    let (status, temp) = server.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    let restarted = Server::start_in(
        &data_dir,
        &["--bootstrap-token", "another-token-0123456789"],
    );
    let response = client()
        .get(restarted.url("/admin/v1/projects"))
        .bearer_auth("another-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        401,
        "the data directory was initialised already"
    );
    let projects = Admin::new(&restarted).get("/admin/v1/projects").await;
    assert_eq!(projects["items"][0]["name"], "Web");
    drop(temp);
}

#[test]
fn a_data_directory_in_use_is_refused_clearly() {
    let server = Server::start();
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another Burgee process"),
        "{stderr}"
    );
}

#[test]
fn an_unwritable_data_directory_is_refused_clearly() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(file.join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be written"), "{stderr}");
}

#[tokio::test]
async fn first_start_without_a_token_writes_a_private_setup_token() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let server = Server::start_in(&data_dir, &[]);
    let path = data_dir.join("setup-token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert!(token.len() >= 32);
    // It creates the first admin user (tests/access.rs); it is no API token.
    let response = client()
        .get(server.url("/admin/v1/projects"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn probes_metrics_and_request_ids() {
    let server = Server::start();
    let live = client()
        .get(server.url("/health/liveness"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 200);
    assert!(live.headers().contains_key("x-request-id"));
    let ready: serde_json::Value = client()
        .get(server.url("/health/readiness"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ok");
    let response = client()
        .get(server.url("/api/v1/flags/"))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me");
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("burgee_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/api/v1/flags/\""), "{metrics}");
    assert!(metrics.contains("burgee_identities 0"), "{metrics}");
    assert!(
        metrics.contains("burgee_commands_total{outcome=\"applied\"}"),
        "{metrics}"
    );
    let _ = TOKEN;
}

#[test]
fn config_print_layers_flags_env_and_file_and_redacts_secrets() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("burgee.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_traits_per_identity = 7\nbootstrap_token = \"file-secret-token-123\"\ndata_dir = \"/from/file\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["config", "print", "--config"])
        .arg(&file)
        .args(["--data-dir", "/from/flag"])
        .env("BURGEE_DATA_DIR", "/from/env")
        .env("BURGEE_MAX_TRAITS_PER_IDENTITY", "9")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("data_dir = \"/from/flag\""),
        "flags win: {text}"
    );
    assert!(
        text.contains("max_traits_per_identity = 9"),
        "env beats the file: {text}"
    );
    assert!(
        text.contains("listen = \"127.0.0.1:9000\""),
        "the file beats defaults: {text}"
    );
    assert!(
        !text.contains("file-secret-token-123"),
        "secrets are redacted: {text}"
    );
    assert!(text.contains("<redacted>"));
    std::fs::write(&file, "colour = \"red\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["config", "print", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "unknown settings are refused"
    );
}

#[test]
fn data_from_a_newer_format_is_refused_clearly() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    drop(Server::start_in(&data_dir, &["--bootstrap-token", TOKEN]));
    {
        // Mark the store as written by format 99: one format-version byte, then postcard's 99.
        let db = redb::Database::open(data_dir.join("state.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
                .unwrap();
            meta.insert("format", [1u8, 99].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("written by a newer Burgee"), "{stderr}");
}

#[tokio::test]
async fn organisation_settings_stop_flags_and_trait_storage() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    let key = admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Production"}),
        )
        .await["client_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, organisation) = admin
        .call(
            reqwest::Method::PATCH,
            "/admin/v1/organisation",
            Some(json!({"persist_trait_data": false})),
        )
        .await;
    assert_eq!(
        (status, organisation["persist_trait_data"].clone()),
        (200, json!(false))
    );
    let answer: serde_json::Value = client()
        .post(server.url("/api/v1/identities/"))
        .header("X-Environment-Key", &key)
        .json(&json!({"identifier": "a", "traits": [{"trait_key": "k", "trait_value": 1}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["traits"][0]["trait_value"], 1,
        "used for this evaluation"
    );
    let (status, _) = admin
        .call(
            reqwest::Method::GET,
            "/admin/v1/environments/1/identities/a",
            None,
        )
        .await;
    assert_eq!(status, 404, "but not stored");
    admin
        .call(
            reqwest::Method::PATCH,
            "/admin/v1/organisation",
            Some(json!({"stop_serving_flags": true})),
        )
        .await;
    let response = client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "Organisation is disabled from serving flags."})
    );
}

#[tokio::test]
async fn secrets_can_be_given_as_files_and_never_show_in_the_process_list() {
    let temp = tempfile::tempdir().unwrap();
    let token_file = temp.path().join("token");
    std::fs::write(&token_file, "token-from-a-file-0123456789\n").unwrap();
    let data_dir = temp.path().join("data");
    let server = Server::start_in(
        &data_dir,
        &["--bootstrap-token-file", token_file.to_str().unwrap()],
    );
    let listed = client()
        .get(server.url("/admin/v1/projects"))
        .bearer_auth("token-from-a-file-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.status(),
        200,
        "the file's token (without its line break) works"
    );
    let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", server.child.id())).unwrap();
    assert!(!cmdline.contains("token-from-a-file"), "{cmdline:?}");

    // The CLI reads its token from a file too.
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["projects", "list"])
        .env("BURGEE_URL", &server.base)
        .env("BURGEE_TOKEN_FILE", &token_file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A token and its file at once is a mistake, said plainly.
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args([
            "config",
            "print",
            "--bootstrap-token",
            "another-token-0123456789",
        ])
        .args(["--bootstrap-token-file", token_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not both"));
}

#[tokio::test]
async fn metric_labels_stay_bounded_whatever_method_is_sent() {
    let server = Server::start();
    for method in ["FOO", "PROPFIND", "X-ANYTHING"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let _ = client()
            .request(method, server.url("/api/v1/flags/"))
            .send()
            .await
            .unwrap();
    }
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    for unknown in ["FOO", "PROPFIND", "X-ANYTHING"] {
        assert!(
            !metrics.contains(&format!("method=\"{unknown}\"")),
            "{metrics}"
        );
    }
}
