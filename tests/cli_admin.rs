//! The administration commands of the CLI against a real server.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::process::Command;

use common::server::{Server, client};
use serde_json::{Value, json};

fn burgee(server: &Server, args: &[&str]) -> (i32, String, String) {
    common::server::cli(server, args)
}

fn json_of(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let (code, stdout, stderr) = burgee(server, &all);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

#[tokio::test]
async fn a_ci_pipeline_pins_flags() {
    let server = Server::start();
    json_of(&server, &["projects", "create", "Web"]);
    let env = json_of(
        &server,
        &["environments", "create", "--project", "Web", "Production"],
    );
    let key = env["client_key"].as_str().unwrap().to_owned();
    json_of(
        &server,
        &[
            "features",
            "create",
            "--project",
            "Web",
            "max_items",
            "--initial-value",
            "10",
        ],
    );
    json_of(
        &server,
        &[
            "features",
            "create",
            "--project",
            "Web",
            "banner",
            "--initial-value",
            "hi",
            "--default-enabled",
        ],
    );
    assert_eq!(
        json_of(&server, &["projects", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json_of(&server, &["features", "list", "--project", "Web"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let state = json_of(
        &server,
        &[
            "flags",
            "set",
            "--environment",
            &key,
            "max_items",
            "--enabled",
            "true",
            "--value",
            "25",
        ],
    );
    assert_eq!(
        (state["enabled"].clone(), state["value"].clone()),
        (json!(true), json!(25)),
        "typed as an integer"
    );
    let state = json_of(
        &server,
        &[
            "flags",
            "set",
            "--environment",
            &key,
            "max_items",
            "--value",
            "25",
            "--string",
        ],
    );
    assert_eq!(state["value"], "25", "--string keeps text");
    let state = json_of(
        &server,
        &[
            "flags",
            "set",
            "--environment",
            &key,
            "banner",
            "--value",
            "false",
        ],
    );
    assert_eq!(state["value"], false);
    let flags = json_of(&server, &["flags", "list", "--environment", &key]);
    let banner = flags
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "banner")
        .unwrap();
    assert_eq!(banner["value"], false);

    // Tables for people.
    let (code, table, _) = burgee(&server, &["flags", "list", "--environment", &key]);
    assert_eq!(code, 0);
    assert!(table.lines().next().unwrap().starts_with("NAME"), "{table}");
    assert!(table.contains("max_items"));

    // A server key, printed once, opens the environment document.
    let (code, server_key, _) = burgee(
        &server,
        &[
            "keys",
            "create",
            "--environment",
            &key,
            "--server",
            "--name",
            "ci",
        ],
    );
    assert_eq!(code, 0);
    let server_key = server_key.trim();
    assert!(server_key.starts_with("ser."));
    let response = client()
        .get(server.url("/api/v1/environment-document/"))
        .header("X-Environment-Key", server_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn segments_from_files_and_export_import_round_trip() {
    let server = Server::start();
    let temp = tempfile::tempdir().unwrap();
    json_of(&server, &["projects", "create", "Web"]);
    let env = json_of(
        &server,
        &["environments", "create", "--project", "Web", "Production"],
    );
    let key = env["client_key"].as_str().unwrap().to_owned();
    json_of(
        &server,
        &[
            "features",
            "create",
            "--project",
            "Web",
            "banner",
            "--initial-value",
            "hi",
        ],
    );
    let rules = temp.path().join("rules.json");
    std::fs::write(&rules, json!([{"type": "ALL", "conditions": [{"property": "plan", "operator": "EQUAL", "value": "pro"}]}]).to_string()).unwrap();
    json_of(
        &server,
        &[
            "segments",
            "create",
            "--project",
            "Web",
            "pros",
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    assert_eq!(
        json_of(&server, &["segments", "list", "--project", "Web"])[0]["name"],
        "pros"
    );
    let bad = temp.path().join("bad.json");
    std::fs::write(&bad, json!([{"type": "ALL", "conditions": [{"property": "e", "operator": "REGEX", "value": "(?!x)"}]}]).to_string()).unwrap();
    let (code, _, stderr) = burgee(
        &server,
        &[
            "segments",
            "create",
            "--project",
            "Web",
            "bad",
            "--rules",
            bad.to_str().unwrap(),
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("400"), "{stderr}");

    let (code, document, _) = burgee(&server, &["export", "flagsmith", "--environment", &key]);
    assert_eq!(code, 0);
    let document: Value = serde_json::from_str(document.trim()).unwrap();
    assert_eq!(document["api_key"], key.as_str());
    let file = temp.path().join("env.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let (code, _, stderr) = burgee(&server, &["import", "flagsmith", file.to_str().unwrap()]);
    assert_ne!(code, 0, "the client key exists");
    assert!(stderr.contains("client key"), "{stderr}");
    let imported = json_of(
        &server,
        &["import", "flagsmith", file.to_str().unwrap(), "--replace"],
    );
    assert_eq!(imported["client_key"], key.as_str());
    json_of(&server, &["environments", "delete", "--environment", &key]);
    assert_eq!(
        json_of(&server, &["environments", "list", "--project", "Web"]),
        json!([])
    );
}

#[test]
fn missing_token_and_unreachable_server_are_clear() {
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["projects", "list"])
        .env_remove("BURGEE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("admin token"));
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args([
            "projects",
            "list",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach"));
}
