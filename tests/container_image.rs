//! The container image, built with podman from the release binary (the Dockerfile's
//! `prebuilt` target through `scripts/image.sh`) and run as a user would: read-only root,
//! no capabilities, its non-root user, data in a volume that outlives the container.
//!
//! Needs podman (with runc) and a release binary: `BURGEE_RELEASE_BINARY`, else
//! `target/release/burgee`. `scripts/test-all.sh` builds it with `cargo auditable`.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::server::{Admin, TOKEN, client};
use serde_json::{Value, json};

/// The image holds one binary (22 MiB) and four libraries (3 MiB); more means something crept in.
const MAX_IMAGE_BYTES: u64 = 32 * 1024 * 1024;
const USER: &str = "65532:65532";

fn release_binary() -> Option<PathBuf> {
    let binary = std::env::var_os("BURGEE_RELEASE_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/burgee"),
        PathBuf::from,
    );
    if binary.is_file() {
        return Some(binary);
    }
    common::skip_or_fail(&format!(
        "no release binary at {} (cargo auditable build --release --locked, or set \
         BURGEE_RELEASE_BINARY)",
        binary.display()
    ));
    None
}

fn podman_available() -> bool {
    let found = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        common::skip_or_fail("podman is not installed (apt-get install podman runc)");
    }
    found
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .env("CONTAINERS_CONF", conf())
        .args(args)
        .output()
        .expect("podman runs")
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn conf() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packaging/podman/containers.conf")
}

/// Removes what the test made, whatever happened to it.
struct Cleanup {
    image: String,
    volume: String,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            podman(&["rm", "--force", "--time", "2", container]);
        }
        podman(&["volume", "rm", "--force", &self.volume]);
        podman(&["rmi", "--force", &self.image]);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a container of the image on the volume, published on a loopback port, with `extra`
/// arguments to `serve`, and waits until its liveness probe answers; returns the base URL.
async fn run_container(cleanup: &mut Cleanup, name: &str, extra: &[&str]) -> String {
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8000");
    let volume = format!("{}:/data", cleanup.volume);
    let mut args = vec![
        "run",
        "--detach",
        "--name",
        name,
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--publish",
        &publish,
        "--volume",
        &volume,
        &cleanup.image,
        "serve",
        "--bootstrap-token",
        TOKEN,
    ];
    args.extend_from_slice(extra);
    podman_ok(&args);
    cleanup.containers.push(name.to_owned());
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http.get(format!("{base}/health/liveness")).send().await;
        if answer.is_ok_and(|r| r.status() == 200) {
            return base;
        }
        if Instant::now() > deadline {
            let logs = podman(&["logs", name]);
            panic!(
                "the container did not become live: {}",
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn flags(base: &str, key: &str) -> Vec<Value> {
    let response = client()
        .get(format!("{base}/api/v1/flags/"))
        .header("X-Environment-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Vec<Value>>().await.unwrap()
}

#[tokio::test]
async fn the_image_runs_as_its_user_on_a_read_only_root_and_keeps_data_in_its_volume() {
    let Some(binary) = release_binary() else {
        return;
    };
    if !podman_available() {
        return;
    }
    let suffix = std::process::id();
    let image = format!("localhost/burgee:test-{suffix}");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/image.sh");
    let built = Command::new(script)
        .arg(&binary)
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "scripts/image.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let volume = format!("burgee-test-{suffix}");
    let mut cleanup = Cleanup {
        image: image.clone(),
        volume: volume.clone(),
        containers: Vec::new(),
    };
    podman_ok(&["volume", "create", &volume]);

    // What the image says about itself.
    let inspected: Value = serde_json::from_str(&podman_ok(&["image", "inspect", &image])).unwrap();
    let config = &inspected[0]["Config"];
    assert_eq!(config["User"], USER);
    assert_eq!(config["Entrypoint"], json!(["/burgee"]));
    assert!(config["Volumes"].get("/data").is_some(), "{config}");
    assert_eq!(
        inspected[0]["Healthcheck"]["Test"],
        json!(["CMD", "/burgee", "health", "--quiet"])
    );
    assert_eq!(config["Labels"]["org.opencontainers.image.title"], "Burgee");
    let version = config["Labels"]["org.opencontainers.image.version"].clone();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let size = inspected[0]["Size"].as_u64().unwrap();
    assert!(
        size <= MAX_IMAGE_BYTES,
        "the image is {size} bytes (at most {MAX_IMAGE_BYTES})"
    );

    let name = format!("burgee-test-{suffix}-a");
    let base = run_container(&mut cleanup, &name, &[]).await;

    // Its process runs as the image's user, not root.
    let pid = podman_ok(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().nth(1),
        Some("65532"),
        "{uid} (the host sees the container's process as this user)"
    );
    // The image's own health check (`burgee health` inside the container) passes.
    podman_ok(&["healthcheck", "run", &name]);

    // The SDK API serves what the admin API wrote.
    let admin = Admin::at(&base);
    let key = admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello", "default_enabled": true}),
        )
        .await;
    let served = flags(&base, &key).await;
    assert_eq!(served[0]["feature"]["name"], "banner");
    assert_eq!(served[0]["feature_state_value"], "hello");

    // A clean stop, then a new container on the same volume serves the same data, now with
    // a cluster port (its peer client is built in the image too, with no system roots): the
    // single node stays a cluster of one, ready to grow.
    podman_ok(&["stop", "--time", "20", &name]);
    let exit = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(exit, "0", "SIGTERM ends the server cleanly");
    let clustered = format!("burgee-test-{suffix}-b");
    let cluster = [
        "--cluster-listen",
        "0.0.0.0:7946",
        "--cluster-secret",
        "a-cluster-secret-of-the-image-test-0123456789",
    ];
    let base = run_container(&mut cleanup, &clustered, &cluster).await;
    let served = flags(&base, &key).await;
    assert_eq!(served[0]["feature_state_value"], "hello");
    let status = client()
        .get(format!("{base}/health/cluster"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let status: Value = status.json().await.unwrap();
    assert_eq!(status["role"], "leader", "{status}");
    podman_ok(&["healthcheck", "run", &clustered]);
}
