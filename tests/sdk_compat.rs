//! The official Flagsmith SDKs, unmodified, against Burgee: remote evaluation, local
//! evaluation from `/environment-document/`, and offline mode from `burgee export flagsmith`.
//! Every SDK and mode must give the same enabled state and value as Burgee's own answers.
//!
//! The SDKs are installed by `scripts/test-all.sh`, which points these at them:
//! `BURGEE_SDK_PYTHON` (a Python with `flagsmith`), `BURGEE_SDK_NODE` (a folder whose
//! `node_modules` holds `flagsmith-nodejs`), `BURGEE_SDK_RUST` (the built Rust SDK probe).

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{Admin, Server, client};
use reqwest::Method;
use serde_json::{Value, json};

struct Setup {
    server: Server,
    client_key: String,
    server_key: String,
    identities_file: PathBuf,
    document_file: PathBuf,
    expected: Value,
    /// The same with each flag's variant (for SDKs that expose it).
    expected_with_variants: Value,
    _temp: tempfile::TempDir,
}

async fn setup() -> Setup {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    let env = admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Production"}),
        )
        .await;
    for feature in [
        json!({"name": "banner", "initial_value": "hello", "default_enabled": true}),
        json!({"name": "limit", "initial_value": 10, "default_enabled": true}),
        json!({"name": "beta", "initial_value": true}),
        json!({"name": "theme", "type": "MULTIVARIATE", "initial_value": "light", "default_enabled": true,
               "options": [{"value": "dark", "key": "dark", "default_weight": 40}, {"value": "blue", "key": "blue", "default_weight": 30}]}),
    ] {
        admin.post("/admin/v1/projects/1/features", feature).await;
    }
    admin.post("/admin/v1/projects/1/segments", json!({"name": "pros", "rules": [{"type": "ALL", "rules": [{"type": "ANY", "conditions": [
        {"property": "plan", "operator": "EQUAL", "value": "pro"}]}]}]})).await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "half", "rules": [{"type": "ALL", "conditions": [
        {"property": "", "operator": "PERCENTAGE_SPLIT", "value": "50"}]}]}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "adults", "rules": [{"type": "ALL", "conditions": [
        {"property": "age", "operator": "GREATER_THAN_INCLUSIVE", "value": "18"},
        {"property": "version", "operator": "GREATER_THAN", "value": "1.2.0:semver"}]}]}),
        )
        .await;
    for (segment, feature, body) in [
        (1, 1, json!({"enabled": true, "value": "pro banner"})),
        (2, 3, json!({"enabled": true})),
        (3, 2, json!({"value": 99})),
        (1, 2, json!({"value": 50, "priority": 0})),
    ] {
        let (status, answer) = admin
            .call(
                Method::PUT,
                &format!("/admin/v1/environments/1/features/{feature}/segment-overrides/{segment}"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, _) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/identities/vip/overrides/1",
            Some(json!({"enabled": true, "value": "vip banner"})),
        )
        .await;
    assert_eq!(status, 200);
    let server_key = admin
        .post(
            "/admin/v1/environments/1/server-keys",
            json!({"name": "sdk"}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_key = env["client_key"].as_str().unwrap().to_owned();

    let temp = tempfile::tempdir().unwrap();
    let mut identities = vec![json!({"identifier": "vip", "traits": {}})];
    for i in 0..30 {
        identities.push(json!({"identifier": format!("user-{i}"), "traits": {
            "plan": if i % 3 == 0 { "pro" } else { "free" },
            "age": 10 + i,
            "version": format!("1.{}.0", i % 5),
        }}));
    }
    let identities_file = temp.path().join("identities.json");
    std::fs::write(
        &identities_file,
        Value::Array(identities.clone()).to_string(),
    )
    .unwrap();
    let export = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args([
            "export",
            "flagsmith",
            "--environment",
            &client_key,
            "--url",
            &server.base,
            "--token",
            common::server::TOKEN,
        ])
        .output()
        .unwrap();
    assert!(export.status.success());
    let document_file = temp.path().join("environment.json");
    std::fs::write(&document_file, &export.stdout).unwrap();

    // Burgee's own answers, over plain HTTP (transient: the SDK runs store traits themselves).
    let flags: Value = client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", &client_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut expected = json!({"environment": as_dict(&flags, false), "identities": {}});
    let mut expected_with_variants =
        json!({"environment": as_dict(&flags, true), "identities": {}});
    for identity in &identities {
        let traits: Vec<Value> = identity["traits"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| json!({"trait_key": k, "trait_value": v}))
            .collect();
        let answer: Value = client()
            .post(server.url("/api/v1/identities/"))
            .header("X-Environment-Key", &client_key)
            .json(
                &json!({"identifier": identity["identifier"], "traits": traits, "transient": true}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let identifier = identity["identifier"].as_str().unwrap();
        expected["identities"][identifier] = as_dict(&answer["flags"], false);
        expected_with_variants["identities"][identifier] = as_dict(&answer["flags"], true);
    }
    Setup {
        server,
        client_key,
        server_key,
        identities_file,
        document_file,
        expected,
        expected_with_variants,
        _temp: temp,
    }
}

/// `{name: [enabled, value]}`, or `[enabled, value, variant]` (`/flags/` has no variants: null).
fn as_dict(flags: &Value, with_variant: bool) -> Value {
    flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut entry = vec![f["enabled"].clone(), f["feature_state_value"].clone()];
            if with_variant {
                entry.push(f.get("variant").cloned().unwrap_or(Value::Null));
            }
            (
                f["feature"]["name"].as_str().unwrap().to_owned(),
                Value::Array(entry),
            )
        })
        .collect()
}

/// Runs an SDK probe in each mode and compares with Burgee's answers.
fn check(setup: &Setup, sdk: &str, program: &Path, prefix: &[&str], with_variants: bool) {
    let expected = if with_variants {
        &setup.expected_with_variants
    } else {
        &setup.expected
    };
    let api = format!("{}/api/v1/", setup.server.base);
    for (mode, key) in [
        ("remote", &setup.client_key),
        ("local", &setup.server_key),
        ("offline", &setup.client_key),
    ] {
        let output = Command::new(program)
            .args(prefix)
            .args([
                mode,
                &api,
                key.as_str(),
                setup.identities_file.to_str().unwrap(),
                setup.document_file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{sdk} {mode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let got: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{sdk} {mode}: {e}: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
        assert_eq!(
            got["environment"], expected["environment"],
            "{sdk} {mode}: environment flags"
        );
        for (identifier, flags) in expected["identities"].as_object().unwrap() {
            assert_eq!(
                &got["identities"][identifier], flags,
                "{sdk} {mode}: flags of {identifier}"
            );
        }
        eprintln!(
            "{sdk} SDK, {mode} evaluation: {} identities agree",
            expected["identities"].as_object().unwrap().len()
        );
    }
}

fn sdk_path(variable: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(path) if Path::new(&path).exists() => Some(PathBuf::from(path)),
        _ => {
            common::skip_or_fail(&format!(
                "{variable} is not set to an installed SDK (scripts/test-all.sh installs them)"
            ));
            None
        }
    }
}

#[tokio::test]
async fn python_sdk_agrees_in_every_mode() {
    let Some(python) = sdk_path("BURGEE_SDK_PYTHON") else {
        return;
    };
    let setup = setup().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests/python/flags.py");
    // The Python SDK exposes each flag's variant: compare that too.
    check(&setup, "Python", &python, &[script.to_str().unwrap()], true);
}

#[tokio::test]
async fn node_sdk_agrees_in_every_mode() {
    let Some(dir) = sdk_path("BURGEE_SDK_NODE") else {
        return;
    };
    let setup = setup().await;
    let script = dir.join("flags.mjs");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests/node/flags.mjs"),
        &script,
    )
    .unwrap();
    check(
        &setup,
        "Node",
        Path::new("node"),
        &[script.to_str().unwrap()],
        false,
    );
}

#[tokio::test]
async fn rust_sdk_agrees_in_every_mode() {
    let Some(probe) = sdk_path("BURGEE_SDK_RUST") else {
        return;
    };
    let setup = setup().await;
    check(&setup, "Rust", &probe, &[], false);
}
