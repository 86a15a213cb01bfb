//! An air-gapped install needs no network beyond its clients: a single node, through writes,
//! SDK reads, identities, analytics flushes, OFREP and streams, opens no outbound internet
//! socket at all (observed with strace on the real binary). A cluster node's only outbound
//! connections are to its configured peers (`tests/chart_cluster.rs`).

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::time::Duration;

use common::server::{Admin, Server, client};
use serde_json::json;

/// The `connect` calls of the trace that reach an IPv4 or IPv6 address.
fn inet_connects(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .filter(|l| l.contains("connect(") && (l.contains("AF_INET") || l.contains("AF_INET6")))
        .collect()
}

#[tokio::test]
async fn a_single_node_opens_no_outbound_socket() {
    if !common::strace_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace");
    let server = Server::start_traced(
        &trace_path,
        "connect,accept4",
        &["--analytics-flush-interval", "1s"],
    );
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello", "default_enabled": true}),
        )
        .await;
    let http = client();
    let sdk = |path: &str| {
        http.request(reqwest::Method::GET, server.url(path))
            .header("X-Environment-Key", &key)
    };
    assert_eq!(sdk("/api/v1/flags/").send().await.unwrap().status(), 200);
    let identified = http
        .post(server.url("/api/v1/identities/"))
        .header("X-Environment-Key", &key)
        .json(
            &json!({"identifier": "ada", "traits": [{"trait_key": "plan", "trait_value": "pro"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(identified.status(), 200);
    let analytics = http
        .post(server.url("/api/v1/analytics/flags/"))
        .header("X-Environment-Key", &key)
        .json(&json!({"banner": 3}))
        .send()
        .await
        .unwrap();
    assert!(analytics.status().is_success());
    let ofrep = http
        .post(server.url("/ofrep/v1/evaluate/flags"))
        .bearer_auth(&key)
        .json(&json!({"context": {"targetingKey": "ada"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ofrep.status(), 200);
    let mut stream = http
        .get(server.url(&format!("/sse/environments/{key}/stream")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("the stream sends the current state at once");
    assert!(first.unwrap().is_some());
    drop(stream);
    // Past an analytics flush and a few rounds of periodic work.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // SIGTERM to the server itself (strace's child): strace ends with it, its trace whole.
    let tracer = server.child.id();
    let traced = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children")).unwrap();
    let pid = traced
        .split_whitespace()
        .next()
        .expect("strace runs the server");
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", pid])
            .status()
            .unwrap()
            .success()
    );
    let (status, _) = server.terminate();
    assert!(status.success(), "the server stops cleanly: {status}");

    let trace = std::fs::read_to_string(&trace_path).unwrap();
    assert!(
        trace.lines().any(|l| l.contains("accept4(")),
        "the trace holds the server's socket calls"
    );
    let outbound = inet_connects(&trace);
    assert!(outbound.is_empty(), "outbound connections: {outbound:#?}");
}
