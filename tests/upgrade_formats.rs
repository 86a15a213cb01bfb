//! Data written by earlier versions is read by this one: every stored fixture under
//! `tests/fixtures/store-format-N/` (a data directory and a backup, made by
//! `tests/fixtures/make-format-fixture.sh` with the version that wrote format N) opens,
//! serves exactly what it served then, keeps its audit chain, takes new writes, and its
//! backup verifies and restores.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::access::{Auth, call};
use common::server::{Server, client};
use reqwest::Method;
use serde_json::{Value, json};

fn fixtures() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("store-format-"))
        })
        .collect();
    found.sort();
    assert!(
        !found.is_empty(),
        "no stored-format fixtures in {}",
        root.display()
    );
    found
}

fn unpack(fixture: &Path, into: &Path) -> PathBuf {
    let status = Command::new("tar")
        .arg("-C")
        .arg(into)
        .arg("-xzf")
        .arg(fixture.join("data.tar.gz"))
        .status()
        .unwrap();
    assert!(status.success());
    into.join("data")
}

async fn identity(server: &Server, key: &str) -> Value {
    let response = client()
        .get(server.url("/api/v1/identities/?identifier=alice"))
        .header("X-Environment-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_stored_format_opens_serves_what_it_served_and_takes_writes() {
    for fixture in fixtures() {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
                .unwrap();
        let key = expected["client_key"].as_str().unwrap();
        let token = expected["token"].as_str().unwrap();
        let temp = tempfile::tempdir().unwrap();
        let data = unpack(&fixture, temp.path());

        let server = Server::start_in(&data, &[]);
        assert_eq!(
            identity(&server, key).await,
            expected["alice"],
            "{name}: the SDK answer"
        );
        let auth = Auth::Bearer(token.to_owned());
        let (status, _, verified) =
            call(&server, &auth, Method::GET, "/admin/v1/audit/verify", None).await;
        assert_eq!(
            (status, verified["ok"].clone()),
            (200, json!(true)),
            "{name}: {verified}"
        );
        let (status, _, body) = call(
            &server,
            &auth,
            Method::POST,
            "/admin/v1/projects/1/features",
            Some(&json!({"name": "after-upgrade"})),
        )
        .await;
        assert_eq!(status, 201, "{name}: {body}");
        drop(server);

        // Its backup checks out and restores to the same answers.
        let backup = fixture.join("backup-format-1.backup");
        let verified = Command::new(env!("CARGO_BIN_EXE_burgee"))
            .args(["backup", "verify"])
            .arg(&backup)
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
        let restored_dir = temp.path().join("restored");
        let restored = Command::new(env!("CARGO_BIN_EXE_burgee"))
            .arg("restore")
            .arg(&backup)
            .arg("--data-dir")
            .arg(&restored_dir)
            .output()
            .unwrap();
        assert!(
            restored.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&restored.stderr)
        );
        let server = Server::start_in(&restored_dir, &[]);
        assert_eq!(
            identity(&server, key).await,
            expected["alice"],
            "{name}: restored"
        );
    }
}
